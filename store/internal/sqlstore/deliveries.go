package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/securecam/securecam/store"
)

const deliveryCols = `id, owner_user_id, recipient_device_id, type, payload, status, COALESCE(attempts, 0),
	last_error, sent_at, COALESCE(next_attempt_at, created_at), COALESCE(expires_at, created_at), claimed_by,
	created_at, updated_at`

func scanDelivery(r Row) (store.Delivery, error) {
	var d store.Delivery
	var payload []byte
	err := r.Scan(&d.ID, &d.OwnerUserID, &d.RecipientDeviceID, &d.Type, &payload, &d.Status, &d.Attempts,
		&d.LastError, nullTimeDst{&d.SentAt}, timeDst{&d.NextAttemptAt}, timeDst{&d.ExpiresAt}, &d.ClaimedBy,
		timeDst{&d.CreatedAt}, timeDst{&d.UpdatedAt})
	if len(payload) > 0 {
		d.Payload = json.RawMessage(payload)
	}
	return d, err
}

func deliveryID(d store.Delivery) string { return d.ID }

// EnqueueDelivery implements store.Store. With a dedupe window, a lock on the recipient
// and type serialises enqueuers, so the check and the insert are one step.
func (s *Store) EnqueueDelivery(ctx context.Context, d *store.Delivery, dedupe time.Duration) (bool, error) {
	const op = "enqueue delivery"
	if d.ExpiresAt.IsZero() {
		return false, fmt.Errorf("%s: expires_at is required", op)
	}
	if len(d.Payload) == 0 || !json.Valid(d.Payload) {
		return false, fmt.Errorf("%s: payload is not valid JSON", op)
	}
	id, err := newID(d.ID)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	owner, ok1 := canonID(d.OwnerUserID)
	recipient, ok2 := canonID(d.RecipientDeviceID)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *d
	n.ID, n.OwnerUserID, n.RecipientDeviceID = id, owner, recipient
	n.Status = store.DeliveryPending
	n.Attempts = 0
	n.LastError, n.SentAt, n.ClaimedBy = nil, nil, nil
	n.CreatedAt = created(d.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	n.NextAttemptAt = stamp(n.NextAttemptAt)
	n.ExpiresAt = stamp(n.ExpiresAt)

	inserted := false
	err = s.db.InTx(ctx, func(q Querier) error {
		if dedupe > 0 {
			if err := s.lockKey(ctx, q, "delivery:"+n.Type+":"+n.RecipientDeviceID); err != nil {
				return err
			}
			var recent int
			if err := q.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries
				WHERE recipient_device_id = $1 AND type = $2 AND created_at > $3`,
				n.RecipientDeviceID, n.Type, s.t(n.CreatedAt.Add(-dedupe))).Scan(&recent); err != nil {
				return err
			}
			if recent > 0 {
				return nil
			}
		}
		var got string
		err := q.QueryRow(ctx, `INSERT INTO notification_deliveries
			(id, owner_user_id, recipient_device_id, type, payload, status, attempts, next_attempt_at,
			 expires_at, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $9
			WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND user_id = $2 AND deleted_at IS NULL)
			RETURNING id`,
			n.ID, n.OwnerUserID, n.RecipientDeviceID, n.Type, string(n.Payload), n.Status,
			s.t(n.NextAttemptAt), s.t(n.ExpiresAt), s.t(n.CreatedAt)).Scan(&got)
		inserted = err == nil
		return err
	})
	if err != nil {
		return false, s.mapErr(op, err) // ErrNoRows: the recipient is not the owner's
	}
	if inserted {
		*d = n
	}
	return inserted, nil
}

// Delivery implements store.Store.
func (s *Store) Delivery(ctx context.Context, id string) (store.Delivery, error) {
	const op = "delivery"
	id, ok := canonID(id)
	if !ok {
		return store.Delivery{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	d, err := scanDelivery(s.db.QueryRow(ctx, `SELECT `+deliveryCols+` FROM notification_deliveries WHERE id = $1`, id))
	return d, s.mapErr(op, err)
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, recipientDeviceID string, p store.Page) ([]store.Delivery, string, error) {
	const op = "list deliveries"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	dev, ok := canonID(recipientDeviceID)
	if !ok {
		return []store.Delivery{}, "", nil
	}
	sql, args := pageQuery(`SELECT `+deliveryCols+` FROM notification_deliveries WHERE recipient_device_id = $1`,
		[]any{dev}, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanDelivery, deliveryID)
	return items, next, s.mapErr(op, err)
}

// ClaimDeliveries implements store.Store.
//
// One statement picks the due jobs and leases them. On PostgreSQL the pick locks its
// rows FOR UPDATE SKIP LOCKED, so concurrent claimers take disjoint jobs without
// waiting for each other, and a row another claimer just leased no longer matches
// (its next_attempt_at moved forward) when it is re-checked. SQLite runs the
// statement on its single writer.
func (s *Store) ClaimDeliveries(ctx context.Context, worker string, at time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	const op = "claim deliveries"
	if limit <= 0 {
		return nil, nil
	}
	lock, err := s.claimLock(op, lease)
	if err != nil {
		return nil, err
	}
	at = stamp(at)
	ds, err := collect(ctx, s.db.Write(), `WITH due AS (
			SELECT id FROM notification_deliveries
			WHERE status IN ($1, $2) AND next_attempt_at <= $3
			ORDER BY next_attempt_at, id LIMIT $4`+lock+`)
		UPDATE notification_deliveries
		SET status = $2, attempts = COALESCE(attempts, 0) + 1, claimed_by = $5, claimed_until = $6,
			next_attempt_at = $6, updated_at = $3
		WHERE id IN (SELECT id FROM due)
		RETURNING `+deliveryCols,
		[]any{store.DeliveryPending, store.DeliverySending, s.t(at), limit, worker, s.t(at.Add(lease))}, scanDelivery)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	slices.SortFunc(ds, func(a, b store.Delivery) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ds, nil
}

// FinishDelivery implements store.Store.
func (s *Store) FinishDelivery(ctx context.Context, id, worker string, attempt int, o store.DeliveryOutcome) (store.Delivery, error) {
	const op = "finish delivery"
	id, ok := canonID(id)
	if !ok {
		return store.Delivery{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at := stamp(o.At)
	if o.At.IsZero() {
		at = now()
	}
	next := at
	var sentAt *time.Time
	switch o.Status {
	case store.DeliverySent:
		sentAt = &at
	case store.DeliveryPending:
		if o.RetryAt.IsZero() {
			return store.Delivery{}, fmt.Errorf("%s: a retry needs a time", op)
		}
		next = stamp(o.RetryAt)
	case store.DeliveryFailed, store.DeliveryExpired:
	default:
		return store.Delivery{}, fmt.Errorf("%s: status %q is not an outcome", op, o.Status)
	}
	d, err := scanDelivery(s.db.Write().QueryRow(ctx, `UPDATE notification_deliveries
		SET status = $4, last_error = $5, sent_at = $6, next_attempt_at = $7, claimed_by = NULL,
			claimed_until = NULL, updated_at = $8
		WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = $9
		RETURNING `+deliveryCols,
		id, worker, attempt, o.Status, o.Error, s.nt(sentAt), s.t(next), s.t(at), store.DeliverySending))
	if errors.Is(err, ErrNoRows) {
		if _, err := s.Delivery(ctx, id); err != nil {
			return store.Delivery{}, fmt.Errorf("%s: %w", op, err)
		}
		return store.Delivery{}, fmt.Errorf("%s: the claim is no longer current: %w", op, store.ErrConflict)
	}
	return d, s.mapErr(op, err)
}
