package hub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// reference is what Decode did before the one-pass decoder: encoding/json.
func reference(b []byte) (Envelope, error) {
	var env Envelope
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return Envelope{}, ErrNotObject
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, err
	}
	if env.Type == "" {
		return Envelope{}, ErrMissingType
	}
	if len(env.ID) > MaxIDLength {
		return Envelope{}, ErrIDTooLong
	}
	if bytes.Equal(env.Data, nullJSON) {
		env.Data = nil
	}
	return env, nil
}

// agree fails unless Decode accepts in exactly when encoding/json does, with the same
// envelope.
func agree(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := reference(in)
	got, err := Decode(in)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Decode(%q): err = %v, encoding/json: %v", in, err, wantErr)
	}
	if err != nil {
		return
	}
	if len(got.Data) == 0 {
		got.Data = nil
	}
	if len(want.Data) == 0 {
		want.Data = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %+v, encoding/json = %+v", in, got, want)
	}
}

var decodeCases = []string{
	`{"type":"webrtc.offer","id":"m-17","session":"s1","data":{"sdp":"v=0"}}`,
	`{"type":"ping"}`, ` {"type":"ping"} `, "\t\r\n{\"type\":\"ping\"}\n", `{}`, `{ }`, `{"type":""}`,
	`{"type":"x","data":null}`, `{"type":"x","data":[1,"<&>",{"a":null},true,false,-0.5e+3]}`,
	`{"type":"x","data":"str"}`, `{"type":"x","data":5}`, `{"type":"x","data":{}}`, `{"type":"x","data":[]}`,
	`{"type":"\u00e9","from":"a","ref":"b"}`, `{"TYPE":"x"}`, `{"Type":"x","tYpE":"y"}`, `{"typ\u0065":"x"}`,
	`{"ſession":"s","type":"x"}`, `{"type":"x","\u017fession":"s"}`, `{"type":"x","Data":{"a":1}}`,
	`{"type":"x","type":null}`, `{"type":"x","id":null}`, `{"type":null}`, `{"type":5}`, `{"type":"x","id":5}`,
	`{"type":"x","id":{}}`, `{"type":"x","id":[]}`, `{"type":"x","id":true}`,
	`{"type":"x","data":{"a":1},"data":{"b":2}}`, `{"type":"x","data":{"a":1},"data":null}`,
	`{"type":"a\"b\\c\/d\b\f\n\r\t\u0041\ud83d\ude00"}`, `{"type":"\ud800"}`, `{"type":"\udc00x"}`,
	"{\"type\":\"\xff\"}", "{\"type\":\"x\",\"data\":\"\xc3\x28\"}", "{\"type\":\"x\x01\"}",
	`{"type":"x","extra":{"a":[1,2,{"b":[]}]},"v":2}`, `{"type":"x","n":0}`, `{"type":"x","n":-0}`,
	`{"type":"x","n":01}`, `{"type":"x","n":1.}`, `{"type":"x","n":.5}`, `{"type":"x","n":1e}`, `{"type":"x","n":+1}`,
	`{"type":"x","n":1E-7}`, `{"type":"x","n":-}`, `{"type":"x","n":tru}`, `{"type":"x","n":nul}`, `{"type":"x","n":True}`,
	`null`, `[]`, `"x"`, ``, ` `, `{`, `{"type"`, `{"type":`, `{"type":"x"`, `{"type":"x",}`, `{,"type":"x"}`,
	`{"type":"x"}{"type":"y"}`, `{"type":"x"} x`, `{type: x}`, `{'type':'x'}`, `{"type":"x","data":{"a":`,
	`{"type":"x" "id":"y"}`, `{"type" "x"}`, `{"type":"x","data":[1,]}`, `{"type":"x","data":[,1]}`,
	`{"type":"x","data":{"a" 1}}`, `{"type":"\x"}`, `{"type":"\u12"}`, `{"type":"\u12G4"}`, `{"type":"x"` + "\x00" + `}`,
	`{"type":"x","id":"` + strings.Repeat("a", 64) + `"}`, `{"type":"x","id":"` + strings.Repeat("a", 65) + `"}`,
	`{"type":"x","data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"type":"x","data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"type":"x","data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"type":"x","other":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat("}", 10000) + `}`,
}

// The one-pass decoder agrees with encoding/json on each case: what it accepts, what it
// rejects, and what it decodes.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		agree(t, []byte(c))
	}
}

func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range decodeCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) { agree(t, in) })
}

// The types a hub handles decode without allocating a string for them.
func TestDecodeKnownTypeAllocatesNothingForTheType(t *testing.T) {
	known := map[string]string{"webrtc.candidate": "webrtc.candidate"}
	lookup := func(b []byte) (string, bool) { s, ok := known[string(b)]; return s, ok }
	in := []byte(`{"type":"webrtc.candidate","data":{"candidate":"c"}}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := decode(in, lookup); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per decode, want 0", n)
	}
}

// BenchmarkDecodeEncodingJSON is the decode Decode replaced, for comparison in one run.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEnvelopeIn)))
	for b.Loop() {
		if _, err := reference(benchEnvelopeIn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeKnownType is the hub's decode of a type it handles.
func BenchmarkDecodeKnownType(b *testing.B) {
	known := map[string]string{"webrtc.candidate": "webrtc.candidate"}
	lookup := func(b []byte) (string, bool) { s, ok := known[string(b)]; return s, ok }
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEnvelopeIn)))
	for b.Loop() {
		if _, err := decode(benchEnvelopeIn, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEnvelopeIn is hub_test's benchEnvelope (that package's variables are not visible here).
var benchEnvelopeIn = []byte(`{"type":"webrtc.candidate","id":"m-1234","session":"01890a5d-ac96-774b-bcce-b302099a8057","data":{"candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 56143 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdp_mid":"0","sdp_mline_index":0}}`)
