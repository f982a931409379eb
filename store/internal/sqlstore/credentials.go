package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SessionUsers implements store.Store.
func (s *Store) SessionUsers(ctx context.Context, ids []string, at time.Time) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := eachIDBatch(ids, func(list string, args []any) error {
		return s.collectOwners(ctx, out, fmt.Sprintf(`SELECT id, user_id FROM session
			WHERE id IN (%s) AND expires_at > $%d`, list, len(args)+1), append(args, s.t(at)))
	})
	return out, s.mapErr("session users", err)
}

// DeviceUsers implements store.Store.
func (s *Store) DeviceUsers(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := eachIDBatch(ids, func(list string, args []any) error {
		return s.collectOwners(ctx, out, `SELECT id, user_id FROM devices
			WHERE id IN (`+list+`) AND deleted_at IS NULL`, args)
	})
	return out, s.mapErr("device users", err)
}

// collectOwners adds the (id, user id) rows of a query to out.
func (s *Store) collectOwners(ctx context.Context, out map[string]string, sql string, args []any) error {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, user string
		if err := rows.Scan(&id, &user); err != nil {
			return err
		}
		out[id] = user
	}
	return rows.Err()
}

// idBatch is the most ids one statement names.
const idBatch = 500

// eachIDBatch calls fn with the ids among ids that are UUIDs (others name no row), at
// most idBatch at a time: list is their placeholders "$1, …, $n" and args the ids.
func eachIDBatch(ids []string, fn func(list string, args []any) error) error {
	args := make([]any, 0, min(len(ids), idBatch))
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		var list strings.Builder
		for i := range args {
			if i > 0 {
				list.WriteString(", ")
			}
			fmt.Fprintf(&list, "$%d", i+1)
		}
		err := fn(list.String(), args)
		args = make([]any, 0, cap(args))
		return err
	}
	for _, raw := range ids {
		id, ok := canonID(raw)
		if !ok {
			continue
		}
		if args = append(args, id); len(args) == idBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
