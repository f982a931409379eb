package signaling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// testSDP is the smallest text the hub takes for a session description: the hub
// relays SDP without parsing it.
const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

type streamAckMsg struct {
	SessionID  string       `json:"session_id"`
	ICEServers []ice.Server `json:"ice_servers"`
	Status     string       `json:"status"`
}

type requestedMsg struct {
	RequesterDeviceID string       `json:"requester_device_id"`
	ICEServers        []ice.Server `json:"ice_servers"`
}

type reasonMsg struct {
	Reason string `json:"reason"`
}

type sdpMsg struct {
	SDP string `json:"sdp"`
}

// requestStream sends stream.request and returns its ack.
func requestStream(t *testing.T, view *peer, camera store.Device) streamAckMsg {
	t.Helper()
	ans := view.request("stream.request", "", map[string]string{"camera_device_id": camera.ID})
	if ans.Type != "ack" {
		t.Fatalf("stream.request refused: %s", ans.Data)
	}
	return decode[streamAckMsg](t, ans)
}

// mustAck sends a session message with an id and fails unless it is acknowledged.
func mustAck(t *testing.T, p *peer, typ, session string, data any) {
	t.Helper()
	if ans := p.request(typ, session, data); ans.Type != "ack" {
		t.Fatalf("%s refused: %s", typ, ans.Data)
	}
}

// wantEnded waits for stream.ended of session on p and checks its reason.
func wantEnded(t *testing.T, p *peer, session, reason string) {
	t.Helper()
	env := p.expect("stream.ended")
	if got := decode[reasonMsg](t, env); env.Session != session || got.Reason != reason {
		t.Fatalf("stream.ended session %q reason %q, want %q %q", env.Session, got.Reason, session, reason)
	}
}

// wantSession checks a session's stored status and reason.
func wantSession(t *testing.T, st store.Store, id, status, reason string) store.StreamSession {
	t.Helper()
	s, err := st.StreamSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if s.Reason != nil {
		got = *s.Reason
	}
	if s.Status != status || got != reason {
		t.Fatalf("session is %s (%q), want %s (%q)", s.Status, got, status, reason)
	}
	if !s.Open() && s.EndedAt == nil {
		t.Errorf("closed session has no ended_at")
	}
	return s
}

// quiet checks that nothing but presence is waiting for p: a ping's pong is the next
// message.
func quiet(t *testing.T, p *peer) {
	t.Helper()
	if env := p.request("ping", "", struct{}{}); env.Type != "pong" {
		t.Fatalf("want pong, got %s %s", env.Type, env.Data)
	}
}

// liveSession runs a session up to live: request, accept, offer, answer, connected,
// and waits for live to be written (behind the relay).
func liveSession(t *testing.T, st store.Store, cam, view *peer, camera store.Device) string {
	t.Helper()
	sid := acceptedSession(t, cam, view, camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, cam, "webrtc.answer", sid, sdpMsg{testSDP})
	view.expect("webrtc.answer")
	mustAck(t, view, "stream.connected", sid, struct{}{})
	waitStatus(t, st, sid, store.StreamLive)
	return sid
}

// acceptedSession runs a session up to stream.ready.
func acceptedSession(t *testing.T, cam, view *peer, camera store.Device) string {
	t.Helper()
	sid := requestStream(t, view, camera).SessionID
	if env := cam.expect("stream.requested"); env.Session != sid {
		t.Fatalf("stream.requested for %q, want %q", env.Session, sid)
	}
	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
	return sid
}

