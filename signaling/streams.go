package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/ice"
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
	// MaxSDPBytes bounds the SDP of an offer or answer. Default DefaultMaxSDPBytes.
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
		c.MaxSDPBytes = DefaultMaxSDPBytes
	}
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.WakeTimeout, 45*time.Second)
	def(&c.AcceptTimeout, 30*time.Second)
	def(&c.ConnectTimeout, 30*time.Second)
	def(&c.OrphanAfter, 30*time.Second)
	def(&c.ResumeGrace, 30*time.Second)
}

// Where a session may be for each message of its parties.
var (
	negotiating = []string{store.StreamAccepted, store.StreamConnecting, store.StreamLive}
	settingUp   = []string{store.StreamAccepted, store.StreamConnecting}
)

// streamAck is the data of the ack of stream.request.
type streamAck struct {
	SessionID  string       `json:"session_id"`
	ICEServers []ice.Server `json:"ice_servers"`
	Status     string       `json:"status"`
}

// streamRequested is the data of stream.requested.
type streamRequested struct {
	RequesterDeviceID string       `json:"requester_device_id"`
	ICEServers        []ice.Server `json:"ice_servers"`
}

// streamStatus is the data of stream.status (the viewer learns the camera is being
// woken) and of the ack of stream.end.
type streamStatus struct {
	SessionID string  `json:"session_id,omitempty"`
	Status    string  `json:"status"`
	Reason    *string `json:"reason,omitempty"`
}

