package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

func testDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	seen := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	d := store.Device{UserID: u.ID, Name: "Kitchen", Role: store.RoleCamera, Platform: "ios",
		AppVersion: strp("1.2.3"), PushToken: strp("push-a"), LastSeenAt: &seen}
	noErr(t, "CreateDevice", s.CreateDevice(ctx, &d, "hash-a"))
	checkV7(t, d.ID)
	if !d.IsCamera || d.Status != store.DeviceOffline {
		t.Errorf("created device: IsCamera=%v Status=%q, want true offline", d.IsCamera, d.Status)
	}
	checkRecent(t, "CreatedAt", d.CreatedAt)
	if d.RecordingMode != store.RecordingModeEvents {
		t.Errorf("created device: RecordingMode=%q, want events by default", d.RecordingMode)
	}
	if d.LiveMode != store.LiveModeAuto {
		t.Errorf("created device: LiveMode=%q, want auto by default", d.LiveMode)
	}

	got, err := s.Device(ctx, d.ID)
	noErr(t, "Device", err)
	if got.UserID != u.ID || got.Name != "Kitchen" || got.Role != store.RoleCamera || got.Platform != "ios" ||
		got.AppVersion == nil || *got.AppVersion != "1.2.3" || got.PushToken == nil || *got.PushToken != "push-a" ||
		!got.IsCamera || got.Status != store.DeviceOffline || got.LastSeenAt == nil {
		t.Fatalf("Device = %+v, want %+v", got, d)
	}
	checkTime(t, "LastSeenAt", *got.LastSeenAt, seen)
	checkTime(t, "CreatedAt", got.CreatedAt, d.CreatedAt)

	byHash, err := s.DeviceByTokenHash(ctx, "hash-a")
	noErr(t, "DeviceByTokenHash", err)
	if byHash.ID != d.ID {
		t.Errorf("DeviceByTokenHash = %s, want %s", byHash.ID, d.ID)
	}

	viewer := store.Device{UserID: u.ID, Name: "Phone", Role: store.RoleViewer, Platform: "android", IsCamera: true}
	noErr(t, "CreateDevice viewer", s.CreateDevice(ctx, &viewer, "hash-b"))
	if viewer.IsCamera || viewer.PushToken != nil || viewer.AppVersion != nil || viewer.LastSeenAt != nil {
		t.Errorf("viewer = %+v: IsCamera must follow Role, nil fields stay nil", viewer)
	}

	wantErr(t, "duplicate token hash", s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "x", Role: store.RoleViewer, Platform: "web"}, "hash-a"), store.ErrConflict)
	wantErr(t, "unknown user", s.CreateDevice(ctx, &store.Device{UserID: missing, Name: "x", Role: store.RoleViewer, Platform: "web"}, unique("h")), store.ErrNotFound)
	wantErr(t, "Device missing", second(s.Device(ctx, missing)), store.ErrNotFound)
	wantErr(t, "Device not a uuid", second(s.Device(ctx, "nope")), store.ErrNotFound)
	wantErr(t, "DeviceByTokenHash missing", second(s.DeviceByTokenHash(ctx, "nope")), store.ErrNotFound)

	// A device without a token hash: allowed, and never found by an empty hash.
	bare := store.Device{UserID: u.ID, Name: "bare", Role: store.RoleViewer, Platform: "web"}
	noErr(t, "CreateDevice without token", s.CreateDevice(ctx, &bare, ""))
	noErr(t, "second device without token", s.CreateDevice(ctx, &store.Device{UserID: u.ID, Name: "bare2", Role: store.RoleViewer, Platform: "web"}, ""))
	wantErr(t, "DeviceByTokenHash empty", second(s.DeviceByTokenHash(ctx, "")), store.ErrNotFound)

	// Lists: own devices only, newest first.
	other := mkUser(t, s)
	mkDevice(t, s, other.ID, store.RoleCamera)
	list, next, err := s.ListDevices(ctx, u.ID, store.Page{})
	noErr(t, "ListDevices", err)
	if len(list) != 4 || next != "" || list[len(list)-1].ID != d.ID || list[len(list)-2].ID != viewer.ID {
		t.Errorf("ListDevices = %v (next %q), want 4 devices of the user, newest first", deviceIDs(list), next)
	}
	for _, x := range list {
		if x.UserID != u.ID {
			t.Errorf("ListDevices returned another user's device %s", x.ID)
		}
	}
	if l, _, err := s.ListDevices(ctx, missing, store.Page{}); err != nil || len(l) != 0 {
		t.Errorf("ListDevices unknown user = %v, %v; want empty", l, err)
	}

	// UpdateDevice applies the non-nil fields.
	name := "Kitchen 2"
	up, err := s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{Name: &name})
	noErr(t, "UpdateDevice name", err)
	if up.Name != name || *up.PushToken != "push-a" || *up.AppVersion != "1.2.3" {
		t.Errorf("UpdateDevice name = %+v", up)
	}
	if !up.UpdatedAt.After(d.UpdatedAt) && !up.UpdatedAt.Equal(d.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v < %v", up.UpdatedAt, d.UpdatedAt)
	}
	up, err = s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{AppVersion: strp("2.0"), PushToken: strp("")})
	noErr(t, "UpdateDevice clear push", err)
	if up.Name != name || *up.AppVersion != "2.0" || up.PushToken != nil {
		t.Errorf("UpdateDevice clear push = %+v", up)
	}
	got, err = s.Device(ctx, d.ID)
	noErr(t, "Device after update", err)
	if got.Name != name || got.PushToken != nil || *got.AppVersion != "2.0" {
		t.Errorf("Device after update = %+v", got)
	}
	up, err = s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{RecordingMode: strp(store.RecordingModeContinuous)})
	noErr(t, "UpdateDevice recording mode", err)
	if got, err = s.Device(ctx, d.ID); err != nil || up.RecordingMode != store.RecordingModeContinuous ||
		got.RecordingMode != store.RecordingModeContinuous || got.Name != name {
		t.Errorf("after setting the recording mode: UpdateDevice = %+v, Device = %+v, %v", up, got, err)
	}
	if _, err := s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{RecordingMode: strp("always")}); err == nil {
		t.Error("UpdateDevice accepted recording mode \"always\"")
	}
	up, err = s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{LiveMode: strp(store.LiveModeRelay)})
	noErr(t, "UpdateDevice live mode", err)
	if got, err = s.Device(ctx, d.ID); err != nil || up.LiveMode != store.LiveModeRelay ||
		got.LiveMode != store.LiveModeRelay || got.RecordingMode != store.RecordingModeContinuous {
		t.Errorf("after setting the live mode: UpdateDevice = %+v, Device = %+v, %v", up, got, err)
	}
	if _, err := s.UpdateDevice(ctx, d.ID, store.DeviceUpdate{LiveMode: strp("sfu")}); err == nil {
		t.Error("UpdateDevice accepted live mode \"sfu\"")
	}
	wantErr(t, "UpdateDevice missing", second(s.UpdateDevice(ctx, missing, store.DeviceUpdate{Name: &name})), store.ErrNotFound)

	testPushTokenMove(t, s)
}