func TestStreamFlow(t *testing.T) {
	st := storetest.NewSQLite(t)
	provider, err := ice.New(ice.Config{STUNURLs: []string{"stun:stun.example.com:3478"}, TURNHost: "192.0.2.7", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	gate := newConnectingGate(st)
	close(gate.release)
	n := startNode(t, gate, nodeOptions{config: func(c *signaling.Config) { c.Streams.ICE = provider }})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	ack := requestStream(t, view, f.camera)
	if ack.Status != store.StreamRequested {
		t.Errorf("ack status = %q, want requested", ack.Status)
	}
	checkICE := func(who string, servers []ice.Server, device string) {
		t.Helper()
		if len(servers) != 2 || servers[0].URLs[0] != "stun:stun.example.com:3478" || !strings.HasSuffix(servers[1].Username, ":"+device) ||
			servers[1].Credential != ice.Credential("s3cret", servers[1].Username) {
			t.Errorf("%s ice servers = %+v, want STUN and TURN with credentials of %s", who, servers, device)
		}
	}
	checkICE("ack", ack.ICEServers, f.viewer.ID)

	req := cam.expect("stream.requested")
	data := decode[requestedMsg](t, req)
	if req.Session != ack.SessionID || data.RequesterDeviceID != f.viewer.ID {
		t.Errorf("stream.requested session %q requester %q", req.Session, data.RequesterDeviceID)
	}
	checkICE("stream.requested", data.ICEServers, f.camera.ID)
	sid := ack.SessionID
	s := wantSession(t, st, sid, store.StreamRequested, "")
	if s.MediaProvider != store.MediaP2P || s.OwnerUserID != f.acct.user.ID || s.CameraDeviceID != f.camera.ID || s.RequesterDeviceID != f.viewer.ID {
		t.Errorf("stored session %+v", s)
	}

	mustAck(t, cam, "stream.accept", sid, struct{}{})
	if env := view.expect("stream.ready"); env.Session != sid || env.From != f.camera.ID {
		t.Errorf("stream.ready session %q from %q", env.Session, env.From)
	}
	wantSession(t, st, sid, store.StreamAccepted, "")

	// The offer, answer and candidates reach the other party with from and session.
	mustAck(t, view, "webrtc.offer", sid, map[string]any{"sdp": testSDP, "from": f.camera.ID, "extra": 1})
	offer := cam.expect("webrtc.offer")
	if offer.Session != sid || offer.From != f.viewer.ID || decode[sdpMsg](t, offer).SDP != testSDP || strings.Contains(string(offer.Data), "extra") {
		t.Errorf("relayed offer %+v %s", offer, offer.Data)
	}
	gate.waitWritten(t)
	wantSession(t, st, sid, store.StreamConnecting, "")
	cam.send("webrtc.answer", "", sid, sdpMsg{testSDP})
	if answer := view.expect("webrtc.answer"); answer.From != f.camera.ID || decode[sdpMsg](t, answer).SDP != testSDP {
		t.Errorf("relayed answer %+v", answer)
	}
	cand := map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}
	view.send("webrtc.candidate", "", sid, cand)
	got := cam.expect("webrtc.candidate")
	if got.From != f.viewer.ID || string(got.Data) != `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}` {
		t.Errorf("relayed candidate from %q: %s", got.From, got.Data)
	}
	cam.send("webrtc.candidate", "", sid, map[string]string{"candidate": ""})
	if got := view.expect("webrtc.candidate"); string(got.Data) != `{"candidate":""}` || got.From != f.camera.ID {
		t.Errorf("end of candidates relayed as %s from %q", got.Data, got.From)
	}

	mustAck(t, cam, "stream.connected", sid, struct{}{}) // answered at once, live written behind
	s = waitStatus(t, st, sid, store.StreamLive)
	if s.StartedAt == nil {
		t.Fatal("live session has no started_at")
	}
	mustAck(t, view, "stream.connected", sid, struct{}{}) // the second party says so too
	// An ICE restart after a network change: a new offer in a live session.
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, cam, "webrtc.answer", sid, sdpMsg{testSDP})
	view.expect("webrtc.answer")
	wantSession(t, st, sid, store.StreamLive, "")

	end := view.request("stream.end", sid, struct{}{})
	if end.Type != "ack" || decode[streamStatusMsg](t, end).Status != store.StreamEnded {
		t.Fatalf("stream.end answered %s %s", end.Type, end.Data)
	}
	wantEnded(t, cam, sid, signaling.ReasonHangup)
	s = wantSession(t, st, sid, store.StreamEnded, signaling.ReasonHangup)
	if s.StartedAt == nil || s.EndedAt.Before(*s.StartedAt) {
		t.Errorf("ended session times %v → %v", s.StartedAt, s.EndedAt)
	}
	// Ending it again changes nothing.
	again := cam.request("stream.end", sid, reasonMsg{"bye"})
	if again.Type != "ack" || decode[streamStatusMsg](t, again).Status != store.StreamEnded {
		t.Errorf("second stream.end answered %s %s", again.Type, again.Data)
	}
	wantSession(t, st, sid, store.StreamEnded, signaling.ReasonHangup)
	quiet(t, view)
}

