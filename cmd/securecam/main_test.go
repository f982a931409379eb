package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // substring of standard output
		stderr string // substring of standard error
	}{
		{name: "version", args: []string{"version"}, code: 0,
			stdout: "securecam dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "usage: securecam [command]"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "serve -h prints the usage", args: []string{"serve", "-h"}, code: 0, stdout: "usage: securecam [command]"},
		{name: "migrate --help prints the usage", args: []string{"migrate", "--help"}, code: 0, stdout: "usage: securecam [command]"},
		{name: "extra arguments", args: []string{"version", "now"}, code: 2, stderr: `securecam version: unexpected arguments ["now"]`},
		{name: "serve with a bad configuration", env: map[string]string{"SECURECAM_LOG_LEVEL": "loud"}, code: 1,
			stderr: "securecam: invalid configuration:\n  - SECURECAM_LOG_LEVEL"},
		{name: "migrate with a bad configuration", args: []string{"migrate"},
			env: map[string]string{"SECURECAM_DATABASE_URL": "mysql://db"}, code: 1, stderr: "SECURECAM_DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, envMap(tt.env), nil, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// TestHealthcheck runs the subcommand against a server answering /readyz as a ready and
// an unready hub do.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"unavailable","failed":["store"]}`)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"SECURECAM_HTTP_ADDR": ":" + port}) // as the image sets it: any address
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"healthcheck"}, env, nil, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "503") || !strings.Contains(stderr.String(), `"failed":["store"]`) {
		t.Fatalf("unready hub: exit %d, stderr %q; want 1 and the answer", code, stderr.String())
	}
	ready.Store(true)
	stderr.Reset()
	if code := run(t.Context(), []string{"healthcheck"}, env, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("ready hub: exit %d, stderr %q; want 0", code, stderr.String())
	}
	srv.Close()
	if code := run(t.Context(), []string{"healthcheck"}, env, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("no hub: exit %d, want 1", code)
	}
}
