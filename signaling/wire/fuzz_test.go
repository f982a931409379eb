package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/wire"
)

// fuzzNow is the clock of EventRequest.Validate in the fuzz target.
var fuzzNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// message is the data of one message type: a fresh value to decode into, its
// validator (nil: the hub only sends it), and its encoder (nil: encoding/json).
type message struct {
	new      func() any
	validate func(v any) error
	encode   func(v any) []byte
}

func noCheck[T any]() message {
	return message{new: func() any { return new(T) }}
}

func checked[T any](validate func(*T) error) message {
	return message{
		new:      func() any { return new(T) },
		validate: func(v any) error { return validate(v.(*T)) },
	}
}

// messages has every message type of the package, and the data of the acks.
var messages = map[string]message{
	wire.TypeDevice: noCheck[wire.DeviceChange](),

	wire.TypeCommandSend:   checked(func(r *wire.CommandRequest) error { return r.Validate() }),
	wire.TypeCommand:       noCheck[wire.CommandMessage](),
	wire.TypeCommandResult: checked(func(r *wire.CommandResult) error { return r.Validate() }),
	wire.TypeCommandStatus: noCheck[wire.CommandStatus](),

	wire.TypeStreamRequest:   checked(func(r *wire.StreamRequest) error { return r.Validate() }),
	"ack of stream.request":  noCheck[wire.StreamAck](),
	wire.TypeStreamRequested: noCheck[wire.StreamRequested](),
	wire.TypeStreamStatus:    noCheck[wire.StreamStatus](),
	wire.TypeStreamAccept:    checked(func(r *wire.StreamReason) error { return r.Validate() }),
	wire.TypeStreamDecline:   checked(func(r *wire.StreamReason) error { return r.Validate() }),
	wire.TypeStreamReady:     noCheck[struct{}](),
	wire.TypeOffer: checked(func(d *wire.SessionDescription) error {
		return d.Validate(wire.DefaultMaxSDPBytes)
	}),
	wire.TypeAnswer: checked(func(d *wire.SessionDescription) error {
		return d.Validate(wire.DefaultMaxSDPBytes)
	}),
	wire.TypeCandidate:       checked(func(c *wire.Candidate) error { return c.Validate() }),
	wire.TypeStreamConnected: noCheck[struct{}](),
	wire.TypeStreamEnd:       checked(func(r *wire.StreamReason) error { return r.Validate() }),
	wire.TypeStreamEnded:     checked(func(r *wire.StreamReason) error { return r.Validate() }),
	wire.TypeStreamResume:    noCheck[struct{}](),
	wire.TypeRelayPublish:    noCheck[wire.RelayPublish](),
	"ack of stream.end":      noCheck[wire.StreamStatus](),

	wire.TypeEventStart:   checked(func(r *wire.EventRequest) error { return r.Validate(fuzzNow) }),
	"ack of event.start":  noCheck[wire.EventAck](),
	wire.TypeEventEnd:     checked(func(r *wire.EventEnd) error { return r.Validate() }),
	wire.TypeEvent:        noCheck[wire.Event](),
	wire.TypeNotification: noCheck[wire.Notification](),
	wire.TypeArmingSet:    checked(func(r *wire.ArmingRequest) error { return r.Validate() }),
	wire.TypeArming:       noCheck[wire.Arming](),
	wire.TypeTelemetry: {
		new:      func() any { return new(wire.Telemetry) },
		validate: func(v any) error { return v.(*wire.Telemetry).Validate() },
		encode:   func(v any) []byte { return v.(*wire.Telemetry).Encode() },
	},
}

