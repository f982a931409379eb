package relay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/relay"
)

// wait is the generous bound of every wait: these tests run on a loaded
// two-core machine; they assert that things arrive, never how fast.
const wait = 30 * time.Second

// direct is a Signaler that hands a peer's offer straight to the relay (what
// the WHIP and WHEP handlers do over HTTP) and its candidates as fragments.
type direct struct {
	r         *relay.Relay
	camera    string
	principal string // "" publishes

	mu      sync.Mutex
	sess    *relay.Session
	answer  string
	pending []webrtc.ICECandidateInit
}

func (d *direct) SendDescription(ctx context.Context, desc webrtc.SessionDescription) error {
	var (
		s   *relay.Session
		ans string
		err error
	)
	if d.principal == "" {
		s, ans, err = d.r.Publish(ctx, d.camera, desc.SDP)
	} else {
		s, ans, err = d.r.Subscribe(ctx, d.camera, d.principal, desc.SDP)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.sess, d.answer = s, ans
	d.mu.Unlock()
	return nil
}

func (d *direct) SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	if c.Candidate == "" {
		return nil
	}
	d.mu.Lock()
	s := d.sess
	d.mu.Unlock()
	if s == nil {
		return errors.New("candidate before the session")
	}
	_, err := s.Trickle(ctx, "a="+c.Candidate+"\r\n")
	return err
}

func (d *direct) session() (*relay.Session, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess, d.answer
}

