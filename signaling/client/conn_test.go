package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
)

const (
	deviceToken = "device-token-1"
	waitLimit   = 10 * time.Second
)

// fakeHub is a test double of the hub's socket, just enough for the
// client's own tests: it greets with hello and answers a few test-only
// message types.
//
//	ping        → pong with ref
//	echo        → ack with ref and the same data
//	fail        → error busy with ref
//	batch       → held until batchSize arrived, then acked in reverse order
//	late        → held until a release message, then acked; presence "late-held" says it arrived
//	push        → an unsolicited presence message
//	server-ping → the hub pings; on the client's pong it sends presence "pong-seen"
//	forbid      → closes the socket with 4003
//	webrtc.*    → echoed back unchanged (as the other party would see them)
//
// ended receives the close code each socket's read ended with (-1: no close frame).
type fakeHub struct {
	t         *testing.T
	srv       *httptest.Server
	batchSize int
	wg        sync.WaitGroup
	ended     chan websocket.StatusCode
}

func newFakeHub(t *testing.T, batchSize int) *fakeHub {
	h := &fakeHub{t: t, batchSize: batchSize, ended: make(chan websocket.StatusCode, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.srv.Close()
		h.wg.Wait()
	})
	return h
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail,
	})
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.wg.Add(1)
	defer h.wg.Done()
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	device := "device-1"
	switch {
	case r.URL.Query().Get("ticket") == "ticket-1":
		device = "ticket-device"
	case r.Header.Get("Authorization") == "Bearer "+deviceToken:
	default:
		writeProblem(w, http.StatusUnauthorized, "unauthorized", "no valid credentials")
		return
	}
	if !slices.Contains(strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ", "), hub.Subprotocol) {
		writeProblem(w, http.StatusBadRequest, "bad_request", "subprotocol not offered")
		return
	}
	if id := r.Header.Get("X-Device-Id"); id != "" {
		device = id
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{hub.Subprotocol}})
	if err != nil {
		h.t.Errorf("accept: %v", err)
		return
	}
	defer ws.CloseNow()
	ctx := r.Context()
	send := func(env hub.Envelope) {
		b, err := hub.Encode(env)
		if err != nil {
			h.t.Errorf("encode: %v", err)
			return
		}
		_ = ws.Write(ctx, websocket.MessageText, b)
	}
	data := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	send(hub.Envelope{Type: "hello", Data: data(map[string]any{
		"device_id": device, "user_id": "user-1", "node": "node-a", "heartbeat_seconds": 25,
		"presence": []map[string]any{{"device_id": "camera-1", "status": "online", "last_seen_at": "2026-01-02T03:04:05Z"}},
	})})

	var batch []string
	var late string
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			select {
			case h.ended <- websocket.CloseStatus(err):
			default:
			}
			return
		}
		env, err := hub.Decode(b)
		if err != nil {
			h.t.Errorf("client sent an invalid envelope %q: %v", b, err)
			return
		}
		switch env.Type {
		case "ping":
			send(hub.Envelope{Type: "pong", Ref: env.ID, Data: data(map[string]any{})})
		case "echo":
			send(hub.Envelope{Type: "ack", Ref: env.ID, Data: env.Data})
		case "fail":
			send(hub.Envelope{Type: "error", Ref: env.ID, Data: data(map[string]string{"code": "busy", "message": "the camera has its viewers"})})
		case "batch":
			batch = append(batch, env.ID)
			if len(batch) == h.batchSize {
				for i := len(batch) - 1; i >= 0; i-- {
					send(hub.Envelope{Type: "ack", Ref: batch[i], Data: data(map[string]string{"id": batch[i]})})
				}
				batch = nil
			}
		case "late":
			late = env.ID
			send(hub.Envelope{Type: "presence", Data: data(map[string]string{"device_id": "late-held"})})
		case "release":
			send(hub.Envelope{Type: "ack", Ref: late, Data: data(map[string]string{"late": "yes"})})
		case "push":
			send(hub.Envelope{Type: "presence", Data: data(map[string]string{"device_id": "camera-1", "status": "offline"})})
		case "server-ping":
			send(hub.Envelope{Type: "ping", ID: "hub-ping-1", Data: data(map[string]any{})})
		case "pong":
			if env.Ref == "hub-ping-1" {
				send(hub.Envelope{Type: "presence", Data: data(map[string]string{"device_id": "pong-seen"})})
			}
		case "forbid":
			_ = ws.Close(hub.StatusForbidden, "session revoked")
			return
		case "webrtc.offer", "webrtc.answer", "webrtc.candidate":
			send(env)
		}
	}
}

func dial(t *testing.T, h *fakeHub, token string, opts client.DialOptions) (*client.Conn, error) {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: h.srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := c.Dial(ctx, opts)
	if err == nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, err
}

