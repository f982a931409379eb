package signaling_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// fakeRelay is a media relay whose publications the test makes (publish) and whose
// legs it ends (fakeLeg.Close).
type fakeRelay struct {
	mu         sync.Mutex
	publishing map[string]bool
	refuse     bool // Subscribe fails
	legs       []*fakeLeg
}

const relayAnswer = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=relay\r\nt=0 0\r\n"

func (r *fakeRelay) publish(camera string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishing[camera] = true
}

func (r *fakeRelay) Publishing(camera string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publishing[camera]
}

func (r *fakeRelay) WaitReady(_ context.Context, camera string) error {
	if !r.Publishing(camera) {
		return errors.New("not publishing")
	}
	return nil
}

func (r *fakeRelay) Subscribe(_ context.Context, camera, _, _ string) (signaling.RelayLeg, string, error) {
	if !r.Publishing(camera) {
		return nil, "", errors.New("not publishing")
	}
	r.mu.Lock()
	refuse := r.refuse
	r.mu.Unlock()
	if refuse {
		return nil, "", errors.New("refused")
	}
	leg := &fakeLeg{done: make(chan struct{})}
	r.mu.Lock()
	r.legs = append(r.legs, leg)
	r.mu.Unlock()
	return leg, relayAnswer, nil
}

func (r *fakeRelay) leg(t *testing.T, i int) *fakeLeg {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.legs) <= i {
		t.Fatalf("%d legs, want leg %d", len(r.legs), i)
	}
	return r.legs[i]
}

type fakeLeg struct {
	mu    sync.Mutex
	cands []string
	done  chan struct{}
	once  sync.Once
}

// refusedCandidate is a candidate a fakeLeg refuses.
const refusedCandidate = "candidate:9 1 udp 1 192.0.2.9 9 typ refused"

func (l *fakeLeg) AddCandidate(c string, _ *string, _ *uint16) error {
	if c == refusedCandidate {
		return errors.New("refused candidate")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cands = append(l.cands, c)
	return nil
}

func (l *fakeLeg) Done() <-chan struct{} { return l.done }
func (l *fakeLeg) Close()                { l.once.Do(func() { close(l.done) }) }

func (l *fakeLeg) candidates() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.cands...)
}

func relayNode(t *testing.T, st store.Store, r *fakeRelay, tune func(*signaling.StreamConfig)) *node {
	return startNode(t, st, nodeOptions{config: func(c *signaling.Config) {
		c.Relay, c.WHIPURL = r, "http://hub.example/api/v1/whip"
		if tune != nil {
			tune(&c.Streams)
		}
	}})
}

func setLiveMode(t *testing.T, st store.Store, camera store.Device, mode string) {
	t.Helper()
	if _, err := st.UpdateDevice(context.Background(), camera.ID, store.DeviceUpdate{LiveMode: &mode}); err != nil {
		t.Fatal(err)
	}
}

