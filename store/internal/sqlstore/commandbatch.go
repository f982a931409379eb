package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/securecam/securecam/store"
)

// The batches pass their rows as one JSON parameter (Dialect.JSONRows): each query has
// one text whatever the batch size, so both engines keep it prepared.

// newCommandRow is a row of CreateLinkedCommands. Times are the dialect's values.
type newCommandRow struct {
	ID        string          `json:"c_id"`
	Owner     string          `json:"c_owner"`
	Source    string          `json:"c_source"`
	Target    string          `json:"c_target"`
	Type      string          `json:"c_type"`
	Payload   json.RawMessage `json:"c_payload"`
	RequestID *string         `json:"c_request_id"`
	Status    string          `json:"c_status"`
	ExpiresAt any             `json:"c_expires_at"`
	CreatedAt any             `json:"c_created_at"`
}

// CreateLinkedCommands implements store.Store.
func (s *Store) CreateLinkedCommands(ctx context.Context, cs []*store.Command) ([]bool, error) {
	const op = "create linked commands"
	inserted := make([]bool, len(cs))
	rows := make([]newCommandRow, 0, len(cs))
	filled := make([]store.Command, len(cs))
	at := make(map[string]int, len(cs)) // row id → index in cs
	for i, c := range cs {
		n, ok, err := newCommand(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if !ok || n.Payload[0] != '{' {
			continue // names no row, or a payload SQLite's JSON would change: left out
		}
		if c.Status == store.CommandDispatched {
			n.Status, n.RetryCount, n.LastDispatchedAt = store.CommandDispatched, 1, &n.CreatedAt
		}
		filled[i] = n
		at[n.ID] = i
		rows = append(rows, newCommandRow{ID: n.ID, Owner: n.OwnerUserID, Source: n.SourceDeviceID,
			Target: n.TargetDeviceID, Type: n.CommandType, Payload: n.Payload, RequestID: n.RequestID,
			Status: n.Status, ExpiresAt: s.t(n.ExpiresAt), CreatedAt: s.t(n.CreatedAt)})
	}
	if len(rows) == 0 {
		return inserted, nil
	}
	arg, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ids, err := collect(ctx, s.db.Write(), `INSERT INTO commands
		(id, owner_user_id, source_device_id, target_device_id, command_type, payload, status,
		 retry_count, last_dispatched_at, request_id, expires_at, created_at, updated_at)
		SELECT v.c_id, v.c_owner, v.c_source, v.c_target, v.c_type, v.c_payload, v.c_status,
		       CASE WHEN v.c_status = $2 THEN 1 ELSE 0 END,
		       CASE WHEN v.c_status = $2 THEN v.c_created_at END,
		       v.c_request_id, v.c_expires_at, v.c_created_at, v.c_created_at
		FROM `+s.d.JSONRows(`$1`, `c_id uuid`, `c_owner uuid`, `c_source uuid`, `c_target uuid`, `c_type text`,
		`c_payload jsonb`, `c_request_id text`, `c_status text`, `c_expires_at timestamptz`, `c_created_at timestamptz`)+`
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = v.c_source AND user_id = v.c_owner AND deleted_at IS NULL)
		  AND EXISTS (SELECT 1 FROM devices WHERE id = v.c_target AND user_id = v.c_owner AND deleted_at IS NULL)
		  AND EXISTS (SELECT 1 FROM device_links WHERE status = $3
		              AND ((camera_device_id = v.c_source AND client_device_id = v.c_target)
		                OR (camera_device_id = v.c_target AND client_device_id = v.c_source)))
		ON CONFLICT (source_device_id, request_id) DO NOTHING
		RETURNING id`, []any{string(arg), store.CommandDispatched, store.LinkActive}, scanString)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, id := range ids {
		if i, ok := at[id]; ok {
			*cs[i] = filled[i]
			inserted[i] = true
		}
	}
	return inserted, nil
}

func scanString(r Row) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}

