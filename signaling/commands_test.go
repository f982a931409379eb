package signaling_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

type family struct {
	acct           *account
	camera, viewer store.Device
}

func newFamily(t *testing.T, st store.Store) family {
	acct := newAccount(t, st)
	f := family{acct: acct, camera: acct.device(t, store.RoleCamera), viewer: acct.device(t, store.RoleViewer)}
	acct.link(t, f.camera, f.viewer)
	return f
}

func sendCommand(p *peer, target store.Device, typ string, payload any) wire.CommandStatus {
	p.t.Helper()
	ans := p.request("command.send", "", map[string]any{"target_device_id": target.ID, "command_type": typ, "payload": payload})
	if ans.Type != "ack" {
		p.t.Fatalf("command.send refused: %s", ans.Data)
	}
	return decode[wire.CommandStatus](p.t, ans)
}

func TestCommandRoundTrip(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	ack := sendCommand(view, f.camera, "set_torch", map[string]bool{"on": true})
	if ack.Status != store.CommandDispatched {
		t.Errorf("ack status = %q, want dispatched (camera online)", ack.Status)
	}
	got := cam.expect("command")
	if got.From != f.viewer.ID {
		t.Errorf("command from = %q, want the viewer %q", got.From, f.viewer.ID)
	}
	cmd := decode[wire.CommandMessage](t, got)
	if cmd.CommandID != ack.CommandID || cmd.CommandType != "set_torch" || string(cmd.Payload) != `{"on":true}` || cmd.SourceDeviceID != f.viewer.ID {
		t.Errorf("command = %+v", cmd)
	}
	if d := cmd.ExpiresAt.Sub(cmd.CreatedAt); d != wire.DefaultTTL {
		t.Errorf("expires_at - created_at = %v, want the default TTL", d)
	}

	res := cam.request("command.result", "", map[string]any{"command_id": cmd.CommandID, "status": "acknowledged"})
	if res.Type != "ack" {
		t.Fatalf("command.result refused: %s", res.Data)
	}
	status := decode[wire.CommandStatus](t, view.expect("command.status"))
	if status.CommandID != cmd.CommandID || status.Status != store.CommandAcknowledged {
		t.Errorf("status = %+v, want acknowledged", status)
	}
	stored, err := st.Command(context.Background(), cmd.CommandID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != store.CommandAcknowledged || stored.AcknowledgedAt == nil {
		t.Errorf("stored = %+v", stored)
	}

	// A repeat of the same result changes nothing and is not an error.
	if again := cam.request("command.result", "", map[string]any{"command_id": cmd.CommandID, "status": "acknowledged"}); again.Type != "ack" {
		t.Errorf("repeated result: %s %s", again.Type, again.Data)
	}
	// A failure after the acknowledgement is refused.
	if code := errorCode(t, cam.request("command.result", "", map[string]any{"command_id": cmd.CommandID, "status": "failed", "error": "late"})); code != wire.CodeConflict {
		t.Errorf("late failure code = %q, want conflict", code)
	}
}

func TestCommandFailedCarriesError(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	ack := sendCommand(view, f.camera, "launch_rocket", nil)
	cmd := decode[wire.CommandMessage](t, cam.expect("command"))
	if string(cmd.Payload) != `{}` {
		t.Errorf("absent payload delivered as %s, want {}", cmd.Payload)
	}
	cam.send("command.result", "", "", map[string]any{"command_id": ack.CommandID, "status": "failed", "error": "unsupported"})
	status := decode[wire.CommandStatus](t, view.expect("command.status"))
	if status.Status != store.CommandFailed || status.Error == nil || *status.Error != "unsupported" {
		t.Errorf("status = %+v, want failed with unsupported", status)
	}
}

func TestCommandToOfflineTargetWaitsForConnect(t *testing.T) {
	st := storetest.NewSQLite(t)
	waker := &recordingWaker{}
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Waker = waker }})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)

	ack := sendCommand(view, f.camera, "snapshot", map[string]any{})
	if ack.Status != store.CommandPending {
		t.Errorf("ack status = %q, want pending (camera offline)", ack.Status)
	}
	if got := waker.calls(); len(got) != 1 || got[0] != f.camera.ID+" command" {
		t.Errorf("wake-ups = %q, want one for the camera", got)
	}

	cam := dial(t, n, f.camera)
	cmd := decode[wire.CommandMessage](t, cam.expect("command"))
	if cmd.CommandID != ack.CommandID {
		t.Fatalf("delivered %s, want %s", cmd.CommandID, ack.CommandID)
	}
	if s := decode[wire.CommandStatus](t, view.expect("command.status")); s.Status != store.CommandDispatched {
		t.Errorf("source told %q, want dispatched", s.Status)
	}
}

