package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Commands sends remote commands; signaling.Service implements it.
type Commands interface {
	SendCommand(ctx context.Context, userID string, req wire.CommandRequest, requestID string) (store.Command, error)
}

// maxIdempotencyKey is the longest Idempotency-Key accepted, as long as an envelope id.
const maxIdempotencyKey = 64

// POST /commands {source_device_id, target_device_id, command_type, payload?, ttl_seconds?}
// An Idempotency-Key header plays the part of command.send's envelope id: a retry
// with the same key from the same source device returns the first command.
func (s *Server) handleSendCommand(w http.ResponseWriter, r *http.Request) error {
	if s.commands == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "commands are not served here"}
	}
	var in sendCommandRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return errBadRequest("Idempotency-Key is longer than %d characters", maxIdempotencyKey)
	}
	cmd, err := s.commands.SendCommand(r.Context(), principalFrom(r.Context()).userID, wire.CommandRequest{
		SourceDeviceID: in.SourceDeviceID,
		TargetDeviceID: in.TargetDeviceID,
		CommandType:    in.CommandType,
		Payload:        in.Payload,
		TTLSeconds:     in.TTLSeconds,
	}, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, wire.FromCommand(cmd))
	return nil
}

// GET /commands/{id}
func (s *Server) handleGetCommand(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	cmd, err := s.store.Command(r.Context(), id)
	if err == nil && cmd.OwnerUserID != principalFrom(r.Context()).userID {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("command: %w", err)
	}
	writeJSON(w, http.StatusOK, wire.FromCommand(cmd))
	return nil
}

// GET /commands?device_id=&status= newest first; device_id matches source or target.
func (s *Server) handleListCommands(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	f, err := commandFilter(r.URL.Query())
	if err != nil {
		return err
	}
	items, next, err := s.store.ListCommands(r.Context(), principalFrom(r.Context()).userID, f, page)
	if err != nil {
		return fmt.Errorf("list commands: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromCommand))
	return nil
}
