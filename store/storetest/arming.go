package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

var everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

func testArming(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	a, err := s.Arming(ctx, f.user.ID)
	noErr(t, "Arming of a user who never armed", err)
	if a.Mode != store.ArmAway || a.Source != store.ArmSourceManual || a.NextSwitchAt != nil || a.TimeZone != "UTC" || !a.ChangedAt.IsZero() {
		t.Fatalf("default arming = %+v, want away, manual, UTC, no next switch", a)
	}
	_, err = s.SetArmingMode(ctx, store.ArmingChange{UserID: missing, Mode: store.ArmAway, ByUserID: missing})
	wantErr(t, "SetArmingMode of a missing user", err, store.ErrNotFound)
	_, err = s.SetArmingSchedule(ctx, missing, "UTC", nil, time.Now())
	wantErr(t, "SetArmingSchedule of a missing user", err, store.ErrNotFound)
	if _, err := s.SetArmingSchedule(ctx, f.user.ID, "Mars/Olympus", nil, time.Now()); err == nil {
		t.Fatal("SetArmingSchedule accepted an unknown time zone")
	}

	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC) // a Monday
	a, err = s.SetArmingMode(ctx, store.ArmingChange{UserID: f.user.ID, Mode: store.ArmHome, ByUserID: f.user.ID, ByDeviceID: f.viewer.ID, At: at})
	noErr(t, "SetArmingMode", err)
	if a.Mode != store.ArmHome || a.Source != store.ArmSourceManual || a.ChangedByUserID == nil || *a.ChangedByUserID != f.user.ID ||
		a.ChangedByDeviceID == nil || *a.ChangedByDeviceID != f.viewer.ID {
		t.Fatalf("after SetArmingMode: %+v", a)
	}
	checkTime(t, "ChangedAt", a.ChangedAt, at)

	// Away weekdays 08:30, home weekdays 17:30, in Berlin (UTC+2 in June).
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	rules := []store.ArmingRule{{Days: weekdays, Minute: 8*60 + 30, Mode: store.ArmAway}, {Days: weekdays, Minute: 17*60 + 30, Mode: store.ArmHome}}
	a, err = s.SetArmingSchedule(ctx, f.user.ID, "Europe/Berlin", rules, at)
	noErr(t, "SetArmingSchedule", err)
	if a.Mode != store.ArmHome || a.TimeZone != "Europe/Berlin" || len(a.Schedule) != 2 || !slices.Equal(a.Schedule[0].Days, weekdays) {
		t.Fatalf("after SetArmingSchedule: %+v", a)
	}
	next := time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC) // 17:30 CEST
	if a.NextSwitchAt == nil || a.NextSwitchMode == nil || *a.NextSwitchMode != store.ArmHome {
		t.Fatalf("next switch = %v %v, want home at %v", a.NextSwitchAt, a.NextSwitchMode, next)
	}
	checkTime(t, "NextSwitchAt", *a.NextSwitchAt, next)

	// A manual change holds until the next switch: the switch stays scheduled.
	a, err = s.SetArmingMode(ctx, store.ArmingChange{UserID: f.user.ID, Mode: store.ArmAway, ByUserID: f.user.ID, At: at.Add(time.Hour)})
	noErr(t, "SetArmingMode under a schedule", err)
	if a.Mode != store.ArmAway || a.NextSwitchAt == nil || !a.NextSwitchAt.Equal(next) || a.ChangedByDeviceID != nil {
		t.Fatalf("manual change under a schedule: %+v", a)
	}
	got, err := s.Arming(ctx, f.user.ID)
	noErr(t, "Arming", err)
	if got.Mode != store.ArmAway || len(got.Schedule) != 2 || got.Schedule[1].Minute != 17*60+30 {
		t.Fatalf("Arming = %+v", got)
	}

	// Not due: nothing claimed. Due: claimed once per lease.
	claimed, err := s.ClaimArmingSwitches(ctx, next.Add(-time.Second), time.Minute, 10)
	noErr(t, "ClaimArmingSwitches early", err)
	if len(claimed) != 0 {
		t.Fatalf("claimed %+v before due", claimed)
	}
	claimed, err = s.ClaimArmingSwitches(ctx, next, time.Minute, 10)
	noErr(t, "ClaimArmingSwitches", err)
	if len(claimed) != 1 || claimed[0].UserID != f.user.ID || !claimed[0].NextSwitchAt.Equal(next) {
		t.Fatalf("claimed %+v, want the household's switch at %v", claimed, next)
	}
	again, err := s.ClaimArmingSwitches(ctx, next.Add(59*time.Second), time.Minute, 10)
	noErr(t, "ClaimArmingSwitches within the lease", err)
	if len(again) != 0 {
		t.Fatalf("claimed %+v within the lease", again)
	}
	a, done, err := s.FinishArmingSwitch(ctx, f.user.ID, next, next.Add(time.Second))
	noErr(t, "FinishArmingSwitch", err)
	if !done || a.Mode != store.ArmHome || a.Source != store.ArmSourceSchedule || a.ChangedByUserID != nil {
		t.Fatalf("after the switch: done %v, %+v", done, a)
	}
	checkTime(t, "switch ChangedAt", a.ChangedAt, next)
	checkTime(t, "next switch after it", *a.NextSwitchAt, time.Date(2026, 6, 2, 6, 30, 0, 0, time.UTC))
	// A second finish of the same switch (a replica whose lease lapsed) changes nothing.
	_, done, err = s.FinishArmingSwitch(ctx, f.user.ID, next, next.Add(2*time.Minute))
	noErr(t, "FinishArmingSwitch again", err)
	if done {
		t.Fatal("the same switch was made twice")
	}
	// After the lease nothing is due any more: the next switch is tomorrow.
	claimed, err = s.ClaimArmingSwitches(ctx, next.Add(2*time.Minute), time.Minute, 10)
	noErr(t, "ClaimArmingSwitches after the switch", err)
	if len(claimed) != 0 {
		t.Fatalf("claimed %+v after the switch was made", claimed)
	}
	// A hub that was down makes the latest missed switch when it is back: claimed
	// three days late (Thursday 10:00 CEST), the mode is Thursday 08:30's.
	late := time.Date(2026, 6, 4, 8, 0, 0, 0, time.UTC)
	twin := mkFixture(t, s)
	if _, err := s.SetArmingSchedule(ctx, twin.user.ID, "Europe/Berlin", rules, at); err != nil {
		t.Fatal(err)
	}
	claimed, err = s.ClaimArmingSwitches(ctx, late, time.Minute, 10)
	noErr(t, "ClaimArmingSwitches late", err)
	if !slices.ContainsFunc(claimed, func(c store.ArmingState) bool { return c.UserID == twin.user.ID }) {
		t.Fatalf("late claim %+v lacks the household", claimed)
	}
	a, done, err = s.FinishArmingSwitch(ctx, twin.user.ID, next, late)
	noErr(t, "FinishArmingSwitch late", err)
	if !done || a.Mode != store.ArmAway {
		t.Fatalf("late switch: done %v, %+v", done, a)
	}
	checkTime(t, "late switch ChangedAt", a.ChangedAt, time.Date(2026, 6, 4, 6, 30, 0, 0, time.UTC))
	checkTime(t, "next switch after the late one", *a.NextSwitchAt, time.Date(2026, 6, 4, 15, 30, 0, 0, time.UTC))

	// A schedule replaced while claimed: the stale switch is not made.
	day2 := time.Date(2026, 6, 2, 6, 30, 0, 0, time.UTC)
	_, err = s.ClaimArmingSwitches(ctx, day2, time.Minute, 10)
	noErr(t, "ClaimArmingSwitches day 2", err)
	_, err = s.SetArmingSchedule(ctx, f.user.ID, "Europe/Berlin", nil, day2)
	noErr(t, "SetArmingSchedule empty", err)
	a, done, err = s.FinishArmingSwitch(ctx, f.user.ID, day2, day2)
	noErr(t, "FinishArmingSwitch of a replaced schedule", err)
	if done || a.Mode != store.ArmHome {
		t.Fatalf("stale switch made: done %v, %+v", done, a)
	}
	if got, _ := s.Arming(ctx, f.user.ID); got.NextSwitchAt != nil || len(got.Schedule) != 0 {
		t.Fatalf("empty schedule has a next switch: %+v", got)
	}
}