func mustDial(t *testing.T, h *fakeHub) *client.Conn {
	t.Helper()
	conn, err := dial(t, h, deviceToken, client.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return conn
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func next(t *testing.T, conn *client.Conn) hub.Envelope {
	t.Helper()
	select {
	case env, ok := <-conn.Messages():
		if !ok {
			t.Fatalf("Messages closed: %v", conn.Err())
		}
		return env
	case <-time.After(waitLimit):
		t.Fatal("no message")
		return hub.Envelope{}
	}
}

func TestDial(t *testing.T) {
	h := newFakeHub(t, 1)
	tests := []struct {
		name   string
		token  string
		opts   client.DialOptions
		device string // hello.device_id; "" when refused
		status int
		code   string
	}{
		{name: "device token", token: deviceToken, device: "device-1"},
		{name: "session token style with device id", token: deviceToken, opts: client.DialOptions{DeviceID: "device-9"}, device: "device-9"},
		{name: "ticket", opts: client.DialOptions{Ticket: "ticket-1"}, device: "ticket-device"},
		{name: "no credentials", status: 401, code: "unauthorized"},
		{name: "wrong token", token: "nope", status: 401, code: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dial(t, h, tt.token, tt.opts)
			if tt.device == "" {
				var e *client.Error
				if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code {
					t.Fatalf("Dial: %v, want *Error %d %s", err, tt.status, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			hello := conn.Hello()
			want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			if hello.DeviceID != tt.device || hello.UserID != "user-1" || hello.Node != "node-a" ||
				hello.HeartbeatSeconds != 25 || len(hello.Presence) != 1 || !hello.Presence[0].LastSeenAt.Equal(want) {
				t.Fatalf("hello %+v", hello)
			}
		})
	}
}

func TestRequestAnswers(t *testing.T) {
	h := newFakeHub(t, 1)
	conn := mustDial(t, h)
	ctx := ctxT(t)

	ack, err := conn.Request(ctx, hub.Envelope{Type: "echo", Data: json.RawMessage(`{"n":1}`)})
	if err != nil || ack.Type != "ack" || string(ack.Data) != `{"n":1}` || ack.Ref == "" {
		t.Fatalf("echo: %+v, %v", ack, err)
	}

	_, err = conn.Request(ctx, hub.Envelope{Type: "fail"})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "busy" || e.Status != 0 || e.Message == "" || client.ErrorCode(err) != "busy" {
		t.Fatalf("fail: %v, want *Error busy", err)
	}

	rtt, err := conn.Ping(ctx)
	if err != nil || rtt <= 0 {
		t.Fatalf("Ping: %s, %v", rtt, err)
	}

	// The id given is the id sent: a command can be retried with it.
	ack, err = conn.Request(ctx, hub.Envelope{Type: "echo", ID: "retry-7", Data: json.RawMessage(`{}`)})
	if err != nil || ack.Ref != "retry-7" {
		t.Fatalf("echo with id: %+v, %v", ack, err)
	}
}

func TestConcurrentRequestsGetTheirOwnAnswer(t *testing.T) {
	const n = 16
	h := newFakeHub(t, n)
	conn := mustDial(t, h)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The hub answers the batch in reverse order.
			ack, err := conn.Request(ctx, hub.Envelope{Type: "batch"})
			if err != nil {
				errs <- err
				return
			}
			d, err := client.Data[struct {
				ID string `json:"id"`
			}](ack)
			if err != nil || d.ID != ack.Ref {
				errs <- errors.New("answer " + ack.Ref + " carries " + d.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLateAnswerGoesToMessages(t *testing.T) {
	h := newFakeHub(t, 1)
	conn := mustDial(t, h)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := conn.Request(short, hub.Envelope{Type: "late", ID: "late-1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request without answer: %v, want deadline exceeded", err)
	}
	if p, _ := client.Data[hub.PresenceData](next(t, conn)); p.DeviceID != "late-held" {
		t.Fatalf("got %+v, want late-held", p)
	}
	if err := conn.Send(ctxT(t), hub.Envelope{Type: "release"}); err != nil {
		t.Fatal(err)
	}
	if env := next(t, conn); env.Type != "ack" || env.Ref != "late-1" {
		t.Fatalf("got %+v, want the late ack", env)
	}
}

func TestMessagesAndHubPing(t *testing.T) {
	h := newFakeHub(t, 1)
	conn := mustDial(t, h)
	ctx := ctxT(t)

	if err := conn.Send(ctx, hub.Envelope{Type: "push"}); err != nil {
		t.Fatal(err)
	}
	env := next(t, conn)
	p, err := client.Data[hub.PresenceData](env)
	if err != nil || env.Type != "presence" || p.DeviceID != "camera-1" || p.Status != "offline" {
		t.Fatalf("got %+v (%+v, %v)", env, p, err)
	}

	// The hub's application ping is answered by the client, not delivered.
	if err := conn.Send(ctx, hub.Envelope{Type: "server-ping"}); err != nil {
		t.Fatal(err)
	}
	env = next(t, conn)
	if p, _ := client.Data[hub.PresenceData](env); p.DeviceID != "pong-seen" {
		t.Fatalf("got %+v, want the hub to have seen the pong", env)
	}
}

func TestSessionSignaler(t *testing.T) {
	h := newFakeHub(t, 1)
	conn := mustDial(t, h)
	ctx := ctxT(t)
	sig := conn.Signaler("session-1")

	mid, idx := "0", uint16(0)
	if err := sig.SendDescription(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	if err := sig.SendDescription(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	cand := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx}
	if err := sig.SendCandidate(ctx, cand); err != nil {
		t.Fatal(err)
	}
	if err := sig.SendCandidate(ctx, webrtc.ICECandidateInit{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		typ  string
		data string
	}{
		{"webrtc.offer", `{"sdp":"v=0 offer"}`},
		{"webrtc.answer", `{"sdp":"v=0 answer"}`},
		{"webrtc.candidate", `{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}`},
		{"webrtc.candidate", `{"candidate":""}`},
	}
	for i, tt := range tests {
		env := next(t, conn)
		if env.Type != tt.typ || env.Session != "session-1" || string(env.Data) != tt.data {
			t.Errorf("got %s %s %s, want %s %s", env.Type, env.Session, env.Data, tt.typ, tt.data)
		}
		if i == 2 { // and back to pion's type
			c, err := client.Data[wire.Candidate](env)
			got := client.ICECandidate(c)
			if err != nil || got.Candidate != cand.Candidate || *got.SDPMid != mid || *got.SDPMLineIndex != idx {
				t.Errorf("candidate round trip: %+v, %v", got, err)
			}
		}
	}
}

// hubSaw returns how the fake hub saw the next socket end.
func hubSaw(t *testing.T, h *fakeHub) websocket.StatusCode {
	t.Helper()
	select {
	case code := <-h.ended:
		return code
	case <-time.After(waitLimit):
		t.Fatal("the hub did not see the socket end")
		return 0
	}
}

func TestClose(t *testing.T) {
	h := newFakeHub(t, 1)

	t.Run("by the client", func(t *testing.T) {
		conn := mustDial(t, h)
		if err := conn.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, ok := <-conn.Messages(); ok {
			t.Fatal("Messages still open")
		}
		t.Logf("Err after Close: %v (status %d)", conn.Err(), websocket.CloseStatus(conn.Err()))
		if conn.Err() == nil {
			t.Fatalf("Err after Close = %v", conn.Err())
		}
		if _, err := conn.Request(ctxT(t), hub.Envelope{Type: "echo"}); err == nil {
			t.Fatal("Request after Close succeeded")
		}
		if got := hubSaw(t, h); got != websocket.StatusNormalClosure {
			t.Errorf("the hub saw close status %d, want 1000", got)
		}
	})

	t.Run("by the client, without the handshake", func(t *testing.T) {
		conn := mustDial(t, h)
		if err := conn.CloseNow(); err != nil {
			t.Fatalf("CloseNow: %v", err)
		}
		if _, ok := <-conn.Messages(); ok {
			t.Fatal("Messages still open")
		}
		if conn.Err() == nil {
			t.Fatal("Err after CloseNow = nil")
		}
		if got := hubSaw(t, h); got != -1 {
			t.Errorf("the hub saw close status %d, want none (-1): a dropped connection", got)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("Close after CloseNow: %v", err)
		}
	})

	t.Run("by the hub with 4003", func(t *testing.T) {
		conn := mustDial(t, h)
		ctx := ctxT(t)
		done := make(chan error, 1)
		go func() {
			_, err := conn.Request(ctx, hub.Envelope{Type: "late"})
			done <- err
		}()
		if p, _ := client.Data[hub.PresenceData](next(t, conn)); p.DeviceID != "late-held" {
			t.Fatalf("got %+v, want late-held", p)
		}
		if err := conn.Send(ctx, hub.Envelope{Type: "forbid"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-conn.Done():
		case <-time.After(waitLimit):
			t.Fatal("connection did not end")
		}
		if got := websocket.CloseStatus(conn.Err()); got != hub.StatusForbidden {
			t.Fatalf("close status %d (%v), want 4003", got, conn.Err())
		}
		if err := <-done; !errors.Is(err, client.ErrClosed) || websocket.CloseStatus(err) != hub.StatusForbidden {
			t.Fatalf("pending Request: %v, want ErrClosed with 4003", err)
		}
	})
}
