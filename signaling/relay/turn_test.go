package relay_test

import (
	"context"
	"net"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/relay"
	"github.com/securecam/securecam/signaling/turn"
)

const turnSecret = "relay-turn-test-secret"

// TestViewerThroughTURN: a viewer that can only use the hub's TURN server
// reaches the relay on the hub's own address because the relay's UDP port is
// one of TURN's media ports; without it, the TURN peer filter drops those
// packets (peer_port), as it does for anything else on the hub's addresses.
func TestViewerThroughTURN(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	r, err := relay.New(relay.Config{UDPConn: udp, SettingEngine: media.LoopbackSettingEngine()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	publish(t, r, "cam1")

	viewThrough := func(mediaPorts []int) (*media.Viewer, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		srv, err := turn.New(turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: turnSecret,
			MediaPorts: mediaPorts, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		p, err := ice.New(ice.Config{TURNHost: "127.0.0.1", TURNPort: srv.Port(), Secret: turnSecret})
		if err != nil {
			t.Fatal(err)
		}
		sig := &direct{r: r, camera: "cam1", principal: "viewer-device"}
		v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: sig,
			ICEServers: p.Servers("viewer-device").WebRTC(), ICETransportPolicy: webrtc.ICETransportPolicyRelay,
			SettingEngine: media.LoopbackSettingEngine()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := v.Offer(ctx); err != nil {
			t.Fatal(err)
		}
		_, ans := sig.session()
		if err := v.HandleAnswer(ans); err != nil {
			t.Fatal(err)
		}
		return v, reg
	}

	t.Run("without media ports the filter drops it", func(t *testing.T) {
		_, reg := viewThrough(nil)
		eventually(t, "packets to the relay's port dropped", func() bool { return counter(t, reg, "securecam_turn_refused_total", "reason", "peer_port") > 0 })
	})
	t.Run("with the relay's port it plays", func(t *testing.T) {
		v, reg := viewThrough([]int{port})
		waitFor(t, "first frame through TURN", v.FirstFrame())
		pair, err := v.SelectedCandidatePair()
		if err != nil {
			t.Fatal(err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay {
			t.Fatalf("viewer's candidate is %s, want relay", pair.Local.Typ)
		}
		if n := counter(t, reg, "securecam_turn_refused_total", "reason", "peer_port"); n != 0 {
			t.Fatalf("%v packets dropped on the way to the relay", n)
		}
	})
}
