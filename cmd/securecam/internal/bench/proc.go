package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
)

// server is a server under test: a child process the benchmark started (securecam
// serve, or the bare relay), or a hub given by address (no child: its memory is read
// from /metrics only).
type server struct {
	name  string
	url   string // http://host:port
	admin string // http://host:port of the admin listener (pprof), "" if none
	pid   int    // 0 for a hub given by address

	dataDir string // a child hub's data directory

	child *child.Process
}

// startServer runs bin with args and env (see child.Config) and waits until it
// listens.
func startServer(ctx context.Context, name, bin string, args []string, env map[string]string) (*server, error) {
	c, err := child.Start(ctx, child.Config{Name: name, Binary: bin, Args: args, Env: env})
	if err != nil {
		return nil, err
	}
	return &server{name: name, url: c.URL, admin: c.Admin, pid: c.Pid, child: c}, nil
}

// exited reports an error when the process is gone.
func (s *server) exited() error {
	if s.child == nil {
		return nil
	}
	return s.child.Exited()
}

// stop ends a child with SIGTERM (SIGKILL after 30 s) and waits for it.
func (s *server) stop() {
	if s == nil || s.child == nil {
		return
	}
	_ = s.child.Stop()
}

// rss returns the resident set of the child, in bytes, from /proc (0 for a hub given
// by address).
func (s *server) rss() (int64, error) {
	if s.pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %s: %w", s.name, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss of %s: %q: %w", s.name, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("rss of %s: no VmRSS", s.name)
}

// gcCycles is how many collections gc asks for: each one may halve a goroutine stack
// that grew during a connection's setup, as the runtime's periodic collections do on a
// hub that runs for a while.
const gcCycles = 4

// gc makes the child collect garbage (through pprof's heap endpoint) a few times, so
// that memory figures count live data at a steady state; a server without an admin
// listener is left alone.
func (s *server) gc(ctx context.Context) error {
	if s.admin == "" {
		return nil
	}
	for range gcCycles {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.admin+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return fmt.Errorf("gc %s: %w", s.name, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("gc %s: %w", s.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("gc %s: %s", s.name, resp.Status)
		}
	}
	return nil
}

// metrics reads the named untyped/gauge/counter values (no labels) from /metrics.
func (s *server) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", s.name, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", s.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics of %s: %s", s.name, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil {
			out[name] = f
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", s.name, err)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("metrics of %s: no %s", s.name, n)
		}
	}
	return out, nil
}

// hubOptions says how to start a hub.
type hubOptions struct {
	node        string
	databaseURL string // "" : SQLite in the data directory
	redisURL    string
	dataDir     string // "": a new one, removed when the scenario ends
}

// startHub runs `securecam serve` on a loopback port with the limits that would
// throttle the load raised, JSON logs, an admin listener and its own data directory
// (removed when it stops).
func (r *runner) startHub(ctx context.Context, o hubOptions) (*server, error) {
	dir := o.dataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "securecam-bench-"); err != nil {
			return nil, fmt.Errorf("start hub: %w", err)
		}
		r.cleanup(func() { _ = os.RemoveAll(dir) })
	}
	env := map[string]string{
		"SECURECAM_PUBLIC_URL":   "http://127.0.0.1",
		"SECURECAM_DATA_DIR":     dir,
		"SECURECAM_NODE_ID":      o.node,
		"SECURECAM_ADMIN_ADDR":   "127.0.0.1:0",
		"SECURECAM_MESSAGE_RATE": "1000000",
		"SECURECAM_ACCEPT_RATE":  "1000000",
		// The sockets come from a few loopback addresses, and idle holds nearly as many
		// as the file limit: the connection caps would refuse them.
		"SECURECAM_MAX_CONNS_PER_IP": "1000000",
		"SECURECAM_MAX_CONNS":        "1000000",
	}
	if o.databaseURL != "" {
		env["SECURECAM_DATABASE_URL"] = o.databaseURL
	}
	if o.redisURL != "" {
		env["SECURECAM_REDIS_URL"] = o.redisURL
	}
	s, err := startServer(ctx, o.node, r.cfg.Binary, []string{"serve"}, env)
	if err != nil {
		return nil, err
	}
	s.dataDir = dir
	r.cleanup(s.stop)
	r.progressf("%s: securecam serve pid %d at %s, pprof at %s/debug/pprof/", o.node, s.pid, s.url, s.admin)
	return s, nil
}

// startRaw runs the bare relay (`securecam bench raw-server`) on a loopback port.
func (r *runner) startRaw(ctx context.Context) (*server, error) {
	s, err := startServer(ctx, "raw", r.cfg.Binary, []string{"bench", RawServerArg}, nil)
	if err != nil {
		return nil, err
	}
	s.admin = s.url // the relay serves pprof on its own listener
	r.cleanup(s.stop)
	r.progressf("raw: bare relay pid %d at %s", s.pid, s.url)
	return s, nil
}
