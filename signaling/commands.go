package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

func (s *Service) handleCommandSend(ctx context.Context, c *hub.Client, env hub.Envelope) {
	if env.ID == "" {
		_ = c.Error("", wire.CodeBadRequest, "command.send must carry an id")
		return
	}
	var req wire.CommandRequest
	err := wire.DecodeData(env.Data, &req)
	if err == nil {
		id := c.Identity()
		req.SourceDeviceID = id.DeviceID
		var cmd store.Command
		cmd, err = s.SendCommand(ctx, id.UserID, req, env.ID)
		if err == nil {
			s.reply(c, env, wire.CommandStatus{CommandID: cmd.ID, Status: cmd.Status, Error: cmd.Error}, nil)
			return
		}
	}
	s.reply(c, env, nil, err)
}

// SendCommand persists a command from req.SourceDeviceID (a device of userID) to
// req.TargetDeviceID and dispatches it: at once if the target is connected anywhere
// (stored dispatched already when it is connected here), else it waits (pending) and
// the target is woken. Whatever the bus answered, a
// command that has not reached its target is delivered again after the re-dispatch
// delays (a target connected to a replica that had not resubscribed after a Redis
// restart looks offline for a moment). requestID, when not empty, is the sender's
// envelope id: a repeat within the dedupe window returns the first command. The
// returned command carries its status as stored when SendCommand returned (the target
// may have answered already).
func (s *Service) SendCommand(ctx context.Context, userID string, req wire.CommandRequest, requestID string) (store.Command, error) {
	if err := req.Validate(); err != nil {
		return store.Command{}, err
	}
	if req.SourceDeviceID == req.TargetDeviceID {
		return store.Command{}, wire.Errorf(wire.CodeBadRequest, "a device cannot command itself")
	}
	now := s.cfg.Now().UTC()
	cmd := store.Command{
		OwnerUserID:    userID,
		SourceDeviceID: req.SourceDeviceID,
		TargetDeviceID: req.TargetDeviceID,
		CommandType:    req.CommandType,
		Payload:        req.Payload,
		Status:         store.CommandPending,
		ExpiresAt:      now.Add(req.TTL()),
		CreatedAt:      now,
	}
	if requestID != "" {
		cmd.RequestID = &requestID
	}
	// A target connected to this replica is handed the command as soon as it is
	// stored, so the group commit stores it dispatched: no second write to mark it.
	if s.router.ConnectedHere(cmd.TargetDeviceID) {
		cmd.Status = store.CommandDispatched
	}
	created, err := s.create(ctx, &cmd)
	if err != nil {
		return store.Command{}, err
	}
	if !created {
		return cmd, nil
	}
	// The ack (or the REST answer) carries the status: the source is not told again.
	switch err := s.router.Send(ctx, cmd.TargetDeviceID, commandEnvelope(cmd)); {
	case errors.Is(err, hub.ErrOffline):
		s.wake(ctx, cmd.TargetDeviceID, "command")
		s.retryLater(cmd.ID, 0)
		return cmd, nil
	case err != nil: // the bus is in trouble: the command is stored, keep trying
		s.log.Warn("command dispatch failed; retrying", "command_id", cmd.ID, "err", err)
		s.retryLater(cmd.ID, 0)
		return cmd, nil
	}
	if cmd.Status == store.CommandDispatched { // stored so (the other paths store it pending)
		s.scheduleRedispatch(cmd)
		return cmd, nil
	}
	return s.sentDispatched(ctx, cmd), nil
}

func commandEnvelope(cmd store.Command) hub.Envelope {
	data, _ := json.Marshal(wire.CommandMessage{
		CommandID:      cmd.ID,
		CommandType:    cmd.CommandType,
		Payload:        cmd.Payload,
		SourceDeviceID: cmd.SourceDeviceID,
		CreatedAt:      cmd.CreatedAt,
		ExpiresAt:      cmd.ExpiresAt,
	})
	return hub.Envelope{Type: wire.TypeCommand, From: cmd.SourceDeviceID, Data: data}
}

