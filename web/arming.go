package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Arming changes a household's mode and announces arming changes to its devices;
// signaling.Service implements it.
type Arming interface {
	SetArming(ctx context.Context, household string, actor signaling.Actor, req wire.ArmingRequest) (store.ArmingState, error)
	AnnounceArming(ctx context.Context, a store.ArmingState)
}

// Audit actions of arming and alert settings (a change of mode is
// signaling.AuditArmingChanged, whichever way it came in).
const (
	AuditArmingScheduleChanged = "arming.schedule_changed"
	AuditQuietHoursChanged     = "notification_preferences.changed"
	AuditCameraAlertsChanged   = "device.alerts_changed"
)

var errNoArming = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "arming is not served here"}

// actor is who the request acts for: its user, and its device when it came with a
// device token.
func actor(p *principal) signaling.Actor {
	a := signaling.Actor{UserID: p.userID}
	if p.device != nil {
		a.DeviceID = p.device.ID
	}
	return a
}

// household is the household a request names (?household=<owner's user id>, or the
// body's household_id), the caller's own when it names none.
func household(r *http.Request, body string) (string, error) {
	q := r.URL.Query().Get("household")
	if q != "" && !wire.ValidID(q) {
		return "", wire.Errorf(wire.CodeBadRequest, "household is not a valid id")
	}
	if q != "" && body != "" && q != body {
		return "", wire.Errorf(wire.CodeBadRequest, "household and household_id differ")
	}
	if q == "" {
		q = body
	}
	if q == "" {
		q = principalFrom(r.Context()).userID
	}
	return q, nil
}

// GET /arming[?household=]: the caller's household, or one whose camera is shared
// with the caller (any role).
func (s *Server) handleGetArming(w http.ResponseWriter, r *http.Request) error {
	h, err := household(r, "")
	if err != nil {
		return err
	}
	if _, err := s.access.Household(r.Context(), principalFrom(r.Context()).userID, h, access.View); err != nil {
		return err
	}
	a, err := s.store.Arming(r.Context(), h)
	if err != nil {
		return fmt.Errorf("arming: %w", err)
	}
	writeJSON(w, http.StatusOK, wire.FromArming(a))
	return nil
}

// PUT /arming[?household=] {mode, household_id}: a manual change, held until the
// schedule's next switch, of the caller's household or (as an operator or admin of
// one of its cameras) another's. A camera's device token may not arm.
func (s *Server) handleSetArming(w http.ResponseWriter, r *http.Request) error {
	if s.arming == nil {
		return errNoArming
	}
	var in wire.ArmingRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	if p.device != nil && p.device.Role == store.RoleCamera {
		return errForbidden("a camera does not arm or disarm")
	}
	h, err := household(r, in.HouseholdID)
	if err != nil {
		return err
	}
	a, err := s.arming.SetArming(r.Context(), h, actor(p), in)
	if err != nil {
		return err
	}
	s.audit(r, h, signaling.AuditArmingChanged, "arming", h, map[string]any{"mode": a.Mode, "source": a.Source, "by_user_id": p.userID})
	writeJSON(w, http.StatusOK, wire.FromArming(a))
	return nil
}

// PUT /arming/schedule {time_zone, rules}: replaces the weekly schedule (and the
// account's time zone) of the caller's own household; the mode changes at the next
// switch.
func (s *Server) handleSetArmingSchedule(w http.ResponseWriter, r *http.Request) error {
	if s.arming == nil {
		return errNoArming
	}
	var in wire.ArmingSchedule
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	rules, err := in.Store()
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	if p.device != nil && p.device.Role == store.RoleCamera {
		return errForbidden("a camera does not arm or disarm")
	}
	a, err := s.store.SetArmingSchedule(r.Context(), p.userID, in.TimeZone, rules, s.now())
	if err != nil {
		return fmt.Errorf("set arming schedule: %w", err)
	}
	s.audit(r, p.userID, AuditArmingScheduleChanged, "arming", p.userID, map[string]any{"time_zone": a.TimeZone, "rules": len(rules)})
	s.arming.AnnounceArming(r.Context(), a)
	writeJSON(w, http.StatusOK, wire.FromArming(a))
	return nil
}

// GET /notification-preferences
func (s *Server) handleGetNotificationPrefs(w http.ResponseWriter, r *http.Request) error {
	np, err := s.store.NotificationPrefs(r.Context(), principalFrom(r.Context()).userID)
	if err != nil {
		return fmt.Errorf("notification preferences: %w", err)
	}
	writeJSON(w, http.StatusOK, wire.FromNotificationPrefs(np))
	return nil
}

// notificationPrefsRequest is the body of PUT /notification-preferences: quiet_hours
// null (or absent) clears them.
type notificationPrefsRequest struct {
	QuietHours *wire.QuietHours `json:"quiet_hours"`
}