type streamStatusMsg struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
}

func TestStreamDecline(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	cam.expect("stream.requested")
	mustAck(t, cam, "stream.decline", sid, reasonMsg{"camera_unavailable"})
	wantEnded(t, view, sid, "camera_unavailable") // the camera's reason reaches the viewer
	wantSession(t, st, sid, store.StreamFailed, "camera_unavailable")

	sid = requestStream(t, view, f.camera).SessionID
	cam.expect("stream.requested")
	mustAck(t, cam, "stream.decline", sid, struct{}{})
	wantEnded(t, view, sid, signaling.ReasonDeclined)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonDeclined)
	quiet(t, cam)
}

func TestStreamRequestRefusals(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	unlinked := f.acct.device(t, store.RoleCamera)
	otherViewer := f.acct.device(t, store.RoleViewer)
	stranger := newFamily(t, st)
	view := dial(t, n, f.viewer)

	view.send("stream.request", "", "", map[string]string{"camera_device_id": f.camera.ID})
	if env := view.next(); errorCode(t, env) != wire.CodeBadRequest || env.Ref != "" {
		t.Errorf("stream.request without id answered %s %s", env.Type, env.Data)
	}
	for _, tt := range []struct {
		name string
		data any
		code string
	}{
		{"no camera", map[string]string{}, wire.CodeBadRequest},
		{"camera not a uuid", map[string]string{"camera_device_id": "cam-1"}, wire.CodeBadRequest},
		{"camera of another user", map[string]string{"camera_device_id": stranger.camera.ID}, wire.CodeNotFound},
		{"camera not linked", map[string]string{"camera_device_id": unlinked.ID}, wire.CodeNotLinked},
		{"not a camera", map[string]string{"camera_device_id": otherViewer.ID}, wire.CodeBadRequest},
		{"itself", map[string]string{"camera_device_id": f.viewer.ID}, wire.CodeBadRequest},
		{"data not an object", []int{1}, wire.CodeBadRequest},
	} {
		if code := errorCode(t, view.request("stream.request", "", tt.data)); code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, code, tt.code)
		}
	}
	list, _, err := st.ListStreamSessions(context.Background(), f.acct.user.ID, store.StreamFilter{}, store.Page{})
	if err != nil || len(list) != 0 {
		t.Errorf("refused requests left sessions %v (%v)", list, err)
	}
}

func TestStreamCameraOfflineWithoutPushToken(t *testing.T) {
	st := storetest.NewSQLite(t)
	waker := &recordingWaker{}
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Waker = waker }})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)
	ack := requestStream(t, view, f.camera)
	wantEnded(t, view, ack.SessionID, signaling.ReasonCameraOffline)
	wantSession(t, st, ack.SessionID, store.StreamFailed, signaling.ReasonCameraOffline)
	if got := waker.calls(); len(got) != 0 {
		t.Errorf("woke %v without a push token", got)
	}
}

// withPushToken gives the camera a push token.
func withPushToken(t *testing.T, st store.Store, d store.Device) {
	t.Helper()
	tok := "push-" + randomHex(t)
	if _, err := st.UpdateDevice(context.Background(), d.ID, store.DeviceUpdate{PushToken: &tok}); err != nil {
		t.Fatal(err)
	}
}

func TestStreamWakesOfflineCamera(t *testing.T) {
	st := storetest.NewSQLite(t)
	waker := &recordingWaker{}
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Waker = waker }})
	f := newFamily(t, st)
	withPushToken(t, st, f.camera)
	view := dial(t, n, f.viewer)

	sid := requestStream(t, view, f.camera).SessionID
	status := view.expect("stream.status")
	if status.Session != sid || decode[streamStatusMsg](t, status).Status != store.StreamWaking {
		t.Errorf("stream.status %s for %q", status.Data, status.Session)
	}
	wantSession(t, st, sid, store.StreamWaking, "")
	if got := waker.calls(); len(got) != 1 || got[0] != f.camera.ID+" stream_request" {
		t.Errorf("wake-ups = %q, want one stream_request for the camera", got)
	}

	// The camera connects: it gets the request and the flow goes on.
	cam := dial(t, n, f.camera)
	req := cam.expect("stream.requested")
	if req.Session != sid || decode[requestedMsg](t, req).RequesterDeviceID != f.viewer.ID {
		t.Errorf("stream.requested %+v", req)
	}
	wantSession(t, st, sid, store.StreamRequested, "")
	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
}

