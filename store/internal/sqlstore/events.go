package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/securecam/securecam/store"
)

const eventCols = `id, user_id, device_id, title, triggered_by, status, COALESCE(started_at, created_at),
	ended_at, notified_at, video_url, armed, created_at, updated_at`

func scanEvent(r Row) (store.Event, error) {
	var e store.Event
	var dev *string
	armed := true
	err := r.Scan(&e.ID, &e.UserID, &dev, &e.Title, &e.TriggeredBy, &e.Status, timeDst{&e.StartedAt},
		nullTimeDst{&e.EndedAt}, nullTimeDst{&e.NotifiedAt}, &e.VideoURL, &armed, timeDst{&e.CreatedAt}, timeDst{&e.UpdatedAt})
	if dev != nil {
		e.DeviceID = *dev
	}
	e.Disarmed = !armed
	return e, err
}

func eventID(e store.Event) string { return e.ID }

// CreateEvent implements store.Store.
func (s *Store) CreateEvent(ctx context.Context, e *store.Event) error {
	const op = "create event"
	id, err := newID(e.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	user, ok1 := canonID(e.UserID)
	dev, ok2 := canonID(e.DeviceID)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *e
	n.ID, n.UserID, n.DeviceID = id, user, dev
	if n.Status == "" {
		n.Status = store.EventActive
	}
	n.CreatedAt = created(e.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	if n.StartedAt.IsZero() {
		n.StartedAt = n.CreatedAt
	}
	n.StartedAt = stamp(n.StartedAt)
	n.EndedAt, n.NotifiedAt, n.VideoURL = nil, nil, nil
	if n.Status == store.EventEnded {
		t := n.StartedAt
		n.EndedAt = &t
	}
	var got string
	err = s.db.Write().QueryRow(ctx, `INSERT INTO events
		(id, user_id, device_id, title, triggered_by, status, started_at, ended_at, created_at, updated_at, armed)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND user_id = $2 AND deleted_at IS NULL)
		RETURNING id`,
		n.ID, n.UserID, n.DeviceID, n.Title, n.TriggeredBy, n.Status, s.t(n.StartedAt), s.nt(n.EndedAt),
		s.t(n.CreatedAt), !n.Disarmed).Scan(&got)
	if err != nil {
		return s.mapErr(op, err)
	}
	*e = n
	return nil
}

// Event implements store.Store.
func (s *Store) Event(ctx context.Context, id string) (store.Event, error) {
	const op = "event"
	id, ok := canonID(id)
	if !ok {
		return store.Event{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	e, err := scanEvent(s.db.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	return e, s.mapErr(op, err)
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, userID string, f store.EventFilter, p store.Page) ([]store.Event, string, error) {
	const op = "list events"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	user, ok := canonID(userID)
	if !ok {
		return []store.Event{}, "", nil
	}
	base := `SELECT ` + eventCols + ` FROM events WHERE user_id = $1`
	args := []any{user}
	if f.DeviceID != "" {
		dev, ok := canonID(f.DeviceID)
		if !ok {
			return []store.Event{}, "", nil
		}
		args = append(args, dev)
		base += fmt.Sprintf(` AND device_id = $%d`, len(args))
	}
	if !f.Since.IsZero() {
		args = append(args, s.t(f.Since))
		base += fmt.Sprintf(` AND COALESCE(started_at, created_at) >= $%d`, len(args))
	}
	sql, args := pageQuery(base, args, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanEvent, eventID)
	return items, next, s.mapErr(op, err)
}

// EndEvent implements store.Store.
func (s *Store) EndEvent(ctx context.Context, id string, endedAt time.Time) (store.Event, error) {
	const op = "end event"
	id, ok := canonID(id)
	if !ok {
		return store.Event{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	e, err := scanEvent(s.db.Write().QueryRow(ctx, `UPDATE events SET status = $2, ended_at = $3, updated_at = $3
		WHERE id = $1 AND status <> $2 RETURNING `+eventCols, id, store.EventEnded, s.t(endedAt)))
	if errors.Is(err, ErrNoRows) {
		e, err = s.Event(ctx, id) // already ended, or missing
		if err != nil {
			return store.Event{}, fmt.Errorf("%s: %w", op, err)
		}
		return e, nil
	}
	return e, s.mapErr(op, err)
}

// ClaimEventNotification implements store.Store. A lock on the device serialises the
// claims of its events (PostgreSQL: an advisory transaction lock; SQLite: the single
// writer), so the cooldown check and the update are one step.
func (s *Store) ClaimEventNotification(ctx context.Context, id string, at time.Time, cooldown time.Duration) (bool, error) {
	const op = "claim event notification"
	id, ok := canonID(id)
	if !ok {
		return false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	claimed := false
	err := s.db.InTx(ctx, func(q Querier) error {
		e, err := scanEvent(q.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
		if err != nil {
			return err
		}
		if e.NotifiedAt != nil {
			return nil
		}
		if err := s.lockKey(ctx, q, "event_notify:"+e.DeviceID); err != nil {
			return err
		}
		var recent int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM events
			WHERE device_id = $1 AND triggered_by = $2 AND notified_at > $3 AND id <> $4`,
			nullIfEmpty(e.DeviceID), e.TriggeredBy, s.t(at.Add(-cooldown)), id).Scan(&recent); err != nil {
			return err
		}
		if recent > 0 {
			return nil
		}
		n, err := q.Exec(ctx, `UPDATE events SET notified_at = $2, updated_at = $2
			WHERE id = $1 AND notified_at IS NULL`, id, s.t(at))
		claimed = n == 1
		return err
	})
	return claimed, s.mapErr(op, err)
}

// SetEventVideoURL implements store.Store.
func (s *Store) SetEventVideoURL(ctx context.Context, id, url string) error {
	const op = "set event video url"
	id, ok := canonID(id)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE events SET video_url = $2, updated_at = $3 WHERE id = $1`,
		id, url, s.t(now()))
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Notifications.

const notificationCols = `id, event_id, user_id, sent_at, channel, status, COALESCE(is_read, false)`

func scanNotification(r Row) (store.Notification, error) {
	var n store.Notification
	err := r.Scan(&n.ID, &n.EventID, &n.UserID, nullTimeDst{&n.SentAt}, &n.Channel, &n.Status, &n.IsRead)
	return n, err
}

func notificationID(n store.Notification) string { return n.ID }

// CreateNotification implements store.Store.
func (s *Store) CreateNotification(ctx context.Context, n *store.Notification) error {
	const op = "create notification"
	id, err := newID(n.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	user, ok1 := canonID(n.UserID)
	event, ok2 := optID(n.EventID)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	c := *n
	c.ID, c.UserID, c.EventID = id, user, event
	if c.SentAt != nil {
		t := stamp(*c.SentAt)
		c.SentAt = &t
	}
	_, err = s.db.Write().Exec(ctx, `INSERT INTO notifications (id, event_id, user_id, sent_at, channel, status, is_read)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.EventID, c.UserID, s.nt(c.SentAt), c.Channel, c.Status, c.IsRead)
	if err != nil {
		return s.mapErr(op, err)
	}
	*n = c
	return nil
}

// ListNotifications implements store.Store.
func (s *Store) ListNotifications(ctx context.Context, userID string, unreadOnly bool, p store.Page) ([]store.Notification, string, error) {
	const op = "list notifications"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	user, ok := canonID(userID)
	if !ok {
		return []store.Notification{}, "", nil
	}
	base := `SELECT ` + notificationCols + ` FROM notifications WHERE user_id = $1`
	if unreadOnly {
		base += ` AND NOT is_read`
	}
	sql, args := pageQuery(base, []any{user}, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanNotification, notificationID)
	return items, next, s.mapErr(op, err)
}

// MarkNotificationRead implements store.Store.
func (s *Store) MarkNotificationRead(ctx context.Context, id, userID string) error {
	const op = "mark notification read"
	id, ok1 := canonID(id)
	user, ok2 := canonID(userID)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE notifications SET is_read = true WHERE id = $1 AND user_id = $2`, id, user)
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}
