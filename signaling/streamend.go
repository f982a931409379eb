package signaling

import (
	"context"
	"errors"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// streamsDisconnected handles the sessions of a device that is connected nowhere any
// more. A live session whose device dropped off without closing its socket normally
// (clean false: a hub restart, a drain, a lost network) is kept for the resume grace
// period, its party marked away: media flows peer to peer meanwhile, and the device
// resumes it with stream.resume when it is back. Every other session ends: the other
// party gets stream.ended with disconnected (link_revoked when the device was
// deleted). A device whose socket was replaced by a newer one keeps its sessions, so
// an ICE restart after a network change can save them.
func (s *Service) streamsDisconnected(ctx context.Context, id hub.Identity, clean bool) {
	// A live being written behind the relay keeps the session: read it once written.
	s.settleAll(ctx)
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
		case sess.MediaProvider == store.MediaRelay && sess.CameraDeviceID == id.DeviceID:
			// the relay serves the viewer: the camera's publication, not its socket, counts
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

// handleStreamResume is a party's stream.resume after its socket came back: its away
// mark is cleared and the ack says where the session is. A session that closed while
// the party was away is acknowledged with its status and reason, then stream.ended is
// sent to the party again (the first went to a socket that was gone).
func (s *Service) handleStreamResume(ctx context.Context, c *hub.Client, env hub.Envelope) {
	dev := c.Identity().DeviceID
	_, _ = s.settle(ctx, env.Session) // then read: the party check needs the stored session
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
	s.reply(c, env, wire.StreamStatus{SessionID: sess.ID, Status: sess.Status, Reason: sess.Reason}, nil)
	if sess.Open() {
		s.log.Info("stream session resumed", "session_id", sess.ID, "device_id", dev, "status", sess.Status)
		return
	}
	reason := ""
	if sess.Reason != nil {
		reason = *sess.Reason
	}
	_ = c.Send(hub.Envelope{Type: wire.TypeStreamEnded, Session: sess.ID, Data: marshal(wire.StreamReason{Reason: reason})})
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
	// A live that came first is written first: the session then ends, not fails.
	cur := sess
	if written, ok := s.settle(ctx, sess.ID); ok {
		cur = written // newer than sess, read before the writes
	}
	for range 4 {
		if !cur.Open() {
			return cur
		}
		to := store.StreamFailed
		if cur.Status == store.StreamLive {
			to = store.StreamEnded
		}
		next, err := s.transition(ctx, cur.ID, []string{cur.Status}, to, reason)
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

// ended logs a closed session, closes its relay leg and tells its parties but skip.
func (s *Service) ended(ctx context.Context, sess store.StreamSession, skip string) {
	reason := ""
	if sess.Reason != nil {
		reason = *sess.Reason
	}
	s.forgetSession(ctx, sess.ID)
	s.closeLeg(sess.ID)
	s.log.Info("stream session closed", "session_id", sess.ID, "status", sess.Status, "reason", reason)
	env := hub.Envelope{Type: wire.TypeStreamEnded, Session: sess.ID, Data: marshal(wire.StreamReason{Reason: reason})}
	for _, dev := range []string{sess.RequesterDeviceID, sess.CameraDeviceID} {
		// The camera of a relayed session never knew it.
		if dev != skip && (dev != sess.CameraDeviceID || sess.MediaProvider != store.MediaRelay) {
			s.notify(ctx, dev, env)
		}
	}
}

func (s *Service) streamEnd(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
	r, err := reasonOf(env)
	if err != nil {
		return nil, err
	}
	if r.Reason == "" {
		r.Reason = ReasonHangup
	}
	cur := s.finish(ctx, sess, r.Reason, dev)
	return wire.StreamStatus{SessionID: cur.ID, Status: cur.Status, Reason: cur.Reason}, nil
}

// EndStream ends a session of userID (the REST twin of stream.end): both parties get
// stream.ended with reason (hangup when empty). Ending a closed session returns it
// unchanged.
func (s *Service) EndStream(ctx context.Context, userID, id, reason string) (store.StreamSession, error) {
	if err := (wire.StreamReason{Reason: reason}).Validate(); err != nil {
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
