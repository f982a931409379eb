package media_test

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/client/media/mediatest"
)

const waitLimit = 15 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return nil
}

func loopbackConfig(t *testing.T) media.Config {
	return media.Config{SettingEngine: media.LoopbackSettingEngine(), Logger: testLogger(t)}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestCameraToViewer(t *testing.T) {
	// Registered first, so it runs after Connect's cleanup closed the peers.
	t.Cleanup(test.CheckRoutines(t))
	p := mediatest.Connect(t, media.CameraConfig{Config: loopbackConfig(t)}, media.ViewerConfig{Config: loopbackConfig(t)})

	waitClosed(t, "viewer connected", p.Viewer.Connected())
	waitClosed(t, "camera connected", p.Camera.Connected())
	waitClosed(t, "first frame", p.Viewer.FirstFrame())
	// A second of the 30 fps clip, which has a keyframe every 30 frames.
	waitFor(t, "30 frames", func() bool { return p.Viewer.Stats().Frames >= 30 })

	s := p.Viewer.Stats()
	t.Logf("loopback: time to first packet %s, to first keyframe %s", s.TimeToFirstPacket(), s.TimeToFirstFrame())
	if s.TimeToFirstPacket() <= 0 || s.TimeToFirstFrame() < s.TimeToFirstPacket() {
		t.Errorf("times: first packet %s, first frame %s", s.TimeToFirstPacket(), s.TimeToFirstFrame())
	}
	if s.Packets < s.Frames || s.Bytes == 0 || s.Keyframes == 0 {
		t.Errorf("stats %+v", s)
	}
	if s.LastPacketAt.Before(s.FirstPacketAt) || s.MaxGap <= 0 || s.MaxGap > s.LastPacketAt.Sub(s.FirstPacketAt) {
		t.Errorf("first packet %v, last %v, longest gap %v", s.FirstPacketAt, s.LastPacketAt, s.MaxGap)
	}
	if cs := p.Camera.Stats(); cs.FramesSent < s.Frames || cs.KeyframeRequests != 0 {
		t.Errorf("camera stats %+v (viewer saw %d frames, asked no keyframe)", cs, s.Frames)
	}
	for name, get := range map[string]func() (*webrtc.ICECandidatePair, error){
		"viewer": p.Viewer.SelectedCandidatePair, "camera": p.Camera.SelectedCandidatePair,
	} {
		pair, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeHost || pair.Remote.Typ != webrtc.ICECandidateTypeHost {
			t.Errorf("%s selected %s", name, pair)
		}
	}
}

func TestKeyframeRequestReachesCamera(t *testing.T) {
	p := mediatest.Connect(t, media.CameraConfig{Config: loopbackConfig(t)}, media.ViewerConfig{Config: loopbackConfig(t)})
	waitClosed(t, "first frame", p.Viewer.FirstFrame())

	if err := p.Viewer.RequestKeyframe(); err != nil {
		t.Fatalf("RequestKeyframe: %v", err)
	}
	waitFor(t, "the camera to see the PLI", func() bool { return p.Camera.Stats().KeyframeRequests >= 1 })
	keyframes := p.Viewer.Stats().Keyframes
	waitFor(t, "a keyframe after the PLI", func() bool { return p.Viewer.Stats().Keyframes > keyframes })
}

var ufragRE = regexp.MustCompile(`a=ice-ufrag:(\S+)`)

func TestICERestart(t *testing.T) {
	p := mediatest.Connect(t, media.CameraConfig{Config: loopbackConfig(t)}, media.ViewerConfig{Config: loopbackConfig(t)})
	waitClosed(t, "first frame", p.Viewer.FirstFrame())

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Viewer.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	waitFor(t, "the second answer", func() bool { return len(p.Answers()) == 2 })
	answers := p.Answers()
	first, second := ufragRE.FindStringSubmatch(answers[0]), ufragRE.FindStringSubmatch(answers[1])
	if first == nil || second == nil || first[1] == second[1] {
		t.Fatalf("answer ufrags %q then %q: want two different ones", first, second)
	}
	frames := p.Viewer.Stats().Frames
	waitFor(t, "frames after the restart", func() bool { return p.Viewer.Stats().Frames > frames+30 })
	pair, err := p.Viewer.SelectedCandidatePair()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after restart: %s", pair)
}

func TestNewCameraRefusesBadInput(t *testing.T) {
	nop := nopSignaler{}
	valid := media.CameraConfig{Config: media.Config{Signaler: nop}}
	tests := []struct {
		name string
		cfg  media.CameraConfig
	}{
		{"no signaler", media.CameraConfig{}},
		{"not ivf", media.CameraConfig{Config: valid.Config, IVF: []byte("not an ivf file at all, just text....")}},
		{"not vp8", media.CameraConfig{Config: valid.Config, IVF: ivfHeader("VP90", 1, 30)}},
		{"zero timebase", media.CameraConfig{Config: valid.Config, IVF: ivfHeader("VP80", 0, 30)}},
		{"no frames", media.CameraConfig{Config: valid.Config, IVF: ivfHeader("VP80", 1, 30)}},
		{"starts with an inter frame", media.CameraConfig{Config: valid.Config,
			IVF: append(ivfHeader("VP80", 1, 30), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := media.NewCamera(tt.cfg); err == nil {
				_ = c.Close()
				t.Fatal("NewCamera accepted it")
			}
		})
	}
	c, err := media.NewCamera(valid)
	if err != nil {
		t.Fatalf("NewCamera with the test pattern: %v", err)
	}
	// Closing a camera that never connected returns, twice.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewViewerNeedsSignaler(t *testing.T) {
	if v, err := media.NewViewer(media.ViewerConfig{}); err == nil {
		_ = v.Close()
		t.Fatal("NewViewer without a signaler")
	}
	v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: nopSignaler{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RequestKeyframe(); err == nil {
		t.Error("RequestKeyframe before any video")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Offer(context.Background()); err == nil {
		t.Error("Offer after Close")
	}
}

type nopSignaler struct{}

func (nopSignaler) SendDescription(context.Context, webrtc.SessionDescription) error { return nil }
func (nopSignaler) SendCandidate(context.Context, webrtc.ICECandidateInit) error     { return nil }

// ivfHeader is a 32-byte IVF file header.
func ivfHeader(fourcc string, num, den uint32) []byte {
	h := make([]byte, 32)
	copy(h, "DKIF")
	h[4], h[6] = 0, 32
	copy(h[8:12], fourcc)
	h[12], h[14] = 64, 240 // 320x240
	h[16], h[20] = byte(den), byte(num)
	return h
}
