package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// decodeEnvelope reads an envelope in one pass over b: the routing fields are taken
// as they are scanned, data is validated and kept as the bytes of b (no copy), every
// other member is validated and skipped. It accepts and rejects exactly what
// encoding/json.Unmarshal into Envelope does (member names match case-insensitively,
// the last of duplicate members wins, a null string member is ignored); the rare
// strings with escapes or non-ASCII bytes are unquoted by encoding/json itself.
// known, when not nil, returns the string of a type it knows without allocating it.
func decodeEnvelope(b []byte, known func([]byte) (string, bool)) (Envelope, error) {
	d := envDecoder{b: b, known: known}
	var env Envelope
	d.space()
	if !d.consume('{') {
		return Envelope{}, ErrNotObject
	}
	d.space()
	if !d.consume('}') {
		for {
			key, ok := d.str()
			if !ok {
				return Envelope{}, d.syntax()
			}
			d.space()
			if !d.consume(':') {
				return Envelope{}, d.syntax()
			}
			d.space()
			if err := d.member(&env, key); err != nil {
				return Envelope{}, err
			}
			d.space()
			if d.consume('}') {
				break
			}
			if !d.consume(',') {
				return Envelope{}, d.syntax()
			}
			d.space()
		}
	}
	d.space()
	if d.i != len(d.b) {
		return Envelope{}, d.syntax()
	}
	if d.typeErr != nil {
		return Envelope{}, d.typeErr
	}
	return env, nil
}

// maxDepth is encoding/json's nesting limit: the envelope is depth 1, and no value may
// pass depth maxDepth.
const maxDepth = 10000

type envDecoder struct {
	b       []byte
	i       int
	typeErr error // a member of the wrong type: reported after the syntax is checked
	known   func([]byte) (string, bool)
}

func (d *envDecoder) syntax() error {
	return fmt.Errorf("envelope: invalid JSON at offset %d", d.i)
}

func (d *envDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *envDecoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str scans a string at d.i and returns its raw bytes between the quotes.
func (d *envDecoder) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return nil, false
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if d.i+5 > len(d.b) {
					return nil, false
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !isHex(h) {
						return nil, false
					}
				}
				d.i += 5
			default:
				return nil, false
			}
		case c < 0x20:
			return nil, false
		default:
			d.i++
		}
	}
	return nil, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// plain reports whether the raw string s means its own bytes: no escape, ASCII only.
func plain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// text is the value of the raw string s (valid, as str returned it).
func text(s []byte) string {
	if plain(s) {
		return string(s)
	}
	var v string
	q := make([]byte, 0, len(s)+2)
	q = append(append(append(q, '"'), s...), '"')
	_ = json.Unmarshal(q, &v) // valid by construction
	return v
}

var envelopeFields = [...]string{"type", "id", "ref", "session", "from", "data"}

// field names the Envelope field a member name matches, as encoding/json matches it,
// or -1.
func field(key []byte) int {
	for i, name := range envelopeFields {
		if string(key) == name {
			return i
		}
	}
	k := key
	if !plain(key) {
		k = []byte(text(key))
	}
	for i, name := range envelopeFields {
		if bytes.EqualFold(k, []byte(name)) {
			return i
		}
	}
	return -1
}

// member scans the value of the member named by the raw string key into env.
func (d *envDecoder) member(env *Envelope, key []byte) error {
	f := field(key)
	if f == 5 { // data
		start := d.i
		if !d.skip(2) {
			return d.syntax()
		}
		env.Data = d.b[start:d.i:d.i]
		if bytes.Equal(env.Data, nullJSON) {
			env.Data = nil
		}
		return nil
	}
	if f < 0 {
		if !d.skip(2) {
			return d.syntax()
		}
		return nil
	}
	if d.i < len(d.b) && d.b[d.i] == '"' {
		s, ok := d.str()
		if !ok {
			return d.syntax()
		}
		v, ok := "", false
		if f == 0 && d.known != nil {
			v, ok = d.known(s)
		}
		if !ok {
			v = text(s)
		}
		*[...]*string{&env.Type, &env.ID, &env.Ref, &env.Session, &env.From}[f] = v
		return nil
	}
	start := d.i
	if !d.skip(2) {
		return d.syntax()
	}
	if !bytes.Equal(d.b[start:d.i], nullJSON) && d.typeErr == nil {
		d.typeErr = fmt.Errorf("envelope: %s is not a string", envelopeFields[f])
	}
	return nil
}

// skip validates and passes over one JSON value at depth.
func (d *envDecoder) skip(depth int) bool {
	if depth > maxDepth || d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '{':
		d.i++
		d.space()
		if d.consume('}') {
			return true
		}
		for {
			if _, ok := d.str(); !ok {
				return false
			}
			d.space()
			if !d.consume(':') {
				return false
			}
			d.space()
			if !d.skip(depth + 1) {
				return false
			}
			d.space()
			if d.consume('}') {
				return true
			}
			if !d.consume(',') {
				return false
			}
			d.space()
		}
	case c == '[':
		d.i++
		d.space()
		if d.consume(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			d.space()
			if d.consume(']') {
				return true
			}
			if !d.consume(',') {
				return false
			}
			d.space()
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	default:
		return d.number()
	}
}

func (d *envDecoder) literal(s string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// number passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *envDecoder) number() bool {
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.i < len(d.b) && '1' <= d.b[d.i] && d.b[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.consume('.') && !d.digits() {
		return false
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits passes over one or more digits.
func (d *envDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