func TestStreamWakeTimesOut(t *testing.T) {
	st := storetest.NewSQLite(t)
	clock := storetest.NewClock()
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
	f := newFamily(t, st)
	withPushToken(t, st, f.camera)
	view := dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	view.expect("stream.status")
	clock.Advance(46 * time.Second) // past the 45 s default wake timeout
	wantEnded(t, view, sid, signaling.ReasonCameraUnreachable)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonCameraUnreachable)

	// A camera that connects later gets nothing of it.
	cam := dial(t, n, f.camera)
	quiet(t, cam)
}

func TestStreamSetupTimeouts(t *testing.T) {
	tests := []struct {
		name string
		// run takes the session to the step that then times out.
		run func(t *testing.T, cam, view *peer, camera store.Device) string
	}{
		{"camera never answers the request", func(t *testing.T, cam, view *peer, camera store.Device) string {
			sid := requestStream(t, view, camera).SessionID
			cam.expect("stream.requested")
			return sid
		}},
		{"viewer never offers", acceptedSession},
		{"peers never connect", func(t *testing.T, cam, view *peer, camera store.Device) string {
			sid := acceptedSession(t, cam, view, camera)
			mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
			cam.expect("webrtc.offer")
			return sid
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.NewSQLite(t)
			clock := storetest.NewClock()
			n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
			f := newFamily(t, st)
			cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
			sid := tt.run(t, cam, view, f.camera)
			clock.Advance(31 * time.Second) // past the 30 s default of every setup step
			wantEnded(t, view, sid, signaling.ReasonTimeout)
			wantEnded(t, cam, sid, signaling.ReasonTimeout)
			wantSession(t, st, sid, store.StreamFailed, signaling.ReasonTimeout)
		})
	}
}

func TestStreamPartyDisconnects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		leaver string // camera or viewer
		clean  bool   // a normal close ends the session at once; a drop after the resume grace period
	}{
		{"camera drops mid-call and stays away", store.RoleCamera, false},
		{"viewer drops mid-call and stays away", store.RoleViewer, false},
		{"viewer closes mid-call", store.RoleViewer, true},
		{"camera closes mid-call", store.RoleCamera, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.NewSQLite(t)
			clock := storetest.NewClock()
			n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Now = clock.Now }})
			f := newFamily(t, st)
			cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
			sid := liveSession(t, st, cam, view, f.camera)
			leaver, stayer, leaverID := cam, view, f.camera.ID
			if tt.leaver == store.RoleViewer {
				leaver, stayer, leaverID = view, cam, f.viewer.ID
			}
			if tt.clean {
				leaver.close()
			} else {
				leaver.drop()
				waitAway(t, st, sid, leaverID)
				quiet(t, stayer) // kept: no stream.ended within the grace period
				wantSession(t, st, sid, store.StreamLive, "")
				clock.Advance(31 * time.Second) // past the 30 s default
			}
			wantEnded(t, stayer, sid, signaling.ReasonDisconnected)
			wantSession(t, st, sid, store.StreamEnded, signaling.ReasonDisconnected)
		})
	}
}

