package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/media"
	"github.com/securecam/securecam/signaling/sim"
	"github.com/securecam/securecam/signaling/turn"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// dialClient opens device's socket on n with the Go client.
func dialClient(t *testing.T, n *node, device store.Device) *client.Conn {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: n.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, client.DialOptions{DeviceID: device.ID})
	if err != nil {
		t.Fatalf("dial %s: %v", device.Name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// watch runs the simulated camera on camNode and the simulated viewer on viewNode
// through one live view, and returns what the viewer measured.
func watch(t *testing.T, st store.Store, camNode, viewNode *node, f family, m sim.Media) sim.ViewResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	camConn := dialClient(t, camNode, f.camera)
	viewConn := dialClient(t, viewNode, f.viewer)

	camCtx, stopCam := context.WithCancel(ctx)
	camDone := make(chan error, 1)
	go func() { camDone <- sim.RunCamera(camCtx, camConn, sim.CameraConfig{Media: m}) }()
	defer func() {
		stopCam()
		if err := <-camDone; err != nil {
			t.Errorf("camera: %v", err)
		}
	}()

	res, err := sim.View(ctx, viewConn, sim.ViewerConfig{Media: m, CameraDeviceID: f.camera.ID, Watch: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("view: %v (after %+v)", err, res)
	}
	t.Logf("time to first frame %v (from the offer %v), %d frames, %d packets, %d bytes",
		res.FirstFrame.Round(time.Millisecond), res.Media.TimeToFirstFrame().Round(time.Millisecond),
		res.Media.Frames, res.Media.Packets, res.Media.Bytes)
	if res.FirstFrame <= 0 || res.Media.Packets == 0 || res.Media.Keyframes == 0 || res.Media.Frames < 3 {
		t.Errorf("the viewer got %+v, want RTP with whole frames", res.Media)
	}
	s, err := st.StreamSession(ctx, res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StreamEnded || s.StartedAt == nil || s.Reason == nil || *s.Reason != signaling.ReasonHangup {
		t.Errorf("session after the view: %s started %v reason %v, want ended (it was live) by hangup", s.Status, s.StartedAt, s.Reason)
	}
	return res
}

func TestLiveViewEndToEnd(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	watch(t, st, n, n, f, sim.Media{SettingEngine: media.LoopbackSettingEngine()})
}

func TestLiveViewAcrossReplicas(t *testing.T) {
	st := storetest.NewPostgres(t)
	url, prefix := bustest.RedisURL(t), bustest.Prefix(t)
	replica := func() *node { return startRedisReplica(t, st, url, prefix, nil) }
	a, b := replica(), replica()
	f := newFamily(t, st)
	watch(t, st, a, b, f, sim.Media{SettingEngine: media.LoopbackSettingEngine()})
}

func TestLiveViewThroughTURN(t *testing.T) {
	const secret = "live-view-turn-secret"
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: secret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	provider, err := ice.New(ice.Config{TURNHost: "127.0.0.1", TURNPort: srv.Port(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{config: func(c *signaling.Config) { c.Streams.ICE = provider }})
	f := newFamily(t, st)
	// Relay candidates only: media can flow through the TURN server and nowhere else.
	watch(t, st, n, n, f, sim.Media{SettingEngine: media.LoopbackSettingEngine(), ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	if got := counter(t, reg, "securecam_turn_relayed_bytes_total"); got < 5000 {
		t.Errorf("TURN relayed %v bytes, want the video", got)
	}
}

// counter sums a metric's values.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestSimCameraAnswersCommands(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	camConn := dialClient(t, n, f.camera)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.RunCamera(ctx, camConn, sim.CameraConfig{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("camera: %v", err)
		}
	}()

	view := dial(t, n, f.viewer)
	for _, tt := range []struct {
		typ     string
		payload any
		status  string
		errText string
	}{
		{"set_torch", map[string]bool{"on": true}, store.CommandAcknowledged, ""},
		{"ping", nil, store.CommandAcknowledged, ""},
		{"snapshot", nil, store.CommandFailed, "unsupported"},
		{"launch_rocket", nil, store.CommandFailed, "unsupported"},
	} {
		// The camera may answer before the ack of command.send is written: read both,
		// in either order.
		id := "m-" + randomHex(t)
		view.send("command.send", id, "", map[string]any{"target_device_id": f.camera.ID, "command_type": tt.typ, "payload": tt.payload})
		var commandID string
		final := map[string]client.CommandStatus{}
		for commandID == "" || final[commandID].Status == "" {
			env := view.next()
			switch {
			case env.Type == "ack" && env.Ref == id:
				commandID = decode[client.CommandStatus](t, env).CommandID
			case env.Type == "command.status":
				if st := decode[client.CommandStatus](t, env); st.Status != store.CommandDispatched {
					final[st.CommandID] = st
				}
			default:
				t.Fatalf("%s: unexpected %s %s", tt.typ, env.Type, env.Data)
			}
		}
		got := final[commandID]
		if got.Status != tt.status {
			t.Errorf("%s: status %q, want %q", tt.typ, got.Status, tt.status)
		}
		if (got.Error == nil) != (tt.errText == "") || (got.Error != nil && *got.Error != tt.errText) {
			t.Errorf("%s: error %v, want %q", tt.typ, got.Error, tt.errText)
		}
	}
}
