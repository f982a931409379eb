package signaling_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// storeGate is a store whose session changes to one status (to) wait for release,
// and which records the status of every change it makes, in order, and reports the
// reads of the session named in watch on reads.
type storeGate struct {
	store.Store
	to      string
	release chan struct{}
	written chan error

	mu      sync.Mutex
	changes []string // applied
	tried   []string // every transition, applied or not
	watch   string
	reads   chan struct{}
}

func newGate(st store.Store, to string) *storeGate {
	return &storeGate{Store: st, to: to, release: make(chan struct{}), written: make(chan error, 16), reads: make(chan struct{}, 16)}
}

func newConnectingGate(st store.Store) *storeGate { return newGate(st, store.StreamConnecting) }

func (g *storeGate) WriteStreams(ctx context.Context, ws []store.StreamWrite) ([]store.StreamWriteResult, error) {
	gated := false
	for _, w := range ws {
		gated = gated || (w.Create == nil && w.Transition.To == g.to)
	}
	if gated {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rs, err := g.Store.WriteStreams(ctx, ws)
	g.mu.Lock()
	for _, w := range ws {
		if w.Create == nil {
			g.tried = append(g.tried, w.Transition.To)
		}
	}
	for i, r := range rs {
		if r.Applied && ws[i].Create == nil {
			g.changes = append(g.changes, r.Session.Status)
		}
	}
	g.mu.Unlock()
	if gated {
		g.written <- err
	}
	return rs, err
}

func (g *storeGate) StreamSession(ctx context.Context, id string) (store.StreamSession, error) {
	g.mu.Lock()
	watched := id == g.watch
	g.mu.Unlock()
	s, err := g.Store.StreamSession(ctx, id)
	if watched {
		g.reads <- struct{}{}
	}
	return s, err
}

func (g *storeGate) watchReads(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.watch = id
}

func (g *storeGate) changed() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.changes...)
}

func (g *storeGate) triedAll() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.tried...)
}

