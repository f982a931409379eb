package signaling_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/securecam/securecam/signaling"
)

// FuzzStreamValidators feeds arbitrary data to the live-view message validators: no
// panic, and what they accept survives an encode and decode unchanged.
func FuzzStreamValidators(f *testing.F) {
	for _, seed := range []string{
		`{"camera_device_id":"0190a0b0-0000-7000-8000-000000000001"}`,
		`{"sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}`,
		`{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdp_mid":"0","sdp_mline_index":0}`,
		`{"candidate":""}`,
		`{"reason":"privacy_mode"}`,
		`{"sdp":1}`, `[]`, `null`, `{"reason":"\xff"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(v any, validate func() error) {
			if json.Unmarshal(data, v) != nil || validate() != nil {
				return
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encode %T: %v", v, err)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := json.Unmarshal(b, again); err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("%T %s: round trip gives %+v (%v)", v, b, again, err)
			}
		}
		var req signaling.StreamRequest
		check(&req, func() error { return req.Validate() })
		var desc signaling.SessionDescription
		check(&desc, func() error { return desc.Validate(signaling.DefaultMaxSDPBytes) })
		var cand signaling.Candidate
		check(&cand, func() error { return cand.Validate() })
		var reason signaling.StreamReason
		check(&reason, func() error { return reason.Validate() })
	})
}
