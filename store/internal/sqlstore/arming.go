package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

// ruleJSON is the stored form of an arming rule (user_settings.arming_schedule).
type ruleJSON struct {
	Days   []time.Weekday `json:"days"`
	Minute int            `json:"minute"`
	Mode   string         `json:"mode"`
}

func encodeRules(rules []store.ArmingRule) (string, error) {
	out := make([]ruleJSON, len(rules))
	for i, r := range rules {
		out[i] = ruleJSON(r)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeRules(s string) ([]store.ArmingRule, error) {
	var in []ruleJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode arming schedule: %w", err)
	}
	out := make([]store.ArmingRule, len(in))
	for i, r := range in {
		out[i] = store.ArmingRule(r)
	}
	return out, nil
}

const armingCols = `user_id, arming_mode, arming_source, arming_changed_by_user_id, arming_changed_by_device_id,
	arming_changed_at, time_zone, arming_schedule, arming_next_at, arming_next_mode`

func scanArming(r Row) (store.ArmingState, error) {
	var a store.ArmingState
	var sched string
	if err := r.Scan(&a.UserID, &a.Mode, &a.Source, &a.ChangedByUserID, &a.ChangedByDeviceID,
		timeDst{&a.ChangedAt}, &a.TimeZone, &sched, nullTimeDst{&a.NextSwitchAt}, &a.NextSwitchMode); err != nil {
		return a, err
	}
	rules, err := decodeRules(sched)
	a.Schedule = rules
	return a, err
}

// defaultArming is the arming of a user without a settings row.
func defaultArming(userID string) store.ArmingState {
	return store.ArmingState{UserID: userID, Mode: store.ArmAway, Source: store.ArmSourceManual,
		TimeZone: "UTC", Schedule: []store.ArmingRule{}}
}

// ensureSettings creates the user's settings row if it has none.
func (s *Store) ensureSettings(ctx context.Context, q Querier, userID string, at time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO user_settings (user_id, updated_at) VALUES ($1, $2)
		ON CONFLICT (user_id) DO NOTHING`, userID, s.t(at))
	return err
}

// Arming implements store.Store.
func (s *Store) Arming(ctx context.Context, userID string) (store.ArmingState, error) {
	const op = "arming"
	id, ok := canonID(userID)
	if !ok {
		return defaultArming(userID), nil
	}
	a, err := scanArming(s.db.QueryRow(ctx, `SELECT `+armingCols+` FROM user_settings WHERE user_id = $1`, id))
	if errors.Is(err, ErrNoRows) {
		return defaultArming(id), nil
	}
	return a, s.mapErr(op, err)
}

// SetArmingMode implements store.Store.
func (s *Store) SetArmingMode(ctx context.Context, c store.ArmingChange) (store.ArmingState, error) {
	const op = "set arming mode"
	id, ok := canonID(c.UserID)
	if !ok {
		return store.ArmingState{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if !store.ValidArmMode(c.Mode) {
		return store.ArmingState{}, fmt.Errorf("%s: mode %q", op, c.Mode)
	}
	at := created(c.At)
	var a store.ArmingState
	err := s.db.InTx(ctx, func(q Querier) error {
		if err := s.ensureSettings(ctx, q, id, at); err != nil {
			return err
		}
		var err error
		a, err = scanArming(q.QueryRow(ctx, `UPDATE user_settings SET arming_mode = $2, arming_source = $3,
			arming_changed_by_user_id = $4, arming_changed_by_device_id = $5, arming_changed_at = $6, updated_at = $6
			WHERE user_id = $1 RETURNING `+armingCols,
			id, c.Mode, store.ArmSourceManual, nullID(c.ByUserID), nullID(c.ByDeviceID), s.t(at)))
		return err
	})
	return a, s.mapErr(op, err)
}

// nullID is id in canonical form, or nil when it is empty or not a UUID.
func nullID(id string) any {
	c, ok := canonID(id)
	if !ok {
		return nil
	}
	return c
}

// SetArmingSchedule implements store.Store.
func (s *Store) SetArmingSchedule(ctx context.Context, userID, timeZone string, rules []store.ArmingRule, now time.Time) (store.ArmingState, error) {
	const op = "set arming schedule"
	id, ok := canonID(userID)
	if !ok {
		return store.ArmingState{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if timeZone == "" {
		timeZone = "UTC"
	}
	loc, err := store.LoadTimeZone(timeZone)
	if err != nil {
		return store.ArmingState{}, fmt.Errorf("%s: %w", op, err)
	}
	for _, r := range rules {
		if !store.ValidArmMode(r.Mode) || r.Minute < 0 || r.Minute >= store.MaxMinute {
			return store.ArmingState{}, fmt.Errorf("%s: invalid rule %+v", op, r)
		}
	}
	sched, err := encodeRules(rules)
	if err != nil {
		return store.ArmingState{}, fmt.Errorf("%s: %w", op, err)
	}
	now = stamp(now)
	var next, nextMode any
	if at, mode, ok := store.NextArmingSwitch(rules, loc, now); ok {
		next, nextMode = s.t(at), mode
	}
	var a store.ArmingState
	err = s.db.InTx(ctx, func(q Querier) error {
		if err := s.ensureSettings(ctx, q, id, now); err != nil {
			return err
		}
		var err error
		a, err = scanArming(q.QueryRow(ctx, `UPDATE user_settings SET time_zone = $2, arming_schedule = $3,
			arming_next_at = $4, arming_next_mode = $5, arming_due_at = $4, updated_at = $6
			WHERE user_id = $1 RETURNING `+armingCols, id, timeZone, sched, next, nextMode, s.t(now)))
		return err
	})
	return a, s.mapErr(op, err)
}

// ClaimArmingSwitches implements store.Store, as ClaimCameraOffline claims its checks.
func (s *Store) ClaimArmingSwitches(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ArmingState, error) {
	const op = "claim arming switches"
	if limit <= 0 {
		return nil, nil
	}
	lock, err := s.claimLock(op, lease)
	if err != nil {
		return nil, err
	}
	now = stamp(now)
	as, err := collect(ctx, s.db.Write(), `WITH due AS (
			SELECT user_id FROM user_settings WHERE arming_due_at <= $1
			ORDER BY arming_due_at, user_id LIMIT $2`+lock+`)
		UPDATE user_settings SET arming_due_at = $3
		WHERE user_id IN (SELECT user_id FROM due)
		RETURNING `+armingCols, []any{s.t(now), limit, s.t(now.Add(lease))}, scanArming)
	return as, s.mapErr(op, err)
}

// FinishArmingSwitch implements store.Store.
func (s *Store) FinishArmingSwitch(ctx context.Context, userID string, switchAt, now time.Time) (store.ArmingState, bool, error) {
	const op = "finish arming switch"
	id, ok := canonID(userID)
	if !ok {
		return store.ArmingState{}, false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	now = stamp(now)
	var a store.ArmingState
	done := false
	err := s.db.InTx(ctx, func(q Querier) error {
		var err error
		a, err = scanArming(q.QueryRow(ctx, s.q(`SELECT `+armingCols+` FROM user_settings WHERE user_id = $1 FOR UPDATE`), id))
		if err != nil {
			return err
		}
		if a.NextSwitchAt == nil || !a.NextSwitchAt.Equal(stamp(switchAt)) {
			return nil // replaced or made meanwhile
		}
		loc, err := store.LoadTimeZone(a.TimeZone)
		if err != nil {
			return err
		}
		mode, source, changedAt := a.Mode, a.Source, a.ChangedAt
		if at, m, ok := store.LastArmingSwitch(a.Schedule, loc, now); ok {
			mode, source, changedAt = m, store.ArmSourceSchedule, at
		}
		var next, nextMode any
		if at, m, ok := store.NextArmingSwitch(a.Schedule, loc, now); ok {
			next, nextMode = s.t(at), m
		}
		a, err = scanArming(q.QueryRow(ctx, `UPDATE user_settings SET arming_mode = $2, arming_source = $3,
			arming_changed_by_user_id = NULL, arming_changed_by_device_id = NULL, arming_changed_at = $4,
			arming_next_at = $5, arming_next_mode = $6, arming_due_at = $5, updated_at = $7
			WHERE user_id = $1 RETURNING `+armingCols, id, mode, source, s.t(changedAt), next, nextMode, s.t(now)))
		done = err == nil
		return err
	})
	if err != nil {
		return store.ArmingState{}, false, s.mapErr(op, err)
	}
	return a, done, nil
}

// NotificationPrefs implements store.Store.
func (s *Store) NotificationPrefs(ctx context.Context, userID string) (store.NotificationPrefs, error) {
	const op = "notification prefs"
	p := store.NotificationPrefs{UserID: userID, TimeZone: "UTC"}
	id, ok := canonID(userID)
	if !ok {
		return p, nil
	}
	p, err := scanPrefs(s.db.QueryRow(ctx, `SELECT user_id, time_zone, quiet_start, quiet_end FROM user_settings WHERE user_id = $1`, id))
	if errors.Is(err, ErrNoRows) {
		return store.NotificationPrefs{UserID: id, TimeZone: "UTC"}, nil
	}
	return p, s.mapErr(op, err)
}

func scanPrefs(r Row) (store.NotificationPrefs, error) {
	var p store.NotificationPrefs
	var start, end *int
	err := r.Scan(&p.UserID, &p.TimeZone, &start, &end)
	if start != nil && end != nil {
		p.QuietHours = &store.QuietHours{Start: *start, End: *end}
	}
	return p, err
}

// SetQuietHours implements store.Store.
func (s *Store) SetQuietHours(ctx context.Context, userID string, qh *store.QuietHours) (store.NotificationPrefs, error) {
	const op = "set quiet hours"
	id, ok := canonID(userID)
	if !ok {
		return store.NotificationPrefs{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var start, end any
	if qh != nil {
		if qh.Start < 0 || qh.Start >= store.MaxMinute || qh.End < 0 || qh.End >= store.MaxMinute {
			return store.NotificationPrefs{}, fmt.Errorf("%s: invalid quiet hours %+v", op, *qh)
		}
		start, end = qh.Start, qh.End
	}
	at := now()
	var p store.NotificationPrefs
	err := s.db.InTx(ctx, func(q Querier) error {
		if err := s.ensureSettings(ctx, q, id, at); err != nil {
			return err
		}
		var err error
		p, err = scanPrefs(q.QueryRow(ctx, `UPDATE user_settings SET quiet_start = $2, quiet_end = $3, updated_at = $4
			WHERE user_id = $1 RETURNING user_id, time_zone, quiet_start, quiet_end`, id, start, end, s.t(at)))
		return err
	})
	return p, s.mapErr(op, err)
}

// CameraSettings implements store.Store.
func (s *Store) CameraSettings(ctx context.Context, deviceIDs []string) (map[string]store.CameraSettings, error) {
	const op = "camera settings"
	out := make(map[string]store.CameraSettings, len(deviceIDs))
	var ids []any
	var marks []string
	for _, d := range deviceIDs {
		c, ok := canonID(d)
		if !ok {
			continue
		}
		out[c] = store.CameraSettings{DeviceID: c, ArmModes: append([]string(nil), store.DefaultArmModes...)}
		ids = append(ids, c)
		marks = append(marks, fmt.Sprintf("$%d", len(ids)))
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := collect(ctx, s.db, `SELECT device_id, arm_modes, event_cooldown_ms FROM camera_settings
		WHERE device_id IN (`+strings.Join(marks, ", ")+`)`, ids, scanCameraSettings)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, c := range rows {
		out[c.DeviceID] = c
	}
	return out, nil
}

func scanCameraSettings(r Row) (store.CameraSettings, error) {
	var c store.CameraSettings
	var modes string
	var ms *int64
	err := r.Scan(&c.DeviceID, &modes, &ms)
	c.ArmModes = []string{}
	if modes != "" {
		c.ArmModes = strings.Split(modes, ",")
	}
	if ms != nil {
		d := time.Duration(*ms) * time.Millisecond
		c.EventCooldown = &d
	}
	return c, err
}

// UpdateCameraSettings implements store.Store.
func (s *Store) UpdateCameraSettings(ctx context.Context, deviceID string, u store.CameraSettingsUpdate) (store.CameraSettings, error) {
	const op = "update camera settings"
	id, ok := canonID(deviceID)
	if !ok {
		return store.CameraSettings{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	for _, m := range u.ArmModes {
		if m != store.ArmHome && m != store.ArmAway {
			return store.CameraSettings{}, fmt.Errorf("%s: a camera alerts in home or away, not %q", op, m)
		}
	}
	if u.EventCooldown != nil && *u.EventCooldown < 0 {
		return store.CameraSettings{}, fmt.Errorf("%s: negative cooldown", op)
	}
	at := now()
	var c store.CameraSettings
	err := s.db.InTx(ctx, func(q Querier) error {
		var exists int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM devices WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNoRows
		}
		if _, err := q.Exec(ctx, `INSERT INTO camera_settings (device_id, arm_modes, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (device_id) DO NOTHING`, id, strings.Join(store.DefaultArmModes, ","), s.t(at)); err != nil {
			return err
		}
		if u.ArmModes != nil {
			if _, err := q.Exec(ctx, `UPDATE camera_settings SET arm_modes = $2, updated_at = $3 WHERE device_id = $1`,
				id, strings.Join(u.ArmModes, ","), s.t(at)); err != nil {
				return err
			}
		}
		if u.EventCooldown != nil {
			var ms any
			if *u.EventCooldown > 0 {
				ms = u.EventCooldown.Milliseconds()
			}
			if _, err := q.Exec(ctx, `UPDATE camera_settings SET event_cooldown_ms = $2, updated_at = $3 WHERE device_id = $1`,
				id, ms, s.t(at)); err != nil {
				return err
			}
		}
		var err error
		c, err = scanCameraSettings(q.QueryRow(ctx, `SELECT device_id, arm_modes, event_cooldown_ms FROM camera_settings
			WHERE device_id = $1`, id))
		return err
	})
	return c, s.mapErr(op, err)
}

// MuteCamera implements store.Store.
func (s *Store) MuteCamera(ctx context.Context, userID, deviceID string, until time.Time) error {
	const op = "mute camera"
	user, ok1 := canonID(userID)
	dev, ok2 := canonID(deviceID)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `INSERT INTO camera_mutes (user_id, device_id, muted_until)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $2 AND deleted_at IS NULL)
		ON CONFLICT (user_id, device_id) DO UPDATE SET muted_until = excluded.muted_until`,
		user, dev, s.t(stamp(until)))
	if err == nil && n == 0 {
		err = ErrNoRows
	}
	return s.mapErr(op, err)
}

// CameraMutes implements store.Store.
func (s *Store) CameraMutes(ctx context.Context, userID string, at time.Time) (map[string]time.Time, error) {
	const op = "camera mutes"
	out := map[string]time.Time{}
	user, ok := canonID(userID)
	if !ok {
		return out, nil
	}
	type mute struct {
		dev   string
		until time.Time
	}
	ms, err := collect(ctx, s.db, `SELECT device_id, muted_until FROM camera_mutes WHERE user_id = $1 AND muted_until > $2`,
		[]any{user, s.t(at)}, func(r Row) (mute, error) {
			var m mute
			err := r.Scan(&m.dev, timeDst{&m.until})
			return m, err
		})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	for _, m := range ms {
		out[m.dev] = m.until
	}
	return out, nil
}
