package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

func (s *Service) handleStreamRequest(ctx context.Context, c *hub.Client, env hub.Envelope) {
	if env.ID == "" {
		_ = c.Error("", wire.CodeBadRequest, "stream.request must carry an id")
		return
	}
	var req wire.StreamRequest
	if err := wire.DecodeData(env.Data, &req); err != nil {
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
	s.reply(c, env, wire.StreamAck{SessionID: sess.ID, ICEServers: s.iceServers(id.DeviceID), Status: sess.Status}, nil)
	s.startStream(ctx, sess, camera)
}

// RequestStream opens a live-view session from req.RequesterDeviceID to
// req.CameraDeviceID, both devices of userID and linked, and asks the camera: at once
// if it is connected, else after waking it by push (status waking); a camera that is
// offline with no push token fails the session at once with camera_offline. The
// session is returned as it is when RequestStream returns. The requester's socket, if
// connected, gets stream.status or stream.ended as the session moves.
func (s *Service) RequestStream(ctx context.Context, userID string, req wire.StreamRequest) (store.StreamSession, error) {
	if !wire.ValidID(req.RequesterDeviceID) {
		return store.StreamSession{}, wire.Errorf(wire.CodeBadRequest, "requester_device_id must be a UUID")
	}
	sess, camera, err := s.openStream(ctx, userID, req)
	if err != nil {
		return store.StreamSession{}, err
	}
	return s.startStream(ctx, sess, camera), nil
}

// openStream checks a request and creates its session (status requested).
func (s *Service) openStream(ctx context.Context, userID string, req wire.StreamRequest) (store.StreamSession, store.Device, error) {
	if err := req.Validate(); err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	d, err := s.store.Device(ctx, req.RequesterDeviceID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID != userID) {
		return store.StreamSession{}, store.Device{}, wire.Errorf(wire.CodeNotFound, "device %s not found", req.RequesterDeviceID)
	}
	if err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	g, err := s.access.User(ctx, userID, req.CameraDeviceID, access.View)
	if errors.Is(err, access.ErrDenied) {
		return store.StreamSession{}, store.Device{}, wire.Errorf(wire.CodeNotFound, "device %s not found", req.CameraDeviceID)
	}
	if err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	camera := g.Camera
	if camera.Role != store.RoleCamera {
		return store.StreamSession{}, store.Device{}, wire.Errorf(wire.CodeBadRequest, "camera_device_id is not a camera")
	}
	if _, err := s.access.Device(ctx, userID, req.RequesterDeviceID, req.CameraDeviceID, access.View); err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	sess := store.StreamSession{
		OwnerUserID:       userID,
		CameraDeviceID:    req.CameraDeviceID,
		RequesterDeviceID: req.RequesterDeviceID,
		Status:            store.StreamRequested,
		MediaProvider:     s.liveProvider(ctx, camera),
		CreatedAt:         s.cfg.Now().UTC(),
	}
	limit := s.cfg.Streams.MaxViewersPerCamera
	err = s.createStream(ctx, &sess, limit)
	if errors.Is(err, store.ErrLimitReached) {
		return store.StreamSession{}, store.Device{}, wire.Errorf(wire.CodeBusy, "the camera already has its maximum of %d viewers", limit)
	}
	if err != nil {
		return store.StreamSession{}, store.Device{}, err
	}
	s.relays.putAsked(sess, s.cfg.Now()) // for the camera's answer
	s.log.Info("stream session requested", "session_id", sess.ID, "camera_device_id", sess.CameraDeviceID,
		"requester_device_id", sess.RequesterDeviceID, "media_provider", sess.MediaProvider)
	return sess, camera, nil
}

// startStream hands a new session to its camera, or wakes the camera, or fails the
// session when the camera cannot be reached; a relayed session goes to the relay
// (startRelayed). It returns the session as it is then.
func (s *Service) startStream(ctx context.Context, sess store.StreamSession, camera store.Device) store.StreamSession {
	if sess.MediaProvider == store.MediaRelay {
		return s.startRelayed(ctx, sess, camera)
	}
	err := s.router.Send(ctx, sess.CameraDeviceID, s.requestedEnvelope(sess))
	switch {
	case err == nil:
		return sess
	case !errors.Is(err, hub.ErrOffline):
		// The bus failed: the camera may be connected. The request timeout settles it.
		s.log.Warn("send stream.requested", "session_id", sess.ID, "err", err)
		return sess
	}
	return s.wakeCamera(ctx, sess, camera)
}

// wakeCamera wakes the offline camera of a requested session by push (the session
// waking), or fails the session when the camera has no push token. When it connects,
// deliverWaking hands it the session.
func (s *Service) wakeCamera(ctx context.Context, sess store.StreamSession, camera store.Device) store.StreamSession {
	if camera.PushToken == nil || *camera.PushToken == "" {
		return s.finish(ctx, sess, ReasonCameraOffline, "")
	}
	waking, err := s.transition(ctx, sess.ID, []string{store.StreamRequested}, store.StreamWaking, "")
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream session to waking", "session_id", sess.ID, "err", err)
		}
		return waking
	}
	s.wake(ctx, sess.CameraDeviceID, "stream_request")
	s.notify(ctx, waking.RequesterDeviceID, hub.Envelope{Type: wire.TypeStreamStatus, Session: waking.ID,
		Data: marshal(wire.StreamStatus{Status: store.StreamWaking})})
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
	return hub.Envelope{Type: wire.TypeStreamRequested, Session: sess.ID, From: sess.RequesterDeviceID,
		Data: marshal(wire.StreamRequested{RequesterDeviceID: sess.RequesterDeviceID, ICEServers: s.iceServers(sess.CameraDeviceID)})}
}

