package record

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Frames assembles VP8 frames from RTP packets: the payloads of one timestamp, from
// the packet that starts partition 0 to the one with the marker bit. A frame with a
// packet missing is dropped, and so is every frame after it until the next keyframe, so
// that nothing written refers to a frame that is not there.
type vp8Frames struct {
	buf      []byte
	ts       uint32
	open     bool // buf holds the start of the frame of ts
	lastSeq  uint16
	seen     bool // lastSeq is set
	needKey  bool // a loss happened: wait for a keyframe
	keyframe bool
}

// push takes the next packet; it returns a whole frame when p completes one.
func (a *vp8Frames) push(p *rtp.Packet) (frame []byte, ts uint32, key bool, ok bool) {
	if a.seen && p.SequenceNumber != a.lastSeq+1 {
		if int16(p.SequenceNumber-a.lastSeq) <= 0 {
			return nil, 0, false, false // a duplicate or late packet
		}
		a.open, a.needKey = false, true
	}
	a.lastSeq, a.seen = p.SequenceNumber, true
	if a.open && p.Timestamp != a.ts {
		// The previous frame never got its marker bit.
		a.open, a.needKey = false, true
	}
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(p.Payload)
	if err != nil || len(payload) == 0 {
		a.open, a.needKey = false, true
		return nil, 0, false, false
	}
	if vp8.S == 1 && vp8.PID == 0 {
		a.buf, a.ts, a.open = append(a.buf[:0], payload...), p.Timestamp, true
		a.keyframe = payload[0]&0x01 == 0
	} else if a.open {
		a.buf = append(a.buf, payload...)
	}
	if !a.open || !p.Marker {
		return nil, 0, false, false
	}
	a.open = false
	if a.needKey && !a.keyframe {
		return nil, 0, false, false
	}
	a.needKey = false
	return append([]byte(nil), a.buf...), a.ts, a.keyframe, true
}

// vp8Size reads the width and height from a keyframe's header (RFC 6386 section 9.1);
// ok is false when frame is not a keyframe.
func vp8Size(frame []byte) (width, height int, ok bool) {
	if len(frame) < 10 || frame[0]&0x01 != 0 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	width = int(frame[6]) | int(frame[7]&0x3f)<<8
	height = int(frame[8]) | int(frame[9]&0x3f)<<8
	return width, height, true
}

// unwrapper extends 32-bit RTP timestamps to a count of clock ticks since the first.
type unwrapper struct {
	last uint32
	ext  int64
	seen bool
}

func (u *unwrapper) ticks(ts uint32) int64 {
	if !u.seen {
		u.last, u.seen = ts, true
		return 0
	}
	u.ext += int64(int32(ts - u.last))
	u.last = ts
	return u.ext
}
