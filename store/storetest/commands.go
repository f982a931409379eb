package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// fixture is a user with a camera and a viewer.
type fixture struct {
	user        store.User
	cam, viewer store.Device
}

func mkFixture(t *testing.T, s store.Store) fixture {
	u := mkUser(t, s)
	return fixture{user: u, cam: mkDevice(t, s, u.ID, store.RoleCamera), viewer: mkDevice(t, s, u.ID, store.RoleViewer)}
}

func testCommands(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	exp := time.Now().Add(2 * time.Minute)
	c := store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID,
		CommandType: "set_torch", Payload: json.RawMessage(`{"on": true}`), RequestID: strp("m-1"), ExpiresAt: exp,
		Status: "bogus", RetryCount: 7}
	created, err := s.CreateCommand(ctx, &c, time.Hour)
	noErr(t, "CreateCommand", err)
	if !created {
		t.Fatal("created = false for a new command")
	}
	checkV7(t, c.ID)
	if c.Status != store.CommandPending || c.RetryCount != 0 {
		t.Errorf("new command status %q retry %d, want pending 0", c.Status, c.RetryCount)
	}
	checkTime(t, "ExpiresAt", c.ExpiresAt, exp.UTC().Truncate(time.Microsecond))
	checkRecent(t, "CreatedAt", c.CreatedAt)

	got, err := s.Command(ctx, c.ID)
	noErr(t, "Command", err)
	if got.OwnerUserID != f.user.ID || got.SourceDeviceID != f.viewer.ID || got.TargetDeviceID != f.cam.ID ||
		got.CommandType != "set_torch" || !jsonEqual(got.Payload, c.Payload) || got.Status != store.CommandPending ||
		got.RequestID == nil || *got.RequestID != "m-1" || got.LastDispatchedAt != nil || got.AcknowledgedAt != nil || got.Error != nil {
		t.Errorf("Command = %+v, want %+v", got, c)
	}
	checkTime(t, "read ExpiresAt", got.ExpiresAt, c.ExpiresAt)
	checkTime(t, "read CreatedAt", got.CreatedAt, c.CreatedAt)

	// No payload stores an empty object.
	bare := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Minute)
	got, err = s.Command(ctx, bare.ID)
	noErr(t, "Command bare", err)
	if !jsonEqual(got.Payload, json.RawMessage(`{}`)) {
		t.Errorf("payload of a command created without one = %s, want {}", got.Payload)
	}

	other := mkFixture(t, s)
	for name, cmd := range map[string]store.Command{
		"source of another user": {OwnerUserID: f.user.ID, SourceDeviceID: other.viewer.ID, TargetDeviceID: f.cam.ID},
		"target of another user": {OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: other.cam.ID},
		"missing target":         {OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: missing},
		"missing owner":          {OwnerUserID: missing, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID},
		"with request id":        {OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: missing, RequestID: strp("m-x")},
	} {
		cmd.CommandType, cmd.ExpiresAt = "ping", exp
		_, err := s.CreateCommand(ctx, &cmd, time.Hour)
		wantErr(t, name, err, store.ErrNotFound)
	}
	if _, err := s.CreateCommand(ctx, &store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID,
		TargetDeviceID: f.cam.ID, CommandType: "ping"}, time.Hour); err == nil {
		t.Error("CreateCommand without ExpiresAt succeeded")
	}
	if _, err := s.CreateCommand(ctx, &store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID,
		TargetDeviceID: f.cam.ID, CommandType: "ping", ExpiresAt: exp, Payload: json.RawMessage(`{bad`)}, time.Hour); err == nil {
		t.Error("CreateCommand with invalid JSON payload succeeded")
	}
	wantErr(t, "Command missing", second(s.Command(ctx, missing)), store.ErrNotFound)

	// Lists: the owner's commands, filtered by device (either side) and status.
	back := mkCommand(t, s, f.user.ID, f.cam.ID, f.viewer.ID, time.Minute) // camera → viewer
	v2 := mkDevice(t, s, f.user.ID, store.RoleViewer)
	third := mkCommand(t, s, f.user.ID, v2.ID, f.cam.ID, time.Minute)
	mkCommand(t, s, other.user.ID, other.viewer.ID, other.cam.ID, time.Minute)
	if _, err := s.MarkCommandDispatched(ctx, back.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		f    store.CommandFilter
		want []string
	}{
		{"all", store.CommandFilter{}, []string{third.ID, back.ID, bare.ID, c.ID}},
		{"device either side", store.CommandFilter{DeviceID: f.viewer.ID}, []string{back.ID, bare.ID, c.ID}},
		{"device as target", store.CommandFilter{DeviceID: v2.ID}, []string{third.ID}},
		{"status", store.CommandFilter{Status: store.CommandDispatched}, []string{back.ID}},
		{"device and status", store.CommandFilter{DeviceID: f.cam.ID, Status: store.CommandPending}, []string{third.ID, bare.ID, c.ID}},
		{"another user's device", store.CommandFilter{DeviceID: other.cam.ID}, []string{}},
		{"device not a uuid", store.CommandFilter{DeviceID: "nope"}, []string{}},
	} {
		list, next, err := s.ListCommands(ctx, f.user.ID, tt.f, store.Page{})
		noErr(t, "ListCommands "+tt.name, err)
		if !slices.Equal(commandIDs(list), tt.want) || next != "" {
			t.Errorf("ListCommands %s = %v (next %q), want %v", tt.name, commandIDs(list), next, tt.want)
		}
	}

	// Deliverable: the target's pending or dispatched, unexpired commands, oldest first.
	now := time.Now()
	soon := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Second)
	done := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Minute)
	if _, err := s.CompleteCommand(ctx, done.ID, f.cam.ID, store.CommandAcknowledged, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkCommandDispatched(ctx, bare.ID, now); err != nil {
		t.Fatal(err)
	}
	list, err := s.DeliverableCommands(ctx, f.cam.ID, now)
	noErr(t, "DeliverableCommands", err)
	if want := []string{c.ID, bare.ID, third.ID, soon.ID}; !slices.Equal(commandIDs(list), want) {
		t.Errorf("DeliverableCommands = %v, want %v", commandIDs(list), want)
	}
	list, err = s.DeliverableCommands(ctx, f.cam.ID, soon.ExpiresAt)
	noErr(t, "DeliverableCommands at expiry", err)
	if slices.Contains(commandIDs(list), soon.ID) {
		t.Error("DeliverableCommands includes a command at its expiry")
	}
	if list, err := s.DeliverableCommands(ctx, missing, now); err != nil || len(list) != 0 {
		t.Errorf("DeliverableCommands(missing) = %v, %v", list, err)
	}
}

