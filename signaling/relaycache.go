package signaling

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/securecam/securecam/store"
)

// relayCacheTTL is how long a session read for relaying a message is trusted without
// reading it again. A session closing is forgotten at once on the replica that closes
// it, and on the others when its node message (nodeSessionClosed) arrives; the TTL
// only bounds how long a session whose node message the bus lost may still relay
// candidates (the parties ignore messages of a session they left). After the bus
// resumed, every replica forgets everything it kept.
const relayCacheTTL = 30 * time.Second

// nodeSessionClosed tells the other replicas that the session named in its data (a
// JSON string) closed: they forget it from their relay caches.
const nodeSessionClosed = "signaling.session_closed"

// relayCache remembers the sessions that a negotiation is relayed in, so that its
// offer, answer, trickled ICE candidates — a dozen or more per setup, the bulk of
// live-view signaling — and stream.connected cost no store read. A session is kept
// when it is accepted here and when a change of it is written here, or when a
// message of it missed the cache. Only sessions in a negotiating status are kept; the parties
// of a session never change, so the party check stays exact.
type relayCache struct {
	mu      sync.Mutex
	gen     uint64 // counts forgets: a read that overlapped one is not kept
	entries map[string]relayEntry
	asked   map[string]relayEntry // sessions requested here (putAsked)
}

type relayEntry struct {
	sess store.StreamSession
	at   time.Time
}

func newRelayCache() *relayCache {
	return &relayCache{entries: map[string]relayEntry{}, asked: map[string]relayEntry{}}
}

// get returns a session kept less than relayCacheTTL before now, and the generation
// to hand to put after reading the session from the store.
func (c *relayCache) get(id string, now time.Time) (store.StreamSession, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if ok && now.Sub(e.at) < relayCacheTTL {
		return e.sess, c.gen, true
	}
	return store.StreamSession{}, c.gen, false
}

// generation is the generation to hand to put for a session about to be written.
func (c *relayCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps a session read at now in a negotiating status, and drops a session read
// in any other, unless a forget happened since get returned gen.
func (c *relayCache) put(sess store.StreamSession, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.gen != gen: // a forget overlapped the read: keep nothing
	case slices.Contains(negotiating, sess.Status):
		c.entries[sess.ID] = relayEntry{sess: sess, at: now}
	default:
		delete(c.entries, sess.ID)
	}
}

// forget drops a session that closed.
func (c *relayCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

// forgetAll drops every session: what closed while the bus was away was not heard of.
func (c *relayCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// sweep drops the entries older than relayCacheTTL.
func (c *relayCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if now.Sub(e.at) >= relayCacheTTL {
			delete(c.entries, id)
		}
	}
	for id, e := range c.asked {
		if now.Sub(e.at) >= relayCacheTTL {
			delete(c.asked, id)
		}
	}
}

// putAsked keeps a session just requested here, created at now, for the first
// message that closes or moves it on (takeAsked): the camera's stream.accept or
// stream.decline, or an end. Those change it by compare-and-sets, exact however
// stale the kept session is, so a forget does not drop it; the negotiation never
// reads it (it may have been accepted on another replica).
func (c *relayCache) putAsked(sess store.StreamSession, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked[sess.ID] = relayEntry{sess: sess, at: now}
}

// takeAsked returns, and drops, a session kept by putAsked less than relayCacheTTL
// before now.
func (c *relayCache) takeAsked(id string, now time.Time) (store.StreamSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.asked[id]
	delete(c.asked, id)
	return e.sess, ok && now.Sub(e.at) < relayCacheTTL
}

// knownSession is partySession for the messages that change a session by a
// compare-and-set (stream.accept, stream.decline, stream.end): a session requested
// here is taken from the asked sessions, one being negotiated here from the relay
// cache, and the store is read only for the others.
func (s *Service) knownSession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	if sess, ok := s.relays.takeAsked(id, s.cfg.Now()); ok && (dev == sess.CameraDeviceID || dev == sess.RequesterDeviceID) {
		return sess, nil
	}
	return s.relaySession(ctx, dev, id)
}

// relaySession is partySession through the relay cache.
func (s *Service) relaySession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	now := s.cfg.Now()
	sess, gen, ok := s.relays.get(id, now)
	if ok && (dev == sess.CameraDeviceID || dev == sess.RequesterDeviceID) {
		return sess, nil
	}
	sess, err := s.partySession(ctx, dev, id)
	if err == nil {
		s.relays.put(sess, gen, now)
	}
	return sess, err
}

// forgetSession drops a session that closed here from this replica's relay cache and
// tells the other replicas to drop it from theirs.
func (s *Service) forgetSession(ctx context.Context, id string) {
	s.relays.forget(id)
	if s.nodes == nil {
		return
	}
	if err := s.nodes.BroadcastNode(ctx, nodeSessionClosed, marshal(id)); err != nil {
		s.log.Warn("tell the other replicas a session closed; they relay its messages until their cache expires", "session_id", id, "err", err)
	}
}

// attachRelayCache receives the sessions other replicas closed.
func (s *Service) attachRelayCache(n nodeBus) {
	n.HandleNode(nodeSessionClosed, func(_ context.Context, data []byte) {
		var id string
		if err := json.Unmarshal(data, &id); err != nil || id == "" {
			s.log.Warn("bad node message", "name", nodeSessionClosed, "err", err)
			return
		}
		s.relays.forget(id)
	})
}
