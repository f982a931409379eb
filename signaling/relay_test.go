package signaling_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// Candidates are relayed from a cached session, and the cache never outlives a close
// on the same replica: the next candidate is refused at once.
func TestCandidateRelayAfterClose(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	cam.expect("stream.requested")
	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")

	cand := map[string]string{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}
	for range 3 { // the first reads the session, the others find it cached
		mustAck(t, view, "webrtc.candidate", sid, cand)
		if got := cam.expect("webrtc.candidate"); got.Session != sid || got.From != f.viewer.ID {
			t.Fatalf("relayed candidate session %q from %q", got.Session, got.From)
		}
	}
	mustAck(t, cam, "webrtc.candidate", sid, cand)
	view.expect("webrtc.candidate")

	mustAck(t, cam, "stream.end", sid, struct{}{})
	wantEnded(t, view, sid, signaling.ReasonHangup)
	wantSession(t, st, sid, store.StreamFailed, signaling.ReasonHangup)
	for _, p := range []*peer{view, cam} {
		if code := errorCode(t, p.request("webrtc.candidate", sid, cand)); code != wire.CodeConflict {
			t.Errorf("candidate after the close: code %q, want conflict", code)
		}
	}
	quiet(t, cam)
	quiet(t, view)
}

// A candidate is relayed with its data as encoding/json writes the candidate: data in
// that form as it arrived (the hub does not decode and encode it again), any other form
// (member order, unknown members, escapes, case of names) normalized; an invalid one is
// refused either way.
func TestCandidateDataRelayedInOneForm(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	sid := requestStream(t, view, f.camera).SessionID
	cam.expect("stream.requested")
	mustAck(t, cam, "stream.accept", sid, struct{}{})
	view.expect("stream.ready")
	mustAck(t, view, "webrtc.offer", sid, sdpMsg{testSDP})
	cam.expect("webrtc.offer")

	const line = "candidate:1 1 udp 1 127.0.0.1 9 typ host"
	for _, c := range []struct{ in, out string }{
		{`{"candidate":"` + line + `","sdp_mid":"0","sdp_mline_index":0}`, `{"candidate":"` + line + `","sdp_mid":"0","sdp_mline_index":0}`},
		{`{"candidate":""}`, `{"candidate":""}`},
		{`{"sdp_mline_index":1,"Candidate":"` + line + `","extra":[1],"SDP_MID":"v"}`, `{"candidate":"` + line + `","sdp_mid":"v","sdp_mline_index":1}`},
		{`{"candidate":"candidate:\u0078"}`, `{"candidate":"candidate:x"}`},
	} {
		mustAck(t, view, "webrtc.candidate", sid, json.RawMessage(c.in))
		if got := cam.expect("webrtc.candidate"); string(got.Data) != c.out {
			t.Errorf("%s relayed as %s, want %s", c.in, got.Data, c.out)
		}
	}
	for _, in := range []string{
		`{"candidate":"x"}`,
		`{"candidate":"candidate:x","sdp_mid":"` + strings.Repeat("m", 65) + `"}`,
		`{"candidate":"candidate:x","sdp_mline_index":65536}`,
	} {
		if code := errorCode(t, view.request("webrtc.candidate", sid, json.RawMessage(in))); code != wire.CodeBadRequest {
			t.Errorf("%s: code %q, want bad_request", in, code)
		}
	}
	quiet(t, cam)
}
