package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/securecam/securecam/store"
)

const linkCols = `id, owner_user_id, camera_device_id, client_device_id, status, created_at, updated_at`

func scanLink(r Row) (store.DeviceLink, error) {
	var l store.DeviceLink
	err := r.Scan(&l.ID, &l.OwnerUserID, &l.CameraDeviceID, &l.ClientDeviceID, &l.Status,
		timeDst{&l.CreatedAt}, timeDst{&l.UpdatedAt})
	return l, err
}

func linkID(l store.DeviceLink) string { return l.ID }

// CreateLink implements store.Store. Both devices must exist, not be deleted and
// belong to the link's owner (the camera may instead be shared with the owner by an
// active share), else ErrNotFound. The device rows are share-locked so a
// concurrent DeleteDevice either sees the new link (and revokes it) or wins first.
func (s *Store) CreateLink(ctx context.Context, l *store.DeviceLink) error {
	const op = "create link"
	id, err := newID(l.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	owner, ok1 := canonID(l.OwnerUserID)
	camera, ok2 := canonID(l.CameraDeviceID)
	client, ok3 := canonID(l.ClientDeviceID)
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *l
	n.ID, n.OwnerUserID, n.CameraDeviceID, n.ClientDeviceID = id, owner, camera, client
	n.Status = store.LinkActive
	n.CreatedAt = created(l.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	var got string
	err = s.db.Write().QueryRow(ctx, s.q(`INSERT INTO device_links
		(id, owner_user_id, camera_device_id, client_device_id, status, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND deleted_at IS NULL AND (user_id = $2
		       OR EXISTS (SELECT 1 FROM shares WHERE camera_device_id = $3 AND user_id = $2 AND status = 'active' FOR SHARE)) FOR SHARE)
		  AND EXISTS (SELECT 1 FROM devices WHERE id = $4 AND user_id = $2 AND deleted_at IS NULL FOR SHARE)
		RETURNING id`),
		n.ID, n.OwnerUserID, n.CameraDeviceID, n.ClientDeviceID, n.Status, s.t(n.CreatedAt), s.t(n.UpdatedAt)).Scan(&got)
	if err != nil {
		return s.mapErr(op, err)
	}
	*l = n
	return nil
}

// Link implements store.Store.
func (s *Store) Link(ctx context.Context, id string) (store.DeviceLink, error) {
	const op = "link"
	id, ok := canonID(id)
	if !ok {
		return store.DeviceLink{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	l, err := scanLink(s.db.QueryRow(ctx, `SELECT `+linkCols+` FROM device_links WHERE id = $1`, id))
	return l, s.mapErr(op, err)
}

// ListLinks implements store.Store: active and revoked links, newest first.
func (s *Store) ListLinks(ctx context.Context, ownerUserID string, p store.Page) ([]store.DeviceLink, string, error) {
	const op = "list links"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	owner, ok := canonID(ownerUserID)
	if !ok {
		return []store.DeviceLink{}, "", nil
	}
	sql, args := pageQuery(`SELECT `+linkCols+` FROM device_links WHERE owner_user_id = $1`,
		[]any{owner}, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanLink, linkID)
	return items, next, s.mapErr(op, err)
}

// RevokeLink implements store.Store.
func (s *Store) RevokeLink(ctx context.Context, id string) (store.DeviceLink, error) {
	const op = "revoke link"
	id, ok := canonID(id)
	if !ok {
		return store.DeviceLink{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	l, err := scanLink(s.db.Write().QueryRow(ctx, `UPDATE device_links SET status = $2, updated_at = $3
		WHERE id = $1 AND status = $4 RETURNING `+linkCols, id, store.LinkRevoked, s.t(now()), store.LinkActive))
	if errors.Is(err, ErrNoRows) { // already revoked, or absent
		l, err = s.Link(ctx, id)
		if err != nil {
			return store.DeviceLink{}, fmt.Errorf("%s: %w", op, err)
		}
		return l, nil
	}
	return l, s.mapErr(op, err)
}

// LinkedDeviceIDs implements store.Store.
func (s *Store) LinkedDeviceIDs(ctx context.Context, deviceID string) ([]string, error) {
	id, ok := canonID(deviceID)
	if !ok {
		return nil, nil
	}
	ids, err := collect(ctx, s.db, `SELECT client_device_id FROM device_links WHERE camera_device_id = $1 AND status = $2
		UNION SELECT camera_device_id FROM device_links WHERE client_device_id = $1 AND status = $2`,
		[]any{id, store.LinkActive}, func(r Row) (string, error) {
			var id string
			err := r.Scan(&id)
			return id, err
		})
	return ids, s.mapErr("linked device ids", err)
}

// Linked implements store.Store.
func (s *Store) Linked(ctx context.Context, a, b string) (bool, error) {
	a, ok1 := canonID(a)
	b, ok2 := canonID(b)
	if !ok1 || !ok2 {
		return false, nil
	}
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM device_links
		WHERE status = $3 AND ((camera_device_id = $1 AND client_device_id = $2)
		                    OR (camera_device_id = $2 AND client_device_id = $1))`,
		a, b, store.LinkActive).Scan(&n)
	if err != nil {
		return false, s.mapErr("linked", err)
	}
	return n > 0, nil
}
