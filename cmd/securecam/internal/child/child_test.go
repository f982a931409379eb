package child_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
)

// The test binary doubles as the child: SECURECAM_TEST_CHILD (a SECURECAM_TEST_*
// variable, so it reaches the child) says what to play.
//
//	serve   log like securecam serve (the variables it sees, the admin listener,
//	        listening), then exit with SECURECAM_TEST_CHILD_EXIT (default 0) on SIGTERM
//	silent  never listen
//	fail    exit 3 before listening, with a message
//	environment  print two variables on stdout and exit
//	parent  start a serve child through child.Start, print its pid on stdout, wait
func TestMain(m *testing.M) {
	switch os.Getenv("SECURECAM_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "serve":
		serve()
	case "silent":
		waitForTerm()
	case "fail":
		fmt.Fprintln(os.Stderr, "securecam: invalid configuration")
		os.Exit(3)
	case "environment":
		for _, k := range []string{"SECURECAM_DATABASE_URL", "SECURECAM_LOG_FORMAT"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		os.Exit(0)
	case "parent":
		parent()
	}
}

// seen are the variables the serve child reports.
var seen = []string{"SECURECAM_HTTP_ADDR", "SECURECAM_LOG_FORMAT", "SECURECAM_LOG_LEVEL",
	"SECURECAM_DATABASE_URL", "SECURECAM_TEST_KEEP", "CHILD_TEST_OTHER"}

func serve() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	env := map[string]string{}
	for _, k := range seen {
		env[k] = os.Getenv(k)
	}
	logLine := func(v map[string]any) {
		b, _ := json.Marshal(v)
		fmt.Fprintln(os.Stderr, string(b))
	}
	fmt.Fprintln(os.Stderr, "not JSON")
	logLine(map[string]any{"msg": "environment", "env": env})
	logLine(map[string]any{"msg": "admin listening", "addr": "127.0.0.1:1"})
	logLine(map[string]any{"msg": "listening", "addr": "127.0.0.1:2", "tls": os.Getenv("SECURECAM_TLS_CERT_FILE") != ""})
	<-term
	logLine(map[string]any{"msg": "stopped"})
	code, _ := strconv.Atoi(os.Getenv("SECURECAM_TEST_CHILD_EXIT"))
	os.Exit(code)
}

func parent() {
	p, err := child.Start(context.Background(), child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "serve"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(p.Pid)
	waitForTerm()
}

// waitForTerm blocks until SIGTERM (a bare select{} would die of deadlock).
func waitForTerm() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
}

