package storetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartPostgres runs a throwaway PostgreSQL cluster for a test that stops its database:
// initdb and pg_ctl from /usr/lib/postgresql/<newest>/bin (or $PATH), in a temporary
// directory, on a free loopback port, as user postgres when the test runs as root. It
// returns the URL of its postgres database; stop stops the server (fast shutdown: open
// connections are cut), start starts it again on the same port and data. The cluster is
// stopped and removed when the test ends. Never the shared server: this one is the
// test's own.
func StartPostgres(t testing.TB) (url string, stop, start func()) {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "securecam-pg-")
	if err != nil {
		t.Fatalf("storetest: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cred := postgresCredential(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storetest: find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	data := filepath.Join(dir, "data")

	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, dir)
	logFile := filepath.Join(dir, "server.log")

	var mu sync.Mutex
	running := false
	start = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if running {
			return
		}
		if err := run("pg_ctl", "-D", data, "-o", opts, "-l", logFile, "-w", "-t", "120", "start"); err != nil {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("storetest: start PostgreSQL on port %d: %v\n%s", port, err, log)
		}
		running = true
	}
	stop = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !running {
			return
		}
		if err := run("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "120", "stop"); err != nil {
			t.Errorf("storetest: stop PostgreSQL on port %d: %v", port, err)
			return
		}
		running = false
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if running {
			_ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		}
	})
	start()
	url = "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("storetest: connect to the test's PostgreSQL: %v", err)
	}
	_ = conn.Close(ctx)
	return url, stop, start
}

// postgresBin finds the directory of initdb and pg_ctl: the newest
// /usr/lib/postgresql/<version>/bin, else $PATH.
func postgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		t.Fatalf("storetest: pg_ctl not found in /usr/lib/postgresql/*/bin or $PATH: run scripts/test.sh, which installs PostgreSQL")
	}
	return filepath.Dir(p)
}

// postgresCredential returns the credential to run the server with: user postgres when
// the test runs as root (PostgreSQL refuses root), which then owns dir; nil otherwise.
func postgresCredential(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("storetest: running as root needs the user postgres to run PostgreSQL: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("storetest: chown %s: %v", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
