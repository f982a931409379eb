package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
)

// binary is the securecam executable the process tests run, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "securecam-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "securecam")
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gotool, "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build securecam: %v\n", err)
		return 1
	}
	return m.Run()
}

// proc is one securecam process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	node string
	done chan struct{} // closed when the process exited
	err  error         // its exit error, set before done closes

	mu   sync.Mutex
	logs []string
}

// startProc runs `securecam serve` with env (plus a loopback listen address and JSON
// logs) and waits until it listens.
func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "SECURECAM_HTTP_ADDR=127.0.0.1:0", "SECURECAM_LOG_FORMAT=json", "SECURECAM_LOG_LEVEL=info")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start securecam: %v", err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	go p.readLogs(stderr, listening)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("logs of %s:\n%s", p.url, strings.Join(p.logLines(), "\n"))
		}
	})
	select {
	case p.url = <-listening:
	case <-p.done:
		t.Fatalf("securecam exited before listening: %v\n%s", p.err, strings.Join(p.logLines(), "\n"))
	case <-time.After(60 * time.Second):
		t.Fatalf("securecam did not listen within 60 s:\n%s", strings.Join(p.logLines(), "\n"))
	}
	return p
}

// readLogs collects the process's log lines, reports its listen address once, and
// reaps it when its output ends.
func (p *proc) readLogs(r io.Reader, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.logs = append(p.logs, line)
		p.mu.Unlock()
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
			Node string `json:"node"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			if rec.Node != "" && p.node == "" {
				p.node = rec.Node
			}
			if rec.Msg == "listening" {
				listening <- "http://" + rec.Addr
			}
		}
	}
	p.err = p.cmd.Wait()
	close(p.done)
}

func (p *proc) logLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("securecam exited with %v after SIGTERM:\n%s", p.err, strings.Join(p.logLines(), "\n"))
		}
	case <-time.After(30 * time.Second):
		p.t.Fatal("securecam did not exit within 30 s of SIGTERM")
	}
}

// kill ends the process with SIGKILL: no drain, no cleanup.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) client(token string) *client.Client {
	p.t.Helper()
	c, err := client.New(client.Config{BaseURL: p.url, Token: token})
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// status returns the HTTP status of GET path.
func (p *proc) status(path string) int {
	p.t.Helper()
	res, err := http.Get(p.url + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// account is a user with a camera and a linked viewer, made over REST.
type account struct {
	email, token   string
	camera, viewer client.CreatedDevice
}

const testPassword = "correct horse battery staple"

func newAccount(t *testing.T, p *proc) account {
	t.Helper()
	ctx := t.Context()
	email := fmt.Sprintf("owner-%d@example.com", time.Now().UnixNano())
	auth, err := p.client("").SignUp(ctx, email, testPassword, "Owner")
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
	c := p.client(auth.Session.Token)
	cam, err := c.CreateDevice(ctx, client.NewDevice{Name: "porch", Role: "camera", Platform: "android"})
	if err != nil {
		t.Fatalf("create camera: %v", err)
	}
	view, err := c.CreateDevice(ctx, client.NewDevice{Name: "phone", Role: "viewer", Platform: "ios"})
	if err != nil {
		t.Fatalf("create viewer: %v", err)
	}
	if _, err := c.CreateLink(ctx, cam.Device.ID, view.Device.ID); err != nil {
		t.Fatalf("link: %v", err)
	}
	return account{email: email, token: auth.Session.Token, camera: cam, viewer: view}
}

// dialDevice opens a device's socket with its device token.
func dialDevice(t *testing.T, p *proc, d client.CreatedDevice) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := p.client(d.DeviceToken).Dial(ctx, client.DialOptions{})
	if err != nil {
		t.Fatalf("dial %s on %s: %v", d.Device.Name, p.url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// next returns the next message of type typ on conn, skipping presence messages.
func next(t *testing.T, conn *client.Conn, typ string) hub.Envelope {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case env, ok := <-conn.Messages():
			if !ok {
				t.Fatalf("connection ended waiting for %s: %v", typ, conn.Err())
			}
			if env.Type == typ {
				return env
			}
			if env.Type != "presence" {
				t.Fatalf("want %s, got %s %s", typ, env.Type, env.Data)
			}
		case <-timeout:
			t.Fatalf("no %s within 20 s", typ)
		}
	}
}

// presence waits for a presence message about deviceID with status.
func presence(t *testing.T, conn *client.Conn, deviceID, status string) {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case env, ok := <-conn.Messages():
			if !ok {
				t.Fatalf("connection ended waiting for presence: %v", conn.Err())
			}
			if env.Type != "presence" {
				continue
			}
			var d struct {
				DeviceID string `json:"device_id"`
				Status   string `json:"status"`
			}
			if err := json.Unmarshal(env.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.DeviceID == deviceID && d.Status == status {
				return
			}
		case <-timeout:
			t.Fatalf("no presence %s for %s within 90 s", status, deviceID)
		}
	}
}