// TestRelayedSession: a camera in live mode relay is asked to publish; once it does
// the viewer gets stream.ready and the hub answers its offer, from the camera, with a
// relay leg that gets its candidates. The camera takes no part; the leg ending
// ends the session with relay_ended, told to the viewer only.
func TestRelayedSession(t *testing.T) {
	st := storetest.NewSQLite(t)
	r := &fakeRelay{publishing: map[string]bool{}}
	n := relayNode(t, st, r, nil)
	f := newFamily(t, st)
	setLiveMode(t, st, f.camera, store.LiveModeRelay)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)

	sid := requestStream(t, view, f.camera).SessionID
	pub := cam.expect("relay.publish")
	if got := decode[map[string]string](t, pub)["whip_url"]; got != "http://hub.example/api/v1/whip" {
		t.Errorf("relay.publish whip_url %q", got)
	}
	wantSession(t, st, sid, store.StreamRequested, "")
	r.publish(f.camera.ID)
	if env := view.expect("stream.ready"); env.Session != sid || env.From != f.camera.ID {
		t.Fatalf("stream.ready session %q from %q", env.Session, env.From)
	}

	view.send("webrtc.offer", "", sid, sdpMsg{testSDP}) // the answer may come before an ack
	ans := view.expect("webrtc.answer")
	if ans.Session != sid || ans.From != f.camera.ID || decode[sdpMsg](t, ans).SDP != relayAnswer {
		t.Fatalf("webrtc.answer session %q from %q: %s", ans.Session, ans.From, ans.Data)
	}
	if s := waitStatus(t, st, sid, store.StreamConnecting); s.MediaProvider != store.MediaRelay { // written behind the relay
		t.Errorf("media_provider %q, want relay", s.MediaProvider)
	}
	cand := "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"
	mustAck(t, view, "webrtc.candidate", sid, map[string]string{"candidate": cand})
	if got := r.leg(t, 0).candidates(); len(got) != 1 || got[0] != cand {
		t.Errorf("leg candidates %q, want the viewer's", got)
	}
	if code := errorCode(t, view.request("webrtc.candidate", sid, map[string]string{"candidate": refusedCandidate})); code != "bad_request" {
		t.Errorf("a candidate the relay refuses: %s, want bad_request", code)
	}
	if code := errorCode(t, cam.request("webrtc.answer", sid, sdpMsg{testSDP})); code != "forbidden" {
		t.Errorf("the camera's answer in a relayed session: %s, want forbidden", code)
	}
	mustAck(t, view, "stream.connected", sid, struct{}{})
	waitStatus(t, st, sid, store.StreamLive)

	// The camera's socket closing does not end the session: its publication counts.
	cam.close()
	deadline := time.Now().Add(10 * time.Second)
	for online, err := n.hub.Online(t.Context(), f.camera.ID); online || err != nil; online, err = n.hub.Online(t.Context(), f.camera.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("camera still online after 10 s (%v)", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the hub
	}
	n.svc.OnDisconnect(t.Context(), hub.Identity{UserID: f.acct.user.ID, DeviceID: f.camera.ID}, true)
	wantSession(t, st, sid, store.StreamLive, "")
	cam = dial(t, n, f.camera)

	r.leg(t, 0).Close() // the camera stopped publishing
	wantEnded(t, view, sid, signaling.ReasonRelayEnded)
	wantSession(t, st, sid, store.StreamEnded, signaling.ReasonRelayEnded)
	quiet(t, cam) // no stream.ended for the camera: it never knew the session
}

// TestRelayedFallbackBusy: in live mode auto, a second viewer is relayed while the
// first watches peer to peer; relayed sessions do not count against the camera's
// limit of p2p uploads, but a camera that does not publish gets the session peer to
// peer, which over that limit fails with busy.
func TestRelayedFallbackBusy(t *testing.T) {
	st := storetest.NewSQLite(t)
	r := &fakeRelay{publishing: map[string]bool{}}
	n := relayNode(t, st, r, func(c *signaling.StreamConfig) {
		c.MaxViewersPerCamera, c.PublishWait = 1, 200*time.Millisecond
	})
	f := newFamily(t, st)
	other := f.acct.device(t, store.RoleViewer)
	f.acct.link(t, f.camera, other)
	cam, view, view2 := dial(t, n, f.camera), dial(t, n, f.viewer), dial(t, n, other)

	first := liveSession(t, st, cam, view, f.camera)
	if s := wantSession(t, st, first, store.StreamLive, ""); s.MediaProvider != store.MediaP2P {
		t.Fatalf("first viewer's provider %q, want p2p", s.MediaProvider)
	}
	sid := requestStream(t, view2, f.camera).SessionID // not busy: relayed
	cam.expect("relay.publish")
	wantEnded(t, view2, sid, signaling.ReasonBusy) // no publication: p2p, over the limit
	if s := wantSession(t, st, sid, store.StreamFailed, signaling.ReasonBusy); s.MediaProvider != store.MediaRelay {
		t.Errorf("refused fallback left provider %q", s.MediaProvider)
	}
	quiet(t, cam)
}

