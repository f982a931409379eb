package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
)

// setupDeadline bounds one live-view setup.
const setupDeadline = 30 * time.Second

var liveviewColumns = []column{
	colTarget,
	colInt("setups", func(r Result) int64 { return r.Received }),
	colInt("at once", func(r Result) int64 { return int64(r.Pairs) }),
	colMs("p50 ms", func(r Result) float64 { return r.P50 }),
	colMs("p90 ms", func(r Result) float64 { return r.P90 }),
	colMs("p99 ms", func(r Result) float64 { return r.P99 }),
	colMs("max ms", func(r Result) float64 { return r.Max }),
	{"hub adds p50", func(r Result) string {
		if r.Target != "hub" {
			return "-"
		}
		return fmt.Sprintf("%.2f ms", r.OverheadP50)
	}},
	{"hub adds p90", func(r Result) string {
		if r.Target != "hub" {
			return "-"
		}
		return fmt.Sprintf("%.2f ms", r.OverheadP90)
	}},
	colInt("failed", func(r Result) int64 { return r.Lost }),
}

// liveview measures Setups concurrent live-view setups with pion peers, Rounds times:
// through the hub (simulated cameras and viewers of package sim), from stream.request
// to the first RTP packet at the viewer; and the same two peers connected directly
// with in-memory signaling, from creating them to the first RTP packet.
func (r *runner) liveview(ctx context.Context) ([]Result, error) {
	direct := r.liveviewDirect(ctx)
	viaHub, err := r.liveviewHub(ctx)
	if err != nil {
		return nil, err
	}
	viaHub.OverheadP50 = viaHub.P50 - direct.P50
	viaHub.OverheadP90 = viaHub.P90 - direct.P90
	rs := []Result{direct, viaHub}
	writeTable(r.cfg.Out, fmt.Sprintf("liveview: %d setups at once, %d rounds, time to the first RTP packet (VP8, 30 fps, loopback)",
		r.cfg.Setups, r.cfg.Rounds), liveviewColumns, rs)
	return rs, nil
}

