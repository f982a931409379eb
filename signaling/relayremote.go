package signaling

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Relay legs across replicas. A camera's publication lives on one replica's relay,
// and a relayed session's viewer may be connected to another. The viewer's replica
// keeps the session and its signaling; the replica whose relay holds the publication
// serves the viewer's leg. They talk by node messages on the bus: every replica gets
// each one, and only the one concerned acts (the holder of the camera's publication,
// of the leg, or the replica that asked). Like everything on the bus they are
// delivered at most once: a lost request is a timeout for the replica that asked, a
// lost close or end is a leg that outlives its session until its viewer's connection
// ends.
const (
	// nodeRelayReady asks the holder of Camera's publication to reply once it
	// carries media (relayNodeMsg.Error if it does not within PublishWait).
	nodeRelayReady = "signaling.relay_ready"
	// nodeRelaySubscribe asks the holder of Camera's publication for a viewer leg
	// (Principal, the viewer's offer SDP): it replies with the answer (SDP) and keeps
	// the leg under Ref.
	nodeRelaySubscribe = "signaling.relay_subscribe"
	// nodeRelayReply answers the request Ref.
	nodeRelayReply = "signaling.relay_reply"
	// nodeRelayCandidate is a viewer's candidate for the leg Ref.
	nodeRelayCandidate = "signaling.relay_candidate"
	// nodeRelayClose closes the leg Ref (its session ended, or was given another).
	nodeRelayClose = "signaling.relay_close"
	// nodeRelayLegDone tells the replica of the leg Ref's session that it ended by
	// itself (its publication ended, its connection failed).
	nodeRelayLegDone = "signaling.relay_leg_done"
)

// errNotForwarded marks a message for another replica that the bus did not take: the
// hub's failure, not the sender's.
var errNotForwarded = errors.New("not forwarded to the replica of the relay leg")

// remoteSubscribeWait bounds the wait for another replica's answer to a viewer's
// offer.
const remoteSubscribeWait = 10 * time.Second

