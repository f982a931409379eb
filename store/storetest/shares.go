package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// mkShare invites invitee's e-mail to camera with role and accepts it for invitee.
func mkShare(t *testing.T, s store.Store, owner, camera string, invitee store.User, role string) store.Share {
	t.Helper()
	tok := unique("sharetoken")
	sh := []store.Share{{OwnerUserID: owner, CameraDeviceID: camera, InviteeEmail: invitee.Email, Role: role,
		InvitedByUserID: owner, ExpiresAt: time.Now().Add(time.Hour)}}
	noErr(t, "CreateShares", s.CreateShares(t.Context(), sh, tok))
	got, err := s.AcceptShares(t.Context(), tok, invitee.Email, invitee.ID, time.Now())
	if err != nil || len(got) != 1 {
		t.Fatalf("AcceptShares = %v, %v", got, err)
	}
	return got[0]
}

func testShares(t *testing.T, s store.Store) {
	ctx := t.Context()
	owner := mkUser(t, s)
	cam1 := mkDevice(t, s, owner.ID, store.RoleCamera)
	cam2 := mkDevice(t, s, owner.ID, store.RoleCamera)
	ownerViewer := mkDevice(t, s, owner.ID, store.RoleViewer)
	invitee := mkUser(t, s)
	iv := mkDevice(t, s, invitee.ID, store.RoleViewer)
	stranger := mkUser(t, s)

	// Invite: one invitation, two cameras, one token.
	exp := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
	shares := []store.Share{
		{OwnerUserID: owner.ID, CameraDeviceID: cam1.ID, InviteeEmail: strings.ToUpper(invitee.Email), Role: store.ShareViewer, InvitedByUserID: owner.ID, ExpiresAt: exp, Status: "bogus"},
		{OwnerUserID: owner.ID, CameraDeviceID: cam2.ID, InviteeEmail: strings.ToUpper(invitee.Email), Role: store.ShareViewer, InvitedByUserID: owner.ID, ExpiresAt: exp},
	}
	noErr(t, "CreateShares", s.CreateShares(ctx, shares, "hash-1"))
	for _, sh := range shares {
		checkV7(t, sh.ID)
		if sh.Status != store.SharePending || sh.InvitationID != shares[0].InvitationID || sh.UserID != nil {
			t.Errorf("created share = %+v", sh)
		}
		checkTime(t, "ExpiresAt", sh.ExpiresAt, exp)
	}
	got, err := s.Share(ctx, shares[0].ID)
	noErr(t, "Share", err)
	if got.CameraDeviceID != cam1.ID || got.Role != store.ShareViewer || got.Status != store.SharePending {
		t.Errorf("Share = %+v", got)
	}
	wantErr(t, "Share missing", second(s.Share(ctx, missing)), store.ErrNotFound)

	// Refusals.
	wantErr(t, "second open invitation to the same address", s.CreateShares(ctx, []store.Share{
		{OwnerUserID: owner.ID, CameraDeviceID: cam1.ID, InviteeEmail: invitee.Email, Role: store.ShareAdmin, InvitedByUserID: owner.ID, ExpiresAt: exp}}, "hash-2"), store.ErrConflict)
	for name, sh := range map[string]store.Share{
		"camera of another user": {OwnerUserID: stranger.ID, CameraDeviceID: cam1.ID, InviteeEmail: "x@example.com", Role: store.ShareViewer, InvitedByUserID: stranger.ID, ExpiresAt: exp},
		"not a camera":           {OwnerUserID: owner.ID, CameraDeviceID: ownerViewer.ID, InviteeEmail: "x@example.com", Role: store.ShareViewer, InvitedByUserID: owner.ID, ExpiresAt: exp},
		"missing camera":         {OwnerUserID: owner.ID, CameraDeviceID: missing, InviteeEmail: "x@example.com", Role: store.ShareViewer, InvitedByUserID: owner.ID, ExpiresAt: exp},
	} {
		wantErr(t, name, s.CreateShares(ctx, []store.Share{sh}, "hash-x"), store.ErrNotFound)
	}
	if _, err := s.ActiveShare(ctx, cam1.ID, invitee.ID); err == nil {
		t.Error("ActiveShare before acceptance found one")
	}
	wantErr(t, "a link to a camera only invited to", s.CreateLink(ctx, &store.DeviceLink{OwnerUserID: invitee.ID, CameraDeviceID: cam1.ID, ClientDeviceID: iv.ID}), store.ErrNotFound)

	// Accept: the wrong token, address or time match nothing; the right one works once.
	wantErr(t, "accept with a wrong token", second(s.AcceptShares(ctx, "nope", invitee.Email, invitee.ID, time.Now())), store.ErrNotFound)
	wantErr(t, "accept for another address", second(s.AcceptShares(ctx, "hash-1", stranger.Email, stranger.ID, time.Now())), store.ErrNotFound)
	wantErr(t, "accept after expiry", second(s.AcceptShares(ctx, "hash-1", invitee.Email, invitee.ID, exp.Add(time.Second))), store.ErrNotFound)
	acc, err := s.AcceptShares(ctx, "hash-1", invitee.Email, invitee.ID, time.Now())
	noErr(t, "AcceptShares", err)
	if len(acc) != 2 {
		t.Fatalf("accepted %d shares, want 2", len(acc))
	}
	for _, sh := range acc {
		if sh.Status != store.ShareActive || sh.UserID == nil || *sh.UserID != invitee.ID || sh.AcceptedAt == nil {
			t.Errorf("accepted share = %+v", sh)
		}
	}
	wantErr(t, "accept twice", second(s.AcceptShares(ctx, "hash-1", invitee.Email, invitee.ID, time.Now())), store.ErrNotFound)
	active, err := s.ActiveShare(ctx, cam1.ID, invitee.ID)
	noErr(t, "ActiveShare", err)
	if active.ID != shares[0].ID {
		t.Errorf("ActiveShare = %s, want %s", active.ID, shares[0].ID)
	}
	wantErr(t, "ActiveShare of a stranger", second(s.ActiveShare(ctx, cam1.ID, stranger.ID)), store.ErrNotFound)

	// The invitee links a viewer to the shared camera, sends it a command, opens a
	// session; a stranger can do none of it.
	link := mkLink(t, s, invitee.ID, cam1.ID, iv.ID)
	link2 := mkLink(t, s, invitee.ID, cam2.ID, iv.ID)
	ownLink := mkLink(t, s, owner.ID, cam1.ID, ownerViewer.ID)
	mkCommand(t, s, invitee.ID, iv.ID, cam1.ID, time.Hour)
	sess := store.StreamSession{OwnerUserID: invitee.ID, CameraDeviceID: cam1.ID, RequesterDeviceID: iv.ID}
	noErr(t, "CreateStreamSession to a shared camera", s.CreateStreamSession(ctx, &sess, 0))
	sv := mkDevice(t, s, stranger.ID, store.RoleViewer)
	wantErr(t, "stranger's link", s.CreateLink(ctx, &store.DeviceLink{OwnerUserID: stranger.ID, CameraDeviceID: cam1.ID, ClientDeviceID: sv.ID}), store.ErrNotFound)
	_, err = s.CreateCommand(ctx, &store.Command{OwnerUserID: stranger.ID, SourceDeviceID: sv.ID, TargetDeviceID: cam1.ID, CommandType: "ping", ExpiresAt: time.Now().Add(time.Hour)}, time.Hour)
	wantErr(t, "stranger's command", err, store.ErrNotFound)
	wantErr(t, "stranger's session", s.CreateStreamSession(ctx, &store.StreamSession{OwnerUserID: stranger.ID, CameraDeviceID: cam1.ID, RequesterDeviceID: sv.ID}, 0), store.ErrNotFound)

	// Lists.
	list, next, err := s.ListShares(ctx, store.ShareFilter{OwnerUserID: owner.ID}, store.Page{})
	noErr(t, "ListShares owner", err)
	if next != "" || len(list) != 2 || list[0].ID != shares[1].ID {
		t.Errorf("ListShares(owner) = %v (next %q)", ids(list, shareIDOf), next)
	}
	list, _, err = s.ListShares(ctx, store.ShareFilter{UserID: invitee.ID, Statuses: []string{store.ShareActive}}, store.Page{})
	noErr(t, "ListShares user", err)
	if len(list) != 2 {
		t.Errorf("ListShares(user) = %d shares, want 2", len(list))
	}
	list, _, err = s.ListShares(ctx, store.ShareFilter{CameraDeviceIDs: []string{cam2.ID}}, store.Page{})
	noErr(t, "ListShares camera", err)
	if len(list) != 1 || list[0].ID != shares[1].ID {
		t.Errorf("ListShares(camera) = %v", ids(list, shareIDOf))
	}
	list, _, err = s.ListShares(ctx, store.ShareFilter{UserID: stranger.ID}, store.Page{})
	if err != nil || len(list) != 0 {
		t.Errorf("ListShares(stranger) = %v, %v", list, err)
	}

	// Role.
	changed, err := s.SetShareRole(ctx, shares[0].ID, store.ShareOperator, time.Now())
	noErr(t, "SetShareRole", err)
	if changed.Role != store.ShareOperator {
		t.Errorf("role = %q", changed.Role)
	}
	wantErr(t, "SetShareRole missing", second(s.SetShareRole(ctx, missing, store.ShareAdmin, time.Now())), store.ErrNotFound)

	// End: the invitee's links to that camera go with it, nobody else's.
	ended, links, err := s.EndShare(ctx, shares[0].ID, store.ShareRevoked, time.Now())
	noErr(t, "EndShare", err)
	if ended.Status != store.ShareRevoked || ended.EndedAt == nil {
		t.Errorf("ended share = %+v", ended)
	}
	if len(links) != 1 || links[0].ID != link.ID || links[0].Status != store.LinkRevoked {
		t.Errorf("EndShare revoked %+v, want link %s", links, link.ID)
	}
	for id, want := range map[string]string{link.ID: store.LinkRevoked, link2.ID: store.LinkActive, ownLink.ID: store.LinkActive} {
		l, err := s.Link(ctx, id)
		noErr(t, "Link", err)
		if l.Status != want {
			t.Errorf("link %s is %s, want %s", id, l.Status, want)
		}
	}
	wantErr(t, "ActiveShare after revocation", second(s.ActiveShare(ctx, cam1.ID, invitee.ID)), store.ErrNotFound)
	again, links, err := s.EndShare(ctx, shares[0].ID, store.ShareLeft, time.Now())
	if err != nil || again.Status != store.ShareRevoked || len(links) != 0 {
		t.Errorf("EndShare again = %+v, %v, %v", again, links, err)
	}
	wantErr(t, "SetShareRole after the end", second(s.SetShareRole(ctx, shares[0].ID, store.ShareAdmin, time.Now())), store.ErrConflict)
	wantErr(t, "link after revocation", s.CreateLink(ctx, &store.DeviceLink{OwnerUserID: invitee.ID, CameraDeviceID: cam1.ID, ClientDeviceID: iv.ID}), store.ErrNotFound)
	_, err = s.CreateCommand(ctx, &store.Command{OwnerUserID: invitee.ID, SourceDeviceID: iv.ID, TargetDeviceID: cam1.ID, CommandType: "ping", ExpiresAt: time.Now().Add(time.Hour)}, time.Hour)
	wantErr(t, "command after revocation", err, store.ErrNotFound)

	// A new invitation after the end works; the invitee leaving ends it too.
	re := mkShare(t, s, owner.ID, cam1.ID, invitee, store.ShareViewer)
	left, _, err := s.EndShare(ctx, re.ID, store.ShareLeft, time.Now())
	if err != nil || left.Status != store.ShareLeft {
		t.Errorf("leave = %+v, %v", left, err)
	}

	// The owner accepting an invitation to their own camera gets nothing.
	noErr(t, "CreateShares to the owner", s.CreateShares(ctx, []store.Share{{OwnerUserID: owner.ID, CameraDeviceID: cam1.ID,
		InviteeEmail: owner.Email, Role: store.ShareViewer, InvitedByUserID: owner.ID, ExpiresAt: exp}}, "hash-own"))
	wantErr(t, "owner accepts own camera", second(s.AcceptShares(ctx, "hash-own", owner.Email, owner.ID, time.Now())), store.ErrNotFound)
}

func shareIDOf(sh store.Share) string { return sh.ID }
