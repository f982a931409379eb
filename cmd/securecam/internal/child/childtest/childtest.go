// Package childtest builds the securecam binary once per test process (or takes the one
// scripts/test.sh built, SECURECAM_TEST_BINARY) and runs it as
// a child of a test (see package child), failing the test, with the child's log, when
// it does not start or stop cleanly.
//
// A test package that uses it calls [Main] from TestMain. Binary, Start and Stop may
// be called from parallel tests.
package childtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/web"
)

// pkg is the securecam command's package.
const pkg = "github.com/securecam/securecam/cmd/securecam"

// build is the binary of this test process.
var build struct {
	mu   sync.Mutex
	main bool   // Main runs the tests
	dir  string // where bin is; removed by Main
	bin  string
	err  error
}

// Main runs the tests of m, then removes the binary that Binary built. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(childtest.Main(m)) }
func Main(m *testing.M) int {
	build.mu.Lock()
	build.main = true
	build.mu.Unlock()
	code := m.Run()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	return code
}

// Binary returns the securecam executable: SECURECAM_TEST_BINARY when set (scripts/test.sh
// builds it once for every test process of a run), else built on first use with the go
// command on PATH (go test puts its own first). A failed build fails every test that asks.
func Binary(t testing.TB) string {
	t.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if !build.main {
		t.Fatal("childtest.Binary: call childtest.Main from TestMain (it removes the binary)")
	}
	if build.bin == "" && build.err == nil {
		if bin := os.Getenv("SECURECAM_TEST_BINARY"); bin != "" {
			build.bin = bin
		} else {
			build.dir, build.bin, build.err = buildBinary()
		}
	}
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func buildBinary() (dir, bin string, err error) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("build securecam: %w", err)
	}
	dir, err = os.MkdirTemp("", "securecam-bin-")
	if err != nil {
		return "", "", fmt.Errorf("build securecam: %w", err)
	}
	bin = filepath.Join(dir, "securecam")
	out, err := exec.Command(gotool, "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return dir, "", fmt.Errorf("build securecam: %w\n%s", err, out)
	}
	return dir, bin, nil
}

// Start runs `securecam serve` with env added to its environment (see
// child.Config.Env; SECURECAM_DATA_DIR defaults to a new temporary directory) and waits until it
// listens. When the test ends the child is killed if it still runs, and its log is
// printed if the test failed.
func Start(t testing.TB, env map[string]string) *child.Process {
	t.Helper()
	bin := Binary(t)
	if _, ok := env["SECURECAM_DATA_DIR"]; !ok {
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env["SECURECAM_DATA_DIR"] = t.TempDir()
	}
	p, err := child.Start(t.Context(), child.Config{Binary: bin, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("log of the securecam at %s:\n%s", p.URL, p.Tail())
		}
	})
	return p
}

// Stop stops p with SIGTERM and fails the test unless it exits cleanly in time
// (see child.Process.Stop).
func Stop(t testing.TB, p *child.Process) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatalf("%v:\n%s", err, p.Tail())
	}
}

// Metric returns the sum of the samples of the named metric on p's /metrics (0 when
// it has none).
func Metric(t testing.TB, p *child.Process, name string) float64 {
	t.Helper()
	res, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// MailedToken waits (up to 30 s) for the mail p logged to address with the log mailer
// (no SMTP configured) and returns the token of the link in it.
func MailedToken(t testing.TB, p *child.Process, address string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(p.Tail(), "\n") {
			var rec struct{ Msg, To, Body string }
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != web.LogMailerNotice || rec.To != address {
				continue
			}
			for _, f := range strings.Fields(rec.Body) {
				if u, err := url.Parse(f); err == nil && u.Query().Get("token") != "" {
					return u.Query().Get("token")
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s mailed nothing to %s within 30 s", p.URL, address)
		}
		time.Sleep(20 * time.Millisecond) // polling the log for the mail
	}
}
