package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// ViewerConfig configures a Viewer.
type ViewerConfig struct {
	Config
}

// ViewerStats is what a Viewer received. Times are zero until they happen.
type ViewerStats struct {
	// OfferedAt is when the first offer was sent.
	OfferedAt time.Time
	// FirstPacketAt is when the first RTP packet of the video arrived.
	FirstPacketAt time.Time
	// FirstFrameAt is when the first whole keyframe arrived: the first
	// picture a decoder can show.
	FirstFrameAt time.Time
	// LastPacketAt is when the latest RTP packet of the video arrived.
	LastPacketAt time.Time
	// MaxGap is the longest time between two consecutive video packets: how
	// long the picture froze at worst.
	MaxGap time.Duration

	Packets   uint64 // video RTP packets
	Bytes     uint64 // video RTP payload bytes
	Frames    uint64 // whole VP8 frames
	Keyframes uint64 // whole VP8 keyframes
}

// TimeToFirstPacket is FirstPacketAt - OfferedAt, or 0 before the first packet.
func (s ViewerStats) TimeToFirstPacket() time.Duration {
	if s.FirstPacketAt.IsZero() {
		return 0
	}
	return s.FirstPacketAt.Sub(s.OfferedAt)
}

// TimeToFirstFrame is FirstFrameAt - OfferedAt, or 0 before the first keyframe.
func (s ViewerStats) TimeToFirstFrame() time.Duration {
	if s.FirstFrameAt.IsZero() {
		return 0
	}
	return s.FirstFrameAt.Sub(s.OfferedAt)
}

// Viewer is the receiving side of one live-view session: it offers to
// receive video and audio, counts the VP8 video it gets and asks the camera
// for a keyframe (PLI, at most once a second) while the frames it sees are
// not decodable.
type Viewer struct {
	*peer

	mu         sync.Mutex // guards closed, wg.Add and the times in stats
	closed     bool
	wg         sync.WaitGroup
	stats      ViewerStats
	firstFrame chan struct{}

	videoSSRC  atomic.Uint32
	lastPacket atomic.Int64 // unix nanoseconds
	maxGap     atomic.Int64 // nanoseconds
	packets    atomic.Uint64
	bytes      atomic.Uint64
	frames     atomic.Uint64
	keyframes  atomic.Uint64
}

// NewViewer creates a viewer peer ready for Offer.
func NewViewer(cfg ViewerConfig) (*Viewer, error) {
	p, err := newPeer(cfg.Config, "viewer")
	if err != nil {
		return nil, err
	}
	v := &Viewer{peer: p, firstFrame: make(chan struct{})}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := p.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly,
		}); err != nil {
			_ = p.close()
			return nil, fmt.Errorf("media: add %s transceiver: %w", kind, err)
		}
	}
	p.pc.OnTrack(v.onTrack)
	return v, nil
}

// Offer creates the recvonly offer and sends it through the Signaler.
func (v *Viewer) Offer(ctx context.Context) error {
	v.mu.Lock()
	if v.stats.OfferedAt.IsZero() {
		v.stats.OfferedAt = time.Now()
	}
	v.mu.Unlock()
	if err := v.describe(ctx, func() (webrtc.SessionDescription, error) { return v.pc.CreateOffer(nil) }); err != nil {
		return fmt.Errorf("media: viewer: %w", err)
	}
	return nil
}

// Restart sends a new offer with fresh ICE credentials (after a network
// change); the camera's answer completes it.
func (v *Viewer) Restart(ctx context.Context) error {
	err := v.describe(ctx, func() (webrtc.SessionDescription, error) {
		return v.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	})
	if err != nil {
		return fmt.Errorf("media: viewer restart: %w", err)
	}
	return nil
}

// HandleAnswer applies the camera's answer.
func (v *Viewer) HandleAnswer(sdp string) error {
	if err := v.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("media: viewer: %w", err)
	}
	return nil
}

// AddCandidate applies a candidate from the camera.
func (v *Viewer) AddCandidate(c webrtc.ICECandidateInit) error {
	if err := v.addCandidate(c); err != nil {
		return fmt.Errorf("media: viewer: %w", err)
	}
	return nil
}

// RequestKeyframe sends a PLI for the video track.
func (v *Viewer) RequestKeyframe() error {
	ssrc := v.videoSSRC.Load()
	if ssrc == 0 {
		return errors.New("media: viewer: no video track yet")
	}
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		return fmt.Errorf("media: viewer: send pli: %w", err)
	}
	return nil
}

// Connected is closed once the peer connection is connected.
func (v *Viewer) Connected() <-chan struct{} { return v.connected }

// FirstFrame is closed when the first whole keyframe has arrived.
func (v *Viewer) FirstFrame() <-chan struct{} { return v.firstFrame }

// SelectedCandidatePair returns the ICE candidate pair in use.
func (v *Viewer) SelectedCandidatePair() (*webrtc.ICECandidatePair, error) {
	return v.selectedPair()
}

// Stats returns what the viewer has received so far.
func (v *Viewer) Stats() ViewerStats {
	v.mu.Lock()
	s := v.stats
	v.mu.Unlock()
	s.Packets = v.packets.Load()
	s.Bytes = v.bytes.Load()
	s.Frames = v.frames.Load()
	s.Keyframes = v.keyframes.Load()
	if last := v.lastPacket.Load(); last != 0 {
		s.LastPacketAt = time.Unix(0, last)
	}
	s.MaxGap = time.Duration(v.maxGap.Load())
	return s
}

// Close ends the session and waits for the viewer's readers. It may be called
// more than once.
func (v *Viewer) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	v.mu.Unlock()
	err := v.close()
	v.wg.Wait()
	if err != nil {
		return fmt.Errorf("media: viewer: %w", err)
	}
	return nil
}

// onTrack runs on a goroutine pion starts per remote track; the viewer
// registers it so Close can wait for it.
func (v *Viewer) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.wg.Add(1)
	v.mu.Unlock()
	defer v.wg.Done()
	defer recoverTo(v.log, "viewer track")

	v.log.Debug("remote track", "kind", t.Kind().String(), "codec", t.Codec().MimeType)
	if t.Kind() != webrtc.RTPCodecTypeVideo || t.Codec().MimeType != webrtc.MimeTypeVP8 {
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
		}
	}
	v.videoSSRC.Store(uint32(t.SSRC()))
	var (
		asm     frameAssembler
		lastPLI time.Time
	)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return // the receiver stopped: Close
		}
		now := time.Now()
		if prev := v.lastPacket.Swap(now.UnixNano()); prev != 0 {
			if gap := now.UnixNano() - prev; gap > v.maxGap.Load() {
				v.maxGap.Store(gap) // this goroutine is the only writer
			}
		}
		if v.packets.Add(1) == 1 {
			v.mu.Lock()
			v.stats.FirstPacketAt = now
			v.mu.Unlock()
		}
		v.bytes.Add(uint64(len(pkt.Payload)))
		complete, key := asm.push(pkt)
		switch {
		case !complete:
		case key:
			v.frames.Add(1)
			if v.keyframes.Add(1) == 1 {
				v.mu.Lock()
				v.stats.FirstFrameAt = now
				v.mu.Unlock()
				close(v.firstFrame)
			}
		default:
			v.frames.Add(1)
			if v.keyframes.Load() == 0 && now.Sub(lastPLI) >= time.Second {
				lastPLI = now
				if err := v.RequestKeyframe(); err != nil {
					v.log.Debug("request keyframe", "err", err)
				}
			}
		}
	}
}