// testPushTokenMove: a push token set on one device is removed from any other, on
// create and on update, across users too (the token belongs to the phone).
func testPushTokenMove(t *testing.T, s store.Store) {
	ctx := t.Context()
	u1, u2 := mkUser(t, s), mkUser(t, s)
	token := unique("push")
	a := store.Device{UserID: u1.ID, Name: "a", Role: store.RoleCamera, Platform: "ios", PushToken: &token}
	noErr(t, "create a", s.CreateDevice(ctx, &a, unique("h")))
	b := store.Device{UserID: u2.ID, Name: "b", Role: store.RoleViewer, Platform: "ios", PushToken: &token}
	noErr(t, "create b with a's token", s.CreateDevice(ctx, &b, unique("h")))
	pushOf := func(id string) *string {
		t.Helper()
		d, err := s.Device(ctx, id)
		noErr(t, "Device", err)
		return d.PushToken
	}
	if p := pushOf(a.ID); p != nil {
		t.Errorf("a still holds the token after b took it on create: %q", *p)
	}
	if p := pushOf(b.ID); p == nil || *p != token {
		t.Errorf("b push token = %v, want %q", p, token)
	}
	if _, err := s.UpdateDevice(ctx, a.ID, store.DeviceUpdate{PushToken: &token}); err != nil {
		t.Fatalf("UpdateDevice a takes token back: %v", err)
	}
	if p := pushOf(b.ID); p != nil {
		t.Errorf("b still holds the token after a took it on update: %q", *p)
	}
	if p := pushOf(a.ID); p == nil || *p != token {
		t.Errorf("a push token = %v, want %q", p, token)
	}
	// Setting the token a device already holds keeps it.
	if up, err := s.UpdateDevice(ctx, a.ID, store.DeviceUpdate{PushToken: &token}); err != nil || up.PushToken == nil || *up.PushToken != token {
		t.Errorf("re-set same token = %+v, %v", up.PushToken, err)
	}

	// ClearPushToken clears only the token it is told about.
	noErr(t, "ClearPushToken stale", s.ClearPushToken(ctx, a.ID, "some-older-token"))
	if p := pushOf(a.ID); p == nil || *p != token {
		t.Errorf("ClearPushToken with a stale token cleared the current one")
	}
	noErr(t, "ClearPushToken", s.ClearPushToken(ctx, a.ID, token))
	if p := pushOf(a.ID); p != nil {
		t.Errorf("push token after ClearPushToken = %q", *p)
	}
	wantErr(t, "ClearPushToken missing", s.ClearPushToken(ctx, missing, token), store.ErrNotFound)

	// A long opaque token (up to 4 KiB) is fine.
	long := string(slices.Repeat([]byte("x"), 4096))
	if _, err := s.UpdateDevice(ctx, b.ID, store.DeviceUpdate{PushToken: &long}); err != nil {
		t.Errorf("4 KiB push token: %v", err)
	}
	if p := pushOf(b.ID); p == nil || *p != long {
		t.Error("4 KiB push token not stored")
	}
}

func testDeleteDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	cam := mkDevice(t, s, u.ID, store.RoleCamera)
	v1 := mkDevice(t, s, u.ID, store.RoleViewer)
	v2 := mkDevice(t, s, u.ID, store.RoleViewer)
	cam2 := mkDevice(t, s, u.ID, store.RoleCamera)
	l1 := mkLink(t, s, u.ID, cam.ID, v1.ID)
	l2 := mkLink(t, s, u.ID, cam.ID, v2.ID)
	l3 := mkLink(t, s, u.ID, cam2.ID, v1.ID)
	if _, err := s.RevokeLink(ctx, l2.ID); err != nil {
		t.Fatal(err)
	}
	token := unique("push")
	if _, err := s.UpdateDevice(ctx, v1.ID, store.DeviceUpdate{PushToken: &token}); err != nil {
		t.Fatal(err)
	}
	hash := "delete-me-hash"
	withHash := store.Device{UserID: u.ID, Name: "h", Role: store.RoleViewer, Platform: "web"}
	noErr(t, "CreateDevice", s.CreateDevice(ctx, &withHash, hash))

	revoked, err := s.DeleteDevice(ctx, v1.ID)
	noErr(t, "DeleteDevice", err)
	if got, want := sorted(linkIDs(revoked)), sorted([]string{l1.ID, l3.ID}); !slices.Equal(got, want) {
		t.Errorf("DeleteDevice revoked %v, want the active links %v", got, want)
	}
	for _, l := range revoked {
		if l.Status != store.LinkRevoked {
			t.Errorf("returned link %s status %q, want revoked", l.ID, l.Status)
		}
	}
	for _, id := range []string{l1.ID, l3.ID} {
		l, err := s.Link(ctx, id)
		noErr(t, "Link", err)
		if l.Status != store.LinkRevoked {
			t.Errorf("link %s status %q after DeleteDevice", id, l.Status)
		}
	}
	wantErr(t, "Device after delete", second(s.Device(ctx, v1.ID)), store.ErrNotFound)
	wantErr(t, "UpdateDevice after delete", second(s.UpdateDevice(ctx, v1.ID, store.DeviceUpdate{Name: strp("x")})), store.ErrNotFound)
	wantErr(t, "SetDevicePresence after delete", s.SetDevicePresence(ctx, v1.ID, store.DeviceOnline, time.Now()), store.ErrNotFound)
	wantErr(t, "ClearPushToken after delete", s.ClearPushToken(ctx, v1.ID, token), store.ErrNotFound)
	wantErr(t, "DeleteDevice twice", second(s.DeleteDevice(ctx, v1.ID)), store.ErrNotFound)
	wantErr(t, "DeleteDevice missing", second(s.DeleteDevice(ctx, missing)), store.ErrNotFound)
	wantErr(t, "link to a deleted device", s.CreateLink(ctx, &store.DeviceLink{OwnerUserID: u.ID, CameraDeviceID: cam.ID, ClientDeviceID: v1.ID}), store.ErrNotFound)
	if ok, err := s.Linked(ctx, cam.ID, v1.ID); err != nil || ok {
		t.Errorf("Linked(cam, deleted) = %v, %v", ok, err)
	}
	list, _, err := s.ListDevices(ctx, u.ID, store.Page{})
	noErr(t, "ListDevices", err)
	if slices.Contains(deviceIDs(list), v1.ID) {
		t.Error("ListDevices lists a deleted device")
	}

	// The token hash is cleared: it no longer finds the device and can be reused.
	_, err = s.DeleteDevice(ctx, withHash.ID)
	noErr(t, "DeleteDevice withHash", err)
	wantErr(t, "DeviceByTokenHash after delete", second(s.DeviceByTokenHash(ctx, hash)), store.ErrNotFound)
	reuse := store.Device{UserID: u.ID, Name: "reuse", Role: store.RoleViewer, Platform: "web"}
	noErr(t, "token hash reusable after delete", s.CreateDevice(ctx, &reuse, hash))

	// Commands to or from a deleted device are refused.
	_, err = s.CreateCommand(ctx, &store.Command{OwnerUserID: u.ID, SourceDeviceID: v1.ID, TargetDeviceID: cam.ID,
		CommandType: "ping", ExpiresAt: time.Now().Add(time.Minute)}, time.Hour)
	wantErr(t, "command from a deleted device", err, store.ErrNotFound)
}