func (s *Service) attachStreams(h *hub.Hub) {
	h.Handle("stream.request", s.handleStreamRequest)
	h.Handle("stream.accept", s.onSession(s.streamAccept))
	h.Handle("stream.decline", s.onSession(s.streamDecline))
	h.Handle("webrtc.offer", s.onSession(s.webrtcOffer))
	h.Handle("webrtc.answer", s.onSession(s.webrtcAnswer))
	h.Handle("webrtc.candidate", s.withSession(s.relaySession, s.webrtcCandidate))
	h.Handle("stream.connected", s.onSession(s.streamConnected))
	h.Handle("stream.end", s.onSession(s.streamEnd))
	h.Handle("stream.resume", s.handleStreamResume)
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

func (s *Service) handleStreamRequest(ctx context.Context, c *hub.Client, env hub.Envelope) {
	if env.ID == "" {
		_ = c.Error("", CodeBadRequest, "stream.request must carry an id")
		return
	}
	var req StreamRequest
	if err := decodeData(env.Data, &req); err != nil {
		s.reply(c, env, nil, err)
		return
	}
	id := c.Identity()
	req.RequesterDeviceID = id.DeviceID
	sess, camera, err := s.openStream(ctx, id.UserID, req)
	if err != nil {
		s.reply(c, env, nil, err)
		return
	}
	// The ack goes first, so the viewer knows the session before anything about it.
	s.reply(c, env, streamAck{SessionID: sess.ID, ICEServers: s.iceServers(id.DeviceID), Status: sess.Status}, nil)
	s.startStream(ctx, sess, camera)
}

// RequestStream opens a live-view session from req.RequesterDeviceID to
// req.CameraDeviceID, both devices of userID and linked, and asks the camera: at once
// if it is connected, else after waking it by push (status waking); a camera that is
// offline with no push token fails the session at once with camera_offline. The
// session is returned as it is when RequestStream returns. The requester's socket, if
// connected, gets stream.status or stream.ended as the session moves.
func (s *Service) RequestStream(ctx context.Context, userID string, req StreamRequest) (store.StreamSession, error) {
	if !validID(req.RequesterDeviceID) {
		return store.StreamSession{}, errorf(CodeBadRequest, "requester_device_id must be a UUID")
	}
	sess, camera, err := s.openStream(ctx, userID, req)
	if err != nil {
		return store.StreamSession{}, err
	}
	return s.startStream(ctx, sess, camera), nil
}

// openStream checks a request and creates its session (status requested).
func (s *Service) openStream(ctx context.Context, userID string, req StreamRequest) (store.StreamSession, store.Device, error) {
	if err := req.Validate(); err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	var camera store.Device
	for _, id := range []string{req.RequesterDeviceID, req.CameraDeviceID} {
		d, err := s.store.Device(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID != userID) {
			return store.StreamSession{}, store.Device{}, errorf(CodeNotFound, "device %s not found", id)
		}
		if err != nil {
			return store.StreamSession{}, store.Device{}, err
		}
		camera = d
	}
	if camera.Role != store.RoleCamera {
		return store.StreamSession{}, store.Device{}, errorf(CodeBadRequest, "camera_device_id is not a camera")
	}
	linked, err := s.store.Linked(ctx, req.CameraDeviceID, req.RequesterDeviceID)
	if err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	if !linked {
		return store.StreamSession{}, store.Device{}, errorf(CodeNotLinked, "the devices are not linked")
	}
	sess := store.StreamSession{
		OwnerUserID:       userID,
		CameraDeviceID:    req.CameraDeviceID,
		RequesterDeviceID: req.RequesterDeviceID,
		Status:            store.StreamRequested,
		MediaProvider:     store.MediaP2P,
		CreatedAt:         s.cfg.Now().UTC(),
	}
	limit := s.cfg.Streams.MaxViewersPerCamera
	err = s.store.CreateStreamSession(ctx, &sess, limit)
	if errors.Is(err, store.ErrLimitReached) {
		return store.StreamSession{}, store.Device{}, errorf(CodeBusy, "the camera already has its maximum of %d viewers", limit)
	}
	if err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	s.log.Info("stream session requested", "session_id", sess.ID, "camera_device_id", sess.CameraDeviceID,
		"requester_device_id", sess.RequesterDeviceID)
	return sess, camera, nil
}

// startStream hands a new session to its camera, or wakes the camera, or fails the
// session when the camera cannot be reached. It returns the session as it is then.
func (s *Service) startStream(ctx context.Context, sess store.StreamSession, camera store.Device) store.StreamSession {
	err := s.router.Send(ctx, sess.CameraDeviceID, s.requestedEnvelope(sess))
	switch {
	case err == nil:
		return sess
	case !errors.Is(err, hub.ErrOffline):
		// The bus failed: the camera may be connected. The request timeout settles it.
		s.log.Warn("send stream.requested", "session_id", sess.ID, "err", err)
		return sess
	}
	if camera.PushToken == nil || *camera.PushToken == "" {
		return s.finish(ctx, sess, ReasonCameraOffline, "")
	}
	waking, err := s.store.TransitionStream(ctx, sess.ID, []string{store.StreamRequested}, store.StreamWaking, "", s.cfg.Now().UTC())
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream session to waking", "session_id", sess.ID, "err", err)
		}
		return waking
	}
	s.wake(ctx, sess.CameraDeviceID, "stream_request")
	s.notify(ctx, waking.RequesterDeviceID, hub.Envelope{Type: "stream.status", Session: waking.ID,
		Data: marshal(streamStatus{Status: store.StreamWaking})})
	// The camera may have connected between the send and the change to waking, and
	// found nothing waking: hand it over now. The compare-and-set in deliverWaking
	// makes this and the camera's OnConnect deliver it once.
	if online, err := s.router.Online(ctx, sess.CameraDeviceID); err == nil && online {
		return s.deliverWaking(ctx, waking, func(env hub.Envelope) error {
			return s.router.Send(ctx, sess.CameraDeviceID, env)
		})
	}
	return waking
}

func (s *Service) requestedEnvelope(sess store.StreamSession) hub.Envelope {
	return hub.Envelope{Type: "stream.requested", Session: sess.ID, From: sess.RequesterDeviceID,
		Data: marshal(streamRequested{RequesterDeviceID: sess.RequesterDeviceID, ICEServers: s.iceServers(sess.CameraDeviceID)})}
}

// deliverWaking moves a waking session back to requested and sends stream.requested.
func (s *Service) deliverWaking(ctx context.Context, sess store.StreamSession, send func(hub.Envelope) error) store.StreamSession {
	cur, err := s.store.TransitionStream(ctx, sess.ID, []string{store.StreamWaking}, store.StreamRequested, "", s.cfg.Now().UTC())
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream session to requested", "session_id", sess.ID, "err", err)
		}
		return cur
	}
	if err := send(s.requestedEnvelope(cur)); err != nil {
		s.log.Debug("send stream.requested after wake-up", "session_id", sess.ID, "err", err)
	}
	return cur
}

