package signaling

import (
	"context"
	"errors"
	"fmt"

	"github.com/securecam/securecam/store"
)

// A session's state changes go through a group commit (transitions): the changes of
// several sessions that arrive while the previous batch is being written are made in
// one transaction, so ten setups at once do not queue ten commits on SQLite's one
// writer. The changes nobody waits for — connecting at the first offer, live at the
// first stream.connected — are written behind the relay (writeBehind): the message is
// relayed or acknowledged at once, and a goroutine of the Service writes the change,
// a session's changes in the order they came. What reads a session to close it or to
// keep it (finish, a party's disconnect, stream.resume) first waits for its changes
// still being written here (settle), so an end never overtakes a live that came first.

func (s *Service) initStreamBatches() {
	s.transitions = &batcher[store.StreamTransition, store.StreamTransitionResult]{run: s.store.TransitionStreams}
}

// transition is store.TransitionStream through the group commit, at now.
func (s *Service) transition(ctx context.Context, id string, from []string, to, reason string) (store.StreamSession, error) {
	return s.transitionAt(ctx, store.StreamTransition{ID: id, From: from, To: to, Reason: reason, At: s.cfg.Now().UTC()})
}

func (s *Service) transitionAt(ctx context.Context, t store.StreamTransition) (store.StreamSession, error) {
	r, err := s.transitions.do(ctx, t)
	switch {
	case err != nil:
		return store.StreamSession{}, fmt.Errorf("transition stream: %w", err)
	case r.Session.ID == "":
		return store.StreamSession{}, fmt.Errorf("transition stream %s: %w", t.ID, store.ErrNotFound)
	case !r.Applied:
		return r.Session, fmt.Errorf("transition stream: session is %s: %w", r.Session.Status, store.ErrConflict)
	}
	return r.Session, nil
}

// behindWrite is the last change of a session queued behind the relay.
type behindWrite struct {
	done chan struct{} // closed once it is written (or failed)
	n    int           // the session's changes queued or being written
}

// writeBehind writes t on a goroutine of the Service (awaited by Close; after Close,
// at once), after the session's changes queued before it. A change that no longer
// applies (the session moved on or closed meanwhile) is dropped: every change
// written this way is a compare and set.
func (s *Service) writeBehind(t store.StreamTransition) {
	done := make(chan struct{})
	s.mu.Lock()
	var prev <-chan struct{}
	n := 1
	if w := s.behind[t.ID]; w != nil {
		prev, n = w.done, w.n+1
	}
	s.behind[t.ID] = &behindWrite{done: done, n: n}
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	write := func() {
		defer s.wroteBehind(t.ID, done)
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
		gen := s.relays.generation()
		cur, err := s.transitionAt(ctx, t)
		switch {
		case err == nil:
			s.relays.put(cur, gen, s.cfg.Now())
			s.log.Info("stream session "+cur.Status, "session_id", cur.ID)
		case !errors.Is(err, store.ErrConflict):
			s.log.Warn("stream session to "+t.To, "session_id", t.ID, "err", err)
		}
	}
	if closed {
		write()
		return
	}
	go func() {
		defer s.wg.Done()
		write()
	}()
}

func (s *Service) wroteBehind(id string, done chan struct{}) {
	s.mu.Lock()
	if w := s.behind[id]; w != nil {
		if w.n--; w.n == 0 {
			delete(s.behind, id)
		}
	}
	s.mu.Unlock()
	close(done)
}

// settle waits until the changes of session id queued here behind the relay are
// written (or ctx ends).
func (s *Service) settle(ctx context.Context, id string) {
	s.mu.Lock()
	w := s.behind[id]
	s.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

// settleAll waits until the changes queued here behind the relay so far are written
// (or ctx ends).
func (s *Service) settleAll(ctx context.Context) {
	s.mu.Lock()
	waits := make([]chan struct{}, 0, len(s.behind))
	for _, w := range s.behind {
		waits = append(waits, w.done)
	}
	s.mu.Unlock()
	for _, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}