// deliverWaking moves a waking session back to requested and sends stream.requested,
// or, for a relayed session, starts it as such (relay.publish to this replica).
func (s *Service) deliverWaking(ctx context.Context, sess store.StreamSession, send func(hub.Envelope) error) store.StreamSession {
	cur, err := s.transition(ctx, sess.ID, []string{store.StreamWaking}, store.StreamRequested, "")
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("stream session to requested", "session_id", sess.ID, "err", err)
		}
		return cur
	}
	if cur.MediaProvider == store.MediaRelay {
		camera, err := s.store.Device(ctx, cur.CameraDeviceID)
		if err != nil {
			s.log.Warn("woken camera of a relayed session; left to the request timeout", "session_id", cur.ID, "err", err)
			return cur
		}
		return s.serveRelayed(ctx, cur, camera, send)
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

// deliverWakingTo hands the local cameras the sessions waiting for them: a request
// published while their replica was away from the bus reached nobody and left the
// session waking, though the camera stayed connected.
func (s *Service) deliverWakingTo(ctx context.Context, local map[string]*hub.Client, ids []string) {
	sessions, err := s.store.WakingStreamSessions(ctx, ids)
	if err != nil {
		s.log.Warn("bus resumed: load waiting stream sessions; left to their timeout", "devices", len(ids), "err", err)
		return
	}
	for _, sess := range sessions {
		s.deliverWaking(ctx, sess, local[sess.CameraDeviceID].Send)
	}
	if len(sessions) > 0 {
		s.log.Info("bus resumed: waiting stream requests handed over", "sessions", len(sessions))
	}
}

func (s *Service) streamAccept(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	if _, err := reasonOf(env); err != nil {
		return nil, err
	}
	if err := only(store.RoleCamera, dev, sess, env.Type); err != nil {
		return nil, err
	}
	gen := s.relays.generation()
	cur, err := s.transition(ctx, sess.ID, []string{store.StreamRequested}, store.StreamAccepted, "")
	if err != nil {
		return nil, conflict(cur, err, env.Type)
	}
	s.relays.put(cur, gen, s.cfg.Now()) // the offer, the answer and the candidates read it there
	err = s.router.Send(ctx, cur.RequesterDeviceID, hub.Envelope{Type: wire.TypeStreamReady, Session: cur.ID, From: dev, Data: json.RawMessage(`{}`)})
	if errors.Is(err, hub.ErrOffline) {
		// The viewer left before the camera answered.
		s.finish(ctx, cur, ReasonDisconnected, "")
	} else if err != nil {
		s.log.Warn("send stream.ready", "session_id", cur.ID, "err", err)
	}
	return nil, nil
}

func (s *Service) streamDecline(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	r, err := reasonOf(env)
	if err != nil {
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
	cur, err := s.transition(ctx, sess.ID, []string{store.StreamRequested}, store.StreamFailed, reason)
	if err != nil {
		return nil, conflict(cur, err, env.Type)
	}
	s.ended(ctx, cur, dev)
	return nil, nil
}

// RequestPublish asks camera to publish to the relay at whipURL (relay.publish),
// for a WHEP viewer. An offline camera is woken by push (reason stream_request: a
// viewer wants to watch it), and hub.ErrOffline returned.
func (s *Service) RequestPublish(ctx context.Context, camera, whipURL string) error {
	err := s.router.Send(ctx, camera, hub.Envelope{Type: wire.TypeRelayPublish, Data: marshal(wire.RelayPublish{WHIPURL: whipURL})})
	if errors.Is(err, hub.ErrOffline) {
		s.wake(ctx, camera, "stream_request")
		return err
	}
	if err != nil {
		return fmt.Errorf("request publish: %w", err)
	}
	return nil
}
