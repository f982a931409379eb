package bench

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// SFUServerArg is the argument of `securecam bench` that runs the bare forwarder as a
// process of its own (the relay scenario starts it; people need not).
const SFUServerArg = "sfu-server"

// ServeSFU runs the bare pion forwarder on addr until ctx ends: the baseline of the
// relay scenario. POST /publish with an SDP offer (the camera) and POST /play (a
// viewer) answer with complete SDP (no trickle). Every RTP packet of the publisher's
// video track is written, as is, to one TrackLocalStaticRTP per viewer, from the one
// reading goroutine: no queue, no authentication, no keyframe pacing. It logs
// {"msg":"listening","addr":…} as JSON to logOut once it listens.
func ServeSFU(ctx context.Context, addr string, logOut io.Writer) error {
	f := &forwarder{api: benchAPI()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", f.serve(f.publish))
	mux.HandleFunc("POST /play", f.serve(f.play))
	return serveBaseline(ctx, "bare forwarder", addr, mux, logOut, f.closeAll)
}

// forwarder is the bare forwarder's state: its peer connections and the viewers'
// tracks.
type forwarder struct {
	api *webrtc.API

	mu     sync.Mutex
	pcs    []*webrtc.PeerConnection
	tracks []*webrtc.TrackLocalStaticRTP
}

// serve wraps an offer→answer handler.
func (f *forwarder) serve(h func(*webrtc.PeerConnection) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		offer, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.pcs = append(f.pcs, pc)
		f.mu.Unlock()
		if err := h(pc); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answer, err := answerOffer(r.Context(), pc, string(offer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	}
}

func (f *forwarder) publish(pc *webrtc.PeerConnection) error {
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			pkt.Header.Extension, pkt.Header.Extensions = false, nil
			f.mu.Lock()
			tracks := f.tracks
			f.mu.Unlock()
			for _, t := range tracks {
				_ = t.WriteRTP(pkt)
			}
		}
	})
	return nil
}

func (f *forwarder) play(pc *webrtc.PeerConnection) error {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "bench")
	if err != nil {
		return err
	}
	sender, err := pc.AddTrack(t)
	if err != nil {
		return err
	}
	go func() { // drains RTCP (NACK responder, reports); ends with the connection
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	f.mu.Lock()
	f.tracks = append(f.tracks[:len(f.tracks):len(f.tracks)], t) // copy on write: readers hold old slices
	f.mu.Unlock()
	return nil
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	pcs := f.pcs
	f.pcs, f.tracks = nil, nil
	f.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
}

// answerOffer applies offer to pc and returns its complete answer.
func answerOffer(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// benchAPI is a pion API with the default codecs and interceptors, gathering host
// UDPv4 candidates without mDNS (as the hub's relay does).
func benchAPI() *webrtc.API {
	var m webrtc.MediaEngine
	_ = m.RegisterDefaultCodecs() // the default set always registers
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	var reg interceptor.Registry
	_ = webrtc.RegisterDefaultInterceptors(&m, &reg)
	return webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&reg))
}