// streamsConnected hands a camera that just connected the sessions waiting for it.
func (s *Service) streamsConnected(ctx context.Context, c *hub.Client) {
	dev := c.Identity().DeviceID
	sessions, err := s.store.OpenStreamSessions(ctx, dev)
	if err != nil {
		s.log.Warn("load open stream sessions", "device_id", dev, "err", err)
		return
	}
	for _, sess := range sessions {
		if sess.Status == store.StreamWaking && sess.CameraDeviceID == dev {
			s.deliverWaking(ctx, sess, c.Send)
		}
	}
}

// streamsDisconnected handles the sessions of a device that is connected nowhere any
// more. A live session whose device dropped off without closing its socket normally
// (clean false: a hub restart, a drain, a lost network) is kept for the resume grace
// period, its party marked away: media flows peer to peer meanwhile, and the device
// resumes it with stream.resume when it is back. Every other session ends: the other
// party gets stream.ended with disconnected (link_revoked when the device was
// deleted). A device whose socket was replaced by a newer one keeps its sessions, so
// an ICE restart after a network change can save them.
func (s *Service) streamsDisconnected(ctx context.Context, id hub.Identity, clean bool) {
	sessions, err := s.store.OpenStreamSessions(ctx, id.DeviceID)
	if err != nil {
		s.log.Warn("load open stream sessions", "device_id", id.DeviceID, "err", err)
		return
	}
	if len(sessions) == 0 {
		return
	}
	if online, err := s.router.Online(ctx, id.DeviceID); err == nil && online {
		return
	}
	reason := ReasonDisconnected
	if _, err := s.store.Device(ctx, id.DeviceID); errors.Is(err, store.ErrNotFound) {
		reason, clean = ReasonLinkRevoked, true
	}
	var away []store.StreamSession
	for _, sess := range sessions {
		switch {
		case sess.Status == store.StreamWaking && sess.CameraDeviceID == id.DeviceID:
			// it was never connected for this session
		case sess.Status == store.StreamLive && !clean:
			if s.markAway(ctx, sess, id.DeviceID, true) {
				away = append(away, sess)
			}
		default:
			s.finish(ctx, sess, reason, id.DeviceID)
		}
	}
	if len(away) == 0 {
		return
	}
	// The device may have connected again, and resumed, between the check above and
	// the marks: then they must not stand.
	if online, err := s.router.Online(ctx, id.DeviceID); err == nil && online {
		for _, sess := range away {
			s.markAway(ctx, sess, id.DeviceID, false)
		}
	}
}

// markAway marks dev away in sess (or back), and reports whether it did.
func (s *Service) markAway(ctx context.Context, sess store.StreamSession, dev string, away bool) bool {
	_, err := s.store.SetStreamPartyAway(ctx, sess.ID, dev, away, s.cfg.Now().UTC())
	if err != nil {
		if !errors.Is(err, store.ErrConflict) { // closed meanwhile: nothing to keep
			s.log.Warn("mark stream party", "session_id", sess.ID, "device_id", dev, "away", away, "err", err)
		}
		return false
	}
	if away {
		s.log.Info("stream session kept for its party to resume", "session_id", sess.ID, "device_id", dev,
			"grace", s.cfg.Streams.ResumeGrace)
	}
	return true
}

// LinkRevoked ends the open sessions between the link's two devices with
// link_revoked, telling both. Wire it into web.Deps.OnLinkRevoked.
func (s *Service) LinkRevoked(ctx context.Context, link store.DeviceLink) {
	sessions, err := s.store.OpenStreamSessions(ctx, link.CameraDeviceID)
	if err != nil {
		s.log.Warn("load open stream sessions", "device_id", link.CameraDeviceID, "err", err)
		return
	}
	for _, sess := range sessions {
		pair := (sess.CameraDeviceID == link.CameraDeviceID && sess.RequesterDeviceID == link.ClientDeviceID) ||
			(sess.CameraDeviceID == link.ClientDeviceID && sess.RequesterDeviceID == link.CameraDeviceID)
		if pair {
			s.finish(ctx, sess, ReasonLinkRevoked, "")
		}
	}
}