func start(t *testing.T, env map[string]string) *child.Process {
	t.Helper()
	p, err := child.Start(t.Context(), child.Config{Name: "serve", Binary: os.Args[0], Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestStartAndStop(t *testing.T) {
	t.Setenv("SECURECAM_DATABASE_URL", "postgres://a-developers-own-database")
	t.Setenv("SECURECAM_LOG_LEVEL", "error")
	t.Setenv("SECURECAM_TEST_KEEP", "kept")
	t.Setenv("CHILD_TEST_OTHER", "kept too")
	p := start(t, map[string]string{"SECURECAM_TEST_CHILD": "serve", "SECURECAM_LOG_LEVEL": "debug"})
	if p.URL != "http://127.0.0.1:2" || p.Admin != "http://127.0.0.1:1" || p.Pid <= 0 {
		t.Errorf("URL %q, Admin %q, Pid %d", p.URL, p.Admin, p.Pid)
	}
	if err := p.Exited(); err != nil {
		t.Errorf("Exited while it runs: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := p.Exited(); err == nil {
		t.Error("Exited = nil after Stop")
	}
	tail := p.Tail()
	if !strings.HasPrefix(tail, "not JSON\n") || !strings.HasSuffix(tail, `{"msg":"stopped"}`) {
		t.Errorf("log tail:\n%s", tail)
	}

	// What the child saw: the developer's SECURECAM_* configuration dropped, the
	// test's own kept, the loopback address and JSON logs, then Env (which wins).
	var env struct{ Env map[string]string }
	for line := range strings.Lines(tail) {
		if strings.Contains(line, `"environment"`) {
			if err := json.Unmarshal([]byte(line), &env); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]string{
		"SECURECAM_HTTP_ADDR": "127.0.0.1:0", "SECURECAM_LOG_FORMAT": "json", "SECURECAM_LOG_LEVEL": "debug",
		"SECURECAM_DATABASE_URL": "", "SECURECAM_TEST_KEEP": "kept", "CHILD_TEST_OTHER": "kept too",
	}
	for k, v := range want {
		if env.Env[k] != v {
			t.Errorf("the child saw %s=%q, want %q", k, env.Env[k], v)
		}
	}
}

func TestStartTLS(t *testing.T) {
	p := start(t, map[string]string{"SECURECAM_TEST_CHILD": "serve", "SECURECAM_TLS_CERT_FILE": "cert.pem"})
	if p.URL != "https://127.0.0.1:2" {
		t.Errorf("URL %q, want https", p.URL)
	}
}

func TestStopReportsTheExitStatus(t *testing.T) {
	p := start(t, map[string]string{"SECURECAM_TEST_CHILD": "serve", "SECURECAM_TEST_CHILD_EXIT": "4"})
	var exit *exec.ExitError
	if err := p.Stop(); !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Errorf("Stop = %v, want exit status 4", err)
	}
}

func TestKill(t *testing.T) {
	p := start(t, map[string]string{"SECURECAM_TEST_CHILD": "serve"})
	p.Kill()
	if err := p.Exited(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Exited after Kill = %v, want killed", err)
	}
	p.Kill() // again: nothing happens
}

func TestStartFails(t *testing.T) {
	t.Run("exit before listening", func(t *testing.T) {
		_, err := child.Start(t.Context(), child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "fail"}})
		if err == nil || !strings.Contains(err.Error(), "exited before listening (exit status 3)") ||
			!strings.Contains(err.Error(), "invalid configuration") {
			t.Errorf("Start = %v, want the exit status and the log", err)
		}
	})
	t.Run("context ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := child.Start(ctx, child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "silent"}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Start = %v, want context.Canceled", err)
		}
	})
	t.Run("no such binary", func(t *testing.T) {
		if _, err := child.Start(t.Context(), child.Config{Binary: "/nonexistent/securecam"}); err == nil {
			t.Error("Start of a missing binary succeeded")
		}
	})
}

// Run runs a child to its end: its exit code and output, and the same environment as
// Start gives.
func TestRun(t *testing.T) {
	t.Setenv("SECURECAM_DATABASE_URL", "postgres://a-developers-own-database")
	code, out, err := child.Run(t.Context(), child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "fail"}})
	if err != nil || code != 3 || !strings.Contains(out, "invalid configuration") {
		t.Errorf("Run = %d, %q, %v; want exit 3 and the message", code, out, err)
	}
	code, out, err = child.Run(t.Context(), child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "environment"}})
	if err != nil || code != 0 || !strings.Contains(out, "SECURECAM_DATABASE_URL=\n") || !strings.Contains(out, "SECURECAM_LOG_FORMAT=json\n") {
		t.Errorf("Run = %d, %q, %v; want exit 0 and the filtered environment", code, out, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := child.Run(ctx, child.Config{Binary: os.Args[0], Env: map[string]string{"SECURECAM_TEST_CHILD": "silent"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past its context = %v, want DeadlineExceeded", err)
	}
}

// A child ends with its parent, even one killed without a chance to stop it.
func TestChildEndsWithItsParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's; the package promises it there only")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SECURECAM_TEST_CHILD=parent")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the parent printed no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if !running(pid) {
		t.Fatalf("child %d not running before its parent was killed", pid)
	}
	_ = cmd.Process.Kill()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for running(pid) {
		select {
		case <-deadline:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still runs 30 s after its parent was killed", pid)
		case <-tick.C:
		}
	}
}

// running reports whether pid is a live process (not gone, not a zombie nobody reaped).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
