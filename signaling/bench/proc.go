package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a server under test: a child process the benchmark started (securecam
// serve, or the bare relay), or a hub given by address (pid 0: its memory is read from
// /metrics only).
type server struct {
	name  string
	url   string // http://host:port
	admin string // http://host:port of the admin listener (pprof), "" if none
	pid   int

	dataDir string // a child hub's data directory

	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // its exit error, set before done closes

	mu   sync.Mutex
	tail []string // the last log lines, for errors
}

// startupTimeout bounds the wait for a child's "listening" log line.
const startupTimeout = 60 * time.Second

// startServer runs bin with args and env (added to the environment without any
// SECURECAM_* variable of ours) and waits for its JSON log line {"msg":"listening",
// "addr":…}; a line {"msg":"admin listening","addr":…} before it gives the admin
// listener.
func startServer(ctx context.Context, name, bin string, args, env []string) (*server, error) {
	cmd := exec.Command(bin, args...)
	// A child must not outlive a benchmark that crashed or was killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECURECAM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	go s.readLogs(stderr, listening) // ends with the process; stop waits for done
	select {
	case addr := <-listening:
		s.url = "http://" + addr
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("start %s: exited before listening (%v):\n%s", name, s.err, s.logTail())
	case <-ctx.Done():
		s.kill()
		return nil, fmt.Errorf("start %s: %w", name, ctx.Err())
	case <-time.After(startupTimeout):
		s.kill()
		return nil, fmt.Errorf("start %s: not listening after %s:\n%s", name, startupTimeout, s.logTail())
	}
}

// readLogs keeps the last log lines, reports the listen address once and reaps the
// process when its output ends.
func (s *server) readLogs(r io.Reader, listening chan<- string) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	reported := false
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		if len(s.tail) == 40 {
			s.tail = s.tail[1:]
		}
		s.tail = append(s.tail, line)
		s.mu.Unlock()
		if reported {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "admin listening":
			s.admin = "http://" + rec.Addr // before listening is reported: no race
		case "listening":
			listening <- rec.Addr
			reported = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
	s.err = s.cmd.Wait()
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// exited reports an error when the process is gone.
func (s *server) exited() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.done:
		return fmt.Errorf("%s exited (%v):\n%s", s.name, s.err, s.logTail())
	default:
		return nil
	}
}

// stop ends a child with SIGTERM (SIGKILL after 30 s) and waits for it.
func (s *server) stop() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.kill()
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
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
	env := []string{
		"SECURECAM_HTTP_ADDR=127.0.0.1:0",
		"SECURECAM_PUBLIC_URL=http://127.0.0.1",
		"SECURECAM_DATA_DIR=" + dir,
		"SECURECAM_LOG_FORMAT=json",
		"SECURECAM_LOG_LEVEL=info",
		"SECURECAM_NODE_ID=" + o.node,
		"SECURECAM_ADMIN_ADDR=127.0.0.1:0",
		"SECURECAM_MESSAGE_RATE=1000000",
		"SECURECAM_ACCEPT_RATE=1000000",
	}
	if o.databaseURL != "" {
		env = append(env, "SECURECAM_DATABASE_URL="+o.databaseURL)
	}
	if o.redisURL != "" {
		env = append(env, "SECURECAM_REDIS_URL="+o.redisURL)
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