// finish closes an open session with reason — ended if it was live, failed if not —
// and sends stream.ended to its parties but skip. A session closed meanwhile is
// returned as it is, and nobody is told again.
func (s *Service) finish(ctx context.Context, sess store.StreamSession, reason, skip string) store.StreamSession {
	cur := sess
	for range 4 {
		if !cur.Open() {
			return cur
		}
		to := store.StreamFailed
		if cur.Status == store.StreamLive {
			to = store.StreamEnded
		}
		next, err := s.store.TransitionStream(ctx, cur.ID, []string{cur.Status}, to, reason, s.cfg.Now().UTC())
		if errors.Is(err, store.ErrConflict) {
			cur = next // it moved meanwhile: decide again
			continue
		}
		if err != nil {
			s.log.Warn("close stream session", "session_id", sess.ID, "reason", reason, "err", err)
			return cur
		}
		s.ended(ctx, next, skip)
		return next
	}
	return cur
}

// ended logs a closed session and tells its parties but skip.
func (s *Service) ended(ctx context.Context, sess store.StreamSession, skip string) {
	reason := ""
	if sess.Reason != nil {
		reason = *sess.Reason
	}
	s.relays.forget(sess.ID)
	s.log.Info("stream session closed", "session_id", sess.ID, "status", sess.Status, "reason", reason)
	env := hub.Envelope{Type: "stream.ended", Session: sess.ID, Data: marshal(StreamReason{Reason: reason})}
	for _, dev := range []string{sess.RequesterDeviceID, sess.CameraDeviceID} {
		if dev != skip {
			s.notify(ctx, dev, env)
		}
	}
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

// onSession loads the session a message names, checks that the sender is one of its
// parties and answers with what fn returns.
func (s *Service) onSession(fn sessionHandler) hub.HandlerFunc {
	return s.withSession(s.partySession, fn)
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
	if !validID(id) {
		return store.StreamSession{}, errorf(CodeBadRequest, "session must name a stream session")
	}
	sess, err := s.store.StreamSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && dev != sess.CameraDeviceID && dev != sess.RequesterDeviceID) {
		return store.StreamSession{}, errorf(CodeNotFound, "no such stream session")
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
		return errorf(CodeForbidden, "only the %s of the session sends %s", role, typ)
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
	return errorf(CodeConflict, "the session is %s: no %s now", sess.Status, typ)
}

// conflict maps a lost compare-and-set to what the client sees.
func conflict(cur store.StreamSession, err error, typ string) error {
	if errors.Is(err, store.ErrConflict) {
		return errorf(CodeConflict, "the session is %s: no %s now", cur.Status, typ)
	}
	return err
}

func other(sess store.StreamSession, dev string) string {
	if dev == sess.CameraDeviceID {
		return sess.RequesterDeviceID
	}
	return sess.CameraDeviceID
}

// relay forwards a party's message to the other party, stamped with from.
func (s *Service) relay(ctx context.Context, sess store.StreamSession, dev, typ string, data any) error {
	err := s.router.Send(ctx, other(sess, dev), hub.Envelope{Type: typ, Session: sess.ID, From: dev, Data: marshal(data)})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hub.ErrOffline), errors.Is(err, hub.ErrQueueFull):
		return errorf(CodeTargetOffline, "the other party is not connected")
	default:
		s.log.Warn("relay "+typ, "session_id", sess.ID, "err", err)
		return errorf(CodeUnavailable, "could not relay the message, retry")
	}
}

