package sim_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// A share revoked through one replica ends, at once, the invitee's live view that
// another replica carries: the invitee's viewer gets stream.ended (link_revoked), the
// picture stops, and the invitee's socket stays open (it is their own account).
func TestShareRevokedOnOneReplicaEndsLiveViewOnAnother(t *testing.T) {
	pg := storetest.PostgresURL(t)
	redisURL, _, _ := bustest.StartRedis(t)
	replica := func(node string) *child.Process {
		return childtest.Start(t, map[string]string{
			"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL, "SECURECAM_NODE_ID": node,
		})
	}
	a, b := replica("a"), replica("b")
	ctx := t.Context()
	owner := newFamily(t, a.URL)
	runCamera(t, owner.dial(t, a.URL, owner.camera), loopback)

	email := fmt.Sprintf("invitee-%d@example.com", time.Now().UnixNano())
	invitee, err := sim.Login{HubURL: b.URL, Email: email, Password: "correct horse battery staple", SignUp: true}.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tablet, err := sim.EnsureDevice(ctx, invitee, "tablet", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := owner.owner.CreateShare(ctx, email, []string{owner.camera.ID}, store.ShareViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := invitee.AcceptShare(ctx, childtest.MailedToken(t, a, email)); err != nil {
		t.Fatal(err)
	}
	if err := sim.EnsureLink(ctx, invitee, owner.camera.ID, tablet.ID); err != nil {
		t.Fatal(err)
	}
	t.Log("sim finds the shared camera by name, and registers the invitee's own camera of that name beside it")
	if d, err := sim.FindDevice(ctx, invitee, owner.camera.Name); err != nil || d.ID != owner.camera.ID || d.Shared == nil ||
		d.Shared.Role != store.ShareViewer {
		t.Errorf("FindDevice(%q) = %+v, %v; want the shared camera", owner.camera.Name, d, err)
	}
	own, err := sim.EnsureDevice(ctx, invitee, owner.camera.Name, store.RoleCamera)
	if err != nil || own.ID == owner.camera.ID || own.Shared != nil {
		t.Errorf("EnsureDevice(%q) = %+v, %v; want a camera of the invitee's own", owner.camera.Name, own, err)
	}
	if d, err := sim.FindDevice(ctx, invitee, owner.camera.Name); err != nil || d.ID != own.ID {
		t.Errorf("FindDevice(%q) = %+v, %v; want the invitee's own camera first", owner.camera.Name, d, err)
	}
	sock := family{owner: invitee}.dial(t, b.URL, tablet)

	type viewed struct {
		res sim.ViewResult
		err error
	}
	done := make(chan viewed, 1)
	go func() {
		vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		res, err := sim.View(vctx, sock, sim.ViewerConfig{Media: loopback, CameraDeviceID: owner.camera.ID, Watch: 2 * time.Minute})
		done <- viewed{res, err}
	}()

	t.Log("the invitee watches the shared camera through replica b")
	deadline := time.Now().Add(60 * time.Second)
	for {
		page, err := invitee.ListStreams(ctx, owner.camera.ID, client.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 0 && page.Items[0].Status == store.StreamLive {
			break
		}
		select {
		case v := <-done:
			t.Fatalf("the view ended before it was live: %+v, %v", v.res, v.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the invitee's session is not live within 60 s")
		}
		time.Sleep(50 * time.Millisecond) // polling the session's status
	}

	t.Log("the owner revokes the share through replica a")
	if err := owner.owner.DeleteShare(ctx, inv.Shares[0].ID); err != nil {
		t.Fatal(err)
	}
	var v viewed
	select {
	case v = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the invitee's live view did not end within 30 s of the revocation")
	}
	var ended *sim.EndedError
	if !errors.As(v.err, &ended) || ended.Reason != "link_revoked" {
		t.Fatalf("the view ended with %v, want stream.ended link_revoked", v.err)
	}
	if v.res.FirstFrame <= 0 || v.res.Media.Frames == 0 {
		t.Errorf("the invitee saw no picture before the revocation: %+v", v.res.Media)
	}
	s, err := invitee.Stream(ctx, v.res.SessionID)
	if err != nil || s.Status != store.StreamEnded || s.Reason == nil || *s.Reason != "link_revoked" {
		t.Errorf("the session after the revocation: %+v, %v", s, err)
	}
	if _, err := invitee.Device(ctx, owner.camera.ID); client.ErrorCode(err) != "not_found" {
		t.Errorf("the camera after the revocation: %v, want not_found", err)
	}
	if _, err := sock.RequestStream(ctx, owner.camera.ID); client.ErrorCode(err) != "not_found" {
		t.Errorf("a new stream.request after the revocation: %v, want not_found", err)
	}
	ans, err := sock.Request(ctx, hub.Envelope{Type: "ping", ID: "p-1"})
	if err != nil || ans.Type != "pong" {
		t.Errorf("the invitee's socket after the revocation: %v %v, want it open", ans.Type, err)
	}
}
