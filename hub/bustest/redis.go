// Package bustest is the conformance suite every [hub.Bus] and [hub.Presence]
// implementation passes, and the helpers tests use to reach Redis: the shared test
// server, a unique key prefix per test, and a private redis-server for fault tests.
package bustest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURL returns the Redis server tests use: $SECURECAM_TEST_REDIS_URL, else
// redis://127.0.0.1:6379. The test fails when it does not answer.
func RedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("SECURECAM_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	if err := ping(url, 2*time.Second); err != nil {
		t.Fatalf("Redis at %s is unreachable (%v): run scripts/test.sh, which starts the services the tests need", url, err)
	}
	return url
}

func ping(url string, timeout time.Duration) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("parse redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return rdb.Ping(ctx).Err()
}

var (
	runID   = randomHex(4)
	counter atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Prefix returns a key and channel prefix unique to this call: test processes and
// tests sharing one Redis do not see each other's keys.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", ".", " ", "_", ":", "_").Replace(t.Name())
	return fmt.Sprintf("sctest:%s:%d:%s:", runID, counter.Add(1), name)
}

// Client returns a client of url, closed when the test ends, which also deletes the
// keys under prefix then.
func Client(t testing.TB, url, prefix string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if prefix != "" {
			iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		}
		_ = rdb.Close()
	})
	return rdb
}

// StartRedis runs a private redis-server (no persistence) on a free port in a temporary
// directory, for tests that stop Redis. stop kills it; restart starts it again on the
// same port. It is killed when the test ends.
func StartRedis(t testing.TB) (url string, stop func(), restart func()) {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (%v): run scripts/test.sh, which installs it", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	url = "redis://127.0.0.1:" + strconv.Itoa(port)

	var mu sync.Mutex
	var cmd *exec.Cmd
	var logDone chan struct{}
	start := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil {
			return
		}
		c := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatalf("redis-server stdout: %v", err)
		}
		if err := c.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() { // reads the server's log until it exits; awaited by stop
			defer close(done)
			sc := bufio.NewScanner(out)
			signalled := false
			for sc.Scan() {
				if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
					signalled = true
					close(ready)
				}
			}
			_, _ = io.Copy(io.Discard, out)
		}()
		cmd, logDone = c, done
		select {
		case <-ready:
		case <-done:
			_ = c.Wait()
			cmd = nil
			t.Fatalf("redis-server on port %d exited at start", port)
		case <-time.After(10 * time.Second):
			t.Fatalf("redis-server on port %d not ready after 10 s", port)
		}
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil {
			return
		}
		_ = cmd.Process.Kill()
		<-logDone
		_ = cmd.Wait()
		cmd = nil
	}
	t.Cleanup(stop)
	start()
	return url, stop, start
}
