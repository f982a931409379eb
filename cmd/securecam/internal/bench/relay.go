package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling/client"
)

// The relay scenario's camera: 30 frames per second of 4 RTP packets of 1,042 bytes
// of payload, about 1 Mbit/s. The payload is VP8-shaped (a payload descriptor
// first) and carries the packet's number and send time; nothing decodes it.
const (
	relayFPS          = 30
	relayFramePackets = 4
	relayPayload      = 1042
)

var relayColumns = []column{
	colTarget,
	colInt("viewers", func(r Result) int64 { return int64(r.Pairs) }),
	colInt("sent", func(r Result) int64 { return r.Sent }),
	colInt("received", func(r Result) int64 { return r.Received }),
	colLate,
	colInt("lost", func(r Result) int64 { return r.Lost }),
	colMs("p50 ms", func(r Result) float64 { return r.P50 }),
	colMs("p99 ms", func(r Result) float64 { return r.P99 }),
	colMs("max ms", func(r Result) float64 { return r.Max }),
	{"CPU/pkt", func(r Result) string { return fmt.Sprintf("%.1f µs", r.CPUPerPacketMicros) }},
	colRatio("CPU vs bare", func(r Result) float64 { return r.CPUVsBare }),
	{"mem/viewer", func(r Result) string { return kib(r.RSSPerConnBytes) }},
}

// relay runs, for each count of Config.Viewers, one camera publishing to that many
// viewers through the bare pion forwarder (a child `securecam bench sfu-server`) and
// through a child hub's relay (WHIP and WHEP), and reports loss, added latency,
// the server's CPU per forwarded packet and its memory per viewer.
func (r *runner) relay(ctx context.Context) ([]Result, error) {
	var rs []Result
	for _, n := range r.cfg.Viewers {
		bare, err := r.relayRun(ctx, "bare", n)
		if err != nil {
			return rs, err
		}
		viaHub, err := r.relayRun(ctx, "hub", n)
		if err != nil {
			return rs, err
		}
		if bare.CPUPerPacketMicros > 0 {
			viaHub.CPUVsBare = viaHub.CPUPerPacketMicros / bare.CPUPerPacketMicros
		}
		rs = append(rs, bare, viaHub)
	}
	writeTable(r.cfg.Out, fmt.Sprintf("relay: one camera, %d fps VP8 at ~1 Mbit/s, to N viewers on loopback, %s measured", relayFPS, r.cfg.Duration), relayColumns, rs)
	fmt.Fprintf(r.cfg.Out, "latency: camera send → viewer receive; CPU/pkt: the server's CPU time in the span ÷ packets delivered in it; %s\n", spanNote)
	return rs, nil
}

// relayEnds is how a run publishes and plays against its server: each posts an offer
// and returns the answer.
type relayEnds struct {
	publish func(ctx context.Context, offer string) (string, error)
	play    func(ctx context.Context, i int, offer string) (string, error)
}

