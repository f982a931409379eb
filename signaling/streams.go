package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Reasons a stream session ends with (stream_sessions.reason and stream.ended's reason),
// besides the one a party gives in stream.end.
const (
	ReasonCameraOffline     = "camera_offline"     // offline and no push token to wake it
	ReasonCameraUnreachable = "camera_unreachable" // woken, but did not connect in time
	ReasonDeclined          = "declined"           // the camera said no, giving no reason
	ReasonTimeout           = "timeout"            // a setup step took too long
	ReasonDisconnected      = "disconnected"       // a party's socket went away
	ReasonLinkRevoked       = "link_revoked"       // the link or a device was removed
	ReasonHangup            = "hangup"             // stream.end (or POST …/end) without a reason
)

// ICEServers hands out the ICE server list of a device; signaling/ice implements it.
type ICEServers interface {
	Servers(deviceID string) ice.List
}

// StreamConfig configures live view. Every zero field takes the default beside it.
type StreamConfig struct {
	// ICE gives the STUN/TURN servers of stream.request's ack and stream.requested.
	// Nil: an empty list (host candidates only, which works on one LAN).
	ICE ICEServers
	// MaxViewersPerCamera is how many open sessions a camera may have at once; the
	// next request gets busy. Default 4.
	MaxViewersPerCamera int
	// MaxSDPBytes bounds the SDP of an offer or answer. Default wire.DefaultMaxSDPBytes.
	MaxSDPBytes int
	// RequestTimeout: a camera that got stream.requested must accept or decline
	// within it. Default 30 s.
	RequestTimeout time.Duration
	// WakeTimeout: a camera woken by push must connect within it, or the session
	// fails with camera_unreachable. Default 45 s.
	WakeTimeout time.Duration
	// AcceptTimeout: after stream.ready the viewer must send its offer within it.
	// Default 30 s.
	AcceptTimeout time.Duration
	// ConnectTimeout: after the first offer, a party must send stream.connected
	// within it. Default 30 s.
	ConnectTimeout time.Duration
	// OrphanAfter: an open session unchanged this long of which a party is recorded
	// offline (its replica died without telling) ends with disconnected. It must
	// exceed the hub's presence recording delay. Default 30 s.
	OrphanAfter time.Duration
	// PublishWait: a camera asked to publish for a relayed session (relay.publish) must
	// publish media to the relay within it, else the session goes peer to peer (a
	// camera that does not know relay.publish). Default 15 s.
	PublishWait time.Duration
	// ResumeGrace: a live session whose party's socket went away (a hub restart, a
	// drain, a network change) is kept this long for the party to come back and send
	// stream.resume; then it ends with disconnected. Media flows peer to peer
	// meanwhile. Default 30 s.
	ResumeGrace time.Duration
}

func (c *StreamConfig) setDefaults() {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.MaxViewersPerCamera <= 0 {
		c.MaxViewersPerCamera = 4
	}
	if c.MaxSDPBytes <= 0 {
		c.MaxSDPBytes = wire.DefaultMaxSDPBytes
	}
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.WakeTimeout, 45*time.Second)
	def(&c.AcceptTimeout, 30*time.Second)
	def(&c.ConnectTimeout, 30*time.Second)
	def(&c.OrphanAfter, 30*time.Second)
	def(&c.ResumeGrace, 30*time.Second)
	def(&c.PublishWait, 15*time.Second)
}

// Where a session may be for each message of its parties.
var (
	negotiating = []string{store.StreamAccepted, store.StreamConnecting, store.StreamLive}
	settingUp   = []string{store.StreamAccepted, store.StreamConnecting}
)

func (s *Service) attachStreams(h *hub.Hub) {
	h.Handle(wire.TypeStreamRequest, s.handleStreamRequest)
	h.Handle(wire.TypeStreamAccept, s.onSession(s.streamAccept))
	h.Handle(wire.TypeStreamDecline, s.onSession(s.streamDecline))
	// The negotiation reads its session from the relay cache: no store read per message.
	h.Handle(wire.TypeOffer, s.withSession(s.relaySession, s.webrtcDescription(store.RoleViewer)))
	h.Handle(wire.TypeAnswer, s.withSession(s.relaySession, s.webrtcDescription(store.RoleCamera)))
	h.Handle(wire.TypeCandidate, s.handleCandidate)
	h.Handle(wire.TypeStreamConnected, s.withSession(s.relaySession, s.streamConnected))
	h.Handle(wire.TypeStreamEnd, s.onSession(s.streamEnd))
	h.Handle(wire.TypeStreamResume, s.handleStreamResume)
}

// iceServers is the list of deviceID's ICE servers, never nil.
func (s *Service) iceServers(deviceID string) []ice.Server {
	return s.ICEServers(deviceID).ICEServers
}

