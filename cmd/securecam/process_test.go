package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
)

func TestMain(m *testing.M) {
	os.Exit(childtest.Main(m))
}

// proc is a `securecam serve` child process of a test.
type proc struct {
	*child.Process
	t *testing.T
}

// startProc runs `securecam serve` with env (see childtest.Start) and waits until it
// listens.
func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	return &proc{Process: childtest.Start(t, env), t: t}
}

// startProcAt starts a hub on a free loopback address with the environment env(addr)
// gives (see childtest.StartAt), and returns it with that environment.
func startProcAt(t *testing.T, env func(addr string) map[string]string) (*proc, map[string]string) {
	t.Helper()
	p, e := childtest.StartAt(t, env)
	return &proc{Process: p, t: t}, e
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	childtest.Stop(p.t, p.Process)
}

func (p *proc) client(token string) *client.Client {
	p.t.Helper()
	c, err := client.New(client.Config{BaseURL: p.URL, Token: token})
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// status returns the HTTP status of GET path.
func (p *proc) status(path string) int {
	p.t.Helper()
	res, err := http.Get(p.URL + path)
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
		t.Fatalf("dial %s on %s: %v", d.Device.Name, p.URL, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// next returns the next message of type typ on conn, skipping presence messages; any
// other message fails the test.
func next(t *testing.T, conn *client.Conn, typ string) hub.Envelope {
	t.Helper()
	return nextPast(t, conn, typ, func(other string) bool { return other == "presence" })
}

// nextPast returns the next message of type typ on conn, skipping the messages whose
// type skip accepts; any other message fails the test.
func nextPast(t *testing.T, conn *client.Conn, typ string, skip func(string) bool) hub.Envelope {
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
			if !skip(env.Type) {
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
