// Package relay is the hub's media plane: an embedded SFU on pion/webrtc. A
// camera publishes once (a WHIP session, or the hub answering its offer); the
// relay forwards its RTP (VP8, H.264, Opus; no transcoding) to every
// subscribed viewer (WHEP sessions) and to local feeds (the server-side
// recorder), without ever letting one slow subscriber delay the others.
//
// Each leg is its own peer connection with pion's default interceptors: NACK
// generator towards the camera, NACK responder towards each viewer, RTCP
// receiver and sender reports, TWCC. Keyframe requests (PLI, FIR) of viewers and
// feeds, and a viewer joining, become one PLI to the camera per
// Config.KeyframeInterval at most; a request arriving within the interval is
// sent when it ends, never lost.
//
// Fan-out: the camera's RTP is read once per track and queued, without
// blocking, on a bounded queue per subscriber (Config.ViewerQueue packets); a
// full queue drops that packet for that subscriber only. A viewer's packets
// are written by its own goroutine.
//
// Lifetimes: a session ends when it is closed (Close, CloseViewers for a
// revoked viewer, Relay.Close), when its peer connection fails or closes, when
// one of its goroutines panics (logged with its stack and counted in
// securecam_relay_panics_total{goroutine}: never a half-dead session), or, for
// viewers and feeds, when the publication they follow ends. A camera
// publishing again replaces its previous publication.
//
// Concurrency: a Relay and its Sessions are safe for concurrent use. Each
// session owns its goroutines (the publisher: the keyframe pacer and one
// reader per track; a viewer: one writer and one RTCP reader per track) and
// Close waits for them. Relay.Close closes every session and waits.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/internal/pionlog"
)

// Defaults of Config.
const (
	DefaultKeyframeInterval = 250 * time.Millisecond
	DefaultViewerQueue      = 512
	DefaultGatherTimeout    = 10 * time.Second
	// DefaultReadyGrace is how long a publication whose video arrived waits
	// for the rest of the tracks its offer announced before viewers get it.
	DefaultReadyGrace = time.Second
	// DefaultConnectTimeout is how long a session may take to connect after its
	// answer before it is closed (a client that got its answer and went away).
	DefaultConnectTimeout = 30 * time.Second
)

// Errors callers branch on.
var (
	ErrNotPublishing = errors.New("relay: camera is not publishing")
	ErrNoSession     = errors.New("relay: no such session")
	ErrClosed        = errors.New("relay: closed")
	ErrCodecMismatch = errors.New("relay: offer accepts none of the publication's video codecs")
)

// Config configures a Relay. The zero value works (pion's defaults: host
// candidates on every interface, an ephemeral UDP port per peer connection).
type Config struct {
	// SettingEngine tunes pion (network types, ports, NAT 1:1 addresses,
	// a shared UDP port through an ICE UDP mux). It is copied; its
	// LoggerFactory is replaced by Logger's.
	SettingEngine *webrtc.SettingEngine
	// UDPConn, if set, carries every peer connection's media on one socket (an
	// ICE UDP mux): one port to open in a firewall, and the port the hub's TURN
	// server lets relays reach (turn.Config.MediaPorts). The relay closes it on
	// Close. Nil: an ephemeral port per peer connection.
	UDPConn net.PacketConn
	// KeyframeInterval is the least time between two keyframe requests sent
	// to a camera. Default DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// ViewerQueue is each subscriber's queue, in packets. Default
	// DefaultViewerQueue.
	ViewerQueue int
	// GatherTimeout bounds ICE gathering for an answer. Default
	// DefaultGatherTimeout.
	GatherTimeout time.Duration
	// ReadyGrace: see DefaultReadyGrace.
	ReadyGrace time.Duration
	// ConnectTimeout: see DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// OnClose, if set, is called once for every session after it has ended, on
	// the goroutine that closed it (the stream_sessions row of a publication is
	// ended there).
	OnClose func(s *Session)
	// Logger receives the relay's and pion's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the relay's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Relay is the SFU: publications by camera, viewer sessions by id.
type Relay struct {
	cfg Config
	api *webrtc.API
	log *slog.Logger
	mux interface{ Close() error } // the ICE UDP mux on cfg.UDPConn, or nil

	mu       sync.Mutex
	closed   bool
	sessions map[string]*Session
	pubs     map[string]*publication // by camera device id
	wg       sync.WaitGroup          // closers started from pion callbacks

	panics *prometheus.CounterVec // securecam_relay_panics_total{goroutine}
	// panicHook, set only by tests (before the first session), is called by
	// every goroutine of a session on each turn of its loop.
	panicHook func(goroutine string, s *Session)
}

// New builds a Relay.
func New(cfg Config) (*Relay, error) {
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = DefaultKeyframeInterval
	}
	if cfg.ViewerQueue <= 0 {
		cfg.ViewerQueue = DefaultViewerQueue
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	if cfg.ReadyGrace <= 0 {
		cfg.ReadyGrace = DefaultReadyGrace
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "relay")
	var se webrtc.SettingEngine
	if cfg.SettingEngine != nil {
		se = *cfg.SettingEngine
	}
	se.LoggerFactory = pionlog.Factory{Logger: log}
	r := &Relay{cfg: cfg, log: log, sessions: map[string]*Session{}, pubs: map[string]*publication{},
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_relay_panics_total",
			Help: "Panics recovered in the relay's goroutines, by goroutine (keyframe_pacer, publication_track, " +
				"viewer_rtcp, viewer_writer); each closed its session.",
		}, []string{"goroutine"})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(r.panics); err != nil {
			return nil, fmt.Errorf("relay: register metrics: %w", err)
		}
	}
	if cfg.UDPConn != nil {
		mux := webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), cfg.UDPConn)
		se.SetICEUDPMux(mux)
		r.mux = mux
	}

	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("relay: register interceptors: %w", err)
	}
	r.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return r, nil
}

