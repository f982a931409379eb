package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/storetest"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a push queue on a real store with a worker sending to the APNs and FCM fakes.
type env struct {
	st     store.Store
	apns   *pushtest.APNs
	fcm    *pushtest.FCM
	web    *pushtest.WebPush
	vapid  push.WebPushConfig
	clock  *storetest.Clock
	logs   *logBuffer
	queue  *push.Queue
	worker *push.Worker
	user   store.User
}

type envOptions struct {
	provider    push.Provider // default: the real provider on the fakes
	maxAttempts int
}

func newEnv(t *testing.T, st store.Store, opts envOptions) *env {
	t.Helper()
	e := &env{st: st, apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t), web: pushtest.NewWebPush(t),
		clock: storetest.NewClock(), logs: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	e.vapid, _, err = push.LoadVAPID(t.Context(), st, push.WebPushConfig{Subject: "mailto:ops@example.com", Client: e.web.Client})
	if err != nil {
		t.Fatal(err)
	}
	p := opts.provider
	if p == nil {
		p, err = push.NewProvider(push.Config{APNs: e.apns.Config(), FCM: e.fcm.Config(), WebPush: e.vapid}, logger)
		if err != nil {
			t.Fatal(err)
		}
	}
	e.worker, err = push.NewWorker(push.WorkerConfig{Store: st, Provider: p, Logger: logger, ID: "worker-a",
		PollInterval: time.Hour, Now: e.clock.Now, MaxAttempts: opts.maxAttempts})
	if err != nil {
		t.Fatal(err)
	}
	e.queue, err = push.NewQueue(push.QueueConfig{Store: st, Notify: e.worker.Notify, Logger: logger, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, e.worker)
	e.user = store.User{Email: fmt.Sprintf("push-%d@example.com", time.Now().UnixNano()), Name: "Push", PasswordHash: "x:y"}
	if err := st.CreateUser(t.Context(), &e.user); err != nil {
		t.Fatal(err)
	}
	return e
}

// runWorker runs w until the test ends and checks that Run returns.
func runWorker(t *testing.T, w *push.Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30 s")
		}
	})
}

