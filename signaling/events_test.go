package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// pushRig is the push side of a hub: a queue and a worker sending to APNs and FCM fakes.
type pushRig struct {
	apns  *pushtest.APNs
	fcm   *pushtest.FCM
	queue *push.Queue
}

func startPush(t *testing.T, st store.Store) *pushRig {
	t.Helper()
	r := &pushRig{apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t)}
	p, err := push.NewProvider(push.Config{APNs: r.apns.Config(), FCM: r.fcm.Config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := push.NewWorker(push.WorkerConfig{Store: st, Provider: p, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.queue, err = push.NewQueue(push.QueueConfig{Store: st, Notify: w.Notify}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// withPush wires the rig into a node's signaling service.
func (r *pushRig) withPush(extra func(*signaling.Config)) func(*signaling.Config) {
	return func(c *signaling.Config) {
		c.Waker, c.Alerter = r.queue, r.queue
		if extra != nil {
			extra(c)
		}
	}
}

// phone makes a device of the account with a platform and push token.
func (a *account) phone(t *testing.T, role, platform, token string) store.Device {
	t.Helper()
	d := store.Device{UserID: a.user.ID, Name: role + "-" + platform, Role: role, Platform: platform}
	if token != "" {
		d.PushToken = &token
	}
	if err := a.st.CreateDevice(context.Background(), &d, randomHex(t)); err != nil {
		t.Fatal(err)
	}
	return d
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type eventAck struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"`
}

func startEvent(t *testing.T, cam *peer, title string) string {
	t.Helper()
	ans := cam.request("event.start", "", map[string]string{"title": title, "triggered_by": "motion"})
	if ans.Type != "ack" {
		t.Fatalf("event.start refused: %s", ans.Data)
	}
	id := decode[eventAck](t, ans).EventID
	if id == "" {
		t.Fatalf("event.start ack without event_id: %s", ans.Data)
	}
	return id
}

func TestEventReachesOnlineViewerAndOfflineViewerAsPush(t *testing.T) {
	st := storetest.NewSQLite(t)
	rig := startPush(t, st)
	n := startNode(t, st, nodeOptions{config: rig.withPush(nil)})
	acct := newAccount(t, st)
	camera := acct.phone(t, store.RoleCamera, "android", "camera-token")
	online := acct.phone(t, store.RoleViewer, "android", "online-token")
	offline := acct.phone(t, store.RoleViewer, "ios", "offline-iphone")
	noToken := acct.phone(t, store.RoleViewer, "ios", "")
	tablet := acct.phone(t, store.RoleViewer, "web", "") // the user's, not linked
	for _, v := range []store.Device{online, offline, noToken} {
		acct.link(t, camera, v)
	}
	cam, view, web := dial(t, n, camera), dial(t, n, online), dial(t, n, tablet)

	id := startEvent(t, cam, "Motion at the door")

	env := view.expect("event")
	if env.From != camera.ID {
		t.Errorf("event from %q, want the camera %s", env.From, camera.ID)
	}
	ev := decode[wire.Event](t, env)
	if ev.ID != id || ev.DeviceID != camera.ID || ev.UserID != acct.user.ID || ev.Title != "Motion at the door" ||
		ev.TriggeredBy != "motion" || ev.Status != store.EventActive || ev.NotifiedAt == nil {
		t.Errorf("event message %s", env.Data)
	}
	for _, p := range []*peer{view, web} {
		note := decode[wire.Notification](t, p.expect("notification"))
		if note.EventID == nil || *note.EventID != id || note.UserID != acct.user.ID || note.IsRead {
			t.Errorf("notification %+v", note)
		}
	}
	quiet(t, cam) // the camera is not notified of its own event

	// The offline viewer with a token gets an alert push; the one without, nothing.
	reqs, err := rig.apns.WaitRequests(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Token != "offline-iphone" || reqs[0].Header.Get("apns-push-type") != "alert" ||
		!strings.Contains(string(reqs[0].Body), id) || !strings.Contains(string(reqs[0].Body), "Motion at the door") {
		t.Errorf("alert push %+v %s", reqs[0], reqs[0].Body)
	}
	jobs, _, _ := st.ListDeliveries(t.Context(), noToken.ID, store.Page{})
	if len(jobs) != 0 {
		t.Errorf("%d push jobs for a viewer without a token", len(jobs))
	}
	jobs, _, _ = st.ListDeliveries(t.Context(), online.ID, store.Page{})
	if len(jobs) != 0 {
		t.Errorf("%d push jobs for an online viewer", len(jobs))
	}
	stored, err := st.Event(t.Context(), id)
	if err != nil || stored.NotifiedAt == nil {
		t.Errorf("stored event %+v %v, want notified_at", stored, err)
	}
	notes, _, _ := st.ListNotifications(t.Context(), acct.user.ID, true, store.Page{})
	if len(notes) != 1 {
		t.Errorf("%d unread notifications, want 1", len(notes))
	}

	// Within the cooldown: the event still reaches online viewers, but nobody is alerted.
	again := startEvent(t, cam, "Motion at the door")
	ev = decode[wire.Event](t, view.expect("event"))
	if ev.ID != again || ev.NotifiedAt != nil {
		t.Errorf("event within the cooldown %+v, want not notified", ev)
	}
	quiet(t, view)
	quiet(t, web)
	if jobs, _, _ := st.ListDeliveries(t.Context(), offline.ID, store.Page{}); len(jobs) != 1 {
		t.Errorf("%d push jobs for the offline viewer after two events, want 1", len(jobs))
	}

	// event.end: the camera's own events only; viewers see the update.
	ans := cam.request("event.end", "", map[string]string{"event_id": id})
	if ans.Type != "ack" || decode[eventAck](t, ans).Status != store.EventEnded {
		t.Fatalf("event.end: %s %s", ans.Type, ans.Data)
	}
	ev = decode[wire.Event](t, view.expect("event"))
	if ev.ID != id || ev.Status != store.EventEnded || ev.EndedAt == nil {
		t.Errorf("ended event %+v", ev)
	}
	if code := errorCode(t, view.request("event.end", "", map[string]string{"event_id": again})); code != wire.CodeNotFound {
		t.Errorf("a viewer ending the camera's event: %s, want not_found", code)
	}
}

func TestEventMessagesAreValidated(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	cam, view := dial(t, n, f.camera), dial(t, n, f.viewer)
	tests := []struct {
		name string
		p    *peer
		typ  string
		data any
		code string
	}{
		{"no title", cam, "event.start", map[string]string{"triggered_by": "motion"}, wire.CodeBadRequest},
		{"bad trigger", cam, "event.start", map[string]string{"title": "x", "triggered_by": "Motion!"}, wire.CodeBadRequest},
		{"hub-only trigger", cam, "event.start", map[string]string{"title": "x", "triggered_by": store.TriggerCameraOffline}, wire.CodeBadRequest},
		{"title of the wrong type", cam, "event.start", map[string]any{"title": 5, "triggered_by": "motion"}, wire.CodeBadRequest},
		{"long title", cam, "event.start", map[string]string{"title": strings.Repeat("x", 201), "triggered_by": "motion"}, wire.CodeBadRequest},
		{"from a viewer", view, "event.start", map[string]string{"title": "x", "triggered_by": "motion"}, wire.CodeForbidden},
		{"end without id", cam, "event.end", map[string]string{}, wire.CodeBadRequest},
		{"end of a missing event", cam, "event.end", map[string]string{"event_id": "01960000-0000-7000-8000-000000000000"}, wire.CodeNotFound},
		{"telemetry from a viewer", view, "telemetry", map[string]any{"battery": 50}, wire.CodeForbidden},
		{"telemetry out of range", cam, "telemetry", map[string]any{"battery": 150}, wire.CodeBadRequest},
		{"telemetry of the wrong type", cam, "telemetry", map[string]any{"charging": "yes"}, wire.CodeBadRequest},
		{"telemetry with a capability that is no command type", cam, "telemetry", map[string]any{"capabilities": []string{"Torch!"}}, wire.CodeBadRequest},
		{"telemetry with too many capabilities", cam, "telemetry", map[string]any{"capabilities": make([]string, wire.MaxCapabilities+1)}, wire.CodeBadRequest},
		{"telemetry whose capturing is no boolean", cam, "telemetry", map[string]any{"capturing": "no"}, wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := errorCode(t, tt.p.request(tt.typ, "", tt.data)); code != tt.code {
				t.Errorf("code %q, want %q", code, tt.code)
			}
		})
	}
}

func TestTelemetryIsForwardedToLinkedViewers(t *testing.T) {
	st := storetest.NewSQLite(t)
	n := startNode(t, st, nodeOptions{})
	f := newFamily(t, st)
	stranger := newFamily(t, st)
	cam, view, other := dial(t, n, f.camera), dial(t, n, f.viewer), dial(t, n, stranger.viewer)

	if ans := cam.request("telemetry", "", map[string]any{"battery": 81.5, "charging": true, "temperature_c": 36.6,
		"network": "wifi", "signal_dbm": -60, "capturing": false, "capabilities": []string{"snapshot", "set_torch"},
		"secret": "dropped"}); ans.Type != "ack" {
		t.Fatalf("telemetry refused: %s", ans.Data)
	}
	env := view.expect("telemetry")
	if env.From != f.camera.ID {
		t.Errorf("telemetry from %q, want %s", env.From, f.camera.ID)
	}
	var got map[string]any
	if err := json.Unmarshal(env.Data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"battery": 81.5, "charging": true, "temperature_c": 36.6, "network": "wifi", "signal_dbm": -60.0,
		"capturing": false}
	if caps := fmt.Sprint(got["capabilities"]); caps != "[snapshot set_torch]" {
		t.Errorf("telemetry capabilities = %s, want [snapshot set_torch]", caps)
	}
	delete(got, "capabilities")
	if len(got) != len(want) {
		t.Errorf("telemetry %s, want only %v", env.Data, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("telemetry %s = %v, want %v", k, got[k], v)
		}
	}
	quiet(t, other) // not linked: nothing
}

func TestCommandToOfflineCameraWakesItOnce(t *testing.T) {
	st := storetest.NewSQLite(t)
	rig := startPush(t, st)
	n := startNode(t, st, nodeOptions{config: rig.withPush(nil)})
	acct := newAccount(t, st)
	camera := acct.phone(t, store.RoleCamera, "android", "sleeping-camera")
	viewer := acct.phone(t, store.RoleViewer, "ios", "viewer-token")
	acct.link(t, camera, viewer)
	view := dial(t, n, viewer)

	first := sendCommand(view, camera, "set_torch", map[string]bool{"on": true})
	second := sendCommand(view, camera, "siren", map[string]any{"on": true, "seconds": 5})
	if first.Status != store.CommandPending || second.Status != store.CommandPending {
		t.Fatalf("commands to an offline camera: %s, %s, want pending", first.Status, second.Status)
	}
	// Both commands asked for a wake-up; the rate limit let one through.
	jobs, _, err := st.ListDeliveries(t.Context(), camera.ID, store.Page{})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("wake jobs %v %v, want exactly 1", jobs, err)
	}
	reqs, err := rig.fcm.WaitRequests(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Message struct {
			Token string
			Data  map[string]string
		}
	}
	if err := json.Unmarshal(reqs[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"wake","reason":"command","device_id":"` + camera.ID + `"}`
	if msg.Message.Token != "sleeping-camera" || msg.Message.Data["securecam"] != want {
		t.Errorf("wake push %s, want %s to sleeping-camera", reqs[0].Body, want)
	}

	// Woken, the camera connects and gets both commands.
	cam := dial(t, n, camera)
	got := map[string]bool{}
	for range 2 {
		got[decode[wire.CommandMessage](t, cam.expect("command")).CommandID] = true
	}
	if !got[first.CommandID] || !got[second.CommandID] {
		t.Errorf("camera got %v, want %s and %s", got, first.CommandID, second.CommandID)
	}
	if n := len(rig.fcm.Requests()); n != 1 {
		t.Errorf("%d wake pushes, want 1", n)
	}
}

// TestCameraOffline: camera_offline after an unclean drop, in every arming mode.
func TestCameraOffline(t *testing.T) {
	st := storetest.NewSQLite(t)
	rig := startPush(t, st)
	n := startNode(t, st, nodeOptions{config: rig.withPush(func(c *signaling.Config) {
		c.Events.CameraOfflineAfter = time.Second // long enough for the quick reconnects below on a loaded machine
	})})
	acct := newAccount(t, st)
	cam1 := acct.phone(t, store.RoleCamera, "android", "")
	cam2 := acct.phone(t, store.RoleCamera, "android", "")
	viewer := acct.phone(t, store.RoleViewer, "android", "")
	away := acct.phone(t, store.RoleViewer, "ios", "away-iphone")
	for _, c := range []store.Device{cam1, cam2} {
		acct.link(t, c, viewer)
		acct.link(t, c, away)
	}
	view := dial(t, n, viewer)
	// camera_offline is about the system, not motion: it alerts while disarmed too.
	if _, err := st.SetArmingMode(t.Context(), store.ArmingChange{UserID: acct.user.ID, Mode: store.ArmDisarmed, ByUserID: acct.user.ID}); err != nil {
		t.Fatal(err)
	}

	// wantOffline waits for the camera_offline event of camera.
	wantOffline := func(camera store.Device) wire.Event {
		t.Helper()
		env := view.expect("event")
		ev := decode[wire.Event](t, env)
		if env.From != camera.ID || ev.DeviceID != camera.ID || ev.TriggeredBy != store.TriggerCameraOffline ||
			ev.Status != store.EventActive || ev.NotifiedAt == nil || !ev.Armed {
			t.Fatalf("want camera_offline of %s, got %s", camera.ID, env.Data)
		}
		view.expect("notification")
		return ev
	}

	// An unclean drop: camera_offline once the delay passed, with an alert push.
	c1 := dial(t, n, cam1)
	c1.drop()
	ev := wantOffline(cam1)
	reqs, err := rig.apns.WaitRequests(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Token != "away-iphone" || !strings.Contains(string(reqs[0].Body), ev.ID) {
		t.Errorf("camera_offline push %+v %s", reqs[0], reqs[0].Body)
	}

	// Coming back ends that event.
	c1 = dial(t, n, cam1)
	ended := decode[wire.Event](t, view.expect("event"))
	if ended.ID != ev.ID || ended.Status != store.EventEnded {
		t.Errorf("after the camera came back: %+v, want the camera_offline event ended", ended)
	}

	// A clean close, and a drop followed by a quick reconnect, raise nothing: the next
	// camera_offline the viewer sees is that of cam2, which dropped after both.
	c1.close()
	c2 := dial(t, n, cam2)
	c1 = dial(t, n, cam1)
	c1.drop()
	c1 = dial(t, n, cam1)
	c2.drop()
	wantOffline(cam2)
	quiet(t, c1)
}

// A camera that drops off one replica and reconnects to another raises no
// camera_offline: the replica that saw the drop checks cluster-wide presence.
func TestCameraOfflineNotRaisedAfterReconnectElsewhere(t *testing.T) {
	st := storetest.NewPostgres(t)
	url, prefix := bustest.RedisURL(t), bustest.Prefix(t)
	delay := time.Second // long enough for the reconnect elsewhere on a loaded machine
	replica := func() *node {
		return startRedisReplica(t, st, url, prefix, func(c *signaling.Config) { c.Events.CameraOfflineAfter = delay })
	}
	a, b := replica(), replica()
	acct := newAccount(t, st)
	cam1 := acct.phone(t, store.RoleCamera, "android", "")
	cam2 := acct.phone(t, store.RoleCamera, "android", "")
	viewer := acct.phone(t, store.RoleViewer, "android", "")
	acct.link(t, cam1, viewer)
	acct.link(t, cam2, viewer)
	view := dial(t, b, viewer)

	c1 := dial(t, a, cam1)
	c1.drop()
	dial(t, b, cam1) // back, on the other replica
	c2 := dial(t, a, cam2)
	c2.drop() // cam2 stays away

	env := view.expect("event")
	if ev := decode[wire.Event](t, env); ev.DeviceID != cam2.ID || ev.TriggeredBy != store.TriggerCameraOffline {
		t.Fatalf("first event %s, want camera_offline of cam2 only", env.Data)
	}
}
