package main

import (
	"bytes"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServeReleasesAPartlyBuiltNode fails the last step of building the node (the HTTP
// address is taken) and checks that serve returns the error after stopping what it had
// built: no goroutine of the hub, signaling or the store is left behind.
func TestServeReleasesAPartlyBuiltNode(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{
		"SECURECAM_DATA_DIR":  t.TempDir(),
		"SECURECAM_HTTP_ADDR": taken.Addr().String(),
	}
	var logs bytes.Buffer
	err = serve(t.Context(), envMap(env), nil, &logs)
	if err == nil || !strings.Contains(err.Error(), "listen on SECURECAM_HTTP_ADDR") {
		t.Fatalf("serve = %v, want the listen error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := goroutinesIn("securecam/hub.", "securecam/signaling.", "securecam/store/", "modernc.org/sqlite")
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after serve failed:\n%s", left)
		}
		time.Sleep(10 * time.Millisecond) // polling the runtime for goroutines to end
	}
}

// goroutinesIn returns the stacks of the goroutines running code of any of pkgs.
func goroutinesIn(pkgs ...string) string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, p := range pkgs {
			if strings.Contains(g, p) && !strings.Contains(g, "goroutinesIn") {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}
