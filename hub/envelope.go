package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxIDLength is the longest envelope id a client may send.
const MaxIDLength = 64

// Envelope is one WebSocket message: one JSON object per text frame.
//
// Type is required. ID is set by the client when it wants an answer (ack, error or
// pong) whose Ref carries that ID back. Session names the stream session of a
// live-view message. From is stamped by whoever relays a device's message (signaling);
// the hub itself never sets it. Data is the type-specific object.
type Envelope struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Ref     string          `json:"ref,omitempty"`
	Session string          `json:"session,omitempty"`
	From    string          `json:"from,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Errors of [Decode]. Each is a protocol violation (close code 4002).
var (
	ErrNotObject   = errors.New("envelope: not a JSON object")
	ErrMissingType = errors.New("envelope: missing type")
	ErrIDTooLong   = errors.New("envelope: id longer than 64 characters")
)

// Decode parses one envelope. It accepts exactly one JSON object (surrounding
// whitespace allowed, nothing after it), requires a non-empty string type, limits id
// to [MaxIDLength] characters and ignores unknown fields. Data keeps the raw bytes of
// the data member; a JSON null data is treated as absent.
func Decode(b []byte) (Envelope, error) {
	var env Envelope
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return Envelope{}, ErrNotObject
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("envelope: %w", err)
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

var nullJSON = []byte("null")

// Encode returns the JSON text of env. Data, if set, must be valid JSON; it is
// written compacted.
func Encode(env Envelope) ([]byte, error) {
	b, err := json.Marshal(&env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope %q: %w", env.Type, err)
	}
	return b, nil
}