// registerCodecs registers the codecs the relay forwards: VP8, H.264
// (packetization modes 0 and 1, the common profiles) and Opus.
func registerCodecs(me *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}, PayloadType: 102},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", RTCPFeedback: fb}, PayloadType: 104},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: fb}, PayloadType: 106},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", RTCPFeedback: fb}, PayloadType: 112},
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("relay: register %s: %w", c.MimeType, err)
		}
	}
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}
	if err := me.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("relay: register opus: %w", err)
	}
	return nil
}

// Session is one leg of the relay: a camera's publication or one viewer.
type Session struct {
	id        string
	camera    string
	principal string
	publisher bool
	relay     *Relay
	pc        *webrtc.PeerConnection
	pub       *publication // the publication published or followed
	sink      *sink        // a viewer's queue

	mu        sync.Mutex // guards remote description changes and closed
	closed    bool
	connected atomic.Bool // the peer connection was connected once
	timer     *time.Timer // closes a session that never connects
	done      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once
}

// ID is the session's id (the last segment of its WHIP/WHEP resource).
func (s *Session) ID() string { return s.id }

// Camera is the camera device id the session publishes or follows.
func (s *Session) Camera() string { return s.camera }

// Principal is who opened the session (the camera, or the viewer's device or
// user id).
func (s *Session) Principal() string { return s.principal }

// Publisher reports whether the session is a camera's publication.
func (s *Session) Publisher() bool { return s.publisher }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Close ends the session and waits for its goroutines; closing a publication
// ends its viewers and feeds. It may be called more than once.
func (s *Session) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.timer.Stop()
		r := s.relay
		if s.publisher {
			// First end the publication: a viewer joining from now on fails
			// to add itself, one that joined before is in the list below.
			s.pub.end()
		}
		r.mu.Lock()
		delete(r.sessions, s.id)
		var viewers []*Session
		if s.publisher && r.pubs[s.camera] == s.pub {
			delete(r.pubs, s.camera)
		}
		if s.publisher {
			for _, v := range r.sessions {
				if v.pub == s.pub {
					viewers = append(viewers, v)
				}
			}
		}
		r.mu.Unlock()

		if s.publisher {
			for _, v := range viewers {
				v.Close()
			}
		} else {
			s.pub.removeSink(s.sink)
			s.sink.close()
		}
		if err := s.pc.Close(); err != nil {
			r.log.Debug("close peer connection", "session_id", s.id, "err", err)
		}
		s.wg.Wait()
		close(s.done)
		if r.cfg.OnClose != nil {
			r.cfg.OnClose(s)
		}
		r.log.Debug("session closed", "session_id", s.id, "camera_id", s.camera, "publisher", s.publisher)
	})
}

// discard drops a session that failed before it was registered: nothing to
// unregister or tell (OnClose is not called), and a later Close is a no-op.
func (s *Session) discard() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.timer.Stop()
		_ = s.pc.Close()
		s.wg.Wait()
		close(s.done)
	})
}

// goClose closes s on a goroutine of the relay: for pion callbacks, which
// must not wait for the session's goroutines.
func (r *Relay) goClose(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return // Relay.Close closes it
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		s.Close()
	}()
}

// newSession creates the peer connection of a session and registers it.
func (r *Relay) newSession(camera, principal string, publisher bool) (*Session, error) {
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("relay: new peer connection: %w", err)
	}
	s := &Session{id: newID(), camera: camera, principal: principal, publisher: publisher,
		relay: r, pc: pc, done: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		r.log.Debug("peer connection state", "session_id", s.id, "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connected.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			r.goClose(s)
		}
	})
	s.timer = time.AfterFunc(r.cfg.ConnectTimeout, func() {
		if !s.connected.Load() {
			r.log.Debug("session never connected", "session_id", s.id)
			r.goClose(s)
		}
	})
	return s, nil
}

