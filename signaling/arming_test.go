package signaling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// arming.set from a viewer changes the household's mode and every connected device of
// the household, on any replica, gets the arming message naming who changed it;
// another account's devices get nothing.
func TestArmingSetFansOutToTheHousehold(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	a := startNode(t, st, nodeOptions{bus: net})
	b := startNode(t, st, nodeOptions{bus: net.Peer()})
	acct, other := newAccount(t, st), newAccount(t, st)
	camera := acct.phone(t, store.RoleCamera, "android", "")
	phone := acct.phone(t, store.RoleViewer, "ios", "")
	tablet := acct.phone(t, store.RoleViewer, "web", "") // linked to nothing
	stranger := other.phone(t, store.RoleViewer, "android", "")
	cam, view, tab, strange := dial(t, a, camera), dial(t, a, phone), dial(t, b, tablet), dial(t, b, stranger)

	ans := view.request(wire.TypeArmingSet, "", wire.ArmingRequest{Mode: store.ArmHome})
	if ans.Type != "ack" {
		t.Fatalf("arming.set: %s %s", ans.Type, ans.Data)
	}
	ack := decode[wire.Arming](t, ans)
	if ack.Mode != store.ArmHome || ack.Source != store.ArmSourceManual || ack.ChangedAt == nil ||
		ack.ChangedBy.UserID == nil || *ack.ChangedBy.UserID != acct.user.ID ||
		ack.ChangedBy.DeviceID == nil || *ack.ChangedBy.DeviceID != phone.ID {
		t.Fatalf("arming.set ack %s", ans.Data)
	}
	for _, p := range []*peer{view, cam, tab} {
		got := decode[wire.Arming](t, p.expect(wire.TypeArming))
		if got.Mode != store.ArmHome || got.ChangedBy.DeviceID == nil || *got.ChangedBy.DeviceID != phone.ID {
			t.Errorf("arming message %+v", got)
		}
	}
	quiet(t, strange)

	// Refusals: a bad mode, and a camera arming.
	if code := errorCode(t, view.request(wire.TypeArmingSet, "", map[string]string{"mode": "vacation"})); code != wire.CodeBadRequest {
		t.Errorf("arming.set vacation: %s, want bad_request", code)
	}
	if code := errorCode(t, cam.request(wire.TypeArmingSet, "", wire.ArmingRequest{Mode: store.ArmDisarmed})); code != wire.CodeForbidden {
		t.Errorf("arming.set from a camera: %s, want forbidden", code)
	}
	if got, err := st.Arming(t.Context(), acct.user.ID); err != nil || got.Mode != store.ArmHome {
		t.Fatalf("stored arming %+v %v", got, err)
	}
	logs, _, err := st.ListAuditLogs(t.Context(), acct.user.ID, store.Page{})
	if err != nil || len(logs) != 1 || logs[0].Action != signaling.AuditArmingChanged ||
		logs[0].ActorDeviceID == nil || *logs[0].ActorDeviceID != phone.ID {
		t.Fatalf("audit rows %+v %v, want one arming.changed by the phone", logs, err)
	}
	// Another account may not arm it.
	if code := errorCode(t, strange.request(wire.TypeArmingSet, "", wire.ArmingRequest{Mode: store.ArmAway, HouseholdID: acct.user.ID})); code != wire.CodeNotFound {
		t.Errorf("arming.set by a stranger: %s, want not_found", code)
	}
}