// relayReplicas starts two replicas on st and a shared bus, each with its relay and
// its own WHIP URL (http://a.example, http://b.example).
// relayReplicas starts replica a with relay ra on busA and replica b with relay rb on
// busB, an endpoint of busA's network.
func relayReplicas(t *testing.T, st store.Store, ra, rb *fakeRelay, busA, busB hub.Bus) (a, b *node) {
	t.Helper()
	on := func(bus hub.Bus, r *fakeRelay, host string) *node {
		return startNode(t, st, nodeOptions{bus: bus, config: func(c *signaling.Config) {
			c.Relay, c.WHIPURL = r, "http://"+host+"/api/v1/whip"
		}})
	}
	return on(busA, ra, "a.example"), on(busB, rb, "b.example")
}

// publishOnA makes f's camera, in live mode relay, publish on replica a's relay ra
// (its publication's row names a's WHIP endpoint).
func publishOnA(t *testing.T, st store.Store, f family, ra *fakeRelay) {
	t.Helper()
	setLiveMode(t, st, f.camera, store.LiveModeRelay)
	id := "0190b6a0-0000-7000-8000-0000000000c1"
	pub, sub := "http://a.example/api/v1/whip/"+id, "http://a.example/api/v1/whep/"+f.camera.ID
	row := store.StreamSession{ID: id, OwnerUserID: f.acct.user.ID, CameraDeviceID: f.camera.ID, RequesterDeviceID: f.camera.ID,
		Status: store.StreamLive, MediaProvider: store.MediaRelay, MediaSessionID: &id, PublishEndpoint: &pub, SubscribeEndpoint: &sub}
	if err := st.CreateStreamSession(context.Background(), &row, 0); err != nil {
		t.Fatal(err)
	}
	ra.publish(f.camera.ID)
}

// watchRelayed opens a relayed session of f's camera for view, through its offer and
// the relay's answer, and returns its id.
func watchRelayed(t *testing.T, st store.Store, f family, view *peer) string {
	t.Helper()
	sid := requestStream(t, view, f.camera).SessionID
	if env := view.expect("stream.ready"); env.Session != sid || env.From != f.camera.ID {
		t.Fatalf("stream.ready session %q from %q", env.Session, env.From)
	}
	view.send("webrtc.offer", "", sid, sdpMsg{testSDP})
	ans := view.expect("webrtc.answer")
	if ans.Session != sid || ans.From != f.camera.ID || decode[sdpMsg](t, ans).SDP != relayAnswer {
		t.Fatalf("webrtc.answer session %q from %q: %s", ans.Session, ans.From, ans.Data)
	}
	if s := waitStatus(t, st, sid, store.StreamConnecting); s.MediaProvider != store.MediaRelay {
		t.Errorf("media_provider %q, want relay", s.MediaProvider)
	}
	return sid
}