// waitWritten waits for one gated change to be written.
func (g *storeGate) waitWritten(t *testing.T) {
	t.Helper()
	select {
	case err := <-g.written:
		if err != nil {
			t.Fatalf("transition to %s: %v", g.to, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the session was not moved to %s within 10 s", g.to)
	}
}

// waitStatus waits until the session is stored with status.
func waitStatus(t *testing.T, st store.Store, id, status string) store.StreamSession {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := st.StreamSession(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == status {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session is %s after 10 s, want %s", s.Status, status)
		}
		time.Sleep(10 * time.Millisecond) // polling the store, not synchronizing
	}
}

var testCandidate = map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}

// The move to connecting at the first offer is written behind the relay: while the
// write waits, the offer and the viewer's next messages (its candidates) reach the
// camera; the session is connecting once the write is made.
func TestConnectingIsWrittenBehindTheRelay(t *testing.T) {
	st := storetest.NewSQLite(t)
	gate := newConnectingGate(st)
	n := startNode(t, gate, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)

	mustAck(t, view, "webrtc.offer", sid, map[string]any{"sdp": testSDP})
	cam.expect("webrtc.offer")
	view.send("webrtc.candidate", "", sid, testCandidate)
	if got := cam.expect("webrtc.candidate"); got.Session != sid {
		t.Fatalf("candidate for session %q, want %q", got.Session, sid)
	}
	wantSession(t, st, sid, store.StreamAccepted, "")

	close(gate.release)
	gate.waitWritten(t)
	wantSession(t, st, sid, store.StreamConnecting, "")
}

// stream.connected is answered before live is written; live is written after the
// session's connecting, and sets started_at.
func TestConnectedIsWrittenBehindTheRelay(t *testing.T) {
	st := storetest.NewSQLite(t)
	gate := newGate(st, store.StreamLive)
	n := startNode(t, gate, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, cam, "webrtc.answer", sid, sdpMsg{testSDP})
	view.expect("webrtc.answer")
	mustAck(t, view, "stream.connected", sid, struct{}{})
	mustAck(t, cam, "stream.connected", sid, struct{}{})
	if s := waitStatus(t, st, sid, store.StreamConnecting); s.StartedAt != nil {
		t.Fatalf("started_at set before live: %+v", s)
	}

	close(gate.release)
	gate.waitWritten(t)
	if s := wantSession(t, st, sid, store.StreamLive, ""); s.StartedAt == nil {
		t.Fatalf("live without started_at: %+v", s)
	}
	want := []string{store.StreamAccepted, store.StreamConnecting, store.StreamLive}
	if got := gate.changed(); !equal(got, want) {
		t.Fatalf("changes written %v, want %v", got, want)
	}
	// The second stream.connected, while the first's live was queued, wrote nothing:
	// the end waits for what is queued behind the relay, then ends the live session.
	mustAck(t, view, "stream.end", sid, struct{}{})
	if got, want := gate.triedAll(), append(want, store.StreamEnded); !equal(got, want) {
		t.Fatalf("changes tried %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An end that comes after stream.connected waits for the changes written behind the
// relay: the session was live, so it ends as ended (not failed), with started_at. The
// end here is the REST twin, which reads the session from the store (a socket's
// stream.end reads it from the relay cache, also before the writes behind).
func TestEndAfterConnectedEndsALiveSession(t *testing.T) {
	st := storetest.NewSQLite(t)
	gate := newConnectingGate(st)
	n := startNode(t, gate, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, view, "stream.connected", sid, struct{}{}) // queued behind connecting

	gate.watchReads(sid)
	ended := make(chan store.StreamSession, 1)
	go func() {
		s, err := n.svc.EndStream(context.Background(), f.acct.user.ID, sid, "")
		if err != nil {
			t.Error(err)
		}
		ended <- s
	}()
	select {
	case <-gate.reads: // the end read the session: accepted, both changes still queued
	case <-time.After(10 * time.Second):
		t.Fatal("the end did not read its session within 10 s")
	}
	close(gate.release)
	wantEnded(t, cam, sid, signalingHangup)
	wantEnded(t, view, sid, signalingHangup)
	if s := <-ended; s.Status != store.StreamEnded {
		t.Fatalf("EndStream returned a session %s, want ended", s.Status)
	}
	if s := wantSession(t, st, sid, store.StreamEnded, signalingHangup); s.StartedAt == nil {
		t.Fatalf("ended without started_at: %+v", s)
	}
	// The end, which read the session accepted, closed it as the writes behind the
	// relay left it (live), at the first try.
	want := []string{store.StreamAccepted, store.StreamConnecting, store.StreamLive, store.StreamEnded}
	if got := gate.triedAll(); !equal(got, want) {
		t.Fatalf("changes tried %v, want %v", got, want)
	}
}

const signalingHangup = "hangup"

// A hub that drains while a live is being written behind the relay keeps the session
// for its parties to resume (it was live), instead of ending it as one being set up.
func TestDrainKeepsASessionWhoseLiveIsBeingWritten(t *testing.T) {
	st := storetest.NewSQLite(t)
	gate := newGate(st, store.StreamLive)
	n := startNode(t, gate, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, view, "stream.connected", sid, struct{}{})
	waitStatus(t, st, sid, store.StreamConnecting)

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- n.hub.Shutdown(ctx)
	}()
	close(gate.release)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	s := wantSession(t, st, sid, store.StreamLive, "")
	if s.CameraAwayAt == nil || s.RequesterAwayAt == nil {
		t.Fatalf("after the drain both parties should be away: %+v", s)
	}
}

// crashStore loses the session changes to live (the process died before writing
// them) and, once dead, every read of open sessions (the process is gone: it runs no
// disconnect handling).
type crashStore struct {
	store.Store
	dead atomic.Bool
	lost chan struct{}
}

func (c *crashStore) WriteStreams(ctx context.Context, ws []store.StreamWrite) ([]store.StreamWriteResult, error) {
	for _, w := range ws {
		if w.Create == nil && w.Transition.To == store.StreamLive {
			c.lost <- struct{}{}
			return nil, errors.New("crashed before the write")
		}
	}
	return c.Store.WriteStreams(ctx, ws)
}

func (c *crashStore) OpenStreamSessions(ctx context.Context, deviceID string) ([]store.StreamSession, error) {
	if c.dead.Load() {
		return nil, errors.New("crashed")
	}
	return c.Store.OpenStreamSessions(ctx, deviceID)
}

// A hub that crashes after answering stream.connected and before writing live leaves
// the session connecting; after the restart the parties' stream.resume says so, and
// the party whose peer is connected sends stream.connected again (live-view.md):
// the session is live.
func TestLiveLostInACrashComesBackWithResume(t *testing.T) {
	st := storetest.NewSQLite(t)
	crash := &crashStore{Store: st, lost: make(chan struct{}, 4)}
	old := startNode(t, crash, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, old, f.camera), dial(t, old, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, cam, "webrtc.answer", sid, sdpMsg{testSDP})
	view.expect("webrtc.answer")
	mustAck(t, view, "stream.connected", sid, struct{}{})
	select {
	case <-crash.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("live was not written within 10 s")
	}
	crash.dead.Store(true)
	old.stop()
	wantSession(t, st, sid, store.StreamConnecting, "")

	n := startNode(t, st, nodeOptions{})
	cam2, view2 := dial(t, n, f.camera), dial(t, n, f.viewer)
	for _, p := range []*peer{view2, cam2} {
		if ack := resume(t, p, sid); ack.Status != store.StreamConnecting {
			t.Fatalf("resume: %+v, want connecting", ack)
		}
	}
	mustAck(t, view2, "stream.connected", sid, struct{}{})
	waitStatus(t, st, sid, store.StreamLive)
}

// readCounter counts the reads of stream sessions.
type readCounter struct {
	store.Store
	reads atomic.Int64
}

func (r *readCounter) StreamSession(ctx context.Context, id string) (store.StreamSession, error) {
	r.reads.Add(1)
	return r.Store.StreamSession(ctx, id)
}

// The negotiation of a session accepted on this replica — offer, answer, candidates
// both ways, stream.connected — reads no session from the store.
func TestNegotiationReadsNoSession(t *testing.T) {
	st := storetest.NewSQLite(t)
	rc := &readCounter{Store: st}
	n := startNode(t, rc, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	before := rc.reads.Load()
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
	mustAck(t, cam, "webrtc.answer", sid, sdpMsg{testSDP})
	view.expect("webrtc.answer")
	mustAck(t, view, "webrtc.candidate", sid, testCandidate)
	cam.expect("webrtc.candidate")
	mustAck(t, cam, "webrtc.candidate", sid, testCandidate)
	view.expect("webrtc.candidate")
	mustAck(t, view, "stream.connected", sid, struct{}{})
	mustAck(t, cam, "stream.connected", sid, struct{}{})
	if got := rc.reads.Load() - before; got != 0 {
		t.Fatalf("%d reads of a session during its negotiation, want 0", got)
	}
	waitStatus(t, st, sid, store.StreamLive)
}

// The camera's stream.accept of a session requested on this replica reads no session
// from the store: the request left it in the relay cache.
func TestAcceptReadsNoSession(t *testing.T) {
	st := storetest.NewSQLite(t)
	rc := &readCounter{Store: st}
	n := startNode(t, rc, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	before := rc.reads.Load()
	sid := acceptedSession(t, cam, view, f.camera)
	if got := rc.reads.Load() - before; got != 0 {
		t.Fatalf("%d reads of a session from its request to stream.ready, want 0", got)
	}
	wantSession(t, st, sid, store.StreamAccepted, "")
}

// A session requested on the viewer's replica and accepted on the camera's: the
// viewer's replica, which has the session in its cache as requested, relays the
// offer (it reads the session, accepted, from the store).
func TestOfferRelayedOnTheRequestingReplica(t *testing.T) {
	st := storetest.NewSQLite(t)
	net := hub.NewMemoryBus()
	a := startNode(t, st, nodeOptions{bus: net})
	b := startNode(t, st, nodeOptions{bus: net.Peer()})
	f := newFamily(t, st)
	cam, view := dial(t, b, f.camera), dial(t, a, f.viewer)
	sid := acceptedSession(t, cam, view, f.camera)
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")
}

// stream.end of a session that got live on this replica reads no session from the
// store, and still closes it as it is stored: ended, since it was live.
func TestEndReadsNoSession(t *testing.T) {
	st := storetest.NewSQLite(t)
	rc := &readCounter{Store: st}
	n := startNode(t, rc, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := liveSession(t, st, cam, view, f.camera)
	before := rc.reads.Load()
	mustAck(t, view, "stream.end", sid, struct{}{})
	wantEnded(t, cam, sid, signalingHangup)
	if got := rc.reads.Load() - before; got != 0 {
		t.Fatalf("%d reads of a session for its stream.end, want 0", got)
	}
	wantSession(t, st, sid, store.StreamEnded, signalingHangup)
}
