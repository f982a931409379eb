package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The admin listener (pprof) is off by default, and on a given address — port 0 included,
// logged with the port it got — it serves pprof.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	off := startProc(t, map[string]string{"SECURECAM_DATA_DIR": t.TempDir()})
	if off.Admin != "" {
		t.Errorf("admin listener at %s without SECURECAM_ADMIN_ADDR", off.Admin)
	}
	if resp, err := http.Get(off.URL + "/debug/pprof/goroutine?debug=1"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "goroutine profile") {
			t.Error("pprof served on the public listener")
		}
	}

	on := startProc(t, map[string]string{"SECURECAM_DATA_DIR": t.TempDir(), "SECURECAM_ADMIN_ADDR": "127.0.0.1:0"})
	if on.Admin == "" || strings.HasSuffix(on.Admin, ":0") {
		t.Fatalf("admin listening at %q", on.Admin)
	}
	resp, err := http.Get(on.Admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("pprof answered %s: %.200s", resp.Status, body)
	}
}