// TestRelayedElsewhereServedThere: a camera publishing on replica a's relay is
// watched by a viewer of replica b through a's relay: b keeps the session, a serves
// its leg (the answer, the viewer's candidates) by node messages; the camera is
// not asked to publish again nor for a peer-to-peer stream. The viewer's end closes
// the leg on a; the leg ending on a ends the next session with relay_ended; a's relay
// refusing a leg is the offer's unavailable; a's service closing ends the sessions
// of the legs it served.
func TestRelayedElsewhereServedThere(t *testing.T) {
	st := storetest.NewSQLite(t)
	ra, rb := &fakeRelay{publishing: map[string]bool{}}, &fakeRelay{publishing: map[string]bool{}}
	net := hub.NewMemoryBus()
	a, b := relayReplicas(t, st, ra, rb, net, net.Peer())
	f := newFamily(t, st)
	publishOnA(t, st, f, ra)
	cam, view := dial(t, a, f.camera), dial(t, b, f.viewer)

	watch := func() string { return watchRelayed(t, st, f, view) }
	sid := watch()
	cand := "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"
	mustAck(t, view, "webrtc.candidate", sid, map[string]string{"candidate": cand})
	leg := ra.leg(t, 0)
	eventually(t, "the viewer's candidate on a's leg", func() bool {
		got := leg.candidates()
		return len(got) == 1 && got[0] == cand
	})
	mustAck(t, view, "stream.connected", sid, struct{}{})
	waitStatus(t, st, sid, store.StreamLive)
	mustAck(t, view, "stream.end", sid, struct{}{})
	select {
	case <-leg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer's end did not close its leg on a")
	}

	sid = watch()
	ra.leg(t, 1).Close() // the camera stopped publishing
	wantEnded(t, view, sid, signaling.ReasonRelayEnded)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonRelayEnded)

	// a's relay failing to answer is the offer's error, as a local leg's.
	ra.mu.Lock()
	ra.refuse = true
	ra.mu.Unlock()
	sid = requestStream(t, view, f.camera).SessionID
	view.expect("stream.ready")
	if code := errorCode(t, view.request("webrtc.offer", sid, sdpMsg{testSDP})); code != "unavailable" {
		t.Errorf("offer refused by a's relay: %s, want unavailable", code)
	}

	// a shutting down ends the legs it serves, and tells b.
	ra.mu.Lock()
	ra.refuse = false
	ra.mu.Unlock()
	sid = watch()
	a.svc.Close()
	wantEnded(t, view, sid, signaling.ReasonRelayEnded)
	rb.mu.Lock()
	if len(rb.legs) != 0 {
		t.Errorf("%d legs on b's relay, want none", len(rb.legs))
	}
	rb.mu.Unlock()
	quiet(t, cam) // neither relay.publish nor stream.requested
}

// TestRelayedElsewhereBusDown: a viewer's candidate for a leg served by another
// replica that the bus does not take is unavailable (the hub's failure: retry), not
// bad_request; once the bus is back the candidate reaches the leg. A candidate the
// relay there refuses is acked and dropped, as a lost message.
func TestRelayedElsewhereBusDown(t *testing.T) {
	st := storetest.NewSQLite(t)
	ra, rb := &fakeRelay{publishing: map[string]bool{}}, &fakeRelay{publishing: map[string]bool{}}
	net := hub.NewMemoryBus()
	busB := &faultyBus{Bus: net.Peer()}
	_, b := relayReplicas(t, st, ra, rb, net, busB)
	f := newFamily(t, st)
	publishOnA(t, st, f, ra)
	view := dial(t, b, f.viewer)
	sid := watchRelayed(t, st, f, view)

	cand := "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"
	busB.down.Store(true)
	if code := errorCode(t, view.request("webrtc.candidate", sid, map[string]string{"candidate": cand})); code != "unavailable" {
		t.Errorf("a candidate the bus did not take: %s, want unavailable", code)
	}
	busB.down.Store(false)
	mustAck(t, view, "webrtc.candidate", sid, map[string]string{"candidate": refusedCandidate})
	mustAck(t, view, "webrtc.candidate", sid, map[string]string{"candidate": cand})
	leg := ra.leg(t, 0)
	eventually(t, "the retried candidate on a's leg", func() bool {
		got := leg.candidates()
		return len(got) == 1 && got[0] == cand
	})
}

// TestRelayedElsewhereGone: a publication recorded on another replica that no
// replica holds (its replica died) is waited for PublishWait, then the session
// falls back to p2p as for a camera that does not publish.
func TestRelayedElsewhereGone(t *testing.T) {
	st := storetest.NewSQLite(t)
	r := &fakeRelay{publishing: map[string]bool{}}
	n := relayNode(t, st, r, func(c *signaling.StreamConfig) { c.PublishWait = 300 * time.Millisecond })
	f := newFamily(t, st)
	setLiveMode(t, st, f.camera, store.LiveModeRelay)
	id := "0190b6a0-0000-7000-8000-0000000000c2"
	pub, sub := "http://other.example/api/v1/whip/"+id, "http://other.example/api/v1/whep/"+f.camera.ID
	row := store.StreamSession{ID: id, OwnerUserID: f.acct.user.ID, CameraDeviceID: f.camera.ID, RequesterDeviceID: f.camera.ID,
		Status: store.StreamLive, MediaProvider: store.MediaRelay, MediaSessionID: &id, PublishEndpoint: &pub, SubscribeEndpoint: &sub}
	if err := st.CreateStreamSession(context.Background(), &row, 0); err != nil {
		t.Fatal(err)
	}
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	if env := cam.expect("stream.requested"); env.Session != sid { // no relay.publish first
		t.Fatalf("stream.requested for %q, want %q", env.Session, sid)
	}
	if s := wantSession(t, st, sid, store.StreamRequested, ""); s.MediaProvider != store.MediaP2P {
		t.Errorf("provider %q, want p2p", s.MediaProvider)
	}
}

