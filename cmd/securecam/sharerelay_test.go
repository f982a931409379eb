package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
)

// probeCandidate is a remote candidate a WHEP session accepts while it exists: a
// PATCH with it answers 204 from a live session, 404 not_found from a closed one.
func probeCandidate() webrtc.ICECandidateInit {
	mid := "0"
	return webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", SDPMid: &mid}
}

// TestShareRevokedOnOneReplicaClosesWHEPOnAnother: the invitee watches a shared
// camera by WHEP (with a linked viewer's device token and with their user session);
// both legs live on r1, which holds the camera's relay. The owner revokes the share
// through r2: r2 has none of those legs, and tells r1 (relay.close_viewers over the
// bus), which closes both at once; the owner's own viewer keeps watching.
func TestShareRevokedOnOneReplicaClosesWHEPOnAnother(t *testing.T) {
	t.Parallel()
	r1, r2 := relayReplicas(t)
	owner := newAccount(t, r1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	publish(ctx, t, r1, owner)

	t.Log("the owner shares the camera; the invitee accepts and links a viewer")
	email := fmt.Sprintf("invitee-%d@example.com", time.Now().UnixNano())
	auth, err := r2.client("").SignUp(ctx, email, testPassword, "Invitee")
	if err != nil {
		t.Fatal(err)
	}
	invitee := r2.client(auth.Session.Token)
	tablet, err := invitee.CreateDevice(ctx, client.NewDevice{Name: "tablet", Role: "viewer", Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := r1.client(owner.token).CreateShare(ctx, email, []string{owner.camera.Device.ID}, store.ShareViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := invitee.AcceptShare(ctx, childtest.MailedToken(t, r1.Process, email)); err != nil {
		t.Fatal(err)
	}
	if _, err := invitee.CreateLink(ctx, owner.camera.Device.ID, tablet.Device.ID); err != nil {
		t.Fatal(err)
	}

	t.Log("the invitee (device and session) and the owner watch through r2, redirected to r1")
	legs := map[string]*client.MediaSession{
		"the invitee's viewer device": watchWHEP(ctx, t, r2, tablet.DeviceToken, owner.camera.Device.ID),
		"the invitee's session":       watchWHEP(ctx, t, r2, auth.Session.Token, owner.camera.Device.ID),
	}
	ownerLeg := watchWHEP(ctx, t, r2, owner.viewer.DeviceToken, owner.camera.Device.ID)
	for name, leg := range legs {
		if !strings.HasPrefix(leg.Location(), r1.URL+"/") {
			t.Fatalf("%s's WHEP session %s, want one on r1 %s", name, leg.Location(), r1.URL)
		}
		if err := leg.SendCandidate(ctx, probeCandidate()); err != nil {
			t.Fatalf("%s's WHEP session before the revocation: %v", name, err)
		}
	}

	t.Log("the owner revokes the share through r2")
	if err := r2.client(owner.token).DeleteShare(ctx, inv.Shares[0].ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for name, leg := range legs {
		for {
			err := leg.SendCandidate(ctx, probeCandidate())
			if client.ErrorCode(err) == "not_found" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's WHEP session on r1 still answers (%v) 20 s after the revocation on r2", name, err)
			}
			time.Sleep(50 * time.Millisecond) // polling r1's sessions
		}
	}
	if err := ownerLeg.SendCandidate(ctx, probeCandidate()); err != nil {
		t.Fatalf("the owner's own WHEP session after the revocation: %v, want it open", err)
	}
}