func TestUnansweredCommandIsDeliveredAgainOnReconnect(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)
	cam := dial(t, n, f.camera)

	ack := sendCommand(view, f.camera, "siren", map[string]any{"on": true, "seconds": 5})
	first := decode[wire.CommandMessage](t, cam.expect("command"))
	cam.drop() // the phone vanishes before answering

	cam = dial(t, n, f.camera)
	again := decode[wire.CommandMessage](t, cam.expect("command"))
	if again.CommandID != first.CommandID || first.CommandID != ack.CommandID {
		t.Fatalf("redelivered %s, want %s", again.CommandID, first.CommandID)
	}
	cam.send("command.result", "", "", map[string]any{"command_id": again.CommandID, "status": "acknowledged"})
	if s := decode[wire.CommandStatus](t, view.expect("command.status")); s.Status != store.CommandAcknowledged {
		t.Errorf("status %q, want acknowledged", s.Status)
	}

	// Acknowledged: the next connect delivers nothing; the first message after hello
	// is the pong to our ping.
	cam.drop()
	cam = dial(t, n, f.camera)
	if ans := cam.request("ping", "", map[string]any{}); ans.Type != "pong" {
		t.Errorf("after reconnect got %s, want only the pong", ans.Type)
	}
}

func TestSilentTargetGetsRedispatchesWithBackoff(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) {
		c.RedispatchDelays = []time.Duration{time.Millisecond, 2 * time.Millisecond}
	}})
	f := newFamily(t, st)
	view, cam := dial(t, n, f.viewer), dial(t, n, f.camera)

	ack := sendCommand(view, f.camera, "ping", nil)
	for i := range 3 { // the dispatch and two re-dispatches
		if cmd := decode[wire.CommandMessage](t, cam.expect("command")); cmd.CommandID != ack.CommandID {
			t.Fatalf("delivery %d is %s, want %s", i, cmd.CommandID, ack.CommandID)
		}
	}
	cam.send("command.result", "", "", map[string]any{"command_id": ack.CommandID, "status": "acknowledged"})
	view.expect("command.status")
	stored, err := st.Command(context.Background(), ack.CommandID)
	if err != nil {
		t.Fatal(err)
	}
	// The third delivery may be answered before it is recorded (then the record is
	// refused: the command is terminal), so retry_count is 2 or 3.
	if stored.RetryCount < 2 || stored.RetryCount > 3 || stored.LastDispatchedAt == nil {
		t.Errorf("retry_count = %d, last_dispatched_at = %v; want 2 or 3 and set", stored.RetryCount, stored.LastDispatchedAt)
	}
}

func TestRetriedSendReturnsTheFirstCommand(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)

	data := map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot"}
	view.send("command.send", "retry-1", "", data)
	first := view.next()
	view.send("command.send", "retry-1", "", data)
	second := view.next()
	if first.Type != "ack" || second.Type != "ack" {
		t.Fatalf("answers %s %s / %s %s", first.Type, first.Data, second.Type, second.Data)
	}
	a, b := decode[wire.CommandStatus](t, first), decode[wire.CommandStatus](t, second)
	if a.CommandID != b.CommandID {
		t.Errorf("retry created a second command: %s then %s", a.CommandID, b.CommandID)
	}
	items, _, err := st.ListCommands(context.Background(), f.acct.user.ID, store.CommandFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Errorf("%d commands stored, want 1", len(items))
	}
}

