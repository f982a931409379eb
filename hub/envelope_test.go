package hub_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/securecam/securecam/hub"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    hub.Envelope
		wantErr error // nil: success; errAny: any error
	}{
		{"full", `{"type":"webrtc.offer","id":"m-17","session":"s1","data":{"sdp":"v=0"}}`,
			hub.Envelope{Type: "webrtc.offer", ID: "m-17", Session: "s1", Data: json.RawMessage(`{"sdp":"v=0"}`)}, nil},
		{"minimal", `{"type":"ping"}`, hub.Envelope{Type: "ping"}, nil},
		{"whitespace around", " \n{\"type\":\"ping\"}\t\n", hub.Envelope{Type: "ping"}, nil},
		{"unknown fields ignored", `{"type":"ping","extra":{"a":[1,2]},"v":2}`, hub.Envelope{Type: "ping"}, nil},
		{"null data is absent", `{"type":"ping","data":null}`, hub.Envelope{Type: "ping"}, nil},
		{"from and ref kept", `{"type":"x","from":"d","ref":"r"}`, hub.Envelope{Type: "x", From: "d", Ref: "r"}, nil},
		{"id of 64", `{"type":"x","id":"` + strings.Repeat("a", 64) + `"}`, hub.Envelope{Type: "x", ID: strings.Repeat("a", 64)}, nil},
		{"id of 65", `{"type":"x","id":"` + strings.Repeat("a", 65) + `"}`, hub.Envelope{}, hub.ErrIDTooLong},
		{"no type", `{"id":"1"}`, hub.Envelope{}, hub.ErrMissingType},
		{"empty type", `{"type":""}`, hub.Envelope{}, hub.ErrMissingType},
		{"null", `null`, hub.Envelope{}, hub.ErrNotObject},
		{"array", `[{"type":"x"}]`, hub.Envelope{}, hub.ErrNotObject},
		{"string", `"x"`, hub.Envelope{}, hub.ErrNotObject},
		{"empty", ``, hub.Envelope{}, hub.ErrNotObject},
		{"not JSON", `{type: x}`, hub.Envelope{}, errAny},
		{"trailing data", `{"type":"x"}{"type":"y"}`, hub.Envelope{}, errAny},
		{"trailing garbage", `{"type":"x"} x`, hub.Envelope{}, errAny},
		{"type not a string", `{"type":5}`, hub.Envelope{}, errAny},
		{"id not a string", `{"type":"x","id":5}`, hub.Envelope{}, errAny},
		{"truncated", `{"type":"x","data":{"a":`, hub.Envelope{}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hub.Decode([]byte(tt.in))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Decode error = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestEncode(t *testing.T) {
	b, err := hub.Encode(hub.Envelope{Type: "ack", Ref: "m-1", Data: json.RawMessage(`{"command_id":"c1"}`)})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if want := `{"type":"ack","ref":"m-1","data":{"command_id":"c1"}}`; string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}
	if _, err := hub.Encode(hub.Envelope{Type: "x", Data: json.RawMessage(`{bad`)}); err == nil {
		t.Fatal("Encode with invalid data succeeded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"webrtc.offer","id":"m-17","session":"s1","data":{"sdp":"v=0\r\n"}}`,
		`{"type":"ping"}`, `{"type":"x","data":null}`, `{"type":"x","data":[1,"<&>"]}`,
		`{"type":"\u00e9","from":"a","ref":"b"}`, `null`, `[]`, `{"type":"x"} `, `{"TYPE":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := hub.Decode(in)
		if err != nil {
			return
		}
		b1, err := hub.Encode(env)
		if err != nil {
			t.Fatalf("Encode of a decoded envelope: %v", err)
		}
		env2, err := hub.Decode(b1)
		if err != nil {
			t.Fatalf("Decode of %s: %v", b1, err)
		}
		b2, err := hub.Encode(env2)
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("unstable: %s then %s", b1, b2)
		}
		env.Data, env2.Data = nil, nil
		if !reflect.DeepEqual(env, env2) {
			t.Fatalf("fields changed: %+v then %+v", env, env2)
		}
	})
}

// FuzzEncodeStrings checks Encode writes strings exactly as encoding/json does
// (without HTML escaping).
func FuzzEncodeStrings(f *testing.F) {
	for _, s := range []string{"ping", "a\"b\\c", "\x00\x1f\n\r\t", "é\u2028\u2029", "\xff\xfe", "<&>"} {
		f.Add(s, "id")
	}
	f.Fuzz(func(t *testing.T, typ, id string) {
		env := hub.Envelope{Type: typ, ID: id, Session: typ + id}
		got, err := hub.Encode(env)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&env); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("Encode = %s, encoding/json = %s", got, want)
		}
	})
}

var benchEnvelope = []byte(`{"type":"webrtc.candidate","id":"m-1234","session":"01890a5d-ac96-774b-bcce-b302099a8057","data":{"candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 56143 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdp_mid":"0","sdp_mline_index":0}}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEnvelope)))
	for b.Loop() {
		if _, err := hub.Decode(benchEnvelope); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	env, err := hub.Decode(benchEnvelope)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEnvelope)))
	for b.Loop() {
		if _, err := hub.Encode(env); err != nil {
			b.Fatal(err)
		}
	}
}
