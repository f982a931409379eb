package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"

	"github.com/securecam/securecam/signaling/wire"
)

const simUsage = `usage: securecam sim camera|viewer [flags]

Runs a simulated device on real WebRTC peers against a running hub, to try it without
phones: the camera answers live-view requests with a VP8 test pattern and commands;
the viewer asks the camera for live view, counts the frames and prints the time to the
first one. Both sign in (or take a user session token), register their device or reuse
the one of the same name, and the viewer links itself to the camera. See
docs/live-view.md.

With -device-token (the camera's device token, shown once when it was registered)
the camera also publishes to the hub's relay when asked (relay.publish), for relayed
viewers (docs/live-view.md#live-mode).

Flags may also come from SECURECAM_SIM_HUB, SECURECAM_SIM_EMAIL,
SECURECAM_SIM_PASSWORD, SECURECAM_SIM_TOKEN and SECURECAM_SIM_DEVICE_TOKEN.

flags:
`

// simCmd runs `securecam sim camera|viewer`.
func simCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != store.RoleCamera && args[0] != store.RoleViewer) {
		fmt.Fprint(stderr, simUsage)
		return 2
	}
	role := args[0]
	fs := flag.NewFlagSet("securecam sim "+role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, simUsage)
		fs.PrintDefaults()
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var login sim.Login
	fs.StringVar(&login.HubURL, "hub", env("SECURECAM_SIM_HUB", "http://localhost:8080"), "the hub's base URL")
	fs.StringVar(&login.Email, "email", env("SECURECAM_SIM_EMAIL", ""), "account e-mail")
	fs.StringVar(&login.Password, "password", env("SECURECAM_SIM_PASSWORD", ""), "account password")
	fs.StringVar(&login.Token, "token", env("SECURECAM_SIM_TOKEN", ""), "a user session token instead of e-mail and password")
	fs.BoolVar(&login.SignUp, "signup", false, "create the account when sign-in finds none")
	deviceToken := fs.String("device-token", env("SECURECAM_SIM_DEVICE_TOKEN", ""), "camera: its device token, to publish to the hub's relay when asked")
	name := fs.String("name", "sim-"+role, "device name (registered once, then reused)")
	relay := fs.Bool("relay", false, "send media through the hub's TURN server only")
	verbose := fs.Bool("v", false, "debug logs, pion's included")
	camera := fs.String("camera", "sim-camera", "viewer: name or id of the camera to watch")
	watch := fs.Duration("watch", 10*time.Second, "viewer: how long to watch after the first frame")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "securecam sim %s: unexpected arguments %q\n", role, fs.Args())
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	m := sim.Media{Logger: logger}
	if *verbose {
		m.PeerLogger = logger
	}
	if *relay {
		m.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}

	var err error
	if role == store.RoleCamera {
		err = simCamera(ctx, login, *name, *deviceToken, m, logger)
	} else {
		err = simViewer(ctx, login, *name, *camera, *watch, m, stdout, logger)
	}
	if err != nil {
		fmt.Fprintf(stderr, "securecam sim %s: %v\n", role, err)
		return 1
	}
	return 0
}

// simDevice signs in, registers (or reuses) the device and opens its socket, which
// reconnects as the protocol says (a hub restart does not end the simulation).
func simDevice(ctx context.Context, login sim.Login, name, role string, logger *slog.Logger) (*client.Client, wire.Device, *client.Socket, error) {
	c, err := login.Client(ctx)
	if err != nil {
		return nil, wire.Device{}, nil, err
	}
	d, err := sim.EnsureDevice(ctx, c, name, role)
	if err != nil {
		return nil, wire.Device{}, nil, err
	}
	conn, err := client.Connect(ctx, client.SocketConfig{
		Dial: func(ctx context.Context) (*client.Conn, error) {
			return c.Dial(ctx, client.DialOptions{DeviceID: d.ID})
		},
		Logger: logger,
	})
	if err != nil {
		return nil, wire.Device{}, nil, err
	}
	logger.Info("connected", "hub", login.HubURL, "device", d.Name, "device_id", d.ID, "node", conn.Hello().Node)
	return c, d, conn, nil
}

func simCamera(ctx context.Context, login sim.Login, name, deviceToken string, m sim.Media, logger *slog.Logger) error {
	c, _, conn, err := simDevice(ctx, login, name, store.RoleCamera, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := sim.CameraConfig{Media: m}
	if deviceToken != "" {
		cfg.Publisher = c.WithToken(deviceToken)
	}
	logger.Info("waiting for live-view requests and commands; Ctrl-C stops")
	return sim.RunCamera(ctx, conn, cfg)
}

func simViewer(ctx context.Context, login sim.Login, name, camera string, watch time.Duration, m sim.Media, stdout io.Writer, logger *slog.Logger) error {
	c, d, conn, err := simDevice(ctx, login, name, store.RoleViewer, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	cam, err := sim.FindDevice(ctx, c, camera)
	if err != nil {
		return fmt.Errorf("%w (start `securecam sim camera` first, or name it with -camera)", err)
	}
	if err := sim.EnsureLink(ctx, c, cam.ID, d.ID); err != nil {
		return err
	}
	res, err := sim.View(ctx, conn, sim.ViewerConfig{Media: m, CameraDeviceID: cam.ID, Watch: watch, Rerequest: true})
	s := res.Media
	if res.SessionID != "" {
		fmt.Fprintf(stdout, "session %s with camera %q\n", res.SessionID, cam.Name)
	}
	if res.FirstFrame > 0 {
		watched := time.Since(s.FirstFrameAt).Seconds()
		fmt.Fprintf(stdout, "time to first frame: %v (stream.request to the first whole keyframe; %v of it after the offer)\n",
			res.FirstFrame.Round(time.Millisecond), s.TimeToFirstFrame().Round(time.Millisecond))
		fmt.Fprintf(stdout, "received %d frames (%d keyframes), %d RTP packets, %d bytes; %.1f frames/s\n",
			s.Frames, s.Keyframes, s.Packets, s.Bytes, float64(s.Frames)/max(watched, 0.001))
	}
	if errors.Is(err, context.Canceled) && res.FirstFrame > 0 {
		return nil // stopped with Ctrl-C while watching
	}
	return err
}
