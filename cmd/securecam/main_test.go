package main

import (
	"bytes"
	"runtime"
	"strings"
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
