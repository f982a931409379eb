package signaling_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// share makes camera (of owner) shared with a by role, accepted.
func share(t *testing.T, st store.Store, owner *account, camera store.Device, a *account, role string) store.Share {
	t.Helper()
	ctx := context.Background()
	tok := randomHex(t)
	sh := []store.Share{{OwnerUserID: owner.user.ID, CameraDeviceID: camera.ID, InviteeEmail: a.user.Email, Role: role,
		InvitedByUserID: owner.user.ID, ExpiresAt: time.Now().Add(time.Hour)}}
	if err := st.CreateShares(ctx, sh, tok); err != nil {
		t.Fatal(err)
	}
	got, err := st.AcceptShares(ctx, tok, a.user.Email, a.user.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}

// socketRow says how one message type a client sends answers each person: a type that
// acts on a camera names its action and data; one that does not says why.
type socketRow struct {
	notCamera string
	action    access.Action
	data      func(camera store.Device) any
	// then is a message the sender also gets when allowed (after the ack).
	then string
}

// socketMatrix has a row for every message type the hub hands to signaling
// (TestSocketRoleMatrix fails on a type without one).
var socketMatrix = map[string]socketRow{
	wire.TypeCommandSend: {action: access.Command, data: func(c store.Device) any {
		return wire.CommandRequest{TargetDeviceID: c.ID, CommandType: "set_torch", Payload: []byte(`{"on":true}`)}
	}},
	wire.TypeStreamRequest: {action: access.View, data: func(c store.Device) any {
		return wire.StreamRequest{CameraDeviceID: c.ID}
	}},
	wire.TypeCommandResult:   {notCamera: "answered by the command's target only (the store checks it)"},
	wire.TypeStreamAccept:    {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeStreamDecline:   {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeOffer:           {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeAnswer:          {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeCandidate:       {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeStreamConnected: {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeStreamEnd:       {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeStreamResume:    {notCamera: "a party of a session only: its requester was authorized by stream.request"},
	wire.TypeEventStart:      {notCamera: "sent by a camera about itself"},
	wire.TypeEventEnd:        {notCamera: "sent by a camera about itself"},
	wire.TypeTelemetry:       {notCamera: "sent by a camera about itself"},
	// The camera's household: its owner's (access.Checker.Household).
	wire.TypeArmingSet: {action: access.Arm, data: func(c store.Device) any {
		return wire.ArmingRequest{Mode: store.ArmHome, HouseholdID: c.UserID}
	}, then: wire.TypeArming},
}

// The people of the socket matrix, the owner last.
var socketPeople = []struct {
	who  string
	role access.Role
}{{"stranger", access.None}, {"revoked", access.None}, {"viewer", access.Viewer}, {"operator", access.Operator},
	{"admin", access.Admin}, {"owner", access.Owner}}

func socketRoleMatrix(t *testing.T, st store.Store) {
	n := startNode(t, st, nodeOptions{})
	for _, typ := range n.hub.HandledTypes() {
		if _, ok := socketMatrix[typ]; !ok {
			t.Errorf("message type %s has no row in the socket role matrix: say which action it needs, or why it touches no camera", typ)
		}
	}
	owner := newAccount(t, st)
	cam := owner.device(t, store.RoleCamera)
	var types []string
	for typ, row := range socketMatrix {
		if row.data != nil {
			types = append(types, typ)
		}
	}
	slices.Sort(types) // command.send, then stream.request (whose session then ends)
	for _, p := range socketPeople {
		a := owner
		if p.who != "owner" {
			a = newAccount(t, st)
		}
		viewer := a.device(t, store.RoleViewer)
		switch p.who {
		case "owner":
			owner.link(t, cam, viewer)
		case "viewer", "operator", "admin", "revoked":
			role := string(p.role)
			if p.who == "revoked" {
				role = store.ShareOperator
			}
			sh := share(t, st, owner, cam, a, role)
			a.link(t, cam, viewer)
			if p.who == "revoked" {
				if _, _, err := st.EndShare(context.Background(), sh.ID, store.ShareRevoked, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		sock := dial(t, n, viewer)
		for _, typ := range types {
			row := socketMatrix[typ]
			ans := sock.request(typ, "", row.data(cam))
			switch {
			case access.Allows(p.role, row.action):
				if ans.Type != "ack" {
					t.Errorf("%s as %s: %s %s, want ack", typ, p.who, ans.Type, ans.Data)
				}
				if row.then != "" {
					sock.expect(row.then)
				}
			case p.role == access.None:
				if code := errorCode(t, ans); code != wire.CodeNotFound {
					t.Errorf("%s as %s: %s, want not_found", typ, p.who, code)
				}
			default:
				if code := errorCode(t, ans); code != wire.CodeForbidden {
					t.Errorf("%s as %s: %s, want forbidden", typ, p.who, code)
				}
			}
		}
	}
}

func TestSocketRoleMatrixSQLite(t *testing.T) {
	t.Parallel()
	socketRoleMatrix(t, storetest.NewSQLite(t))
}

func TestSocketRoleMatrixPostgres(t *testing.T) {
	t.Parallel()
	socketRoleMatrix(t, storetest.NewPostgres(t))
}

// A shared camera's events reach the invitee's linked viewer (event, and the invitee's
// own notification), and stop once the share is revoked.
func TestSharedCameraEventsReachTheInvitee(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	owner, invitee := newAccount(t, st), newAccount(t, st)
	camera := owner.device(t, store.RoleCamera)
	viewer := invitee.device(t, store.RoleViewer)
	sh := share(t, st, owner, camera, invitee, store.ShareViewer)
	invitee.link(t, camera, viewer)
	cam, view := dial(t, n, camera), dial(t, n, viewer)

	id := startEvent(t, cam, "Motion at the door")
	if ev := decode[wire.Event](t, view.expect("event")); ev.ID != id {
		t.Errorf("event %s, want %s", ev.ID, id)
	}
	note := decode[wire.Notification](t, view.expect("notification"))
	if note.EventID == nil || *note.EventID != id || note.UserID != invitee.user.ID {
		t.Errorf("notification %+v, want the invitee's of %s", note, id)
	}
	notes, _, err := st.ListNotifications(context.Background(), invitee.user.ID, false, store.Page{})
	if err != nil || len(notes) != 1 {
		t.Fatalf("the invitee's notifications: %v, %v", notes, err)
	}

	if _, _, err := st.EndShare(context.Background(), sh.ID, store.ShareRevoked, time.Now()); err != nil {
		t.Fatal(err)
	}
	startEvent(t, cam, "Motion again") // acknowledged once its messages went out
	if ans := view.request("ping", "", nil); ans.Type != "pong" {
		t.Errorf("after the revocation: %s, want only the pong (no event)", ans.Type)
	}
}
