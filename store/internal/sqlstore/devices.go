package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/securecam/securecam/store"
)

const deviceCols = `id, user_id, COALESCE(name, ''), COALESCE(role, ''), COALESCE(platform, ''),
	app_version, push_token, COALESCE(status, 'offline'), COALESCE(is_camera, false), last_seen_at,
	created_at, updated_at, recording_mode, live_mode`

func scanDevice(r Row) (store.Device, error) {
	var d store.Device
	err := r.Scan(&d.ID, &d.UserID, &d.Name, &d.Role, &d.Platform, &d.AppVersion, &d.PushToken,
		&d.Status, &d.IsCamera, nullTimeDst{&d.LastSeenAt}, timeDst{&d.CreatedAt}, timeDst{&d.UpdatedAt},
		&d.RecordingMode, &d.LiveMode)
	return d, err
}

func deviceID(d store.Device) string { return d.ID }

// nullIfEmpty maps an empty string to SQL NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// takePushToken removes token from every device but keep, inside q's transaction,
// under a lock on the token so two devices claiming it at once cannot both keep it.
func (s *Store) takePushToken(ctx context.Context, q Querier, token, keep string, at time.Time) error {
	if err := s.lockKey(ctx, q, "push_token:"+token); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `UPDATE devices SET push_token = NULL, updated_at = $3
		WHERE push_token = $1 AND id <> $2`, token, keep, s.t(at))
	return err
}

