package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// realHub serves a real hub at one URL, and can replace it with a new one (a
// restarted replica), so that a Socket's reconnections meet the real close codes.
type realHub struct {
	t    *testing.T
	st   store.Store
	srv  *httptest.Server
	ln   *connList
	cur  atomic.Pointer[hub.Hub]
	deny atomic.Bool // refuse every socket with 401

	mu    sync.Mutex
	clean map[string][]bool // device id → the clean flag of each OnDisconnect
}

func newRealHub(t *testing.T) *realHub {
	h := &realHub{t: t, st: storetest.NewSQLite(t), clean: map[string][]bool{}}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.cur.Load().ServeHTTP(w, r)
	}))
	h.ln = &connList{Listener: h.srv.Listener}
	h.srv.Listener = h.ln
	h.srv.Start()
	h.restart()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = h.cur.Load().Shutdown(ctx)
		h.srv.Close()
	})
	return h
}

// Authenticate takes the device id of X-Device-Id, as signaling's tests do.
func (h *realHub) Authenticate(r *http.Request) (hub.Identity, error) {
	d, err := h.st.Device(r.Context(), r.Header.Get("X-Device-Id"))
	if err != nil || h.deny.Load() {
		return hub.Identity{}, &hub.AuthError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "no"}
	}
	return hub.Identity{UserID: d.UserID, DeviceID: d.ID}, nil
}

// Revalidate keeps every open socket.
func (h *realHub) Revalidate(_ context.Context, ids []hub.Identity) ([]bool, error) {
	ok := make([]bool, len(ids))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

// restart starts a new hub and serves it from now on; the old one (if any) keeps
// the connections it has until the caller shuts it down.
func (h *realHub) restart() {
	hb, err := hub.New(hub.Config{
		Authenticator: h,
		Directory:     signaling.Directory{Store: h.st},
		OnDisconnect: func(_ context.Context, id hub.Identity, clean bool) {
			h.mu.Lock()
			h.clean[id.DeviceID] = append(h.clean[id.DeviceID], clean)
			h.mu.Unlock()
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.cur.Store(hb)
}

func (h *realHub) disconnects(dev string) []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.clean[dev]...)
}

// devices makes two linked devices of one user.
func (h *realHub) devices() (store.Device, store.Device) {
	ctx := context.Background()
	u := store.User{Email: time.Now().Format("150405.000000000") + "@example.com", Name: "T", PasswordHash: "x:y"}
	if err := h.st.CreateUser(ctx, &u); err != nil {
		h.t.Fatal(err)
	}
	var ds [2]store.Device
	for i, role := range []string{store.RoleCamera, store.RoleViewer} {
		ds[i] = store.Device{UserID: u.ID, Name: role, Role: role, Platform: "other", IsCamera: role == store.RoleCamera}
		if err := h.st.CreateDevice(ctx, &ds[i], role+u.ID); err != nil {
			h.t.Fatal(err)
		}
	}
	l := store.DeviceLink{OwnerUserID: u.ID, CameraDeviceID: ds[0].ID, ClientDeviceID: ds[1].ID, Status: store.LinkActive}
	if err := h.st.CreateLink(ctx, &l); err != nil {
		h.t.Fatal(err)
	}
	return ds[0], ds[1]
}

func (h *realHub) client() *client.Client {
	c, err := client.New(client.Config{BaseURL: h.srv.URL})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *realHub) connect(dev store.Device) *client.Socket {
	h.t.Helper()
	s, err := h.client().Connect(ctxT(h.t), client.DialOptions{DeviceID: dev.ID})
	if err != nil {
		h.t.Fatalf("Connect: %v", err)
	}
	h.t.Cleanup(func() { _ = s.Close() })
	return s
}

// nextOf returns the next message of type typ on s, skipping others.
func nextOf(t *testing.T, s *client.Socket, typ string) hub.Envelope {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case env, ok := <-s.Messages():
			if !ok {
				t.Fatalf("Messages closed waiting for %s: %v", typ, s.Err())
			}
			if env.Type == typ {
				return env
			}
		case <-timeout:
			t.Fatalf("no %s within 30 s", typ)
		}
	}
}

