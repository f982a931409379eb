package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/securecam/securecam/store"
)

// ScheduleCameraOffline implements store.Store.
func (s *Store) ScheduleCameraOffline(ctx context.Context, c store.CameraOfflineCheck) error {
	const op = "schedule camera offline"
	id, ok := canonID(c.DeviceID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	_, err := s.db.Write().Exec(ctx, `INSERT INTO camera_offline_checks (device_id, dropped_at, due_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET dropped_at = excluded.dropped_at, due_at = excluded.due_at`,
		id, s.t(stamp(c.DroppedAt)), s.t(stamp(c.DueAt)))
	return s.mapErr(op, err)
}

// claimLock checks a claim's lease and returns the row-lock clause of its pick: FOR
// UPDATE SKIP LOCKED on PostgreSQL, so concurrent claimers take disjoint rows without
// waiting for each other; nothing where the engine has no row locks (SQLite runs the
// claim on its single writer).
func (s *Store) claimLock(op string, lease time.Duration) (string, error) {
	if lease <= 0 {
		return "", fmt.Errorf("%s: lease must be positive", op)
	}
	lock := s.q(" FOR UPDATE")
	if lock != "" {
		lock += " SKIP LOCKED"
	}
	return lock, nil
}

// ClaimCameraOffline implements store.Store, as ClaimDeliveries claims push jobs: one
// statement picks the due checks (skipping rows another claimer holds locked on
// PostgreSQL) and moves their due time to the end of the lease.
func (s *Store) ClaimCameraOffline(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]store.CameraOfflineCheck, error) {
	const op = "claim camera offline"
	if limit <= 0 {
		return nil, nil
	}
	lock, err := s.claimLock(op, lease)
	if err != nil {
		return nil, err
	}
	at = stamp(at)
	cs, err := collect(ctx, s.db.Write(), `WITH due AS (
			SELECT device_id FROM camera_offline_checks WHERE due_at <= $1
			ORDER BY due_at, device_id LIMIT $2`+lock+`)
		UPDATE camera_offline_checks SET due_at = $3
		WHERE device_id IN (SELECT device_id FROM due)
		RETURNING device_id, dropped_at, due_at`,
		[]any{s.t(at), limit, s.t(at.Add(lease))}, func(r Row) (store.CameraOfflineCheck, error) {
			var c store.CameraOfflineCheck
			err := r.Scan(&c.DeviceID, timeDst{&c.DroppedAt}, timeDst{&c.DueAt})
			return c, err
		})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	slices.SortFunc(cs, func(a, b store.CameraOfflineCheck) int { return a.DroppedAt.Compare(b.DroppedAt) })
	return cs, nil
}

// FinishCameraOffline implements store.Store.
func (s *Store) FinishCameraOffline(ctx context.Context, deviceID string, droppedAt time.Time) error {
	id, ok := canonID(deviceID)
	if !ok {
		return nil
	}
	_, err := s.db.Write().Exec(ctx, `DELETE FROM camera_offline_checks WHERE device_id = $1 AND dropped_at = $2`,
		id, s.t(stamp(droppedAt)))
	return s.mapErr("finish camera offline", err)
}