// CreateDevice implements store.Store.
func (s *Store) CreateDevice(ctx context.Context, d *store.Device, tokenHash string) error {
	const op = "create device"
	id, err := newID(d.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	userID, ok := canonID(d.UserID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *d
	n.ID, n.UserID = id, userID
	n.IsCamera = n.Role == store.RoleCamera
	if n.Status == "" {
		n.Status = store.DeviceOffline
	}
	if n.RecordingMode == "" {
		n.RecordingMode = store.RecordingModeEvents
	}
	if n.LiveMode == "" {
		n.LiveMode = store.LiveModeAuto
	}
	if n.PushToken != nil && *n.PushToken == "" {
		n.PushToken = nil
	}
	if n.LastSeenAt != nil {
		t := stamp(*n.LastSeenAt)
		n.LastSeenAt = &t
	}
	n.CreatedAt = created(d.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	err = s.db.InTx(ctx, func(q Querier) error {
		if n.PushToken != nil {
			if err := s.takePushToken(ctx, q, *n.PushToken, n.ID, n.CreatedAt); err != nil {
				return err
			}
		}
		_, err := q.Exec(ctx, `INSERT INTO devices
			(id, user_id, name, role, platform, app_version, push_token, status, is_camera,
			 last_seen_at, token_hash, created_at, updated_at, recording_mode, live_mode)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)`,
			n.ID, n.UserID, n.Name, n.Role, n.Platform, n.AppVersion, n.PushToken, n.Status, n.IsCamera,
			s.nt(n.LastSeenAt), nullIfEmpty(tokenHash), s.t(n.CreatedAt), n.RecordingMode, n.LiveMode)
		return err
	})
	if err != nil {
		return s.mapErr(op, err)
	}
	*d = n
	return nil
}

// Device implements store.Store.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	const op = "device"
	id, ok := canonID(id)
	if !ok {
		return store.Device{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	d, err := scanDevice(s.db.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices
		WHERE id = $1 AND deleted_at IS NULL`, id))
	return d, s.mapErr(op, err)
}

// DeviceByTokenHash implements store.Store.
func (s *Store) DeviceByTokenHash(ctx context.Context, tokenHash string) (store.Device, error) {
	d, err := scanDevice(s.db.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices
		WHERE token_hash = $1 AND deleted_at IS NULL`, tokenHash))
	return d, s.mapErr("device by token hash", err)
}

// ListDevices implements store.Store.
func (s *Store) ListDevices(ctx context.Context, userID string, p store.Page) ([]store.Device, string, error) {
	const op = "list devices"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	userID, ok := canonID(userID)
	if !ok {
		return []store.Device{}, "", nil
	}
	sql, args := pageQuery(`SELECT `+deviceCols+` FROM devices WHERE user_id = $1 AND deleted_at IS NULL`,
		[]any{userID}, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanDevice, deviceID)
	return items, next, s.mapErr(op, err)
}

// UpdateDevice implements store.Store.
func (s *Store) UpdateDevice(ctx context.Context, id string, u store.DeviceUpdate) (store.Device, error) {
	const op = "update device"
	id, ok := canonID(id)
	if !ok {
		return store.Device{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at := now()
	var d store.Device
	err := s.db.InTx(ctx, func(q Querier) error {
		cur, err := scanDevice(q.QueryRow(ctx, s.q(`SELECT `+deviceCols+` FROM devices
			WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`), id))
		if err != nil {
			return err
		}
		if u.Name != nil {
			cur.Name = *u.Name
		}
		if u.AppVersion != nil {
			v := *u.AppVersion
			cur.AppVersion = &v
		}
		if u.PushToken != nil {
			if *u.PushToken == "" {
				cur.PushToken = nil
			} else {
				v := *u.PushToken
				cur.PushToken = &v
				if err := s.takePushToken(ctx, q, v, id, at); err != nil {
					return err
				}
			}
		}
		if u.RecordingMode != nil {
			cur.RecordingMode = *u.RecordingMode
		}
		if u.LiveMode != nil {
			cur.LiveMode = *u.LiveMode
		}
		d, err = scanDevice(q.QueryRow(ctx, `UPDATE devices
			SET name = $2, app_version = $3, push_token = $4, updated_at = $5, recording_mode = $6,
			    live_mode = $7
			WHERE id = $1 RETURNING `+deviceCols,
			id, cur.Name, cur.AppVersion, cur.PushToken, s.t(at), cur.RecordingMode, cur.LiveMode))
		return err
	})
	return d, s.mapErr(op, err)
}

// DeleteDevice implements store.Store.
func (s *Store) DeleteDevice(ctx context.Context, id string) ([]store.DeviceLink, error) {
	const op = "delete device"
	id, ok := canonID(id)
	if !ok {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at := s.t(now())
	var links []store.DeviceLink
	err := s.db.InTx(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE devices
			SET deleted_at = $2, updated_at = $2, token_hash = NULL, push_token = NULL, status = $3
			WHERE id = $1 AND deleted_at IS NULL`, id, at, store.DeviceOffline)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		links, err = collect(ctx, q, `UPDATE device_links SET status = $2, updated_at = $3
			WHERE (camera_device_id = $1 OR client_device_id = $1) AND status = $4
			RETURNING `+linkCols, []any{id, store.LinkRevoked, at, store.LinkActive}, scanLink)
		return err
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return links, nil
}

// SetDevicePresence implements store.Store.
func (s *Store) SetDevicePresence(ctx context.Context, id, status string, lastSeen time.Time) error {
	const op = "set device presence"
	id, ok := canonID(id)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE devices SET status = $2, last_seen_at = $3, updated_at = $4
		WHERE id = $1 AND deleted_at IS NULL`, id, status, s.t(lastSeen), s.t(now()))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return s.mapErr(op, err)
}

// MarkAllDevicesOffline implements store.Store.
func (s *Store) MarkAllDevicesOffline(ctx context.Context, at time.Time) error {
	_, err := s.db.Write().Exec(ctx, `UPDATE devices SET status = $1, updated_at = $2 WHERE status = $3`,
		store.DeviceOffline, s.t(at), store.DeviceOnline)
	return s.mapErr("mark all devices offline", err)
}

// ClearPushToken implements store.Store.
func (s *Store) ClearPushToken(ctx context.Context, deviceID, token string) error {
	const op = "clear push token"
	deviceID, ok := canonID(deviceID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE devices SET push_token = NULL, updated_at = $3
		WHERE id = $1 AND push_token = $2 AND deleted_at IS NULL`, deviceID, token, s.t(now()))
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		// Nothing to clear: fine if the device holds another token, not if it is gone.
		if _, err := s.Device(ctx, deviceID); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}
