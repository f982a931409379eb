package storetest

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// The group commits insert, dispatch and complete exactly what their one-at-a-time
// counterparts would, and leave every other case to them.
func testCommandBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	mkLink(t, s, f.user.ID, f.cam.ID, f.viewer.ID)
	unlinked := mkDevice(t, s, f.user.ID, store.RoleViewer)
	other := mkUser(t, s)
	foreign := mkDevice(t, s, other.ID, store.RoleCamera)
	exp := time.Now().Add(time.Minute)
	taken := store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID,
		CommandType: "ping", RequestID: strp("r-taken"), ExpiresAt: exp}
	if created, err := s.CreateCommand(ctx, &taken, time.Hour); err != nil || !created {
		t.Fatalf("CreateCommand: created=%v err=%v", created, err)
	}

	mk := func(source, target, requestID string) *store.Command {
		c := &store.Command{OwnerUserID: f.user.ID, SourceDeviceID: source, TargetDeviceID: target,
			CommandType: "set_torch", Payload: json.RawMessage(`{"on": true}`), ExpiresAt: exp}
		if requestID != "" {
			c.RequestID = &requestID
		}
		return c
	}
	batch := []*store.Command{
		mk(f.viewer.ID, f.cam.ID, "r-1"),       // linked
		mk(f.cam.ID, f.viewer.ID, ""),          // linked, the other way round
		mk(unlinked.ID, f.cam.ID, "r-2"),       // not linked
		mk(f.viewer.ID, foreign.ID, ""),        // another user's device
		mk(f.viewer.ID, f.cam.ID, "r-1"),       // the first one's request id again
		mk(f.viewer.ID, f.cam.ID, "r-taken"),   // a request id taken earlier
		mk(f.viewer.ID, "not-a-uuid", "r-bad"), // names no device
	}
	inserted, err := s.CreateLinkedCommands(ctx, batch)
	noErr(t, "CreateLinkedCommands", err)
	if want := []bool{true, true, false, false, false, false, false}; !slices.Equal(inserted, want) {
		t.Fatalf("inserted = %v, want %v", inserted, want)
	}
	for _, c := range batch[:2] {
		checkV7(t, c.ID)
		got, err := s.Command(ctx, c.ID)
		noErr(t, "Command", err)
		if got.Status != store.CommandPending || got.SourceDeviceID != c.SourceDeviceID || got.TargetDeviceID != c.TargetDeviceID ||
			!jsonEqual(got.Payload, c.Payload) || got.CommandType != "set_torch" || got.RetryCount != 0 {
			t.Errorf("stored %+v, want %+v", got, c)
		}
		checkTime(t, "CreatedAt", got.CreatedAt, c.CreatedAt)
		checkTime(t, "ExpiresAt", got.ExpiresAt, exp.UTC().Truncate(time.Microsecond))
	}
	if got, _ := s.Command(ctx, batch[0].ID); got.RequestID == nil || *got.RequestID != "r-1" {
		t.Errorf("request id of the first = %v, want r-1", got.RequestID)
	}
	for i, c := range batch[2:] {
		if c.ID != "" {
			t.Errorf("command %d not inserted but given id %s", i+2, c.ID)
		}
	}
	// A command its caller hands over as it commits is inserted dispatched, once, at
	// its creation; any other status asked for is pending.
	handed, asked := mk(f.viewer.ID, f.cam.ID, ""), mk(f.viewer.ID, f.cam.ID, "")
	handed.Status, asked.Status = store.CommandDispatched, store.CommandAcknowledged
	inserted, err = s.CreateLinkedCommands(ctx, []*store.Command{handed, asked})
	noErr(t, "CreateLinkedCommands (dispatched)", err)
	if !slices.Equal(inserted, []bool{true, true}) {
		t.Fatalf("inserted = %v, want both", inserted)
	}
	for _, c := range []*store.Command{handed, asked} {
		got, err := s.Command(ctx, c.ID)
		noErr(t, "Command", err)
		if got.Status != c.Status || got.RetryCount != c.RetryCount || (got.LastDispatchedAt == nil) != (c.LastDispatchedAt == nil) {
			t.Errorf("stored %+v, filled in %+v", got, c)
		}
	}
	if got, _ := s.Command(ctx, handed.ID); got.Status != store.CommandDispatched || got.RetryCount != 1 || got.LastDispatchedAt == nil {
		t.Errorf("inserted dispatched = %+v, want dispatched once", got)
	} else {
		checkTime(t, "LastDispatchedAt", *got.LastDispatchedAt, handed.CreatedAt)
	}
	if got, _ := s.Command(ctx, asked.ID); got.Status != store.CommandPending || got.RetryCount != 0 || got.LastDispatchedAt != nil {
		t.Errorf("inserted asking for acknowledged = %+v, want pending", got)
	}

	// The repeat goes through CreateCommand, which finds the first.
	again := mk(f.viewer.ID, f.cam.ID, "r-1")
	created, err := s.CreateCommand(ctx, again, time.Hour)
	if err != nil || created || again.ID != batch[0].ID {
		t.Fatalf("CreateCommand of the repeat: created=%v err=%v id %s, want the first %s", created, err, again.ID, batch[0].ID)
	}

	// Dispatch: the open ones change, a terminal one is as it is, a missing one is absent.
	done := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Minute)
	if _, err := s.CompleteCommand(ctx, done.ID, f.cam.ID, store.CommandFailed, nil, time.Now()); err != nil {
		t.Fatalf("CompleteCommand: %v", err)
	}
	at := time.Now().Add(time.Second).UTC().Truncate(time.Microsecond)
	marked, err := s.MarkCommandsDispatched(ctx, []string{batch[0].ID, batch[1].ID, done.ID, missing, "junk"}, at)
	noErr(t, "MarkCommandsDispatched", err)
	if len(marked) != 3 {
		t.Fatalf("marked %d commands, want 3: %v", len(marked), marked)
	}
	if m := marked[done.ID]; m.Status != store.CommandFailed || m.RetryCount != 0 {
		t.Errorf("terminal command after the mark = %+v, want failed, never dispatched", m)
	}
	for _, c := range batch[:2] {
		m, ok := marked[c.ID]
		if !ok || m.Status != store.CommandDispatched || m.RetryCount != 1 || m.LastDispatchedAt == nil {
			t.Fatalf("marked %s = %+v, want dispatched once", c.ID, m)
		}
		checkTime(t, "LastDispatchedAt", *m.LastDispatchedAt, at)
	}

	// Complete: the right target's answers land; another target's is absent.
	open := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Minute)
	completed, err := s.CompleteCommands(ctx, []store.CommandCompletion{
		{ID: batch[0].ID, TargetDeviceID: f.cam.ID, Status: store.CommandAcknowledged},
		{ID: batch[1].ID, TargetDeviceID: f.viewer.ID, Status: store.CommandFailed, Error: strp("unsupported")},
		{ID: open.ID, TargetDeviceID: unlinked.ID, Status: store.CommandAcknowledged},
		{ID: done.ID, TargetDeviceID: f.cam.ID, Status: store.CommandFailed},
		{ID: missing, TargetDeviceID: f.cam.ID, Status: store.CommandFailed},
	}, at)
	noErr(t, "CompleteCommands", err)
	if len(completed) != 2 {
		t.Fatalf("completed %d commands, want 2: %v", len(completed), completed)
	}
	ack := completed[batch[0].ID]
	if ack.Status != store.CommandAcknowledged || ack.AcknowledgedAt == nil || ack.Error != nil {
		t.Fatalf("acknowledged = %+v", ack)
	}
	checkTime(t, "AcknowledgedAt", *ack.AcknowledgedAt, at)
	failed := completed[batch[1].ID]
	if failed.Status != store.CommandFailed || failed.AcknowledgedAt != nil || failed.Error == nil || *failed.Error != "unsupported" {
		t.Fatalf("failed = %+v, want failed with its error and no acknowledged_at", failed)
	}
	checkTime(t, "UpdatedAt", failed.UpdatedAt, at)
	if got, _ := s.Command(ctx, open.ID); got.Status != store.CommandPending {
		t.Errorf("a command answered by another device is %s, want pending", got.Status)
	}
	if _, err := s.CompleteCommands(ctx, []store.CommandCompletion{{ID: open.ID, TargetDeviceID: f.cam.ID, Status: store.CommandExpired}}, at); err == nil {
		t.Error("CompleteCommands with status expired: no error")
	}
	for _, empty := range [][]string{nil, {"junk"}} {
		if m, err := s.MarkCommandsDispatched(ctx, empty, at); err != nil || len(m) != 0 {
			t.Errorf("MarkCommandsDispatched(%v) = %v, %v", empty, m, err)
		}
	}
}

// Batches of one kind run concurrently (PostgreSQL: signaling's pipelined group
// commits) and may name the same commands in different orders; they must queue, not
// deadlock. Two writers mark and complete the same open commands, one in each order.
func testConcurrentCommandBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	const n, rounds = 40, 15
	for range rounds {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Minute).ID
		}
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		completions := func(ids []string) []store.CommandCompletion {
			cs := make([]store.CommandCompletion, len(ids))
			for i, id := range ids {
				cs[i] = store.CommandCompletion{ID: id, TargetDeviceID: f.cam.ID, Status: store.CommandAcknowledged}
			}
			return cs
		}
		errs := make(chan error, 4)
		var wg sync.WaitGroup
		for _, order := range [][]string{ids, reversed} {
			wg.Go(func() {
				_, err := s.MarkCommandsDispatched(ctx, order, time.Now())
				errs <- err
				_, err = s.CompleteCommands(ctx, completions(order), time.Now())
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent batches over the same commands: %v", err)
			}
		}
		for _, id := range ids {
			c, err := s.Command(ctx, id)
			noErr(t, "Command", err)
			if c.Status != store.CommandAcknowledged {
				t.Fatalf("command %s is %s after both batches, want acknowledged", id, c.Status)
			}
		}
	}
}
