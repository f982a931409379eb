package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

const shareCols = `id, invitation_id, owner_user_id, camera_device_id, invitee_email, user_id, role, status,
	invited_by_user_id, expires_at, accepted_at, ended_at, created_at, updated_at`

func scanShare(r Row) (store.Share, error) {
	var sh store.Share
	err := r.Scan(&sh.ID, &sh.InvitationID, &sh.OwnerUserID, &sh.CameraDeviceID, &sh.InviteeEmail, &sh.UserID,
		&sh.Role, &sh.Status, &sh.InvitedByUserID, timeDst{&sh.ExpiresAt}, nullTimeDst{&sh.AcceptedAt},
		nullTimeDst{&sh.EndedAt}, timeDst{&sh.CreatedAt}, timeDst{&sh.UpdatedAt})
	return sh, err
}

func shareID(sh store.Share) string { return sh.ID }

// CreateShares implements store.Store.
func (s *Store) CreateShares(ctx context.Context, shares []store.Share, tokenHash string) error {
	const op = "create shares"
	if len(shares) == 0 {
		return nil
	}
	inv, err := newID(shares[0].InvitationID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	out := make([]store.Share, len(shares))
	err = s.db.InTx(ctx, func(q Querier) error {
		for i, in := range shares {
			id, err := newID(in.ID)
			if err != nil {
				return err
			}
			owner, ok1 := canonID(in.OwnerUserID)
			camera, ok2 := canonID(in.CameraDeviceID)
			by, ok3 := canonID(in.InvitedByUserID)
			if !ok1 || !ok2 || !ok3 {
				return ErrNoRows
			}
			n := in
			n.ID, n.InvitationID, n.OwnerUserID, n.CameraDeviceID, n.InvitedByUserID = id, inv, owner, camera, by
			n.UserID, n.AcceptedAt, n.EndedAt = nil, nil, nil
			n.Status = store.SharePending
			n.ExpiresAt = stamp(in.ExpiresAt)
			n.CreatedAt = created(in.CreatedAt)
			n.UpdatedAt = n.CreatedAt
			var got string
			err = q.QueryRow(ctx, s.q(`INSERT INTO shares (id, invitation_id, owner_user_id, camera_device_id,
					invitee_email, role, status, invited_by_user_id, token_hash, expires_at, created_at, updated_at)
				SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11
				WHERE EXISTS (SELECT 1 FROM devices WHERE id = $4 AND user_id = $3 AND role = $12
				                                      AND deleted_at IS NULL FOR SHARE)
				RETURNING id`),
				n.ID, n.InvitationID, n.OwnerUserID, n.CameraDeviceID, n.InviteeEmail, n.Role, n.Status,
				n.InvitedByUserID, tokenHash, s.t(n.ExpiresAt), s.t(n.CreatedAt), store.RoleCamera).Scan(&got)
			if err != nil {
				return err
			}
			out[i] = n
		}
		return nil
	})
	if err != nil {
		return s.mapErr(op, err)
	}
	copy(shares, out)
	return nil
}

// Share implements store.Store.
func (s *Store) Share(ctx context.Context, id string) (store.Share, error) {
	const op = "share"
	id, ok := canonID(id)
	if !ok {
		return store.Share{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sh, err := scanShare(s.db.QueryRow(ctx, `SELECT `+shareCols+` FROM shares WHERE id = $1`, id))
	return sh, s.mapErr(op, err)
}

// ListShares implements store.Store.
func (s *Store) ListShares(ctx context.Context, f store.ShareFilter, p store.Page) ([]store.Share, string, error) {
	const op = "list shares"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	if f.OwnerUserID == "" && f.UserID == "" && len(f.CameraDeviceIDs) == 0 {
		return nil, "", fmt.Errorf("%s: a filter needs an owner, a user or cameras", op)
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(col string, vals []string) {
		ph := make([]string, len(vals))
		for i, v := range vals {
			ph[i] = arg(v)
		}
		where = append(where, col+" IN ("+strings.Join(ph, ", ")+")")
	}
	if f.OwnerUserID != "" {
		id, ok := canonID(f.OwnerUserID)
		if !ok {
			return []store.Share{}, "", nil
		}
		where = append(where, "owner_user_id = "+arg(id))
	}
	if f.UserID != "" {
		id, ok := canonID(f.UserID)
		if !ok {
			return []store.Share{}, "", nil
		}
		where = append(where, "user_id = "+arg(id))
	}
	if len(f.CameraDeviceIDs) > 0 {
		var ids []string
		for _, c := range f.CameraDeviceIDs {
			if id, ok := canonID(c); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return []store.Share{}, "", nil
		}
		in("camera_device_id", ids)
	}
	if len(f.Statuses) > 0 {
		in("status", f.Statuses)
	}
	sql, args := pageQuery(`SELECT `+shareCols+` FROM shares WHERE `+strings.Join(where, " AND "), args, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanShare, shareID)
	return items, next, s.mapErr(op, err)
}

// ActiveShare implements store.Store.
func (s *Store) ActiveShare(ctx context.Context, cameraDeviceID, userID string) (store.Share, error) {
	const op = "active share"
	camera, ok1 := canonID(cameraDeviceID)
	user, ok2 := canonID(userID)
	if !ok1 || !ok2 {
		return store.Share{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sh, err := scanShare(s.db.QueryRow(ctx, `SELECT `+shareCols+` FROM shares
		WHERE camera_device_id = $1 AND user_id = $2 AND status = $3`, camera, user, store.ShareActive))
	return sh, s.mapErr(op, err)
}

// AcceptShares implements store.Store.
func (s *Store) AcceptShares(ctx context.Context, tokenHash, email, userID string, now time.Time) ([]store.Share, error) {
	const op = "accept shares"
	user, ok := canonID(userID)
	if !ok || tokenHash == "" {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at := stamp(now)
	var out []store.Share
	err := s.db.InTx(ctx, func(q Querier) error {
		pending, err := collect(ctx, q, s.q(`SELECT `+shareCols+` FROM shares
			WHERE token_hash = $1 AND status = $2 AND expires_at > $3 AND lower(invitee_email) = lower($4)
			ORDER BY id FOR UPDATE`), []any{tokenHash, store.SharePending, s.t(at), email}, scanShare)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return ErrNoRows
		}
		for _, sh := range pending {
			sh, err := scanShare(q.QueryRow(ctx, `UPDATE shares
				SET status = $2, user_id = $3, accepted_at = $4, updated_at = $4, token_hash = NULL
				WHERE id = $1
				  AND NOT EXISTS (SELECT 1 FROM devices WHERE id = shares.camera_device_id AND user_id = $3)
				  AND NOT EXISTS (SELECT 1 FROM shares o WHERE o.camera_device_id = shares.camera_device_id
				                                        AND o.user_id = $3 AND o.status = $2)
				RETURNING `+shareCols, sh.ID, store.ShareActive, user, s.t(at)))
			if errors.Is(err, ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, sh)
		}
		if len(out) == 0 {
			return ErrNoRows
		}
		return nil
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// SetShareRole implements store.Store.
func (s *Store) SetShareRole(ctx context.Context, id, role string, at time.Time) (store.Share, error) {
	const op = "set share role"
	id, ok := canonID(id)
	if !ok {
		return store.Share{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	sh, err := scanShare(s.db.Write().QueryRow(ctx, `UPDATE shares SET role = $2, updated_at = $3
		WHERE id = $1 AND status IN ($4, $5) RETURNING `+shareCols,
		id, role, s.t(stamp(at)), store.SharePending, store.ShareActive))
	if errors.Is(err, ErrNoRows) {
		cur, err := s.Share(ctx, id)
		if err != nil {
			return store.Share{}, fmt.Errorf("%s: %w", op, err)
		}
		return cur, fmt.Errorf("%s: share is %s: %w", op, cur.Status, store.ErrConflict)
	}
	return sh, s.mapErr(op, err)
}

// EndShare implements store.Store.
func (s *Store) EndShare(ctx context.Context, id, status string, at time.Time) (store.Share, []store.DeviceLink, error) {
	const op = "end share"
	id, ok := canonID(id)
	if !ok {
		return store.Share{}, nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if status != store.ShareRevoked && status != store.ShareLeft {
		return store.Share{}, nil, fmt.Errorf("%s: status %q is not an end", op, status)
	}
	t := stamp(at)
	var sh store.Share
	var links []store.DeviceLink
	err := s.db.InTx(ctx, func(q Querier) error {
		var err error
		sh, err = scanShare(q.QueryRow(ctx, `UPDATE shares SET status = $2, ended_at = $3, updated_at = $3, token_hash = NULL
			WHERE id = $1 AND status IN ($4, $5) RETURNING `+shareCols,
			id, status, s.t(t), store.SharePending, store.ShareActive))
		if errors.Is(err, ErrNoRows) {
			sh, err = scanShare(q.QueryRow(ctx, `SELECT `+shareCols+` FROM shares WHERE id = $1`, id))
			return err
		}
		if err != nil || sh.UserID == nil {
			return err
		}
		links, err = collect(ctx, q, `UPDATE device_links SET status = $1, updated_at = $2
			WHERE owner_user_id = $3 AND camera_device_id = $4 AND status = $5 RETURNING `+linkCols,
			[]any{store.LinkRevoked, s.t(t), *sh.UserID, sh.CameraDeviceID, store.LinkActive}, scanLink)
		return err
	})
	if err != nil {
		return store.Share{}, nil, s.mapErr(op, err)
	}
	return sh, links, nil
}
