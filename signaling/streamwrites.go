package signaling

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/securecam/securecam/store"
)

// A session's creation and state changes go through a group commit (streamWrites):
// the writes of several sessions that arrive while the previous batch is being
// written are made in one transaction, so ten setups at once do not queue ten
// commits on SQLite's one writer (the viewer limit stays exact: the store checks it
// and inserts in the batch's transaction). The changes nobody waits for —
// connecting at the first offer, live at the first stream.connected — are written
// behind the relay (writeBehind): the message is relayed or acknowledged at once,
// and a goroutine of the Service writes the change, a session's changes in the
// order they came. What reads a session to close it or to
// keep it (finish, a party's disconnect, stream.resume) first waits for its changes
// still being written here (settle), so an end never overtakes a live that came first.

func (s *Service) initStreamBatches() {
	s.streamWrites = &batcher[store.StreamWrite, store.StreamWriteResult]{run: s.store.WriteStreams}
}

// createStream is store.CreateStreamSession through the group commit.
func (s *Service) createStream(ctx context.Context, sess *store.StreamSession, maxOpen int) error {
	r, err := s.streamWrites.do(ctx, store.StreamWrite{Create: sess, MaxOpen: maxOpen})
	switch {
	case err != nil:
		return fmt.Errorf("create stream session: %w", err)
	case r.Err != nil:
		return r.Err
	}
	*sess = r.Session
	return nil
}

// transition is store.TransitionStream through the group commit, at now.
func (s *Service) transition(ctx context.Context, id string, from []string, to, reason string) (store.StreamSession, error) {
	return s.transitionAt(ctx, store.StreamTransition{ID: id, From: from, To: to, Reason: reason, At: s.cfg.Now().UTC()})
}

func (s *Service) transitionAt(ctx context.Context, t store.StreamTransition) (store.StreamSession, error) {
	r, err := s.streamWrites.do(ctx, store.StreamWrite{Transition: t})
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
	t    store.StreamTransition
	done chan struct{}       // closed once it is written (or failed)
	sess store.StreamSession // the session after it, set before done is closed (zero if it failed)
	n    int                 // the session's changes queued or being written
}

// writeBehind writes t on a goroutine of the Service (awaited by Close; after Close,
// at once), after the session's changes queued before it. A change that no longer
// applies (the session moved on or closed meanwhile) is dropped: every change
// written this way is a compare and set. So is a change the same as the last one
// queued for the session (both parties' stream.connected): it would not apply after
// that one.
func (s *Service) writeBehind(t store.StreamTransition) {
	w := &behindWrite{t: t, done: make(chan struct{}), n: 1}
	s.mu.Lock()
	var prev <-chan struct{}
	if last := s.behind[t.ID]; last != nil {
		if last.t.To == t.To && slices.Equal(last.t.From, t.From) {
			s.mu.Unlock()
			return
		}
		prev, w.n = last.done, last.n+1
	}
	s.behind[t.ID] = w
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	write := func() {
		defer s.wroteBehind(w)
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
		gen := s.relays.generation()
		cur, err := s.transitionAt(ctx, t)
		w.sess = cur
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

func (s *Service) wroteBehind(w *behindWrite) {
	s.mu.Lock()
	if last := s.behind[w.t.ID]; last != nil {
		if last.n--; last.n == 0 {
			delete(s.behind, w.t.ID)
		}
	}
	s.mu.Unlock()
	close(w.done)
}

// settle waits until the changes of session id queued here behind the relay are
// written (or ctx ends). It returns the session as the last of them left it, if
// there were any and it was written.
func (s *Service) settle(ctx context.Context, id string) (store.StreamSession, bool) {
	s.mu.Lock()
	w := s.behind[id]
	s.mu.Unlock()
	if w == nil {
		return store.StreamSession{}, false
	}
	select {
	case <-w.done:
		return w.sess, w.sess.ID != ""
	case <-ctx.Done():
		return store.StreamSession{}, false
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