// An operator of a shared camera arms the owner's household with household_id: the
// arming message names the household and reaches the owner's devices and the viewer
// devices of everyone the household's cameras are shared with (not their cameras);
// the owner's audit row names the operator.
func TestArmingSetByAnOperatorOfASharedCamera(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	a := startNode(t, st, nodeOptions{bus: net})
	b := startNode(t, st, nodeOptions{bus: net.Peer()})
	owner, op, vw := newAccount(t, st), newAccount(t, st), newAccount(t, st)
	camera := owner.phone(t, store.RoleCamera, "android", "")
	ownerPhone := owner.phone(t, store.RoleViewer, "ios", "")
	opPhone := op.phone(t, store.RoleViewer, "android", "")
	opCamera := op.phone(t, store.RoleCamera, "android", "") // the operator's own camera
	vwPhone := vw.phone(t, store.RoleViewer, "web", "")
	share(t, st, owner, camera, op, store.ShareOperator)
	share(t, st, owner, camera, vw, store.ShareViewer)
	cam, own, ops, opCam, vws := dial(t, a, camera), dial(t, b, ownerPhone), dial(t, a, opPhone), dial(t, b, opCamera), dial(t, b, vwPhone)

	ans := ops.request(wire.TypeArmingSet, "", wire.ArmingRequest{Mode: store.ArmHome, HouseholdID: owner.user.ID})
	if ans.Type != "ack" {
		t.Fatalf("arming.set by the operator: %s %s", ans.Type, ans.Data)
	}
	if ack := decode[wire.Arming](t, ans); ack.HouseholdID != owner.user.ID || ack.Mode != store.ArmHome {
		t.Fatalf("ack %s", ans.Data)
	}
	for _, p := range []*peer{cam, own, ops, vws} {
		got := decode[wire.Arming](t, p.expect(wire.TypeArming))
		if got.HouseholdID != owner.user.ID || got.Mode != store.ArmHome || got.ChangedBy.UserID == nil || *got.ChangedBy.UserID != op.user.ID {
			t.Errorf("arming message %+v", got)
		}
	}
	quiet(t, opCam)
	if got, err := st.Arming(t.Context(), op.user.ID); err != nil || got.Mode != store.ArmAway {
		t.Fatalf("the operator's own household: %+v %v", got, err)
	}
	logs, _, err := st.ListAuditLogs(t.Context(), owner.user.ID, store.Page{})
	if err != nil || len(logs) != 1 || logs[0].Action != signaling.AuditArmingChanged ||
		logs[0].ActorDeviceID == nil || *logs[0].ActorDeviceID != opPhone.ID || !strings.Contains(string(logs[0].Metadata), op.user.ID) {
		t.Fatalf("the owner's audit rows %+v %v, want one arming.changed by the operator's phone", logs, err)
	}
	// A viewer of the camera may not.
	if code := errorCode(t, vws.request(wire.TypeArmingSet, "", wire.ArmingRequest{Mode: store.ArmAway, HouseholdID: owner.user.ID})); code != wire.CodeForbidden {
		t.Errorf("arming.set by a viewer: %s, want forbidden", code)
	}
}

