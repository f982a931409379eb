package media

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// isVP8Keyframe reports whether a VP8 frame is a keyframe: bit 0 of the frame
// tag (P, "inter frame") is 0 (RFC 6386 section 9.1).
func isVP8Keyframe(frame []byte) bool {
	return len(frame) > 0 && frame[0]&0x01 == 0
}

// frameAssembler follows the RTP packets of a VP8 stream and reports when a
// frame has arrived whole: its first packet (S=1, PID=0), every following
// sequence number with the same timestamp, and the marker bit on the last.
// Frames with a lost or reordered packet are not reported.
type frameAssembler struct {
	inFrame  bool
	ts       uint32
	nextSeq  uint16
	keyframe bool
}

// push takes the next packet and returns whether it completed a frame and
// whether that frame is a keyframe.
func (a *frameAssembler) push(pkt *rtp.Packet) (complete, keyframe bool) {
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(pkt.Payload)
	switch {
	case err != nil:
		a.inFrame = false
		return false, false
	case vp8.S == 1 && vp8.PID == 0:
		a.inFrame, a.ts, a.keyframe = true, pkt.Timestamp, isVP8Keyframe(payload)
	case !a.inFrame || pkt.Timestamp != a.ts || pkt.SequenceNumber != a.nextSeq:
		a.inFrame = false
		return false, false
	}
	a.nextSeq = pkt.SequenceNumber + 1
	if !pkt.Marker {
		return false, false
	}
	a.inFrame = false
	return true, a.keyframe
}
