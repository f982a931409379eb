package relay

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// MaxSDPBytes is the largest offer the relay reads.
const MaxSDPBytes = 32 << 10

// Errors for offers the relay cannot take; the web layer maps them to 4xx.
var (
	ErrBadSDP           = errors.New("relay: offer is not a valid session description")
	ErrNoVideo          = errors.New("relay: offer has no video media section")
	ErrUnsupportedCodec = errors.New("relay: offer has no supported video codec (VP8, H264)")
	ErrSDPTooLarge      = errors.New("relay: offer exceeds 32 KiB")
)

// supportedVideo and supportedAudio are the codecs the relay forwards (no
// transcoding), by lowercase encoding name.
var (
	supportedVideo = map[string]string{"vp8": webrtc.MimeTypeVP8, "h264": webrtc.MimeTypeH264}
	supportedAudio = map[string]string{"opus": webrtc.MimeTypeOpus}
)

// offerInfo is what the relay needs to know of an offer before it builds a
// peer connection for it.
type offerInfo struct {
	// videoCodecs are the supported video codecs of the offer (MIME types).
	videoCodecs map[string]bool
	// sending counts media sections the offerer sends on (a publisher's tracks).
	sending int
}

// CheckOffer reports why the relay cannot take offer (ErrSDPTooLarge,
// ErrBadSDP, ErrNoVideo, ErrUnsupportedCodec), or nil: callers check it before
// they make anything for the offer.
func CheckOffer(offer string) error {
	_, err := checkOffer(offer)
	return err
}

// checkOffer parses an offer and refuses one the relay cannot serve: too
// large, unparsable, without a video section or without a supported video
// codec.
func checkOffer(offer string) (offerInfo, error) {
	info := offerInfo{videoCodecs: map[string]bool{}}
	if len(offer) > MaxSDPBytes {
		return info, ErrSDPTooLarge
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return info, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	video := false
	for _, m := range sd.MediaDescriptions {
		kind := m.MediaName.Media
		if kind != "video" && kind != "audio" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected or stopped section
		}
		if kind == "video" {
			video = true
		}
		if sendsMedia(m) {
			info.sending++
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "<pt> <name>/<clock>[/<channels>]"
			_, rest, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, "/")
			if mime, ok := supportedVideo[strings.ToLower(name)]; ok && kind == "video" {
				info.videoCodecs[mime] = true
			}
		}
	}
	if !video {
		return info, ErrNoVideo
	}
	if len(info.videoCodecs) == 0 {
		return info, ErrUnsupportedCodec
	}
	return info, nil
}

// sendsMedia reports whether the offerer sends on a media section.
func sendsMedia(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		case "sendonly", "sendrecv":
			return true
		}
	}
	return true // sendrecv is the default
}

// ParseCandidateFragment reads the candidates of an
// application/trickle-ice-sdpfrag body (RFC 8840): the ICE username fragment
// and password it names (empty when absent) and its candidate lines with the
// media section (mid) each belongs to.
func ParseCandidateFragment(frag string) (ufrag, pwd string, cands []webrtc.ICECandidateInit, err error) {
	if len(frag) > MaxSDPBytes {
		return "", "", nil, ErrSDPTooLarge
	}
	var mid *string
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if mid != nil {
				m := *mid
				c.SDPMid = &m
			}
			cands = append(cands, c)
		case strings.HasPrefix(line, "m="), strings.HasPrefix(line, "a="):
			// m= lines, a=end-of-candidates, a=group and the like: nothing to do.
		default:
			return "", "", nil, fmt.Errorf("%w: line %q in candidate fragment", ErrBadSDP, line)
		}
	}
	return ufrag, pwd, cands, nil
}