// dispatched records that cmd was handed to its target, tells the source (when notify
// is set and the command leaves pending) and schedules the next re-dispatch. It
// returns the command as it is now: answered already when the target was quicker than
// this write.
func (s *Service) dispatched(ctx context.Context, cmd store.Command, notify bool) store.Command {
	was := cmd.Status
	updated, err := s.store.MarkCommandDispatched(ctx, cmd.ID, s.cfg.Now().UTC())
	if errors.Is(err, store.ErrConflict) { // answered (or expired) meanwhile
		if now, err := s.store.Command(ctx, cmd.ID); err == nil {
			return now
		}
		return cmd
	}
	if err != nil {
		// Not recorded: the hand-over may not have happened either; deliver it again.
		s.log.Warn("mark command dispatched", "command_id", cmd.ID, "err", err)
		s.retryLater(cmd.ID, 0)
		return cmd
	}
	if notify && was == store.CommandPending {
		s.notifySource(ctx, updated)
	}
	s.scheduleRedispatch(updated)
	return updated
}

// scheduleRedispatch arranges the next delivery of a dispatched command its target
// has not answered, while re-dispatches remain.
func (s *Service) scheduleRedispatch(cmd store.Command) {
	n := cmd.RetryCount - 1 // re-dispatches done so far
	if n < 0 || n >= len(s.cfg.RedispatchDelays) {
		return
	}
	s.retryLater(cmd.ID, n)
}

// retryLater tries to deliver command id again after the attempt-th delay (the last
// delay once they run out).
func (s *Service) retryLater(id string, attempt int) {
	delays := s.cfg.RedispatchDelays
	if len(delays) == 0 {
		return
	}
	s.after("command:"+id, delays[min(attempt, len(delays)-1)], func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.redispatch(ctx, id, attempt+1)
	})
}

// redispatch delivers an unanswered command again. A bus failure is retried until the
// command expires.
func (s *Service) redispatch(ctx context.Context, id string, attempt int) {
	cmd, err := s.store.Command(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		s.log.Warn("re-dispatch: load command", "command_id", id, "err", err)
		s.retryLater(id, attempt)
		return
	}
	open := cmd.Status == store.CommandPending || cmd.Status == store.CommandDispatched
	if !open || !cmd.ExpiresAt.After(s.cfg.Now()) {
		return
	}
	switch err := s.router.Send(ctx, cmd.TargetDeviceID, commandEnvelope(cmd)); {
	case err == nil:
		s.dispatched(ctx, cmd, true)
	case errors.Is(err, hub.ErrOffline):
		// Gone, or not yet resubscribed after a bus outage: try the rest of the
		// ladder; a device that stays away gets the command when it connects.
		if attempt < len(s.cfg.RedispatchDelays) {
			s.retryLater(id, attempt)
		}
	default:
		s.retryLater(id, attempt)
	}
}

// statusReplaySkew widens the window of command statuses told again after a bus
// resume: the status was written with another replica's clock.
const statusReplaySkew = 2 * time.Second

// OnBusResume delivers again every command waiting for the devices connected here,
// tells them again the status of every command they sent that changed since the bus
// was last heard, and hands the cameras the live-view requests waiting for them: the
// bus was away, and what was published to them meanwhile is lost. A source may so see
// a status twice. It also forgets the relay cache. Wire it into the hub's Config.
func (s *Service) OnBusResume(ctx context.Context, clients []*hub.Client, since time.Time) {
	s.relays.forgetAll() // sessions closed elsewhere meanwhile were not heard of
	local := make(map[string]*hub.Client, len(clients))
	ids := make([]string, 0, len(clients))
	for _, c := range clients {
		id := c.Identity().DeviceID
		local[id] = c
		ids = append(ids, id)
	}
	cmds, err := s.store.DeliverableCommandsTo(ctx, ids, s.cfg.Now().UTC())
	if err != nil {
		s.log.Warn("bus resumed: load waiting commands; left to re-dispatch and reconnects", "devices", len(ids), "err", err)
		return
	}
	for _, cmd := range cmds {
		c := local[cmd.TargetDeviceID]
		if c != nil && c.Send(commandEnvelope(cmd)) == nil {
			s.dispatched(ctx, cmd, true)
		}
	}
	if len(cmds) > 0 {
		s.log.Info("bus resumed: waiting commands delivered again", "commands", len(cmds))
	}
	if !since.IsZero() {
		s.replayStatuses(ctx, local, ids, since.Add(-statusReplaySkew))
	}
	s.deliverWakingTo(ctx, local, ids)
}