// A device's commands sent in a row are handled concurrently (their acks may come in
// any order) and keep their guarantees: each is stored once, a request repeated while
// the first is in progress returns the first command, and a ping sent after them is
// answered after every one of them.
func TestPipelinedCommandsFromOneSocket(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)

	data := map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot"}
	const distinct = 10
	for i := range distinct {
		view.send("command.send", fmt.Sprintf("pipe-%d", i), "", data)
	}
	view.send("command.send", "pipe-0", "", data) // a repeat of a request in progress
	view.send("ping", "after", "", nil)

	ids := map[string][]string{} // command ids by ref
	for range distinct + 1 {
		env := view.next()
		if env.Type != "ack" || !strings.HasPrefix(env.Ref, "pipe-") {
			t.Fatalf("got %s ref %q %s, want the ack of a command.send (before the pong)", env.Type, env.Ref, env.Data)
		}
		ids[env.Ref] = append(ids[env.Ref], decode[wire.CommandStatus](t, env).CommandID)
	}
	if pong := view.next(); pong.Type != "pong" || pong.Ref != "after" {
		t.Fatalf("got %s ref %q, want the pong after every ack", pong.Type, pong.Ref)
	}
	if len(ids) != distinct {
		t.Fatalf("acks for %d requests, want %d: %v", len(ids), distinct, ids)
	}
	if r := ids["pipe-0"]; len(r) != 2 || r[0] != r[1] {
		t.Errorf("the repeated request's acks name commands %v, want the first command twice", r)
	}
	items, _, err := st.ListCommands(context.Background(), f.acct.user.ID, store.CommandFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != distinct {
		t.Errorf("%d commands stored, want %d", len(items), distinct)
	}
}

func TestCommandExpires(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock()
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)

	ans := view.request("command.send", "", map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot", "ttl_seconds": 30})
	ack := decode[wire.CommandStatus](t, ans)
	clock.Advance(31 * time.Second)
	s := decode[wire.CommandStatus](t, view.expect("command.status"))
	if s.CommandID != ack.CommandID || s.Status != store.CommandExpired {
		t.Errorf("status = %+v, want expired", s)
	}
	// The expired command is not delivered when the camera connects.
	cam := dial(t, n, f.camera)
	if ans := cam.request("ping", "", nil); ans.Type != "pong" {
		t.Errorf("camera got %s, want nothing but the pong", ans.Type)
	}
}