// ICEServers returns the ICE servers (and TURN credentials) for deviceID: the answer
// of GET /api/v1/ice-servers.
func (s *Service) ICEServers(deviceID string) ice.List {
	if s.cfg.Streams.ICE == nil {
		return ice.List{ICEServers: []ice.Server{}}
	}
	l := s.cfg.Streams.ICE.Servers(deviceID)
	if l.ICEServers == nil {
		l.ICEServers = []ice.Server{}
	}
	return l
}

// notify sends env to deviceID if it is connected anywhere.
func (s *Service) notify(ctx context.Context, deviceID string, env hub.Envelope) {
	if err := s.router.Send(ctx, deviceID, env); err != nil && !errors.Is(err, hub.ErrOffline) {
		s.log.Warn("send "+env.Type, "device_id", deviceID, "session_id", env.Session, "err", err)
	}
}

// sessionHandler handles a message of a session's party: it returns the ack's data
// or the refusal.
type sessionHandler func(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error)

// reasonOf decodes and checks the data of stream.accept, stream.decline and stream.end.
func reasonOf(env hub.Envelope) (wire.StreamReason, error) {
	var r wire.StreamReason
	if err := wire.DecodeData(env.Data, &r); err != nil {
		return r, err
	}
	return r, r.Validate()
}

// onSession loads the session a message names, mostly from the relay cache
// (knownSession: fn must change it by compare-and-sets only, which correct a stale
// status), checks that the sender is one of its parties and answers with what fn
// returns.
func (s *Service) onSession(fn sessionHandler) hub.HandlerFunc {
	return s.withSession(s.knownSession, fn)
}

// withSession is onSession with the session loaded by load.
func (s *Service) withSession(load func(ctx context.Context, dev, id string) (store.StreamSession, error), fn sessionHandler) hub.HandlerFunc {
	return func(ctx context.Context, c *hub.Client, env hub.Envelope) {
		dev := c.Identity().DeviceID
		sess, err := load(ctx, dev, env.Session)
		var ack any
		if err == nil {
			ack, err = fn(ctx, dev, env, sess)
		}
		s.reply(c, env, ack, err)
	}
}

func (s *Service) partySession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	if !wire.ValidID(id) {
		return store.StreamSession{}, wire.Errorf(wire.CodeBadRequest, "session must name a stream session")
	}
	sess, err := s.store.StreamSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && dev != sess.CameraDeviceID && dev != sess.RequesterDeviceID) {
		return store.StreamSession{}, wire.Errorf(wire.CodeNotFound, "no such stream session")
	}
	return sess, err
}

// only refuses a message from the session's other party.
func only(role string, dev string, sess store.StreamSession, typ string) error {
	want := sess.RequesterDeviceID
	if role == store.RoleCamera {
		want = sess.CameraDeviceID
	}
	if dev != want {
		return wire.Errorf(wire.CodeForbidden, "only the %s of the session sends %s", role, typ)
	}
	return nil
}

// in refuses a message for a session in a status not in statuses.
func in(sess store.StreamSession, statuses []string, typ string) error {
	for _, st := range statuses {
		if sess.Status == st {
			return nil
		}
	}
	return wire.Errorf(wire.CodeConflict, "the session is %s: no %s now", sess.Status, typ)
}

// conflict maps a lost compare-and-set to what the client sees.
func conflict(cur store.StreamSession, err error, typ string) error {
	if errors.Is(err, store.ErrConflict) {
		return wire.Errorf(wire.CodeConflict, "the session is %s: no %s now", cur.Status, typ)
	}
	return err
}

func other(sess store.StreamSession, dev string) string {
	if dev == sess.CameraDeviceID {
		return sess.RequesterDeviceID
	}
	return sess.CameraDeviceID
}

// Stream returns a session of userID.
func (s *Service) Stream(ctx context.Context, userID, id string) (store.StreamSession, error) {
	sess, err := s.store.StreamSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.OwnerUserID != userID) {
		return store.StreamSession{}, wire.Errorf(wire.CodeNotFound, "no such stream session")
	}
	return sess, err
}

// ListStreams lists userID's sessions, newest first.
func (s *Service) ListStreams(ctx context.Context, userID string, f store.StreamFilter, p store.Page) ([]store.StreamSession, string, error) {
	if f.CameraDeviceID != "" && !wire.ValidID(f.CameraDeviceID) {
		return nil, "", wire.Errorf(wire.CodeBadRequest, "camera_device_id must be a UUID")
	}
	return s.store.ListStreamSessions(ctx, userID, f, p)
}

// marshal encodes message data made of plain fields (it cannot fail).
func marshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