// ended waits for s to stop and returns why.
func ended(t *testing.T, s *client.Socket) error {
	t.Helper()
	for {
		select {
		case _, ok := <-s.Messages():
			if !ok {
				<-s.Done()
				return s.Err()
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the socket did not stop within 30 s")
		}
	}
}

// TestSocketReconnectsAfterDrain: the replica drains (1012); while it refuses new
// sockets (503) the Socket is between connections, then it connects to the new
// replica, hello first.
func TestSocketReconnectsAfterDrain(t *testing.T) {
	h := newRealHub(t)
	cam, view := h.devices()
	s := h.connect(view)
	if got, err := client.Data[hub.HelloData](nextOf(t, s, hub.TypeHello)); err != nil || got.DeviceID != view.ID {
		t.Fatalf("first hello %+v, %v", got, err)
	}
	old := h.cur.Load()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Request(ctxT(t), hub.Envelope{Type: hub.TypePing})
		if errors.Is(err, client.ErrReconnecting) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the drain, Request says %v; want ErrReconnecting", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the Socket's state
	}
	h.restart()
	camConn, err := h.client().Dial(ctxT(t), client.DialOptions{DeviceID: cam.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer camConn.Close()

	hello, err := client.Data[hub.HelloData](nextOf(t, s, hub.TypeHello))
	if err != nil || hello.DeviceID != view.ID || len(hello.Presence) != 1 {
		t.Fatalf("hello after reconnecting %+v, %v", hello, err)
	}
	if _, err := s.Request(ctxT(t), hub.Envelope{Type: hub.TypePing}); err != nil {
		t.Fatalf("ping after reconnecting: %v", err)
	}
	if !s.Online(cam.ID) {
		t.Errorf("the camera, connected before the viewer came back, is not online for the Socket")
	}
	_ = camConn.Close()
	for p := nextOf(t, s, hub.TypePresence); ; p = nextOf(t, s, hub.TypePresence) {
		if d, _ := client.Data[hub.PresenceData](p); d.DeviceID == cam.ID && d.Status == "offline" {
			break
		}
	}
	if s.Online(cam.ID) {
		t.Errorf("the camera left, and is still online for the Socket")
	}
	if got := h.disconnects(view.ID); len(got) != 1 || got[0] {
		t.Errorf("the hub saw the viewer leave %v times (clean %v), want once, unclean (the drain)", len(got), got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !errors.Is(s.Err(), client.ErrClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed", s.Err())
	}
	deadline = time.Now().Add(30 * time.Second)
	for got := h.disconnects(view.ID); len(got) != 2 || !got[1]; got = h.disconnects(view.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("after Close the hub saw %v, want a clean close", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSocketReconnectsAfterDrop: a connection cut without a close frame (a lost
// network) is dialled again, with backoff.
func TestSocketReconnectsAfterDrop(t *testing.T) {
	h := newRealHub(t)
	_, view := h.devices()
	s := h.connect(view)
	nextOf(t, s, hub.TypeHello)
	h.ln.cut()
	nextOf(t, s, hub.TypeHello)
	if _, err := s.Request(ctxT(t), hub.Envelope{Type: hub.TypePing}); err != nil {
		t.Fatalf("ping after reconnecting: %v", err)
	}
}

// TestSocketStops: the close codes and refusals after which a client must not
// reconnect end the Socket, with the cause in Err.
func TestSocketStops(t *testing.T) {
	t.Run("replaced 4001", func(t *testing.T) {
		h := newRealHub(t)
		_, view := h.devices()
		s := h.connect(view)
		nextOf(t, s, hub.TypeHello)
		other, err := h.client().Dial(ctxT(t), client.DialOptions{DeviceID: view.ID})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := ended(t, s); websocket.CloseStatus(err) != hub.StatusReplaced {
			t.Errorf("Err = %v, want close code 4001", err)
		}
	})
	t.Run("forbidden 4003", func(t *testing.T) {
		h := newRealHub(t)
		_, view := h.devices()
		s := h.connect(view)
		nextOf(t, s, hub.TypeHello)
		if err := h.cur.Load().CloseDevice(ctxT(t), view.ID, hub.StatusForbidden, "revoked"); err != nil {
			t.Fatal(err)
		}
		if err := ended(t, s); websocket.CloseStatus(err) != hub.StatusForbidden {
			t.Errorf("Err = %v, want close code 4003", err)
		}
	})
	t.Run("reconnect refused 401", func(t *testing.T) {
		h := newRealHub(t)
		_, view := h.devices()
		s := h.connect(view)
		nextOf(t, s, hub.TypeHello)
		h.deny.Store(true)
		if err := h.cur.Load().Shutdown(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		h.restart()
		err := ended(t, s)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
			t.Errorf("Err = %v, want the 401", err)
		}
	})
}

// connList is a listener that keeps the connections it accepted, so that a test can
// cut them as a lost network does.
type connList struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connList) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection accepted so far.
func (l *connList) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}