// replayStatuses sends the local sources the command.status of each command of
// theirs that changed at or after since.
func (s *Service) replayStatuses(ctx context.Context, local map[string]*hub.Client, ids []string, since time.Time) {
	cmds, err := s.store.CommandsChangedSince(ctx, ids, since)
	if err != nil {
		s.log.Warn("bus resumed: load changed commands; their senders can read them over REST", "devices", len(ids), "err", err)
		return
	}
	for _, cmd := range cmds {
		_ = local[cmd.SourceDeviceID].Send(statusEnvelope(cmd))
	}
	if len(cmds) > 0 {
		s.log.Info("bus resumed: command statuses told again", "commands", len(cmds))
	}
}

// deliverWaiting sends a freshly connected device every command waiting for it.
func (s *Service) deliverWaiting(ctx context.Context, c *hub.Client) {
	deviceID := c.Identity().DeviceID
	cmds, err := s.store.DeliverableCommands(ctx, deviceID, s.cfg.Now().UTC())
	if err != nil {
		s.log.Warn("load waiting commands", "device_id", deviceID, "err", err)
		return
	}
	for _, cmd := range cmds {
		if err := c.Send(commandEnvelope(cmd)); err != nil {
			return
		}
		s.dispatched(ctx, cmd, true)
	}
}

func (s *Service) handleCommandResult(ctx context.Context, c *hub.Client, env hub.Envelope) {
	var res wire.CommandResult
	err := wire.DecodeData(env.Data, &res)
	if err == nil {
		err = res.Validate()
	}
	if err == nil {
		var cmd store.Command
		cmd, err = s.complete(ctx, store.CommandCompletion{ID: res.CommandID, TargetDeviceID: c.Identity().DeviceID, Status: res.Status, Error: res.Error})
		if err == nil {
			s.cancel("command:" + cmd.ID)
			s.notifySource(ctx, cmd)
			s.reply(c, env, wire.CommandStatus{CommandID: cmd.ID, Status: cmd.Status}, nil)
			return
		}
		if errors.Is(err, store.ErrConflict) {
			err = wire.Errorf(wire.CodeConflict, "command %s is already %s", res.CommandID, s.statusOf(ctx, res.CommandID))
		}
	}
	s.reply(c, env, nil, err)
}

func (s *Service) statusOf(ctx context.Context, id string) string {
	cmd, err := s.store.Command(ctx, id)
	if err != nil {
		return "finished"
	}
	return cmd.Status
}

// notifySource sends command.status to the command's source, wherever it is; a source
// that is offline sees the status through the REST API.
func (s *Service) notifySource(ctx context.Context, cmd store.Command) {
	err := s.router.Send(ctx, cmd.SourceDeviceID, statusEnvelope(cmd))
	if err != nil && !errors.Is(err, hub.ErrOffline) {
		s.log.Warn("send command.status", "command_id", cmd.ID, "err", err)
	}
}

func statusEnvelope(cmd store.Command) hub.Envelope {
	data, _ := json.Marshal(wire.CommandStatus{CommandID: cmd.ID, Status: cmd.Status, Error: cmd.Error})
	return hub.Envelope{Type: wire.TypeCommandStatus, Data: data}
}

func (s *Service) expireCommands(ctx context.Context) {
	cmds, err := s.store.ExpireCommands(ctx, s.cfg.Now().UTC())
	if err != nil {
		s.log.Warn("expire commands", "err", err)
		return
	}
	for _, cmd := range cmds {
		s.cancel("command:" + cmd.ID)
		s.notifySource(ctx, cmd)
	}
}