func testPresence(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	a := mkDevice(t, s, u.ID, store.RoleCamera)
	b := mkDevice(t, s, u.ID, store.RoleViewer)
	at := time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.FixedZone("X", -5*3600))
	noErr(t, "SetDevicePresence a", s.SetDevicePresence(ctx, a.ID, store.DeviceOnline, at))
	noErr(t, "SetDevicePresence b", s.SetDevicePresence(ctx, b.ID, store.DeviceOnline, at))
	got, err := s.Device(ctx, a.ID)
	noErr(t, "Device", err)
	if got.Status != store.DeviceOnline || got.LastSeenAt == nil {
		t.Fatalf("after presence: %+v", got)
	}
	checkTime(t, "LastSeenAt", *got.LastSeenAt, at.Truncate(time.Microsecond))
	wantErr(t, "SetDevicePresence missing", s.SetDevicePresence(ctx, missing, store.DeviceOnline, at), store.ErrNotFound)

	noErr(t, "SetDevicePresence b offline", s.SetDevicePresence(ctx, b.ID, store.DeviceOffline, at.Add(time.Minute)))
	noErr(t, "MarkAllDevicesOffline", s.MarkAllDevicesOffline(ctx, time.Now()))
	for _, id := range []string{a.ID, b.ID} {
		d, err := s.Device(ctx, id)
		noErr(t, "Device", err)
		if d.Status != store.DeviceOffline {
			t.Errorf("device %s status %q after MarkAllDevicesOffline", id, d.Status)
		}
	}
	d, _ := s.Device(ctx, a.ID)
	if d.LastSeenAt == nil || !d.LastSeenAt.Equal(at.Truncate(time.Microsecond)) {
		t.Errorf("MarkAllDevicesOffline changed last_seen_at: %v", d.LastSeenAt)
	}
}
