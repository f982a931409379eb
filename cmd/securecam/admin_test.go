package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The admin listener (pprof) is off by default, and on a given address — port 0 included,
// logged with the port it got — it serves pprof.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	adminAddr := func(p *proc) string {
		for _, line := range p.logLines() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
				return rec.Addr
			}
		}
		return ""
	}

	off := startProc(t, map[string]string{"SECURECAM_DATA_DIR": t.TempDir()})
	if addr := adminAddr(off); addr != "" {
		t.Errorf("admin listener at %s without SECURECAM_ADMIN_ADDR", addr)
	}
	if resp, err := http.Get(off.url + "/debug/pprof/goroutine?debug=1"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "goroutine profile") {
			t.Error("pprof served on the public listener")
		}
	}

	on := startProc(t, map[string]string{"SECURECAM_DATA_DIR": t.TempDir(), "SECURECAM_ADMIN_ADDR": "127.0.0.1:0"})
	addr := adminAddr(on)
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("admin listening address %q", addr)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("pprof answered %s: %.200s", resp.Status, body)
	}
}
