package wire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
)

// FuzzCanonicalCandidate: data CanonicalCandidate takes decodes with encoding/json to
// a Candidate that encodes back to the same bytes and validates the same way.
func FuzzCanonicalCandidate(f *testing.F) {
	for _, s := range []string{
		`{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}`,
		`{"candidate":""}`,
		`{"candidate":"candidate:x","sdp_mid":"0","sdp_mline_index":0}`,
		`{"candidate":"candidate:x","sdp_mline_index":65535}`,
		`{"candidate":"candidate:x","sdp_mline_index":65536}`,
		`{"candidate":"candidate:x","sdp_mline_index":01}`,
		`{"candidate":"candidate:x","sdp_mid":""}`,
		`{"candidate":"nope"}`,
		`{"candidate":"a<b"}`,
		`{"candidate":"a\u0041"}`,
		`{"candidate":"a","candidate":"b"}`,
		`{"Candidate":"candidate:x"}`,
		`{"candidate":"candidate:x"} `,
		`{"candidate":"candidate:` + strings.Repeat("x", wire.MaxCandidateBytes) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ok, err := wire.CanonicalCandidate(data)
		if !ok {
			if err != nil {
				t.Fatalf("not canonical, yet an error: %v", err)
			}
			return
		}
		var c wire.Candidate
		if uerr := json.Unmarshal(data, &c); uerr != nil {
			t.Fatalf("canonical %q does not decode: %v", data, uerr)
		}
		b, merr := json.Marshal(c)
		if merr != nil || !bytes.Equal(b, data) {
			t.Fatalf("canonical %q encodes back to %q (%v)", data, b, merr)
		}
		if verr := c.Validate(); (verr == nil) != (err == nil) || (err != nil && err.Error() != verr.Error()) {
			t.Fatalf("%q: CanonicalCandidate says %v, Validate %v", data, err, verr)
		}
	})
}

// TestCanonicalCandidate: what json.Marshal writes for a candidate is canonical; the
// same data written otherwise is not.
func TestCanonicalCandidate(t *testing.T) {
	mid, idx := "video", uint16(1)
	for _, c := range []wire.Candidate{
		{Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"},
		{},
		{Candidate: "candidate:x", SDPMid: &mid, SDPMLineIndex: &idx},
		{Candidate: "candidate:x", SDPMLineIndex: &idx},
	} {
		b, _ := json.Marshal(c)
		if ok, err := wire.CanonicalCandidate(b); !ok || err != nil {
			t.Errorf("%s: canonical %v, %v; want true, nil", b, ok, err)
		}
	}
	for _, s := range []string{
		`{ "candidate":"candidate:x"}`,
		`{"sdp_mid":"0","candidate":"candidate:x"}`,
		`{"candidate":"candidate:x","extra":1}`,
		`{"candidate":"candidate:\u0078"}`,
		`{"candidate":"candidate:é"}`,
	} {
		if ok, _ := wire.CanonicalCandidate([]byte(s)); ok {
			t.Errorf("%s: canonical, want not", s)
		}
	}
	if ok, err := wire.CanonicalCandidate([]byte(`{"candidate":"x"}`)); !ok || err == nil {
		t.Errorf(`{"candidate":"x"}: %v, %v; want canonical and invalid`, ok, err)
	}
}

// benchCandidate is the data of a 256-byte webrtc.candidate of `securecam bench route`.
var benchCandidate = []byte(`{"candidate":"candidate:1 17 ` + strings.Repeat("x", 180) + `"}`)

// BenchmarkCandidateDecodeEncode: the relay's path for data in any other form.
func BenchmarkCandidateDecodeEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var c wire.Candidate
		if err := wire.DecodeData(benchCandidate, &c); err != nil {
			b.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonicalCandidate: the relay's path for data in the form it writes.
func BenchmarkCanonicalCandidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := wire.CanonicalCandidate(benchCandidate); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
