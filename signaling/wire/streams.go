package wire

import (
	"strings"
	"unicode/utf8"

	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/store"
)

// Limits of live-view messages.
const (
	// DefaultMaxSDPBytes is the default limit on an offer's or answer's SDP.
	DefaultMaxSDPBytes = 32 << 10
	// MaxCandidateBytes bounds a trickled ICE candidate line.
	MaxCandidateBytes = 1024
	// MaxReasonBytes bounds the reason of stream.end and stream.decline.
	MaxReasonBytes = 64
)

// StreamRequest is the data of stream.request, and the body of POST /api/v1/streams
// with the requester named by the caller. An absent requester is left out when it is
// encoded.
type StreamRequest struct {
	CameraDeviceID    string `json:"camera_device_id"`
	RequesterDeviceID string `json:"requester_device_id,omitempty"`
}

// Validate checks the request. RequesterDeviceID is checked only when set (the socket
// fills it in from the identity).
func (r StreamRequest) Validate() error {
	if !ValidID(r.CameraDeviceID) {
		return Errorf(CodeBadRequest, "camera_device_id must be a UUID")
	}
	if r.RequesterDeviceID != "" && !ValidID(r.RequesterDeviceID) {
		return Errorf(CodeBadRequest, "requester_device_id must be a UUID")
	}
	if r.CameraDeviceID == r.RequesterDeviceID {
		return Errorf(CodeBadRequest, "a device cannot view itself")
	}
	return nil
}

// SessionDescription is the data of webrtc.offer and webrtc.answer.
type SessionDescription struct {
	SDP string `json:"sdp"`
}

// Validate checks that SDP is a session description of at most maxBytes.
func (d SessionDescription) Validate(maxBytes int) error {
	switch {
	case d.SDP == "":
		return Errorf(CodeBadRequest, "sdp is required")
	case len(d.SDP) > maxBytes:
		return Errorf(CodeBadRequest, "sdp is larger than %d bytes", maxBytes)
	case !strings.HasPrefix(d.SDP, "v=0"):
		return Errorf(CodeBadRequest, "sdp is not a session description (it must start with v=0)")
	}
	return nil
}

// Candidate is the data of webrtc.candidate; Candidate "" ends gathering.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index,omitempty"`
}

// StreamReason is the data of stream.accept, stream.decline, stream.end and
// stream.ended.
type StreamReason struct {
	Reason string `json:"reason,omitempty"`
}

// Validate checks the reason's length.
func (r StreamReason) Validate() error {
	if len(r.Reason) > MaxReasonBytes || !utf8.ValidString(r.Reason) {
		return Errorf(CodeBadRequest, "reason must be UTF-8 text of at most %d bytes", MaxReasonBytes)
	}
	return nil
}

// StreamAck is the data of the ack of stream.request. Status is the session's status
// then: requested (the camera was asked), waking (it is being woken by push) or failed.
type StreamAck struct {
	SessionID  string       `json:"session_id"`
	ICEServers []ice.Server `json:"ice_servers"`
	Status     string       `json:"status"`
}

// StreamRequested is the data of stream.requested; its ICE servers carry the
// camera's own TURN credentials.
type StreamRequested struct {
	RequesterDeviceID string       `json:"requester_device_id"`
	ICEServers        []ice.Server `json:"ice_servers"`
}

// RelayPublish is the data of relay.publish: the hub asks a camera to publish to
// its relay by WHIP (POST WHIPURL with its device token), because a WHEP viewer
// wants it and it is not publishing.
type RelayPublish struct {
	WHIPURL string `json:"whip_url"`
}

// StreamStatus is the data of stream.status (the viewer learns that the session moved
// to Status, e.g. waking) and of the acks of stream.end and stream.resume (where the
// session is, with its reason once it is over).
type StreamStatus struct {
	SessionID string  `json:"session_id,omitempty"`
	Status    string  `json:"status"`
	Reason    *string `json:"reason,omitempty"`
}

// Open reports whether the session is not over (neither ended nor failed).
func (s StreamStatus) Open() bool { return openStatus(s.Status) }

// openStatus reports whether a session in status is not over.
func openStatus(status string) bool {
	return status != store.StreamEnded && status != store.StreamFailed
}
