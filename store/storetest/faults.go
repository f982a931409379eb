package storetest

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// What re-validating open sockets reads: sessions that still hold, devices not deleted.
func testSocketCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	u, other := mkUser(t, s), mkUser(t, s)
	sess := func(user string, expires time.Time) store.Session {
		x := store.Session{TokenHash: unique("tok"), UserID: user, ExpiresAt: expires}
		noErr(t, "CreateSession", s.CreateSession(ctx, &x))
		return x
	}
	live, expired, signedOut, others := sess(u.ID, now.Add(time.Hour)), sess(u.ID, now.Add(-time.Second)),
		sess(u.ID, now.Add(time.Hour)), sess(other.ID, now.Add(time.Hour))
	noErr(t, "DeleteSession", s.DeleteSession(ctx, signedOut.ID))
	got, err := s.SessionUsers(ctx, []string{live.ID, expired.ID, signedOut.ID, others.ID, missing, "not-a-uuid"}, now)
	noErr(t, "SessionUsers", err)
	if want := map[string]string{live.ID: u.ID, others.ID: other.ID}; !maps.Equal(got, want) {
		t.Errorf("SessionUsers = %v, want %v", got, want)
	}

	cam, kept, gone := mkDevice(t, s, u.ID, store.RoleCamera), mkDevice(t, s, other.ID, store.RoleViewer), mkDevice(t, s, u.ID, store.RoleViewer)
	_, err = s.DeleteDevice(ctx, gone.ID)
	noErr(t, "DeleteDevice", err)
	devs, err := s.DeviceUsers(ctx, []string{cam.ID, kept.ID, gone.ID, missing, ""})
	noErr(t, "DeviceUsers", err)
	if want := map[string]string{cam.ID: u.ID, kept.ID: other.ID}; !maps.Equal(devs, want) {
		t.Errorf("DeviceUsers = %v, want %v", devs, want)
	}
	none, err := s.DeviceUsers(ctx, nil)
	noErr(t, "DeviceUsers of nothing", err)
	if len(none) != 0 {
		t.Errorf("DeviceUsers(nil) = %v", none)
	}

	// More ids than one statement names.
	many := []string{cam.ID}
	for range 1200 {
		many = append(many, missing)
	}
	many = append(many, kept.ID)
	devs, err = s.DeviceUsers(ctx, many)
	noErr(t, "DeviceUsers of many", err)
	if len(devs) != 2 {
		t.Errorf("DeviceUsers of 1202 ids found %d, want 2", len(devs))
	}
}

func testDeliverableCommandsTo(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkFixture(t, s), mkFixture(t, s)
	a1 := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour)
	b1 := mkCommand(t, s, b.user.ID, b.viewer.ID, b.cam.ID, time.Hour)
	a2 := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour)
	done := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour)
	_, err := s.CompleteCommand(ctx, done.ID, a.cam.ID, store.CommandAcknowledged, nil, time.Now())
	noErr(t, "CompleteCommand", err)
	dispatched := mkCommand(t, s, b.user.ID, b.viewer.ID, b.cam.ID, time.Hour)
	_, err = s.MarkCommandDispatched(ctx, dispatched.ID, time.Now())
	noErr(t, "MarkCommandDispatched", err)
	mkCommand(t, s, a.user.ID, a.cam.ID, a.viewer.ID, time.Hour) // to the viewer
	late := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Minute)

	got, err := s.DeliverableCommandsTo(ctx, []string{a.cam.ID, b.cam.ID, missing, "x"}, time.Now().Add(30*time.Minute))
	noErr(t, "DeliverableCommandsTo", err)
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.ID
	}
	if want := []string{a1.ID, b1.ID, a2.ID, dispatched.ID}; !slices.Equal(ids, want) {
		t.Errorf("DeliverableCommandsTo = %v, want %v (oldest first; not %s answered, not %s expired)", ids, want, done.ID, late.ID)
	}
	none, err := s.DeliverableCommandsTo(ctx, nil, time.Now())
	noErr(t, "DeliverableCommandsTo nothing", err)
	if len(none) != 0 {
		t.Errorf("DeliverableCommandsTo(nil) = %v", none)
	}
}

func testCommandsChangedSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkFixture(t, s), mkFixture(t, s)
	base := time.Now().UTC().Truncate(time.Second)
	old := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour)
	_, err := s.CompleteCommand(ctx, old.ID, a.cam.ID, store.CommandAcknowledged, nil, base.Add(-time.Minute))
	noErr(t, "CompleteCommand before", err)
	mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour) // still pending: nothing to tell
	failed := mkCommand(t, s, a.user.ID, a.viewer.ID, a.cam.ID, time.Hour)
	msg := "no torch"
	_, err = s.CompleteCommand(ctx, failed.ID, a.cam.ID, store.CommandFailed, &msg, base.Add(2*time.Second))
	noErr(t, "CompleteCommand failed", err)
	dispatched := mkCommand(t, s, b.user.ID, b.viewer.ID, b.cam.ID, time.Hour)
	_, err = s.MarkCommandDispatched(ctx, dispatched.ID, base.Add(time.Second))
	noErr(t, "MarkCommandDispatched", err)
	toViewer := mkCommand(t, s, a.user.ID, a.cam.ID, a.viewer.ID, time.Hour) // sent by the camera
	_, err = s.CompleteCommand(ctx, toViewer.ID, a.viewer.ID, store.CommandAcknowledged, nil, base.Add(time.Second))
	noErr(t, "CompleteCommand to the viewer", err)

	got, err := s.CommandsChangedSince(ctx, []string{a.viewer.ID, b.viewer.ID, missing, "x"}, base)
	noErr(t, "CommandsChangedSince", err)
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.ID
	}
	if want := []string{dispatched.ID, failed.ID}; !slices.Equal(ids, want) {
		t.Errorf("CommandsChangedSince = %v, want %v (oldest update first; not %s changed before, not pending ones, not %s of another source)", ids, want, old.ID, toViewer.ID)
	}
	if len(got) == 2 && (got[1].Status != store.CommandFailed || got[1].Error == nil || *got[1].Error != msg) {
		t.Errorf("failed command = %+v, want failed with its error", got[1])
	}
	none, err := s.CommandsChangedSince(ctx, nil, base)
	noErr(t, "CommandsChangedSince nothing", err)
	if len(none) != 0 {
		t.Errorf("CommandsChangedSince(nil) = %v", none)
	}
}

func testCameraOfflineChecks(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, g := mkFixture(t, s), mkFixture(t, s)
	base := time.Now().UTC().Truncate(time.Second)
	check := func(dev string, dropped time.Time) store.CameraOfflineCheck {
		c := store.CameraOfflineCheck{DeviceID: dev, DroppedAt: dropped, DueAt: dropped.Add(2 * time.Minute)}
		noErr(t, "ScheduleCameraOffline", s.ScheduleCameraOffline(ctx, c))
		return c
	}
	wantErr(t, "ScheduleCameraOffline of a missing device",
		s.ScheduleCameraOffline(ctx, store.CameraOfflineCheck{DeviceID: missing, DroppedAt: base, DueAt: base}), store.ErrNotFound)

	first := check(f.cam.ID, base)
	other := check(g.cam.ID, base.Add(time.Second))
	// Not due yet: nothing.
	got, err := s.ClaimCameraOffline(ctx, base.Add(time.Minute), time.Minute, 10)
	noErr(t, "ClaimCameraOffline early", err)
	if len(got) != 0 {
		t.Fatalf("claimed %v before they were due", got)
	}
	// A second drop replaces the first check of the device.
	again := check(f.cam.ID, base.Add(5*time.Second))
	got, err = s.ClaimCameraOffline(ctx, first.DueAt, time.Minute, 10)
	noErr(t, "ClaimCameraOffline", err)
	if len(got) != 0 {
		t.Fatalf("claimed %v at the replaced check's due time", got)
	}
	due := again.DueAt
	got, err = s.ClaimCameraOffline(ctx, due, time.Minute, 10)
	noErr(t, "ClaimCameraOffline due", err)
	if len(got) != 2 || got[0].DeviceID != g.cam.ID || got[1].DeviceID != f.cam.ID {
		t.Fatalf("claimed %+v, want %s then %s", got, g.cam.ID, f.cam.ID)
	}
	checkTime(t, "claimed DroppedAt", got[1].DroppedAt, again.DroppedAt)
	checkTime(t, "claimed DueAt", got[1].DueAt, due.Add(time.Minute))

	// Claimed: nobody else gets them within the lease; after it, they are due again.
	got, err = s.ClaimCameraOffline(ctx, due.Add(59*time.Second), time.Minute, 10)
	noErr(t, "ClaimCameraOffline within the lease", err)
	if len(got) != 0 {
		t.Fatalf("claimed %v within the lease", got)
	}
	// Finishing with a stale drop time deletes nothing; with the right one it does.
	noErr(t, "FinishCameraOffline stale", s.FinishCameraOffline(ctx, f.cam.ID, first.DroppedAt))
	noErr(t, "FinishCameraOffline", s.FinishCameraOffline(ctx, g.cam.ID, other.DroppedAt))
	noErr(t, "FinishCameraOffline of nothing", s.FinishCameraOffline(ctx, missing, base))
	got, err = s.ClaimCameraOffline(ctx, due.Add(time.Minute), time.Minute, 10)
	noErr(t, "ClaimCameraOffline after the lease", err)
	if len(got) != 1 || got[0].DeviceID != f.cam.ID {
		t.Fatalf("after the lease claimed %+v, want only %s again", got, f.cam.ID)
	}

	// Concurrent claimers take each check once.
	const cams, claimers = 30, 5
	for range cams {
		check(mkDevice(t, s, f.user.ID, store.RoleCamera).ID, base)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			for {
				cl, err := s.ClaimCameraOffline(ctx, base.Add(time.Hour), 10*time.Hour, 1+i%3)
				if err != nil {
					t.Errorf("ClaimCameraOffline: %v", err)
					return
				}
				if len(cl) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cl {
					seen[c.DeviceID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != cams+1 {
		t.Errorf("%d distinct checks claimed, want %d", len(seen), cams+1)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("check of %s claimed %d times", id, n)
		}
	}
}
