// Package media holds the WebRTC peers of live view, built on pion: a Camera
// that answers a viewer's offer and plays a VP8 clip in a loop, and a Viewer
// that offers to receive video and audio and measures what arrives. The
// simulator (securecam sim), the benchmark and the tests use them; phones and
// browsers play the same roles with their own stacks.
//
// Signaling is the caller's: a peer hands its descriptions and ICE candidates
// to a Signaler (which sends them as webrtc.offer / webrtc.answer /
// webrtc.candidate), and the caller feeds the other party's messages back in
// with HandleOffer / HandleAnswer / AddCandidate. A peer sends a description
// before any candidate gathered for it, and holds remote candidates that
// arrive before the description they belong to, so the two directions need
// no ordering between them.
//
// Concurrency: the methods of Camera and Viewer are safe for concurrent use.
// The Signaler is called from one goroutine at a time (a caller's goroutine
// for descriptions, pion's for candidates) and may block; Close cancels the
// context it is given. Each peer owns the goroutines it starts (playback,
// RTCP and RTP readers) and Close waits for them.
package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/signaling/internal/pionlog"
)

// ErrClosed is returned by the methods of a closed peer.
var ErrClosed = errors.New("media: peer closed")

// Signaler carries a peer's messages to the other party.
type Signaler interface {
	// SendDescription sends an offer (viewer) or an answer (camera).
	SendDescription(ctx context.Context, d webrtc.SessionDescription) error
	// SendCandidate sends a local candidate; Candidate "" ends gathering.
	SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error
}

// Config is what both peers share. The zero value, plus a Signaler, works on
// one LAN (host candidates only).
type Config struct {
	// Signaler is required.
	Signaler Signaler
	// ICEServers are the STUN and TURN servers (see signaling/ice List.WebRTC).
	ICEServers []webrtc.ICEServer
	// ICETransportPolicy: ICETransportPolicyRelay uses TURN only.
	ICETransportPolicy webrtc.ICETransportPolicy
	// SettingEngine tunes pion (network types, loopback, timeouts); nil means
	// pion's defaults. It is copied; its LoggerFactory is replaced by Logger,
	// and with ICETransportPolicyRelay its relay acceptance wait is set to 0.
	SettingEngine *webrtc.SettingEngine
	// OnStateChange, if set, is called (from a pion goroutine) on every change
	// of the peer connection's state.
	OnStateChange func(webrtc.PeerConnectionState)
	// Logger receives the peer's and pion's logs; nil discards them.
	Logger *slog.Logger
}

// LoopbackSettingEngine returns a SettingEngine for peers on one host (tests,
// a local benchmark): loopback host candidates only, UDP over IPv4, no mDNS.
// TURN over TCP still works with it (TURN transports are not filtered).
func LoopbackSettingEngine() *webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return &se
}

// peer is the part of Camera and Viewer that deals with the peer connection
// and signaling order.
type peer struct {
	pc       *webrtc.PeerConnection
	log      *slog.Logger
	signaler Signaler

	// ctx lives as long as the peer: Close cancels it, which unblocks the
	// Signaler.
	ctx    context.Context
	cancel context.CancelFunc

	connected     chan struct{}
	connectedOnce sync.Once

	// descMu makes one description at a time.
	descMu sync.Mutex
	// emitMu serializes calls of the Signaler. While holding is set (a
	// description is being created), local candidates wait in held.
	emitMu  sync.Mutex
	holding bool
	held    []webrtc.ICECandidateInit

	// remoteMu guards applying the remote description and remote candidates;
	// candidates that arrive before their description wait in pending.
	remoteMu sync.Mutex
	pending  []webrtc.ICECandidateInit
}

