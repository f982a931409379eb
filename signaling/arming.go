package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// ArmingStore is the part of the store arming and alert preferences use.
type ArmingStore interface {
	Arming(ctx context.Context, userID string) (store.ArmingState, error)
	SetArmingMode(ctx context.Context, c store.ArmingChange) (store.ArmingState, error)
	ClaimArmingSwitches(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ArmingState, error)
	FinishArmingSwitch(ctx context.Context, userID string, switchAt, now time.Time) (store.ArmingState, bool, error)
	NotificationPrefs(ctx context.Context, userID string) (store.NotificationPrefs, error)
	CameraSettings(ctx context.Context, deviceIDs []string) (map[string]store.CameraSettings, error)
	CameraMutes(ctx context.Context, userID string, now time.Time) (map[string]time.Time, error)
	DeviceUsers(ctx context.Context, ids []string) (map[string]string, error)
	AddAuditLog(ctx context.Context, a *store.AuditLog) error
}

// AuditArmingChanged is the audit action of a change of a household's mode, by hand
// (through the API or the socket) or by its schedule.
const AuditArmingChanged = "arming.changed"

// Actor is who asks for a change: a user, and the device it came from (empty for a
// user session without a device, e.g. the browser app).
type Actor struct {
	UserID   string
	DeviceID string
}

func (s *Service) attachArming(h *hub.Hub) {
	h.Handle(wire.TypeArmingSet, s.handleArmingSet)
}

// SetArming changes household's mode by hand for actor, who must be allowed to
// (access.Checker.Household: its owner, or an operator or admin of one of its
// cameras), and tells every device of the household (an arming message). The change
// holds until the schedule's next switch. The caller writes the audit row.
func (s *Service) SetArming(ctx context.Context, household string, actor Actor, req wire.ArmingRequest) (store.ArmingState, error) {
	a, err := s.setArming(ctx, household, actor, req)
	if err == nil {
		s.AnnounceArming(ctx, a)
	}
	return a, err
}

// setArming is SetArming without the announcement.
func (s *Service) setArming(ctx context.Context, household string, actor Actor, req wire.ArmingRequest) (store.ArmingState, error) {
	if err := req.Validate(); err != nil {
		return store.ArmingState{}, err
	}
	if _, err := s.access.Household(ctx, actor.UserID, household, access.Arm); err != nil {
		return store.ArmingState{}, err
	}
	a, err := s.store.SetArmingMode(ctx, store.ArmingChange{UserID: household, Mode: req.Mode,
		ByUserID: actor.UserID, ByDeviceID: actor.DeviceID, At: s.cfg.Now()})
	if err != nil {
		return store.ArmingState{}, err
	}
	s.log.InfoContext(ctx, "arming changed", "user_id", household, "mode", a.Mode, "by_user_id", actor.UserID, "by_device_id", actor.DeviceID)
	return a, nil
}

// AnnounceArming runs Config.OnArming and sends a as an arming message to every
// connected device of its household, and to the devices (not cameras) of every user with an active share of
// one of its cameras. Best effort: a device connected nowhere reads GET /api/v1/arming.
func (s *Service) AnnounceArming(ctx context.Context, a store.ArmingState) {
	if s.cfg.OnArming != nil {
		s.cfg.OnArming(ctx, a)
	}
	data, _ := json.Marshal(wire.FromArming(a))
	env := hub.Envelope{Type: wire.TypeArming, Data: data}
	s.sendToUserDevices(ctx, a.UserID, env, true)
	for _, u := range s.householdInvitees(ctx, a.UserID) {
		s.sendToUserDevices(ctx, u, env, false)
	}
}

// householdInvitees lists the users with an active share of one of owner's cameras,
// each once.
func (s *Service) householdInvitees(ctx context.Context, owner string) []string {
	var users []string
	p := store.Page{Limit: 200}
	for {
		shares, next, err := s.store.ListShares(ctx, store.ShareFilter{OwnerUserID: owner,
			Statuses: []string{store.ShareActive}}, p)
		if err != nil {
			s.log.WarnContext(ctx, "arming: load the household's shares", "user_id", owner, "err", err)
			return users
		}
		for _, sh := range shares {
			if sh.UserID != nil && !slices.Contains(users, *sh.UserID) {
				users = append(users, *sh.UserID)
			}
		}
		if next == "" {
			return users
		}
		p.Cursor = next
	}
}

// sendToUserDevices sends env to every connected device of userID (its cameras too
// when cameras is set).
func (s *Service) sendToUserDevices(ctx context.Context, userID string, env hub.Envelope, cameras bool) {
	p := store.Page{Limit: 200}
	for {
		devices, next, err := s.store.ListDevices(ctx, userID, p)
		if err != nil {
			s.log.WarnContext(ctx, "load the user's devices", "type", env.Type, "user_id", userID, "err", err)
			return
		}
		for _, d := range devices {
			if !cameras && d.Role == store.RoleCamera {
				continue
			}
			if err := s.router.Send(ctx, d.ID, env); err != nil && !errors.Is(err, hub.ErrOffline) {
				s.log.WarnContext(ctx, "send", "type", env.Type, "device_id", d.ID, "err", err)
			}
		}
		if next == "" {
			return
		}
		p.Cursor = next
	}
}

