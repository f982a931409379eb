package signaling

import (
	"context"
	"errors"
	"strings"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// The writes of a command's round trip go through group commits: the command.send
// requests (and command.result answers) that arrive while a batch of their kind is
// being written are written together, in one statement and one commit (up to
// Config.CommandBatches such batches at once under a backlog), and each sender is
// answered after that commit. What a batch leaves out (a device missing, not linked,
// a repeated request, an answer that is a repeat or comes too late) takes the
// one-at-a-time path, which tells the sender why.

func (s *Service) initCommandBatches() {
	n := s.cfg.CommandBatches
	s.creates = &batcher[*store.Command, bool]{inFlight: n, run: s.store.CreateLinkedCommands}
	s.marks = &batcher[string, store.Command]{inFlight: n, run: func(ctx context.Context, ids []string) ([]store.Command, error) {
		m, err := s.store.MarkCommandsDispatched(ctx, ids, s.cfg.Now().UTC())
		if err != nil {
			return nil, err
		}
		out := make([]store.Command, len(ids))
		for i, id := range ids {
			out[i] = m[strings.ToLower(id)]
		}
		return out, nil
	}}
	s.completes = &batcher[store.CommandCompletion, store.Command]{inFlight: n, run: func(ctx context.Context, cs []store.CommandCompletion) ([]store.Command, error) {
		// Each command at most once: a second answer in the batch takes the slow path.
		first := make(map[string]int, len(cs))
		batch := make([]store.CommandCompletion, 0, len(cs))
		for i, c := range cs {
			id := strings.ToLower(c.ID)
			if _, dup := first[id]; !dup {
				first[id] = i
				batch = append(batch, c)
			}
		}
		m, err := s.store.CompleteCommands(ctx, batch, s.cfg.Now().UTC())
		if err != nil {
			return nil, err
		}
		out := make([]store.Command, len(cs))
		for i, c := range cs {
			if id := strings.ToLower(c.ID); first[id] == i {
				out[i] = m[id]
			}
		}
		return out, nil
	}}
}

// create stores cmd, from a device of userID (cmd.OwnerUserID): in the group commit
// when its devices are linked, else through the checks that tell the sender why not
// (not_found, not_linked) or find the command a repeated request created.
func (s *Service) create(ctx context.Context, cmd *store.Command) (bool, error) {
	inserted, err := s.creates.do(ctx, cmd)
	switch {
	case err == nil && inserted:
		return true, nil
	case errors.Is(err, store.ErrUnavailable):
		return false, err
	}
	src, err := s.store.Device(ctx, cmd.SourceDeviceID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && src.UserID != cmd.OwnerUserID) {
		return false, wire.Errorf(wire.CodeNotFound, "device %s not found", cmd.SourceDeviceID)
	}
	if err != nil {
		return false, err
	}
	// The target is the user's own device, or a camera shared with the user by a role
	// that may command it; either way linked with the source. (The batch takes only
	// the user's own devices: a shared camera's commands always come this way.)
	if _, err := s.access.Device(ctx, cmd.OwnerUserID, cmd.SourceDeviceID, cmd.TargetDeviceID, access.Command); err != nil {
		return false, err
	}
	return s.store.CreateCommand(ctx, cmd, s.cfg.CommandDedupeWindow)
}

// sentDispatched is dispatched (without notifying the source) through the group
// commit of dispatch marks. A command answered (or expired) meanwhile comes back as it
// is now; a failed batch takes the one-at-a-time path.
func (s *Service) sentDispatched(ctx context.Context, cmd store.Command) store.Command {
	now, err := s.marks.do(ctx, cmd.ID)
	if err != nil || now.ID == "" {
		return s.dispatched(ctx, cmd, false)
	}
	if now.Status == store.CommandDispatched {
		s.scheduleRedispatch(now)
	}
	return now
}

// complete records a target's answer through the group commit of answers; one the
// batch did not take (a repeat, a conflict, an unknown command) takes CompleteCommand,
// which tells which.
func (s *Service) complete(ctx context.Context, c store.CommandCompletion) (store.Command, error) {
	done, err := s.completes.do(ctx, c)
	switch {
	case err == nil && done.ID != "":
		return done, nil
	case errors.Is(err, store.ErrUnavailable):
		return store.Command{}, err
	}
	return s.store.CompleteCommand(ctx, c.ID, c.TargetDeviceID, c.Status, c.Error, s.cfg.Now().UTC())
}
