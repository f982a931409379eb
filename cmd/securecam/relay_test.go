package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// freeAddr returns a loopback address with a port free at the moment, for a replica
// that must know its own address (SECURECAM_NODE_URL) before it listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// relayReplicas starts two replicas, r1 and r2, on a database and Redis of the test's
// own, each knowing its own address (SECURECAM_NODE_URL) for the relay's redirects.
func relayReplicas(t *testing.T) (r1, r2 *proc) {
	t.Helper()
	pg := storetest.PostgresURL(t)
	redisURL, _, _ := bustest.StartRedis(t)
	replica := func(node string) *proc {
		addr := freeAddr(t)
		return startProc(t, map[string]string{
			"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL,
			"SECURECAM_NODE_ID": node, "SECURECAM_DATA_DIR": t.TempDir(),
			"SECURECAM_HTTP_ADDR": addr, "SECURECAM_NODE_URL": "http://" + addr,
		})
	}
	return replica("r1"), replica("r2")
}

// watchWHEP plays camera by WHEP through p with token until the first frame, and
// returns the session.
func watchWHEP(ctx context.Context, t *testing.T, p *proc, token, camera string) *client.MediaSession {
	t.Helper()
	whep := p.client(token).WHEP(camera)
	v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: whep, SettingEngine: hostSettingEngine()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	if err := v.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.HandleAnswer(whep.Answer()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.FirstFrame():
	case <-ctx.Done():
		t.Fatalf("no frame through WHEP: %+v", v.Stats())
	}
	return whep
}

// hostSettingEngine: host candidates of the machine's interfaces (the relay in a
// replica gathers those too), UDP over IPv4, no mDNS.
func hostSettingEngine() *webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return &se
}

// TestRelayAcrossReplicas: a camera publishing by WHIP on one replica is watched
// by WHEP through the other, which redirects (307) to the replica holding the
// camera's relay (its SECURECAM_NODE_URL); a WHIP request reaching the other
// replica is redirected the same way.
func TestRelayAcrossReplicas(t *testing.T) {
	t.Parallel()
	r1, r2 := relayReplicas(t)
	acct := newAccount(t, r1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	_, whip := publish(ctx, t, r1, acct)
	if !strings.HasPrefix(whip.Location(), r1.URL+"/api/v1/whip/") {
		t.Fatalf("WHIP session %q, want one on r1 %s", whip.Location(), r1.URL)
	}

	t.Log("r2 redirects WHEP and WHIP for the camera to r1")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ path, token, want string }{
		{"/api/v1/whep/" + acct.camera.Device.ID, acct.viewer.DeviceToken, r1.URL + "/api/v1/whep/" + acct.camera.Device.ID},
		{"/api/v1/whip", acct.camera.DeviceToken, r1.URL + "/api/v1/whip"},
	} {
		req, err := http.NewRequestWithContext(ctx, "POST", r2.URL+tc.path, strings.NewReader(viewerOfferSDP(t)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+tc.token)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != tc.want {
			t.Fatalf("POST %s on r2 = %d Location %q, want 307 to %s", tc.path, res.StatusCode, res.Header.Get("Location"), tc.want)
		}
	}

	t.Log("a viewer asking r2 follows the redirect and watches the camera")
	whep := watchWHEP(ctx, t, r2, acct.viewer.DeviceToken, acct.camera.Device.ID)
	if !strings.HasPrefix(whep.Location(), r1.URL+"/api/v1/whep/") {
		t.Fatalf("WHEP session %q, want one on r1", whep.Location())
	}

	t.Log("the camera ends its publication; its stream session ends")
	if err := whip.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	streams, err := r2.client(acct.token).ListStreams(ctx, acct.camera.Device.ID, client.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(streams.Items) != 1 || streams.Items[0].MediaProvider != "relay" || streams.Items[0].Status != "ended" {
		t.Fatalf("stream sessions %+v, want one ended relay session", streams.Items)
	}
}

// viewerOfferSDP is a recvonly video offer.
func viewerOfferSDP(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// TestSocketViewerAcrossReplicas: a camera in live mode relay publishing by WHIP on
// r1 is watched by a socket viewer of r2: r1's relay serves the viewer's leg (r2
// forwards the offer, the answer and the candidates over the bus), the viewer gets
// whole frames, and the camera uploads one publication: no peer-to-peer session.
func TestSocketViewerAcrossReplicas(t *testing.T) {
	t.Parallel()
	r1, r2 := relayReplicas(t)
	acct := newAccount(t, r1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	mode := store.LiveModeRelay
	if _, err := r1.client(acct.token).UpdateDevice(ctx, acct.camera.Device.ID, client.DeviceUpdate{LiveMode: &mode}); err != nil {
		t.Fatal(err)
	}
	_, whip := publish(ctx, t, r1, acct)
	if !strings.HasPrefix(whip.Location(), r1.URL+"/api/v1/whip/") {
		t.Fatalf("WHIP session %q, want one on r1 %s", whip.Location(), r1.URL)
	}

	sock, err := r2.client(acct.viewer.DeviceToken).Connect(ctx, client.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sock.Close() })
	res, err := sim.View(ctx, sock, sim.ViewerConfig{Media: sim.Media{SettingEngine: hostSettingEngine()},
		CameraDeviceID: acct.camera.Device.ID})
	if err != nil || res.FirstFrame <= 0 || res.Media.Keyframes == 0 {
		t.Fatalf("socket viewer on r2: %v, %+v; want whole frames", err, res.Media)
	}

	streams, err := r2.client(acct.token).ListStreams(ctx, acct.camera.Device.ID, client.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var publications, relayed int
	for _, s := range streams.Items {
		switch {
		case s.RequesterDeviceID == acct.camera.Device.ID && s.MediaProvider == store.MediaRelay:
			publications++
		case s.ID == res.SessionID && s.MediaProvider == store.MediaRelay && s.StartedAt != nil:
			relayed++
		default:
			t.Errorf("session %+v: want only the publication and the relayed viewer", s)
		}
	}
	if publications != 1 || relayed != 1 {
		t.Errorf("%d publications and %d relayed viewer sessions, want 1 and 1", publications, relayed)
	}
}
