package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"

	"github.com/securecam/securecam/signaling/wire"
)

// faultyBus is a bus endpoint whose publishes can go wrong the ways a Redis outage
// makes them: blind (nobody subscribed yet: 0 receivers) or lossy (a receiver was
// counted, but the message died with its connection), or down (publishes and
// broadcasts fail). resume says the bus came back.
type faultyBus struct {
	hub.Bus
	blind, lossy, down atomic.Bool
	mu                 sync.Mutex
	resumed            func(since time.Time)
}

func (b *faultyBus) Start(recv func(string, []byte), resumed func(since time.Time)) error {
	b.mu.Lock()
	b.resumed = resumed
	b.mu.Unlock()
	return b.Bus.Start(recv, resumed)
}

func (b *faultyBus) Publish(ctx context.Context, key string, msg []byte) (int, error) {
	switch {
	case b.down.Load():
		return 0, errBusDown
	case b.blind.Load():
		return 0, nil
	case b.lossy.Load():
		return 1, nil
	}
	return b.Bus.Publish(ctx, key, msg)
}

func (b *faultyBus) Broadcast(ctx context.Context, msg []byte) error {
	if b.down.Load() {
		return errBusDown
	}
	return b.Bus.Broadcast(ctx, msg)
}

var errBusDown = errors.New("faulty bus: down")

func (b *faultyBus) resume(since time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resumed(since)
}

// Camera on B, viewer on A. B has not resubscribed after a Redis restart, so A's
// publish reaches nobody: the command is acked pending, and still delivered by the
// re-dispatch that follows, although nobody reconnects.
func TestCommandToTargetNotYetResubscribedIsDeliveredAgain(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	busA := &faultyBus{Bus: net}
	cfg := func(c *signaling.Config) {
		c.RedispatchDelays = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	}
	a := startNode(t, st, nodeOptions{bus: busA, config: cfg})
	b := startNode(t, st, nodeOptions{bus: net.Peer(), config: cfg})
	f := newFamily(t, st)
	cam, view := dial(t, b, f.camera), dial(t, a, f.viewer)

	busA.blind.Store(true)
	ack := sendCommand(view, f.camera, "snapshot", map[string]any{})
	if ack.Status != store.CommandPending {
		t.Fatalf("ack %q, want pending: the publish reached nobody", ack.Status)
	}
	busA.blind.Store(false)
	if got := decode[wire.CommandMessage](t, cam.expect("command")); got.CommandID != ack.CommandID {
		t.Fatalf("camera got %s, want %s", got.CommandID, ack.CommandID)
	}
}

// A command published while the target's replica was losing its bus connection is
// lost in flight. When that replica's bus resumes, it delivers every command waiting
// for its sockets: re-dispatch timers are far away here, and nobody reconnects.
func TestBusResumeDeliversWaitingCommands(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	busA, busB := &faultyBus{Bus: net}, &faultyBus{Bus: net.Peer()}
	cfg := func(c *signaling.Config) { c.RedispatchDelays = []time.Duration{time.Hour} }
	a := startNode(t, st, nodeOptions{bus: busA, config: cfg})
	b := startNode(t, st, nodeOptions{bus: busB, config: cfg})
	f := newFamily(t, st)
	cam, view := dial(t, b, f.camera), dial(t, a, f.viewer)
	other := newFamily(t, st) // a device of B with nothing waiting
	dial(t, b, other.camera)

	heard := time.Now()
	busA.lossy.Store(true)
	ack := sendCommand(view, f.camera, "snapshot", map[string]any{})
	busA.lossy.Store(false)
	busB.resume(heard)
	if got := decode[wire.CommandMessage](t, cam.expect("command")); got.CommandID != ack.CommandID {
		t.Fatalf("camera got %s, want %s", got.CommandID, ack.CommandID)
	}
	cam.send("command.result", "", "", map[string]any{"command_id": ack.CommandID, "status": "acknowledged"})
	wantStatus(t, view, ack.CommandID, store.CommandAcknowledged)
}