// register adds s to the sessions; false when the relay is closed.
func (r *Relay) register(s *Session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.sessions[s.id] = s
	return true
}

// answer applies offer and returns the complete answer (candidates
// included: the relay does not trickle).
func (s *Session) answer(ctx context.Context, offer string) (string, error) {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("relay: create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("relay: set local description: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.relay.cfg.GatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("relay: gather candidates: %w", ctx.Err())
	}
	return s.pc.LocalDescription().SDP, nil
}

// Publish makes a publication of camera from the camera's offer and returns
// its session and the answer. A previous publication of the camera ends.
func (r *Relay) Publish(ctx context.Context, camera, offer string) (*Session, string, error) {
	info, err := checkOffer(offer)
	if err != nil {
		return nil, "", err
	}
	s, err := r.newSession(camera, camera, true)
	if err != nil {
		return nil, "", err
	}
	s.pub = newPublication(s, info.sending, r.cfg.ReadyGrace, r.log.With("camera_id", camera))
	s.pc.OnTrack(s.pub.onTrack)
	answer, err := s.answer(ctx, offer)
	if err != nil {
		s.discard()
		return nil, "", err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		s.discard()
		return nil, "", ErrClosed
	}
	old := r.pubs[camera]
	r.pubs[camera] = s.pub
	r.sessions[s.id] = s
	r.mu.Unlock()
	s.wg.Add(1)
	go s.pub.pace(r.cfg.KeyframeInterval)
	if old != nil {
		old.session.Close()
	}
	r.log.Info("camera publishing", "camera_id", camera, "session_id", s.id)
	return s, answer, nil
}

// publication returns camera's publication, or nil.
func (r *Relay) publication(camera string) *publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pubs[camera]
}

// Publishing reports whether camera has a publication.
func (r *Relay) Publishing(camera string) bool { return r.publication(camera) != nil }

// WaitReady waits until camera's publication has its tracks (its video has
// arrived), for ctx at most. ErrNotPublishing when there is none, or when it
// ends meanwhile.
func (r *Relay) WaitReady(ctx context.Context, camera string) error {
	p := r.publication(camera)
	if p == nil {
		return ErrNotPublishing
	}
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return ErrNotPublishing
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe adds a viewer (principal: its device or user id) to camera's
// publication, which must be ready (WaitReady), and returns its session and
// the answer to its offer.
func (r *Relay) Subscribe(ctx context.Context, camera, principal, offer string) (*Session, string, error) {
	info, err := checkOffer(offer)
	if err != nil {
		return nil, "", err
	}
	pub := r.publication(camera)
	if pub == nil {
		return nil, "", ErrNotPublishing
	}
	tracks := pub.trackList()
	for _, t := range tracks {
		if t.Kind == webrtc.RTPCodecTypeVideo && !info.videoCodecs[t.Codec.MimeType] {
			return nil, "", fmt.Errorf("%w (%s)", ErrCodecMismatch, t.Codec.MimeType)
		}
	}
	s, err := r.newSession(camera, principal, false)
	if err != nil {
		return nil, "", err
	}
	s.pub = pub
	s.sink = newSink(r.cfg.ViewerQueue)
	locals := map[*Track]*webrtc.TrackLocalStaticRTP{}
	var senders []*webrtc.RTPSender
	for _, t := range tracks {
		local, err := webrtc.NewTrackLocalStaticRTP(t.Codec, t.ID, "securecam-"+camera)
		if err != nil {
			s.discard()
			return nil, "", fmt.Errorf("relay: new local track: %w", err)
		}
		sender, err := s.pc.AddTrack(local)
		if err != nil {
			s.discard()
			return nil, "", fmt.Errorf("relay: add track: %w", err)
		}
		locals[t] = local
		senders = append(senders, sender)
	}
	answer, err := s.answer(ctx, offer)
	if err != nil {
		s.discard()
		return nil, "", err
	}
	if !r.register(s) {
		s.discard()
		return nil, "", ErrClosed
	}
	s.wg.Add(1 + len(senders))
	for _, sender := range senders {
		go s.readRTCP(sender)
	}
	go s.write(locals)
	if !pub.addSink(s.sink) {
		s.Close()
		return nil, "", ErrNotPublishing
	}
	pub.requestKeyframe() // a late joiner starts with a keyframe
	r.log.Debug("viewer joined", "camera_id", camera, "session_id", s.id)
	return s, answer, nil
}

// Attach adds a local feed to camera's publication, with a queue of queue
// packets (DefaultViewerQueue when 0).
func (r *Relay) Attach(camera string, queue int) (*Feed, error) {
	if queue <= 0 {
		queue = DefaultViewerQueue
	}
	pub := r.publication(camera)
	if pub == nil {
		return nil, ErrNotPublishing
	}
	f := &Feed{sink: newSink(queue), pub: pub}
	if !pub.addSink(f.sink) {
		return nil, ErrNotPublishing
	}
	pub.requestKeyframe()
	return f, nil
}

// Session returns the session with id.
func (r *Relay) Session(id string) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[id]
	if !ok {
		return nil, ErrNoSession
	}
	return s, nil
}

