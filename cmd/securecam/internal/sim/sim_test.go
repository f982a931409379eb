package sim_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"

	"github.com/securecam/securecam/signaling/wire"
)

func TestMain(m *testing.M) {
	os.Exit(childtest.Main(m))
}

// family is an account with a camera and a viewer linked to it, made with sim's
// REST helpers.
type family struct {
	owner          *client.Client
	camera, viewer wire.Device
}

func newFamily(t *testing.T, hubURL string) family {
	t.Helper()
	ctx := t.Context()
	owner, err := sim.Login{HubURL: hubURL, Email: fmt.Sprintf("sim-%d@example.com", time.Now().UnixNano()),
		Password: "correct horse battery staple", SignUp: true}.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cam, err := sim.EnsureDevice(ctx, owner, "porch", store.RoleCamera)
	if err != nil {
		t.Fatal(err)
	}
	view, err := sim.EnsureDevice(ctx, owner, "phone", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.EnsureLink(ctx, owner, cam.ID, view.ID); err != nil {
		t.Fatal(err)
	}
	return family{owner: owner, camera: cam, viewer: view}
}

// dial opens device's socket on the hub at hubURL with the owner's session.
func (f family) dial(t *testing.T, hubURL string, device wire.Device) *client.Socket {
	t.Helper()
	return f.dialAny(t, func() string { return hubURL }, device)
}

// dialAny opens device's socket with the owner's session on the hub whose URL next
// returns, asked again for every reconnection: a test's load balancer.
func (f family) dialAny(t *testing.T, next func() string, device wire.Device) *client.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := client.Connect(ctx, client.SocketConfig{Dial: func(ctx context.Context) (*client.Conn, error) {
		c, err := client.New(client.Config{BaseURL: next(), Token: f.owner.Token()})
		if err != nil {
			return nil, err
		}
		return c.Dial(ctx, client.DialOptions{DeviceID: device.ID})
	}})
	if err != nil {
		t.Fatalf("dial %s: %v", device.Name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// runCamera runs the simulated camera on conn until the test ends.
func runCamera(t *testing.T, conn *client.Socket, m sim.Media) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.RunCamera(ctx, conn, sim.CameraConfig{Media: m}) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("camera: %v", err)
		}
	})
}

