package sim_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/store"

	"github.com/securecam/securecam/signaling/wire"
)

// hostMedia keeps peers on the machine's own interfaces, which the hub's relay
// gathers too (it does not offer loopback candidates).
func hostMedia() sim.Media {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return sim.Media{SettingEngine: &se}
}

// startRelayHub starts a hub whose SECURECAM_NODE_URL (where relay.publish sends
// cameras) is its own address.
func startRelayHub(t *testing.T) string {
	h, _ := childtest.StartAt(t, func(addr string) map[string]string {
		return map[string]string{"SECURECAM_HTTP_ADDR": addr, "SECURECAM_NODE_URL": "http://" + addr}
	})
	return h.URL
}

// relayFamily is an account with a camera in a live mode (its device token kept,
// for publishing) and n viewers linked to it.
type relayFamily struct {
	family
	cameraToken string
	viewers     []wire.Device
}

func newRelayFamily(t *testing.T, hubURL, liveMode string, n int) relayFamily {
	t.Helper()
	ctx := t.Context()
	owner, err := sim.Login{HubURL: hubURL, Email: fmt.Sprintf("relay-%d@example.com", time.Now().UnixNano()),
		Password: "correct horse battery staple", SignUp: true}.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cam, err := owner.CreateDevice(ctx, client.NewDevice{Name: "porch", Role: store.RoleCamera, Platform: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if cam.Device.LiveMode != store.LiveModeAuto {
		t.Fatalf("a new camera's live_mode %q, want auto", cam.Device.LiveMode)
	}
	if liveMode != store.LiveModeAuto {
		d, err := owner.UpdateDevice(ctx, cam.Device.ID, client.DeviceUpdate{LiveMode: &liveMode})
		if err != nil || d.LiveMode != liveMode {
			t.Fatalf("set live_mode %s: %+v, %v", liveMode, d, err)
		}
	}
	f := relayFamily{family: family{owner: owner, camera: cam.Device}, cameraToken: cam.DeviceToken}
	for i := range n {
		v, err := sim.EnsureDevice(ctx, owner, fmt.Sprintf("phone-%d", i), store.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.EnsureLink(ctx, owner, cam.Device.ID, v.ID); err != nil {
			t.Fatal(err)
		}
		f.viewers = append(f.viewers, v)
	}
	return f
}

// runCamera runs the simulated camera until the test ends; with relay it
// answers relay.publish with its device token.
func (f relayFamily) runCamera(t *testing.T, hubURL string, m sim.Media, relay bool) {
	conn := f.dial(t, hubURL, f.camera)
	cfg := sim.CameraConfig{Media: m}
	if relay {
		cfg.Publisher = f.owner.WithToken(f.cameraToken)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.RunCamera(ctx, conn, cfg) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("camera: %v", err)
		}
	})
}

// sessions returns the camera's stream sessions by id.
func (f relayFamily) sessions(t *testing.T) map[string]wire.StreamSession {
	t.Helper()
	page, err := f.owner.ListStreams(t.Context(), f.camera.ID, client.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wire.StreamSession{}
	for _, s := range page.Items {
		out[s.ID] = s
	}
	return out
}

// view runs sim.View for viewer i in the background.
func (f relayFamily) view(ctx context.Context, t *testing.T, hubURL string, i int, m sim.Media, watch time.Duration) <-chan viewed {
	conn := f.dial(t, hubURL, f.viewers[i])
	out := make(chan viewed, 1)
	go func() {
		res, err := sim.View(ctx, conn, sim.ViewerConfig{Media: m, CameraDeviceID: f.camera.ID, Watch: watch})
		out <- viewed{res, err}
	}()
	return out
}

// waitLive waits until the viewer's session is live (polling the hub) and returns it.
func (f relayFamily) waitLive(t *testing.T, viewer string) wire.StreamSession {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, s := range f.sessions(t) {
			if s.RequesterDeviceID == viewer && s.Status == store.StreamLive {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live session of viewer %s within 30 s: %+v", viewer, f.sessions(t))
		}
		time.Sleep(50 * time.Millisecond) // polling the hub
	}
}

func checkPicture(t *testing.T, who string, v viewed) {
	t.Helper()
	if v.err != nil || v.res.FirstFrame <= 0 || v.res.Media.Keyframes == 0 || v.res.Media.Frames < 3 {
		t.Errorf("%s: %v, %+v; want whole frames", who, v.err, v.res.Media)
	}
}

// TestRelayModeSocketAndWHEPViewers: a camera in live mode relay, asked by the
// first socket viewer to publish (relay.publish), uploads one stream (its WHIP
// publication) that three socket viewers, answered by the hub, and two WHEP
// players all receive; it is asked for no peer-to-peer session.
func TestRelayModeSocketAndWHEPViewers(t *testing.T) {
	h := struct{ URL string }{startRelayHub(t)}
	m := hostMedia()
	f := newRelayFamily(t, h.URL, store.LiveModeRelay, 3)
	f.runCamera(t, h.URL, m, true)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	var socketViews []<-chan viewed
	for i := range f.viewers {
		socketViews = append(socketViews, f.view(ctx, t, h.URL, i, m, 2*time.Second))
	}
	var wg sync.WaitGroup
	whep := make([]media.ViewerStats, 2)
	for i := range whep {
		wg.Go(func() {
			sig := f.owner.WHEP(f.camera.ID)
			cfg := m.SettingEngine
			v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: sig, SettingEngine: cfg}})
			if err != nil {
				t.Error(err)
				return
			}
			defer v.Close()
			if err := v.Offer(ctx); err != nil {
				t.Errorf("whep %d: %v", i, err)
				return
			}
			if err := v.HandleAnswer(sig.Answer()); err != nil {
				t.Errorf("whep %d: %v", i, err)
				return
			}
			select {
			case <-v.FirstFrame():
			case <-ctx.Done():
			}
			whep[i] = v.Stats()
			_ = sig.Delete(context.WithoutCancel(ctx))
		})
	}
	for i, ch := range socketViews {
		v := <-ch
		checkPicture(t, fmt.Sprintf("socket viewer %d", i), v)
		t.Logf("socket viewer %d: first frame after %v", i, v.res.FirstFrame.Round(time.Millisecond))
	}
	wg.Wait()
	t.Logf("whep viewers done")
	for i, st := range whep {
		if st.Frames < 1 || st.Keyframes == 0 {
			t.Errorf("whep viewer %d got %+v, want whole frames", i, st)
		}
	}

	var publications, relayed int
	for _, s := range f.sessions(t) {
		switch {
		case s.RequesterDeviceID == f.camera.ID:
			publications++
		case s.MediaProvider == store.MediaRelay && s.StartedAt != nil:
			relayed++
		default:
			t.Errorf("session %+v: want the viewers relayed", s)
		}
	}
	if publications != 1 || relayed != 3 {
		t.Errorf("%d publications and %d relayed socket sessions, want 1 and 3", publications, relayed)
	}
}

