package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

const commandCols = `id, owner_user_id, source_device_id, target_device_id, command_type, payload, status,
	COALESCE(retry_count, 0), last_dispatched_at, acknowledged_at, error, request_id, expires_at,
	created_at, updated_at`

func scanCommand(r Row) (store.Command, error) {
	var c store.Command
	var payload []byte
	err := r.Scan(&c.ID, &c.OwnerUserID, &c.SourceDeviceID, &c.TargetDeviceID, &c.CommandType, &payload,
		&c.Status, &c.RetryCount, nullTimeDst{&c.LastDispatchedAt}, nullTimeDst{&c.AcknowledgedAt},
		&c.Error, &c.RequestID, timeDst{&c.ExpiresAt}, timeDst{&c.CreatedAt}, timeDst{&c.UpdatedAt})
	if len(payload) > 0 {
		c.Payload = json.RawMessage(payload)
	}
	return c, err
}

func commandID(c store.Command) string { return c.ID }

// openStatus is the condition of a command that can still be delivered.
const openStatus = `status IN ('pending', 'dispatched')`

// CreateCommand implements store.Store.
//
// The fast path is one INSERT. A unique index on (source_device_id, request_id) makes
// concurrent duplicates collide; the loser reads the winner. A request id older than
// the window is released (its request_id set to NULL) and the insert retried.
func (s *Store) CreateCommand(ctx context.Context, c *store.Command, dedupeWindow time.Duration) (bool, error) {
	const op = "create command"
	if c.ExpiresAt.IsZero() {
		return false, fmt.Errorf("%s: expires_at is required", op)
	}
	id, err := newID(c.ID)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	owner, ok1 := canonID(c.OwnerUserID)
	source, ok2 := canonID(c.SourceDeviceID)
	target, ok3 := canonID(c.TargetDeviceID)
	if !ok1 || !ok2 || !ok3 {
		return false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	payload := c.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	if !json.Valid(payload) {
		return false, fmt.Errorf("%s: payload is not valid JSON", op)
	}
	n := *c
	n.ID, n.OwnerUserID, n.SourceDeviceID, n.TargetDeviceID = id, owner, source, target
	n.Payload = payload
	n.Status = store.CommandPending
	n.RetryCount = 0
	n.LastDispatchedAt, n.AcknowledgedAt, n.Error = nil, nil, nil
	if n.RequestID != nil && *n.RequestID == "" {
		n.RequestID = nil
	}
	n.ExpiresAt = stamp(c.ExpiresAt)
	n.CreatedAt = created(c.CreatedAt)
	n.UpdatedAt = n.CreatedAt

	for range 3 {
		var got string
		err := s.db.Write().QueryRow(ctx, `INSERT INTO commands
			(id, owner_user_id, source_device_id, target_device_id, command_type, payload, status,
			 retry_count, request_id, expires_at, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11
			WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND user_id = $2 AND deleted_at IS NULL)
			  AND EXISTS (SELECT 1 FROM devices WHERE id = $4 AND deleted_at IS NULL AND (user_id = $2
			       OR EXISTS (SELECT 1 FROM shares WHERE camera_device_id = $4 AND user_id = $2 AND status = 'active')))
			ON CONFLICT (source_device_id, request_id) DO NOTHING
			RETURNING id`,
			n.ID, n.OwnerUserID, n.SourceDeviceID, n.TargetDeviceID, n.CommandType, string(n.Payload), n.Status,
			n.RequestID, s.t(n.ExpiresAt), s.t(n.CreatedAt), s.t(n.UpdatedAt)).Scan(&got)
		if err == nil {
			*c = n
			return true, nil
		}
		if !errors.Is(err, ErrNoRows) {
			return false, s.mapErr(op, err)
		}
		// Nothing inserted: a device is missing, or the request id is taken.
		if n.RequestID == nil {
			return false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		prev, err := scanCommand(s.db.Write().QueryRow(ctx, `SELECT `+commandCols+` FROM commands
			WHERE source_device_id = $1 AND request_id = $2`, n.SourceDeviceID, *n.RequestID))
		if err != nil {
			return false, s.mapErr(op, err) // ErrNoRows: a device is missing
		}
		if prev.CreatedAt.After(n.CreatedAt.Add(-dedupeWindow)) {
			*c = prev
			return false, nil
		}
		if _, err := s.db.Write().Exec(ctx, `UPDATE commands SET request_id = NULL
			WHERE id = $1 AND request_id = $2`, prev.ID, *n.RequestID); err != nil {
			return false, s.mapErr(op, err)
		}
	}
	return false, fmt.Errorf("%s: request id keeps colliding: %w", op, store.ErrConflict)
}

// Command implements store.Store.
func (s *Store) Command(ctx context.Context, id string) (store.Command, error) {
	const op = "command"
	id, ok := canonID(id)
	if !ok {
		return store.Command{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	c, err := scanCommand(s.db.QueryRow(ctx, `SELECT `+commandCols+` FROM commands WHERE id = $1`, id))
	return c, s.mapErr(op, err)
}

// ListCommands implements store.Store.
func (s *Store) ListCommands(ctx context.Context, ownerUserID string, f store.CommandFilter, p store.Page) ([]store.Command, string, error) {
	const op = "list commands"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	owner, ok := canonID(ownerUserID)
	if !ok {
		return []store.Command{}, "", nil
	}
	base := `SELECT ` + commandCols + ` FROM commands WHERE owner_user_id = $1`
	args := []any{owner}
	if f.DeviceID != "" {
		dev, ok := canonID(f.DeviceID)
		if !ok {
			return []store.Command{}, "", nil
		}
		args = append(args, dev)
		base += fmt.Sprintf(` AND (source_device_id = $%d OR target_device_id = $%[1]d)`, len(args))
	}
	if f.Status != "" {
		args = append(args, f.Status)
		base += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	sql, args := pageQuery(base, args, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanCommand, commandID)
	return items, next, s.mapErr(op, err)
}

// DeliverableCommands implements store.Store.
func (s *Store) DeliverableCommands(ctx context.Context, targetDeviceID string, at time.Time) ([]store.Command, error) {
	target, ok := canonID(targetDeviceID)
	if !ok {
		return nil, nil
	}
	cs, err := collect(ctx, s.db, `SELECT `+commandCols+` FROM commands
		WHERE target_device_id = $1 AND `+openStatus+` AND expires_at > $2
		ORDER BY created_at, id`, []any{target, s.t(at)}, scanCommand)
	return cs, s.mapErr("deliverable commands", err)
}

// DeliverableCommandsTo implements store.Store.
func (s *Store) DeliverableCommandsTo(ctx context.Context, targetDeviceIDs []string, at time.Time) ([]store.Command, error) {
	var out []store.Command
	err := eachIDBatch(targetDeviceIDs, func(list string, args []any) error {
		cs, err := collect(ctx, s.db, fmt.Sprintf(`SELECT `+commandCols+` FROM commands
			WHERE target_device_id IN (%s) AND `+openStatus+` AND expires_at > $%d`, list, len(args)+1),
			append(args, s.t(at)), scanCommand)
		out = append(out, cs...)
		return err
	})
	if err != nil {
		return nil, s.mapErr("deliverable commands to", err)
	}
	slices.SortFunc(out, func(a, b store.Command) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// CommandsChangedSince implements store.Store.
func (s *Store) CommandsChangedSince(ctx context.Context, sourceDeviceIDs []string, since time.Time) ([]store.Command, error) {
	var out []store.Command
	err := eachIDBatch(sourceDeviceIDs, func(list string, args []any) error {
		cs, err := collect(ctx, s.db, fmt.Sprintf(`SELECT `+commandCols+` FROM commands
			WHERE source_device_id IN (%s) AND status <> $%d AND updated_at >= $%d`, list, len(args)+1, len(args)+2),
			append(args, store.CommandPending, s.t(since)), scanCommand)
		out = append(out, cs...)
		return err
	})
	if err != nil {
		return nil, s.mapErr("commands changed since", err)
	}
	slices.SortFunc(out, func(a, b store.Command) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MarkCommandDispatched implements store.Store.
func (s *Store) MarkCommandDispatched(ctx context.Context, id string, at time.Time) (store.Command, error) {
	const op = "mark command dispatched"
	id, ok := canonID(id)
	if !ok {
		return store.Command{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	c, err := scanCommand(s.db.Write().QueryRow(ctx, `UPDATE commands
		SET status = $2, retry_count = COALESCE(retry_count, 0) + 1, last_dispatched_at = $3, updated_at = $3
		WHERE id = $1 AND `+openStatus+` RETURNING `+commandCols, id, store.CommandDispatched, s.t(at)))
	if errors.Is(err, ErrNoRows) {
		if _, err := s.Command(ctx, id); err != nil {
			return store.Command{}, fmt.Errorf("%s: %w", op, err)
		}
		return store.Command{}, fmt.Errorf("%s: command is terminal: %w", op, store.ErrConflict)
	}
	return c, s.mapErr(op, err)
}

// CompleteCommand implements store.Store.
func (s *Store) CompleteCommand(ctx context.Context, id, targetDeviceID, status string, errText *string, at time.Time) (store.Command, error) {
	const op = "complete command"
	if status != store.CommandAcknowledged && status != store.CommandFailed {
		return store.Command{}, fmt.Errorf("%s: status %q is not a completion", op, status)
	}
	id, ok1 := canonID(id)
	target, ok2 := canonID(targetDeviceID)
	if !ok1 || !ok2 {
		return store.Command{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var ackAt any // a failed command was never acknowledged
	if status == store.CommandAcknowledged {
		ackAt = s.t(at)
	}
	c, err := scanCommand(s.db.Write().QueryRow(ctx, `UPDATE commands
		SET status = $3, error = $4, acknowledged_at = $6, updated_at = $5
		WHERE id = $1 AND target_device_id = $2 AND `+openStatus+` RETURNING `+commandCols,
		id, target, status, errText, s.t(at), ackAt))
	if !errors.Is(err, ErrNoRows) {
		return c, s.mapErr(op, err)
	}
	c, err = s.Command(ctx, id)
	if err != nil {
		return store.Command{}, fmt.Errorf("%s: %w", op, err)
	}
	if c.TargetDeviceID != target {
		return store.Command{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if c.Status == status && equalText(c.Error, errText) {
		return c, nil // a repeat of the same completion
	}
	return store.Command{}, fmt.Errorf("%s: command is %s: %w", op, c.Status, store.ErrConflict)
}

func equalText(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// ExpireCommands implements store.Store. Each expired command is returned by exactly
// one caller, even when replicas run this concurrently.
func (s *Store) ExpireCommands(ctx context.Context, at time.Time) ([]store.Command, error) {
	cs, err := collect(ctx, s.db.Write(), `UPDATE commands SET status = $1, updated_at = $2
		WHERE `+openStatus+` AND expires_at <= $2 RETURNING `+commandCols,
		[]any{store.CommandExpired, s.t(at)}, scanCommand)
	return cs, s.mapErr("expire commands", err)
}