func (e *env) device(t *testing.T, platform, token string) store.Device {
	t.Helper()
	d := store.Device{UserID: e.user.ID, Name: platform + " phone", Role: store.RoleViewer, Platform: platform}
	if token != "" {
		d.PushToken = &token
	}
	if err := e.st.CreateDevice(t.Context(), &d, ""); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) camera(t *testing.T) store.Device {
	t.Helper()
	d := store.Device{UserID: e.user.ID, Name: "Front door", Role: store.RoleCamera, Platform: "android"}
	if err := e.st.CreateDevice(t.Context(), &d, ""); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) event(t *testing.T, cam store.Device) store.Event {
	t.Helper()
	ev := store.Event{UserID: e.user.ID, DeviceID: cam.ID, Title: "Motion detected", TriggeredBy: "motion"}
	if err := e.st.CreateEvent(t.Context(), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// jobs lists the jobs queued for a device, newest first.
func (e *env) jobs(t *testing.T, deviceID string) []store.Delivery {
	t.Helper()
	ds, _, err := e.st.ListDeliveries(t.Context(), deviceID, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// onlyJob returns the one job queued for a device.
func (e *env) onlyJob(t *testing.T, deviceID string) store.Delivery {
	t.Helper()
	ds := e.jobs(t, deviceID)
	if len(ds) != 1 {
		t.Fatalf("%d jobs for %s, want 1", len(ds), deviceID)
	}
	return ds[0]
}

// waitJob waits until the job satisfies cond and returns it.
func waitJob(t *testing.T, st store.Store, id string, what string, cond func(store.Delivery) bool) store.Delivery {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := st.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(d) {
			return d
		}
		select {
		case <-deadline:
			t.Fatalf("job %s never became %s: %+v", id, what, d)
		case <-tick.C:
		}
	}
}

func statusIs(s string) func(store.Delivery) bool {
	return func(d store.Delivery) bool { return d.Status == s }
}

func pendingAfter(attempts int) func(store.Delivery) bool {
	return func(d store.Delivery) bool { return d.Status == store.DeliveryPending && d.Attempts == attempts }
}

func TestWorkerSendsQueuedPushes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	ctx := t.Context()
	iphone := e.device(t, push.PlatformIOS, "apns-token-1")
	pixel := e.device(t, push.PlatformAndroid, "fcm-token-1")
	ev := e.event(t, e.camera(t))

	if err := e.queue.Alert(ctx, iphone.ID, ev, "Front door"); err != nil {
		t.Fatal(err)
	}
	if err := e.queue.Wake(ctx, pixel.ID, push.WakeCommand); err != nil {
		t.Fatal(err)
	}
	alert := waitJob(t, e.st, e.onlyJob(t, iphone.ID).ID, "sent", statusIs(store.DeliverySent))
	wake := waitJob(t, e.st, e.onlyJob(t, pixel.ID).ID, "sent", statusIs(store.DeliverySent))
	for _, d := range []store.Delivery{alert, wake} {
		if d.Attempts != 1 || d.SentAt == nil || d.LastError != nil {
			t.Errorf("sent job %+v, want one attempt, sent_at, no error", d)
		}
	}
	if alert.Type != store.DeliveryEvent || wake.Type != store.DeliveryWake {
		t.Errorf("types %q %q", alert.Type, wake.Type)
	}

	reqs := e.apns.Requests()
	if len(reqs) != 1 || reqs[0].Token != "apns-token-1" {
		t.Fatalf("APNs requests %+v, want one to apns-token-1", reqs)
	}
	if h := reqs[0].Header; h.Get("apns-push-type") != "alert" || h.Get("apns-priority") != "10" || h.Get("apns-collapse-id") != ev.ID {
		t.Errorf("APNs alert headers %v", h)
	}
	var body struct {
		APS struct {
			Alert struct{ Title, Body string }
		}
		SecureCam map[string]string
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.APS.Alert.Title != "Motion detected" || body.APS.Alert.Body != "Front door" ||
		body.SecureCam["type"] != "event" || body.SecureCam["event_id"] != ev.ID {
		t.Errorf("APNs alert body %s", reqs[0].Body)
	}

	freqs := e.fcm.Requests()
	if len(freqs) != 1 || freqs[0].Token != "fcm-token-1" {
		t.Fatalf("FCM requests %+v, want one to fcm-token-1", freqs)
	}
	var msg struct {
		Message struct {
			Data    map[string]string
			Android struct{ Priority string }
		}
	}
	if err := json.Unmarshal(freqs[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"wake","reason":"command","device_id":"` + pixel.ID + `"}`
	if msg.Message.Data["securecam"] != want || msg.Message.Android.Priority != "high" {
		t.Errorf("FCM wake %s, want data.securecam %s at high priority", freqs[0].Body, want)
	}
}

func TestWorkerClearsInvalidTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		platform string
		resp     pushtest.Response
		reason   string
	}{
		{"APNs Unregistered", push.PlatformIOS, pushtest.Response{Status: http.StatusGone, Reason: "Unregistered"}, "Unregistered"},
		{"APNs BadDeviceToken", push.PlatformIOS, pushtest.Response{Status: http.StatusBadRequest, Reason: "BadDeviceToken"}, "BadDeviceToken"},
		{"FCM UNREGISTERED", push.PlatformAndroid, pushtest.Response{Status: http.StatusNotFound, Reason: "UNREGISTERED"}, "UNREGISTERED"},
		{"FCM SENDER_ID_MISMATCH", push.PlatformAndroid, pushtest.Response{Status: http.StatusForbidden, Reason: "SENDER_ID_MISMATCH"}, "SENDER_ID_MISMATCH"},
	}
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := fmt.Sprintf("dead-token-%d", i)
			e.apns.Respond(token, tt.resp)
			e.fcm.Respond(token, tt.resp)
			dev := e.device(t, tt.platform, token)
			if err := e.queue.Wake(t.Context(), dev.ID, push.WakeStreamRequest); err != nil {
				t.Fatal(err)
			}
			d := waitJob(t, e.st, e.onlyJob(t, dev.ID).ID, "failed", statusIs(store.DeliveryFailed))
			if d.Attempts != 1 || d.LastError == nil || !strings.Contains(*d.LastError, tt.reason) {
				t.Errorf("failed job %+v, want one attempt with %s", d, tt.reason)
			}
			got, err := e.st.Device(t.Context(), dev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PushToken != nil {
				t.Errorf("push token %q kept after %s", *got.PushToken, tt.reason)
			}
		})
	}
}

func TestWorkerRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		platform string
		resp     pushtest.Response
		min, max time.Duration // of the first retry's delay
	}{
		{"APNs 503", push.PlatformIOS, pushtest.Response{Status: http.StatusServiceUnavailable, Reason: "ServiceUnavailable"}, time.Second, 2 * time.Second},
		{"APNs 429 with Retry-After", push.PlatformIOS, pushtest.Response{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: "120"}, 120 * time.Second, 120 * time.Second},
		{"FCM 500 INTERNAL", push.PlatformAndroid, pushtest.Response{Status: http.StatusInternalServerError, Reason: "INTERNAL"}, time.Second, 2 * time.Second},
		{"FCM 429 QUOTA_EXCEEDED with Retry-After", push.PlatformAndroid, pushtest.Response{Status: http.StatusTooManyRequests, Reason: "QUOTA_EXCEEDED", RetryAfter: "30"}, 30 * time.Second, 30 * time.Second},
		{"FCM 503 UNAVAILABLE with Retry-After", push.PlatformAndroid, pushtest.Response{Status: http.StatusServiceUnavailable, Reason: "UNAVAILABLE", RetryAfter: "300"}, 300 * time.Second, 300 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.NewSQLite(t), envOptions{})
			ctx := t.Context()
			token := fmt.Sprintf("busy-token-%d", i)
			e.apns.Respond(token, tt.resp)
			e.fcm.Respond(token, tt.resp)
			dev := e.device(t, tt.platform, token)
			ev := e.event(t, e.camera(t))
			start := e.clock.Now().Truncate(time.Microsecond) // the store keeps microseconds
			if err := e.queue.Alert(ctx, dev.ID, ev, "Front door"); err != nil {
				t.Fatal(err)
			}
			id := e.onlyJob(t, dev.ID).ID
			d := waitJob(t, e.st, id, "pending after one attempt", pendingAfter(1))
			delay := d.NextAttemptAt.Sub(start)
			if delay < tt.min || delay > tt.max {
				t.Errorf("retry after %v, want %v..%v", delay, tt.min, tt.max)
			}
			if d.LastError == nil || d.SentAt != nil {
				t.Errorf("retried job %+v, want last_error and no sent_at", d)
			}

			e.clock.Advance(delay)
			e.worker.Notify()
			d = waitJob(t, e.st, id, "sent", statusIs(store.DeliverySent))
			if d.Attempts != 2 || d.LastError != nil {
				t.Errorf("sent job %+v, want attempt 2 and the error cleared", d)
			}
			if n := len(e.apns.Requests()) + len(e.fcm.Requests()); n != 2 {
				t.Errorf("%d push requests, want 2", n)
			}
		})
	}
}

func TestWorkerFailsPermanentErrorsLoudly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		platform string
		resp     pushtest.Response
	}{
		{"APNs BadExpirationDate", push.PlatformIOS, pushtest.Response{Status: http.StatusBadRequest, Reason: "BadExpirationDate"}},
		{"FCM THIRD_PARTY_AUTH_ERROR", push.PlatformAndroid, pushtest.Response{Status: http.StatusUnauthorized, Reason: "THIRD_PARTY_AUTH_ERROR"}},
	}
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := fmt.Sprintf("bad-token-%d", i)
			e.apns.Respond(token, tt.resp)
			e.fcm.Respond(token, tt.resp)
			dev := e.device(t, tt.platform, token)
			if err := e.queue.Wake(t.Context(), dev.ID, push.WakeCommand); err != nil {
				t.Fatal(err)
			}
			d := waitJob(t, e.st, e.onlyJob(t, dev.ID).ID, "failed", statusIs(store.DeliveryFailed))
			if d.Attempts != 1 || d.LastError == nil || !strings.Contains(*d.LastError, tt.resp.Reason) {
				t.Errorf("failed job %+v", d)
			}
			if got, _ := e.st.Device(t.Context(), dev.ID); got.PushToken == nil {
				t.Error("push token cleared after a permanent error that is not about the token")
			}
			if logs := e.logs.String(); !strings.Contains(logs, "level=ERROR msg=\"push failed permanently\"") || !strings.Contains(logs, d.ID) {
				t.Errorf("no error log for the failed job %s:\n%s", d.ID, logs)
			}
		})
	}
}

func TestWorkerExpiresLateJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	ctx := t.Context()

	// A job whose expiry passed before a worker got to it is dropped unsent.
	dev := e.device(t, push.PlatformIOS, "late-token")
	now := e.clock.Now()
	job := store.Delivery{OwnerUserID: e.user.ID, RecipientDeviceID: dev.ID, Type: store.DeliveryWake,
		Payload:   json.RawMessage(`{"securecam":{"type":"wake","reason":"command","device_id":"` + dev.ID + `"}}`),
		CreatedAt: now.Add(-2 * time.Minute), ExpiresAt: now.Add(-time.Minute)}
	if _, err := e.st.EnqueueDelivery(ctx, &job, 0); err != nil {
		t.Fatal(err)
	}
	e.worker.Notify()
	d := waitJob(t, e.st, job.ID, "expired", statusIs(store.DeliveryExpired))
	if d.Attempts != 1 || d.SentAt != nil {
		t.Errorf("expired job %+v", d)
	}

	// A wake that would be retried after its expiry (Retry-After 120 s, wake TTL 60 s)
	// expires instead.
	busy := e.device(t, push.PlatformIOS, "throttled-token")
	e.apns.Respond("throttled-token", pushtest.Response{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: "120"})
	if err := e.queue.Wake(ctx, busy.ID, push.WakeCommand); err != nil {
		t.Fatal(err)
	}
	d = waitJob(t, e.st, e.onlyJob(t, busy.ID).ID, "expired", statusIs(store.DeliveryExpired))
	if d.LastError == nil || !strings.Contains(*d.LastError, "TooManyRequests") {
		t.Errorf("expired wake %+v, want the throttling error", d)
	}
	if n := len(e.apns.Requests()); n != 1 {
		t.Errorf("%d APNs requests, want only the throttled one", n)
	}
}

func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{maxAttempts: 2})
	dev := e.device(t, push.PlatformIOS, "down-token")
	down := pushtest.Response{Status: http.StatusInternalServerError, Reason: "InternalServerError"}
	e.apns.Respond("down-token", down, down, down)
	if err := e.queue.Alert(t.Context(), dev.ID, e.event(t, e.camera(t)), ""); err != nil {
		t.Fatal(err)
	}
	id := e.onlyJob(t, dev.ID).ID
	waitJob(t, e.st, id, "pending after one attempt", pendingAfter(1))
	e.clock.Advance(time.Minute)
	e.worker.Notify()
	d := waitJob(t, e.st, id, "failed", statusIs(store.DeliveryFailed))
	if d.Attempts != 2 {
		t.Errorf("failed after %d attempts, want 2", d.Attempts)
	}
}

// blockingProvider holds every send until released.
type blockingProvider struct {
	started chan push.Message
	release chan struct{}
}

func (p *blockingProvider) Send(_ context.Context, m push.Message) error {
	p.started <- m
	<-p.release
	return nil
}

func TestWorkerDrainsOnShutdown(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	p := &blockingProvider{started: make(chan push.Message, 1), release: make(chan struct{})}
	w, err := push.NewWorker(push.WorkerConfig{Store: st, Provider: p, ID: "draining", PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	q, err := push.NewQueue(push.QueueConfig{Store: st, Notify: w.Notify})
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{Email: "drain@example.com", Name: "D", PasswordHash: "x:y"}
	if err := st.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	tok := "drain-token"
	dev := store.Device{UserID: u.ID, Name: "p", Role: store.RoleViewer, Platform: push.PlatformIOS, PushToken: &tok}
	if err := st.CreateDevice(t.Context(), &dev, ""); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if err := q.Wake(t.Context(), dev.ID, push.WakeCommand); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never sent")
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a send was in flight")
	default:
	}
	close(p.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the send finished")
	}
	ds, _, err := st.ListDeliveries(t.Context(), dev.ID, store.Page{})
	if err != nil || len(ds) != 1 || ds[0].Status != store.DeliverySent {
		t.Errorf("after the drain: %+v %v, want the job sent", ds, err)
	}
}

func TestQueueWake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	ctx := t.Context()
	phone := e.device(t, push.PlatformIOS, "wake-token")

	// One wake per device per 30 s, whatever the reason.
	for _, reason := range []string{push.WakeCommand, push.WakeStreamRequest, push.WakeCommand} {
		if err := e.queue.Wake(ctx, phone.ID, reason); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.jobs(t, phone.ID)); n != 1 {
		t.Fatalf("%d wake jobs within the interval, want 1", n)
	}
	e.clock.Advance(30*time.Second + time.Millisecond)
	if err := e.queue.Wake(ctx, phone.ID, push.WakeCommand); err != nil {
		t.Fatal(err)
	}
	jobs := e.jobs(t, phone.ID)
	if len(jobs) != 2 {
		t.Fatalf("%d wake jobs after the interval, want 2", len(jobs))
	}
	var p struct{ SecureCam map[string]string }
	if err := json.Unmarshal(jobs[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.SecureCam["type"] != "wake" || p.SecureCam["reason"] != "command" || p.SecureCam["device_id"] != phone.ID || len(p.SecureCam) != 3 {
		t.Errorf("wake payload %s", jobs[0].Payload)
	}
	if ttl := jobs[0].ExpiresAt.Sub(jobs[0].CreatedAt); ttl != push.WakeTTL {
		t.Errorf("wake expires after %v, want %v", ttl, push.WakeTTL)
	}

	// No job for a device that cannot receive a push.
	for name, dev := range map[string]store.Device{
		"no push token": e.device(t, push.PlatformAndroid, ""),
		"web platform":  e.device(t, "web", "web-token"),
	} {
		if err := e.queue.Wake(ctx, dev.ID, push.WakeCommand); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if n := len(e.jobs(t, dev.ID)); n != 0 {
			t.Errorf("%s: %d jobs, want none", name, n)
		}
	}
	if err := e.queue.Wake(ctx, "01960000-0000-7000-8000-00000000dead", push.WakeCommand); err != nil {
		t.Errorf("wake of a missing device: %v", err)
	}
	if err := e.queue.Wake(ctx, phone.ID, "reboot"); err == nil {
		t.Error("a wake with an unknown reason was accepted")
	}
}

// Two replicas, each with its own connection pool and worker, share one PostgreSQL
// queue: every job is sent exactly once.
func TestWorkersShareOnePostgresQueue(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	open := func() store.Store {
		st, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 6})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	a, b := open(), open()
	apns, fcm := pushtest.NewAPNs(t), pushtest.NewFCM(t)
	ctx := t.Context()

	u := store.User{Email: "replicas@example.com", Name: "R", PasswordHash: "x:y"}
	if err := a.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	cam := store.Device{UserID: u.ID, Name: "Garage", Role: store.RoleCamera, Platform: "android"}
	if err := a.CreateDevice(ctx, &cam, ""); err != nil {
		t.Fatal(err)
	}
	ev := store.Event{UserID: u.ID, DeviceID: cam.ID, Title: "Motion", TriggeredBy: "motion"}
	if err := a.CreateEvent(ctx, &ev); err != nil {
		t.Fatal(err)
	}
	q, err := push.NewQueue(push.QueueConfig{Store: a})
	if err != nil {
		t.Fatal(err)
	}
	const perPlatform = 30
	var ids []string
	for i := range 2 * perPlatform {
		platform, token := push.PlatformIOS, fmt.Sprintf("apns-%02d", i)
		if i%2 == 1 {
			platform, token = push.PlatformAndroid, fmt.Sprintf("fcm-%02d", i)
		}
		d := store.Device{UserID: u.ID, Name: token, Role: store.RoleViewer, Platform: platform, PushToken: &token}
		if err := a.CreateDevice(ctx, &d, ""); err != nil {
			t.Fatal(err)
		}
		if err := q.Alert(ctx, d.ID, ev, "Garage"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}

	for i, st := range []store.Store{a, b} {
		p, err := push.NewProvider(push.Config{APNs: apns.Config(), FCM: fcm.Config()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, err := push.NewWorker(push.WorkerConfig{Store: st, Provider: p, ID: fmt.Sprintf("replica-%d", i),
			Concurrency: 4, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runWorker(t, w)
	}

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := apns.WaitRequests(wctx, perPlatform); err != nil {
		t.Fatal(err)
	}
	if _, err := fcm.WaitRequests(wctx, perPlatform); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		ds, _, err := b.ListDeliveries(ctx, id, store.Page{})
		if err != nil || len(ds) != 1 {
			t.Fatalf("jobs of %s: %v %v", id, ds, err)
		}
		// Attempts may exceed 1 on a loaded machine (a connection to the fake service
		// timed out before the request left: a legitimate retry); a job claimed by
		// both workers shows as a second request below.
		waitJob(t, b, ds[0].ID, "sent", statusIs(store.DeliverySent))
	}
	perToken := map[string]int{}
	for _, r := range apns.Requests() {
		perToken[r.Token]++
	}
	for _, r := range fcm.Requests() {
		perToken[r.Token]++
	}
	if len(perToken) != 2*perPlatform {
		t.Errorf("%d tokens got pushes, want %d", len(perToken), 2*perPlatform)
	}
	for tok, n := range perToken {
		if n != 1 {
			t.Errorf("token %s got %d pushes, want 1", tok, n)
		}
	}
}