func (r *runner) relayRun(ctx context.Context, target string, n int) (Result, error) {
	res := Result{Scenario: "relay", Target: target, Phase: "forward", Pairs: n}
	var s *server
	var ends relayEnds
	var err error
	if target == "bare" {
		s, ends, err = r.bareEnds(ctx)
	} else {
		s, ends, err = r.hubEnds(ctx, n)
	}
	if err != nil {
		return res, err
	}
	defer s.stop()
	api := benchAPI()
	epoch := time.Now()

	cam, err := startRelayCamera(ctx, api, ends.publish, epoch)
	if err != nil {
		return res, fmt.Errorf("camera: %w", err)
	}
	defer cam.close()
	rssBefore, err := s.rss()
	if err != nil {
		return res, err
	}
	viewers := make([]*relayViewer, n)
	defer func() {
		for _, v := range viewers {
			if v != nil {
				v.close()
			}
		}
	}()
	err = r.parallel(ctx, target+" viewers", n, func(ctx context.Context, i int) error {
		v, err := startRelayViewer(ctx, api, func(ctx context.Context, offer string) (string, error) { return ends.play(ctx, i, offer) }, epoch)
		viewers[i] = v
		return err
	})
	if err != nil {
		return res, err
	}
	for i, v := range viewers {
		select {
		case <-v.first:
		case <-time.After(setupDeadline):
			return res, fmt.Errorf("viewer %d: no packet within %s", i, setupDeadline)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}

	r.progressf("relay %s: %d viewers receiving, measuring %s", target, n, r.cfg.Duration)
	cpu0, err := cpuTime(s.pid)
	if err != nil {
		return res, err
	}
	sp := span{from: time.Since(epoch)}
	select {
	case <-time.After(r.cfg.Duration):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	sp.to = time.Since(epoch)
	cpu1, err := cpuTime(s.pid)
	if err != nil {
		return res, err
	}
	rssAfter, err := s.rss()
	if err != nil {
		return res, err
	}
	sent := cam.stop(sp) // packets sent inside the span
	// The drain: what was sent in the span may still arrive, as late.
	deadline := time.Now().Add(drainTimeout)
	for time.Now().Before(deadline) {
		var got int64
		for _, v := range viewers {
			got += v.countIn(sp)
		}
		if got >= sent*int64(n) {
			break
		}
		time.Sleep(50 * time.Millisecond) // a benchmark's drain, not a test's synchronization
	}
	var cs []completion
	for _, v := range viewers {
		cs = append(cs, v.completions(sp)...)
	}
	sp.tally(&res, sent*int64(n), cs, false)
	if err := s.exited(); err != nil {
		return res, err
	}
	if res.Received > 0 {
		res.CPUPerPacketMicros = float64((cpu1 - cpu0).Microseconds()) / float64(res.Received)
	}
	res.RSSBeforeBytes, res.RSSAfterBytes = rssBefore, rssAfter
	res.RSSPerConnBytes = float64(rssAfter-rssBefore) / float64(n)
	return res, nil
}

// bareEnds starts the bare forwarder.
func (r *runner) bareEnds(ctx context.Context) (*server, relayEnds, error) {
	s, err := startServer(ctx, "sfu", r.cfg.Binary, []string{"bench", SFUServerArg}, nil)
	if err != nil {
		return nil, relayEnds{}, err
	}
	r.progressf("sfu: bare forwarder pid %d at %s", s.pid, s.url)
	post := func(ctx context.Context, path, offer string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, strings.NewReader(offer))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
		}
		return string(b), nil
	}
	return s, relayEnds{
		publish: func(ctx context.Context, offer string) (string, error) { return post(ctx, "/publish", offer) },
		play:    func(ctx context.Context, _ int, offer string) (string, error) { return post(ctx, "/play", offer) },
	}, nil
}

// hubEnds starts a child hub with a camera and n viewers linked to it, which publish
// by WHIP and play by WHEP.
func (r *runner) hubEnds(ctx context.Context, n int) (*server, relayEnds, error) {
	s, err := r.startHub(ctx, hubOptions{node: "bench-relay"})
	if err != nil {
		return nil, relayEnds{}, err
	}
	fail := func(err error) (*server, relayEnds, error) {
		s.stop()
		return nil, relayEnds{}, err
	}
	user, err := r.account(ctx, s.url)
	if err != nil {
		return fail(err)
	}
	cams, err := r.devices(ctx, user, "camera", 1)
	if err != nil {
		return fail(err)
	}
	viewers, err := r.devices(ctx, user, "viewer", n)
	if err != nil {
		return fail(err)
	}
	err = r.parallel(ctx, "link viewers", n, func(ctx context.Context, i int) error {
		_, err := user.CreateLink(ctx, cams[0].ID, viewers[i].ID)
		return err
	})
	if err != nil {
		return fail(err)
	}
	session := func(token string, open func(*client.Client) *client.MediaSession) func(ctx context.Context, offer string) (string, error) {
		return func(ctx context.Context, offer string) (string, error) {
			c, err := client.New(client.Config{BaseURL: s.url, HTTPClient: r.dial.client(), Token: token})
			if err != nil {
				return "", err
			}
			m := open(c)
			if err := m.SendDescription(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
				return "", err
			}
			return m.Answer(), nil
		}
	}
	return s, relayEnds{
		publish: session(cams[0].Token, (*client.Client).WHIP),
		play: func(ctx context.Context, i int, offer string) (string, error) {
			return session(viewers[i].Token, func(c *client.Client) *client.MediaSession { return c.WHEP(cams[0].ID) })(ctx, offer)
		},
	}, nil
}

// offerAnswer makes pc's complete offer, has it answered and applies the answer.
func offerAnswer(ctx context.Context, pc *webrtc.PeerConnection, answer func(context.Context, string) (string, error)) error {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	ans, err := answer(ctx, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans})
}

