package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Arming modes of a household (the owner's account) and how the mode was last set.
const (
	ArmDisarmed = "disarmed"
	ArmHome     = "home"
	ArmAway     = "away"

	ArmSourceManual   = "manual"
	ArmSourceSchedule = "schedule"
)

// DefaultArmModes are the modes a camera alerts in until its owner says otherwise.
var DefaultArmModes = []string{ArmAway}

// ValidArmMode reports whether m is an arming mode.
func ValidArmMode(m string) bool { return m == ArmDisarmed || m == ArmHome || m == ArmAway }

// ArmingRule is one switch of a weekly schedule: on each of Days, at Minute minutes
// after local midnight (in the account's time zone), the household switches to Mode.
//
// A switch whose local time does not exist that day (clocks spring forward over it)
// happens at the first instant after the gap; a switch whose local time happens twice
// (clocks fall back) happens at its first occurrence only.
type ArmingRule struct {
	Days   []time.Weekday
	Minute int
	Mode   string
}

// ArmingState is a household's arming: the mode and who set it, its weekly schedule,
// and the next switch that schedule will make. A household that never set a mode is
// away (source manual, ChangedAt zero): every camera alerts, as before arming existed.
type ArmingState struct {
	UserID string
	Mode   string
	// Source is ArmSourceManual or ArmSourceSchedule.
	Source            string
	ChangedByUserID   *string
	ChangedByDeviceID *string
	ChangedAt         time.Time
	TimeZone          string
	Schedule          []ArmingRule
	// NextSwitchAt and NextSwitchMode: the schedule's next switch, nil without one. A
	// manual change holds until then.
	NextSwitchAt   *time.Time
	NextSwitchMode *string
}

// ArmingChange is a manual change of a household's mode, by a user (and the device it
// came from, when a device did it).
type ArmingChange struct {
	UserID     string
	Mode       string
	ByUserID   string
	ByDeviceID string
	At         time.Time
}

// QuietHours is the daily window, in the user's time zone, in which the user gets no
// pushes (notifications are still listed). Start and End are minutes after local
// midnight; an End before Start spans midnight; equal means all day.
type QuietHours struct {
	Start, End int
}

// Contains reports whether the local time of t falls in the window.
func (q QuietHours) Contains(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	m := l.Hour()*60 + l.Minute()
	switch {
	case q.Start == q.End:
		return true
	case q.Start < q.End:
		return m >= q.Start && m < q.End
	default:
		return m >= q.Start || m < q.End
	}
}

// NotificationPrefs is a user's notification settings: the account's time zone and
// the quiet hours (nil: none).
type NotificationPrefs struct {
	UserID     string
	TimeZone   string
	QuietHours *QuietHours
}

// CameraSettings is a camera's alert settings: the arming modes it alerts in and its
// event cooldown (nil: the hub's default).
type CameraSettings struct {
	DeviceID      string
	ArmModes      []string
	EventCooldown *time.Duration
}

// AlertsIn reports whether the camera alerts when its household is in mode.
func (c CameraSettings) AlertsIn(mode string) bool {
	return mode != ArmDisarmed && slices.Contains(c.ArmModes, mode)
}

// CameraSettingsUpdate changes the fields that are non-nil. A zero EventCooldown
// returns to the hub's default.
type CameraSettingsUpdate struct {
	ArmModes      []string
	EventCooldown *time.Duration
}

// MaxMinute bounds the minute of a day.
const MaxMinute = 24 * 60

// LoadTimeZone loads an IANA time zone by name; "" is UTC.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// localSwitch is the instant of the local time minute on the local date y-m-d in loc,
// by the rules of [ArmingRule]: the end of a gap the local time falls in, and the first
// of two instants with that local time.
func localSwitch(y int, mo time.Month, d, minute int, loc *time.Location) time.Time {
	h, mi := minute/60, minute%60
	t := time.Date(y, mo, d, h, mi, 0, 0, loc)
	if t.Hour() != h || t.Minute() != mi {
		// The local time does not exist: t is on one side of the gap. The switch is at
		// the gap's end, the start of the zone after it.
		start, end := t.ZoneBounds()
		if t.Hour()*60+t.Minute() < minute || t.Day() != d {
			return end
		}
		return start
	}
	// Two instants may show this local time; take the earlier.
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute, 2 * time.Hour} {
		e := t.Add(-back)
		if e.Hour() == h && e.Minute() == mi && e.Day() == d {
			return e
		}
	}
	return t
}

