package media

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// testPattern is a 3 s, 320x240, 30 fps VP8 test pattern with a keyframe
// every 30 frames (how it was made: testdata/README.md).
//
//go:embed testsrc.ivf
var testPattern []byte

// CameraConfig configures a Camera.
type CameraConfig struct {
	Config
	// IVF is the VP8 clip to play in a loop, starting with a keyframe; nil
	// plays the embedded test pattern.
	IVF []byte
}

// CameraStats counts what a Camera did.
type CameraStats struct {
	// FramesSent counts frames written to the track since it connected.
	FramesSent uint64
	// KeyframeRequests counts PLI and FIR messages received from the viewer.
	KeyframeRequests uint64
}

// Camera is the sending side of one live-view session: it answers the
// viewer's offer (and later ones, for ICE restarts) with a VP8 video track
// that plays the clip in a loop from its first frame once connected, and
// restarts the clip (a keyframe) when the viewer asks for one.
type Camera struct {
	*peer
	ivf    []byte
	header *ivfreader.IVFFileHeader
	track  *webrtc.TrackLocalStaticSample

	keyframe chan struct{} // a restart request for playback, capacity 1
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool

	framesSent       atomic.Uint64
	keyframeRequests atomic.Uint64
}

// NewCamera creates a camera peer ready for HandleOffer.
func NewCamera(cfg CameraConfig) (*Camera, error) {
	ivf := cfg.IVF
	if ivf == nil {
		ivf = testPattern
	}
	reader, header, err := ivfreader.NewWith(bytes.NewReader(ivf))
	if err != nil {
		return nil, fmt.Errorf("media: read ivf: %w", err)
	}
	first, _, err := reader.ParseNextFrame()
	if err != nil {
		return nil, fmt.Errorf("media: read first ivf frame: %w", err)
	}
	if !isVP8Keyframe(first) {
		return nil, errors.New("media: ivf does not start with a keyframe")
	}
	if string(header.FourCC[:]) != "VP80" {
		return nil, fmt.Errorf("media: ivf codec %q, want VP80", header.FourCC[:])
	}
	if header.TimebaseNumerator == 0 || header.TimebaseDenominator == 0 {
		return nil, errors.New("media: ivf has a zero timebase")
	}

	p, err := newPeer(cfg.Config, "camera")
	if err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticSample(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "securecam")
	if err != nil {
		_ = p.close()
		return nil, fmt.Errorf("media: new track: %w", err)
	}
	sender, err := p.pc.AddTrack(track)
	if err != nil {
		_ = p.close()
		return nil, fmt.Errorf("media: add track: %w", err)
	}

	c := &Camera{
		peer:     p,
		ivf:      ivf,
		header:   header,
		track:    track,
		keyframe: make(chan struct{}, 1),
	}
	c.wg.Add(2)
	go c.readRTCP(sender)
	go c.play()
	return c, nil
}

// HandleOffer applies the viewer's offer and sends the answer through the
// Signaler. A later offer (an ICE restart) is answered the same way.
func (c *Camera) HandleOffer(ctx context.Context, sdp string) error {
	if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	if err := c.describe(ctx, func() (webrtc.SessionDescription, error) { return c.pc.CreateAnswer(nil) }); err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	return nil
}

// Offer sends an offer to publish the clip (to a relay: a WHIP endpoint or
// the hub), for a camera that offers instead of answering; HandleAnswer
// applies the answer.
func (c *Camera) Offer(ctx context.Context) error {
	if err := c.describe(ctx, func() (webrtc.SessionDescription, error) { return c.pc.CreateOffer(nil) }); err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	return nil
}

// HandleAnswer applies the answer to Offer.
func (c *Camera) HandleAnswer(sdp string) error {
	if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	return nil
}

// Upload is what the camera sends: its media streams (senders with a
// track) and the bytes and packets of its transport, from pion's statistics.
type Upload struct {
	Streams int
	Packets uint64
	Bytes   uint64
}

// Upload reports what the camera has sent so far.
func (c *Camera) Upload() Upload {
	var u Upload
	for _, s := range c.pc.GetSenders() {
		if s.Track() != nil {
			u.Streams++
		}
	}
	for _, st := range c.pc.GetStats() {
		if t, ok := st.(webrtc.TransportStats); ok {
			u.Packets += uint64(t.PacketsSent)
			u.Bytes += t.BytesSent
		}
	}
	return u
}

// AddCandidate applies a candidate from the viewer.
func (c *Camera) AddCandidate(cand webrtc.ICECandidateInit) error {
	if err := c.addCandidate(cand); err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	return nil
}

// Connected is closed once the peer connection is connected.
func (c *Camera) Connected() <-chan struct{} { return c.connected }

// SelectedCandidatePair returns the ICE candidate pair in use.
func (c *Camera) SelectedCandidatePair() (*webrtc.ICECandidatePair, error) {
	return c.selectedPair()
}

// Stats returns the camera's counters.
func (c *Camera) Stats() CameraStats {
	return CameraStats{FramesSent: c.framesSent.Load(), KeyframeRequests: c.keyframeRequests.Load()}
}

// Close ends the session and waits for the camera's goroutines. It may be
// called more than once.
func (c *Camera) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.close()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("media: camera: %w", err)
	}
	return nil
}

// readRTCP drains the sender's RTCP, which lets the interceptors answer NACKs,
// and turns PLI/FIR into a playback restart.
func (c *Camera) readRTCP(sender *webrtc.RTPSender) {
	defer c.wg.Done()
	defer recoverTo(c.log, "camera rtcp")
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return // the sender stopped: Close
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.keyframeRequests.Add(1)
				select {
				case c.keyframe <- struct{}{}:
				default: // a restart is already pending
				}
			}
		}
	}
}

// play writes the clip to the track at its frame rate, from the first frame
// once connected, looping at the end and restarting on keyframe requests.
func (c *Camera) play() {
	defer c.wg.Done()
	defer recoverTo(c.log, "camera playback")
	select {
	case <-c.connected:
	case <-c.ctx.Done():
		return
	}
	frameDur := time.Second * time.Duration(c.header.TimebaseNumerator) / time.Duration(c.header.TimebaseDenominator)
	ticker := time.NewTicker(frameDur)
	defer ticker.Stop()

	reader, _, err := ivfreader.NewWith(bytes.NewReader(c.ivf))
	for {
		if err != nil {
			c.log.Error("camera playback: read ivf", "err", err)
			return
		}
		frame, _, ferr := reader.ParseNextFrame()
		if errors.Is(ferr, io.EOF) {
			reader, _, err = ivfreader.NewWith(bytes.NewReader(c.ivf))
			continue
		}
		if ferr != nil {
			err = ferr
			continue
		}
		if werr := c.track.WriteSample(media.Sample{Data: frame, Duration: frameDur}); werr != nil {
			c.log.Debug("camera playback: write sample", "err", werr)
		} else {
			c.framesSent.Add(1)
		}
		select {
		case <-ticker.C:
		case <-c.keyframe:
			reader, _, err = ivfreader.NewWith(bytes.NewReader(c.ivf))
		case <-c.ctx.Done():
			return
		}
	}
}
