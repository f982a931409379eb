package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/internal/supervise"
)

// TestHelloLastSeenInWholeSeconds: last_seen_at goes out as RFC 3339 in UTC without
// a fraction, whatever precision the directory recorded.
func TestHelloLastSeenInWholeSeconds(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	th.dir.link("cam", "viewer")
	th.dir.lastSeen["viewer"] = time.Date(2025, 1, 2, 4, 4, 5, 987654321, time.FixedZone("CET", 3600))

	_, hello := dial(t, th, "cam")
	if !bytes.Contains(hello.Data, []byte(`"last_seen_at":"2025-01-02T03:04:05Z"`)) {
		t.Fatalf("hello = %s, want last_seen_at 2025-01-02T03:04:05Z", hello.Data)
	}
}

func TestHelloPresenceSnapshotAndAnnouncements(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC) // the hub's clock stands still
	th := newHub(t, hub.Config{NodeID: "node-a", HeartbeatInterval: 20 * time.Second, Now: func() time.Time { return now }})
	th.dir.link("cam", "viewer")
	seen := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	th.dir.lastSeen["viewer"] = seen

	cam, hello := dial(t, th, "cam", "X-User", "user-7")
	var h struct {
		DeviceID         string `json:"device_id"`
		UserID           string `json:"user_id"`
		Node             string `json:"node"`
		HeartbeatSeconds int    `json:"heartbeat_seconds"`
		Presence         []struct {
			DeviceID   string  `json:"device_id"`
			Status     string  `json:"status"`
			LastSeenAt *string `json:"last_seen_at"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(hello.Data, &h); err != nil {
		t.Fatalf("hello data: %v", err)
	}
	if h.DeviceID != "cam" || h.UserID != "user-7" || h.Node != "node-a" || h.HeartbeatSeconds != 20 {
		t.Fatalf("hello = %s", hello.Data)
	}
	if len(h.Presence) != 1 || h.Presence[0].DeviceID != "viewer" || h.Presence[0].Status != "offline" ||
		h.Presence[0].LastSeenAt == nil || *h.Presence[0].LastSeenAt != "2025-01-02T03:04:05Z" {
		t.Fatalf("hello presence = %s", hello.Data)
	}
	th.dir.waitRecorded(t, "cam", true)

	viewer, vhello := dial(t, th, "viewer")
	if !bytes.Contains(vhello.Data, []byte(`"device_id":"cam","status":"online"`)) {
		t.Fatalf("viewer's hello does not show cam online: %s", vhello.Data)
	}
	dev, status, last := presenceOf(t, cam.until("presence"))
	if dev != "viewer" || status != "online" || last == nil || *last != "2025-06-07T08:09:10Z" {
		t.Fatalf("cam got presence %s %s %v, want viewer online with last_seen_at from the hub's clock", dev, status, last)
	}
	if on, err := th.Online(bg(t), "viewer"); err != nil || !on {
		t.Fatalf("Online(viewer) = %v, %v", on, err)
	}

	if err := viewer.conn.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	dev, status, _ = presenceOf(t, cam.until("presence"))
	if dev != "viewer" || status != "offline" {
		t.Fatalf("cam got presence %s %s, want viewer offline", dev, status)
	}
	if d := th.hook.waitDisconnect(t, "viewer"); !d.clean {
		t.Fatal("a normal close by the client is not clean")
	}
	if u := th.dir.waitRecorded(t, "viewer", false); !u.LastSeenAt.Equal(now) {
		t.Fatalf("recorded last_seen_at %v, want the hub's clock %v", u.LastSeenAt, now)
	}
	if on, err := th.Online(bg(t), "viewer"); err != nil || on {
		t.Fatalf("Online(viewer) after close = %v, %v", on, err)
	}
}

func TestRefusalsBeforeUpgrade(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	tests := []struct {
		name     string
		protos   []string
		hdr      http.Header
		status   int
		code     string
		wantAuth bool
	}{
		{"no subprotocol", nil, deviceHeader("d1"), 400, "bad_request", false},
		{"other subprotocol", []string{"chat"}, deviceHeader("d1"), 400, "bad_request", false},
		{"subprotocol checked before auth", nil, deviceHeader("d1", "X-Refuse", "401"), 400, "bad_request", false},
		{"unauthorized", []string{hub.Subprotocol}, deviceHeader("d1", "X-Refuse", "401"), 401, "code_401", true},
		{"forbidden", []string{hub.Subprotocol}, deviceHeader("d1", "X-Refuse", "403"), 403, "code_403", true},
		{"bad request from auth", []string{hub.Subprotocol}, deviceHeader("d1", "X-Refuse", "400"), 400, "code_400", true},
		{"auth failure", []string{hub.Subprotocol}, deviceHeader("d1", "X-Fail", "1"), 500, "internal", true},
		{"store down", []string{hub.Subprotocol}, deviceHeader("d1", "X-Refuse", "503"), 503, "code_503", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := bg(t)
			conn, resp, err := websocket.Dial(ctx, th.url, &websocket.DialOptions{Subprotocols: tt.protos, HTTPHeader: tt.hdr})
			if err == nil {
				_ = conn.CloseNow()
				t.Fatal("dial succeeded")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("response %v, want status %d", resp, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatalf("problem body: %v", err)
			}
			if p.Status != tt.status || p.Code != tt.code {
				t.Fatalf("problem %+v, want status %d code %s", p, tt.status, tt.code)
			}
			if retry, want := resp.Header.Get("Retry-After"), map[bool]string{true: "2"}[tt.status == 503]; retry != want {
				t.Fatalf("Retry-After %q, want %q", retry, want)
			}
		})
	}
}

func TestAdmissionControl(t *testing.T) {
	t.Parallel()
	auth := &countingAuth{}
	th := newHub(t, hub.Config{Authenticator: auth, AcceptRate: 0.01, AcceptBurst: 1})
	dial(t, th, "d1")
	_, resp, err := websocket.Dial(bg(t), th.url, &websocket.DialOptions{
		Subprotocols: []string{hub.Subprotocol}, HTTPHeader: deviceHeader("d2"),
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second connection: %v %v, want 503", err, resp)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Refused before authentication: a single-use ticket would not have been spent.
	if n := auth.calls.Load(); n != 1 {
		t.Fatalf("Authenticate called %d times, want 1 (the first connection only)", n)
	}
}

// The documented defaults: 20 refused credentials, then 429 with Retry-After 1 (the
// budget refills at one a second, so a slow machine may see a few more 401s first).
func TestFailedAuthenticationBudgetDefaults(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	refused := 0
	for {
		_, resp, err := dialFrom(t, th, "127.0.0.4", deviceHeader("intruder", "X-Refuse", "401"))
		if err == nil || resp == nil {
			t.Fatalf("attempt %d: %v %v", refused+1, err, resp)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if refused++; refused > 200 {
				t.Fatal("200 refused credentials and never throttled")
			}
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || refused < 20 {
			t.Fatalf("after %d refusals: %v with Retry-After %q, want 429 with Retry-After 1 after at least 20",
				refused, resp.Status, resp.Header.Get("Retry-After"))
		}
		return
	}
}

// countingAuth is fakeAuth counting its calls to Authenticate.
type countingAuth struct {
	fakeAuth
	calls atomic.Int64
}

func (a *countingAuth) Authenticate(r *http.Request) (hub.Identity, error) {
	a.calls.Add(1)
	return fakeAuth{}.Authenticate(r)
}

// dialFrom opens /ws from the loopback address src (any of 127.0.0.0/8), so that a
// test can be several client networks.
func dialFrom(t *testing.T, th *testHub, src string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return websocket.Dial(bg(t), th.url, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, Subprotocols: []string{hub.Subprotocol}, HTTPHeader: hdr,
	})
}

// Requests with bad credentials take no accept slot: they spend a budget of their
// own network, which then answers 429 without authenticating; a device of another
// network connects meanwhile as if nothing happened.
func TestFailedAuthenticationsSpendTheirOwnBudget(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	auth := &countingAuth{}
	th := newHub(t, hub.Config{Authenticator: auth, Registerer: reg,
		AcceptRate: 0.01, AcceptBurst: 3, FailedAuthRate: 0.01, FailedAuthBurst: 5})

	for i := range 50 {
		_, resp, err := dialFrom(t, th, "127.0.0.2", deviceHeader("intruder", "X-Refuse", "401"))
		if err == nil {
			t.Fatalf("attempt %d: bad credentials connected", i)
		}
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("attempt %d: %v %v, want %d", i, err, resp, want)
		}
		if want == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("attempt %d: Retry-After %q, want whole seconds ≥ 1", i, resp.Header.Get("Retry-After"))
			}
			var p struct{ Code string }
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Code != hub.CodeRateLimited {
				t.Fatalf("attempt %d: problem code %q, %v; want %s", i, p.Code, err, hub.CodeRateLimited)
			}
		}
	}
	if n := auth.calls.Load(); n != 5 {
		t.Fatalf("Authenticate called %d times for the intruder, want 5 (then refused before authenticating)", n)
	}
	// A failing store (5xx) is not a failed authentication: never throttled.
	for i := range 10 {
		_, resp, err := dialFrom(t, th, "127.0.0.3", deviceHeader("d", "X-Fail", "1"))
		if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("attempt %d with the store down: %v %v, want 500", i, err, resp)
		}
	}
	// The camera gets every accept slot there is.
	for i := range 3 {
		conn, resp, err := dialFrom(t, th, "127.0.0.1", deviceHeader(fmt.Sprintf("cam-%d", i)))
		if err != nil {
			t.Fatalf("camera connect %d: %v %v", i, err, resp)
		}
		_ = conn.CloseNow()
	}
	for name, want := range map[string]float64{
		"securecam_hub_auth_failures_total":      5,
		"securecam_hub_auth_throttled_total":     45,
		"securecam_hub_admission_refusals_total": 0,
	} {
		if got := counter(t, reg, name, "", ""); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestPingUnknownTypeHandlersAndPanics(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	th.Handle("echo", func(ctx context.Context, c *hub.Client, env hub.Envelope) {
		if err := c.Ack(env.ID, map[string]string{"echo": string(env.Data), "device": c.Identity().DeviceID}); err != nil {
			t.Errorf("Ack: %v", err)
		}
	})
	th.Handle("boom", func(context.Context, *hub.Client, hub.Envelope) { panic("handler bug") })
	c, _ := dial(t, th, "d1")

	c.send(hub.Envelope{Type: "ping", ID: "p1"})
	if pong := c.read(); pong.Type != "pong" || pong.Ref != "p1" {
		t.Fatalf("got %+v, want pong ref p1", pong)
	}
	c.send(hub.Envelope{Type: "nope", ID: "u1"})
	env := c.read()
	if e := errorOf(t, env); e.Code != hub.CodeUnknownType || env.Ref != "u1" {
		t.Fatalf("got %+v, want error unknown_type ref u1", env)
	}
	c.send(hub.Envelope{Type: "echo", ID: "e1", Data: json.RawMessage(`{"x":1}`)})
	ack := c.read()
	if ack.Type != "ack" || ack.Ref != "e1" || !bytes.Contains(ack.Data, []byte(`"device":"d1"`)) {
		t.Fatalf("got %+v %s, want ack ref e1", ack, ack.Data)
	}
	c.send(hub.Envelope{Type: "boom", ID: "b1"})
	env = c.read()
	if e := errorOf(t, env); e.Code != hub.CodeInternal || env.Ref != "b1" {
		t.Fatalf("got %+v, want error internal ref b1", env)
	}
	c.send(hub.Envelope{Type: "ping", ID: "p2"})
	if pong := c.read(); pong.Type != "pong" || pong.Ref != "p2" {
		t.Fatalf("after a panic: got %+v, want pong ref p2", pong)
	}
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  hub.Config
		act  func(t *testing.T, th *testHub, c *client)
		want websocket.StatusCode
	}{
		{"message too big", hub.Config{ReadLimit: 1024}, func(t *testing.T, _ *testHub, c *client) {
			c.sendRaw(websocket.MessageText, []byte(`{"type":"ping","data":"`+strings.Repeat("x", 2048)+`"}`))
		}, websocket.StatusMessageTooBig},
		{"not JSON", hub.Config{}, func(t *testing.T, _ *testHub, c *client) {
			c.sendRaw(websocket.MessageText, []byte(`hello`))
		}, hub.StatusProtocolViolation},
		{"no type", hub.Config{}, func(t *testing.T, _ *testHub, c *client) {
			c.sendRaw(websocket.MessageText, []byte(`{"id":"1"}`))
		}, hub.StatusProtocolViolation},
		{"invalid UTF-8", hub.Config{}, func(t *testing.T, _ *testHub, c *client) {
			c.send(hub.Envelope{Type: "ping", ID: "ü€😀"}) // valid multi-byte UTF-8 is fine
			if pong := c.read(); pong.Type != "pong" || pong.Ref != "ü€😀" {
				t.Fatalf("got %+v, want pong ref ü€😀", pong)
			}
			c.sendRaw(websocket.MessageText, []byte("{\"type\":\"ping\",\"id\":\"\xff\xfe\"}"))
		}, websocket.StatusInvalidFramePayloadData},
		{"binary frame", hub.Config{}, func(t *testing.T, _ *testHub, c *client) {
			c.sendRaw(websocket.MessageBinary, []byte(`{"type":"ping"}`))
		}, hub.StatusProtocolViolation},
		{"rate limited", hub.Config{MessageRate: 1, MessageBurst: 5}, func(t *testing.T, _ *testHub, c *client) {
			for range 10 {
				c.sendRaw(websocket.MessageText, []byte(`{"type":"pong"}`))
			}
		}, hub.StatusRateLimited},
		{"replaced", hub.Config{}, func(t *testing.T, th *testHub, _ *client) {
			dial(t, th, "d1")
		}, hub.StatusReplaced},
		{"device closed", hub.Config{}, func(t *testing.T, th *testHub, _ *client) {
			if err := th.CloseDevice(bg(t), "d1", hub.StatusForbidden, "device deleted"); err != nil {
				t.Fatalf("CloseDevice: %v", err)
			}
		}, hub.StatusForbidden},
		{"session closed", hub.Config{}, func(t *testing.T, th *testHub, _ *client) {
			if err := th.CloseSession(bg(t), "s1", hub.StatusForbidden, "signed out"); err != nil {
				t.Fatalf("CloseSession: %v", err)
			}
		}, hub.StatusForbidden},
		{"shutdown", hub.Config{}, func(t *testing.T, th *testHub, _ *client) {
			go func() { _ = th.Shutdown(context.Background()) }()
		}, websocket.StatusServiceRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			tt.cfg.Registerer = reg
			th := newHub(t, tt.cfg)
			c, _ := dial(t, th, "d1", "X-Session", "s1")
			tt.act(t, th, c)
			if got := c.closeStatus(); got != tt.want {
				t.Fatalf("close code %d, want %d", got, tt.want)
			}
			// Revoked credentials (4003) are not coming back: clean; any other close
			// by the hub may be followed by a reconnect.
			if d := th.hook.waitDisconnect(t, "d1"); d.clean != (tt.want == hub.StatusForbidden) {
				t.Fatalf("a close by the hub with %d reported clean=%v", tt.want, d.clean)
			}
			if n := counter(t, reg, "securecam_hub_disconnects_total", "code", strconv.Itoa(int(tt.want))); n != 1 {
				t.Fatalf("disconnects_total{code=%d} = %v, want 1", tt.want, n)
			}
		})
	}
}

// counter returns the value of the counter name{label=value} in reg (label "": the
// counter name without labels).
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestSlowClientOverflowCloses4008(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{SendQueueSize: 4})
	c, _ := dial(t, th, "d1")
	// The client does not read: the socket buffers fill, then the queue overflows.
	big := hub.Envelope{Type: "blob", Data: json.RawMessage(`"` + strings.Repeat("x", 60<<10) + `"`)}
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = th.Send(bg(t), "d1", big)
	}
	if !errors.Is(err, hub.ErrQueueFull) {
		t.Fatalf("Send never overflowed: %v", err)
	}
	if got := c.closeStatus(); got != hub.StatusTooSlow {
		t.Fatalf("close code %d, want 4008", got)
	}
	th.hook.waitDisconnect(t, "d1")
}

// TestWriteTimeoutDropsStalledReader: a write that cannot finish within WriteTimeout
// (the peer stopped reading) drops the socket, long before the heartbeat would.
func TestWriteTimeoutDropsStalledReader(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{SendQueueSize: 1 << 20, SendQueueBytes: 1 << 30, WriteTimeout: 100 * time.Millisecond})
	dial(t, th, "d1")
	// The client does not read: the socket buffers fill and a write blocks. The queue
	// is large enough never to overflow first.
	big := hub.Envelope{Type: "blob", Data: json.RawMessage(`"` + strings.Repeat("x", 60<<10) + `"`)}
	for i := 0; i < 1000; i++ {
		if err := th.Send(bg(t), "d1", big); err != nil {
			break // the writer failed: the queue refuses
		}
	}
	if d := th.hook.waitDisconnect(t, "d1"); d.clean {
		t.Fatal("write timeout reported clean")
	}
}

func TestHeartbeatTimeoutDropsSilentConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Default heartbeats: a ping after 25 s of silence, dropped after 60 s, checked
		// every 12.5 s, on the bubble's fake clock.
		const timeout, tick = 60 * time.Second, 12500 * time.Millisecond
		th := newBubbleHub(t, hub.Config{})
		th.dir.link("d1", "d2")
		// d2 reads, so its client library answers pings: it stays.
		d2, _ := dial(t, th, "d2")
		d2.pump()
		// d1 never reads after hello: no pongs, so the hub drops it.
		dial(t, th, "d1")
		connected := time.Now()

		time.Sleep(timeout - time.Millisecond)
		synctest.Wait()
		if on, _ := th.Online(t.Context(), "d1"); !on {
			t.Fatalf("d1 dropped after %s, before the heartbeat timeout", time.Since(connected))
		}
		time.Sleep(tick + time.Millisecond)
		synctest.Wait()
		if on, _ := th.Online(t.Context(), "d1"); on {
			t.Fatalf("d1 still connected %s after its last activity", time.Since(connected))
		}
		if d := th.hook.waitDisconnect(t, "d1"); d.clean {
			t.Fatal("heartbeat timeout reported clean")
		}
		dev, status, _ := presenceOf(t, d2.until("presence"))
		for dev != "d1" || status != "offline" {
			dev, status, _ = presenceOf(t, d2.until("presence"))
		}

		// d2 keeps working across many timeouts' worth of pings.
		time.Sleep(10 * timeout)
		d2.send(hub.Envelope{Type: "ping", ID: "still"})
		if env := d2.until("pong"); env.Ref != "still" {
			t.Fatalf("pong ref %q", env.Ref)
		}
		if on, _ := th.Online(t.Context(), "d2"); !on {
			t.Fatal("d2, which answers pings, was dropped")
		}
	})
}

func TestSendLocal(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	c, _ := dial(t, th, "d1")
	for i := range 50 {
		if err := th.Send(bg(t), "d1", hub.Envelope{Type: "telemetry", From: "cam", Data: json.RawMessage(strconv.Itoa(i))}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for i := range 50 {
		env := c.read()
		if env.Type != "telemetry" || env.From != "cam" || string(env.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d: %+v %s", i, env, env.Data)
		}
	}
	if err := th.Send(bg(t), "nobody", hub.Envelope{Type: "x"}); !errors.Is(err, hub.ErrOffline) {
		t.Fatalf("Send to an unconnected device: %v, want ErrOffline", err)
	}
}

func TestOnConnectRunsAfterHello(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{
		OnConnect: func(ctx context.Context, c *hub.Client) {
			_ = c.Send(hub.Envelope{Type: "command", Data: json.RawMessage(`{"command_id":"c1"}`)})
		},
	})
	c, _ := dial(t, th, "d1") // dial checks hello is first
	if env := c.read(); env.Type != "command" {
		t.Fatalf("got %q after hello, want the command queued by OnConnect", env.Type)
	}
}

func TestShutdownRefusesNewConnectionsAndReportsNotReady(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	if err := th.Ready(bg(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	c, _ := dial(t, th, "d1")
	done := make(chan error, 1)
	go func() { done <- th.Shutdown(bg(t)) }()
	if got := c.closeStatus(); got != websocket.StatusServiceRestart {
		t.Fatalf("close code %d, want 1012", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := th.Ready(bg(t)); !errors.Is(err, hub.ErrShutdown) {
		t.Fatalf("Ready after Shutdown: %v", err)
	}
	_, resp, err := websocket.Dial(bg(t), th.url, &websocket.DialOptions{Subprotocols: []string{hub.Subprotocol}, HTTPHeader: deviceHeader("d2")})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v %v, want 503", err, resp)
	}
	th.dir.waitRecorded(t, "d1", false) // flushed before Shutdown returned
}

func TestPresenceWritesAreCoalesced(t *testing.T) {
	t.Parallel()
	// Nothing is flushed before Shutdown: every change of d1 lands in one write.
	th := newHub(t, hub.Config{PresenceFlushInterval: time.Hour})
	for range 3 {
		c, _ := dial(t, th, "d1")
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
		th.hook.waitDisconnect(t, "d1")
		th.hook.mu.Lock()
		th.hook.discs = nil
		th.hook.mu.Unlock()
	}
	if err := th.Shutdown(bg(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	th.dir.mu.Lock()
	defer th.dir.mu.Unlock()
	if len(th.dir.recorded) != 1 || th.dir.recorded[0].DeviceID != "d1" || th.dir.recorded[0].Online {
		t.Fatalf("recorded %+v, want one update: d1 offline", th.dir.recorded)
	}
}

// TestIdleConnectionsHaveOneGoroutine checks an idle socket costs its reader
// goroutine only: the writer is gone once the queue drained.
func TestIdleConnectionsHaveOneGoroutine(t *testing.T) {
	th := newHub(t, hub.Config{})
	const n = 20
	for i := range n {
		dial(t, th, "idle-"+strconv.Itoa(i))
	}
	waitCond(t, "idle connections without writers", func() bool {
		readers, writers := countGoroutines("hub.(*Hub).serveConn", "sendq.(*Queue).run")
		return readers == n && writers == 0
	})
}

// countGoroutines counts the goroutines whose stack contains each of the names.
func countGoroutines(names ...string) (int, int) {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	counts := make([]int, len(names))
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for i, name := range names {
			if strings.Contains(g, name) {
				counts[i]++
			}
		}
	}
	return counts[0], counts[1]
}

// panickyDir is a Directory whose first RecordPresence panics.
type panickyDir struct {
	*fakeDir
	calls atomic.Int32
}

func (d *panickyDir) RecordPresence(ctx context.Context, us []hub.PresenceUpdate) error {
	if d.calls.Add(1) == 1 {
		panic("directory bug")
	}
	return d.fakeDir.RecordPresence(ctx, us)
}

// panickyPresence is a Presence registry whose first Refresh panics.
type panickyPresence struct {
	hub.Presence
	refreshes atomic.Int32
}

func (p *panickyPresence) Refresh(ctx context.Context, node string, ids []string) error {
	if p.refreshes.Add(1) == 1 {
		panic("registry bug")
	}
	return p.Presence.Refresh(ctx, node, ids)
}

func TestBackgroundLoopsRestartAfterPanic(t *testing.T) {
	// The hub's defaults (Config.PresenceFlushInterval, PresenceRefreshInterval).
	const defaultFlush, defaultRefresh = time.Second, 10 * time.Second
	t.Run("presence_flush", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var logs lockedBuffer
			dir := &panickyDir{fakeDir: newFakeDir()}
			th := newBubbleHub(t, hub.Config{Directory: dir, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			dial(t, th, "d1")
			connected := time.Now()
			time.Sleep(defaultFlush) // the first flush panics
			synctest.Wait()
			if n := dir.calls.Load(); n != 1 {
				t.Fatalf("%d flushes, want the one that panicked", n)
			}
			// The loop is back after its backoff and writes the update the panic kept.
			time.Sleep(supervise.MinBackoff + defaultFlush)
			synctest.Wait()
			if u := dir.waitRecorded(t, "d1", true); !u.LastSeenAt.Equal(connected) {
				t.Fatalf("recorded %+v, want d1 online since %v", u, connected)
			}
			wantRestart(t, reg, &logs, "presence_flush")
		})
	})
	t.Run("presence", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var logs lockedBuffer
			pres := &panickyPresence{Presence: hub.NewMemoryPresence(0)}
			newBubbleHub(t, hub.Config{Presence: pres, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			time.Sleep(defaultRefresh) // the first refresh panics
			synctest.Wait()
			// Restarted after its backoff, the loop refreshes on its period again.
			time.Sleep(supervise.MinBackoff + 3*defaultRefresh)
			synctest.Wait()
			if n := pres.refreshes.Load(); n != 4 {
				t.Fatalf("%d refreshes, want the one that panicked and 3 after the restart", n)
			}
			wantRestart(t, reg, &logs, "presence")
		})
	})
}

// wantRestart checks that loop was restarted once, counted and logged loudly.
func wantRestart(t *testing.T, reg *prometheus.Registry, logs *lockedBuffer, loop string) {
	t.Helper()
	if n := counter(t, reg, "securecam_hub_loop_restarts_total", "loop", loop); n != 1 {
		t.Errorf("loop_restarts_total{loop=%q} = %v, want 1", loop, n)
	}
	if s := logs.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, "loop="+loop) || !strings.Contains(s, "goroutine") {
		t.Errorf("no error log with the loop and its stack:\n%s", s)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes (a logger's output).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
