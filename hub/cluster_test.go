package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/hub/redisbus"
)

// cluster is a set of hubs sharing one Redis prefix and one Directory.
type cluster struct {
	t      *testing.T
	url    string
	prefix string
	dir    *fakeDir
}

func newCluster(t *testing.T, url string) *cluster {
	return &cluster{t: t, url: url, prefix: bustest.Prefix(t), dir: newFakeDir()}
}

const (
	testPresenceTTL     = 600 * time.Millisecond
	testPresenceRefresh = 100 * time.Millisecond
)

// hub starts a replica; wrap, if not nil, wraps its presence registry.
func (cl *cluster) hub(node string, wrap func(hub.Presence) hub.Presence) *testHub {
	t := cl.t
	rdb := bustest.Client(t, cl.url, cl.prefix)
	var pres hub.Presence = redisbus.NewPresence(rdb, redisbus.PresenceConfig{Prefix: cl.prefix, TTL: testPresenceTTL})
	if wrap != nil {
		pres = wrap(pres)
	}
	th := newHub(t, hub.Config{
		NodeID:                  node,
		Directory:               cl.dir,
		Bus:                     redisbus.New(rdb, redisbus.Config{Prefix: cl.prefix, PingInterval: 100 * time.Millisecond}),
		Presence:                pres,
		PresenceRefreshInterval: testPresenceRefresh,
	})
	th.dir = cl.dir
	waitReady(t, th.Hub)
	return th
}

func waitReady(t *testing.T, h *hub.Hub) {
	t.Helper()
	waitCond(t, "hub ready", func() bool { return h.Ready(bg(t)) == nil })
}

// waitCond polls cond until it holds (state in another process: Redis).
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestClusterSendKeepsOrderAndReportsOffline(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	cam, _ := dial(t, b, "cam")
	viewer, _ := dial(t, a, "viewer")
	const n = 200
	for i := range n {
		if err := a.Send(bg(t), "cam", hub.Envelope{Type: "telemetry", From: "viewer", Data: json.RawMessage(strconv.Itoa(i))}); err != nil {
			t.Fatalf("Send #%d across hubs: %v", i, err)
		}
	}
	for i := range n {
		env := cam.read()
		if env.Type != "telemetry" || env.From != "viewer" || string(env.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d: %+v %s", i, env, env.Data)
		}
	}
	if err := b.Send(bg(t), "viewer", hub.Envelope{Type: "telemetry"}); err != nil {
		t.Fatalf("Send back: %v", err)
	}
	if env := viewer.read(); env.Type != "telemetry" {
		t.Fatalf("viewer got %q", env.Type)
	}
	if err := a.Send(bg(t), "nobody", hub.Envelope{Type: "x"}); !errors.Is(err, hub.ErrOffline) {
		t.Fatalf("Send to an unconnected device: %v, want ErrOffline", err)
	}
	for _, h := range []*testHub{a, b} {
		if on, err := h.Online(bg(t), "cam"); err != nil || !on {
			t.Fatalf("Online(cam) on %s = %v, %v", h.NodeID(), on, err)
		}
	}
}

func TestClusterNewerConnectionReplacesOlderOnOtherHub(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	cl.dir.link("cam", "viewer")
	viewer, _ := dial(t, b, "viewer")
	viewer.pump()
	old, _ := dial(t, a, "cam")
	newer, _ := dial(t, b, "cam")
	if got := old.closeStatus(); got != hub.StatusReplaced {
		t.Fatalf("older connection closed with %d, want 4001", got)
	}
	if d := a.hook.waitDisconnect(t, "cam"); d.clean {
		t.Fatal("replacement reported clean")
	}
	newer.send(hub.Envelope{Type: "ping", ID: "p"})
	if env := newer.until("pong"); env.Ref != "p" {
		t.Fatalf("pong ref %q", env.Ref)
	}
	// The replaced connection's end is not an offline transition.
	for _, h := range []*testHub{a, b} {
		if on, err := h.Online(bg(t), "cam"); err != nil || !on {
			t.Fatalf("Online(cam) on %s = %v, %v", h.NodeID(), on, err)
		}
	}
	if err := a.Send(bg(t), "cam", hub.Envelope{Type: "x"}); err != nil {
		t.Fatalf("Send to the device on its new hub: %v", err)
	}
	newer.until("x")
	for {
		env := viewer.until("presence")
		if dev, status, _ := presenceOf(t, env); dev == "cam" && status == "offline" {
			t.Fatal("viewer told cam went offline while it was replaced")
		} else if dev == "cam" && status == "online" {
			break
		}
	}
}