func TestCommandSendRefusals(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	unlinked := f.acct.device(t, store.RoleCamera)
	other := newFamily(t, st)
	view := dial(t, n, f.viewer)

	tests := []struct {
		name string
		data any
		want string
	}{
		{"not linked", map[string]any{"target_device_id": unlinked.ID, "command_type": "snapshot"}, wire.CodeNotLinked},
		{"another user's device", map[string]any{"target_device_id": other.camera.ID, "command_type": "snapshot"}, wire.CodeNotFound},
		{"itself", map[string]any{"target_device_id": f.viewer.ID, "command_type": "snapshot"}, wire.CodeBadRequest},
		{"bad target id", map[string]any{"target_device_id": "cam-1", "command_type": "snapshot"}, wire.CodeBadRequest},
		{"bad command type", map[string]any{"target_device_id": f.camera.ID, "command_type": "Snap Shot"}, wire.CodeBadRequest},
		{"wrong type of field", map[string]any{"target_device_id": f.camera.ID, "command_type": 7}, wire.CodeBadRequest},
		{"payload not an object", map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot", "payload": []int{1}}, wire.CodeBadRequest},
		{"standard payload invalid", map[string]any{"target_device_id": f.camera.ID, "command_type": "set_motion", "payload": map[string]any{"enabled": true, "sensitivity": 2}}, wire.CodeBadRequest},
		{"torch without on", map[string]any{"target_device_id": f.camera.ID, "command_type": "set_torch", "payload": map[string]any{}}, wire.CodeBadRequest},
		{"ttl too long", map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot", "ttl_seconds": 86401}, wire.CodeBadRequest},
		{"payload too large", map[string]any{"target_device_id": f.camera.ID, "command_type": "custom.big", "payload": map[string]string{"x": string(make([]byte, 9000))}}, wire.CodeBadRequest},
		{"data not an object", "snapshot", wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := errorCode(t, view.request("command.send", "", tt.data)); code != tt.want {
				t.Errorf("code = %q, want %q", code, tt.want)
			}
		})
	}

	t.Run("no id", func(t *testing.T) {
		view.send("command.send", "", "", map[string]any{"target_device_id": f.camera.ID, "command_type": "snapshot"})
		if code := errorCode(t, view.next()); code != wire.CodeBadRequest {
			t.Errorf("code = %q, want bad_request", code)
		}
	})
	items, _, err := st.ListCommands(context.Background(), f.acct.user.ID, store.CommandFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Errorf("refused sends stored %d commands", len(items))
	}
}

func TestCommandResultRefusals(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	second := f.acct.device(t, store.RoleCamera)
	f.acct.link(t, second, f.viewer)
	view, cam, cam2 := dial(t, n, f.viewer), dial(t, n, f.camera), dial(t, n, second)

	ack := sendCommand(view, f.camera, "snapshot", nil)
	cam.expect("command")
	tests := []struct {
		name string
		from *peer
		data any
		want string
	}{
		{"another device answers", cam2, map[string]any{"command_id": ack.CommandID, "status": "acknowledged"}, wire.CodeNotFound},
		{"unknown command", cam, map[string]any{"command_id": "0190a4e2-0000-7000-8000-000000000000", "status": "acknowledged"}, wire.CodeNotFound},
		{"bad status", cam, map[string]any{"command_id": ack.CommandID, "status": "done"}, wire.CodeBadRequest},
		{"bad id", cam, map[string]any{"command_id": "x", "status": "failed"}, wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := errorCode(t, tt.from.request("command.result", "", tt.data)); code != tt.want {
				t.Errorf("code = %q, want %q", code, tt.want)
			}
		})
	}
	if c, err := st.Command(context.Background(), ack.CommandID); err != nil || c.Status != store.CommandDispatched {
		t.Errorf("command after refusals: %+v, %v; want still dispatched", c, err)
	}
}

type recordingWaker struct {
	mu  sync.Mutex
	got []string
}

func (w *recordingWaker) Wake(_ context.Context, deviceID, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, deviceID+" "+reason)
	return nil
}

func (w *recordingWaker) calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

