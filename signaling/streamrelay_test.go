package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// connectingGate is a store whose transitions to connecting wait for release and
// are reported on written once made.
type connectingGate struct {
	store.Store
	release chan struct{}
	written chan error
}

func newConnectingGate(st store.Store) *connectingGate {
	return &connectingGate{Store: st, release: make(chan struct{}), written: make(chan error, 16)}
}

func (g *connectingGate) TransitionStream(ctx context.Context, id string, from []string, to, reason string, at time.Time) (store.StreamSession, error) {
	if to != store.StreamConnecting {
		return g.Store.TransitionStream(ctx, id, from, to, reason, at)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return store.StreamSession{}, ctx.Err()
	}
	s, err := g.Store.TransitionStream(ctx, id, from, to, reason, at)
	g.written <- err
	return s, err
}

// waitWritten waits for one transition to connecting to be written.
func (g *connectingGate) waitWritten(t *testing.T) {
	t.Helper()
	select {
	case err := <-g.written:
		if err != nil {
			t.Fatalf("transition to connecting: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session was not moved to connecting within 10 s")
	}
}

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
	cand := map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}
	view.send("webrtc.candidate", "", sid, cand)
	if got := cam.expect("webrtc.candidate"); got.Session != sid {
		t.Fatalf("candidate for session %q, want %q", got.Session, sid)
	}
	wantSession(t, st, sid, store.StreamAccepted, "")

	close(gate.release)
	gate.waitWritten(t)
	wantSession(t, st, sid, store.StreamConnecting, "")
}
