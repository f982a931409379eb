package wire

import (
	"bytes"
	"encoding/json"
	"regexp"
	"time"

	"github.com/securecam/securecam/signaling/jsonerr"
)

// Limits of command requests.
const (
	MaxPayloadBytes = 8 << 10
	DefaultTTL      = 120 * time.Second
	MaxTTL          = 24 * time.Hour
)

var commandTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// Standard command types whose payloads the hub checks. Apps may send others; their
// payload only has to be an object.
const (
	CommandSetTorch  = "set_torch"  // {on}
	CommandSiren     = "siren"      // {on, seconds?}
	CommandSetMotion = "set_motion" // {enabled, sensitivity?}
)

// CommandRequest is the data of command.send, and the body of POST /api/v1/commands
// with the source device named by the caller. Absent members are left out when it is
// encoded.
type CommandRequest struct {
	SourceDeviceID string          `json:"source_device_id,omitempty"`
	TargetDeviceID string          `json:"target_device_id"`
	CommandType    string          `json:"command_type"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	TTLSeconds     *int            `json:"ttl_seconds,omitempty"`
}

// TTL returns the requested time to live, or the default.
func (r CommandRequest) TTL() time.Duration {
	if r.TTLSeconds == nil {
		return DefaultTTL
	}
	return time.Duration(*r.TTLSeconds) * time.Second
}

// Validate checks the request and normalises an absent payload to {}.
// SourceDeviceID is checked only when set (the socket fills it in from the identity).
func (r *CommandRequest) Validate() error {
	if r.SourceDeviceID != "" && !ValidID(r.SourceDeviceID) {
		return Errorf(CodeBadRequest, "source_device_id must be a UUID")
	}
	if !ValidID(r.TargetDeviceID) {
		return Errorf(CodeBadRequest, "target_device_id must be a UUID")
	}
	if !commandTypeRE.MatchString(r.CommandType) {
		return Errorf(CodeBadRequest, "command_type must match %s", commandTypeRE)
	}
	if r.TTLSeconds != nil && (*r.TTLSeconds < 1 || time.Duration(*r.TTLSeconds)*time.Second > MaxTTL) {
		return Errorf(CodeBadRequest, "ttl_seconds must be between 1 and %d", int(MaxTTL/time.Second))
	}
	p := bytes.TrimSpace(r.Payload)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		r.Payload = json.RawMessage(`{}`)
		p = r.Payload
	}
	if len(p) > MaxPayloadBytes {
		return Errorf(CodeBadRequest, "payload is larger than %d bytes", MaxPayloadBytes)
	}
	if p[0] != '{' {
		return Errorf(CodeBadRequest, "payload must be a JSON object")
	}
	if msg := validateStandardPayload(r.CommandType, p); msg != "" {
		return Errorf(CodeBadRequest, "%s", msg)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, p); err != nil {
		return Errorf(CodeBadRequest, "%s", jsonerr.Describe("payload", err))
	}
	r.Payload = compact.Bytes()
	return nil
}

// validateStandardPayload checks the payloads of the standard command types; apps'
// own types only need an object. It returns what is wrong, naming the field, or "".
func validateStandardPayload(commandType string, p []byte) string {
	switch commandType {
	case CommandSetTorch:
		var v struct {
			On *bool `json:"on"`
		}
		if err := json.Unmarshal(p, &v); err != nil {
			return jsonerr.Describe("payload", err)
		}
		if v.On == nil {
			return "payload.on is required"
		}
	case CommandSiren:
		var v struct {
			On      *bool `json:"on"`
			Seconds *int  `json:"seconds"`
		}
		if err := json.Unmarshal(p, &v); err != nil {
			return jsonerr.Describe("payload", err)
		}
		if v.On == nil {
			return "payload.on is required"
		}
		if v.Seconds != nil && (*v.Seconds < 1 || *v.Seconds > 3600) {
			return "payload.seconds must be between 1 and 3600"
		}
	case CommandSetMotion:
		var v struct {
			Enabled     *bool    `json:"enabled"`
			Sensitivity *float64 `json:"sensitivity"`
		}
		if err := json.Unmarshal(p, &v); err != nil {
			return jsonerr.Describe("payload", err)
		}
		if v.Enabled == nil {
			return "payload.enabled is required"
		}
		if v.Sensitivity != nil && (*v.Sensitivity < 0 || *v.Sensitivity > 1) {
			return "payload.sensitivity must be between 0 and 1"
		}
	default:
		var v map[string]json.RawMessage
		if err := json.Unmarshal(p, &v); err != nil {
			return jsonerr.Describe("payload", err)
		}
	}
	return ""
}

// CommandResult is the data of command.result.
type CommandResult struct {
	CommandID string  `json:"command_id"`
	Status    string  `json:"status"` // acknowledged or failed
	Error     *string `json:"error,omitempty"`
}

// Validate checks the result.
func (r CommandResult) Validate() error {
	if !ValidID(r.CommandID) {
		return Errorf(CodeBadRequest, "command_id must be a UUID")
	}
	if r.Status != "acknowledged" && r.Status != "failed" {
		return Errorf(CodeBadRequest, `status must be "acknowledged" or "failed"`)
	}
	if r.Error != nil && len(*r.Error) > 1024 {
		return Errorf(CodeBadRequest, "error is longer than 1024 bytes")
	}
	return nil
}

// CommandStatus is the data of command.status, and of the acks of command.send and
// command.result.
type CommandStatus struct {
	CommandID string  `json:"command_id"`
	Status    string  `json:"status"`
	Error     *string `json:"error,omitempty"`
}

// CommandMessage is the data of command, a command delivered to its target (from is
// the source).
type CommandMessage struct {
	CommandID      string          `json:"command_id"`
	CommandType    string          `json:"command_type"`
	Payload        json.RawMessage `json:"payload"`
	SourceDeviceID string          `json:"source_device_id"`
	CreatedAt      time.Time       `json:"created_at"`
	ExpiresAt      time.Time       `json:"expires_at"`
}
