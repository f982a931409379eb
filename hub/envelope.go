package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
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
// the data member (a slice of b, not a copy); a JSON null data is treated as absent.
func Decode(b []byte) (Envelope, error) {
	return decode(b, nil)
}

// decode is Decode with the message types known gives without allocating.
func decode(b []byte, known func([]byte) (string, bool)) (Envelope, error) {
	env, err := decodeEnvelope(b, known)
	if err != nil {
		return Envelope{}, err
	}
	if env.Type == "" {
		return Envelope{}, ErrMissingType
	}
	if len(env.ID) > MaxIDLength {
		return Envelope{}, ErrIDTooLong
	}
	return env, nil
}

var nullJSON = []byte("null")

// Encode returns the JSON text of env. Data, if set, must be valid JSON; it is copied
// as is.
func Encode(env Envelope) ([]byte, error) {
	if len(env.Data) > 0 && !json.Valid(env.Data) {
		return nil, fmt.Errorf("encode envelope %q: data is not valid JSON", env.Type)
	}
	n := len(`{"type":"","id":"","ref":"","session":"","from":"","data":}`) +
		len(env.Type) + len(env.ID) + len(env.Ref) + len(env.Session) + len(env.From) + len(env.Data)
	b := make([]byte, 0, n+16)
	b = append(b, `{"type":`...)
	b = appendString(b, env.Type)
	for _, f := range [...]struct{ name, v string }{
		{`,"id":`, env.ID}, {`,"ref":`, env.Ref}, {`,"session":`, env.Session}, {`,"from":`, env.From},
	} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	if len(env.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, env.Data...)
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json writes it without HTML
// escaping: control characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and
// U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
