package main

import (
	"os"
	"path/filepath"

	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"testing"
)

func TestGCDefaults(t *testing.T) {
	t.Parallel()
	const machine = 24683568 * 1024 // MemTotal of the testdata meminfo files
	tests := []struct {
		name    string
		root    string // under testdata/gctune
		env     map[string]string
		want    gcSettings
		wantErr bool
	}{
		{"machine memory, no cgroup limit", "machine", nil, gcSettings{50, machine / 4 * 3}, false},
		{"cgroup v2 limit", "cgroup2", nil, gcSettings{50, 2147483648 / 4 * 3}, false},
		{"cgroup v2 without a limit", "cgroup2-nolimit", nil, gcSettings{50, machine / 4 * 3}, false},
		{"cgroup v1 limit", "cgroup1", nil, gcSettings{50, 1073741824 / 4 * 3}, false},
		{"cgroup v1 without a limit", "cgroup1-nolimit", nil, gcSettings{50, machine / 4 * 3}, false},
		{"GOGC set", "cgroup2", map[string]string{"GOGC": "100"}, gcSettings{0, 2147483648 / 4 * 3}, false},
		{"GOGC off", "machine", map[string]string{"GOGC": "off"}, gcSettings{0, machine / 4 * 3}, false},
		{"GOMEMLIMIT set", "cgroup2", map[string]string{"GOMEMLIMIT": "1GiB"}, gcSettings{50, 0}, false},
		{"both set", "cgroup2", map[string]string{"GOGC": "25", "GOMEMLIMIT": "1GiB"}, gcSettings{}, false},
		{"meminfo without MemTotal", "bad-meminfo", nil, gcSettings{50, 0}, true},
		{"no meminfo", "missing", nil, gcSettings{50, 0}, true},
		{"no meminfo, GOMEMLIMIT set", "missing", map[string]string{"GOMEMLIMIT": "1GiB"}, gcSettings{50, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := os.DirFS(filepath.Join("testdata", "gctune", tt.root))
			got, err := gcDefaults(func(k string) string { return tt.env[k] }, fsys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The hub runs with the defaults when the environment sets neither GOGC nor
// GOMEMLIMIT, and with the environment's values when it does.
func TestGCDefaultsInTheHub(t *testing.T) {
	t.Parallel()
	limit, err := gcDefaults(os.Getenv, os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		env            map[string]string
		gogc, memLimit float64
	}{
		{"defaults", map[string]string{"GOGC": "", "GOMEMLIMIT": ""}, 50, float64(limit.memLimit)},
		{"environment", map[string]string{"GOGC": "80", "GOMEMLIMIT": "1GiB"}, 80, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProc(t, tt.env)
			if got := childtest.Metric(t, p.Process, "go_gc_gogc_percent"); got != tt.gogc {
				t.Errorf("go_gc_gogc_percent = %v, want %v", got, tt.gogc)
			}
			if got := childtest.Metric(t, p.Process, "go_gc_gomemlimit_bytes"); got != tt.memLimit {
				t.Errorf("go_gc_gomemlimit_bytes = %v, want %v", got, tt.memLimit)
			}
			p.stop()
		})
	}
}