// relayCamera publishes the synthetic stream. Its pacing goroutine is the one writer
// of the track.
type relayCamera struct {
	pc    *webrtc.PeerConnection
	epoch time.Time

	mu     sync.Mutex
	sendAt []time.Duration // send time of each packet, by number

	done     chan struct{}
	finished chan struct{}
}

func startRelayCamera(ctx context.Context, api *webrtc.API, publish func(context.Context, string) (string, error), epoch time.Time) (*relayCamera, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	c := &relayCamera{pc: pc, epoch: epoch, done: make(chan struct{}), finished: make(chan struct{})}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "bench-camera")
	if err == nil {
		_, err = pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, setupDeadline)
		err = offerAnswer(sctx, pc, publish)
		cancel()
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	go c.send(track)
	return c, nil
}

// send writes 30 frames a second until stop.
func (c *relayCamera) send(track *webrtc.TrackLocalStaticRTP) {
	defer close(c.finished)
	t := time.NewTicker(time.Second / relayFPS)
	defer t.Stop()
	payload := make([]byte, relayPayload)
	var seq uint16
	var ts uint32
	for n := uint32(0); ; {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ts += 90000 / relayFPS
		for k := range relayFramePackets {
			payload[0] = 0 // VP8 payload descriptor: S bit on a frame's first packet
			if k == 0 {
				payload[0] = 0x10
			}
			at := time.Since(c.epoch)
			binary.BigEndian.PutUint32(payload[1:], n)
			binary.BigEndian.PutUint64(payload[5:], uint64(at))
			seq++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: k == relayFramePackets-1, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
			if err := track.WriteRTP(pkt); err != nil {
				return
			}
			c.mu.Lock()
			c.sendAt = append(c.sendAt, at)
			c.mu.Unlock()
			n++
		}
	}
}

// stop ends the stream and returns how many packets were sent inside sp.
func (c *relayCamera) stop(sp span) int64 {
	close(c.done)
	<-c.finished
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, at := range c.sendAt {
		if at >= sp.from && at <= sp.to {
			n++
		}
	}
	return n
}

func (c *relayCamera) close() {
	select {
	case <-c.done:
	default:
		close(c.done)
		<-c.finished
	}
	_ = c.pc.Close()
}

// relayViewer plays the stream and records each packet's first arrival; pion's
// OnTrack goroutine is the one reader.
type relayViewer struct {
	pc        *webrtc.PeerConnection
	first     chan struct{}
	firstOnce sync.Once

	mu   sync.Mutex
	seen map[uint32]bool
	cs   []completion
}

func startRelayViewer(ctx context.Context, api *webrtc.API, play func(context.Context, string) (string, error), epoch time.Time) (*relayViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &relayViewer{pc: pc, first: make(chan struct{}), seen: map[uint32]bool{}}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			now := time.Since(epoch)
			if len(pkt.Payload) < 13 {
				continue
			}
			n := binary.BigEndian.Uint32(pkt.Payload[1:])
			at := time.Duration(binary.BigEndian.Uint64(pkt.Payload[5:]))
			v.mu.Lock()
			if !v.seen[n] {
				v.seen[n] = true
				v.cs = append(v.cs, completion{sent: at, delivered: now, done: now})
			}
			v.mu.Unlock()
			v.firstOnce.Do(func() { close(v.first) })
		}
	})
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, setupDeadline)
		err = offerAnswer(sctx, pc, play)
		cancel()
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return v, nil
}

// countIn returns how many packets sent inside sp have arrived.
func (v *relayViewer) countIn(sp span) int64 {
	return int64(len(v.completions(sp)))
}

// completions returns the arrivals of the packets sent inside sp (the camera goes
// on a little after the span; those packets are neither sent nor late).
func (v *relayViewer) completions(sp span) []completion {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []completion
	for _, c := range v.cs {
		if c.sent >= sp.from && c.sent <= sp.to {
			out = append(out, c)
		}
	}
	return out
}

func (v *relayViewer) close() { _ = v.pc.Close() }

// cpuTime returns the CPU time the threads of process pid have run, in nanoseconds
// (the first field of each /proc/<pid>/task/<tid>/schedstat). /proc/<pid>/stat counts
// in clock ticks (10 ms), too coarse for a short measurement of a light load.
func cpuTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			return 0, fmt.Errorf("cpu time: %w", err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, errors.New("cpu time: empty schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: %w", err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
