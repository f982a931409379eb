package push

import (
	"encoding/json"
	"fmt"
	"time"
)

// Recipient platforms: the devices.platform values that can receive a push.
const (
	PlatformIOS     = "ios"
	PlatformAndroid = "android"
)

// Kind says what a push is for.
type Kind string

// Kinds of push.
const (
	// KindWake asks an offline device to connect (a data/background push, nothing shown).
	KindWake Kind = "wake"
	// KindEvent tells a viewer about a motion event (an alert on iOS).
	KindEvent Kind = "event"
)

// Wake reasons.
const (
	WakeCommand       = "command"
	WakeStreamRequest = "stream_request"
)

// Default lifetimes of a push when Message.Expiry is zero.
const (
	WakeTTL  = time.Minute
	EventTTL = time.Hour
)

// Message is one push to one device.
//
// Encodings (the "securecam" object is the wire contract; the rest is per service):
//
//   - Wake on APNs: background push (apns-push-type background, apns-priority 5), body
//     {"aps":{"content-available":1},"securecam":{"type":"wake","reason":…,"device_id":…}}.
//   - Event on APNs: alert push (apns-push-type alert, apns-priority 10), body
//     {"aps":{"alert":{"title":…,"body":…},"sound":"default"},"securecam":{"type":"event","event_id":…}}.
//   - Event on Web Push: the body {"securecam":{"type":"event","event_id":…},"title":…,
//     "body":…}, encrypted with aes128gcm (RFC 8291) for the subscription's keys,
//     with TTL from Expiry and Urgency high, signed with VAPID (RFC 8292). Web Push
//     carries no wakes: a browser cannot be woken to connect.
//   - On FCM: a data-only message with android priority "high", a TTL and, for wakes, a
//     collapse key; data {"securecam": "<the securecam object as JSON text>"} plus, for
//     events, "title" and "body".
//
// Both services get apns-expiration / ttl from Expiry.
type Message struct {
	// Platform of the recipient: PlatformIOS, PlatformAndroid or PlatformWeb.
	Platform string
	// Token is the device's push token (APNs device token, FCM registration token, or a
	// browser's Web Push [Subscription] as JSON).
	Token string
	// DeviceID is the recipient device's id.
	DeviceID string
	// Kind is KindWake or KindEvent.
	Kind Kind
	// Reason of a wake: WakeCommand or WakeStreamRequest.
	Reason string
	// EventID, Title and Body of an event. Title is required, Body may be empty.
	EventID string
	Title   string
	Body    string
	// CollapseID groups pushes so the device keeps only the newest of a group. Empty
	// means the default: "wake" for wakes (one pending wake per device); for events the
	// event id on APNs (a resent alert replaces the first) and none on FCM (FCM keeps
	// only four collapse keys per device; apps dedupe on event_id).
	CollapseID string
	// Expiry is when the push stops being worth delivering. Zero means now + WakeTTL or
	// EventTTL. A message past its expiry is not sent: Send returns ErrExpired.
	Expiry time.Time
}

// securecamObject is the "securecam" member of every payload; field order is the wire's.
type securecamObject struct {
	Type     Kind   `json:"type"`
	Reason   string `json:"reason,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	EventID  string `json:"event_id,omitempty"`
}

// object returns the "securecam" object of m, as the wire contract spells it.
func (m Message) object() securecamObject {
	if m.Kind == KindWake {
		return securecamObject{Type: KindWake, Reason: m.Reason, DeviceID: m.DeviceID}
	}
	return securecamObject{Type: KindEvent, EventID: m.EventID}
}

// objectJSON is the "securecam" object as JSON text (the FCM data value).
func (m Message) objectJSON() string {
	b, err := json.Marshal(m.object())
	if err != nil {
		panic(fmt.Sprintf("push: marshal securecam object: %v", err)) // strings only: cannot fail
	}
	return string(b)
}

// validate reports what is wrong with m, wrapping ErrInvalidMessage.
func (m Message) validate() error {
	if m.Token == "" {
		return fmt.Errorf("%w: no push token", ErrInvalidMessage)
	}
	if m.DeviceID == "" {
		return fmt.Errorf("%w: no device id", ErrInvalidMessage)
	}
	switch m.Kind {
	case KindWake:
		if m.Reason != WakeCommand && m.Reason != WakeStreamRequest {
			return fmt.Errorf("%w: wake reason %q", ErrInvalidMessage, m.Reason)
		}
	case KindEvent:
		if m.EventID == "" {
			return fmt.Errorf("%w: event without event id", ErrInvalidMessage)
		}
		if m.Title == "" {
			return fmt.Errorf("%w: event without title", ErrInvalidMessage)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalidMessage, m.Kind)
	}
	return nil
}

// expiry returns m.Expiry, or the default for its kind counted from now.
func (m Message) expiry(now time.Time) time.Time {
	if !m.Expiry.IsZero() {
		return m.Expiry
	}
	if m.Kind == KindWake {
		return now.Add(WakeTTL)
	}
	return now.Add(EventTTL)
}

// wakeCollapseID is the default collapse id of wakes: one pending wake per device.
const wakeCollapseID = "wake"