// lockCommands returns the head of a batch UPDATE of commands and a condition on the
// rows it locked, for the ids of rows (column c_id); both empty when the engine needs
// none. Batches run concurrently on PostgreSQL (signaling's
// pipelined group commits), and two UPDATEs that lock an overlapping set of rows in
// different orders deadlock: PostgreSQL finds it only after deadlock_timeout (1 s) and
// aborts one, whose senders then wait that second. There the head is a CTE "locked"
// that locks the open commands among the ids in id order first, so that batches queue
// instead. An engine with one writer (SQLite) has no row locks to order.
func (s *Store) lockCommands(rows string) (head, locked string) {
	if s.d.LockKeySQL == "" {
		return "", ""
	}
	return `WITH locked AS (SELECT id FROM commands
		WHERE id IN (SELECT v.c_id FROM ` + rows + `) AND ` + openStatus + `
		ORDER BY id FOR UPDATE)
	`, `id IN (SELECT id FROM locked)`
}

// MarkCommandsDispatched implements store.Store.
func (s *Store) MarkCommandsDispatched(ctx context.Context, ids []string, at time.Time) (map[string]store.Command, error) {
	const op = "mark commands dispatched"
	type row struct {
		ID string `json:"c_id"`
	}
	rows := make([]row, 0, len(ids))
	for _, id := range ids {
		if id, ok := canonID(id); ok {
			rows = append(rows, row{id})
		}
	}
	out := make(map[string]store.Command, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	arg, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	from := s.d.JSONRows(`$1`, `c_id uuid`)
	head, cond := s.lockCommands(from)
	if cond == "" {
		cond = `id IN (SELECT v.c_id FROM ` + from + `)`
	}
	cs, err := collect(ctx, s.db.Write(), head+`UPDATE commands
		SET status = $2, retry_count = COALESCE(retry_count, 0) + 1, last_dispatched_at = $3, updated_at = $3
		WHERE `+cond+` AND `+openStatus+`
		RETURNING `+commandCols, []any{string(arg), store.CommandDispatched, s.t(at)}, scanCommand)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, c := range cs {
		out[c.ID] = c
	}
	if len(out) == len(rows) {
		return out, nil
	}
	// The others are terminal (answered before this mark) or missing.
	rest, err := collect(ctx, s.db.Write(), `SELECT `+commandCols+` FROM commands
		WHERE id IN (SELECT v.c_id FROM `+s.d.JSONRows(`$1`, `c_id uuid`)+`) AND NOT `+openStatus,
		[]any{string(arg)}, scanCommand)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, c := range rest {
		out[c.ID] = c
	}
	return out, nil
}

// CompleteCommands implements store.Store.
func (s *Store) CompleteCommands(ctx context.Context, cs []store.CommandCompletion, at time.Time) (map[string]store.Command, error) {
	const op = "complete commands"
	type row struct {
		ID     string  `json:"c_id"`
		Target string  `json:"c_target"`
		Status string  `json:"c_status"`
		Error  *string `json:"c_error"`
		AckAt  any     `json:"c_acknowledged_at"` // a failed command was never acknowledged
	}
	rows := make([]row, 0, len(cs))
	for _, c := range cs {
		if c.Status != store.CommandAcknowledged && c.Status != store.CommandFailed {
			return nil, fmt.Errorf("%s: status %q is not a completion", op, c.Status)
		}
		id, ok1 := canonID(c.ID)
		target, ok2 := canonID(c.TargetDeviceID)
		if ok1 && ok2 {
			r := row{ID: id, Target: target, Status: c.Status, Error: c.Error}
			if c.Status == store.CommandAcknowledged {
				r.AckAt = s.t(at)
			}
			rows = append(rows, r)
		}
	}
	out := make(map[string]store.Command, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	arg, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	head, locked := s.lockCommands(s.d.JSONRows(`$1`, `c_id uuid`))
	if locked != "" {
		locked = " AND " + locked
	}
	done, err := collect(ctx, s.db.Write(), head+`UPDATE commands
		SET status = v.c_status, error = v.c_error, acknowledged_at = v.c_acknowledged_at, updated_at = $2
		FROM `+s.d.JSONRows(`$1`, `c_id uuid`, `c_target uuid`, `c_status text`, `c_error text`, `c_acknowledged_at timestamptz`)+`
		WHERE id = v.c_id AND target_device_id = v.c_target AND `+openStatus+`
`+locked+`
		RETURNING `+commandCols, []any{string(arg), s.t(at)}, scanCommand)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, c := range done {
		out[c.ID] = c
	}
	return out, nil
}
