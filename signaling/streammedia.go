package signaling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// The socket relay flow: a session with media provider relay is served by the hub's
// relay instead of the camera's own peer. The viewer speaks the p2p flow unchanged
// (stream.ready, then its offer), but the hub answers for the camera, with a
// subscriber leg of the camera's publication; the camera is asked to publish to the
// relay (relay.publish) and knows nothing of the session. A camera that does not
// publish within PublishWait gets the session as a p2p one (stream.requested), so
// cameras that do not know relay.publish keep working.

// Relay is this replica's media relay as the socket flow uses it (signaling/relay,
// wired by cmd).
type Relay interface {
	// Publishing reports whether camera publishes to this relay.
	Publishing(camera string) bool
	// WaitReady waits until camera's publication carries media; an error when it has
	// none (or it ends), or when ctx ends first.
	WaitReady(ctx context.Context, camera string) error
	// Subscribe adds a viewer leg (principal: the viewer device) to camera's
	// publication and returns it with the answer to offer (candidates included).
	Subscribe(ctx context.Context, camera, principal, offer string) (RelayLeg, string, error)
}

// RelayLeg is one viewer's subscription to a publication.
type RelayLeg interface {
	// AddCandidate applies a candidate of the viewer ("" ends gathering).
	AddCandidate(candidate string, sdpMid *string, sdpMLineIndex *uint16) error
	// Done is closed when the leg ends (closed, its publication ended, it failed).
	Done() <-chan struct{}
	Close()
}

// ReasonRelayEnded ends a relayed session whose leg ended (the camera stopped
// publishing, or the viewer's connection to the relay failed).
const ReasonRelayEnded = "relay_ended"

// ReasonBusy fails a relayed session that fell back to p2p when the camera already
// uploads its maximum of p2p streams.
const ReasonBusy = "busy"

// liveProvider is the media provider of a new session of camera: relay when its
// live mode says so (auto: when a viewer already watches it peer to peer) and this
// replica has a relay.
func (s *Service) liveProvider(ctx context.Context, camera store.Device) string {
	if s.cfg.Relay == nil || s.cfg.WHIPURL == "" || camera.LiveMode == store.LiveModeP2P {
		return store.MediaP2P
	}
	if camera.LiveMode != store.LiveModeRelay {
		open, err := s.store.OpenStreamSessions(ctx, camera.ID)
		if err != nil {
			s.log.Warn("live mode auto: load open sessions; peer to peer", "camera_device_id", camera.ID, "err", err)
			return store.MediaP2P
		}
		if !slices.ContainsFunc(open, func(o store.StreamSession) bool {
			return o.CameraDeviceID == camera.ID && o.MediaProvider == store.MediaP2P
		}) {
			return store.MediaP2P
		}
	}
	return store.MediaRelay
}

// startRelayed starts a relayed session: once the camera's publication carries
// media (waited for in the background), the viewer gets stream.ready. A camera that
// publishes neither here nor on another replica is asked to publish here; one that
// is offline is woken by push (the session waking), and one that does not publish in
// time gets the session peer to peer.
func (s *Service) startRelayed(ctx context.Context, sess store.StreamSession, camera store.Device) store.StreamSession {
	return s.serveRelayed(ctx, sess, camera, func(env hub.Envelope) error {
		return s.router.Send(ctx, sess.CameraDeviceID, env)
	})
}

// serveRelayed is startRelayed with send to reach the camera.
func (s *Service) serveRelayed(ctx context.Context, sess store.StreamSession, camera store.Device, send func(hub.Envelope) error) store.StreamSession {
	if s.cfg.Relay == nil || s.cfg.WHIPURL == "" {
		return s.fallBack(ctx, sess, camera) // a replica without a relay (woken camera's)
	}
	wait := s.waitPublished
	switch {
	case s.cfg.Relay.Publishing(sess.CameraDeviceID):
	case s.publishingElsewhere(ctx, sess.CameraDeviceID):
		// The leg is served there (subscribeElsewhere): no second publication.
		wait = s.waitPublishedElsewhere
	default:
		err := send(hub.Envelope{Type: wire.TypeRelayPublish, Data: marshal(wire.RelayPublish{WHIPURL: s.cfg.WHIPURL})})
		if errors.Is(err, hub.ErrOffline) {
			return s.wakeCamera(ctx, sess, camera)
		}
		if err != nil {
			s.log.Warn("send relay.publish", "session_id", sess.ID, "err", err)
			return s.fallBack(ctx, sess, camera)
		}
	}
	s.background(func(bg context.Context) {
		wctx, cancel := context.WithTimeout(bg, s.cfg.Streams.PublishWait)
		err := wait(wctx, sess.CameraDeviceID)
		cancel()
		if bg.Err() != nil {
			return
		}
		if err != nil {
			s.log.Info("relayed session: the camera did not publish in time; peer to peer", "session_id", sess.ID,
				"camera_device_id", sess.CameraDeviceID, "err", err)
			s.fallBack(bg, sess, camera)
			return
		}
		s.relayAccept(bg, sess)
	})
	return sess
}