func (s *Service) streamAccept(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var r StreamReason
	if err := decodeData(env.Data, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := only(store.RoleCamera, dev, sess, env.Type); err != nil {
		return nil, err
	}
	cur, err := s.store.TransitionStream(ctx, sess.ID, []string{store.StreamRequested}, store.StreamAccepted, "", s.cfg.Now().UTC())
	if err != nil {
		return nil, conflict(cur, err, env.Type)
	}
	err = s.router.Send(ctx, cur.RequesterDeviceID, hub.Envelope{Type: "stream.ready", Session: cur.ID, From: dev, Data: json.RawMessage(`{}`)})
	if errors.Is(err, hub.ErrOffline) {
		// The viewer left before the camera answered.
		s.finish(ctx, cur, ReasonDisconnected, "")
	} else if err != nil {
		s.log.Warn("send stream.ready", "session_id", cur.ID, "err", err)
	}
	return nil, nil
}

func (s *Service) streamDecline(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var r StreamReason
	if err := decodeData(env.Data, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := only(store.RoleCamera, dev, sess, env.Type); err != nil {
		return nil, err
	}
	// The camera's own reason (camera_unavailable: it is not capturing) tells the
	// viewer more than "declined".
	reason := r.Reason
	if reason == "" {
		reason = ReasonDeclined
	}
	cur, err := s.store.TransitionStream(ctx, sess.ID, []string{store.StreamRequested}, store.StreamFailed, reason, s.cfg.Now().UTC())
	if err != nil {
		return nil, conflict(cur, err, env.Type)
	}
	s.ended(ctx, cur, dev)
	return nil, nil
}

func (s *Service) webrtcOffer(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var d SessionDescription
	if err := decodeData(env.Data, &d); err != nil {
		return nil, err
	}
	if err := d.Validate(s.cfg.Streams.MaxSDPBytes); err != nil {
		return nil, err
	}
	if err := only(store.RoleViewer, dev, sess, env.Type); err != nil {
		return nil, err
	}
	if err := in(sess, negotiating, env.Type); err != nil {
		return nil, err
	}
	if err := s.relay(ctx, sess, dev, env.Type, d); err != nil {
		return nil, err
	}
	if sess.Status == store.StreamAccepted {
		// The first offer. Losing the race to stream.connected (live) is fine.
		_, err := s.store.TransitionStream(ctx, sess.ID, []string{store.StreamAccepted}, store.StreamConnecting, "", s.cfg.Now().UTC())
		if err != nil && !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream session to connecting", "session_id", sess.ID, "err", err)
		}
	}
	return nil, nil
}

func (s *Service) webrtcAnswer(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var d SessionDescription
	if err := decodeData(env.Data, &d); err != nil {
		return nil, err
	}
	if err := d.Validate(s.cfg.Streams.MaxSDPBytes); err != nil {
		return nil, err
	}
	if err := only(store.RoleCamera, dev, sess, env.Type); err != nil {
		return nil, err
	}
	// Accepted too: the viewer's offer is relayed before its session moves on.
	if err := in(sess, negotiating, env.Type); err != nil {
		return nil, err
	}
	return nil, s.relay(ctx, sess, dev, env.Type, d)
}

func (s *Service) webrtcCandidate(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var cand Candidate
	if err := decodeData(env.Data, &cand); err != nil {
		return nil, err
	}
	if err := cand.Validate(); err != nil {
		return nil, err
	}
	if err := in(sess, negotiating, env.Type); err != nil {
		return nil, err
	}
	return nil, s.relay(ctx, sess, dev, env.Type, cand)
}

func (s *Service) streamConnected(ctx context.Context, _ string, env hub.Envelope, sess store.StreamSession) (any, error) {
	if sess.Status == store.StreamLive {
		return nil, nil // the other party said so first
	}
	if err := in(sess, settingUp, env.Type); err != nil {
		return nil, err
	}
	cur, err := s.store.TransitionStream(ctx, sess.ID, settingUp, store.StreamLive, "", s.cfg.Now().UTC())
	if errors.Is(err, store.ErrConflict) && cur.Status == store.StreamLive {
		return nil, nil
	}
	if err != nil {
		return nil, conflict(cur, err, env.Type)
	}
	s.log.Info("stream session live", "session_id", cur.ID)
	return nil, nil
}

func (s *Service) streamEnd(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	var r StreamReason
	if err := decodeData(env.Data, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Reason == "" {
		r.Reason = ReasonHangup
	}
	cur := s.finish(ctx, sess, r.Reason, dev)
	return streamStatus{SessionID: cur.ID, Status: cur.Status, Reason: cur.Reason}, nil
}

// handleStreamResume is a party's stream.resume after its socket came back: its away
// mark is cleared and the ack says where the session is. A session that closed while
// the party was away is acknowledged with its status and reason, then stream.ended is
// sent to the party again (the first went to a socket that was gone).
func (s *Service) handleStreamResume(ctx context.Context, c *hub.Client, env hub.Envelope) {
	dev := c.Identity().DeviceID
	sess, err := s.partySession(ctx, dev, env.Session)
	if err == nil && sess.Open() {
		var cur store.StreamSession
		cur, err = s.store.SetStreamPartyAway(ctx, sess.ID, dev, false, s.cfg.Now().UTC())
		if err == nil || errors.Is(err, store.ErrConflict) {
			sess, err = cur, nil
		}
	}
	if err != nil {
		s.reply(c, env, nil, err)
		return
	}
	s.reply(c, env, streamStatus{SessionID: sess.ID, Status: sess.Status, Reason: sess.Reason}, nil)
	if sess.Open() {
		s.log.Info("stream session resumed", "session_id", sess.ID, "device_id", dev, "status", sess.Status)
		return
	}
	reason := ""
	if sess.Reason != nil {
		reason = *sess.Reason
	}
	_ = c.Send(hub.Envelope{Type: "stream.ended", Session: sess.ID, Data: marshal(StreamReason{Reason: reason})})
}

// Stream returns a session of userID.
func (s *Service) Stream(ctx context.Context, userID, id string) (store.StreamSession, error) {
	sess, err := s.store.StreamSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.OwnerUserID != userID) {
		return store.StreamSession{}, errorf(CodeNotFound, "no such stream session")
	}
	return sess, err
}

// ListStreams lists userID's sessions, newest first.
func (s *Service) ListStreams(ctx context.Context, userID string, f store.StreamFilter, p store.Page) ([]store.StreamSession, string, error) {
	if f.CameraDeviceID != "" && !validID(f.CameraDeviceID) {
		return nil, "", errorf(CodeBadRequest, "camera_device_id must be a UUID")
	}
	return s.store.ListStreamSessions(ctx, userID, f, p)
}

// EndStream ends a session of userID (the REST twin of stream.end): both parties get
// stream.ended with reason (hangup when empty). Ending a closed session returns it
// unchanged.
func (s *Service) EndStream(ctx context.Context, userID, id, reason string) (store.StreamSession, error) {
	if err := (StreamReason{Reason: reason}).Validate(); err != nil {
		return store.StreamSession{}, err
	}
	if reason == "" {
		reason = ReasonHangup
	}
	sess, err := s.Stream(ctx, userID, id)
	if err != nil {
		return store.StreamSession{}, err
	}
	return s.finish(ctx, sess, reason, ""), nil
}

// sweepStreams fails the sessions that waited too long in a setup step, and closes
// those a vanished replica left open and those whose party did not come back within
// the resume grace period, telling their parties.
func (s *Service) sweepStreams(ctx context.Context) {
	cfg := s.cfg.Streams
	now := s.cfg.Now().UTC()
	expired, err := s.store.ExpireStreamSessions(ctx, []store.StreamDeadline{
		{Status: store.StreamRequested, Before: now.Add(-cfg.RequestTimeout), Reason: ReasonTimeout},
		{Status: store.StreamWaking, Before: now.Add(-cfg.WakeTimeout), Reason: ReasonCameraUnreachable},
		{Status: store.StreamAccepted, Before: now.Add(-cfg.AcceptTimeout), Reason: ReasonTimeout},
		{Status: store.StreamConnecting, Before: now.Add(-cfg.ConnectTimeout), Reason: ReasonTimeout},
	}, now)
	if err != nil {
		s.log.Warn("expire stream sessions", "err", err)
	}
	for _, sess := range expired {
		s.ended(ctx, sess, "")
	}
	orphans, err := s.store.EndOrphanStreamSessions(ctx, now.Add(-cfg.OrphanAfter), ReasonDisconnected, now)
	if err != nil {
		s.log.Warn("end orphan stream sessions", "err", err)
	}
	for _, sess := range orphans {
		s.ended(ctx, sess, "")
	}
	abandoned, err := s.store.EndAbandonedStreamSessions(ctx, now.Add(-cfg.ResumeGrace), ReasonDisconnected, now)
	if err != nil {
		s.log.Warn("end abandoned stream sessions", "err", err)
	}
	for _, sess := range abandoned {
		s.ended(ctx, sess, "")
	}
}

// marshal encodes message data made of plain fields (it cannot fail).
func marshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