func TestStreamSurvivesReplacedConnection(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := liveSession(t, st, cam, view, f.camera)

	// The viewer's phone changed networks: a new socket replaces the old one, and an
	// ICE restart offer goes through on the same session.
	view2 := dial(t, n, f.viewer)
	<-view.conn.Done()
	mustAck(t, view2, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	wantSession(t, st, sid, store.StreamLive, "")

	// When the new socket goes too, the session ends.
	view2.close()
	wantEnded(t, cam, sid, signaling.ReasonDisconnected)
}

func TestStreamLinkRevoked(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	other := f.acct.device(t, store.RoleViewer)
	otherLink := f.acct.link(t, f.camera, other)
	cam, view, view2 := dial(t, n, f.camera), dial(t, n, f.viewer), dial(t, n, other)
	sid := liveSession(t, st, cam, view, f.camera)
	sid2 := acceptedSession(t, cam, view2, f.camera)

	ctx := context.Background()
	revoked, err := st.RevokeLink(ctx, otherLink.ID)
	if err != nil {
		t.Fatal(err)
	}
	n.svc.LinkRevoked(ctx, revoked)
	wantEnded(t, view2, sid2, signaling.ReasonLinkRevoked)
	wantEnded(t, cam, sid2, signaling.ReasonLinkRevoked)
	wantSession(t, st, sid2, store.StreamFailed, signaling.ReasonLinkRevoked)
	wantSession(t, st, sid, store.StreamLive, "") // another viewer's session goes on

	// Deleting the viewer (what DELETE /devices does: delete, close its socket, report
	// the revoked links) ends its live session with link_revoked too.
	links, err := st.DeleteDevice(ctx, f.viewer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.hub.CloseDevice(ctx, f.viewer.ID, 4003, "device deleted"); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		n.svc.LinkRevoked(ctx, l)
	}
	wantEnded(t, cam, sid, signaling.ReasonLinkRevoked)
	wantSession(t, st, sid, store.StreamEnded, signaling.ReasonLinkRevoked)
}

func TestStreamRefusesWrongPartyAndState(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Streams.MaxSDPBytes = 200 }})
	f := newFamily(t, st)
	stranger := f.acct.device(t, store.RoleViewer)
	f.acct.link(t, f.camera, stranger)
	cam, view, other := dial(t, n, f.camera), dial(t, n, f.viewer), dial(t, n, stranger)
	sid := requestStream(t, view, f.camera).SessionID
	cam.expect("stream.requested")

	cand := map[string]string{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}
	for _, tt := range []struct {
		name    string
		p       *peer
		typ     string
		session string
		data    any
		code    string
	}{
		{"offer before accept", view, "webrtc.offer", sid, sdpMsg{testSDP}, wire.CodeConflict},
		{"candidate before accept", view, "webrtc.candidate", sid, cand, wire.CodeConflict},
		{"viewer accepts", view, "stream.accept", sid, struct{}{}, wire.CodeForbidden},
		{"viewer declines", view, "stream.decline", sid, struct{}{}, wire.CodeForbidden},
		{"connected before accept", cam, "stream.connected", sid, struct{}{}, wire.CodeConflict},
		{"another device's candidate", other, "webrtc.candidate", sid, cand, wire.CodeNotFound},
		{"another device ends it", other, "stream.end", sid, struct{}{}, wire.CodeNotFound},
		{"no session", view, "webrtc.candidate", "", cand, wire.CodeBadRequest},
		{"unknown session", view, "stream.end", "01900000-0000-7000-8000-000000000000", struct{}{}, wire.CodeNotFound},
	} {
		if code := errorCode(t, tt.p.request(tt.typ, tt.session, tt.data)); code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, code, tt.code)
		}
	}
	wantSession(t, st, sid, store.StreamRequested, "")

	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
	long := "v=0\r\n" + strings.Repeat("a=x\r\n", 50)
	for _, tt := range []struct {
		name string
		p    *peer
		typ  string
		data any
		code string
	}{
		{"camera offers", cam, "webrtc.offer", sdpMsg{testSDP}, wire.CodeForbidden},
		{"viewer answers", view, "webrtc.answer", sdpMsg{testSDP}, wire.CodeForbidden},
		{"accept twice", cam, "stream.accept", struct{}{}, wire.CodeConflict},
		{"sdp over the limit", view, "webrtc.offer", sdpMsg{long}, wire.CodeBadRequest},
		{"sdp not a description", view, "webrtc.offer", sdpMsg{"hello"}, wire.CodeBadRequest},
		{"empty sdp", view, "webrtc.offer", sdpMsg{}, wire.CodeBadRequest},
		{"sdp of the wrong type", view, "webrtc.offer", map[string]int{"sdp": 1}, wire.CodeBadRequest},
		{"candidate not a candidate", view, "webrtc.candidate", map[string]string{"candidate": "hello"}, wire.CodeBadRequest},
		{"reason too long", view, "stream.end", reasonMsg{strings.Repeat("x", 65)}, wire.CodeBadRequest},
	} {
		if code := errorCode(t, tt.p.request(tt.typ, sid, tt.data)); code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, code, tt.code)
		}
	}
	// Nothing was relayed and nothing changed.
	quiet(t, cam)
	quiet(t, view)
	wantSession(t, st, sid, store.StreamAccepted, "")

	// A closed session takes no more signaling.
	mustAck(t, view, "stream.end", sid, reasonMsg{"changed_my_mind"})
	wantEnded(t, cam, sid, "changed_my_mind")
	wantSession(t, st, sid, store.StreamFailed, "changed_my_mind")
	if code := errorCode(t, view.request("webrtc.candidate", sid, cand)); code != wire.CodeConflict {
		t.Errorf("candidate for a closed session: code %q, want conflict", code)
	}
	if code := errorCode(t, cam.request("webrtc.answer", sid, sdpMsg{testSDP})); code != wire.CodeConflict {
		t.Errorf("answer for a closed session: code %q, want conflict", code)
	}
	// Without an id the refusal still comes, as an error without ref.
	view.send("webrtc.offer", "", sid, sdpMsg{testSDP})
	if env := view.next(); env.Type != "error" || env.Ref != "" {
		t.Errorf("offer without id for a closed session answered %s ref %q", env.Type, env.Ref)
	}
	quiet(t, cam)
}