func testCommandDedupe(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	base := time.Now().Add(-3 * time.Hour)
	cmd := func(req string, at time.Time) store.Command {
		return store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID,
			CommandType: "siren", Payload: json.RawMessage(`{"on":true}`), RequestID: strp(req),
			ExpiresAt: at.Add(time.Minute), CreatedAt: at}
	}
	first := cmd("m-1", base)
	created, err := s.CreateCommand(ctx, &first, time.Hour)
	noErr(t, "first", err)
	if !created {
		t.Fatal("first: created = false")
	}
	checkTime(t, "given CreatedAt kept", first.CreatedAt, base.UTC().Truncate(time.Microsecond))

	// Within the window: the first command comes back, nothing is inserted.
	again := cmd("m-1", base.Add(30*time.Minute))
	again.CommandType = "other"
	created, err = s.CreateCommand(ctx, &again, time.Hour)
	noErr(t, "repeat within window", err)
	if created || again.ID != first.ID || again.CommandType != "siren" {
		t.Errorf("repeat within window: created=%v id=%s type=%q, want the first command %s", created, again.ID, again.CommandType, first.ID)
	}

	// Another source with the same request id is another command.
	fromCam := store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.cam.ID, TargetDeviceID: f.viewer.ID,
		CommandType: "ping", RequestID: strp("m-1"), ExpiresAt: base.Add(time.Hour), CreatedAt: base.Add(time.Minute)}
	created, err = s.CreateCommand(ctx, &fromCam, time.Hour)
	noErr(t, "other source", err)
	if !created || fromCam.ID == first.ID {
		t.Errorf("same request id from another source: created=%v", created)
	}

	// Past the window: a new command, and the new one now owns the request id.
	late := cmd("m-1", base.Add(2*time.Hour))
	created, err = s.CreateCommand(ctx, &late, time.Hour)
	noErr(t, "repeat after window", err)
	if !created || late.ID == first.ID {
		t.Fatalf("repeat after window: created=%v id=%s", created, late.ID)
	}
	lateAgain := cmd("m-1", base.Add(2*time.Hour+time.Minute))
	created, err = s.CreateCommand(ctx, &lateAgain, time.Hour)
	noErr(t, "repeat of the new one", err)
	if created || lateAgain.ID != late.ID {
		t.Errorf("repeat of the new command: created=%v id=%s, want %s", created, lateAgain.ID, late.ID)
	}
	if old, err := s.Command(ctx, first.ID); err != nil || old.Status != store.CommandPending {
		t.Errorf("the first command after its request id was reused: %+v, %v", old, err)
	}

	// Without a request id nothing is deduplicated.
	a, b := cmd("", base), cmd("", base)
	a.RequestID, b.RequestID = nil, nil
	c1, err1 := s.CreateCommand(ctx, &a, time.Hour)
	c2, err2 := s.CreateCommand(ctx, &b, time.Hour)
	if err1 != nil || err2 != nil || !c1 || !c2 || a.ID == b.ID {
		t.Errorf("no request id: %v %v %v %v", c1, c2, err1, err2)
	}

	// Concurrent repeats: exactly one is created, every caller gets its id.
	const n = 8
	var wg sync.WaitGroup
	results := make([]store.Command, n)
	createdN := make([]bool, n)
	errs := make([]error, n)
	now := time.Now()
	for i := range n {
		wg.Go(func() {
			c := cmd("race", now)
			createdN[i], errs[i] = s.CreateCommand(ctx, &c, time.Hour)
			results[i] = c
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent CreateCommand: %v", err)
	}
	wins := 0
	for i := range n {
		if createdN[i] {
			wins++
		}
		if results[i].ID != results[0].ID {
			t.Errorf("concurrent repeat %d got id %s, want %s", i, results[i].ID, results[0].ID)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent repeats created a command, want 1", wins)
	}
}

func testCommandStateMachine(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	c := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	d, err := s.MarkCommandDispatched(ctx, c.ID, t0)
	noErr(t, "MarkCommandDispatched", err)
	if d.Status != store.CommandDispatched || d.RetryCount != 1 || d.LastDispatchedAt == nil {
		t.Fatalf("after dispatch: %+v", d)
	}
	checkTime(t, "LastDispatchedAt", *d.LastDispatchedAt, t0)
	d, err = s.MarkCommandDispatched(ctx, c.ID, t0.Add(time.Second))
	noErr(t, "MarkCommandDispatched again", err)
	if d.Status != store.CommandDispatched || d.RetryCount != 2 {
		t.Errorf("after second dispatch: status %q retry %d", d.Status, d.RetryCount)
	}
	checkTime(t, "LastDispatchedAt again", *d.LastDispatchedAt, t0.Add(time.Second))

	wantErr(t, "complete by another device", second(s.CompleteCommand(ctx, c.ID, f.viewer.ID, store.CommandAcknowledged, nil, t0)), store.ErrNotFound)
	wantErr(t, "complete missing", second(s.CompleteCommand(ctx, missing, f.cam.ID, store.CommandAcknowledged, nil, t0)), store.ErrNotFound)
	if _, err := s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandExpired, nil, t0); err == nil {
		t.Error("CompleteCommand to expired succeeded")
	}

	ack, err := s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandAcknowledged, nil, t0.Add(2*time.Second))
	noErr(t, "CompleteCommand", err)
	if ack.Status != store.CommandAcknowledged || ack.AcknowledgedAt == nil || ack.Error != nil || ack.RetryCount != 2 {
		t.Fatalf("after ack: %+v", ack)
	}
	checkTime(t, "AcknowledgedAt", *ack.AcknowledgedAt, t0.Add(2*time.Second))

	// A repeat of the same completion returns the command unchanged.
	rep, err := s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandAcknowledged, nil, t0.Add(time.Hour))
	noErr(t, "repeat completion", err)
	if rep.Status != store.CommandAcknowledged || !rep.AcknowledgedAt.Equal(*ack.AcknowledgedAt) || !rep.UpdatedAt.Equal(ack.UpdatedAt) {
		t.Errorf("repeat completion changed the command: %+v", rep)
	}
	// Terminal statuses never change.
	wantErr(t, "fail after ack", second(s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandFailed, strp("x"), t0)), store.ErrConflict)
	wantErr(t, "dispatch after ack", second(s.MarkCommandDispatched(ctx, c.ID, t0)), store.ErrConflict)
	wantErr(t, "dispatch missing", second(s.MarkCommandDispatched(ctx, missing, t0)), store.ErrNotFound)

	// Failed, with an error text; the same failure again is fine, another is a conflict.
	fc := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	failed, err := s.CompleteCommand(ctx, fc.ID, f.cam.ID, store.CommandFailed, strp("unsupported"), t0)
	noErr(t, "fail pending", err)
	if failed.Status != store.CommandFailed || failed.Error == nil || *failed.Error != "unsupported" || failed.RetryCount != 0 {
		t.Errorf("after fail: %+v", failed)
	}
	if _, err := s.CompleteCommand(ctx, fc.ID, f.cam.ID, store.CommandFailed, strp("unsupported"), t0); err != nil {
		t.Errorf("repeat failure: %v", err)
	}
	wantErr(t, "fail with another text", second(s.CompleteCommand(ctx, fc.ID, f.cam.ID, store.CommandFailed, strp("other"), t0)), store.ErrConflict)
	wantErr(t, "ack after fail", second(s.CompleteCommand(ctx, fc.ID, f.cam.ID, store.CommandAcknowledged, nil, t0)), store.ErrConflict)

	// Expired is terminal too.
	ec := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Second)
	if _, err := s.ExpireCommands(ctx, ec.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "ack after expiry", second(s.CompleteCommand(ctx, ec.ID, f.cam.ID, store.CommandAcknowledged, nil, t0)), store.ErrConflict)
	wantErr(t, "dispatch after expiry", second(s.MarkCommandDispatched(ctx, ec.ID, t0)), store.ErrConflict)
}