// armSwitch is one switch of a schedule at an instant.
type armSwitch struct {
	at   time.Time
	mode string
}

// scheduleSwitches lists the schedule's switches whose local date is from a week
// before from's through days after it, in time order.
func scheduleSwitches(rules []ArmingRule, loc *time.Location, from time.Time, days int) []armSwitch {
	l := from.In(loc)
	var out []armSwitch
	for i := -8; i <= days; i++ {
		day := time.Date(l.Year(), l.Month(), l.Day()+i, 12, 0, 0, 0, loc)
		for _, r := range rules {
			if !slices.Contains(r.Days, day.Weekday()) {
				continue
			}
			out = append(out, armSwitch{localSwitch(day.Year(), day.Month(), day.Day(), r.Minute, loc), r.Mode})
		}
	}
	slices.SortStableFunc(out, func(a, b armSwitch) int { return a.at.Compare(b.at) })
	return out
}

// NextArmingSwitch is the schedule's first switch strictly after t, in the time zone
// loc; ok false when the schedule has none.
func NextArmingSwitch(rules []ArmingRule, loc *time.Location, t time.Time) (at time.Time, mode string, ok bool) {
	for _, s := range scheduleSwitches(rules, loc, t, 8) {
		if s.at.After(t) {
			return s.at.UTC(), s.mode, true
		}
	}
	return time.Time{}, "", false
}

// LastArmingSwitch is the schedule's last switch at or before t (within the past
// week), ok false when it has none.
func LastArmingSwitch(rules []ArmingRule, loc *time.Location, t time.Time) (at time.Time, mode string, ok bool) {
	sw := scheduleSwitches(rules, loc, t, 1)
	for i := len(sw) - 1; i >= 0; i-- {
		if !sw[i].at.After(t) {
			return sw[i].at.UTC(), sw[i].mode, true
		}
	}
	return time.Time{}, "", false
}

// ArmingStore is the persistence of arming, schedules and notification settings. It
// is part of [Store].
type ArmingStore interface {
	// Arming returns the household's arming; one that never set a mode is away.
	Arming(ctx context.Context, userID string) (ArmingState, error)
	// SetArmingMode records a manual change of mode. The schedule and its next switch
	// stay: the change holds until then. ErrNotFound if the user does not exist.
	SetArmingMode(ctx context.Context, c ArmingChange) (ArmingState, error)
	// SetArmingSchedule replaces the household's schedule and the account's time zone
	// (a name [LoadTimeZone] accepts) and computes the next switch after now. The mode
	// does not change until that switch. ErrNotFound if the user does not exist.
	SetArmingSchedule(ctx context.Context, userID, timeZone string, rules []ArmingRule, now time.Time) (ArmingState, error)
	// ClaimArmingSwitches claims up to limit households whose next switch is due at
	// now: the due time of each moves to now+lease, after which another caller may
	// claim it again if this one never finished it. One caller at a time, across
	// replicas.
	ClaimArmingSwitches(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ArmingState, error)
	// FinishArmingSwitch makes the claimed switch due at switchAt: unless the schedule
	// was replaced or the switch made meanwhile (then it reports false), the mode
	// becomes the schedule's at now (its last switch at or before now; source
	// schedule), and the next switch after now is computed.
	FinishArmingSwitch(ctx context.Context, userID string, switchAt, now time.Time) (ArmingState, bool, error)

	// NotificationPrefs returns the user's time zone and quiet hours.
	NotificationPrefs(ctx context.Context, userID string) (NotificationPrefs, error)
	// SetQuietHours sets (nil: clears) the user's quiet hours. ErrNotFound if the user
	// does not exist.
	SetQuietHours(ctx context.Context, userID string, q *QuietHours) (NotificationPrefs, error)

	// CameraSettings returns the settings of each of the devices (defaults for those
	// never set), keyed by device id.
	CameraSettings(ctx context.Context, deviceIDs []string) (map[string]CameraSettings, error)
	// UpdateCameraSettings applies u. ErrNotFound if the device does not exist.
	UpdateCameraSettings(ctx context.Context, deviceID string, u CameraSettingsUpdate) (CameraSettings, error)
	// MuteCamera mutes the camera for the user until until (a time not after now
	// unmutes it). ErrNotFound if the user or device does not exist.
	MuteCamera(ctx context.Context, userID, deviceID string, until time.Time) error
	// CameraMutes returns the user's mutes that last beyond now, keyed by device id.
	CameraMutes(ctx context.Context, userID string, now time.Time) (map[string]time.Time, error)
}