func TestStreamTargetOffline(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	// An accepted session whose camera is not connected (its replica went away).
	s := store.StreamSession{OwnerUserID: f.acct.user.ID, CameraDeviceID: f.camera.ID, RequesterDeviceID: f.viewer.ID,
		Status: store.StreamAccepted}
	if err := st.CreateStreamSession(context.Background(), &s, 0); err != nil {
		t.Fatal(err)
	}
	view := dial(t, n, f.viewer)
	if code := errorCode(t, view.request("webrtc.offer", s.ID, sdpMsg{testSDP})); code != wire.CodeTargetOffline {
		t.Errorf("offer to an offline camera: code %q, want target_offline", code)
	}
	wantSession(t, st, s.ID, store.StreamAccepted, "")
}

func TestStreamViewerLimit(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Streams.MaxViewersPerCamera = 2 }})
	f := newFamily(t, st)
	cam := dial(t, n, f.camera)
	var viewers []*peer
	var sessions []string
	for range 3 {
		v := f.acct.device(t, store.RoleViewer)
		f.acct.link(t, f.camera, v)
		viewers = append(viewers, dial(t, n, v))
	}
	for _, v := range viewers[:2] {
		sessions = append(sessions, liveSession(t, st, cam, v, f.camera))
	}
	if code := errorCode(t, viewers[2].request("stream.request", "", map[string]string{"camera_device_id": f.camera.ID})); code != wire.CodeBusy {
		t.Fatalf("third viewer: code %q, want busy", code)
	}
	quiet(t, cam)
	mustAck(t, viewers[0], "stream.end", sessions[0], struct{}{})
	wantEnded(t, cam, sessions[0], signaling.ReasonHangup)
	acceptedSession(t, cam, viewers[2], f.camera)
}

func TestStreamOrphanOfVanishedReplica(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Streams.OrphanAfter = time.Second }})
	f := newFamily(t, st)
	view := dial(t, n, f.viewer)
	quiet(t, view) // connected and routable
	// A live session whose camera's replica crashed: nobody told this one, and the
	// camera is recorded offline.
	s := store.StreamSession{OwnerUserID: f.acct.user.ID, CameraDeviceID: f.camera.ID, RequesterDeviceID: f.viewer.ID,
		Status: store.StreamLive, CreatedAt: time.Now().Add(-time.Minute)}
	if err := st.CreateStreamSession(context.Background(), &s, 0); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, view, s.ID, signaling.ReasonDisconnected)
	wantSession(t, st, s.ID, store.StreamEnded, signaling.ReasonDisconnected)
}

