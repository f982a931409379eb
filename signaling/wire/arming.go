package wire

import (
	"fmt"
	"slices"
	"time"

	"github.com/securecam/securecam/store"
)

// Limits of arming schedules.
const (
	// MaxArmingRules bounds a schedule's rules.
	MaxArmingRules = 50
	// MaxEventCooldown bounds a camera's event cooldown.
	MaxEventCooldown = 24 * time.Hour
	// MaxMute bounds how far ahead a camera may be muted.
	MaxMute = 366 * 24 * time.Hour
)

// dayNames are the days of a rule, Sunday first as time.Weekday counts.
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ArmingActor says who last changed the mode by hand: the user, and the device the
// change came from (nil for a change through a user session, e.g. the browser app).
type ArmingActor struct {
	UserID   *string `json:"user_id"`
	DeviceID *string `json:"device_id"`
}

// ArmingSwitch is a switch of the schedule: at At the mode becomes Mode.
type ArmingSwitch struct {
	At   time.Time `json:"at"`
	Mode string    `json:"mode"`
}

// ArmingRule is a rule of the weekly schedule: on Days at At ("HH:MM", local time in
// the account's time zone) the household switches to Mode.
type ArmingRule struct {
	Days []string `json:"days"`
	At   string   `json:"at"`
	Mode string   `json:"mode"`
}

// Arming is the arming object (GET /api/v1/arming) and the data of the arming message
// and of the ack of arming.set. HouseholdID is the household's owner (a user id).
type Arming struct {
	HouseholdID string        `json:"household_id"`
	Mode        string        `json:"mode"`
	Source      string        `json:"source"`
	ChangedBy   ArmingActor   `json:"changed_by"`
	ChangedAt   *time.Time    `json:"changed_at"`
	TimeZone    string        `json:"time_zone"`
	Schedule    []ArmingRule  `json:"schedule"`
	NextSwitch  *ArmingSwitch `json:"next_switch"`
}

// FromArming converts the store's arming.
func FromArming(a store.ArmingState) Arming {
	out := Arming{HouseholdID: a.UserID, Mode: a.Mode, Source: a.Source, ChangedBy: ArmingActor{UserID: a.ChangedByUserID, DeviceID: a.ChangedByDeviceID},
		TimeZone: a.TimeZone, Schedule: make([]ArmingRule, len(a.Schedule))}
	if !a.ChangedAt.IsZero() {
		t := a.ChangedAt
		out.ChangedAt = &t
	}
	for i, r := range a.Schedule {
		days := make([]string, len(r.Days))
		for j, d := range r.Days {
			days[j] = dayNames[d]
		}
		out.Schedule[i] = ArmingRule{Days: days, At: FormatClock(r.Minute), Mode: r.Mode}
	}
	if a.NextSwitchAt != nil && a.NextSwitchMode != nil {
		out.NextSwitch = &ArmingSwitch{At: *a.NextSwitchAt, Mode: *a.NextSwitchMode}
	}
	return out
}

// ArmingRequest is the data of arming.set and the body of PUT /api/v1/arming.
// HouseholdID names the household to arm (its owner's user id); empty is the
// sender's own.
type ArmingRequest struct {
	Mode        string `json:"mode"`
	HouseholdID string `json:"household_id,omitempty"`
}

// Validate checks the mode and the household id.
func (r ArmingRequest) Validate() error {
	if !store.ValidArmMode(r.Mode) {
		return Errorf(CodeBadRequest, "mode must be disarmed, home or away")
	}
	if r.HouseholdID != "" && !ValidID(r.HouseholdID) {
		return Errorf(CodeBadRequest, "household_id is not a valid id")
	}
	return nil
}

// ArmingSchedule is the body of PUT /api/v1/arming/schedule: the account's time zone
// (an IANA name such as Europe/Berlin) and the weekly rules.
type ArmingSchedule struct {
	TimeZone string       `json:"time_zone"`
	Rules    []ArmingRule `json:"rules"`
}

// Store checks the schedule and returns its rules in the store's form.
func (s ArmingSchedule) Store() ([]store.ArmingRule, error) {
	if s.TimeZone == "" {
		return nil, Errorf(CodeBadRequest, "time_zone is required (an IANA name such as Europe/Berlin)")
	}
	if _, err := store.LoadTimeZone(s.TimeZone); err != nil {
		return nil, Errorf(CodeBadRequest, "time_zone %q is not an IANA time zone name", s.TimeZone)
	}
	if len(s.Rules) > MaxArmingRules {
		return nil, Errorf(CodeBadRequest, "a schedule has at most %d rules", MaxArmingRules)
	}
	out := make([]store.ArmingRule, 0, len(s.Rules))
	for i, r := range s.Rules {
		if !store.ValidArmMode(r.Mode) {
			return nil, Errorf(CodeBadRequest, "rules[%d].mode must be disarmed, home or away", i)
		}
		minute, err := ParseClock(r.At)
		if err != nil {
			return nil, Errorf(CodeBadRequest, "rules[%d].at: %s", i, err)
		}
		if len(r.Days) == 0 {
			return nil, Errorf(CodeBadRequest, "rules[%d].days must name at least one day (sun … sat)", i)
		}
		var days []time.Weekday
		for _, d := range r.Days {
			n := slices.Index(dayNames, d)
			if n < 0 {
				return nil, Errorf(CodeBadRequest, "rules[%d].days: %q is not one of sun, mon, tue, wed, thu, fri, sat", i, d)
			}
			if !slices.Contains(days, time.Weekday(n)) {
				days = append(days, time.Weekday(n))
			}
		}
		out = append(out, store.ArmingRule{Days: days, Minute: minute, Mode: r.Mode})
	}
	return out, nil
}

// ParseClock parses a local time of day "HH:MM" (00:00 … 23:59) into minutes after
// midnight.
func ParseClock(s string) (int, error) {
	bad := fmt.Errorf("%q is not a time of day HH:MM", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, bad
	}
	return h*60 + m, nil
}

// FormatClock formats minutes after midnight as "HH:MM".
func FormatClock(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

// QuietHours is a daily window "HH:MM" to "HH:MM" in the account's time zone; an end
// before the start spans midnight, equal times mean all day.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// NotificationPreferences is the object of /api/v1/notification-preferences. TimeZone
// is the account's (set with the arming schedule) and read-only here.
type NotificationPreferences struct {
	TimeZone   string      `json:"time_zone"`
	QuietHours *QuietHours `json:"quiet_hours"`
}

// FromNotificationPrefs converts the store's preferences.
func FromNotificationPrefs(p store.NotificationPrefs) NotificationPreferences {
	out := NotificationPreferences{TimeZone: p.TimeZone}
	if p.QuietHours != nil {
		out.QuietHours = &QuietHours{Start: FormatClock(p.QuietHours.Start), End: FormatClock(p.QuietHours.End)}
	}
	return out
}

// Store checks the quiet hours and returns them in the store's form.
func (q QuietHours) Store() (store.QuietHours, error) {
	start, err := ParseClock(q.Start)
	if err != nil {
		return store.QuietHours{}, Errorf(CodeBadRequest, "quiet_hours.start: %s", err)
	}
	end, err := ParseClock(q.End)
	if err != nil {
		return store.QuietHours{}, Errorf(CodeBadRequest, "quiet_hours.end: %s", err)
	}
	return store.QuietHours{Start: start, End: end}, nil
}
