package signaling_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/hub/redisbus"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
)

// testAuth authenticates a socket by the device id in X-Device-Id (what
// signaling/client sends with DialOptions.DeviceID), without a token: the real
// authenticator lives in package web, which signaling must not import.
type testAuth struct{ st store.Store }

func (a testAuth) Authenticate(r *http.Request) (hub.Identity, error) {
	d, err := a.st.Device(r.Context(), r.Header.Get("X-Device-Id"))
	if err != nil {
		return hub.Identity{}, &hub.AuthError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: err.Error()}
	}
	return hub.Identity{UserID: d.UserID, DeviceID: d.ID}, nil
}

// Revalidate finds every socket still valid: revocation is web's business.
func (a testAuth) Revalidate(_ context.Context, ids []hub.Identity) ([]bool, error) {
	ok := make([]bool, len(ids))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

// node is one replica: a hub with the signaling service, served over httptest.
type node struct {
	hub  *hub.Hub
	svc  *signaling.Service
	srv  *httptest.Server
	stop func() // shuts the replica down (at the latest when the test ends)
}

type nodeOptions struct {
	bus      hub.Bus
	presence hub.Presence
	config   func(*signaling.Config)
}

// startNode runs a replica on st until the test ends.
func startNode(t *testing.T, st store.Store, opts nodeOptions) *node {
	t.Helper()
	cfg := signaling.Config{Store: st, SweepInterval: 10 * time.Millisecond}
	if opts.config != nil {
		opts.config(&cfg)
	}
	svc, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{
		Authenticator: testAuth{st},
		Directory:     signaling.Directory{Store: st},
		Bus:           opts.bus,
		Presence:      opts.presence,
		OnConnect:     svc.OnConnect,
		OnDisconnect:  svc.OnDisconnect,
		OnBusResume:   svc.OnBusResume,
		Now:           cfg.Now, // one clock, as cmd wires it
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	srv := httptest.NewServer(h)
	stop := sync.OnceFunc(func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := h.Shutdown(sctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
		svc.Close()
	})
	t.Cleanup(stop)
	return &node{hub: h, svc: svc, srv: srv, stop: stop}
}

// account is a user with devices and links, made directly in the store.
type account struct {
	st   store.Store
	user store.User
}

func newAccount(t *testing.T, st store.Store) *account {
	t.Helper()
	u := store.User{Email: randomHex(t) + "@example.com", Name: "Test", PasswordHash: "x:y"}
	if err := st.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return &account{st: st, user: u}
}

func (a *account) device(t *testing.T, role string) store.Device {
	t.Helper()
	d := store.Device{UserID: a.user.ID, Name: role, Role: role, Platform: "android", Status: store.DeviceOffline, IsCamera: role == store.RoleCamera}
	if err := a.st.CreateDevice(context.Background(), &d, randomHex(t)); err != nil {
		t.Fatal(err)
	}
	return d
}

func (a *account) link(t *testing.T, camera, client store.Device) store.DeviceLink {
	t.Helper()
	l := store.DeviceLink{OwnerUserID: a.user.ID, CameraDeviceID: camera.ID, ClientDeviceID: client.ID, Status: store.LinkActive}
	if err := a.st.CreateLink(context.Background(), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func randomHex(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// peer is a device's socket as a test sees it: a signaling/client connection that
// fails the test on what the test did not expect.
type peer struct {
	t    *testing.T
	conn *client.Conn
}

// dial connects device to n and waits for hello.
func dial(t *testing.T, n *node, device store.Device) *peer {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: n.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, client.DialOptions{DeviceID: device.ID})
	if err != nil {
		t.Fatalf("dial %s: %v", device.Name, err)
	}
	p := &peer{t: t, conn: conn}
	t.Cleanup(p.close)
	return p
}

func (p *peer) close() { _ = p.conn.Close() }

// drop ends the connection without a close handshake.
func (p *peer) drop() { _ = p.conn.CloseNow() }

// send writes a message; id "" sends none, so that no answer comes.
func (p *peer) send(typ, id, session string, data any) {
	p.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// With an id but no pending Request, the answer arrives on Messages, in order.
	if err := p.conn.Send(ctx, hub.Envelope{Type: typ, ID: id, Session: session, Data: raw}); err != nil {
		p.t.Fatalf("write %s: %v", typ, err)
	}
}

// expect returns the next message of type typ, skipping presence messages; any other
// message first fails the test.
func (p *peer) expect(typ string) hub.Envelope {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-p.conn.Messages():
			if !ok {
				p.t.Fatalf("connection ended waiting for %s: %v", typ, p.conn.Err())
			}
			if env.Type == typ {
				return env
			}
			if env.Type != "presence" {
				p.t.Fatalf("want %s, got %s %s", typ, env.Type, env.Data)
			}
		case <-timeout:
			p.t.Fatalf("no %s within 10 s", typ)
		}
	}
}

// request sends a message with an id and returns its answer (ack, error, or pong for
// a ping), which must be the next message that is not presence.
func (p *peer) request(typ, session string, data any) hub.Envelope {
	p.t.Helper()
	id := "m-" + randomHex(p.t)
	p.send(typ, id, session, data)
	env := p.next()
	if (env.Type != "ack" && env.Type != "error" && env.Type != "pong") || env.Ref != id {
		p.t.Fatalf("want the answer to %s %s, got %s ref %q %s", typ, id, env.Type, env.Ref, env.Data)
	}
	return env
}

// next returns the next message that is not presence.
func (p *peer) next() hub.Envelope {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-p.conn.Messages():
			if !ok {
				p.t.Fatalf("connection ended: %v", p.conn.Err())
			}
			if env.Type != "presence" {
				return env
			}
		case <-timeout:
			p.t.Fatalf("no message within 10 s")
		}
	}
}

func decode[T any](t *testing.T, env hub.Envelope) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(env.Data, &v); err != nil {
		t.Fatalf("decode %s data %s: %v", env.Type, env.Data, err)
	}
	return v
}

// errorCode returns the code of an error answer, failing on an ack.
func errorCode(t *testing.T, env hub.Envelope) string {
	t.Helper()
	if env.Type != "error" {
		t.Fatalf("want error, got %s %s", env.Type, env.Data)
	}
	return decode[hub.ErrorData](t, env).Code
}

// startRedisReplica runs a replica on st whose bus and presence registry are Redis at
// url under prefix (shared by the replicas of one test), once its bus is ready.
func startRedisReplica(t *testing.T, st store.Store, url, prefix string, config func(*signaling.Config)) *node {
	t.Helper()
	rdb := bustest.Client(t, url, prefix)
	n := startNode(t, st, nodeOptions{
		bus:      redisbus.New(rdb, redisbus.Config{Prefix: prefix}),
		presence: redisbus.NewPresence(rdb, redisbus.PresenceConfig{Prefix: prefix}),
		config:   config,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n.hub.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("replica not ready within 10 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return n
}
