// Package mediatest connects a media.Camera and a media.Viewer through
// in-memory signaling (channels) for tests, standing in for the hub.
//
// Concurrency: Connect starts two goroutines that carry messages between the
// peers; the test's cleanup closes both peers and waits for them.
package mediatest

import (
	"context"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling/client/media"
)

// message is one signaling message: a description or a candidate.
type message struct {
	desc *webrtc.SessionDescription
	cand *webrtc.ICECandidateInit
}

// pipe is a Signaler writing to a channel.
type pipe chan message

func (p pipe) SendDescription(ctx context.Context, d webrtc.SessionDescription) error {
	return p.send(ctx, message{desc: &d})
}

func (p pipe) SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	return p.send(ctx, message{cand: &c})
}

func (p pipe) send(ctx context.Context, m message) error {
	select {
	case p <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pair is a camera and a viewer connected by Connect.
type Pair struct {
	Camera *media.Camera
	Viewer *media.Viewer

	mu      sync.Mutex
	answers []string
}

// Answers returns the SDP answers the camera has sent so far.
func (p *Pair) Answers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.answers...)
}

// Connect creates a camera and a viewer from the configs (their Signalers
// are set here), wires them together and sends the viewer's first offer. The
// peers are closed when the test ends. Signaling errors fail the test.
func Connect(t testing.TB, camCfg media.CameraConfig, viewerCfg media.ViewerConfig) *Pair {
	t.Helper()
	toCamera, toViewer := make(pipe, 64), make(pipe, 64)
	camCfg.Signaler, viewerCfg.Signaler = toViewer, toCamera

	cam, err := media.NewCamera(camCfg)
	if err != nil {
		t.Fatalf("NewCamera: %v", err)
	}
	viewer, err := media.NewViewer(viewerCfg)
	if err != nil {
		_ = cam.Close()
		t.Fatalf("NewViewer: %v", err)
	}

	pair := &Pair{Camera: cam, Viewer: viewer}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		carry(ctx, t, toCamera, func(d webrtc.SessionDescription) error { return cam.HandleOffer(ctx, d.SDP) }, cam.AddCandidate)
	}()
	go func() {
		defer wg.Done()
		carry(ctx, t, toViewer, func(d webrtc.SessionDescription) error {
			pair.mu.Lock()
			pair.answers = append(pair.answers, d.SDP)
			pair.mu.Unlock()
			return viewer.HandleAnswer(d.SDP)
		}, viewer.AddCandidate)
	}()
	t.Cleanup(func() {
		cancel()
		if err := viewer.Close(); err != nil {
			t.Errorf("viewer close: %v", err)
		}
		if err := cam.Close(); err != nil {
			t.Errorf("camera close: %v", err)
		}
		wg.Wait()
	})

	if err := viewer.Offer(ctx); err != nil {
		t.Fatalf("Offer: %v", err)
	}
	return pair
}

func carry(ctx context.Context, t testing.TB, in pipe, onDesc func(webrtc.SessionDescription) error,
	onCand func(webrtc.ICECandidateInit) error,
) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-in:
			var err error
			if m.desc != nil {
				err = onDesc(*m.desc)
			} else {
				err = onCand(*m.cand)
			}
			if err != nil && ctx.Err() == nil {
				t.Errorf("signaling: %v", err)
			}
		}
	}
}