// A camera whose household is in a mode it does not alert in records its motion with
// armed false, sends it to its online viewers, and alerts nobody: no notification, no
// push. Its alert modes, a user's mute, quiet hours and its own cooldown then decide.
func TestEventsFollowArmingMutesQuietHoursAndCooldown(t *testing.T) {
	st := storetest.NewSQLite(t)
	rig := startPush(t, st)
	clock := storetest.NewClock()
	n := startNode(t, st, nodeOptions{config: rig.withPush(func(c *signaling.Config) { c.Now = clock.Now })})
	acct := newAccount(t, st)
	camera := acct.phone(t, store.RoleCamera, "android", "")
	online := acct.phone(t, store.RoleViewer, "android", "")
	offline := acct.phone(t, store.RoleViewer, "ios", "offline-iphone")
	for _, v := range []store.Device{online, offline} {
		acct.link(t, camera, v)
	}
	cam, view := dial(t, n, camera), dial(t, n, online)
	ctx := t.Context()
	pushes := func() int {
		t.Helper()
		jobs, _, err := st.ListDeliveries(ctx, offline.ID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs)
	}
	event := func(wantArmed, wantNotified bool) {
		t.Helper()
		id := startEvent(t, cam, "Motion")
		ev := decode[wire.Event](t, view.expect(wire.TypeEvent))
		if ev.ID != id || ev.Armed != wantArmed || (ev.NotifiedAt != nil) != wantNotified {
			t.Fatalf("event %+v, want armed %v, notified %v", ev, wantArmed, wantNotified)
		}
		stored, err := st.Event(ctx, id)
		if err != nil || stored.Disarmed == wantArmed {
			t.Fatalf("stored event %+v %v", stored, err)
		}
		clock.Advance(2 * time.Minute) // past the default cooldown
	}

	// Home: the camera alerts in away only (the default).
	if _, err := st.SetArmingMode(ctx, store.ArmingChange{UserID: acct.user.ID, Mode: store.ArmHome, ByUserID: acct.user.ID}); err != nil {
		t.Fatal(err)
	}
	event(false, false)
	quiet(t, view) // no notification
	if got := pushes(); got != 0 {
		t.Fatalf("%d pushes for a camera not armed", got)
	}
	if notes, _, _ := st.ListNotifications(ctx, acct.user.ID, false, store.Page{}); len(notes) != 0 {
		t.Fatalf("%d notifications for a camera not armed", len(notes))
	}

	// The camera alerts at home too now.
	if _, err := st.UpdateCameraSettings(ctx, camera.ID, store.CameraSettingsUpdate{ArmModes: []string{store.ArmHome, store.ArmAway}}); err != nil {
		t.Fatal(err)
	}
	event(true, true)
	view.expect(wire.TypeNotification)
	if _, err := rig.apns.WaitRequests(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	// Muted by its owner: recorded and notified-at set, but no notification and no push.
	if err := st.MuteCamera(ctx, acct.user.ID, camera.ID, clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	event(true, true)
	quiet(t, view)
	if got := pushes(); got != 1 {
		t.Fatalf("%d pushes after a muted event, want still 1", got)
	}
	clock.Advance(time.Hour) // the mute ends

	// Quiet hours (all day): the notification is listed and sent, no push.
	if _, err := st.SetQuietHours(ctx, acct.user.ID, &store.QuietHours{Start: 0, End: 0}); err != nil {
		t.Fatal(err)
	}
	event(true, true)
	view.expect(wire.TypeNotification)
	if got := pushes(); got != 1 {
		t.Fatalf("%d pushes in quiet hours, want still 1", got)
	}
	if _, err := st.SetQuietHours(ctx, acct.user.ID, nil); err != nil {
		t.Fatal(err)
	}

	// The camera's own cooldown (10 min) holds past the default (1 min).
	cool := 10 * time.Minute
	if _, err := st.UpdateCameraSettings(ctx, camera.ID, store.CameraSettingsUpdate{EventCooldown: &cool}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cool)
	event(true, true)
	view.expect(wire.TypeNotification)
	event(true, false) // 2 min later: within the camera's cooldown
	quiet(t, view)
	clock.Advance(9 * time.Minute)
	event(true, true)
	view.expect(wire.TypeNotification)
	if _, err := rig.apns.WaitRequests(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}

	// Disarmed: even a camera alerting in every mode is quiet; camera_offline is not
	// motion and is not held back (tested with the countdown elsewhere).
	if _, err := st.SetArmingMode(ctx, store.ArmingChange{UserID: acct.user.ID, Mode: store.ArmDisarmed, ByUserID: acct.user.ID}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cool)
	event(false, false)
	quiet(t, view)
}

// A scheduled switch is made by one of the replicas sharing the store once it is due
// on the (injected) clock, and announced once to the household's devices.
func TestScheduledArmingSwitch(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	clock := storetest.NewClockAt(time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)) // a Monday
	cfg := func(c *signaling.Config) { c.Now = clock.Now }
	a := startNode(t, st, nodeOptions{bus: net, config: cfg})
	startNode(t, st, nodeOptions{bus: net.Peer(), config: cfg})
	acct := newAccount(t, st)
	phone := acct.phone(t, store.RoleViewer, "ios", "")
	view := dial(t, a, phone)

	rules := []store.ArmingRule{{Days: []time.Weekday{time.Monday}, Minute: 8*60 + 30, Mode: store.ArmAway},
		{Days: []time.Weekday{time.Monday}, Minute: 17*60 + 30, Mode: store.ArmHome}}
	if _, err := st.SetArmingSchedule(t.Context(), acct.user.ID, "Europe/Berlin", rules, clock.Now()); err != nil {
		t.Fatal(err)
	}
	// A manual change holds until the next switch (08:30 CEST = 06:30 UTC).
	if _, err := st.SetArmingMode(t.Context(), store.ArmingChange{UserID: acct.user.ID, Mode: store.ArmDisarmed, ByUserID: acct.user.ID, At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	quiet(t, view)
	clock.Advance(30 * time.Minute)
	got := decode[wire.Arming](t, view.expect(wire.TypeArming))
	if got.Mode != store.ArmAway || got.Source != store.ArmSourceSchedule || got.ChangedBy.UserID != nil ||
		got.NextSwitch == nil || got.NextSwitch.Mode != store.ArmHome || !got.NextSwitch.At.Equal(time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC)) {
		t.Fatalf("scheduled switch %+v", got)
	}
	quiet(t, view) // one replica made it, once
	logs, _, err := st.ListAuditLogs(t.Context(), acct.user.ID, store.Page{})
	if err != nil || len(logs) != 1 || logs[0].Action != signaling.AuditArmingChanged || logs[0].ActorDeviceID != nil {
		t.Fatalf("audit rows %+v %v, want one arming.changed without a device", logs, err)
	}
}
