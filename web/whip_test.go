package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/relay"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web"
)

// mediaWait bounds every wait of these tests: they assert that media arrives,
// never how fast (a loaded two-core machine runs them).
const mediaWait = 30 * time.Second

// withMedia serves WHIP and WHEP through a real relay (loopback candidates)
// whose publications end their stream_sessions rows as cmd wires it, and a real
// signaling service for the ICE servers and publish requests. A revoked link
// closes the viewer's relay sessions, as cmd wires it.
func withMedia(t *testing.T, rl **relay.Relay, publishers web.PublishRequester) envOpt {
	return func(s *setup) {
		provider, err := ice.New(ice.Config{STUNURLs: []string{"stun:stun.example.com"}, TURNHost: "192.0.2.1", Secret: turnSecret})
		if err != nil {
			t.Fatal(err)
		}
		svc := newSignaling(t, s, signaling.Config{Streams: signaling.StreamConfig{ICE: provider}})
		st := s.deps.Store.(store.Store)
		r, err := relay.New(relay.Config{SettingEngine: media.LoopbackSettingEngine(), OnClose: func(rs *relay.Session) {
			if rs.Publisher() {
				_, _ = st.TransitionStream(context.Background(), rs.ID(), store.OpenStreamStatuses, store.StreamEnded,
					signaling.ReasonHangup, time.Now())
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		*rl = r
		s.deps.Streams, s.deps.Media, s.deps.Publishers = svc, web.RelayMedia(r), svc
		if publishers != nil {
			s.deps.Publishers = publishers
		}
		s.cfg.PublishWait = 20 * time.Second
	}
}

// httpSignaler carries a pion peer's offer and candidates over WHIP or WHEP
// through env.do, so that every exchange is checked against openapi.json.
type httpSignaler struct {
	e        *env
	endpoint string
	token    string

	mu       sync.Mutex
	res      response
	location string
	ufrag    string
	pwd      string
}

func (h *httpSignaler) SendDescription(_ context.Context, d webrtc.SessionDescription) error {
	res := h.e.do("POST", h.endpoint, d.SDP, bearer(h.token), header("Content-Type", "application/sdp"))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.res = res
	if res.status != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", h.endpoint, res.status, res.body)
	}
	h.location = res.header.Get("Location")
	for _, line := range strings.Split(d.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok && h.ufrag == "" {
			h.ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok && h.pwd == "" {
			h.pwd = v
		}
	}
	return nil
}

func (h *httpSignaler) SendCandidate(_ context.Context, c webrtc.ICECandidateInit) error {
	if c.Candidate == "" {
		return nil
	}
	h.mu.Lock()
	loc, frag := h.location, "a=ice-ufrag:"+h.ufrag+"\r\na=ice-pwd:"+h.pwd+"\r\na="+c.Candidate+"\r\n"
	h.mu.Unlock()
	if loc == "" {
		return errors.New("candidate before the session")
	}
	res := h.e.do("PATCH", loc, frag, bearer(h.token), header("Content-Type", "application/trickle-ice-sdpfrag"))
	if res.status != http.StatusNoContent {
		return fmt.Errorf("PATCH %s: %d %s", loc, res.status, res.body)
	}
	return nil
}

func (h *httpSignaler) answer() (response, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.res, h.location
}

// whipCamera publishes a pion camera by WHIP with the camera's token.
func whipCamera(t *testing.T, e *env, token string) (*media.Camera, *httpSignaler) {
	t.Helper()
	cam, sig, err := publishWHIP(e, token, "")
	if err != nil {
		t.Fatal(err)
	}
	return cam, sig
}

// publishWHIP publishes a pion camera by WHIP, as deviceID when set (with a
// session token); the test's cleanup closes it.
func publishWHIP(e *env, token, deviceID string) (*media.Camera, *httpSignaler, error) {
	sig := &httpSignaler{e: e, endpoint: "/api/v1/whip", token: token}
	if deviceID != "" {
		sig.endpoint += "?device_id=" + deviceID
	}
	cam, err := media.NewCamera(media.CameraConfig{Config: media.Config{Signaler: sig, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		return nil, nil, err
	}
	e.t.Cleanup(func() { _ = cam.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), mediaWait)
	defer cancel()
	if err := cam.Offer(ctx); err != nil {
		return nil, nil, err
	}
	res, _ := sig.answer()
	if err := cam.HandleAnswer(string(res.body)); err != nil {
		return nil, nil, err
	}
	return cam, sig, nil
}

// whepViewer plays camera by WHEP with token.
func whepViewer(t *testing.T, e *env, camera, token string) (*media.Viewer, *httpSignaler) {
	t.Helper()
	sig := &httpSignaler{e: e, endpoint: "/api/v1/whep/" + camera, token: token}
	v, err := media.NewViewer(media.ViewerConfig{Config: media.Config{Signaler: sig, SettingEngine: media.LoopbackSettingEngine()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), mediaWait)
	defer cancel()
	if err := v.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ := sig.answer()
	if err := v.HandleAnswer(string(res.body)); err != nil {
		t.Fatal(err)
	}
	return v, sig
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(mediaWait):
		t.Fatalf("%s: did not happen within %s", what, mediaWait)
	}
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mediaWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, mediaWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// account is a user with a camera and two linked viewer devices.
type account struct {
	tok          string
	cam, v1, v2  deviceJSON
	link1, link2 string
}

func newAccount(t *testing.T, e *env) account {
	a := account{tok: e.signUp().Session.Token}
	a.cam, a.v1, a.v2 = e.createDevice(a.tok, "camera"), e.createDevice(a.tok, "viewer"), e.createDevice(a.tok, "viewer")
	for i, v := range []deviceJSON{a.v1, a.v2} {
		var l wire.DeviceLink
		e.do("POST", "/api/v1/device-links", map[string]string{
			"camera_device_id": a.cam.Device.ID, "client_device_id": v.Device.ID,
		}, bearer(a.tok)).want(t, http.StatusCreated, &l)
		if i == 0 {
			a.link1 = l.ID
		} else {
			a.link2 = l.ID
		}
	}
	return a
}

// TestWHIPAndWHEP: a pion camera publishes by WHIP, five pion viewers play by
// WHEP (two linked viewer devices, three by the owner's session), all receive
// its video; revoking one viewer's link closes that viewer only; the camera
// ending its WHIP session ends every viewer and its stream session.
func TestWHIPAndWHEP(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)

	cam, camSig := whipCamera(t, e, a.cam.DeviceToken)
	res, loc := camSig.answer()
	if ct := res.header.Get("Content-Type"); ct != "application/sdp" || !strings.HasPrefix(loc, "/api/v1/whip/") {
		t.Fatalf("WHIP answer: Content-Type %q, Location %q", ct, loc)
	}
	links := strings.Join(res.header.Values("Link"), "\n")
	if !strings.Contains(links, `<stun:stun.example.com>; rel="ice-server"`) ||
		!strings.Contains(links, `rel="ice-server"; username="`) || !strings.Contains(links, `credential-type="password"`) {
		t.Fatalf("WHIP Link headers:\n%s", links)
	}

	var viewers []*media.Viewer
	var sigs []*httpSignaler
	for _, tok := range []string{a.v1.DeviceToken, a.v2.DeviceToken, a.tok, a.tok, a.tok} {
		v, sig := whepViewer(t, e, a.cam.Device.ID, tok)
		viewers, sigs = append(viewers, v), append(sigs, sig)
	}
	for i, v := range viewers {
		waitClosed(t, fmt.Sprintf("viewer %d first frame", i), v.FirstFrame())
	}
	if up := cam.Upload(); up.Streams != 1 {
		t.Fatalf("the camera uploads %d streams, want 1", up.Streams)
	}
	if n := rl.Viewers(a.cam.Device.ID); n != 5 {
		t.Fatalf("relay has %d viewers, want 5", n)
	}

	// The publication is a stream session of provider relay, live, named by
	// its media session id and endpoints on this node.
	var l struct{ Items []wire.StreamSession }
	e.do("GET", "/api/v1/streams?camera_device_id="+a.cam.Device.ID, nil, bearer(a.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].MediaProvider != store.MediaRelay || l.Items[0].Status != store.StreamLive ||
		l.Items[0].MediaSessionID == nil || !strings.HasSuffix(loc, *l.Items[0].MediaSessionID) {
		t.Fatalf("stream sessions %+v, want one live relay session", l.Items)
	}

	// Revoking viewer 1's link closes its relay session at once; the others go on.
	e.do("DELETE", "/api/v1/device-links/"+a.link1, nil, bearer(a.tok)).want(t, http.StatusNoContent, nil)
	until(t, "revoked viewer closed", func() bool { return rl.Viewers(a.cam.Device.ID) == 4 })
	_, v1loc := sigs[0].answer()
	e.do("DELETE", v1loc, nil, bearer(a.v1.DeviceToken)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	n := viewers[1].Stats().Packets
	until(t, "viewer 2 still receiving", func() bool { return viewers[1].Stats().Packets > n+10 })

	// Another principal cannot end a viewer's session; its own can.
	_, v3loc := sigs[2].answer()
	e.do("DELETE", v3loc, nil, bearer(a.v2.DeviceToken)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	e.do("DELETE", v3loc, nil, bearer(a.tok)).want(t, http.StatusOK, nil)
	until(t, "viewer 3 ended", func() bool { return rl.Viewers(a.cam.Device.ID) == 3 })

	// The camera ends its publication: every viewer ends, and so does the session.
	e.do("DELETE", loc, nil, bearer(a.cam.DeviceToken)).want(t, http.StatusOK, nil)
	if rl.Publishing(a.cam.Device.ID) || rl.Viewers(a.cam.Device.ID) != 0 {
		t.Fatal("publication or viewers left after the camera's DELETE")
	}
	until(t, "stream session ended", func() bool {
		var s wire.StreamSession
		e.do("GET", "/api/v1/streams/"+l.Items[0].ID, nil, bearer(a.tok)).want(t, http.StatusOK, &s)
		return s.Status == store.StreamEnded
	})
}

// TestWHIPTrickleAndRestart: candidates PATCHed to a session answer 204; a
// fragment with new ICE credentials is an ICE restart, answered 200 with the
// relay's new credentials and candidates.
func TestWHIPTrickleAndRestart(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)
	cam, sig := whipCamera(t, e, a.cam.DeviceToken)
	waitClosed(t, "camera connected", cam.Connected())
	_, loc := sig.answer()
	res := e.do("PATCH", loc, "a=ice-ufrag:newUfrag1\r\na=ice-pwd:newPasswordNewPassword12\r\n"+
		"a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n",
		bearer(a.cam.DeviceToken), header("Content-Type", "application/trickle-ice-sdpfrag"))
	res.want(t, http.StatusOK, nil)
	body := string(res.body)
	if res.header.Get("Content-Type") != "application/trickle-ice-sdpfrag" || !strings.Contains(body, "a=ice-ufrag:") ||
		!strings.Contains(body, "a=ice-pwd:") || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("ICE restart answer:\n%s", body)
	}
	// OPTIONS answers the CORS preflight without credentials.
	opt := e.do("OPTIONS", "/api/v1/whip", nil, header("Origin", "https://obs.example"),
		header("Access-Control-Request-Method", "POST"))
	opt.want(t, http.StatusNoContent, nil)
	if opt.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(opt.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("CORS headers %v", opt.header)
	}
}

// TestWHIPWHEPBadInput: each bad request gets its 4xx problem and leaves no
// relay session and no stream session behind.
func TestWHIPWHEPBadInput(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)
	other := newAccount(t, e)
	unlinked := e.createDevice(a.tok, "viewer")

	good := viewerOffer(t, "VP8")
	vp9Only := viewerOffer(t, "VP9")
	audioOnly := strings.ReplaceAll(strings.Split(good, "m=video")[0], "BUNDLE 0", "")
	huge := good + strings.Repeat("a=x-pad:0123456789abcdef0123456789abcdef\r\n", 1000)
	whip, whep := "/api/v1/whip", "/api/v1/whep/"+a.cam.Device.ID
	for _, tc := range []struct {
		name, path, token, ctype, body string
		status                         int
		code                           string
	}{
		{"too large", whip, a.cam.DeviceToken, "application/sdp", huge, http.StatusRequestEntityTooLarge, wire.CodeTooLarge},
		{"wrong content type", whip, a.cam.DeviceToken, "application/json", good, http.StatusUnsupportedMediaType, wire.CodeBadRequest},
		{"not sdp", whip, a.cam.DeviceToken, "application/sdp", "hello", http.StatusBadRequest, wire.CodeBadRequest},
		{"no video", whip, a.cam.DeviceToken, "application/sdp", audioOnly, http.StatusBadRequest, wire.CodeBadRequest},
		{"unsupported codec only", whip, a.cam.DeviceToken, "application/sdp", vp9Only, http.StatusUnprocessableEntity, wire.CodeBadRequest},
		{"viewer token publishing", whip, a.v1.DeviceToken, "application/sdp", good, http.StatusForbidden, wire.CodeForbidden},
		{"session token publishing", whip, a.tok, "application/sdp", good, http.StatusForbidden, wire.CodeForbidden},
		{"session publishing as a viewer device", whip + "?device_id=" + a.v1.Device.ID, a.tok, "application/sdp", good, http.StatusForbidden, wire.CodeForbidden},
		{"session publishing as another account's camera", whip + "?device_id=" + other.cam.Device.ID, a.tok, "application/sdp", good, http.StatusNotFound, wire.CodeNotFound},
		{"session publishing as a bad device_id", whip + "?device_id=nope", a.tok, "application/sdp", good, http.StatusBadRequest, wire.CodeBadRequest},
		{"camera token publishing as another camera", whip + "?device_id=" + other.cam.Device.ID, a.cam.DeviceToken, "application/sdp", good, http.StatusForbidden, wire.CodeForbidden},
		{"no token", whip, "", "application/sdp", good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"whep too large", whep, a.tok, "application/sdp", huge, http.StatusRequestEntityTooLarge, wire.CodeTooLarge},
		{"whep wrong content type", whep, a.tok, "text/plain", good, http.StatusUnsupportedMediaType, wire.CodeBadRequest},
		{"whep no video", whep, a.tok, "application/sdp", audioOnly, http.StatusBadRequest, wire.CodeBadRequest},
		{"whep unsupported codec only", whep, a.tok, "application/sdp", vp9Only, http.StatusUnprocessableEntity, wire.CodeBadRequest},
		{"whep another account's session", whep, other.tok, "application/sdp", good, http.StatusNotFound, wire.CodeNotFound},
		{"whep another account's viewer", whep, other.v1.DeviceToken, "application/sdp", good, http.StatusNotFound, wire.CodeNotFound},
		{"whep unlinked viewer", whep, unlinked.DeviceToken, "application/sdp", good, http.StatusForbidden, wire.CodeNotLinked},
		{"whep of a viewer device", "/api/v1/whep/" + a.v1.Device.ID, a.tok, "application/sdp", good, http.StatusNotFound, wire.CodeNotFound},
		{"whep unknown camera", "/api/v1/whep/" + other.cam.Device.ID, a.tok, "application/sdp", good, http.StatusNotFound, wire.CodeNotFound},
		{"session patch unknown", "/api/v1/whip/" + a.cam.Device.ID, a.cam.DeviceToken, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", http.StatusNotFound, wire.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []reqOpt{header("Content-Type", tc.ctype)}
			if tc.token != "" {
				opts = append(opts, bearer(tc.token))
			}
			method := "POST"
			if strings.Contains(tc.ctype, "sdpfrag") {
				method = "PATCH"
			}
			e.do(method, tc.path, tc.body, opts...).wantProblem(t, tc.status, tc.code)
		})
	}
	if rl.Publishing(a.cam.Device.ID) || rl.Viewers(a.cam.Device.ID) != 0 {
		t.Fatal("a refused request left a relay session")
	}
	var l struct{ Items []wire.StreamSession }
	e.do("GET", "/api/v1/streams?camera_device_id="+a.cam.Device.ID, nil, bearer(a.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Fatalf("a refused request left stream sessions %+v", l.Items)
	}
}

// viewerOffer is a recvonly offer of video in codec.
func viewerOffer(t *testing.T, codec string) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: "video/" + codec, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// TestWHEPOfflineCameraIsWoken: a WHEP request for an offline camera that is
// not publishing wakes it and answers 503 with Retry-After.
func TestWHEPOfflineCameraIsWoken(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)
	res := e.do("POST", "/api/v1/whep/"+a.cam.Device.ID, viewerOffer(t, "VP8"), bearer(a.tok), header("Content-Type", "application/sdp"))
	res.wantProblem(t, http.StatusServiceUnavailable, wire.CodeUnavailable)
	if res.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// askCamera is the camera side of relay.publish, standing in for a camera
// app: asked to publish, it publishes a pion camera by WHIP.
type askCamera struct {
	t     *testing.T
	e     *env
	token string
	asked chan string
}

func (a *askCamera) RequestPublish(_ context.Context, camera, whipURL string) error {
	a.asked <- whipURL
	go func() {
		if _, _, err := publishWHIP(a.e, a.token, ""); err != nil {
			a.t.Errorf("camera asked to publish: %v", err)
		}
	}()
	return nil
}

// TestWHEPAsksCameraToPublish: a WHEP request for an online camera that is not
// publishing asks it to (relay.publish with this node's WHIP URL) and answers
// once its media is there.
func TestWHEPAsksCameraToPublish(t *testing.T) {
	var rl *relay.Relay
	ask := &askCamera{t: t, asked: make(chan string, 1)}
	e := newEnv(t, withMedia(t, &rl, ask))
	ask.e = e
	a := newAccount(t, e)
	ask.token = a.cam.DeviceToken
	v, _ := whepViewer(t, e, a.cam.Device.ID, a.v1.DeviceToken)
	if got := <-ask.asked; !strings.HasSuffix(got, "/api/v1/whip") {
		t.Fatalf("asked to publish to %q", got)
	}
	waitClosed(t, "viewer's first frame", v.FirstFrame())
}

// silentCamera is an online camera that never publishes when asked.
type silentCamera struct{}

func (silentCamera) RequestPublish(context.Context, string, string) error { return nil }

// TestWHEPCameraNeverPublishes: a camera that is asked but does not publish
// within the bound gets the viewer a 503 with Retry-After, and nothing stays.
func TestWHEPCameraNeverPublishes(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, silentCamera{}), config(func(c *web.Config) { c.PublishWait = time.Second }))
	a := newAccount(t, e)
	res := e.do("POST", "/api/v1/whep/"+a.cam.Device.ID, viewerOffer(t, "VP8"), bearer(a.v1.DeviceToken), header("Content-Type", "application/sdp"))
	res.wantProblem(t, http.StatusServiceUnavailable, wire.CodeUnavailable)
	if res.header.Get("Retry-After") == "" || rl.Viewers(a.cam.Device.ID) != 0 {
		t.Fatalf("503 Retry-After %q, %d viewers left", res.header.Get("Retry-After"), rl.Viewers(a.cam.Device.ID))
	}
}

// A share's invitee watches the shared camera by WHEP, with a device token and with
// their user session; revoking the share closes both at once and leaves the owner's
// viewer alone.
func TestShareRevocationClosesTheInviteesWHEPViewers(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)
	whipCamera(t, e, a.cam.DeviceToken)
	guest := e.newPerson()
	sh := e.share(a.tok, a.cam.Device.ID, guest, "viewer")
	e.link(guest.tok, a.cam.Device.ID, guest.viewer.Device.ID)

	owner, _ := whepViewer(t, e, a.cam.Device.ID, a.v1.DeviceToken)
	byDevice, _ := whepViewer(t, e, a.cam.Device.ID, guest.viewer.DeviceToken)
	bySession, _ := whepViewer(t, e, a.cam.Device.ID, guest.tok)
	for i, v := range []*media.Viewer{owner, byDevice, bySession} {
		waitClosed(t, fmt.Sprintf("viewer %d first frame", i), v.FirstFrame())
	}
	if n := rl.Viewers(a.cam.Device.ID); n != 3 {
		t.Fatalf("relay has %d viewers, want 3", n)
	}

	e.do("DELETE", "/api/v1/shares/"+sh.ID, nil, bearer(a.tok)).want(t, http.StatusNoContent, nil)
	until(t, "the invitee's viewers closed", func() bool { return rl.Viewers(a.cam.Device.ID) == 1 })
	e.do("POST", "/api/v1/whep/"+a.cam.Device.ID, "v=0", bearer(guest.tok), header("Content-Type", "application/sdp")).
		wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
}

// TestWHIPAsTheOwnersSession: a browser acting as a camera has its user's session,
// not a device token: the session with ?device_id= of the user's camera publishes as
// that camera, and ends it; another account's session cannot touch the publication.
// GET /devices/{id} counts who watches the camera: relay viewers and live p2p
// sessions.
func TestWHIPAsTheOwnersSession(t *testing.T) {
	var rl *relay.Relay
	e := newEnv(t, withMedia(t, &rl, nil))
	a := newAccount(t, e)
	other := newAccount(t, e)
	cam, sig, err := publishWHIP(e, a.tok, a.cam.Device.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, "camera connected", cam.Connected())
	if !rl.Publishing(a.cam.Device.ID) {
		t.Fatal("the camera does not publish")
	}
	watchers := func() int {
		var d wire.Device
		e.do("GET", "/api/v1/devices/"+a.cam.Device.ID, nil, bearer(a.tok)).want(t, http.StatusOK, &d)
		if d.Watchers == nil {
			t.Fatal("GET /devices/{camera} has no watchers")
		}
		return *d.Watchers
	}
	if n := watchers(); n != 0 {
		t.Fatalf("watchers %d before anyone watches, want 0", n)
	}
	var v wire.Device
	e.do("GET", "/api/v1/devices/"+a.v1.Device.ID, nil, bearer(a.tok)).want(t, http.StatusOK, &v)
	if v.Watchers != nil {
		t.Fatalf("a viewer device has watchers %d", *v.Watchers)
	}

	v1, _ := whepViewer(t, e, a.cam.Device.ID, a.v1.DeviceToken)
	v2, _ := whepViewer(t, e, a.cam.Device.ID, a.tok)
	waitClosed(t, "viewer 1 first frame", v1.FirstFrame())
	waitClosed(t, "viewer 2 first frame", v2.FirstFrame())
	// A live peer-to-peer session counts too; a requested one does not.
	now := time.Now().UTC()
	for _, st := range []string{store.StreamLive, store.StreamRequested} {
		row := store.StreamSession{ID: uuid.NewString(), OwnerUserID: a.cam.Device.UserID, CameraDeviceID: a.cam.Device.ID,
			RequesterDeviceID: a.v2.Device.ID, Status: st, MediaProvider: store.MediaP2P, CreatedAt: now}
		if err := e.store.CreateStreamSession(t.Context(), &row, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := watchers(); n != 3 {
		t.Fatalf("watchers %d, want 3 (two relay viewers, one live p2p session)", n)
	}

	// Only the owner publishes as the camera: not even an admin of a share of it.
	admin := e.newPerson()
	e.share(a.tok, a.cam.Device.ID, admin, "admin")
	e.do("POST", "/api/v1/whip?device_id="+a.cam.Device.ID, viewerOffer(t, "VP8"), bearer(admin.tok),
		header("Content-Type", "application/sdp")).wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
	_, loc := sig.answer()
	e.do("DELETE", loc, nil, bearer(admin.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	e.do("DELETE", loc, nil, bearer(other.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	e.do("DELETE", loc, nil, bearer(a.tok)).want(t, http.StatusOK, nil)
	if rl.Publishing(a.cam.Device.ID) {
		t.Fatal("still publishing after the owner's DELETE")
	}
	if n := watchers(); n != 1 {
		t.Fatalf("watchers %d after the publication ended, want 1 (the p2p session)", n)
	}
}