// watch runs the simulated camera on camHub and the simulated viewer on viewHub
// through one live view, and checks that the viewer got whole frames and that the
// session ended, having been live, by hangup.
func watch(t *testing.T, f family, camHub, viewHub string, m sim.Media) {
	t.Helper()
	runCamera(t, f.dial(t, camHub, f.camera), m)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := sim.View(ctx, f.dial(t, viewHub, f.viewer), sim.ViewerConfig{Media: m, CameraDeviceID: f.camera.ID, Watch: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("view: %v (after %+v)", err, res)
	}
	t.Logf("time to first frame %v (from the offer %v), %d frames, %d packets, %d bytes",
		res.FirstFrame.Round(time.Millisecond), res.Media.TimeToFirstFrame().Round(time.Millisecond),
		res.Media.Frames, res.Media.Packets, res.Media.Bytes)
	if res.FirstFrame <= 0 || res.Media.Packets == 0 || res.Media.Keyframes == 0 || res.Media.Frames < 3 {
		t.Errorf("the viewer got %+v, want RTP with whole frames", res.Media)
	}
	s, err := f.owner.Stream(ctx, res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StreamEnded || s.StartedAt == nil || s.Reason == nil || *s.Reason != "hangup" {
		t.Errorf("session after the view: %s started %v reason %v, want ended (it was live) by hangup", s.Status, s.StartedAt, s.Reason)
	}
}

// loopback keeps the peers' candidates on this host.
var loopback = sim.Media{SettingEngine: media.LoopbackSettingEngine()}

func TestLiveView(t *testing.T) {
	t.Run("one hub", func(t *testing.T) {
		h := childtest.Start(t, nil)
		watch(t, newFamily(t, h.URL), h.URL, h.URL, loopback)
	})

	t.Run("camera and viewer on two replicas", func(t *testing.T) {
		pg := storetest.PostgresURL(t)
		redisURL, _, _ := bustest.StartRedis(t)
		replica := func(node string) *child.Process {
			return childtest.Start(t, map[string]string{
				"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL, "SECURECAM_NODE_ID": node,
			})
		}
		a, b := replica("a"), replica("b")
		watch(t, newFamily(t, a.URL), a.URL, b.URL, loopback)
	})

	t.Run("through TURN only", func(t *testing.T) {
		h := childtest.Start(t, map[string]string{
			"SECURECAM_TURN_ADDR":      "127.0.0.1:0",
			"SECURECAM_TURN_PUBLIC_IP": "127.0.0.1",
			"SECURECAM_TURN_SECRET":    "0123456789abcdef0123456789abcdef",
		})
		// Relay candidates only: media can flow through the TURN server and nowhere else.
		relayOnly := loopback
		relayOnly.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		watch(t, newFamily(t, h.URL), h.URL, h.URL, relayOnly)
		if got := childtest.Metric(t, h, "securecam_turn_relayed_bytes_total"); got < 5000 {
			t.Errorf("TURN relayed %v bytes, want the video", got)
		}
	})
}

func TestCameraAnswersCommands(t *testing.T) {
	h := childtest.Start(t, nil)
	f := newFamily(t, h.URL)
	runCamera(t, f.dial(t, h.URL, f.camera), sim.Media{})
	view := f.dial(t, h.URL, f.viewer)

	for _, tt := range []struct {
		typ     string
		payload string
		status  string
		errText string
	}{
		{"set_torch", `{"on":true}`, store.CommandAcknowledged, ""},
		{"ping", "", store.CommandAcknowledged, ""},
		{"snapshot", "", store.CommandFailed, "unsupported"},
		{"launch_rocket", "", store.CommandFailed, "unsupported"},
	} {
		// The camera may answer before the ack of command.send is written: read both,
		// in either order (Send, unlike Request, leaves the ack among the messages).
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		id := "m-" + tt.typ
		data := fmt.Sprintf(`{"target_device_id":%q,"command_type":%q`, f.camera.ID, tt.typ)
		if tt.payload != "" {
			data += `,"payload":` + tt.payload
		}
		if err := view.Send(ctx, hub.Envelope{Type: wire.TypeCommandSend, ID: id, Data: []byte(data + "}")}); err != nil {
			t.Fatal(err)
		}
		var commandID string
		final := map[string]wire.CommandStatus{}
		for commandID == "" || final[commandID].Status == "" {
			var env hub.Envelope
			select {
			case e, ok := <-view.Messages():
				if !ok {
					t.Fatalf("%s: connection ended: %v", tt.typ, view.Err())
				}
				env = e
			case <-ctx.Done():
				t.Fatalf("%s: no ack and final status within 20 s", tt.typ)
			}
			switch {
			case env.Type == hub.TypeAck && env.Ref == id:
				ack, err := client.Data[wire.CommandStatus](env)
				if err != nil {
					t.Fatal(err)
				}
				commandID = ack.CommandID
			case env.Type == wire.TypeCommandStatus:
				st, err := client.Data[wire.CommandStatus](env)
				if err != nil {
					t.Fatal(err)
				}
				if st.Status != store.CommandDispatched {
					final[st.CommandID] = st
				}
			case env.Type == hub.TypePresence, env.Type == hub.TypeHello:
			default:
				t.Fatalf("%s: unexpected %s %s", tt.typ, env.Type, env.Data)
			}
		}
		cancel()
		got := final[commandID]
		if got.Status != tt.status {
			t.Errorf("%s: status %q, want %q", tt.typ, got.Status, tt.status)
		}
		if (got.Error == nil) != (tt.errText == "") || (got.Error != nil && *got.Error != tt.errText) {
			t.Errorf("%s: error %v, want %q", tt.typ, got.Error, tt.errText)
		}
	}
}

// TestViewerAsksAgain: a viewer with Rerequest whose camera is offline (the session
// ends with camera_offline) asks again by itself once the camera comes online, and
// watches it.
func TestViewerAsksAgain(t *testing.T) {
	h := childtest.Start(t, nil)
	f := newFamily(t, h.URL)
	view := f.dial(t, h.URL, f.viewer)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	type outcome struct {
		res sim.ViewResult
		err error
	}
	viewed := make(chan outcome, 1)
	go func() {
		res, err := sim.View(ctx, view, sim.ViewerConfig{Media: loopback, CameraDeviceID: f.camera.ID, Watch: 200 * time.Millisecond, Rerequest: true})
		viewed <- outcome{res, err}
	}()
	// The first session fails: the camera is offline, with no push token to wake it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := f.owner.ListStreams(ctx, f.camera.ID, client.PageRequest{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 0 && page.Items[0].Status == store.StreamFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed first session within 30 s: %+v", page.Items)
		}
		time.Sleep(50 * time.Millisecond) // polling the hub
	}
	runCamera(t, f.dial(t, h.URL, f.camera), loopback)
	o := <-viewed
	if o.err != nil || o.res.Sessions != 2 || o.res.FirstFrame <= 0 || o.res.Media.Keyframes == 0 {
		t.Fatalf("view: %v, %+v; want a picture in the second session", o.err, o.res)
	}
}