func (s *Service) handleArmingSet(ctx context.Context, c *hub.Client, env hub.Envelope) {
	var req wire.ArmingRequest
	err := wire.DecodeData(env.Data, &req)
	if err == nil {
		err = req.Validate()
	}
	id := c.Identity()
	if err == nil {
		var d store.Device
		if d, err = s.store.Device(ctx, id.DeviceID); err == nil && d.Role == store.RoleCamera {
			err = wire.Errorf(wire.CodeForbidden, "a camera does not arm or disarm")
		}
	}
	if err == nil {
		var a store.ArmingState
		household := req.HouseholdID
		if household == "" {
			household = id.UserID
		}
		if a, err = s.setArming(ctx, household, Actor{UserID: id.UserID, DeviceID: id.DeviceID}, req); err == nil {
			s.auditArming(ctx, a, &id.UserID, &id.DeviceID)
			s.reply(c, env, wire.FromArming(a), nil)
			s.AnnounceArming(ctx, a)
			return
		}
	}
	s.reply(c, env, nil, err)
}

// auditArming records a change of a's mode in its household's audit log, made by the
// user through the device (both nil: by the schedule; a change through a user session
// web audits itself).
func (s *Service) auditArming(ctx context.Context, a store.ArmingState, user, device *string) {
	meta := map[string]string{"mode": a.Mode, "source": a.Source}
	if user != nil {
		meta["by_user_id"] = *user
	}
	raw, _ := json.Marshal(meta)
	target := "arming"
	row := store.AuditLog{OwnerUserID: &a.UserID, ActorDeviceID: device, Action: AuditArmingChanged,
		TargetType: &target, TargetID: &a.UserID, Metadata: raw}
	if err := s.store.AddAuditLog(ctx, &row); err != nil {
		s.log.ErrorContext(ctx, "audit log write failed", "action", AuditArmingChanged, "err", err)
	}
}

// armingLease is how long a claimed scheduled switch is this replica's: if it dies
// before making it, another replica makes it once the lease lapsed.
const armingLease = 30 * time.Second

// sweepArming makes the scheduled switches that are due, on whichever replica claims
// them, and announces each.
func (s *Service) sweepArming(ctx context.Context) {
	now := s.cfg.Now().UTC()
	due, err := s.store.ClaimArmingSwitches(ctx, now, armingLease, 100)
	if err != nil {
		s.log.WarnContext(ctx, "claim arming switches", "err", err)
		return
	}
	for _, c := range due {
		if c.NextSwitchAt == nil {
			continue
		}
		a, done, err := s.store.FinishArmingSwitch(ctx, c.UserID, *c.NextSwitchAt, now)
		if err != nil {
			s.log.WarnContext(ctx, "scheduled arming switch, retrying after the lease", "user_id", c.UserID, "err", err)
			continue
		}
		if !done {
			continue
		}
		s.log.InfoContext(ctx, "arming switched by schedule", "user_id", a.UserID, "mode", a.Mode)
		s.auditArming(ctx, a, nil, nil)
		s.AnnounceArming(ctx, a)
	}
}

// alertPolicy says whether camera is armed now (its household's mode is one it alerts
// in), and its event cooldown. When the store cannot tell, the camera counts as armed
// with the default cooldown: a security system errs on the side of alerting.
func (s *Service) alertPolicy(ctx context.Context, camera store.Device) (armed bool, cooldown time.Duration) {
	cooldown = s.cfg.Events.Cooldown
	settings, err := s.store.CameraSettings(ctx, []string{camera.ID})
	if err != nil {
		s.log.WarnContext(ctx, "camera settings unavailable: alerting as armed", "device_id", camera.ID, "err", err)
		return true, cooldown
	}
	cs := settings[camera.ID]
	if cs.EventCooldown != nil {
		cooldown = *cs.EventCooldown
	}
	a, err := s.store.Arming(ctx, camera.UserID)
	if err != nil {
		s.log.WarnContext(ctx, "arming unavailable: alerting as armed", "device_id", camera.ID, "err", err)
		return true, cooldown
	}
	return cs.AlertsIn(a.Mode), cooldown
}

// alertPrefs is what a user's preferences allow for one alert: muted (no notification,
// no push) or quiet (notification, no push).
type alertPrefs struct{ muted, quiet bool }

// recipientPrefs reads the preferences of users for an alert of camera at at. A user
// whose preferences cannot be read gets the alert.
type recipientPrefs struct {
	s      *Service
	camera string
	at     time.Time
	users  map[string]alertPrefs
}

func (s *Service) recipientPrefs(camera string, at time.Time) *recipientPrefs {
	return &recipientPrefs{s: s, camera: camera, at: at, users: map[string]alertPrefs{}}
}

func (r *recipientPrefs) of(ctx context.Context, userID string) alertPrefs {
	if p, ok := r.users[userID]; ok {
		return p
	}
	var p alertPrefs
	if mutes, err := r.s.store.CameraMutes(ctx, userID, r.at); err != nil {
		r.s.log.WarnContext(ctx, "camera mutes unavailable: not muted", "user_id", userID, "err", err)
	} else {
		_, p.muted = mutes[r.camera]
	}
	if np, err := r.s.store.NotificationPrefs(ctx, userID); err != nil {
		r.s.log.WarnContext(ctx, "notification preferences unavailable: no quiet hours", "user_id", userID, "err", err)
	} else if np.QuietHours != nil {
		loc, err := store.LoadTimeZone(np.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		p.quiet = np.QuietHours.Contains(r.at, loc)
	}
	r.users[userID] = p
	return p
}