// Viewer on A, camera on B. The camera answers while A has not resubscribed after a
// Redis restart: B's command.status reaches nobody. When A's bus resumes, A tells its
// viewer the statuses of its commands that changed since the bus was last heard, and
// only those.
func TestBusResumeTellsMissedStatuses(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock()
	cfg := func(c *signaling.Config) { c.Now = clock.Now }
	net := hub.NewMemoryBus()
	busA, busB := &faultyBus{Bus: net}, &faultyBus{Bus: net.Peer()}
	a := startNode(t, st, nodeOptions{bus: busA, config: cfg})
	b := startNode(t, st, nodeOptions{bus: busB, config: cfg})
	f := newFamily(t, st)
	cam, view := dial(t, b, f.camera), dial(t, a, f.viewer)

	early := sendCommand(view, f.camera, "snapshot", map[string]any{})
	cam.expect("command")
	cam.request("command.result", "", map[string]any{"command_id": early.CommandID, "status": "acknowledged"})
	wantStatus(t, view, early.CommandID, store.CommandAcknowledged)

	clock.Advance(10 * time.Second)
	heard := clock.Now().Add(-5 * time.Second) // after the early answer, beyond the clock-skew margin
	ack := sendCommand(view, f.camera, "torch", map[string]any{"on": true})
	if got := decode[wire.CommandMessage](t, cam.expect("command")); got.CommandID != ack.CommandID {
		t.Fatalf("camera got %s, want %s", got.CommandID, ack.CommandID)
	}
	busB.blind.Store(true)
	if env := cam.request("command.result", "", map[string]any{"command_id": ack.CommandID, "status": "failed", "error": "no torch"}); env.Type != "ack" {
		t.Fatalf("command.result answered %s %s", env.Type, env.Data)
	}
	busB.blind.Store(false)
	busA.resume(heard)
	got := decode[wire.CommandStatus](t, view.expect("command.status"))
	if got.CommandID != ack.CommandID || got.Status != store.CommandFailed || got.Error == nil || *got.Error != "no torch" {
		t.Fatalf("after the resume the viewer got %+v, want %s failed with its error (and not %s again)", got, ack.CommandID, early.CommandID)
	}
}

// Viewer on A, camera on B. A live-view request made while B had not resubscribed
// after a Redis restart reaches nobody: the camera looks offline and is woken. When
// B's bus resumes, its camera, connected all along, is handed the request.
func TestBusResumeHandsOverWaitingStreamRequests(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	busA, busB := &faultyBus{Bus: net}, &faultyBus{Bus: net.Peer()}
	waker := &recordingWaker{}
	cfg := func(c *signaling.Config) { c.Waker = waker }
	a := startNode(t, st, nodeOptions{bus: busA, config: cfg})
	b := startNode(t, st, nodeOptions{bus: busB, config: cfg})
	f := newFamily(t, st)
	withPushToken(t, st, f.camera)
	cam, view := dial(t, b, f.camera), dial(t, a, f.viewer)

	heard := time.Now()
	busA.blind.Store(true)
	sid := requestStream(t, view, f.camera).SessionID
	if got := decode[streamStatusMsg](t, view.expect("stream.status")).Status; got != store.StreamWaking {
		t.Fatalf("stream.status %s, want waking: the request reached nobody", got)
	}
	busA.blind.Store(false)
	busB.resume(heard)
	if req := cam.expect("stream.requested"); req.Session != sid {
		t.Fatalf("stream.requested for %s, want %s", req.Session, sid)
	}
	wantSession(t, st, sid, store.StreamRequested, "")
	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
}

// wantStatus waits for command.status of id with status, skipping others.
func wantStatus(t *testing.T, view *peer, id, status string) {
	t.Helper()
	for {
		s := decode[wire.CommandStatus](t, view.expect("command.status"))
		if s.CommandID == id && s.Status == status {
			return
		}
	}
}

// slowDispatchStore records a dispatch only after the target answered: the race a
// cluster loses when the command.result lands first.
type slowDispatchStore struct{ store.Store }

func (s slowDispatchStore) MarkCommandDispatched(ctx context.Context, id string, at time.Time) (store.Command, error) {
	s.awaitAnswer(ctx, id)
	return s.Store.MarkCommandDispatched(ctx, id, at)
}

func (s slowDispatchStore) MarkCommandsDispatched(ctx context.Context, ids []string, at time.Time) (map[string]store.Command, error) {
	for _, id := range ids {
		s.awaitAnswer(ctx, id)
	}
	return s.Store.MarkCommandsDispatched(ctx, ids, at)
}