// waitPublished waits until camera publishes here with media.
func (s *Service) waitPublished(ctx context.Context, camera string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.cfg.Relay.Publishing(camera) && s.cfg.Relay.WaitReady(ctx, camera) == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// relayAccept accepts a relayed session for the camera: the viewer gets stream.ready.
func (s *Service) relayAccept(ctx context.Context, sess store.StreamSession) {
	gen := s.relays.generation()
	cur, err := s.transition(ctx, sess.ID, []string{store.StreamRequested}, store.StreamAccepted, "")
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("relayed session to accepted", "session_id", sess.ID, "err", err)
		}
		return // ended meanwhile
	}
	s.relays.put(cur, gen, s.cfg.Now()) // for the viewer's offer
	err = s.router.Send(ctx, cur.RequesterDeviceID, hub.Envelope{Type: wire.TypeStreamReady, Session: cur.ID,
		From: cur.CameraDeviceID, Data: marshal(struct{}{})})
	if errors.Is(err, hub.ErrOffline) {
		s.finish(ctx, cur, ReasonDisconnected, "")
	} else if err != nil {
		s.log.Warn("send stream.ready", "session_id", cur.ID, "err", err)
	}
}

// fallBack makes a relayed session peer to peer and starts it as such. The camera's
// p2p limit applies: over it the session fails with busy.
func (s *Service) fallBack(ctx context.Context, sess store.StreamSession, camera store.Device) store.StreamSession {
	cur, err := s.store.SwitchStreamProvider(ctx, sess.ID, store.MediaRelay, store.MediaP2P,
		s.cfg.Streams.MaxViewersPerCamera, s.cfg.Now().UTC())
	switch {
	case errors.Is(err, store.ErrLimitReached):
		return s.finish(ctx, cur, ReasonBusy, "")
	case err != nil:
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("relayed session to p2p", "session_id", sess.ID, "err", err)
		}
		return cur
	}
	return s.startStream(ctx, cur, camera)
}

// relayOffer answers a viewer's offer in a relayed session with a new leg of the
// camera's publication (a second offer, an ICE restart, replaces the leg).
func (s *Service) relayOffer(ctx context.Context, dev string, d wire.SessionDescription, sess store.StreamSession) error {
	if dev != sess.RequesterDeviceID {
		return wire.Errorf(wire.CodeForbidden, "the hub answers in a relayed session")
	}
	subscribe := s.subscribeElsewhere // the replica of the publication serves the leg
	if s.holds(sess.CameraDeviceID) {
		subscribe = s.cfg.Relay.Subscribe
	}
	leg, answer, err := subscribe(ctx, sess.CameraDeviceID, dev, d.SDP)
	if err != nil {
		s.log.Info("relayed session: subscribe", "session_id", sess.ID, "err", err)
		return wire.Errorf(wire.CodeUnavailable, "the relay could not answer: %v", err)
	}
	s.setLeg(sess.ID, leg)
	if sess.Status == store.StreamAccepted {
		s.markConnecting(sess.ID)
	}
	if err := s.router.Send(ctx, dev, hub.Envelope{Type: wire.TypeAnswer, Session: sess.ID, From: sess.CameraDeviceID,
		Data: marshal(wire.SessionDescription{SDP: answer})}); err != nil {
		s.closeLeg(sess.ID)
		return fmt.Errorf("send the relay's answer: %w", err)
	}
	s.background(func(bg context.Context) {
		select {
		case <-leg.Done():
		case <-bg.Done():
			return
		}
		if s.dropLeg(sess.ID, leg) {
			// The leg ended by itself: its publication, or its connection.
			if cur, err := s.store.StreamSession(bg, sess.ID); err == nil {
				s.finish(bg, cur, ReasonRelayEnded, "")
			}
		}
	})
	return nil
}

// relayCandidate applies a viewer's candidate to its leg; the camera has none.
func (s *Service) relayCandidate(dev string, cand wire.Candidate, sess store.StreamSession) error {
	if dev != sess.RequesterDeviceID {
		return wire.Errorf(wire.CodeForbidden, "the hub answers in a relayed session")
	}
	s.mu.Lock()
	leg := s.legs[sess.ID]
	s.mu.Unlock()
	if leg == nil {
		return wire.Errorf(wire.CodeConflict, "no offer was answered in this session here")
	}
	err := leg.AddCandidate(cand.Candidate, cand.SDPMid, cand.SDPMLineIndex)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNotForwarded):
		s.log.Warn("forward a candidate to the relay", "session_id", sess.ID, "err", err)
		return wire.Errorf(wire.CodeUnavailable, "could not reach the relay, retry")
	default:
		return wire.Errorf(wire.CodeBadRequest, "the relay refused the candidate")
	}
}

// setLeg records the leg of a session, closing the one it replaces.
func (s *Service) setLeg(id string, leg RelayLeg) {
	s.mu.Lock()
	old := s.legs[id]
	s.legs[id] = leg
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// dropLeg forgets leg if it is still the session's, and reports whether it was.
func (s *Service) dropLeg(id string, leg RelayLeg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.legs[id] != leg {
		return false
	}
	delete(s.legs, id)
	return true
}

// closeLeg closes the session's leg, if this replica holds one.
func (s *Service) closeLeg(id string) {
	s.mu.Lock()
	leg := s.legs[id]
	delete(s.legs, id)
	s.mu.Unlock()
	if leg != nil {
		leg.Close()
	}
}

// background runs fn on a goroutine the Service owns: Close cancels its context
// and waits for it.
func (s *Service) background(fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in signaling background work", "panic", fmt.Sprint(p))
			}
		}()
		fn(s.bg)
	}()
}