// testArmingDST runs a daily schedule across both daylight-saving transitions of two
// time zones on a settable clock: a switch inside the spring-forward gap happens when
// the gap ends, a switch in the repeated hour of the fall-back happens once, at its
// first occurrence.
func testArmingDST(t *testing.T, s store.Store) {
	cases := []struct {
		name, zone string
		minute     int
		start      time.Time   // when the schedule is set
		want       []time.Time // the switches from then on, in UTC
	}{
		{"new york spring 02:30", "America/New_York", 2*60 + 30, time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),   // 03:00 EDT, the end of the gap
			time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC),  // 02:30 EDT
			time.Date(2026, 3, 10, 6, 30, 0, 0, time.UTC), // 02:30 EDT
		}},
		{"new york fall 01:30", "America/New_York", 60 + 30, time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), // 01:30 EDT, the first 01:30
			time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC), // 01:30 EST, the next day: not the second 01:30
		}},
		{"berlin spring 02:30", "Europe/Berlin", 2*60 + 30, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),  // 03:00 CEST, the end of the gap
			time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC), // 02:30 CEST
		}},
		{"berlin fall 02:30", "Europe/Berlin", 2*60 + 30, time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), // 02:30 CEST, the first
			time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC), // 02:30 CET the next day
		}},
		{"berlin fall 01:30", "Europe/Berlin", 60 + 30, time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), []time.Time{
			time.Date(2026, 10, 24, 23, 30, 0, 0, time.UTC), // 01:30 CEST (not repeated in Berlin)
			time.Date(2026, 10, 26, 0, 30, 0, 0, time.UTC),  // 01:30 CET
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := mkFixture(t, s)
			clock := NewClockAt(tc.start)
			rules := []store.ArmingRule{{Days: everyDay, Minute: tc.minute, Mode: store.ArmAway}}
			a, err := s.SetArmingSchedule(ctx, f.user.ID, tc.zone, rules, clock.Now())
			noErr(t, "SetArmingSchedule", err)
			for i, want := range tc.want {
				if a.NextSwitchAt == nil {
					t.Fatalf("switch %d: none scheduled, want %v", i, want)
				}
				checkTime(t, "next switch", *a.NextSwitchAt, want)
				clock.Advance(a.NextSwitchAt.Sub(clock.Now()))
				// Other households (parallel cases) may be due too: finish ours.
				claimed, err := s.ClaimArmingSwitches(ctx, clock.Now(), time.Minute, 100)
				noErr(t, "ClaimArmingSwitches", err)
				if !slices.ContainsFunc(claimed, func(c store.ArmingState) bool { return c.UserID == f.user.ID }) {
					t.Fatalf("switch %d at %v: not claimed (%d claimed)", i, clock.Now(), len(claimed))
				}
				var done bool
				a, done, err = s.FinishArmingSwitch(ctx, f.user.ID, want, clock.Now())
				noErr(t, "FinishArmingSwitch", err)
				if !done || a.Mode != store.ArmAway || a.Source != store.ArmSourceSchedule {
					t.Fatalf("switch %d: done %v, %+v", i, done, a)
				}
				checkTime(t, "switch ChangedAt", a.ChangedAt, want)
				// Switched back by hand: the next switch arms again.
				a, err = s.SetArmingMode(ctx, store.ArmingChange{UserID: f.user.ID, Mode: store.ArmDisarmed, ByUserID: f.user.ID, At: clock.Now()})
				noErr(t, "SetArmingMode", err)
			}
		})
	}
}

func testCameraSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	cs, err := s.CameraSettings(ctx, []string{f.cam.ID, "not-a-uuid"})
	noErr(t, "CameraSettings", err)
	if c := cs[f.cam.ID]; !slices.Equal(c.ArmModes, []string{store.ArmAway}) || c.EventCooldown != nil || len(cs) != 1 {
		t.Fatalf("default camera settings = %+v", cs)
	}
	if !cs[f.cam.ID].AlertsIn(store.ArmAway) || cs[f.cam.ID].AlertsIn(store.ArmHome) || cs[f.cam.ID].AlertsIn(store.ArmDisarmed) {
		t.Fatalf("default AlertsIn wrong: %+v", cs[f.cam.ID])
	}
	_, err = s.UpdateCameraSettings(ctx, missing, store.CameraSettingsUpdate{ArmModes: []string{store.ArmHome}})
	wantErr(t, "UpdateCameraSettings of a missing device", err, store.ErrNotFound)
	cool := 90 * time.Second
	c, err := s.UpdateCameraSettings(ctx, f.cam.ID, store.CameraSettingsUpdate{ArmModes: []string{store.ArmHome, store.ArmAway}, EventCooldown: &cool})
	noErr(t, "UpdateCameraSettings", err)
	if !slices.Equal(c.ArmModes, []string{store.ArmHome, store.ArmAway}) || c.EventCooldown == nil || *c.EventCooldown != cool {
		t.Fatalf("after UpdateCameraSettings: %+v", c)
	}
	// Only the given fields change; an empty list alerts in no mode; zero cooldown is the default.
	zero := time.Duration(0)
	c, err = s.UpdateCameraSettings(ctx, f.cam.ID, store.CameraSettingsUpdate{EventCooldown: &zero})
	noErr(t, "UpdateCameraSettings cooldown", err)
	if len(c.ArmModes) != 2 || c.EventCooldown != nil {
		t.Fatalf("after clearing the cooldown: %+v", c)
	}
	c, err = s.UpdateCameraSettings(ctx, f.cam.ID, store.CameraSettingsUpdate{ArmModes: []string{}})
	noErr(t, "UpdateCameraSettings no modes", err)
	if len(c.ArmModes) != 0 || c.AlertsIn(store.ArmAway) {
		t.Fatalf("after clearing the modes: %+v", c)
	}
	if _, err := s.UpdateCameraSettings(ctx, f.cam.ID, store.CameraSettingsUpdate{ArmModes: []string{store.ArmDisarmed}}); err == nil {
		t.Fatal("UpdateCameraSettings accepted disarmed as a mode to alert in")
	}
	cs, err = s.CameraSettings(ctx, []string{f.cam.ID})
	noErr(t, "CameraSettings again", err)
	if len(cs[f.cam.ID].ArmModes) != 0 {
		t.Fatalf("CameraSettings = %+v", cs)
	}

	// Mutes.
	now := time.Now().UTC().Truncate(time.Second)
	wantErr(t, "MuteCamera of a missing device", s.MuteCamera(ctx, f.user.ID, missing, now), store.ErrNotFound)
	wantErr(t, "MuteCamera by a missing user", s.MuteCamera(ctx, missing, f.cam.ID, now), store.ErrNotFound)
	noErr(t, "MuteCamera", s.MuteCamera(ctx, f.user.ID, f.cam.ID, now.Add(time.Hour)))
	mutes, err := s.CameraMutes(ctx, f.user.ID, now)
	noErr(t, "CameraMutes", err)
	if len(mutes) != 1 {
		t.Fatalf("CameraMutes = %v", mutes)
	}
	checkTime(t, "muted until", mutes[f.cam.ID], now.Add(time.Hour))
	if mutes, _ := s.CameraMutes(ctx, f.user.ID, now.Add(time.Hour)); len(mutes) != 0 {
		t.Fatalf("mute lasted past its end: %v", mutes)
	}
	noErr(t, "MuteCamera unmute", s.MuteCamera(ctx, f.user.ID, f.cam.ID, now))
	if mutes, _ := s.CameraMutes(ctx, f.user.ID, now); len(mutes) != 0 {
		t.Fatalf("unmuted camera still muted: %v", mutes)
	}

	// Quiet hours.
	p, err := s.NotificationPrefs(ctx, f.user.ID)
	noErr(t, "NotificationPrefs", err)
	if p.QuietHours != nil || p.TimeZone != "UTC" {
		t.Fatalf("default prefs = %+v", p)
	}
	_, err = s.SetQuietHours(ctx, missing, &store.QuietHours{Start: 1, End: 2})
	wantErr(t, "SetQuietHours of a missing user", err, store.ErrNotFound)
	if _, err := s.SetQuietHours(ctx, f.user.ID, &store.QuietHours{Start: -1, End: 2}); err == nil {
		t.Fatal("SetQuietHours accepted a negative minute")
	}
	p, err = s.SetQuietHours(ctx, f.user.ID, &store.QuietHours{Start: 22 * 60, End: 7 * 60})
	noErr(t, "SetQuietHours", err)
	if p.QuietHours == nil || *p.QuietHours != (store.QuietHours{Start: 22 * 60, End: 7 * 60}) {
		t.Fatalf("after SetQuietHours: %+v", p)
	}
	// The time zone is the account's, shared with the arming schedule.
	_, err = s.SetArmingSchedule(ctx, f.user.ID, "Asia/Tokyo", nil, now)
	noErr(t, "SetArmingSchedule", err)
	p, err = s.NotificationPrefs(ctx, f.user.ID)
	noErr(t, "NotificationPrefs again", err)
	if p.TimeZone != "Asia/Tokyo" || p.QuietHours == nil {
		t.Fatalf("prefs = %+v", p)
	}
	p, err = s.SetQuietHours(ctx, f.user.ID, nil)
	noErr(t, "SetQuietHours clear", err)
	if p.QuietHours != nil {
		t.Fatalf("cleared quiet hours = %+v", p.QuietHours)
	}

	// Events keep whether their camera was armed.
	e := store.Event{UserID: f.user.ID, DeviceID: f.cam.ID, Title: "Motion", TriggeredBy: "motion", Disarmed: true}
	noErr(t, "CreateEvent disarmed", s.CreateEvent(ctx, &e))
	got, err := s.Event(ctx, e.ID)
	noErr(t, "Event", err)
	if !got.Disarmed {
		t.Fatal("a disarmed event came back armed")
	}
	armed := mkEvent(t, s, f, "motion", time.Now())
	if got, _ := s.Event(ctx, armed.ID); got.Disarmed {
		t.Fatal("an armed event came back disarmed")
	}
}