// FuzzValidators feeds the same data to the decoder and validator of every message
// type: nothing panics, every refusal is a bad_request *wire.Error, and data that is
// accepted encodes to a form that is accepted again and encodes the same
// (decode→encode→decode is stable).
func FuzzValidators(f *testing.F) {
	for _, seed := range []string{
		`{"target_device_id":"0190a0b0-0000-7000-8000-000000000001","command_type":"set_torch","payload":{"on":true}}`,
		`{"target_device_id":"0190a0b0-0000-7000-8000-000000000001","command_type":"siren","payload":{"on":true,"seconds":30},"ttl_seconds":60}`,
		`{"target_device_id":"0190a0b0-0000-7000-8000-000000000001","command_type":"set_motion","payload":{"enabled":true,"sensitivity":0.5}}`,
		`{"target_device_id":"0190a0b0-0000-7000-8000-000000000001","command_type":"app.custom","payload":{ "a" : [1, 2] }}`,
		`{"command_id":"0190a0b0-0000-7000-8000-000000000001","status":"failed","error":"unsupported"}`,
		`{"command_id":"0190a0b0-0000-7000-8000-000000000001","command_type":"snapshot","payload":{},"source_device_id":"x","created_at":"2026-03-01T10:15:30.123456Z","expires_at":"2026-03-01T10:17:30Z"}`,
		`{"camera_device_id":"0190a0b0-0000-7000-8000-000000000001"}`,
		`{"session_id":"s","ice_servers":[{"urls":["stun:stun.example.com"]}],"status":"waking"}`,
		`{"sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}`,
		`{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdp_mid":"0","sdp_mline_index":0}`,
		`{"candidate":""}`,
		`{"reason":"privacy_mode"}`,
		`{"title":" Motion at the door ","triggered_by":"motion","started_at":"2026-03-01T10:15:30+01:00"}`,
		`{"event_id":"0190a0b0-0000-7000-8000-000000000001"}`,
		`{"battery":87.5,"charging":true,"temperature_c":31,"network":"wifi","signal_dbm":-60}`,
		`{"id":"e","user_id":"u","device_id":"d","title":"t","triggered_by":"motion","status":"active","started_at":"2026-03-01T10:15:30Z","ended_at":null,"notified_at":null,"video_url":null,"created_at":"2026-03-01T10:15:30Z","updated_at":"2026-03-01T10:15:30Z"}`,
		`{"id":"n","event_id":"e","user_id":"u","sent_at":"2026-03-01T10:15:30Z","channel":"in_app","status":"sent","is_read":false}`,
		`{"sdp":1}`, `[]`, `null`, `{"reason":"\xff"}`, `{"payload":null}`, ``, ` `, `{"a":1}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for typ, m := range messages {
			checkMessage(t, typ, m, data)
		}
	})
}

func checkMessage(t *testing.T, typ string, m message, data []byte) {
	v := m.new()
	if err := wire.DecodeData(data, v); err != nil {
		mustBadRequest(t, typ, "decode", err)
		return
	}
	if m.validate != nil {
		if err := m.validate(v); err != nil {
			mustBadRequest(t, typ, "validate", err)
			return
		}
	}
	first := encode(t, typ, m, v)
	again := m.new()
	if err := wire.DecodeData(first, again); err != nil {
		t.Fatalf("%s: %s does not decode again: %v", typ, first, err)
	}
	if m.validate != nil {
		if err := m.validate(again); err != nil {
			t.Fatalf("%s: %s is refused once encoded: %v", typ, first, err)
		}
	}
	if second := encode(t, typ, m, again); !bytes.Equal(first, second) {
		t.Fatalf("%s: encoding is not stable:\n%s\n%s", typ, first, second)
	}
}

func encode(t *testing.T, typ string, m message, v any) []byte {
	if m.encode != nil {
		return m.encode(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: encode %+v: %v", typ, v, err)
	}
	return b
}

func mustBadRequest(t *testing.T, typ, step string, err error) {
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeBadRequest || we.Message == "" {
		t.Fatalf("%s: %s: error %v (%T) is not a bad_request *wire.Error", typ, step, err, err)
	}
}

// TestFuzzCoversEveryType keeps FuzzValidators complete: every Type constant of the
// package has its entry.
func TestFuzzCoversEveryType(t *testing.T) {
	for _, typ := range wire.TypeConstants(t) {
		if _, ok := messages[typ]; !ok {
			t.Errorf("FuzzValidators has no entry for %q", typ)
		}
	}
}