// PUT /notification-preferences {quiet_hours}
func (s *Server) handleSetNotificationPrefs(w http.ResponseWriter, r *http.Request) error {
	var in notificationPrefsRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	var q *store.QuietHours
	if in.QuietHours != nil {
		sq, err := in.QuietHours.Store()
		if err != nil {
			return err
		}
		q = &sq
	}
	p := principalFrom(r.Context())
	np, err := s.store.SetQuietHours(r.Context(), p.userID, q)
	if err != nil {
		return fmt.Errorf("set quiet hours: %w", err)
	}
	out := wire.FromNotificationPrefs(np)
	s.audit(r, p.userID, AuditQuietHoursChanged, "user", p.userID, map[string]any{"quiet_hours": out.QuietHours != nil})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cameraAlerts fills the alert settings of the cameras among devices, and the mutes
// of user.
func (s *Server) cameraAlerts(ctx context.Context, userID string, devices []wire.Device) error {
	var ids []string
	for _, d := range devices {
		if d.Role == store.RoleCamera {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	settings, err := s.store.CameraSettings(ctx, ids)
	if err != nil {
		return fmt.Errorf("camera settings: %w", err)
	}
	mutes, err := s.store.CameraMutes(ctx, userID, s.now())
	if err != nil {
		return fmt.Errorf("camera mutes: %w", err)
	}
	for i, d := range devices {
		c, ok := settings[d.ID]
		if !ok {
			continue
		}
		devices[i].ArmModes = c.ArmModes
		if devices[i].ArmModes == nil {
			devices[i].ArmModes = []string{}
		}
		if c.EventCooldown != nil {
			sec := int(c.EventCooldown.Seconds())
			devices[i].EventCooldownSeconds = &sec
		}
		if until, ok := mutes[d.ID]; ok {
			devices[i].MutedUntil = &until
		}
	}
	return nil
}

// cameraAlertsUpdate is the part of PATCH /devices/{id} about a camera's alerts.
type cameraAlertsUpdate struct {
	ArmModes             []string `json:"arm_modes"`
	EventCooldownSeconds *int     `json:"event_cooldown_seconds"`
	// MutedUntil mutes the camera for the caller until then; a time in the past (or
	// now) unmutes it.
	MutedUntil *time.Time `json:"muted_until"`
}

// maxArmModes bounds the arm_modes of a request (repeats count once).
const maxArmModes = 8

func (u cameraAlertsUpdate) empty() bool {
	return u.ArmModes == nil && u.EventCooldownSeconds == nil && u.MutedUntil == nil
}

func (u cameraAlertsUpdate) check(now time.Time) (store.CameraSettingsUpdate, error) {
	var out store.CameraSettingsUpdate
	if len(u.ArmModes) > maxArmModes {
		return out, errBadRequest("arm_modes has at most %d entries", maxArmModes)
	}
	if u.ArmModes != nil {
		out.ArmModes = []string{}
		for _, m := range u.ArmModes {
			if m != store.ArmHome && m != store.ArmAway {
				return out, errBadRequest("arm_modes may hold home and away (a camera never alerts while disarmed), not %q", m)
			}
			if !slices.Contains(out.ArmModes, m) {
				out.ArmModes = append(out.ArmModes, m)
			}
		}
	}
	if u.EventCooldownSeconds != nil {
		sec := *u.EventCooldownSeconds
		if sec < 0 || time.Duration(sec)*time.Second > wire.MaxEventCooldown {
			return out, errBadRequest("event_cooldown_seconds must be 0 (the hub's default) to %d", int(wire.MaxEventCooldown.Seconds()))
		}
		d := time.Duration(sec) * time.Second
		out.EventCooldown = &d
	}
	if u.MutedUntil != nil && u.MutedUntil.After(now.Add(wire.MaxMute)) {
		return out, errBadRequest("muted_until is more than a year ahead")
	}
	return out, nil
}

// updateCameraAlerts applies u to the camera d for the user, and audits it.
func (s *Server) updateCameraAlerts(r *http.Request, userID string, d store.Device, u cameraAlertsUpdate) error {
	if d.Role != store.RoleCamera {
		return errBadRequest("arm_modes, event_cooldown_seconds and muted_until are settings of a camera")
	}
	now := s.now()
	su, err := u.check(now)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if su.ArmModes != nil || su.EventCooldown != nil {
		if _, err := s.store.UpdateCameraSettings(ctx, d.ID, su); err != nil {
			return fmt.Errorf("update camera settings: %w", err)
		}
	}
	if u.MutedUntil != nil {
		if err := s.store.MuteCamera(ctx, userID, d.ID, *u.MutedUntil); err != nil {
			return fmt.Errorf("mute camera: %w", err)
		}
	}
	meta := map[string]any{}
	if su.ArmModes != nil {
		meta["arm_modes"] = su.ArmModes
	}
	if u.EventCooldownSeconds != nil {
		meta["event_cooldown_seconds"] = *u.EventCooldownSeconds
	}
	if u.MutedUntil != nil {
		meta["muted_until"] = u.MutedUntil.UTC().Format(time.RFC3339)
	}
	s.audit(r, userID, AuditCameraAlertsChanged, "device", d.ID, meta)
	return nil
}