func TestStreamRESTTwins(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	stranger := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	ctx := context.Background()
	uid := f.acct.user.ID

	s, err := n.svc.RequestStream(ctx, uid, wire.StreamRequest{CameraDeviceID: f.camera.ID, RequesterDeviceID: f.viewer.ID})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StreamRequested {
		t.Errorf("status %q, want requested", s.Status)
	}
	if env := cam.expect("stream.requested"); env.Session != s.ID {
		t.Errorf("stream.requested for %q", env.Session)
	}
	for name, req := range map[string]wire.StreamRequest{
		"requester missing":         {CameraDeviceID: f.camera.ID},
		"requester of another user": {CameraDeviceID: f.camera.ID, RequesterDeviceID: stranger.viewer.ID},
		"camera of another user":    {CameraDeviceID: stranger.camera.ID, RequesterDeviceID: f.viewer.ID},
		"requester is the camera":   {CameraDeviceID: f.camera.ID, RequesterDeviceID: f.camera.ID},
	} {
		if _, err := n.svc.RequestStream(ctx, uid, req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	if got, err := n.svc.Stream(ctx, uid, s.ID); err != nil || got.ID != s.ID {
		t.Errorf("Stream = %+v, %v", got, err)
	}
	if _, err := n.svc.Stream(ctx, stranger.acct.user.ID, s.ID); err == nil {
		t.Error("another user read the session")
	}
	list, _, err := n.svc.ListStreams(ctx, uid, store.StreamFilter{CameraDeviceID: f.camera.ID}, store.Page{})
	if err != nil || len(list) != 1 || list[0].ID != s.ID {
		t.Errorf("ListStreams = %v, %v", list, err)
	}
	if _, err := n.svc.EndStream(ctx, stranger.acct.user.ID, s.ID, ""); err == nil {
		t.Error("another user ended the session")
	}
	ended, err := n.svc.EndStream(ctx, uid, s.ID, "")
	if err != nil || ended.Status != store.StreamFailed || *ended.Reason != signaling.ReasonHangup {
		t.Fatalf("EndStream = %+v, %v", ended, err)
	}
	wantEnded(t, cam, s.ID, signaling.ReasonHangup)
	wantEnded(t, view, s.ID, signaling.ReasonHangup)
	again, err := n.svc.EndStream(ctx, uid, s.ID, "other")
	if err != nil || *again.Reason != signaling.ReasonHangup {
		t.Errorf("ending again = %+v, %v; want it unchanged", again, err)
	}
	if got := n.svc.ICEServers(f.viewer.ID); got.ICEServers == nil {
		t.Error("ICEServers without a provider is nil, want an empty list")
	}
}

// TestRequestPublish: a WHEP viewer's request reaches an online camera as
// relay.publish with the WHIP URL; an offline camera is woken instead and the
// caller told it is offline.
func TestRequestPublish(t *testing.T) {
	st := storetest.NewSQLite(t)
	waker := &recordingWaker{}
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Waker = waker }})
	f := newFamily(t, st)
	ctx := context.Background()

	if err := n.svc.RequestPublish(ctx, f.camera.ID, "http://hub.example/api/v1/whip"); !errors.Is(err, hub.ErrOffline) {
		t.Fatalf("offline camera: %v, want hub.ErrOffline", err)
	}
	if got := waker.calls(); len(got) != 1 || got[0] != f.camera.ID+" stream_request" {
		t.Fatalf("wake-ups = %q, want one for the camera", got)
	}

	cam := dial(t, n, f.camera)
	if err := n.svc.RequestPublish(ctx, f.camera.ID, "http://hub.example/api/v1/whip"); err != nil {
		t.Fatal(err)
	}
	msg := cam.expect(wire.TypeRelayPublish)
	if got := decode[wire.RelayPublish](t, msg); got.WHIPURL != "http://hub.example/api/v1/whip" {
		t.Fatalf("relay.publish %s", msg.Data)
	}
}

// A session closed on one replica is forgotten by the relay cache of the others: the
// other party's replica refuses its messages instead of relaying them for the
// cache's life.
func TestRelayCacheForgetsSessionClosedElsewhere(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	a := startNode(t, st, nodeOptions{bus: net})
	b := startNode(t, st, nodeOptions{bus: net.Peer()})
	f := newFamily(t, st)
	view, cam := dial(t, a, f.viewer), dial(t, b, f.camera)
	sid := liveSession(t, st, cam, view, f.camera)
	cand := map[string]string{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	mustAck(t, view, "webrtc.candidate", sid, cand) // replica A keeps the session
	cam.expect("webrtc.candidate")

	mustAck(t, cam, "stream.end", sid, struct{}{})
	wantEnded(t, view, sid, "hangup")
	// Replica A hears of the close on the bus, in its own time: until then it may
	// still relay. Within a few round trips (far sooner than the cache's life, and
	// within the socket's message burst) it refuses.
	for range 40 {
		ans := view.request("webrtc.candidate", sid, cand)
		if ans.Type == "error" {
			if code := errorCode(t, ans); code != wire.CodeConflict {
				t.Fatalf("candidate for a closed session: %s, want conflict", code)
			}
			return
		}
	}
	t.Fatal("replica A still relays candidates of a session closed on replica B")
}
