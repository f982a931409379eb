package signaling

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// relay forwards a party's message with data to the other party, stamped with from.
func (s *Service) relay(ctx context.Context, sess store.StreamSession, dev, typ string, data json.RawMessage) error {
	err := s.router.Send(ctx, other(sess, dev), relayEnvelope(sess, dev, typ, data))
	return s.relayed(sess, typ, err)
}

// relayThen is relay without waiting for the bus: done gets relay's result (see
// [hub.Hub.SendThen]). The message is on its way, in order, when relayThen returns.
func (s *Service) relayThen(ctx context.Context, sess store.StreamSession, dev, typ string, data json.RawMessage, done func(error)) {
	s.router.SendThen(ctx, other(sess, dev), relayEnvelope(sess, dev, typ, data), func(err error) {
		done(s.relayed(sess, typ, err))
	})
}

func relayEnvelope(sess store.StreamSession, dev, typ string, data json.RawMessage) hub.Envelope {
	return hub.Envelope{Type: typ, Session: sess.ID, From: dev, Data: data}
}

// relayed maps the router's answer to a relayed message to what its sender sees.
func (s *Service) relayed(sess store.StreamSession, typ string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hub.ErrOffline), errors.Is(err, hub.ErrQueueFull):
		return wire.Errorf(wire.CodeTargetOffline, "the other party is not connected")
	default:
		s.log.Warn("relay "+typ, "session_id", sess.ID, "err", err)
		return wire.Errorf(wire.CodeUnavailable, "could not relay the message, retry")
	}
}

// webrtcDescription relays an SDP description from the party with role sender to the
// other one: the offer comes from the viewer, the answer from the camera. The first
// offer moves an accepted session to connecting.
func (s *Service) webrtcDescription(sender string) sessionHandler {
	return func(ctx context.Context, dev string, env hub.Envelope, sess store.StreamSession) (any, error) {
		var d wire.SessionDescription
		if err := wire.DecodeData(env.Data, &d); err != nil {
			return nil, err
		}
		if err := d.Validate(s.cfg.Streams.MaxSDPBytes); err != nil {
			return nil, err
		}
		if err := only(sender, dev, sess, env.Type); err != nil {
			return nil, err
		}
		// An answer in accepted too: the viewer's offer is relayed before its session
		// moves on.
		if err := in(sess, negotiating, env.Type); err != nil {
			return nil, err
		}
		if sess.MediaProvider == store.MediaRelay {
			return nil, s.relayOffer(ctx, dev, d, sess)
		}
		if err := s.relay(ctx, sess, dev, env.Type, marshal(d)); err != nil {
			return nil, err
		}
		if sender == store.RoleViewer && sess.Status == store.StreamAccepted {
			s.markConnecting(sess.ID)
		}
		return nil, nil
	}
}

// markConnecting moves a session that got its first offer from accepted to
// connecting, behind the relay: the write gates nothing the parties wait for, so it
// does not hold up the viewer's next messages (its ICE candidates) for a commit.
// Losing the race to stream.connected (live) or to the session's end is fine: the
// transition then does not apply.
func (s *Service) markConnecting(id string) {
	s.writeBehind(store.StreamTransition{ID: id, From: []string{store.StreamAccepted}, To: store.StreamConnecting, At: s.cfg.Now().UTC()})
}

// handleCandidate relays a party's ICE candidate to the other party, or applies a
// viewer's to its relay leg. In a peer-to-peer session it does not wait for the other
// party's replica: the socket's next messages are handled meanwhile, and the answer
// (the ack of a candidate with an id, or target_offline) follows once the bus
// answered. Data in the form the hub itself writes (wire.CanonicalCandidate: what the
// parties' libraries send) is relayed as it arrived: decoding and encoding it again
// would give the same bytes.
func (s *Service) handleCandidate(ctx context.Context, c *hub.Client, env hub.Envelope) {
	dev := c.Identity().DeviceID
	sess, err := s.relaySession(ctx, dev, env.Session)
	if err == nil && sess.MediaProvider != store.MediaRelay {
		if ok, cerr := wire.CanonicalCandidate(env.Data); ok {
			err = cerr
			if err == nil {
				err = in(sess, negotiating, env.Type)
			}
			if err == nil {
				s.relayThen(ctx, sess, dev, env.Type, env.Data, func(err error) { s.reply(c, env, nil, err) })
				return
			}
			s.reply(c, env, nil, err)
			return
		}
	}
	var cand wire.Candidate
	if err == nil {
		err = wire.DecodeData(env.Data, &cand)
	}
	if err == nil {
		err = cand.Validate()
	}
	if err == nil {
		err = in(sess, negotiating, env.Type)
	}
	switch {
	case err != nil:
	case sess.MediaProvider == store.MediaRelay:
		err = s.relayCandidate(dev, cand, sess)
	default:
		s.relayThen(ctx, sess, dev, env.Type, marshal(cand), func(err error) { s.reply(c, env, nil, err) })
		return
	}
	s.reply(c, env, nil, err)
}

// streamConnected makes a session live, behind the relay: the party is answered at
// once, and the change is written after the session's earlier ones (connecting).
func (s *Service) streamConnected(_ context.Context, _ string, env hub.Envelope, sess store.StreamSession) (any, error) {
	if sess.Status == store.StreamLive {
		return nil, nil // the other party said so first
	}
	if err := in(sess, settingUp, env.Type); err != nil {
		return nil, err
	}
	s.writeBehind(store.StreamTransition{ID: sess.ID, From: settingUp, To: store.StreamLive, At: s.cfg.Now().UTC()})
	return nil, nil
}
