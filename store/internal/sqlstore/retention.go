package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/securecam/securecam/store"
)

const defaultPruneBatch = 1000

// Prune implements store.Store. Each table is pruned in batches (one short statement
// each) so that a large backlog never holds long locks.
func (s *Store) Prune(ctx context.Context, c store.PruneCutoffs, batch int) (store.PruneResult, error) {
	const op = "prune"
	if batch <= 0 {
		batch = defaultPruneBatch
	}
	var res store.PruneResult
	if !c.Recordings.IsZero() {
		for {
			rs, err := collect(ctx, s.db.Write(), `DELETE FROM recordings WHERE id IN (
				SELECT id FROM recordings WHERE created_at < $1 LIMIT $2) RETURNING `+recordingCols,
				[]any{s.t(c.Recordings), batch}, scanRecording)
			if err != nil {
				return res, s.mapErr(op+" recordings", err)
			}
			res.Recordings = append(res.Recordings, rs...)
			if len(rs) < batch {
				break
			}
		}
	}
	tables := []struct {
		name   string
		cutoff time.Time
		where  string
		count  *int64
	}{
		{"events", c.Events, `created_at < $1`, &res.Events},
		{"commands", c.Commands, `status IN ('acknowledged', 'failed', 'expired') AND updated_at < $1`, &res.Commands},
		{"stream_sessions", c.StreamSessions, `status IN ('ended', 'failed') AND updated_at < $1`, &res.StreamSessions},
		{"notification_deliveries", c.Deliveries, `status IN ('sent', 'failed', 'expired') AND updated_at < $1`, &res.Deliveries},
		{"audit_logs", c.AuditLogs, `created_at < $1`, &res.AuditLogs},
		{"verification", c.Verifications, `expires_at < $1`, &res.Verifications},
	}
	for _, t := range tables {
		if t.cutoff.IsZero() {
			continue
		}
		for {
			n, err := s.db.Write().Exec(ctx, `DELETE FROM `+t.name+` WHERE id IN (
				SELECT id FROM `+t.name+` WHERE `+t.where+` LIMIT $2)`, s.t(t.cutoff), batch)
			if err != nil {
				return res, s.mapErr(op+" "+t.name, err)
			}
			*t.count += n
			if n < int64(batch) {
				break
			}
		}
	}
	return res, nil
}

// AcquireLease implements store.Store: one upsert that takes the lease only when it is
// free, lapsed or already the holder's.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, at time.Time, ttl time.Duration) (bool, error) {
	const op = "acquire lease"
	if ttl <= 0 {
		return false, fmt.Errorf("%s: ttl must be positive", op)
	}
	var got string
	err := s.db.Write().QueryRow(ctx, `INSERT INTO securecam_leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE securecam_leases.expires_at <= $4 OR securecam_leases.holder = excluded.holder
		RETURNING holder`, name, holder, s.t(at.Add(ttl)), s.t(at)).Scan(&got)
	if errors.Is(err, ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.mapErr(op, err)
	}
	return true, nil
}