func TestClusterCloseSessionAndDevice(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	d1, _ := dial(t, b, "d1", "X-Session", "s1")
	d2, _ := dial(t, b, "d2", "X-Session", "s2")
	d3, _ := dial(t, a, "d3", "X-Session", "s1")
	if err := a.CloseSession(bg(t), "s1", hub.StatusForbidden, "signed out"); err != nil {
		t.Fatalf("CloseSession: %v", err)
	}
	for name, c := range map[string]*client{"d1 on the other hub": d1, "d3 on this hub": d3} {
		if got := c.closeStatus(); got != hub.StatusForbidden {
			t.Fatalf("%s closed with %d, want 4003", name, got)
		}
	}
	d2.send(hub.Envelope{Type: "ping", ID: "p"})
	if env := d2.read(); env.Type != "pong" {
		t.Fatalf("d2 of another session got %q, want pong", env.Type)
	}
	if err := a.CloseDevice(bg(t), "d2", hub.StatusForbidden, "device deleted"); err != nil {
		t.Fatalf("CloseDevice: %v", err)
	}
	if got := d2.closeStatus(); got != hub.StatusForbidden {
		t.Fatalf("d2 closed with %d, want 4003", got)
	}
	if err := a.CloseDevice(bg(t), "nobody", hub.StatusForbidden, "x"); err != nil {
		t.Fatalf("CloseDevice of an unconnected device: %v", err)
	}
}

func TestClusterCloseUserSessions(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	s1, _ := dial(t, b, "d1", "X-User", "u1", "X-Session", "s1")
	s2, _ := dial(t, a, "d2", "X-User", "u1", "X-Session", "s2")
	byToken, _ := dial(t, b, "d3", "X-User", "u1")
	other, _ := dial(t, b, "d4", "X-User", "u2", "X-Session", "s4")
	if err := a.CloseUserSessions(bg(t), "u1", hub.StatusForbidden, "password reset"); err != nil {
		t.Fatalf("CloseUserSessions: %v", err)
	}
	for name, c := range map[string]*client{"session on the other hub": s1, "session on this hub": s2} {
		if got := c.closeStatus(); got != hub.StatusForbidden {
			t.Fatalf("%s closed with %d, want 4003", name, got)
		}
	}
	for name, c := range map[string]*client{"device-token socket": byToken, "another user's socket": other} {
		c.send(hub.Envelope{Type: "ping", ID: "p"})
		if env := c.read(); env.Type != "pong" {
			t.Fatalf("%s got %q, want pong (still open)", name, env.Type)
		}
	}
}

// SendUser reaches the user's sockets on every replica, the one it was called on
// included, but not the excepted device's nor another user's.
func TestClusterSendUser(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	there, _ := dial(t, b, "d1", "X-User", "u1")
	here, _ := dial(t, a, "d2", "X-User", "u1", "X-Session", "s2")
	excepted, _ := dial(t, b, "d3", "X-User", "u1")
	other, _ := dial(t, b, "d4", "X-User", "u2")
	if err := a.SendUser(bg(t), "u1", "d3", hub.Envelope{Type: "device", Data: json.RawMessage(`{"change":"created"}`)}); err != nil {
		t.Fatalf("SendUser: %v", err)
	}
	for name, c := range map[string]*client{"socket on the other hub": there, "socket on this hub": here} {
		if env := c.read(); env.Type != "device" || string(env.Data) != `{"change":"created"}` {
			t.Fatalf("%s got %q %s, want the device message", name, env.Type, env.Data)
		}
	}
	// node-b queued the message for all its sockets at once, before d1 read it: a
	// socket that got it would read it before the pong.
	for name, c := range map[string]*client{"excepted device": excepted, "another user's socket": other} {
		c.send(hub.Envelope{Type: "ping", ID: "p"})
		if env := c.read(); env.Type != "pong" {
			t.Fatalf("%s got %q, want pong (no device message)", name, env.Type)
		}
	}
}

func TestClusterPresenceAcrossHubs(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	cl.dir.link("cam", "viewer")
	viewer, _ := dial(t, a, "viewer")
	cam, hello := dial(t, b, "cam")
	var h struct {
		Presence []struct{ DeviceID, Status string } `json:"presence"`
	}
	_ = json.Unmarshal(hello.Data, &h)
	if len(h.Presence) != 1 || h.Presence[0].Status != "online" {
		t.Fatalf("cam's hello on node-b does not show the viewer on node-a online: %s", hello.Data)
	}
	if dev, status, _ := presenceOf(t, viewer.until("presence")); dev != "cam" || status != "online" {
		t.Fatalf("viewer got %s %s, want cam online", dev, status)
	}
	_ = cam.conn.Close(websocket.StatusGoingAway, "")
	if dev, status, _ := presenceOf(t, viewer.until("presence")); dev != "cam" || status != "offline" {
		t.Fatalf("viewer got %s %s, want cam offline", dev, status)
	}
	if d := b.hook.waitDisconnect(t, "cam"); !d.clean {
		t.Fatal("1001 from the client is a clean close")
	}
}

