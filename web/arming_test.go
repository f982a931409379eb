package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web"
)

// withArming serves arming and events through one real signaling service.
func withArming(t *testing.T) envOpt {
	return func(s *setup) {
		svc := newSignaling(t, s, signaling.Config{})
		s.deps.Arming, s.deps.Events = svc, svc
	}
}

func TestArmingAPI(t *testing.T) {
	e := newEnv(t, withArming(t))
	h, other := e.household(), e.household()

	var a wire.Arming
	e.do("GET", "/api/v1/arming", nil, bearer(h.tok)).want(t, http.StatusOK, &a)
	if a.Mode != store.ArmAway || a.Source != store.ArmSourceManual || a.ChangedAt != nil || a.NextSwitch != nil ||
		len(a.Schedule) != 0 || a.TimeZone != "UTC" {
		t.Fatalf("a new household's arming %+v, want away (as before arming existed)", a)
	}

	// By hand, from the browser (a session) and from a viewer's device token.
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "home"}, bearer(h.tok)).want(t, http.StatusOK, &a)
	if a.Mode != store.ArmHome || a.ChangedBy.UserID == nil || *a.ChangedBy.UserID != h.user.ID || a.ChangedBy.DeviceID != nil || a.ChangedAt == nil {
		t.Fatalf("after PUT home: %+v", a)
	}
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "disarmed"}, bearer(h.viewer.DeviceToken)).want(t, http.StatusOK, &a)
	if a.Mode != store.ArmDisarmed || a.ChangedBy.DeviceID == nil || *a.ChangedBy.DeviceID != h.viewer.Device.ID {
		t.Fatalf("after PUT by the viewer: %+v", a)
	}
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "away"}, bearer(h.cam.DeviceToken)).wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "vacation"}, bearer(h.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	e.do("GET", "/api/v1/arming", nil, bearer(other.tok)).want(t, http.StatusOK, &a)
	if a.Mode != store.ArmAway {
		t.Fatalf("another household changed too: %+v", a)
	}

	// The schedule: validated, then its next switch is shown; the mode waits for it.
	for name, body := range map[string]map[string]any{
		"no time zone":      {"rules": []any{}},
		"unknown time zone": {"time_zone": "Mars/Olympus", "rules": []any{}},
		"bad time":          {"time_zone": "UTC", "rules": []any{map[string]any{"days": []string{"mon"}, "at": "24:00", "mode": "away"}}},
		"bad day":           {"time_zone": "UTC", "rules": []any{map[string]any{"days": []string{"monday"}, "at": "08:00", "mode": "away"}}},
		"no days":           {"time_zone": "UTC", "rules": []any{map[string]any{"days": []string{}, "at": "08:00", "mode": "away"}}},
		"bad mode":          {"time_zone": "UTC", "rules": []any{map[string]any{"days": []string{"mon"}, "at": "08:00", "mode": "armed"}}},
	} {
		t.Run(name, func(t *testing.T) {
			e.do("PUT", "/api/v1/arming/schedule", body, bearer(h.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
		})
	}
	every := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	e.do("PUT", "/api/v1/arming/schedule", map[string]any{"time_zone": "America/New_York", "rules": []any{
		map[string]any{"days": every, "at": "08:30", "mode": "away"},
		map[string]any{"days": every, "at": "17:30", "mode": "home"},
	}}, bearer(h.tok)).want(t, http.StatusOK, &a)
	if a.Mode != store.ArmDisarmed || a.TimeZone != "America/New_York" || len(a.Schedule) != 2 || a.Schedule[1].At != "17:30" ||
		!slices.Equal(a.Schedule[0].Days, every) || a.NextSwitch == nil || !a.NextSwitch.At.After(time.Now()) ||
		a.NextSwitch.At.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("after PUT schedule: %+v", a)
	}
	e.do("PUT", "/api/v1/arming/schedule", map[string]any{"time_zone": "UTC", "rules": []any{}}, bearer(h.cam.DeviceToken)).
		wantProblem(t, http.StatusForbidden, wire.CodeForbidden)

	actions := e.auditActions(h.tok)
	if n := countOf(actions, signaling.AuditArmingChanged); n != 2 || !slices.Contains(actions, web.AuditArmingScheduleChanged) {
		t.Fatalf("audit actions %v, want two %s and one %s", actions, signaling.AuditArmingChanged, web.AuditArmingScheduleChanged)
	}
}

// An operator (or admin) of one of a household's cameras arms that household with
// ?household= or household_id; a viewer of it only reads the mode; the owner's audit
// log says who changed it.
func TestArmingSharedHousehold(t *testing.T) {
	e := newEnv(t, withArming(t))
	h := e.household()
	op, vw := e.newPerson(), e.newPerson()
	e.share(h.tok, h.cam.Device.ID, op, store.ShareOperator)
	e.share(h.tok, h.cam.Device.ID, vw, store.ShareViewer)

	var a wire.Arming
	e.do("PUT", "/api/v1/arming?household="+h.user.ID, map[string]string{"mode": "home"}, bearer(op.tok)).want(t, http.StatusOK, &a)
	if a.HouseholdID != h.user.ID || a.Mode != store.ArmHome || a.ChangedBy.UserID == nil || *a.ChangedBy.UserID != op.user.ID {
		t.Fatalf("the operator's change: %+v", a)
	}
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "disarmed", "household_id": h.user.ID}, bearer(op.viewer.DeviceToken)).
		want(t, http.StatusOK, &a)
	if a.Mode != store.ArmDisarmed || a.ChangedBy.DeviceID == nil || *a.ChangedBy.DeviceID != op.viewer.Device.ID {
		t.Fatalf("the operator's device's change: %+v", a)
	}
	e.do("GET", "/api/v1/arming", nil, bearer(op.tok)).want(t, http.StatusOK, &a)
	if a.HouseholdID != op.user.ID || a.Mode != store.ArmAway {
		t.Fatalf("the operator's own household changed: %+v", a)
	}
	e.do("GET", "/api/v1/arming?household="+h.user.ID, nil, bearer(vw.tok)).want(t, http.StatusOK, &a)
	if a.HouseholdID != h.user.ID || a.Mode != store.ArmDisarmed {
		t.Fatalf("the viewer reads %+v", a)
	}
	e.do("PUT", "/api/v1/arming?household="+h.user.ID, map[string]string{"mode": "away"}, bearer(vw.tok)).
		wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
	e.do("PUT", "/api/v1/arming?household="+h.user.ID, map[string]string{"mode": "away", "household_id": op.user.ID}, bearer(op.tok)).
		wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	e.do("GET", "/api/v1/arming?household=nope", nil, bearer(op.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)

	var l struct{ Items []wire.AuditLog }
	e.do("GET", "/api/v1/audit-logs?limit=200", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	var by []string
	for _, row := range l.Items {
		if row.Action == signaling.AuditArmingChanged {
			var m struct {
				ByUserID string `json:"by_user_id"`
			}
			if err := json.Unmarshal(row.Metadata, &m); err != nil {
				t.Fatal(err)
			}
			by = append(by, m.ByUserID)
		}
	}
	if !slices.Equal(by, []string{op.user.ID, op.user.ID}) {
		t.Fatalf("the owner's arming audit rows were by %v, want the operator twice", by)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// An event of a camera that is not armed is stored and listed with armed false and
// raises no notification; the camera's alert modes are a device setting.
func TestEventsWhileDisarmed(t *testing.T) {
	e := newEnv(t, withArming(t))
	h := e.household()
	e.do("PUT", "/api/v1/arming", map[string]string{"mode": "home"}, bearer(h.tok)).want(t, http.StatusOK, nil)

	var ev wire.Event
	e.do("POST", "/api/v1/events", map[string]any{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)
	if ev.Armed || ev.NotifiedAt != nil {
		t.Fatalf("event at home of an away-only camera: %+v, want armed false, not notified", ev)
	}
	var got wire.Event
	e.do("GET", "/api/v1/events/"+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &got)
	if got.Armed {
		t.Fatalf("stored event %+v, want armed false", got)
	}
	var notes struct{ Items []wire.Notification }
	e.do("GET", "/api/v1/notifications", nil, bearer(h.tok)).want(t, http.StatusOK, &notes)
	if len(notes.Items) != 0 {
		t.Fatalf("%d notifications for a camera not armed", len(notes.Items))
	}

	// The camera alerts at home too now.
	var d wire.Device
	e.do("PATCH", "/api/v1/devices/"+h.cam.Device.ID, map[string]any{"arm_modes": []string{"home", "away", "home"}}, bearer(h.tok)).
		want(t, http.StatusOK, &d)
	if !slices.Equal(d.ArmModes, []string{"home", "away"}) {
		t.Fatalf("arm_modes %v", d.ArmModes)
	}
	e.do("POST", "/api/v1/events", map[string]any{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)
	if !ev.Armed || ev.NotifiedAt == nil {
		t.Fatalf("event of an armed camera: %+v", ev)
	}
	e.do("GET", "/api/v1/notifications", nil, bearer(h.tok)).want(t, http.StatusOK, &notes)
	if len(notes.Items) != 1 {
		t.Fatalf("%d notifications, want 1", len(notes.Items))
	}
}

func TestCameraAlertSettings(t *testing.T) {
	e := newEnv(t, withArming(t))
	h, other := e.household(), e.household()
	cam := "/api/v1/devices/" + h.cam.Device.ID

	var d wire.Device
	e.do("GET", cam, nil, bearer(h.tok)).want(t, http.StatusOK, &d)
	if !slices.Equal(d.ArmModes, []string{"away"}) || d.EventCooldownSeconds != nil || d.MutedUntil != nil {
		t.Fatalf("a new camera's alert settings %+v", d)
	}
	var viewer wire.Device
	e.do("GET", "/api/v1/devices/"+h.viewer.Device.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &viewer)
	if viewer.ArmModes != nil {
		t.Fatalf("a viewer has arm_modes %v", viewer.ArmModes)
	}

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	e.do("PATCH", cam, map[string]any{"event_cooldown_seconds": 300, "muted_until": until}, bearer(h.tok)).want(t, http.StatusOK, &d)
	if d.EventCooldownSeconds == nil || *d.EventCooldownSeconds != 300 || d.MutedUntil == nil || !d.MutedUntil.Equal(until) ||
		!slices.Equal(d.ArmModes, []string{"away"}) {
		t.Fatalf("after PATCH: %+v", d)
	}
	var l struct{ Items []wire.Device }
	e.do("GET", "/api/v1/devices", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	for _, it := range l.Items {
		if it.ID == h.cam.Device.ID && (it.EventCooldownSeconds == nil || it.MutedUntil == nil) {
			t.Fatalf("listed camera %+v lacks its settings", it)
		}
	}
	// Back to the default cooldown, unmuted.
	d = wire.Device{}
	e.do("PATCH", cam, map[string]any{"event_cooldown_seconds": 0, "muted_until": time.Now().Add(-time.Minute)}, bearer(h.tok)).
		want(t, http.StatusOK, &d)
	if d.EventCooldownSeconds != nil || d.MutedUntil != nil {
		t.Fatalf("after resetting: %+v", d)
	}

	for name, tc := range map[string]struct {
		path   string
		body   map[string]any
		tok    string
		status int
		code   string
	}{
		"disarmed as a mode":   {cam, map[string]any{"arm_modes": []string{"disarmed"}}, h.tok, 400, wire.CodeBadRequest},
		"negative cooldown":    {cam, map[string]any{"event_cooldown_seconds": -1}, h.tok, 400, wire.CodeBadRequest},
		"cooldown over a day":  {cam, map[string]any{"event_cooldown_seconds": 86401}, h.tok, 400, wire.CodeBadRequest},
		"mute over a year":     {cam, map[string]any{"muted_until": time.Now().Add(400 * 24 * time.Hour)}, h.tok, 400, wire.CodeBadRequest},
		"a viewer's arm_modes": {"/api/v1/devices/" + h.viewer.Device.ID, map[string]any{"arm_modes": []string{"home"}}, h.tok, 400, wire.CodeBadRequest},
		"the camera's token":   {cam, map[string]any{"arm_modes": []string{"home"}}, h.cam.DeviceToken, 403, wire.CodeForbidden},
		"another household":    {cam, map[string]any{"arm_modes": []string{"home"}}, other.tok, 404, wire.CodeNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			e.do("PATCH", tc.path, tc.body, bearer(tc.tok)).wantProblem(t, tc.status, tc.code)
		})
	}
	if actions := e.auditActions(h.tok); countOf(actions, web.AuditCameraAlertsChanged) != 2 {
		t.Fatalf("audit actions %v, want two %s", actions, web.AuditCameraAlertsChanged)
	}
}

func TestNotificationPreferences(t *testing.T) {
	e := newEnv(t, withArming(t))
	h := e.household()
	var p wire.NotificationPreferences
	e.do("GET", "/api/v1/notification-preferences", nil, bearer(h.tok)).want(t, http.StatusOK, &p)
	if p.TimeZone != "UTC" || p.QuietHours != nil {
		t.Fatalf("default preferences %+v", p)
	}
	e.do("PUT", "/api/v1/notification-preferences", map[string]any{"quiet_hours": map[string]string{"start": "22:00", "end": "07:00"}},
		bearer(h.tok)).want(t, http.StatusOK, &p)
	if p.QuietHours == nil || *p.QuietHours != (wire.QuietHours{Start: "22:00", End: "07:00"}) {
		t.Fatalf("after PUT: %+v", p)
	}
	for _, bad := range []map[string]string{{"start": "24:00", "end": "07:00"}, {"start": "7:00", "end": "08:00"}, {"start": "22:00"}} {
		e.do("PUT", "/api/v1/notification-preferences", map[string]any{"quiet_hours": bad}, bearer(h.tok)).
			wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	}
	// The time zone is the account's, set with the schedule.
	e.do("PUT", "/api/v1/arming/schedule", map[string]any{"time_zone": "Europe/Berlin", "rules": []any{}}, bearer(h.tok)).want(t, http.StatusOK, nil)
	e.do("GET", "/api/v1/notification-preferences", nil, bearer(h.tok)).want(t, http.StatusOK, &p)
	if p.TimeZone != "Europe/Berlin" || p.QuietHours == nil {
		t.Fatalf("preferences %+v", p)
	}
	e.do("PUT", "/api/v1/notification-preferences", map[string]any{"quiet_hours": nil}, bearer(h.tok)).want(t, http.StatusOK, &p)
	if p.QuietHours != nil {
		t.Fatalf("cleared quiet hours %+v", p.QuietHours)
	}
	if actions := e.auditActions(h.tok); countOf(actions, web.AuditQuietHoursChanged) != 2 {
		t.Fatalf("audit actions %v", actions)
	}
}
