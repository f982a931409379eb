// Package child runs the securecam binary as a child process, the way its tests and
// `securecam bench` do: with a filtered environment, JSON logs on a loopback port of
// its choosing, ended with the parent (on Linux), and found by the address in its
// "listening" log line. It keeps the child's last log lines for error messages.
//
// Concurrency: Start returns once the child listens; a goroutine it starts reads the
// child's log and reaps it, and ends with the child. The methods of a Process may be
// called from any goroutine; Stop and Kill wait for that goroutine.
package child

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of Start and Stop.
const (
	// startTimeout bounds the wait for the "listening" log line.
	startTimeout = 60 * time.Second
	// stopTimeout bounds the wait for an exit after SIGTERM; then the child is killed.
	stopTimeout = 30 * time.Second
)

// tailLines is how many of the last log lines a Process keeps.
const tailLines = 2000

// Config says what to start.
type Config struct {
	// Name names the child in errors; default the binary's base name.
	Name string
	// Binary is the securecam executable.
	Binary string
	// Args are its arguments; none runs `securecam serve`.
	Args []string
	// Env is the child's own configuration. The child's environment is the parent's
	// without any SECURECAM_* variable but SECURECAM_TEST_* (a developer's
	// SECURECAM_DATABASE_URL must not reach a test's hub), then a loopback listen
	// address on a free port and JSON logs at info level, then Env, which wins.
	Env map[string]string
}

// environ returns the environment of a child (see Config.Env).
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECURECAM_") || strings.HasPrefix(kv, "SECURECAM_TEST_") {
			out = append(out, kv)
		}
	}
	out = append(out,
		"SECURECAM_HTTP_ADDR=127.0.0.1:0",
		"SECURECAM_LOG_FORMAT=json",
		"SECURECAM_LOG_LEVEL=info",
	)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k]) // later entries win
	}
	return out
}

// Process is a started child.
type Process struct {
	// Name names it in errors.
	Name string
	// URL is where it listens: http:// or, when it serves TLS, https://host:port.
	URL string
	// Admin is the URL of its admin listener (pprof), "" if it logged none.
	Admin string
	// Pid is its process id.
	Pid int

	cmd  *exec.Cmd
	done chan struct{} // closed when the process was reaped
	err  error         // its exit error, set before done closes

	mu   sync.Mutex
	tail []string
}

// Start runs the child and waits until it logs {"msg":"listening","addr":…} (with
// "tls":true for https); a line {"msg":"admin listening","addr":…} before it gives
// the admin listener. ctx bounds the wait only: the child runs until Stop or Kill,
// or until the parent ends.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Binary)
	}
	cmd := exec.Command(cfg.Binary, cfg.Args...)
	cmd.Env = environ(cfg.Env)
	cmd.SysProcAttr = sysProcAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	listening := make(chan listenLine, 1)
	go p.readLogs(stderr, listening) // ends with the process; Stop and Kill wait for done
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	select {
	case l := <-listening:
		p.URL, p.Admin = l.url, l.admin
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("start %s: exited before listening (%v):\n%s", name, p.err, p.Tail())
	case <-ctx.Done():
		p.Kill()
		return nil, fmt.Errorf("start %s: %w:\n%s", name, ctx.Err(), p.Tail())
	case <-timeout.C:
		p.Kill()
		return nil, fmt.Errorf("start %s: not listening after %s:\n%s", name, startTimeout, p.Tail())
	}
}

// Run runs the child to its end, for a command such as `securecam migrate-blobs` or a
// serve expected to fail at start, and returns its exit code and its output (stdout and
// stderr together). ctx bounds the run: the child is killed when ctx ends, and Run
// returns ctx's error.
func Run(ctx context.Context, cfg Config) (code int, output string, err error) {
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Binary)
	}
	cmd := exec.CommandContext(ctx, cfg.Binary, cfg.Args...)
	cmd.Env = environ(cfg.Env)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return 0, string(out), fmt.Errorf("run %s: %w:\n%s", name, ctx.Err(), out)
	case err == nil:
		return 0, string(out), nil
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out), nil
	default:
		return 0, string(out), fmt.Errorf("run %s: %w", name, err)
	}
}

type listenLine struct{ url, admin string }

// readLogs keeps the last log lines, reports the listen addresses once and reaps the
// process when its output ends.
func (p *Process) readLogs(r io.Reader, listening chan<- listenLine) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	reported := false
	admin := ""
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if len(p.tail) == tailLines {
			p.tail = p.tail[1:]
		}
		p.tail = append(p.tail, line)
		p.mu.Unlock()
		if reported {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
			TLS  bool   `json:"tls"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "admin listening":
			admin = "http://" + rec.Addr
		case "listening":
			scheme := "http://"
			if rec.TLS {
				scheme = "https://"
			}
			listening <- listenLine{url: scheme + rec.Addr, admin: admin}
			reported = true
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner: drain the rest
	p.err = p.cmd.Wait()
}

// Tail returns the last log lines the child wrote (up to 2,000), one per line.
func (p *Process) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Exited returns an error with the exit status and the log's tail once the child has
// exited, and nil while it runs.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v):\n%s", p.Name, p.err, p.Tail())
	default:
		return nil
	}
}

// ErrstopTimeout is returned by Stop when the child did not exit within
// stopTimeout of SIGTERM.
var ErrstopTimeout = errors.New("no exit after SIGTERM")

// Stop ends the child with SIGTERM (the hub drains) and waits for it; after
// stopTimeout it is killed and Stop returns ErrstopTimeout. Otherwise it returns the
// exit error (nil for a clean exit).
func (p *Process) Stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.Name, err)
	}
	timeout := time.NewTimer(stopTimeout)
	defer timeout.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("stop %s: %w", p.Name, p.err)
		}
		return nil
	case <-timeout.C:
		p.Kill()
		return fmt.Errorf("stop %s: %w within %s", p.Name, ErrstopTimeout, stopTimeout)
	}
}

// Kill ends the child with SIGKILL (no drain, no cleanup) and waits for it. Killing
// a child that already exited does nothing.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}