// relayNodeMsg is the data of the node messages above.
type relayNodeMsg struct {
	Ref       string          `json:"ref"`
	Camera    string          `json:"camera,omitempty"`
	Principal string          `json:"principal,omitempty"`
	SDP       string          `json:"sdp,omitempty"`
	Candidate *wire.Candidate `json:"candidate,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// nodeBus sends and receives node messages: the hub.
type nodeBus interface {
	HandleNode(name string, fn hub.NodeHandlerFunc)
	BroadcastNode(ctx context.Context, name string, data json.RawMessage) error
}

// remote holds the cross-replica state of a Service, under Service.mu.
type remote struct {
	calls  map[string]chan relayNodeMsg // requests waiting for their reply, by ref
	legs   map[string]*remoteLeg        // legs served elsewhere for sessions here, by ref
	served map[string]RelayLeg          // legs served here for sessions elsewhere, by ref
}

func newRemote() remote {
	return remote{calls: map[string]chan relayNodeMsg{}, legs: map[string]*remoteLeg{}, served: map[string]RelayLeg{}}
}

// attachRemote registers the node messages of the relay legs across replicas.
func (s *Service) attachRemote(n nodeBus) {
	s.nodes = n
	handle := func(name string, fn func(relayNodeMsg)) {
		n.HandleNode(name, func(_ context.Context, data []byte) {
			var m relayNodeMsg
			if err := json.Unmarshal(data, &m); err != nil || m.Ref == "" {
				s.log.Warn("bad node message", "name", name, "err", err)
				return
			}
			fn(m)
		})
	}
	handle(nodeRelayReady, s.serveReady)
	handle(nodeRelaySubscribe, s.serveSubscribe)
	handle(nodeRelayReply, s.gotReply)
	handle(nodeRelayCandidate, s.serveCandidate)
	handle(nodeRelayClose, s.serveClose)
	handle(nodeRelayLegDone, s.gotLegDone)
}

// broadcast sends a node message, within 5 s.
func (s *Service) broadcast(name string, m relayNodeMsg) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.nodes.BroadcastNode(ctx, name, marshal(m))
}

// call sends the request m (its Ref set) and waits for its reply, until ctx ends.
func (s *Service) call(ctx context.Context, name string, m relayNodeMsg) (relayNodeMsg, error) {
	ch := make(chan relayNodeMsg, 1)
	s.mu.Lock()
	s.remote.calls[m.Ref] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.remote.calls, m.Ref)
		s.mu.Unlock()
	}()
	if err := s.nodes.BroadcastNode(ctx, name, marshal(m)); err != nil {
		return relayNodeMsg{}, err
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, errors.New(r.Error)
		}
		return r, nil
	case <-ctx.Done():
		return relayNodeMsg{}, fmt.Errorf("no replica answered %s: %w", name, ctx.Err())
	}
}

// gotReply hands a reply to the request waiting for it here, if any (the first
// reply counts).
func (s *Service) gotReply(m relayNodeMsg) {
	s.mu.Lock()
	ch := s.remote.calls[m.Ref]
	s.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default:
	}
}

// publishingElsewhere reports whether the store knows a publication of camera on
// another replica's relay.
func (s *Service) publishingElsewhere(ctx context.Context, camera string) bool {
	pub, err := s.store.OpenMediaSession(ctx, camera)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("find the camera's publication", "camera_device_id", camera, "err", err)
		}
		return false
	}
	return pub.PublishEndpoint != nil && !strings.HasPrefix(*pub.PublishEndpoint, s.cfg.WHIPURL+"/")
}

// waitPublishedElsewhere waits until camera's publication on another replica
// carries media.
func (s *Service) waitPublishedElsewhere(ctx context.Context, camera string) error {
	_, err := s.call(ctx, nodeRelayReady, relayNodeMsg{Ref: rand.Text(), Camera: camera})
	return err
}

// subscribeElsewhere asks the replica holding camera's publication for a viewer leg.
func (s *Service) subscribeElsewhere(ctx context.Context, camera, principal, offer string) (RelayLeg, string, error) {
	leg := &remoteLeg{s: s, ref: rand.Text(), done: make(chan struct{})}
	s.mu.Lock()
	s.remote.legs[leg.ref] = leg // before the request: its end may follow the reply at once
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, remoteSubscribeWait)
	defer cancel()
	r, err := s.call(ctx, nodeRelaySubscribe, relayNodeMsg{Ref: leg.ref, Camera: camera, Principal: principal, SDP: offer})
	if err != nil {
		leg.Close() // a leg made after the wait ended closes
		return nil, "", fmt.Errorf("subscribe on the replica of the publication: %w", err)
	}
	return leg, r.SDP, nil
}

// gotLegDone ends the remote leg ref, if it is a session's here.
func (s *Service) gotLegDone(m relayNodeMsg) {
	s.mu.Lock()
	leg := s.remote.legs[m.Ref]
	s.mu.Unlock()
	if leg != nil {
		leg.end()
	}
}

// remoteLeg is a viewer leg served by another replica's relay.
type remoteLeg struct {
	s    *Service
	ref  string
	done chan struct{}
	once sync.Once
}

// AddCandidate forwards the candidate to the leg's replica; it fails only with
// errNotForwarded (the relay there logs a candidate it refuses).
func (l *remoteLeg) AddCandidate(candidate string, sdpMid *string, sdpMLineIndex *uint16) error {
	if err := l.s.broadcast(nodeRelayCandidate, relayNodeMsg{Ref: l.ref,
		Candidate: &wire.Candidate{Candidate: candidate, SDPMid: sdpMid, SDPMLineIndex: sdpMLineIndex}}); err != nil {
		return fmt.Errorf("%w: %w", errNotForwarded, err)
	}
	return nil
}

func (l *remoteLeg) Done() <-chan struct{} { return l.done }

// Close ends the leg here and asks its replica to close it.
func (l *remoteLeg) Close() {
	if !l.end() {
		return
	}
	if err := l.s.broadcast(nodeRelayClose, relayNodeMsg{Ref: l.ref}); err != nil {
		l.s.log.Warn("close a relay leg on another replica", "ref", l.ref, "err", err)
	}
}

// end closes Done and forgets the leg; it reports whether it did (the first time).
func (l *remoteLeg) end() bool {
	ended := false
	l.once.Do(func() {
		ended = true
		close(l.done)
		l.s.mu.Lock()
		delete(l.s.remote.legs, l.ref)
		l.s.mu.Unlock()
	})
	return ended
}

// holds reports whether this replica's relay holds camera's publication.
func (s *Service) holds(camera string) bool {
	return s.cfg.Relay != nil && s.cfg.Relay.Publishing(camera)
}

// replyNode answers the request ref.
func (s *Service) replyNode(ref string, r relayNodeMsg, err error) {
	r.Ref = ref
	if err != nil {
		r.Error = err.Error()
	}
	if err := s.broadcast(nodeRelayReply, r); err != nil {
		s.log.Warn("reply to another replica", "ref", ref, "err", err)
	}
}

// serveReady replies, if this replica holds the camera's publication, once it
// carries media.
func (s *Service) serveReady(m relayNodeMsg) {
	if !s.holds(m.Camera) {
		return
	}
	s.background(func(bg context.Context) {
		ctx, cancel := context.WithTimeout(bg, s.cfg.Streams.PublishWait)
		defer cancel()
		s.replyNode(m.Ref, relayNodeMsg{}, s.cfg.Relay.WaitReady(ctx, m.Camera))
	})
}

// serveSubscribe makes a viewer leg of the camera's publication, if this replica
// holds it, for a session of another replica, and keeps it until that replica
// closes it; the leg ending by itself is told to that replica.
func (s *Service) serveSubscribe(m relayNodeMsg) {
	if !s.holds(m.Camera) {
		return
	}
	s.background(func(bg context.Context) {
		ctx, cancel := context.WithTimeout(bg, remoteSubscribeWait)
		leg, answer, err := s.cfg.Relay.Subscribe(ctx, m.Camera, m.Principal, m.SDP)
		cancel()
		if err != nil {
			s.replyNode(m.Ref, relayNodeMsg{}, fmt.Errorf("the relay could not answer: %w", err))
			return
		}
		s.mu.Lock()
		s.remote.served[m.Ref] = leg
		s.mu.Unlock()
		s.replyNode(m.Ref, relayNodeMsg{SDP: answer}, nil)
		select {
		case <-leg.Done():
		case <-bg.Done():
			return // Close closes the legs served here
		}
		s.mu.Lock()
		mine := s.remote.served[m.Ref] == leg
		delete(s.remote.served, m.Ref)
		s.mu.Unlock()
		if mine { // it ended by itself, not by a close from the session's replica
			if err := s.broadcast(nodeRelayLegDone, relayNodeMsg{Ref: m.Ref}); err != nil {
				s.log.Warn("tell the end of a relay leg", "ref", m.Ref, "err", err)
			}
		}
	})
}

// serveCandidate applies a viewer's candidate to a leg served here.
func (s *Service) serveCandidate(m relayNodeMsg) {
	s.mu.Lock()
	leg := s.remote.served[m.Ref]
	s.mu.Unlock()
	if leg == nil || m.Candidate == nil {
		return
	}
	if err := leg.AddCandidate(m.Candidate.Candidate, m.Candidate.SDPMid, m.Candidate.SDPMLineIndex); err != nil {
		s.log.Info("relay leg refused a candidate", "ref", m.Ref, "err", err)
	}
}

// serveClose closes a leg served here.
func (s *Service) serveClose(m relayNodeMsg) {
	s.mu.Lock()
	leg := s.remote.served[m.Ref]
	delete(s.remote.served, m.Ref)
	s.mu.Unlock()
	if leg != nil {
		leg.Close()
	}
}
