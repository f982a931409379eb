package relay

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Track is one media track of a publication, as the camera sends it.
type Track struct {
	// ID is the track's id in the publication (unique within it).
	ID string
	// Kind is audio or video.
	Kind webrtc.RTPCodecType
	// Codec is the negotiated codec: MimeType (video/VP8, video/H264,
	// audio/opus), ClockRate, Channels, SDPFmtpLine.
	Codec webrtc.RTPCodecCapability
}

// Packet is one RTP packet of a publication's track. RTP is shared between
// every subscriber and must not be modified; its header carries the camera's
// sequence numbers and timestamps (extensions removed).
type Packet struct {
	Track *Track
	RTP   *rtp.Packet
}

// sink is a bounded queue of packets for one subscriber: the fan-out never
// waits for it, and a full queue drops the packet for that subscriber only.
type sink struct {
	mu      sync.Mutex
	closed  bool
	ch      chan Packet
	dropped atomic.Uint64
}

func newSink(size int) *sink { return &sink{ch: make(chan Packet, size)} }

// offer queues p without blocking; false when it was dropped.
func (s *sink) offer(p Packet) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.ch <- p:
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}

// close ends the queue: its reader sees the channel closed once drained.
func (s *sink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// Feed is a local subscriber of a publication: it receives the RTP of the
// camera's tracks without a peer connection (the server-side recorder uses
// it). Packets arrive in order per track on one channel for every track; when
// the reader falls behind by more than the queue, packets are dropped for
// this feed only (Dropped counts them). The channel is closed when the
// publication ends or the feed is closed.
//
// Concurrency: a Feed's methods are safe for concurrent use; Packets has one
// reader.
type Feed struct {
	sink *sink
	pub  *publication
	once sync.Once
}

// Packets is the feed's packets, closed when the publication ends or Close is
// called.
func (f *Feed) Packets() <-chan Packet { return f.sink.ch }

// Tracks lists the publication's tracks known so far.
func (f *Feed) Tracks() []*Track { return f.pub.trackList() }

// RequestKeyframe asks the camera for a keyframe (rate-limited with the
// viewers' requests).
func (f *Feed) RequestKeyframe() { f.pub.requestKeyframe() }

// Dropped counts packets dropped because the reader fell behind.
func (f *Feed) Dropped() uint64 { return f.sink.dropped.Load() }

// Close detaches the feed from the publication. It may be called more than
// once.
func (f *Feed) Close() {
	f.once.Do(func() {
		f.pub.removeSink(f.sink)
		f.sink.close()
	})
}