// Viewers counts the viewer sessions of camera's publication.
func (r *Relay) Viewers(camera string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sessions {
		if !s.publisher && s.camera == camera {
			n++
		}
	}
	return n
}

// CloseViewers ends, at once, the viewer sessions of camera opened by
// principal (a revoked link or a deleted device) and returns how many.
func (r *Relay) CloseViewers(camera, principal string) int {
	r.mu.Lock()
	var victims []*Session
	for _, s := range r.sessions {
		if !s.publisher && s.camera == camera && s.principal == principal {
			victims = append(victims, s)
		}
	}
	r.mu.Unlock()
	for _, s := range victims {
		s.Close()
	}
	return len(victims)
}

// Close ends every session and waits for their goroutines.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	all := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
	r.wg.Wait()
	if r.mux != nil {
		if err := r.mux.Close(); err != nil {
			r.log.Debug("close udp mux", "err", err)
		}
	}
}

// newID returns a random (version 4) UUID: a session's id is also the id of
// the stream_sessions row of a publication.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ErrICERestart is returned by Trickle for a fragment with new ICE
// credentials when the restart cannot be made.
var ErrICERestart = errors.New("relay: ice restart failed")

// AddCandidate applies one candidate of the session's peer, as the socket flow
// carries it (webrtc.candidate): "" ends gathering.
func (s *Session) AddCandidate(candidate string, sdpMid *string, sdpMLineIndex *uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrNoSession
	}
	err := s.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: candidate, SDPMid: sdpMid, SDPMLineIndex: sdpMLineIndex})
	if err != nil {
		return fmt.Errorf("%w: candidate: %w", ErrBadSDP, err)
	}
	return nil
}

// Trickle applies a trickle-ICE fragment (RFC 8840) from the session's peer.
// A fragment with the current ICE credentials (or none) adds its candidates
// and returns "". One with new credentials is an ICE restart: the relay
// applies the peer's new credentials and candidates, answers with its own new
// ones, and returns that answer's fragment (credentials and candidates).
func (s *Session) Trickle(ctx context.Context, frag string) (string, error) {
	ufrag, pwd, cands, err := ParseCandidateFragment(frag)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrNoSession
	}
	remote := s.pc.RemoteDescription()
	if remote == nil {
		return "", ErrNoSession
	}
	curUfrag, curPwd := sdpAttr(remote.SDP, "ice-ufrag"), sdpAttr(remote.SDP, "ice-pwd")
	if ufrag == "" || (ufrag == curUfrag && (pwd == "" || pwd == curPwd)) {
		for _, c := range cands {
			if err := s.pc.AddICECandidate(c); err != nil {
				return "", fmt.Errorf("%w: candidate: %w", ErrBadSDP, err)
			}
		}
		return "", nil
	}
	if pwd == "" {
		return "", fmt.Errorf("%w: new ice-ufrag without ice-pwd", ErrBadSDP)
	}
	return s.restart(ctx, remote.SDP, ufrag, pwd, cands)
}

// restart makes an ICE restart from the peer's new credentials: the remote
// offer again with them (and without its old candidates), a new answer.
func (s *Session) restart(ctx context.Context, offer, ufrag, pwd string, cands []webrtc.ICECandidateInit) (string, error) {
	var b strings.Builder
	for _, line := range strings.Split(offer, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			continue
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.String()}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrICERestart, err)
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %w", ErrICERestart, err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("%w: set local description: %w", ErrICERestart, err)
	}
	for _, c := range cands {
		if err := s.pc.AddICECandidate(c); err != nil {
			return "", fmt.Errorf("%w: candidate: %w", ErrBadSDP, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.relay.cfg.GatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: gather: %w", ErrICERestart, ctx.Err())
	}
	local := s.pc.LocalDescription().SDP
	var out strings.Builder
	fmt.Fprintf(&out, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", sdpAttr(local, "ice-ufrag"), sdpAttr(local, "ice-pwd"))
	for _, line := range strings.Split(local, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "a=candidate:") {
			out.WriteString(line + "\r\n")
		}
	}
	out.WriteString("a=end-of-candidates\r\n")
	return out.String(), nil
}

// sdpAttr returns the value of the first "a=<key>:" line of sdp.
func sdpAttr(sdp, key string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "a="+key+":"); ok {
			return v
		}
	}
	return ""
}