// awaitAnswer waits (up to 10 s) until command id is no longer open.
func (s slowDispatchStore) awaitAnswer(ctx context.Context, id string) {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if c, err := s.Command(ctx, id); err != nil || (c.Status != store.CommandPending && c.Status != store.CommandDispatched) {
			return
		}
		<-tick.C
	}
}

// The ack of command.send tells the command's status as stored when it is sent: the
// camera's answer, when it came first; a failed command is failed, with its error,
// never acknowledged. (The camera is on another replica: a target on the sender's
// replica is stored dispatched by the insert, with no mark to wait for.)
func TestCommandAckTellsTheTrueStatus(t *testing.T) {
	st := storetest.NewSQLite(t)
	url, prefix := bustest.RedisURL(t), bustest.Prefix(t)
	a := startRedisReplica(t, slowDispatchStore{st}, url, prefix, nil)
	b := startRedisReplica(t, slowDispatchStore{st}, url, prefix, nil)
	f := newFamily(t, st)
	cam, view := dial(t, a, f.camera), dial(t, b, f.viewer)

	for _, result := range []map[string]any{
		{"status": "acknowledged"},
		{"status": "failed", "error": "unsupported"},
	} {
		id := "m-" + randomHex(t)
		view.send("command.send", id, "", map[string]any{"target_device_id": f.camera.ID, "command_type": "siren", "payload": map[string]any{"on": true}})
		cmd := decode[wire.CommandMessage](t, cam.expect("command"))
		result["command_id"] = cmd.CommandID
		if res := cam.request("command.result", "", result); res.Type != "ack" {
			t.Fatalf("command.result: %s", res.Data)
		}
		var ack hub.Envelope
		for ack.Ref != id {
			ack = view.next() // the command.status of the result may come first
		}
		got := decode[wire.CommandStatus](t, ack)
		if got.CommandID != cmd.CommandID || got.Status != result["status"] {
			t.Fatalf("ack %s, want status %s", ack.Data, result["status"])
		}
		if result["error"] != nil && (got.Error == nil || *got.Error != result["error"]) {
			t.Fatalf("ack of a failed command %s, want its error", ack.Data)
		}
	}
}

// downStore is a store whose database is down for commands.
type downStore struct{ store.Store }

func (downStore) CreateCommand(context.Context, *store.Command, time.Duration) (bool, error) {
	return false, fmt.Errorf("create command: %w", store.ErrUnavailable)
}

func (downStore) CreateLinkedCommands(context.Context, []*store.Command) ([]bool, error) {
	return nil, fmt.Errorf("create linked commands: %w", store.ErrUnavailable)
}

// A store outage is `unavailable` (retry), never `internal`; the socket stays open.
func TestStoreOutageAnswersUnavailable(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, downStore{st}, nodeOptions{})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)
	ans := view.request("command.send", "", map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot"})
	if code := errorCode(t, ans); code != wire.CodeUnavailable {
		t.Fatalf("command.send with the store down: %s, want unavailable", code)
	}
	if ans := view.request("ping", "", nil); ans.Type != "pong" {
		t.Fatalf("socket after the refusal: %s", ans.Type)
	}
}

// The camera_offline countdown is in the store: the replica that saw the drop stops
// before it is due, and another replica raises the alert.
func TestCameraOfflineSurvivesTheReplicaThatSawTheDrop(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	cfg := func(c *signaling.Config) { c.Events.CameraOfflineAfter = time.Second }
	a := startNode(t, st, nodeOptions{bus: net, config: cfg})
	b := startNode(t, st, nodeOptions{bus: net.Peer(), config: cfg})
	acct := newAccount(t, st)
	camera := acct.phone(t, store.RoleCamera, "android", "")
	viewer := acct.phone(t, store.RoleViewer, "android", "")
	acct.link(t, camera, viewer)
	view := dial(t, b, viewer)

	dial(t, a, camera).drop()
	a.stop() // before the alert is due
	env := view.expect("event")
	if ev := decode[wire.Event](t, env); ev.DeviceID != camera.ID || ev.TriggeredBy != store.TriggerCameraOffline {
		t.Fatalf("event %s, want camera_offline of the camera", env.Data)
	}
}