// TestAutoModeSecondViewerRelayed: in live mode auto the first viewer watches
// peer to peer; the second, asking while the first watches, is relayed, the
// camera publishing when asked.
func TestAutoModeSecondViewerRelayed(t *testing.T) {
	h := struct{ URL string }{startRelayHub(t)}
	m := hostMedia()
	f := newRelayFamily(t, h.URL, store.LiveModeAuto, 2)
	f.runCamera(t, h.URL, m, true)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	first := f.view(ctx, t, h.URL, 0, m, 5*time.Second)
	s1 := f.waitLive(t, f.viewers[0].ID)
	if s1.MediaProvider != store.MediaP2P {
		t.Errorf("first viewer's session provider %q, want p2p", s1.MediaProvider)
	}
	second := <-f.view(ctx, t, h.URL, 1, m, 300*time.Millisecond)
	checkPicture(t, "second viewer", second)
	checkPicture(t, "first viewer", <-first)
	s2 := f.sessions(t)[second.res.SessionID]
	if s2.MediaProvider != store.MediaRelay || s2.StartedAt == nil {
		t.Errorf("second viewer's session %+v, want relayed and live once", s2)
	}
}

// TestAutoModeOldCameraFallsBack: a camera that does not know relay.publish (no
// publisher) gets the second viewer's session peer to peer after PublishWait.
func TestAutoModeOldCameraFallsBack(t *testing.T) {
	h := struct{ URL string }{startRelayHub(t)}
	m := hostMedia()
	f := newRelayFamily(t, h.URL, store.LiveModeAuto, 2)
	f.runCamera(t, h.URL, m, false)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	fctx, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	first := f.view(fctx, t, h.URL, 0, m, time.Minute)
	f.waitLive(t, f.viewers[0].ID)
	start := time.Now()
	second := <-f.view(ctx, t, h.URL, 1, m, 300*time.Millisecond)
	checkPicture(t, "second viewer", second)
	if wait := time.Since(start); wait < 15*time.Second {
		t.Errorf("second viewer's picture after %v, want it after the 15 s PublishWait", wait)
	}
	s2 := f.sessions(t)[second.res.SessionID]
	if s2.MediaProvider != store.MediaP2P || s2.StartedAt == nil {
		t.Errorf("second viewer's session %+v, want switched to p2p and live once", s2)
	}
	stopFirst()
	if v := <-first; v.res.FirstFrame <= 0 {
		t.Errorf("first viewer: %v, %+v", v.err, v.res)
	}
}
