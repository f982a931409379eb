package storetest

import (
	"slices"
	"testing"

	"github.com/securecam/securecam/store"
)

func testLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	cam := mkDevice(t, s, u.ID, store.RoleCamera)
	v1 := mkDevice(t, s, u.ID, store.RoleViewer)
	v2 := mkDevice(t, s, u.ID, store.RoleViewer)

	l := store.DeviceLink{OwnerUserID: u.ID, CameraDeviceID: cam.ID, ClientDeviceID: v1.ID, Status: "bogus"}
	noErr(t, "CreateLink", s.CreateLink(ctx, &l))
	checkV7(t, l.ID)
	if l.Status != store.LinkActive {
		t.Errorf("Status = %q, want active", l.Status)
	}
	checkRecent(t, "CreatedAt", l.CreatedAt)
	got, err := s.Link(ctx, l.ID)
	noErr(t, "Link", err)
	if got.OwnerUserID != u.ID || got.CameraDeviceID != cam.ID || got.ClientDeviceID != v1.ID || got.Status != store.LinkActive {
		t.Errorf("Link = %+v, want %+v", got, l)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, l.CreatedAt)

	wantErr(t, "duplicate active link", s.CreateLink(ctx, &store.DeviceLink{OwnerUserID: u.ID, CameraDeviceID: cam.ID, ClientDeviceID: v1.ID}), store.ErrConflict)

	other := mkUser(t, s)
	otherCam := mkDevice(t, s, other.ID, store.RoleCamera)
	for name, link := range map[string]store.DeviceLink{
		"camera of another user": {OwnerUserID: u.ID, CameraDeviceID: otherCam.ID, ClientDeviceID: v1.ID},
		"client of another user": {OwnerUserID: other.ID, CameraDeviceID: otherCam.ID, ClientDeviceID: v1.ID},
		"missing camera":         {OwnerUserID: u.ID, CameraDeviceID: missing, ClientDeviceID: v1.ID},
		"missing client":         {OwnerUserID: u.ID, CameraDeviceID: cam.ID, ClientDeviceID: missing},
		"missing owner":          {OwnerUserID: missing, CameraDeviceID: cam.ID, ClientDeviceID: v1.ID},
		"camera id not a uuid":   {OwnerUserID: u.ID, CameraDeviceID: "nope", ClientDeviceID: v1.ID},
	} {
		wantErr(t, name, s.CreateLink(ctx, &link), store.ErrNotFound)
	}
	wantErr(t, "Link missing", second(s.Link(ctx, missing)), store.ErrNotFound)

	l2 := mkLink(t, s, u.ID, cam.ID, v2.ID)
	ids, err := s.LinkedDeviceIDs(ctx, cam.ID)
	noErr(t, "LinkedDeviceIDs camera", err)
	if !slices.Equal(sorted(ids), sorted([]string{v1.ID, v2.ID})) {
		t.Errorf("LinkedDeviceIDs(camera) = %v, want %v", ids, []string{v1.ID, v2.ID})
	}
	ids, err = s.LinkedDeviceIDs(ctx, v1.ID)
	noErr(t, "LinkedDeviceIDs client", err)
	if !slices.Equal(ids, []string{cam.ID}) {
		t.Errorf("LinkedDeviceIDs(client) = %v, want [%s]", ids, cam.ID)
	}
	if ids, err := s.LinkedDeviceIDs(ctx, missing); err != nil || len(ids) != 0 {
		t.Errorf("LinkedDeviceIDs(missing) = %v, %v", ids, err)
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{cam.ID, v1.ID, true},
		{v1.ID, cam.ID, true},
		{v1.ID, v2.ID, false},
		{cam.ID, otherCam.ID, false},
		{cam.ID, missing, false},
	} {
		if ok, err := s.Linked(ctx, tt.a, tt.b); err != nil || ok != tt.want {
			t.Errorf("Linked(%s, %s) = %v, %v; want %v", tt.a, tt.b, ok, err, tt.want)
		}
	}

	r, err := s.RevokeLink(ctx, l.ID)
	noErr(t, "RevokeLink", err)
	if r.Status != store.LinkRevoked || r.ID != l.ID {
		t.Errorf("RevokeLink = %+v", r)
	}
	r2, err := s.RevokeLink(ctx, l.ID)
	noErr(t, "RevokeLink again", err)
	if r2.Status != store.LinkRevoked {
		t.Errorf("RevokeLink again = %+v", r2)
	}
	wantErr(t, "RevokeLink missing", second(s.RevokeLink(ctx, missing)), store.ErrNotFound)
	if ok, _ := s.Linked(ctx, cam.ID, v1.ID); ok {
		t.Error("Linked after revoke")
	}
	ids, _ = s.LinkedDeviceIDs(ctx, cam.ID)
	if !slices.Equal(ids, []string{v2.ID}) {
		t.Errorf("LinkedDeviceIDs after revoke = %v, want [%s]", ids, v2.ID)
	}
	// A revoked link does not block a new one.
	l3 := mkLink(t, s, u.ID, cam.ID, v1.ID)

	mkLink(t, s, other.ID, otherCam.ID, mkDevice(t, s, other.ID, store.RoleViewer).ID)
	list, next, err := s.ListLinks(ctx, u.ID, store.Page{})
	noErr(t, "ListLinks", err)
	if want := []string{l3.ID, l2.ID, l.ID}; !slices.Equal(linkIDs(list), want) || next != "" {
		t.Errorf("ListLinks = %v (next %q), want %v", linkIDs(list), next, want)
	}
}
