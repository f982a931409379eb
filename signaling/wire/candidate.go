package wire

import (
	"bytes"
	"strings"
)

// candidatePrefix starts every candidate but the empty one.
const candidatePrefix = "candidate:"

// Validate checks the candidate's sizes. The hub does not parse candidates: the peers do.
func (c Candidate) Validate() error {
	midLen := -1
	if c.SDPMid != nil {
		midLen = len(*c.SDPMid)
	}
	return validateCandidate(len(c.Candidate), strings.HasPrefix(c.Candidate, candidatePrefix), midLen)
}

// validateCandidate checks a candidate of candLen bytes (prefixed: it starts with
// "candidate:") and an sdp_mid of midLen bytes (-1: none).
func validateCandidate(candLen int, prefixed bool, midLen int) error {
	if candLen > MaxCandidateBytes {
		return Errorf(CodeBadRequest, "candidate is longer than %d bytes", MaxCandidateBytes)
	}
	if candLen > 0 && !prefixed {
		return Errorf(CodeBadRequest, `candidate must be an SDP "candidate:" attribute or ""`)
	}
	if midLen > 64 {
		return Errorf(CodeBadRequest, "sdp_mid is longer than 64 bytes")
	}
	return nil
}

// CanonicalCandidate reports whether data is exactly the JSON text that
// encoding/json's Marshal writes for a Candidate — members in order, no white space,
// strings of printable ASCII that Marshal does not escape — and if so, the error of
// that Candidate's Validate. Such data decodes to that Candidate and encodes back to
// itself: it can be relayed as it arrived, without decoding or encoding it. For any
// other data ok is false and nothing is checked: decode it with [DecodeData].
func CanonicalCandidate(data []byte) (ok bool, err error) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"candidate":`))
	if !ok {
		return false, nil
	}
	cand, rest, ok := cutPlainString(rest)
	if !ok {
		return false, nil
	}
	midLen := -1
	if r, ok := bytes.CutPrefix(rest, []byte(`,"sdp_mid":`)); ok {
		var mid []byte
		if mid, rest, ok = cutPlainString(r); !ok {
			return false, nil
		}
		midLen = len(mid)
	}
	if r, ok := bytes.CutPrefix(rest, []byte(`,"sdp_mline_index":`)); ok {
		if rest, ok = cutUint16(r); !ok {
			return false, nil
		}
	}
	if string(rest) != "}" {
		return false, nil
	}
	return true, validateCandidate(len(cand), bytes.HasPrefix(cand, []byte(candidatePrefix)), midLen)
}

// cutPlainString cuts a JSON string off the front of b whose bytes are printable
// ASCII that encoding/json writes as they are (no quote, backslash, <, > or &), and
// returns its contents and the rest of b.
func cutPlainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// cutUint16 cuts a decimal number of 0 to 65535 without leading zeros off the front
// of b, and returns the rest of b.
func cutUint16(b []byte) (rest []byte, ok bool) {
	n, i := 0, 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		if i > 0 && n == 0 {
			return nil, false // a leading zero
		}
		n = n*10 + int(b[i]-'0')
		if n > 0xffff {
			return nil, false
		}
		i++
	}
	return b[i:], i > 0
}