func (r *runner) liveviewHub(ctx context.Context) (Result, error) {
	k := r.cfg.Setups
	res := Result{Scenario: "liveview", Target: "hub", Phase: "setup", Pairs: k}
	s, err := r.hubServer(ctx)
	if err != nil {
		return res, err
	}
	user, err := r.account(ctx, s.url)
	if err != nil {
		return res, err
	}
	cams, err := r.devices(ctx, user, "camera", k)
	if err != nil {
		return res, err
	}
	viewers, err := r.devices(ctx, user, "viewer", k)
	if err != nil {
		return res, err
	}
	if err := r.linkAll(ctx, user, cams, viewers); err != nil {
		return res, err
	}
	m := sim.Media{SettingEngine: media.LoopbackSettingEngine()}
	dial := func(ctx context.Context, d device) (*client.Socket, error) {
		c, err := client.New(client.Config{BaseURL: s.url, HTTPClient: r.dial.client(), Token: d.Token})
		if err != nil {
			return nil, err
		}
		return c.Connect(ctx, client.DialOptions{})
	}

	camCtx, stopCams := context.WithCancel(ctx)
	var cameras sync.WaitGroup
	var camConns []*client.Socket
	defer func() {
		stopCams()
		cameras.Wait()
		for _, c := range camConns {
			_ = c.Close()
		}
	}()
	for _, d := range cams {
		conn, err := dial(ctx, d)
		if err != nil {
			return res, err
		}
		camConns = append(camConns, conn)
		cameras.Go(func() { _ = sim.RunCamera(camCtx, conn, sim.CameraConfig{Media: m}) })
	}
	viewerConns := make([]*client.Socket, k)
	defer func() {
		for _, c := range viewerConns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	for i, d := range viewers {
		if viewerConns[i], err = dial(ctx, d); err != nil {
			return res, err
		}
	}

	var lat latencies
	var mu sync.Mutex
	var failed atomic.Int64
	for round := range r.cfg.Rounds {
		r.progressf("liveview hub: round %d/%d, %d setups", round+1, r.cfg.Rounds, k)
		var wg sync.WaitGroup
		for i := range k {
			wg.Go(func() {
				vctx, cancel := context.WithTimeout(ctx, setupDeadline)
				defer cancel()
				start := time.Now()
				v, err := sim.View(vctx, viewerConns[i], sim.ViewerConfig{Media: m, CameraDeviceID: cams[i].ID})
				first := v.Media.FirstPacketAt
				if err != nil || first.IsZero() {
					r.progressf("liveview hub: setup %d failed: %v", i, err)
					failed.Add(1)
					return
				}
				mu.Lock()
				lat = append(lat, first.Sub(start))
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if err := s.exited(); err != nil {
		return res, err
	}
	res.Sent = int64(k * r.cfg.Rounds)
	res.Received = int64(len(lat))
	res.Lost = failed.Load()
	lat.fill(&res)
	return res, nil
}

func (r *runner) liveviewDirect(ctx context.Context) Result {
	k := r.cfg.Setups
	res := Result{Scenario: "liveview", Target: "direct", Phase: "setup", Pairs: k}
	var lat latencies
	var mu sync.Mutex
	var failed atomic.Int64
	for round := range r.cfg.Rounds {
		r.progressf("liveview direct: round %d/%d, %d setups", round+1, r.cfg.Rounds, k)
		var wg sync.WaitGroup
		for i := range k {
			wg.Go(func() {
				d, err := directSetup(ctx)
				if err != nil {
					r.progressf("liveview direct: setup %d failed: %v", i, err)
					failed.Add(1)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	res.Sent = int64(k * r.cfg.Rounds)
	res.Received = int64(len(lat))
	res.Lost = failed.Load()
	lat.fill(&res)
	return res
}

// directSetup connects a camera and a viewer peer through in-memory signaling and
// returns the time from creating them to the viewer's first RTP packet.
func directSetup(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, setupDeadline)
	defer cancel()
	toCamera, toViewer := make(pipe, 64), make(pipe, 64)
	start := time.Now()
	cam, err := media.NewCamera(media.CameraConfig{Config: media.Config{Signaler: toViewer, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		return 0, err
	}
	defer cam.Close()
	viewer, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: toCamera, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		return 0, err
	}
	defer viewer.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: the carriers end with ctx
	errs := make(chan error, 2)
	wg.Go(func() {
		errs <- toCamera.carry(ctx, func(d webrtc.SessionDescription) error { return cam.HandleOffer(ctx, d.SDP) }, cam.AddCandidate)
	})
	wg.Go(func() {
		errs <- toViewer.carry(ctx, func(d webrtc.SessionDescription) error { return viewer.HandleAnswer(d.SDP) }, viewer.AddCandidate)
	})
	if err := viewer.Offer(ctx); err != nil {
		return 0, err
	}
	select {
	case <-viewer.FirstFrame():
	case err := <-errs:
		return 0, err
	case <-ctx.Done():
		return 0, fmt.Errorf("no first frame: %w", ctx.Err())
	}
	return viewer.Stats().FirstPacketAt.Sub(start), nil
}

// pipe is in-memory signaling: a media.Signaler writing to a channel.
type pipe chan pipeMessage

type pipeMessage struct {
	desc *webrtc.SessionDescription
	cand *webrtc.ICECandidateInit
}

func (p pipe) SendDescription(ctx context.Context, d webrtc.SessionDescription) error {
	return p.send(ctx, pipeMessage{desc: &d})
}

func (p pipe) SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	return p.send(ctx, pipeMessage{cand: &c})
}

func (p pipe) send(ctx context.Context, m pipeMessage) error {
	select {
	case p <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// carry hands the pipe's messages to a peer until ctx ends; it returns the first
// failure to apply one (nil when ctx ended).
func (p pipe) carry(ctx context.Context, onDesc func(webrtc.SessionDescription) error, onCand func(webrtc.ICECandidateInit) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-p:
			var err error
			if m.desc != nil {
				err = onDesc(*m.desc)
			} else {
				err = onCand(*m.cand)
			}
			if err != nil && !errors.Is(err, media.ErrClosed) && ctx.Err() == nil {
				return fmt.Errorf("signaling: %w", err)
			}
		}
	}
}
