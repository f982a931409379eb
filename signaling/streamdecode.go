package signaling

import (
	"strings"
	"unicode/utf8"
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
// with the requester named by the caller.
type StreamRequest struct {
	CameraDeviceID    string `json:"camera_device_id"`
	RequesterDeviceID string `json:"requester_device_id"`
}

// Validate checks the request. RequesterDeviceID is checked only when set (the socket
// fills it in from the identity).
func (r StreamRequest) Validate() error {
	if !validID(r.CameraDeviceID) {
		return errorf(CodeBadRequest, "camera_device_id must be a UUID")
	}
	if r.RequesterDeviceID != "" && !validID(r.RequesterDeviceID) {
		return errorf(CodeBadRequest, "requester_device_id must be a UUID")
	}
	if r.CameraDeviceID == r.RequesterDeviceID {
		return errorf(CodeBadRequest, "a device cannot view itself")
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
		return errorf(CodeBadRequest, "sdp is required")
	case len(d.SDP) > maxBytes:
		return errorf(CodeBadRequest, "sdp is larger than %d bytes", maxBytes)
	case !strings.HasPrefix(d.SDP, "v=0"):
		return errorf(CodeBadRequest, "sdp is not a session description (it must start with v=0)")
	}
	return nil
}

// Candidate is the data of webrtc.candidate; Candidate "" ends gathering.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index,omitempty"`
}

// Validate checks the candidate's sizes. The hub does not parse candidates: the peers do.
func (c Candidate) Validate() error {
	if len(c.Candidate) > MaxCandidateBytes {
		return errorf(CodeBadRequest, "candidate is longer than %d bytes", MaxCandidateBytes)
	}
	if c.Candidate != "" && !strings.HasPrefix(c.Candidate, "candidate:") {
		return errorf(CodeBadRequest, `candidate must be an SDP "candidate:" attribute or ""`)
	}
	if c.SDPMid != nil && len(*c.SDPMid) > 64 {
		return errorf(CodeBadRequest, "sdp_mid is longer than 64 bytes")
	}
	return nil
}

// StreamReason is the data of stream.decline, stream.end and stream.ended.
type StreamReason struct {
	Reason string `json:"reason,omitempty"`
}

// Validate checks the reason's length.
func (r StreamReason) Validate() error {
	if len(r.Reason) > MaxReasonBytes || !utf8.ValidString(r.Reason) {
		return errorf(CodeBadRequest, "reason must be UTF-8 text of at most %d bytes", MaxReasonBytes)
	}
	return nil
}