// On PostgreSQL with several batches of a kind written at once, commands that several
// sockets send in a row keep their guarantees: each is stored once and acked with its
// id, a request repeated while the first is in progress returns the first command,
// a ping sent after them is answered after all of them, and every answer is recorded.
func TestPipelinedBatchesOnPostgres(t *testing.T) {
	st := storetest.NewPostgres(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.CommandBatches = 4 }})
	const families, distinct = 4, 30
	type pair struct {
		f         family
		cam, view *peer
	}
	pairs := make([]pair, families)
	for i := range pairs {
		f := newFamily(t, st)
		pairs[i] = pair{f: f, cam: dial(t, n, f.camera), view: dial(t, n, f.viewer)}
	}
	for j := range distinct {
		for _, p := range pairs {
			p.view.send("command.send", fmt.Sprintf("pg-%d", j), "", map[string]any{"target_device_id": p.f.camera.ID, "command_type": "snapshot"})
		}
	}
	for _, p := range pairs {
		p.view.send("command.send", "pg-0", "", map[string]any{"target_device_id": p.f.camera.ID, "command_type": "snapshot"})
		p.view.send("ping", "after", "", nil)
	}
	// answersUntilPong collects a peer's acks by ref until the pong of "after".
	answersUntilPong := func(p *peer) map[string][]string {
		ids := map[string][]string{}
		for {
			env := p.next()
			switch {
			case env.Type == "pong" && env.Ref == "after":
				return ids
			case env.Type == "ack":
				ids[env.Ref] = append(ids[env.Ref], decode[wire.CommandStatus](t, env).CommandID)
			case env.Type != "command.status" && env.Type != "command":
				t.Fatalf("got %s ref %q %s, want an ack or the pong", env.Type, env.Ref, env.Data)
			}
		}
	}
	for i, p := range pairs {
		ids := answersUntilPong(p.view)
		if len(ids) != distinct {
			t.Fatalf("family %d: acks for %d requests before the pong, want %d", i, len(ids), distinct)
		}
		if r := ids["pg-0"]; len(r) != 2 || r[0] != r[1] {
			t.Errorf("family %d: the repeated request's acks name commands %v, want the first command twice", i, r)
		}
	}
	for i, p := range pairs {
		for range distinct {
			cmd := decode[wire.CommandMessage](t, p.cam.expect("command"))
			p.cam.send("command.result", "res-"+cmd.CommandID, "", map[string]any{"command_id": cmd.CommandID, "status": "acknowledged"})
		}
		p.cam.send("ping", "after", "", nil)
		if acks := answersUntilPong(p.cam); len(acks) != distinct {
			t.Fatalf("family %d: %d answers acked before the pong, want %d", i, len(acks), distinct)
		}
	}
	for i, p := range pairs {
		items, _, err := st.ListCommands(t.Context(), p.f.acct.user.ID, store.CommandFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != distinct {
			t.Errorf("family %d: %d commands stored, want %d", i, len(items), distinct)
		}
		for _, c := range items {
			if c.Status != store.CommandAcknowledged {
				t.Errorf("family %d: command %s is %s after its answer was acked, want acknowledged", i, c.ID, c.Status)
			}
		}
	}
}

// markCounter counts the writes that mark commands dispatched after their insert.
type markCounter struct {
	signaling.Store
	marks atomic.Int32
}

func (m *markCounter) MarkCommandDispatched(ctx context.Context, id string, at time.Time) (store.Command, error) {
	m.marks.Add(1)
	return m.Store.MarkCommandDispatched(ctx, id, at)
}

func (m *markCounter) MarkCommandsDispatched(ctx context.Context, ids []string, at time.Time) (map[string]store.Command, error) {
	m.marks.Add(1)
	return m.Store.MarkCommandsDispatched(ctx, ids, at)
}

// A command to a target connected to the same replica is stored dispatched by its
// insert, with no write of its own for the mark. (Its re-dispatches:
// TestSilentTargetGetsRedispatchesWithBackoff.)
func TestCommandToATargetHereIsStoredDispatched(t *testing.T) {
	st := storetest.NewSQLite(t)
	counter := &markCounter{}
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) {
		counter.Store = c.Store
		c.Store = counter
		c.RedispatchDelays = []time.Duration{time.Hour} // none during the test
	}})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	ack := sendCommand(view, f.camera, "ping", nil)
	if ack.Status != store.CommandDispatched {
		t.Errorf("ack status = %q, want dispatched", ack.Status)
	}
	if got := decode[wire.CommandMessage](t, cam.expect("command")); got.CommandID != ack.CommandID {
		t.Fatalf("delivered %s, want %s", got.CommandID, ack.CommandID)
	}
	if m := counter.marks.Load(); m != 0 {
		t.Errorf("%d mark writes before the re-dispatch, want none", m)
	}
	stored, err := st.Command(t.Context(), ack.CommandID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != store.CommandDispatched || stored.RetryCount != 1 || stored.LastDispatchedAt == nil {
		t.Errorf("stored %+v, want dispatched once", stored)
	}
}
