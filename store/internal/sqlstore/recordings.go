package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/securecam/securecam/store"
)

const recordingCols = `id, owner_user_id, stream_session_id, camera_device_id, requester_device_id, event_id,
	object_key, bucket, COALESCE(content_type, ''), duration_seconds, size_bytes, status, available_at, error,
	created_at, updated_at`

func scanRecording(r Row) (store.Recording, error) {
	var x store.Recording
	err := r.Scan(&x.ID, &x.OwnerUserID, &x.StreamSessionID, &x.CameraDeviceID, &x.RequesterDeviceID, &x.EventID,
		&x.ObjectKey, &x.Bucket, &x.ContentType, &x.DurationSeconds, &x.SizeBytes, &x.Status,
		nullTimeDst{&x.AvailableAt}, &x.Error, timeDst{&x.CreatedAt}, timeDst{&x.UpdatedAt})
	return x, err
}

func recordingID(r store.Recording) string { return r.ID }

// CreateRecording implements store.Store.
func (s *Store) CreateRecording(ctx context.Context, r *store.Recording) error {
	const op = "create recording"
	id, err := newID(r.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	owner, ok1 := canonID(r.OwnerUserID)
	camera, ok2 := canonID(r.CameraDeviceID)
	event, ok3 := optID(r.EventID)
	session, ok4 := optID(r.StreamSessionID)
	requester, ok5 := optID(r.RequesterDeviceID)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *r
	n.ID, n.OwnerUserID, n.CameraDeviceID = id, owner, camera
	n.EventID, n.StreamSessionID, n.RequesterDeviceID = event, session, requester
	n.Status = store.RecordingPending
	n.AvailableAt, n.Error = nil, nil
	n.CreatedAt = created(r.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	// Each optional reference adds its ownership check (a NULL parameter would leave
	// PostgreSQL unable to type it).
	sql := `INSERT INTO recordings
		(id, owner_user_id, stream_session_id, camera_device_id, requester_device_id, event_id, content_type,
		 duration_seconds, status, created_at, updated_at, object_key, bucket, size_bytes)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = $4 AND user_id = $2 AND deleted_at IS NULL)`
	if session != nil {
		sql += ` AND EXISTS (SELECT 1 FROM stream_sessions WHERE id = $3 AND owner_user_id = $2 AND camera_device_id = $4)`
	}
	if requester != nil {
		sql += ` AND EXISTS (SELECT 1 FROM devices WHERE id = $5 AND user_id = $2 AND deleted_at IS NULL)`
	}
	if event != nil {
		sql += ` AND EXISTS (SELECT 1 FROM events WHERE id = $6 AND user_id = $2 AND device_id = $4)`
	}
	var got string
	err = s.db.Write().QueryRow(ctx, sql+` RETURNING id`,
		n.ID, n.OwnerUserID, n.StreamSessionID, n.CameraDeviceID, n.RequesterDeviceID, n.EventID, n.ContentType,
		n.DurationSeconds, n.Status, s.t(n.CreatedAt), n.ObjectKey, n.Bucket, n.SizeBytes).Scan(&got)
	if err != nil {
		return s.mapErr(op, err)
	}
	*r = n
	return nil
}

// Recording implements store.Store.
func (s *Store) Recording(ctx context.Context, id string) (store.Recording, error) {
	const op = "recording"
	id, ok := canonID(id)
	if !ok {
		return store.Recording{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	r, err := scanRecording(s.db.QueryRow(ctx, `SELECT `+recordingCols+` FROM recordings WHERE id = $1`, id))
	return r, s.mapErr(op, err)
}

// ListRecordings implements store.Store.
func (s *Store) ListRecordings(ctx context.Context, ownerUserID string, f store.RecordingFilter, p store.Page) ([]store.Recording, string, error) {
	const op = "list recordings"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	owner, ok := canonID(ownerUserID)
	if !ok {
		return []store.Recording{}, "", nil
	}
	base := `SELECT ` + recordingCols + ` FROM recordings WHERE owner_user_id = $1`
	args := []any{owner}
	for _, c := range []struct{ col, v string }{{"camera_device_id", f.CameraDeviceID}, {"event_id", f.EventID}} {
		if c.v == "" {
			continue
		}
		id, ok := canonID(c.v)
		if !ok {
			return []store.Recording{}, "", nil
		}
		args = append(args, id)
		base += fmt.Sprintf(` AND %s = $%d`, c.col, len(args))
	}
	sql, args := pageQuery(base, args, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanRecording, recordingID)
	return items, next, s.mapErr(op, err)
}

// FinishRecordingUpload implements store.Store.
func (s *Store) FinishRecordingUpload(ctx context.Context, id string, u store.RecordingUpload) (store.Recording, error) {
	const op = "finish recording upload"
	id, ok := canonID(id)
	if !ok {
		return store.Recording{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at := created(u.At)
	var key, bucket, errText any
	var size, availableAt any
	switch u.Status {
	case store.RecordingAvailable:
		if u.ObjectKey == "" {
			return store.Recording{}, fmt.Errorf("%s: an available recording needs an object key", op)
		}
		key, bucket, size, availableAt = u.ObjectKey, nullIfEmpty(u.Bucket), u.SizeBytes, s.t(at)
	case store.RecordingFailed:
		errText = u.Error
	default:
		return store.Recording{}, fmt.Errorf("%s: status %q is not an outcome", op, u.Status)
	}
	r, err := scanRecording(s.db.Write().QueryRow(ctx, `UPDATE recordings
		SET status = $2, object_key = $3, bucket = $4, size_bytes = $5, available_at = $6, error = $7, updated_at = $8,
		    duration_seconds = COALESCE($10, duration_seconds)
		WHERE id = $1 AND status = $9 RETURNING `+recordingCols,
		id, u.Status, key, bucket, size, availableAt, errText, s.t(at), store.RecordingPending, u.DurationSeconds))
	if errors.Is(err, ErrNoRows) {
		if _, err := s.Recording(ctx, id); err != nil {
			return store.Recording{}, fmt.Errorf("%s: %w", op, err)
		}
		return store.Recording{}, fmt.Errorf("%s: the recording is no longer pending: %w", op, store.ErrConflict)
	}
	return r, s.mapErr(op, err)
}

// ListRecordingObjects implements store.Store. object_key sorts in byte order: the
// PostgreSQL column has the "C" collation, SQLite compares bytes. The bucket expression
// is the one the index of migration 0012 is on.
func (s *Store) ListRecordingObjects(ctx context.Context, bucket, afterKey string, limit int) ([]store.Recording, error) {
	const op = "list recording objects"
	if limit <= 0 {
		return nil, fmt.Errorf("%s: limit must be positive", op)
	}
	rs, err := collect(ctx, s.db, `SELECT `+recordingCols+` FROM recordings
		WHERE COALESCE(bucket, '`+store.LocalBucket+`') = $1 AND object_key IS NOT NULL AND object_key > $2
		ORDER BY object_key LIMIT $3`, []any{bucket, afterKey, limit}, scanRecording)
	return rs, s.mapErr(op, err)
}

// SetRecordingMissing implements store.Store.
func (s *Store) SetRecordingMissing(ctx context.Context, id, key string, missing bool, at time.Time) (bool, error) {
	const op = "set recording missing"
	id, ok := canonID(id)
	if !ok {
		return false, nil
	}
	var n int64
	var err error
	if missing {
		n, err = s.db.Write().Exec(ctx, `UPDATE recordings SET status = $3, error = $4, updated_at = $5
			WHERE id = $1 AND object_key = $2 AND status = $6`,
			id, key, store.RecordingFailed, store.RecordingMissing, s.t(at), store.RecordingAvailable)
	} else {
		n, err = s.db.Write().Exec(ctx, `UPDATE recordings SET status = $3, error = NULL, updated_at = $5
			WHERE id = $1 AND object_key = $2 AND status = $6 AND error = $4`,
			id, key, store.RecordingAvailable, store.RecordingMissing, s.t(at), store.RecordingFailed)
	}
	if err != nil {
		return false, s.mapErr(op, err)
	}
	return n > 0, nil
}

// MoveRecordingObject implements store.Store.
func (s *Store) MoveRecordingObject(ctx context.Context, id string, from, to store.ObjectRef, at time.Time) error {
	const op = "move recording object"
	id, ok := canonID(id)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE recordings SET bucket = $4, object_key = $5, updated_at = $6
		WHERE id = $1 AND COALESCE(bucket, '`+store.LocalBucket+`') = $2 AND object_key = $3`,
		id, from.Bucket, from.Key, to.Bucket, to.Key, s.t(at))
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		if _, err := s.Recording(ctx, id); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return fmt.Errorf("%s: the recording no longer names %s/%s: %w", op, from.Bucket, from.Key, store.ErrConflict)
	}
	return nil
}

// DeleteRecording implements store.Store.
func (s *Store) DeleteRecording(ctx context.Context, id string) (store.Recording, error) {
	const op = "delete recording"
	id, ok := canonID(id)
	if !ok {
		return store.Recording{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var r store.Recording
	err := s.db.InTx(ctx, func(q Querier) error {
		var err error
		r, err = scanRecording(q.QueryRow(ctx, `DELETE FROM recordings WHERE id = $1 RETURNING `+recordingCols, id))
		if err != nil {
			return err
		}
		return s.clearVideoURL(ctx, q, r)
	})
	return r, s.mapErr(op, err)
}

// DeleteOldestRecordings implements store.Store.
func (s *Store) DeleteOldestRecordings(ctx context.Context, bucket string, limit int) ([]store.Recording, error) {
	const op = "delete oldest recordings"
	if limit <= 0 {
		return nil, nil
	}
	var rs []store.Recording
	err := s.db.InTx(ctx, func(q Querier) error {
		var err error
		rs, err = collect(ctx, q, `DELETE FROM recordings WHERE id IN (
				SELECT id FROM recordings WHERE object_key IS NOT NULL AND COALESCE(bucket, '`+store.LocalBucket+`') = $1
				ORDER BY created_at, id LIMIT $2)
			RETURNING `+recordingCols, []any{bucket, limit}, scanRecording)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := s.clearVideoURL(ctx, q, r); err != nil {
				return err
			}
		}
		return nil
	})
	return rs, s.mapErr(op, err)
}

// clearVideoURL clears the video_url of the deleted recording's event when it names
// the recording (the URL contains the recording's id).
func (s *Store) clearVideoURL(ctx context.Context, q Querier, r store.Recording) error {
	if r.EventID == nil {
		return nil
	}
	_, err := q.Exec(ctx, `UPDATE events SET video_url = NULL, updated_at = $3 WHERE id = $1 AND video_url LIKE $2`,
		*r.EventID, "%"+r.ID+"%", s.t(now()))
	return err
}

// RecordingBytes implements store.Store.
func (s *Store) RecordingBytes(ctx context.Context, ownerUserID string) (int64, error) {
	owner, ok := canonID(ownerUserID)
	if !ok {
		return 0, nil
	}
	var n int64
	err := s.db.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM recordings
		WHERE owner_user_id = $1`, owner).Scan(&n)
	return n, s.mapErr("recording bytes", err)
}
