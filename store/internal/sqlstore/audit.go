package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/securecam/securecam/store"
)

const auditCols = `id, owner_user_id, actor_device_id, action, target_type, target_id, metadata, ip_address, created_at`

func scanAudit(r Row) (store.AuditLog, error) {
	var a store.AuditLog
	var meta []byte
	err := r.Scan(&a.ID, &a.OwnerUserID, &a.ActorDeviceID, &a.Action, &a.TargetType, &a.TargetID, &meta,
		&a.IPAddress, timeDst{&a.CreatedAt})
	if len(meta) > 0 {
		a.Metadata = json.RawMessage(meta)
	}
	return a, err
}

func auditID(a store.AuditLog) string { return a.ID }

// optID canonicalises an optional id; ok is false when it is set but not a UUID.
func optID(p *string) (*string, bool) {
	if p == nil {
		return nil, true
	}
	id, ok := canonID(*p)
	return &id, ok
}

// AddAuditLog implements store.Store. A named owner or actor that does not exist is
// ErrNotFound.
func (s *Store) AddAuditLog(ctx context.Context, a *store.AuditLog) error {
	const op = "add audit log"
	id, err := newID(a.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	owner, ok1 := optID(a.OwnerUserID)
	actor, ok2 := optID(a.ActorDeviceID)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var meta any
	if len(a.Metadata) > 0 {
		if !json.Valid(a.Metadata) {
			return fmt.Errorf("%s: metadata is not valid JSON", op)
		}
		meta = string(a.Metadata)
	}
	n := *a
	n.ID, n.OwnerUserID, n.ActorDeviceID = id, owner, actor
	n.CreatedAt = created(a.CreatedAt)
	_, err = s.db.Write().Exec(ctx, `INSERT INTO audit_logs
		(id, owner_user_id, actor_device_id, action, target_type, target_id, metadata, ip_address, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		n.ID, n.OwnerUserID, n.ActorDeviceID, n.Action, n.TargetType, n.TargetID, meta, n.IPAddress, s.t(n.CreatedAt))
	if err != nil {
		return s.mapErr(op, err)
	}
	*a = n
	return nil
}

// ListAuditLogs implements store.Store.
func (s *Store) ListAuditLogs(ctx context.Context, ownerUserID string, p store.Page) ([]store.AuditLog, string, error) {
	const op = "list audit logs"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	owner, ok := canonID(ownerUserID)
	if !ok {
		return []store.AuditLog{}, "", nil
	}
	sql, args := pageQuery(`SELECT `+auditCols+` FROM audit_logs WHERE owner_user_id = $1`,
		[]any{owner}, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanAudit, auditID)
	return items, next, s.mapErr(op, err)
}
