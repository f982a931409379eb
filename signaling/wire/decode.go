package wire

import (
	"bytes"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/securecam/securecam/signaling/jsonerr"
)

// DecodeData decodes a message's data object into v: a JSON object whose members have
// the right types (unknown members are ignored). Absent data decodes as {}.
func DecodeData(data json.RawMessage, v any) error {
	d := bytes.TrimSpace(data)
	if len(d) == 0 {
		d = []byte("{}")
	}
	if d[0] != '{' {
		return Errorf(CodeBadRequest, "data must be a JSON object")
	}
	if err := json.Unmarshal(d, v); err != nil {
		return Errorf(CodeBadRequest, "%s", jsonerr.Describe("data", err))
	}
	return nil
}

// ValidID reports whether s is a UUID in its 36-character text form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
