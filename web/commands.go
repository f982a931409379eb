package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/store"
)

// Commands sends remote commands; signaling.Service implements it.
type Commands interface {
	SendCommand(ctx context.Context, userID string, req signaling.CommandRequest, requestID string) (store.Command, error)
}

// maxIdempotencyKey is the longest Idempotency-Key accepted, as long as an envelope id.
const maxIdempotencyKey = 64

// POST /commands {source_device_id, target_device_id, command_type, payload?, ttl_seconds?}
// An Idempotency-Key header plays the part of command.send's envelope id: a retry
// with the same key from the same source device returns the first command.
func (s *Server) handleSendCommand(w http.ResponseWriter, r *http.Request) error {
	if s.commands == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: "commands are not served here"}
	}
	var in struct {
		SourceDeviceID string          `json:"source_device_id"`
		TargetDeviceID string          `json:"target_device_id"`
		CommandType    string          `json:"command_type"`
		Payload        json.RawMessage `json:"payload"`
		TTLSeconds     *int            `json:"ttl_seconds"`
	}
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	source, err := bodyID("source_device_id", in.SourceDeviceID)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return errBadRequest("Idempotency-Key is longer than %d characters", maxIdempotencyKey)
	}
	cmd, err := s.commands.SendCommand(r.Context(), principalFrom(r.Context()).userID, signaling.CommandRequest{
		SourceDeviceID: source,
		TargetDeviceID: in.TargetDeviceID,
		CommandType:    in.CommandType,
		Payload:        in.Payload,
		TTLSeconds:     in.TTLSeconds,
	}, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, cmd)
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
	writeJSON(w, http.StatusOK, cmd)
	return nil
}

var commandStatuses = map[string]bool{
	store.CommandPending: true, store.CommandDispatched: true, store.CommandAcknowledged: true,
	store.CommandFailed: true, store.CommandExpired: true,
}

// GET /commands?device_id=&status= newest first; device_id matches source or target.
func (s *Server) handleListCommands(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f store.CommandFilter
	if v := q.Get("device_id"); v != "" {
		if f.DeviceID, err = bodyID("device_id", v); err != nil {
			return err
		}
	}
	if f.Status = q.Get("status"); f.Status != "" && !commandStatuses[f.Status] {
		return errBadRequest("status must be pending, dispatched, acknowledged, failed or expired")
	}
	items, next, err := s.store.ListCommands(r.Context(), principalFrom(r.Context()).userID, f, page)
	if err != nil {
		return fmt.Errorf("list commands: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}
