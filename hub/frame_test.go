package hub

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzBusFrame feeds arbitrary bytes to the decoder of the frames replicas exchange
// over the bus (Redis pub/sub in a cluster): nothing panics, and a frame it decodes
// encodes to one that decodes the same and encodes identically.
func FuzzBusFrame(f *testing.F) {
	f.Add(messageFrame("command", []byte(`{"type":"command","data":{"command_id":"c1"}}`)))
	f.Add(messageFrame("", nil))
	f.Add(controlFrame(control{Op: opReplace, Conn: "0190a0b0-0000-7000-8000-000000000001"}))
	f.Add(controlFrame(control{Op: opClose, Code: 4003, Reason: "device deleted"}))
	f.Add(controlFrame(control{Op: opCloseSession, Session: "s1", Code: 4003, Reason: "signed out", Node: "hub-a"}))
	for _, s := range []string{"", "m", "mtype", "x", "x{", "x[]", "xnull", `x{"code":1e400}`, "z\x00", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		first, err := decodeFrame(msg)
		if err != nil || first.kind == 0 {
			return
		}
		var enc []byte
		switch first.kind {
		case frameMessage:
			enc = messageFrame(first.typ, first.body)
		case frameControl:
			enc = controlFrame(first.ctl)
		default:
			t.Fatalf("decoded kind %q", first.kind)
		}
		again, err := decodeFrame(enc)
		if err != nil {
			t.Fatalf("%q re-encoded as %q does not decode: %v", msg, enc, err)
		}
		if first.kind == frameMessage && !bytes.Equal(first.body, again.body) ||
			first.typ != again.typ || first.ctl != again.ctl || first.kind != again.kind {
			t.Fatalf("%q: decoded %+v, after a round trip %+v", msg, first, again)
		}
		if first.kind == frameControl && !reflect.DeepEqual(controlFrame(again.ctl), enc) {
			t.Fatalf("%q: control encoding is not stable", msg)
		}
	})
}

func TestDecodeFrame(t *testing.T) {
	for name, tc := range map[string]struct {
		msg     string
		want    frame
		wantErr bool
	}{
		"message":         {msg: "mcommand\x00{\"type\":\"command\"}", want: frame{kind: frameMessage, typ: "command", body: []byte(`{"type":"command"}`)}},
		"message no type": {msg: "mcommand", wantErr: true},
		"control":         {msg: `x{"op":"close","code":4003,"reason":"bye"}`, want: frame{kind: frameControl, ctl: control{Op: opClose, Code: 4003, Reason: "bye"}}},
		"bad control":     {msg: `x{"op":`, wantErr: true},
		"empty":           {msg: ""},
		"unknown kind":    {msg: "q whatever a newer replica sends"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeFrame([]byte(tc.msg))
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decodeFrame(%q) = %+v, %v; want %+v, error %v", tc.msg, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