func TestClusterRedisRestart(t *testing.T) {
	t.Parallel()
	url, stop, restart := bustest.StartRedis(t)
	cl := newCluster(t, url)
	a, b := cl.hub("node-a", nil), cl.hub("node-b", nil)
	cam, _ := dial(t, b, "cam")
	cam.pump()

	stop()
	for _, h := range []*testHub{a, b} {
		waitCond(t, h.NodeID()+" not ready while Redis is down", func() bool { return h.Ready(bg(t)) != nil })
	}
	if err := a.Send(bg(t), "cam", hub.Envelope{Type: "x"}); err == nil || errors.Is(err, hub.ErrOffline) {
		t.Fatalf("Send while Redis is down: %v, want a bus error", err)
	}
	// The local path needs no Redis.
	if err := b.Send(bg(t), "cam", hub.Envelope{Type: "local"}); err != nil {
		t.Fatalf("local Send while Redis is down: %v", err)
	}
	if env := cam.until("local"); env.Type != "local" {
		t.Fatal("unreachable")
	}

	restart()
	for _, h := range []*testHub{a, b} {
		waitReady(t, h.Hub)
	}
	// Same hubs: node-b resubscribed cam's channel and re-registered its presence.
	waitCond(t, "routing across hubs after the restart", func() bool {
		return a.Send(bg(t), "cam", hub.Envelope{Type: "after"}) == nil
	})
	if env := cam.until("after"); env.Type != "after" {
		t.Fatal("unreachable")
	}
	waitCond(t, "presence recreated after the restart", func() bool {
		on, err := a.Online(bg(t), "cam")
		return err == nil && on
	})
}

// freezable stops talking to the registry when frozen, as a crashed replica would.
type freezable struct {
	hub.Presence
	frozen atomic.Bool
}

func (f *freezable) Add(ctx context.Context, dev, node string) error {
	if f.frozen.Load() {
		return nil
	}
	return f.Presence.Add(ctx, dev, node)
}

func (f *freezable) Remove(ctx context.Context, dev, node string) (bool, error) {
	if f.frozen.Load() {
		return false, nil
	}
	return f.Presence.Remove(ctx, dev, node)
}

func (f *freezable) Refresh(ctx context.Context, node string, ids []string) error {
	if f.frozen.Load() {
		return nil
	}
	return f.Presence.Refresh(ctx, node, ids)
}

func (f *freezable) Sweep(ctx context.Context, node string) ([]hub.Expired, error) {
	if f.frozen.Load() {
		return nil, nil
	}
	return f.Presence.Sweep(ctx, node)
}

func TestClusterSweepsPresenceOfCrashedHub(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	a := cl.hub("node-a", nil)
	var crashed *freezable
	b := cl.hub("node-b", func(p hub.Presence) hub.Presence {
		crashed = &freezable{Presence: p}
		return crashed
	})
	cl.dir.link("cam", "viewer")
	viewer, _ := dial(t, a, "viewer")
	viewer.pump()
	cam, _ := dial(t, b, "cam")
	if dev, status, _ := presenceOf(t, viewer.until("presence")); dev != "cam" || status != "online" {
		t.Fatalf("viewer got %s %s, want cam online", dev, status)
	}

	// node-b "crashes": it stops refreshing and cleaning up its presence.
	crashed.frozen.Store(true)
	start := time.Now()
	_ = cam.conn.CloseNow()
	for {
		dev, status, last := presenceOf(t, viewer.until("presence"))
		if dev != "cam" {
			continue
		}
		if status != "offline" || last == nil {
			t.Fatalf("viewer got cam %s (last_seen_at %v), want offline", status, last)
		}
		break
	}
	// Expiry after the TTL, a sweep within a refresh, a lease held by node-b lapsing.
	if limit := 2*testPresenceTTL + 3*testPresenceRefresh + time.Second; time.Since(start) > limit {
		t.Fatalf("offline announced after %s, want within %s", time.Since(start), limit)
	}
	if u := cl.dir.waitRecorded(t, "cam", false); u.LastSeenAt.IsZero() || u.LastSeenAt.After(time.Now()) {
		t.Fatalf("recorded last_seen_at %v", u.LastSeenAt)
	}
	if on, err := a.Online(bg(t), "cam"); err != nil || on {
		t.Fatalf("Online(cam) after sweep = %v, %v", on, err)
	}
}

// A node message reaches the handler of every other replica once, with its data, and
// not the sender's own.
func TestClusterBroadcastNode(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, bustest.RedisURL(t))
	hubs := []*testHub{cl.hub("node-a", nil), cl.hub("node-b", nil), cl.hub("node-c", nil)}
	got := make([]chan string, len(hubs))
	for i, h := range hubs {
		got[i] = make(chan string, 4)
		h.HandleNode("test.note", func(_ context.Context, data []byte) { got[i] <- string(data) })
	}
	next := func(i int) string {
		t.Helper()
		select {
		case s := <-got[i]:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("replica %d got no node message", i)
			return ""
		}
	}
	if err := hubs[0].BroadcastNode(bg(t), "test.note", json.RawMessage(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2} {
		if s := next(i); s != `{"n":1}` {
			t.Fatalf("replica %d got %s", i, s)
		}
	}
	// The sender's own would have come in before this one (one Redis, in order).
	if err := hubs[1].BroadcastNode(bg(t), "test.note", json.RawMessage(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	if s := next(0); s != `{"n":2}` {
		t.Fatalf("the sender got %s, want only the other's message", s)
	}
	if s := next(2); s != `{"n":2}` {
		t.Fatalf("replica 2 got %s", s)
	}
}