// eventually waits until cond holds, for 10 s at most.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a fake
	}
}

// TestRelayedWokenCamera: an offline camera in live mode relay is woken by push;
// when it connects (to another replica than the viewer's), it is asked to publish
// there and the session stays relayed: the viewer gets stream.ready and its answer
// from that replica's relay; the camera never gets stream.requested.
func TestRelayedWokenCamera(t *testing.T) {
	st := storetest.NewSQLite(t)
	ra, rb := &fakeRelay{publishing: map[string]bool{}}, &fakeRelay{publishing: map[string]bool{}}
	waker := &recordingWaker{}
	net := hub.NewMemoryBus()
	on := func(bus hub.Bus, r *fakeRelay, host string) *node {
		return startNode(t, st, nodeOptions{bus: bus, config: func(c *signaling.Config) {
			c.Relay, c.WHIPURL, c.Waker = r, "http://"+host+"/api/v1/whip", waker
		}})
	}
	a, b := on(net, ra, "a.example"), on(net.Peer(), rb, "b.example")
	f := newFamily(t, st)
	setLiveMode(t, st, f.camera, store.LiveModeRelay)
	withPushToken(t, st, f.camera)
	view := dial(t, b, f.viewer)

	sid := requestStream(t, view, f.camera).SessionID
	if msg := decode[streamStatusMsg](t, view.expect("stream.status")); msg.Status != store.StreamWaking {
		t.Errorf("stream.status %q, want waking", msg.Status)
	}
	if s := wantSession(t, st, sid, store.StreamWaking, ""); s.MediaProvider != store.MediaRelay {
		t.Errorf("waking session's provider %q, want relay", s.MediaProvider)
	}
	if got := waker.calls(); len(got) != 1 || got[0] != f.camera.ID+" stream_request" {
		t.Errorf("wake-ups = %q, want one stream_request for the camera", got)
	}

	cam := dial(t, a, f.camera)
	pub := cam.expect("relay.publish")
	if got := decode[map[string]string](t, pub)["whip_url"]; got != "http://a.example/api/v1/whip" {
		t.Errorf("relay.publish whip_url %q, want a's", got)
	}
	ra.publish(f.camera.ID)
	if env := view.expect("stream.ready"); env.Session != sid {
		t.Fatalf("stream.ready for %q", env.Session)
	}
	view.send("webrtc.offer", "", sid, sdpMsg{testSDP})
	if ans := view.expect("webrtc.answer"); decode[sdpMsg](t, ans).SDP != relayAnswer {
		t.Fatalf("webrtc.answer %s, want the relay's", ans.Data)
	}
	if s := waitStatus(t, st, sid, store.StreamConnecting); s.MediaProvider != store.MediaRelay {
		t.Errorf("media_provider %q, want relay", s.MediaProvider)
	}
	ra.leg(t, 0)
	quiet(t, cam)
}

// TestRelayedOfflineCamera: a camera in live mode relay that is offline with no
// push token fails the session with camera_offline, as a p2p request would.
func TestRelayedOfflineCamera(t *testing.T) {
	st := storetest.NewSQLite(t)
	r := &fakeRelay{publishing: map[string]bool{}}
	n := relayNode(t, st, r, nil)
	f := newFamily(t, st)
	setLiveMode(t, st, f.camera, store.LiveModeRelay)
	view := dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	wantEnded(t, view, sid, signaling.ReasonCameraOffline)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonCameraOffline)
}
