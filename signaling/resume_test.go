package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"

	"github.com/securecam/securecam/signaling/wire"
)

// resumeAck is the data of the ack of stream.resume.
type resumeAck struct {
	SessionID string  `json:"session_id"`
	Status    string  `json:"status"`
	Reason    *string `json:"reason"`
}

// resume sends stream.resume for session on p and returns its ack.
func resume(t *testing.T, p *peer, session string) resumeAck {
	t.Helper()
	ans := p.request("stream.resume", session, struct{}{})
	if ans.Type != "ack" {
		t.Fatalf("stream.resume refused: %s", ans.Data)
	}
	return decode[resumeAck](t, ans)
}

// waitAway waits until the hub has marked device away in the session: it handled the
// drop of the device's socket.
func waitAway(t *testing.T, st store.Store, session, device string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := st.StreamSession(context.Background(), session)
		if err != nil {
			t.Fatal(err)
		}
		away := s.RequesterAwayAt
		if device == s.CameraDeviceID {
			away = s.CameraAwayAt
		}
		if away != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device %s not marked away in session %s within 10 s: %+v", device, session, s)
		}
		time.Sleep(10 * time.Millisecond) // polling the store, not synchronizing
	}
}

// TestStreamResume: a party whose socket drops comes back within the grace period and
// resumes its session: same id, live, nobody told it ended, and the sweep past the
// grace period leaves it alone.
func TestStreamResume(t *testing.T) {
	for _, leaver := range []string{store.RoleCamera, store.RoleViewer} {
		t.Run(leaver, func(t *testing.T) {
			st := storetest.NewSQLite(t)
			clock := storetest.NewClock()
			n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
			f := newFamily(t, st)
			cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
			sid := liveSession(t, st, cam, view, f.camera)
			// A canary: a second viewer's session whose viewer drops and stays away. Its
			// end shows that a sweep past the grace period has run.
			second := f.acct.device(t, store.RoleViewer)
			f.acct.link(t, f.camera, second)
			view2 := dial(t, n, second)
			canary := liveSession(t, st, cam, view2, f.camera)
			view2.drop()
			waitAway(t, st, canary, second.ID)

			dropped, stayer, dev := cam, view, f.camera
			if leaver == store.RoleViewer {
				dropped, stayer, dev = view, cam, f.viewer
			}
			dropped.drop()
			waitAway(t, st, sid, dev.ID)
			clock.Advance(20 * time.Second) // within the 30 s default
			back := dial(t, n, dev)
			ack := resume(t, back, sid)
			if ack.SessionID != sid || ack.Status != store.StreamLive || ack.Reason != nil {
				t.Fatalf("resume ack %+v, want session %s live", ack, sid)
			}
			s := wantSession(t, st, sid, store.StreamLive, "")
			if s.CameraAwayAt != nil || s.RequesterAwayAt != nil {
				t.Errorf("after the resume the session still has a party away: %+v", s)
			}

			clock.Advance(20 * time.Second) // 40 s after both drops
			camNow := cam
			if leaver == store.RoleCamera {
				camNow = back
			}
			wantEnded(t, camNow, canary, signaling.ReasonDisconnected)
			quiet(t, stayer)
			quiet(t, back)
			wantSession(t, st, sid, store.StreamLive, "")
			// The resumed session carries signaling again, e.g. an ICE restart.
			if leaver == store.RoleViewer {
				mustAck(t, back, "webrtc.offer", sid, sdpMsg{testSDP})
				cam.expect("webrtc.offer")
			} else {
				mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
				back.expect("webrtc.offer")
			}
		})
	}
}

// TestStreamResumeAfterHubRestart: the hub drains (1012) and a new one starts on the
// same store; both parties come back and resume the session.
func TestStreamResumeAfterHubRestart(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock()
	cfg := nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }}
	old := startNode(t, st, cfg)
	f := newFamily(t, st)
	cam, view := dial(t, old, f.camera), dial(t, old, f.viewer)
	sid := liveSession(t, st, cam, view, f.camera)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s := wantSession(t, st, sid, store.StreamLive, "")
	if s.CameraAwayAt == nil || s.RequesterAwayAt == nil {
		t.Fatalf("after the drain both parties should be away: %+v", s)
	}

	n := startNode(t, st, cfg)
	clock.Advance(25 * time.Second)
	cam2, view2 := dial(t, n, f.camera), dial(t, n, f.viewer)
	for _, p := range []*peer{view2, cam2} {
		if ack := resume(t, p, sid); ack.Status != store.StreamLive {
			t.Fatalf("resume: %+v, want live", ack)
		}
	}
	clock.Advance(time.Minute)
	mustAck(t, view2, "webrtc.offer", sid, sdpMsg{testSDP})
	cam2.expect("webrtc.offer")
	quiet(t, view2)
	wantSession(t, st, sid, store.StreamLive, "")
}

// TestStreamResumeTooLate: a party back after the grace period finds its session
// ended: the ack says so and stream.ended comes again.
func TestStreamResumeTooLate(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock()
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) {
		c.Now = clock.Now
		c.Streams.ResumeGrace = 5 * time.Second
	}})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := liveSession(t, st, cam, view, f.camera)
	view.drop()
	waitAway(t, st, sid, f.viewer.ID)
	clock.Advance(6 * time.Second) // the configured grace period, not the default
	wantEnded(t, cam, sid, signaling.ReasonDisconnected)

	back := dial(t, n, f.viewer)
	ack := resume(t, back, sid)
	if ack.Status != store.StreamEnded || ack.Reason == nil || *ack.Reason != signaling.ReasonDisconnected {
		t.Fatalf("resume ack %+v, want ended, disconnected", ack)
	}
	wantEnded(t, back, sid, signaling.ReasonDisconnected)
}

// TestStreamResumeRules: a session still being set up ends when a party drops; only
// a party resumes; a session must be named.
func TestStreamResumeRules(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	view.drop() // connecting: no media yet, nothing to keep
	wantEnded(t, cam, sid, signaling.ReasonDisconnected)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonDisconnected)

	view = dial(t, n, f.viewer)
	live := liveSession(t, st, cam, view, f.camera)
	stranger := f.acct.device(t, store.RoleViewer)
	other := dial(t, n, stranger)
	if code := errorCode(t, other.request("stream.resume", live, struct{}{})); code != wire.CodeNotFound {
		t.Errorf("resume by a device that is no party: %s, want not_found", code)
	}
	if code := errorCode(t, view.request("stream.resume", "", struct{}{})); code != wire.CodeBadRequest {
		t.Errorf("resume without a session: %s, want bad_request", code)
	}
	// A party that never went away may resume: nothing changes.
	if ack := resume(t, cam, live); ack.Status != store.StreamLive {
		t.Errorf("resume of a session never left: %+v", ack)
	}
	quiet(t, view)
}

// A socket the hub closes because its credentials were revoked (4003) is not coming
// back with them: its live sessions end at once, with no resume grace, and the other
// party is told.
func TestRevokedSocketGetsNoResumeGrace(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock() // the grace period never runs out by itself
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := liveSession(t, st, cam, view, f.camera)

	if err := n.hub.CloseDevice(context.Background(), f.viewer.ID, hub.StatusForbidden, "credentials revoked"); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, cam, sid, signaling.ReasonDisconnected)
	s, err := st.StreamSession(context.Background(), sid)
	if err != nil || s.Status != store.StreamEnded {
		t.Fatalf("session after the revocation = %+v, %v; want ended", s, err)
	}
}