func newRelay(t *testing.T) *relay.Relay {
	t.Helper()
	r, err := relay.New(relay.Config{SettingEngine: media.LoopbackSettingEngine()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// publish connects a pion camera publishing to r as camera.
func publish(t *testing.T, r *relay.Relay, camera string) (*media.Camera, *relay.Session) {
	t.Helper()
	sig := &direct{r: r, camera: camera}
	cam, err := media.NewCamera(media.CameraConfig{Config: media.Config{Signaler: sig, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cam.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	s, ans := sig.session()
	if err := cam.HandleAnswer(ans); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitReady(ctx, camera); err != nil {
		t.Fatalf("publication not ready: %v", err)
	}
	return cam, s
}

// watch connects a pion viewer to camera's publication.
func watch(t *testing.T, r *relay.Relay, camera, principal string) (*media.Viewer, *relay.Session) {
	t.Helper()
	sig := &direct{r: r, camera: camera, principal: principal}
	v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: sig, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := v.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	s, ans := sig.session()
	if err := v.HandleAnswer(ans); err != nil {
		t.Fatal(err)
	}
	return v, s
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s: did not happen within %s", what, wait)
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// growing waits until the viewer received more packets than it had.
func growing(t *testing.T, v *media.Viewer, what string) {
	t.Helper()
	n := v.Stats().Packets
	eventually(t, what, func() bool { return v.Stats().Packets > n+10 })
}

func TestFiveViewersOneUpload(t *testing.T) {
	r := newRelay(t)
	cam, _ := publish(t, r, "cam1")
	var viewers []*media.Viewer
	for i := range 5 {
		v, _ := watch(t, r, "cam1", fmt.Sprintf("viewer%d", i))
		viewers = append(viewers, v)
	}
	for i, v := range viewers {
		waitFor(t, fmt.Sprintf("viewer %d first frame", i), v.FirstFrame())
		growing(t, v, fmt.Sprintf("viewer %d receiving", i))
	}
	if n := r.Viewers("cam1"); n != 5 {
		t.Fatalf("relay counts %d viewers, want 5", n)
	}
	// The camera uploads one stream, whatever the number of viewers: one
	// sender, and over the same stretch of time the five viewers together
	// received several times the bytes the camera's transport sent (the
	// relay multiplied the stream; the camera did not).
	if up := cam.Upload(); up.Streams != 1 {
		t.Fatalf("camera has %d streams, want 1", up.Streams)
	}
	received := func() uint64 {
		var n uint64
		for _, v := range viewers {
			n += v.Stats().Bytes
		}
		return n
	}
	sent0, got0 := cam.Upload().Bytes, received()
	eventually(t, "camera sending more", func() bool { return cam.Upload().Bytes > sent0+100_000 })
	sent, got := cam.Upload().Bytes-sent0, received()-got0
	if got < 3*sent {
		t.Fatalf("camera sent %d bytes, five viewers received %d bytes of video in all", sent, got)
	}
	t.Logf("camera sent %d bytes, five viewers received %d bytes of video", sent, got)
}

func TestLateJoinerGetsKeyframe(t *testing.T) {
	r := newRelay(t)
	cam, _ := publish(t, r, "cam1")
	first, _ := watch(t, r, "cam1", "v1")
	waitFor(t, "first viewer's frame", first.FirstFrame())
	before := cam.Stats().KeyframeRequests
	late, _ := watch(t, r, "cam1", "v2")
	// The join itself asks the camera for a keyframe, so the late joiner
	// decodes a picture without waiting for the camera's next periodic one.
	eventually(t, "keyframe request on join", func() bool { return cam.Stats().KeyframeRequests > before })
	waitFor(t, "late joiner's first frame", late.FirstFrame())
}

func TestStalledSubscriberDoesNotSlowOthers(t *testing.T) {
	r := newRelay(t)
	publish(t, r, "cam1")
	// A local feed that is never read: its queue fills, then it drops.
	stalled, err := r.Attach("cam1", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stalled.Close)
	// A viewer whose peer stops reading: it is closed without telling the
	// relay, so its leg sends into the void.
	gone, _ := watch(t, r, "cam1", "gone")
	waitFor(t, "gone viewer's frame", gone.FirstFrame())
	v, _ := watch(t, r, "cam1", "ok")
	waitFor(t, "viewer's first frame", v.FirstFrame())
	_ = gone.Close()
	eventually(t, "the stalled feed dropping", func() bool { return stalled.Dropped() > 0 })
	growing(t, v, "healthy viewer keeps receiving")
	growing(t, v, "healthy viewer still receiving")
}

func TestCloseOneViewer(t *testing.T) {
	r := newRelay(t)
	publish(t, r, "cam1")
	a, sa := watch(t, r, "cam1", "alice-phone")
	b, _ := watch(t, r, "cam1", "bob-phone")
	waitFor(t, "a first frame", a.FirstFrame())
	waitFor(t, "b first frame", b.FirstFrame())
	if n := r.CloseViewers("cam1", "alice-phone"); n != 1 {
		t.Fatalf("closed %d viewers, want 1", n)
	}
	waitFor(t, "revoked session done", sa.Done())
	if _, err := r.Session(sa.ID()); !errors.Is(err, relay.ErrNoSession) {
		t.Fatalf("revoked session still there: %v", err)
	}
	growing(t, b, "other viewer keeps receiving")
	if n := r.Viewers("cam1"); n != 1 {
		t.Fatalf("%d viewers left, want 1", n)
	}
}

func TestCameraLeavingEndsViewers(t *testing.T) {
	r := newRelay(t)
	cam, pub := publish(t, r, "cam1")
	feed, err := r.Attach("cam1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var sessions []*relay.Session
	for i := range 3 {
		v, s := watch(t, r, "cam1", fmt.Sprintf("v%d", i))
		waitFor(t, "first frame", v.FirstFrame())
		sessions = append(sessions, s)
	}
	_ = cam.Close() // the camera hangs up: its leg closes
	waitFor(t, "publication done", pub.Done())
	for i, s := range sessions {
		waitFor(t, fmt.Sprintf("viewer %d ended", i), s.Done())
	}
	drained := make(chan struct{})
	go func() {
		for range feed.Packets() {
		}
		close(drained)
	}()
	waitFor(t, "feed closed", drained)
	if r.Publishing("cam1") || r.Viewers("cam1") != 0 {
		t.Fatal("publication or viewers left behind")
	}
	if _, _, err := r.Subscribe(context.Background(), "cam1", "late", offerSDP(t)); !errors.Is(err, relay.ErrNotPublishing) {
		t.Fatalf("subscribe after the camera left: %v, want ErrNotPublishing", err)
	}
}

func TestFeedReceivesTracks(t *testing.T) {
	r := newRelay(t)
	publish(t, r, "cam1")
	feed, err := r.Attach("cam1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	select {
	case p := <-feed.Packets():
		if p.Track.Codec.MimeType != webrtc.MimeTypeVP8 || p.Track.Codec.ClockRate != 90000 || p.RTP == nil {
			t.Fatalf("feed packet: %+v", p.Track)
		}
	case <-time.After(wait):
		t.Fatal("no packet on the feed")
	}
}

// offerSDP is a viewer's recvonly offer.
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// TestRepublishReplaces: a camera publishing again replaces its publication;
// the old one's viewers end, new viewers get the new one.
func TestRepublishReplaces(t *testing.T) {
	r := newRelay(t)
	_, first := publish(t, r, "cam1")
	old, oldSess := watch(t, r, "cam1", "v1")
	waitFor(t, "first frame", old.FirstFrame())
	_, second := publish(t, r, "cam1")
	waitFor(t, "old publication done", first.Done())
	waitFor(t, "its viewer done", oldSess.Done())
	if s, err := r.Session(second.ID()); err != nil || s != second {
		t.Fatalf("new publication: %v", err)
	}
	v, _ := watch(t, r, "cam1", "v2")
	waitFor(t, "viewer of the new publication", v.FirstFrame())
}

// TestUnconnectedViewerIsClosed: a viewer that got its answer and never
// connects (it went away) does not stay.
func TestUnconnectedViewerIsClosed(t *testing.T) {
	r, err := relay.New(relay.Config{SettingEngine: media.LoopbackSettingEngine(), ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	publish(t, r, "cam1")
	s, _, err := r.Subscribe(context.Background(), "cam1", "ghost", offerSDP(t))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unconnected viewer closed", s.Done())
	if n := r.Viewers("cam1"); n != 0 {
		t.Fatalf("%d viewers left", n)
	}
}
