package wire

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/securecam/securecam/store"
)

// Limits of event and telemetry messages.
const (
	MaxEventTitleRunes = 200
	// MaxEventClockSkew is how far in the future an event's started_at may be.
	MaxEventClockSkew = 5 * time.Minute
	maxNetworkBytes   = 32
	// MaxCapabilities bounds telemetry's capabilities list.
	MaxCapabilities = 32
)

var triggerRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ValidTrigger reports whether v is spelled as a triggered_by value is.
func ValidTrigger(v string) bool { return triggerRE.MatchString(v) }

// EventRequest is the data of event.start, and the body of POST /api/v1/events with
// the camera named by the caller. Absent members are left out when it is encoded.
type EventRequest struct {
	DeviceID    string     `json:"device_id,omitempty"`
	Title       string     `json:"title"`
	TriggeredBy string     `json:"triggered_by"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
}

// Validate checks the request against now and trims the title. DeviceID is checked
// only when set (the socket fills it in from the identity). camera_offline is the hub's
// own trigger: clients cannot raise it.
func (r *EventRequest) Validate(now time.Time) error {
	if r.DeviceID != "" && !ValidID(r.DeviceID) {
		return Errorf(CodeBadRequest, "device_id must be a UUID")
	}
	r.Title = strings.TrimSpace(r.Title)
	switch n := utf8.RuneCountInString(r.Title); {
	case n == 0:
		return Errorf(CodeBadRequest, "title is required")
	case n > MaxEventTitleRunes:
		return Errorf(CodeBadRequest, "title is longer than %d characters", MaxEventTitleRunes)
	case strings.IndexFunc(r.Title, unicode.IsControl) >= 0:
		return Errorf(CodeBadRequest, "title contains control characters")
	}
	if !triggerRE.MatchString(r.TriggeredBy) {
		return Errorf(CodeBadRequest, "triggered_by must match %s (motion, sound, manual, …)", triggerRE)
	}
	if r.TriggeredBy == store.TriggerCameraOffline {
		return Errorf(CodeBadRequest, "triggered_by %s is raised by the hub only", store.TriggerCameraOffline)
	}
	if r.StartedAt != nil && r.StartedAt.After(now.Add(MaxEventClockSkew)) {
		return Errorf(CodeBadRequest, "started_at is in the future")
	}
	return nil
}

// EventAck is the data of the acks of event.start (the new event's id) and event.end
// (with the event's status).
type EventAck struct {
	EventID string `json:"event_id"`
	Status  string `json:"status,omitempty"`
}

// EventEnd is the data of event.end.
type EventEnd struct {
	EventID string `json:"event_id"`
}

// Validate checks the message.
func (e EventEnd) Validate() error {
	if !ValidID(e.EventID) {
		return Errorf(CodeBadRequest, "event_id must be a UUID")
	}
	return nil
}

// Telemetry is the data of telemetry: what a camera reports about itself. Only these
// fields are forwarded.
type Telemetry struct {
	Battery      *float64 `json:"battery,omitempty"`
	Charging     *bool    `json:"charging,omitempty"`
	TemperatureC *float64 `json:"temperature_c,omitempty"`
	Network      *string  `json:"network,omitempty"`
	SignalDBM    *float64 `json:"signal_dbm,omitempty"`
	// Capturing is false while the camera cannot capture (access denied, no camera).
	Capturing *bool `json:"capturing,omitempty"`
	// Capabilities are the command types the camera can honour now.
	Capabilities []string `json:"capabilities,omitempty"`
}

// Validate checks the ranges of the fields that have one.
func (t Telemetry) Validate() error {
	switch {
	case t.Battery != nil && (*t.Battery < 0 || *t.Battery > 100):
		return Errorf(CodeBadRequest, "battery must be between 0 and 100")
	case t.TemperatureC != nil && (*t.TemperatureC < -100 || *t.TemperatureC > 200):
		return Errorf(CodeBadRequest, "temperature_c is out of range")
	case t.SignalDBM != nil && (*t.SignalDBM < -200 || *t.SignalDBM > 0):
		return Errorf(CodeBadRequest, "signal_dbm must be between -200 and 0")
	case t.Network != nil && (len(*t.Network) > maxNetworkBytes || strings.IndexFunc(*t.Network, unicode.IsControl) >= 0):
		return Errorf(CodeBadRequest, "network must be at most %d printable bytes", maxNetworkBytes)
	case len(t.Capabilities) > MaxCapabilities:
		return Errorf(CodeBadRequest, "capabilities must list at most %d command types", MaxCapabilities)
	}
	for _, c := range t.Capabilities {
		if !commandTypeRE.MatchString(c) {
			return Errorf(CodeBadRequest, "each capability must be a command type matching %s", commandTypeRE)
		}
	}
	return nil
}

// Encode returns the forwarded form: the known fields only.
func (t Telemetry) Encode() json.RawMessage {
	b, _ := json.Marshal(t) // numbers, bools and strings only: cannot fail
	return b
}