func testExpireCommands(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now()
	short := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Second)
	shortDispatched := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Second)
	long := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	acked := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Second)
	if _, err := s.MarkCommandDispatched(ctx, shortDispatched.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteCommand(ctx, acked.ID, f.cam.ID, store.CommandAcknowledged, nil, now); err != nil {
		t.Fatal(err)
	}

	at := now.Add(time.Minute)
	expired, err := s.ExpireCommands(ctx, at)
	noErr(t, "ExpireCommands", err)
	if got, want := sorted(commandIDs(expired)), sorted([]string{short.ID, shortDispatched.ID}); !slices.Equal(got, want) {
		t.Errorf("ExpireCommands = %v, want %v", got, want)
	}
	for _, c := range expired {
		if c.Status != store.CommandExpired {
			t.Errorf("returned command %s status %q", c.ID, c.Status)
		}
		checkTime(t, "UpdatedAt", c.UpdatedAt, at.UTC().Truncate(time.Microsecond))
	}
	for id, want := range map[string]string{short.ID: store.CommandExpired, shortDispatched.ID: store.CommandExpired,
		long.ID: store.CommandPending, acked.ID: store.CommandAcknowledged} {
		c, err := s.Command(ctx, id)
		noErr(t, "Command", err)
		if c.Status != want {
			t.Errorf("command %s status %q, want %q", id, c.Status, want)
		}
	}
	again, err := s.ExpireCommands(ctx, at)
	noErr(t, "ExpireCommands again", err)
	if len(again) != 0 {
		t.Errorf("ExpireCommands again = %v, want none", commandIDs(again))
	}
}
