package relay

import (
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// publication is a camera's published tracks and the subscribers they fan
// out to.
type publication struct {
	session  *Session
	log      *slog.Logger
	expected int // media sections the camera's offer sends on
	grace    time.Duration

	mu         sync.Mutex
	ended      bool
	tracks     []*Track
	videoSSRCs []uint32
	sinks      []*sink // replaced, never modified, so that snapshot can share it
	graceTimer *time.Timer

	snapshot  atomic.Pointer[[]*sink]
	ready     chan struct{} // closed once viewers can be given the tracks
	readyOnce sync.Once
	kf        chan struct{} // a pending keyframe request, capacity 1
	done      chan struct{} // closed when the publication ends

	keyframesAsked atomic.Uint64 // PLIs sent to the camera
}

func newPublication(s *Session, expected int, grace time.Duration, log *slog.Logger) *publication {
	p := &publication{session: s, log: log, expected: expected, grace: grace,
		ready: make(chan struct{}), kf: make(chan struct{}, 1), done: make(chan struct{})}
	p.snapshot.Store(&[]*sink{})
	return p
}

func (p *publication) markReady() { p.readyOnce.Do(func() { close(p.ready) }) }

// trackList returns the tracks known so far.
func (p *publication) trackList() []*Track {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Track(nil), p.tracks...)
}

// addSink subscribes k; false once the publication has ended.
func (p *publication) addSink(k *sink) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return false
	}
	next := append(append(make([]*sink, 0, len(p.sinks)+1), p.sinks...), k)
	p.sinks = next
	p.snapshot.Store(&next)
	return true
}

func (p *publication) removeSink(k *sink) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make([]*sink, 0, len(p.sinks))
	for _, s := range p.sinks {
		if s != k {
			next = append(next, s)
		}
	}
	p.sinks = next
	p.snapshot.Store(&next)
}

// end stops the publication: its sinks close (their readers see the end).
func (p *publication) end() {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.ended = true
	if p.graceTimer != nil {
		p.graceTimer.Stop()
	}
	sinks := p.sinks
	p.sinks = nil
	p.snapshot.Store(&[]*sink{})
	close(p.done)
	p.mu.Unlock()
	for _, k := range sinks {
		k.close()
	}
}

// requestKeyframe asks the pacer for a PLI; requests coalesce.
func (p *publication) requestKeyframe() {
	select {
	case p.kf <- struct{}{}:
	default:
	}
}

// pace sends the camera one PLI per request, at most one per interval; a
// request arriving within the interval is served when it ends. It is the
// publisher session's goroutine.
func (p *publication) pace(interval time.Duration) {
	s := p.session
	defer s.wg.Done()
	defer s.recoverPanic("keyframe_pacer")
	for {
		select {
		case <-p.kf:
		case <-p.done:
			return
		}
		s.relay.testPanic("keyframe_pacer", s)
		p.mu.Lock()
		ssrcs := append([]uint32(nil), p.videoSSRCs...)
		p.mu.Unlock()
		for _, ssrc := range ssrcs {
			if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
				p.log.Debug("send pli", "err", err)
				continue
			}
			p.keyframesAsked.Add(1)
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			return
		}
	}
}

// onTrack is pion's callback for each of the camera's tracks (on a goroutine
// of pion's, which the publisher session waits for): it reads the track and
// fans its packets out.
func (p *publication) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	s := p.session
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.recoverPanic("publication_track")

	p.mu.Lock()
	t := &Track{ID: remote.Kind().String() + strconv.Itoa(len(p.tracks)), Kind: remote.Kind(),
		Codec: remote.Codec().RTPCodecCapability}
	p.tracks = append(p.tracks, t)
	if t.Kind == webrtc.RTPCodecTypeVideo {
		p.videoSSRCs = append(p.videoSSRCs, uint32(remote.SSRC()))
		if p.graceTimer == nil && !p.ended {
			p.graceTimer = time.AfterFunc(p.grace, p.markReady)
		}
	}
	complete := len(p.tracks) >= p.expected && len(p.videoSSRCs) > 0
	p.mu.Unlock()
	if complete {
		p.markReady()
	}
	p.log.Debug("camera track", "kind", t.Kind.String(), "codec", t.Codec.MimeType)
	if t.Kind == webrtc.RTPCodecTypeVideo {
		p.requestKeyframe() // viewers waiting for the publication start with a picture
	}

	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return // the camera's leg closed
		}
		s.relay.testPanic("publication_track", s)
		// The camera's header extensions have ids of its negotiation, not the
		// viewers'; each viewer leg adds its own.
		pkt.Header.Extension = false
		pkt.Header.Extensions = nil
		pkt.Header.ExtensionProfile = 0
		for _, k := range *p.snapshot.Load() {
			k.offer(Packet{Track: t, RTP: pkt})
		}
	}
}

// readRTCP drains a viewer's RTCP for one sender (which lets the NACK
// responder and reports work) and turns PLI and FIR into keyframe requests.
func (s *Session) readRTCP(sender *webrtc.RTPSender) {
	defer s.wg.Done()
	defer s.recoverPanic("viewer_rtcp")
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		s.relay.testPanic("viewer_rtcp", s)
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.pub.requestKeyframe()
			}
		}
	}
}

// write sends a viewer's queued packets on its local tracks until the queue
// closes.
func (s *Session) write(locals map[*Track]*webrtc.TrackLocalStaticRTP) {
	defer s.wg.Done()
	defer s.recoverPanic("viewer_writer")
	for pkt := range s.sink.ch {
		s.relay.testPanic("viewer_writer", s)
		local := locals[pkt.Track]
		if local == nil {
			continue // a track that arrived after the viewer joined
		}
		if err := local.WriteRTP(pkt.RTP); err != nil {
			s.relay.log.Debug("write rtp", "session_id", s.id, "err", err)
		}
	}
}

// recoverPanic, deferred at the root of each of a session's goroutines, turns
// a panic there into the end of the session rather than a half-dead one (a
// publication whose packets no longer flow, a viewer no longer written to): it
// logs the panic with its stack, counts it, and closes the session (a
// publication's viewers and feeds with it).
func (s *Session) recoverPanic(goroutine string) {
	v := recover()
	if v == nil {
		return
	}
	r := s.relay
	r.panics.WithLabelValues(goroutine).Inc()
	r.log.Error("panic in relay goroutine; closing its session", "goroutine", goroutine,
		"session_id", s.id, "camera_id", s.camera, "publisher", s.publisher,
		"panic", v, "stack", string(debug.Stack()))
	r.goClose(s)
}

// testPanic calls the test hook, if any.
func (r *Relay) testPanic(goroutine string, s *Session) {
	if r.panicHook != nil {
		r.panicHook(goroutine, s)
	}
}