func newPeer(cfg Config, role string) (*peer, error) {
	if cfg.Signaler == nil {
		return nil, errors.New("media: config has no signaler")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("role", role)

	var se webrtc.SettingEngine
	if cfg.SettingEngine != nil {
		se = *cfg.SettingEngine
	}
	se.LoggerFactory = pionlog.Factory{Logger: log}
	if cfg.ICETransportPolicy == webrtc.ICETransportPolicyRelay {
		// pion waits 2 s before nominating a relay pair, hoping for a better
		// one; with relays only there is none to wait for.
		se.SetRelayAcceptanceMinWait(0)
	}

	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("media: register codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("media: register interceptors: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         cfg.ICEServers,
		ICETransportPolicy: cfg.ICETransportPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("media: new peer connection: %w", err)
	}

	p := &peer{pc: pc, log: log, signaler: cfg.Signaler, connected: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	pc.OnICECandidate(p.onLocalCandidate)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("peer connection state", "state", s.String())
		if s == webrtc.PeerConnectionStateConnected {
			p.connectedOnce.Do(func() { close(p.connected) })
		}
		if cfg.OnStateChange != nil {
			cfg.OnStateChange(s)
		}
	})
	return p, nil
}

// onLocalCandidate is pion's candidate callback; nil ends gathering.
func (p *peer) onLocalCandidate(c *webrtc.ICECandidate) {
	init := webrtc.ICECandidateInit{}
	if c != nil {
		init = c.ToJSON()
	}
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	if p.holding {
		p.held = append(p.held, init)
		return
	}
	p.sendCandidate(init)
}

// sendCandidate is called with emitMu held.
func (p *peer) sendCandidate(c webrtc.ICECandidateInit) {
	if err := p.signaler.SendCandidate(p.ctx, c); err != nil {
		p.log.Debug("send candidate", "err", err)
	}
}

// describe creates a local description with create, applies it, sends it and
// then the candidates gathered meanwhile.
func (p *peer) describe(ctx context.Context, create func() (webrtc.SessionDescription, error)) error {
	p.descMu.Lock()
	defer p.descMu.Unlock()
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	p.emitMu.Lock()
	p.holding = true
	p.emitMu.Unlock()

	desc, err := create()
	if err != nil {
		err = fmt.Errorf("create description: %w", err)
	} else if err = p.pc.SetLocalDescription(desc); err != nil {
		err = fmt.Errorf("set local description: %w", err)
	}

	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	held := p.held
	p.holding, p.held = false, nil
	if err != nil {
		for _, c := range held {
			p.sendCandidate(c)
		}
		return err
	}
	if err := p.signaler.SendDescription(ctx, *p.pc.LocalDescription()); err != nil {
		return fmt.Errorf("send %s: %w", desc.Type, err)
	}
	for _, c := range held {
		p.sendCandidate(c)
	}
	return nil
}

// setRemote applies a remote description, then the candidates that waited
// for it.
func (p *peer) setRemote(d webrtc.SessionDescription) error {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return fmt.Errorf("set remote %s: %w", d.Type, err)
	}
	pending := p.pending
	p.pending = nil
	for _, c := range pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("add held remote candidate", "err", err)
		}
	}
	return nil
}

// addCandidate applies a remote candidate, or holds it while no remote
// description answers the current local one.
func (p *peer) addCandidate(c webrtc.ICECandidateInit) error {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	if p.pc.RemoteDescription() == nil || p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		p.pending = append(p.pending, c)
		return nil
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

func (p *peer) selectedPair() (*webrtc.ICECandidatePair, error) {
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil, fmt.Errorf("selected candidate pair: %w", err)
	}
	if pair == nil {
		return nil, errors.New("selected candidate pair: none yet")
	}
	return pair, nil
}

// close cancels the peer's context and closes the peer connection.
func (p *peer) close() error {
	p.cancel()
	if err := p.pc.Close(); err != nil {
		return fmt.Errorf("close peer connection: %w", err)
	}
	return nil
}

// recoverTo logs a panic of a goroutine the peer runs.
func recoverTo(log *slog.Logger, where string) {
	if r := recover(); r != nil {
		log.Error("panic in media goroutine", "where", where, "panic", r)
	}
}
