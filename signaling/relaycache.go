package signaling

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/securecam/securecam/store"
)

// relayCacheTTL is how long a session read for relaying a message is trusted without
// reading it again. A session closed by another replica may still relay candidates
// for this long (the parties ignore messages of a session they left); one closed on
// this replica is forgotten at once.
const relayCacheTTL = time.Second

// relayCache remembers the sessions that a negotiation is relayed in, so that its
// offer, answer, trickled ICE candidates — a dozen or more per setup, the bulk of
// live-view signaling — stream.connected and stream.end cost no store read. A session is kept
// when it is accepted here and when a change of it is written here, or when a
// message of it missed the cache. Only sessions in a negotiating status are kept for
// those; the parties of a session never change, so the party check stays exact. A
// session requested here is kept too, for the camera's answer to it (stream.accept
// or stream.decline: compare-and-sets, exact whatever the cache says); the
// negotiation reads a session the cache has as requested from the store (it may
// have been accepted on another replica).
type relayCache struct {
	mu      sync.Mutex
	gen     uint64 // counts forgets: a read that overlapped one is not kept
	entries map[string]relayEntry
}

type relayEntry struct {
	sess store.StreamSession
	at   time.Time
}

func newRelayCache() *relayCache {
	return &relayCache{entries: map[string]relayEntry{}}
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

// put keeps a session read at now in a negotiating status or requested, unless a
// forget happened since get returned gen.
func (c *relayCache) put(sess store.StreamSession, gen uint64, now time.Time) {
	if sess.Status != store.StreamRequested && !slices.Contains(negotiating, sess.Status) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.entries[sess.ID] = relayEntry{sess: sess, at: now}
	}
}

// forget drops a session that closed.
func (c *relayCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
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
}

// relaySession is partySession through the relay cache, for the negotiation.
func (s *Service) relaySession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	return s.cachedSession(ctx, dev, id, negotiating)
}

// answerSession is partySession through the relay cache, for the camera's answer to
// a request.
func (s *Service) answerSession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	return s.cachedSession(ctx, dev, id, []string{store.StreamRequested})
}

// endSession is partySession through the relay cache, for stream.end: finish closes
// the session with a compare-and-set, which corrects a status the cache has stale.
func (s *Service) endSession(ctx context.Context, dev, id string) (store.StreamSession, error) {
	return s.cachedSession(ctx, dev, id, store.OpenStreamStatuses)
}

// cachedSession is partySession through the relay cache, which it trusts for a
// session in one of statuses.
func (s *Service) cachedSession(ctx context.Context, dev, id string, statuses []string) (store.StreamSession, error) {
	now := s.cfg.Now()
	sess, gen, ok := s.relays.get(id, now)
	if ok && slices.Contains(statuses, sess.Status) && (dev == sess.CameraDeviceID || dev == sess.RequesterDeviceID) {
		return sess, nil
	}
	sess, err := s.partySession(ctx, dev, id)
	if err == nil {
		s.relays.put(sess, gen, now)
	}
	return sess, err
}
