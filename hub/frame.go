package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Frames on the bus: 'm' type 0x00 envelope — deliver to the device of the key;
// 'x' JSON control — act on the device of the key, or on all devices (broadcast).
const (
	frameMessage = 'm'
	frameControl = 'x'
)

const (
	opReplace      = "replace"       // a newer connection Conn of the device exists
	opClose        = "close"         // close the device's socket with Code and Reason
	opCloseSession = "close_session" // close the sockets of Session (broadcast)
	opCloseUser    = "close_user"    // close the session sockets of User (broadcast)
	opNode         = "node"          // a node message Name with Data for the other replicas (broadcast)
	opSendUser     = "send_user"     // deliver the envelope Data of Type to User's devices but Except (broadcast)
)

type control struct {
	Op      string `json:"op"`
	Conn    string `json:"conn,omitempty"`
	Session string `json:"session,omitempty"`
	User    string `json:"user,omitempty"`
	Code    int    `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Node    string `json:"node,omitempty"`
	Name    string `json:"name,omitempty"`
	Data    string `json:"data,omitempty"`   // a node message's data, as given; send_user's envelope
	Type    string `json:"type,omitempty"`   // send_user's envelope type
	Except  string `json:"except,omitempty"` // the device send_user skips
}

// frame is a decoded bus frame: a message (typ, and the encoded envelope in body) or
// a control. kind is 0 for an empty frame or one of a kind this replica does not
// know (a newer replica's): the receiver ignores it.
type frame struct {
	kind byte
	typ  string
	body []byte
	ctl  control
}

// messageFrame is the frame of an encoded envelope b of type typ.
func messageFrame(typ string, b []byte) []byte {
	f := make([]byte, 0, 2+len(typ)+len(b))
	f = append(f, frameMessage)
	f = append(f, typ...)
	f = append(f, 0)
	return append(f, b...)
}

// controlFrame is the frame of m.
func controlFrame(m control) []byte {
	b, _ := json.Marshal(m) // strings and ints: cannot fail
	return append([]byte{frameControl}, b...)
}

// decodeFrame parses a frame from the bus. A message's body aliases msg.
func decodeFrame(msg []byte) (frame, error) {
	if len(msg) == 0 {
		return frame{}, nil
	}
	switch msg[0] {
	case frameMessage:
		typ, body, ok := bytes.Cut(msg[1:], []byte{0})
		if !ok {
			return frame{}, errors.New("bus frame: message without a type")
		}
		return frame{kind: frameMessage, typ: string(typ), body: body}, nil
	case frameControl:
		var m control
		if err := json.Unmarshal(msg[1:], &m); err != nil {
			return frame{}, fmt.Errorf("bus frame: control: %w", err)
		}
		return frame{kind: frameControl, ctl: m}, nil
	}
	return frame{}, nil
}
