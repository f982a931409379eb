package push_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// A browser's subscription receives the event alert: the local push service decrypts
// the aes128gcm body with the subscription's private key and checks the VAPID JWT.
func TestWebPushDeliversEventAlerts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	ctx := t.Context()
	sub := e.web.Subscribe(t, e.vapid.PublicKey)
	browser := e.device(t, push.PlatformWeb, sub.JSON())
	ev := e.event(t, e.camera(t))

	if err := e.queue.Alert(ctx, browser.ID, ev, "Front door"); err != nil {
		t.Fatal(err)
	}
	d := waitJob(t, e.st, e.onlyJob(t, browser.ID).ID, "sent", statusIs(store.DeliverySent))
	if d.Attempts != 1 || d.LastError != nil {
		t.Errorf("sent job %+v, want one attempt and no error", d)
	}
	reqs := e.web.Requests()
	if len(reqs) != 1 {
		t.Fatalf("push service requests %v, want 1", reqs)
	}
	r := reqs[0]
	if r.Status != http.StatusCreated || r.Problem != "" || r.Subscription != sub.ID() {
		t.Fatalf("push service answered %v, want 201 for %s", r, sub.ID())
	}
	var body struct {
		SecureCam map[string]string `json:"securecam"`
		Title     string            `json:"title"`
		Body      string            `json:"body"`
	}
	if err := json.Unmarshal(r.Payload, &body); err != nil {
		t.Fatalf("decrypted payload %q: %v", r.Payload, err)
	}
	if body.SecureCam["type"] != "event" || body.SecureCam["event_id"] != ev.ID || body.Title != "Motion detected" || body.Body != "Front door" {
		t.Errorf("decrypted payload %s", r.Payload)
	}
	if r.Audience != e.web.URL || r.Subject != "mailto:ops@example.com" {
		t.Errorf("VAPID aud %q sub %q, want %q and mailto:ops@example.com", r.Audience, r.Subject, e.web.URL)
	}
	if left := time.Until(r.Expiry); left <= 0 || left > 24*time.Hour {
		t.Errorf("VAPID exp in %v, want within 24 h", left)
	}
	if r.Urgency != "high" || r.TTL == "" || r.TTL == "0" {
		t.Errorf("Urgency %q TTL %q, want high and the event's time to live", r.Urgency, r.TTL)
	}

	// A browser is never woken: a wake for it queues nothing.
	if err := e.queue.Wake(ctx, browser.ID, push.WakeCommand); err != nil {
		t.Fatal(err)
	}
	if jobs := e.jobs(t, browser.ID); len(jobs) != 1 {
		t.Errorf("%d jobs after a wake, want the alert only", len(jobs))
	}
}

// 404 and 410 from the push service mean the subscription is gone: it is removed from
// the device and the job fails without a retry.
func TestWebPushGoneSubscriptionIsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			sub := e.web.Subscribe(t, e.vapid.PublicKey)
			e.web.Respond(sub.ID(), pushtest.Response{Status: status})
			dev := e.device(t, push.PlatformWeb, sub.JSON())
			if err := e.queue.Alert(t.Context(), dev.ID, e.event(t, e.camera(t)), "Garden"); err != nil {
				t.Fatal(err)
			}
			d := waitJob(t, e.st, e.onlyJob(t, dev.ID).ID, "failed", statusIs(store.DeliveryFailed))
			if d.Attempts != 1 || d.LastError == nil || !strings.Contains(*d.LastError, http.StatusText(status)) {
				t.Errorf("failed job %+v, want one attempt with %s", d, http.StatusText(status))
			}
			got, err := e.st.Device(t.Context(), dev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PushToken != nil {
				t.Errorf("subscription %q kept after %d", *got.PushToken, status)
			}
		})
	}
}

// 429 with Retry-After: the next attempt comes no sooner than the push service asked,
// and then succeeds.
func TestWebPushTooManyRequestsHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	sub := e.web.Subscribe(t, e.vapid.PublicKey)
	e.web.Respond(sub.ID(), pushtest.Response{Status: http.StatusTooManyRequests, RetryAfter: "90"})
	dev := e.device(t, push.PlatformWeb, sub.JSON())
	start := e.clock.Now().Truncate(time.Microsecond)
	if err := e.queue.Alert(t.Context(), dev.ID, e.event(t, e.camera(t)), "Porch"); err != nil {
		t.Fatal(err)
	}
	id := e.onlyJob(t, dev.ID).ID
	d := waitJob(t, e.st, id, "pending after one attempt", pendingAfter(1))
	if delay := d.NextAttemptAt.Sub(start); delay != 90*time.Second {
		t.Errorf("retry after %v, want the Retry-After of 90 s", delay)
	}
	e.clock.Advance(90 * time.Second)
	e.worker.Notify()
	d = waitJob(t, e.st, id, "sent", statusIs(store.DeliverySent))
	if d.Attempts != 2 {
		t.Errorf("sent after %d attempts, want 2", d.Attempts)
	}
	reqs := e.web.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusTooManyRequests || reqs[1].Status != http.StatusCreated {
		t.Errorf("push service requests %v, want 429 then 201", reqs)
	}
}

// A push signed with another key than the one the browser subscribed with is refused
// (403) and not retried; the subscription stays.
func TestWebPushForeignVAPIDKeyIsPermanent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewSQLite(t), envOptions{})
	other, _, err := push.LoadVAPID(t.Context(), storetest.NewSQLite(t), push.WebPushConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub := e.web.Subscribe(t, other.PublicKey)
	dev := e.device(t, push.PlatformWeb, sub.JSON())
	if err := e.queue.Alert(t.Context(), dev.ID, e.event(t, e.camera(t)), "Porch"); err != nil {
		t.Fatal(err)
	}
	d := waitJob(t, e.st, e.onlyJob(t, dev.ID).ID, "failed", statusIs(store.DeliveryFailed))
	if d.LastError == nil || !strings.Contains(*d.LastError, "403") {
		t.Errorf("failed job %+v, want the 403", d)
	}
	if got, _ := e.st.Device(t.Context(), dev.ID); got.PushToken == nil {
		t.Error("subscription removed after a 403, want it kept")
	}
}

// The hub makes its key pair once and keeps it in the store for every replica; a
// configured pair is checked.
func TestLoadVAPID(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	first, generated, err := push.LoadVAPID(t.Context(), st, push.WebPushConfig{})
	if err != nil || !generated {
		t.Fatalf("first LoadVAPID: generated %v, %v", generated, err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(first.PublicKey)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		t.Errorf("public key %q: want 65 bytes, uncompressed, base64url", first.PublicKey)
	}
	again, generated, err := push.LoadVAPID(t.Context(), st, push.WebPushConfig{})
	if err != nil || generated || again.PublicKey != first.PublicKey || again.PrivateKey != first.PrivateKey {
		t.Errorf("second LoadVAPID: generated %v, same pair %v, %v; want the stored pair", generated, again.PublicKey == first.PublicKey, err)
	}

	other, _, err := push.LoadVAPID(t.Context(), storetest.NewSQLite(t), push.WebPushConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bad := []push.WebPushConfig{
		{PublicKey: first.PublicKey},
		{PublicKey: other.PublicKey, PrivateKey: first.PrivateKey},
		{PublicKey: first.PublicKey, PrivateKey: "not base64!"},
	}
	for _, cfg := range bad {
		if _, _, err := push.LoadVAPID(t.Context(), st, cfg); err == nil {
			t.Errorf("LoadVAPID(%+v): no error", cfg)
		}
	}
	if _, err := push.NewProvider(push.Config{WebPush: push.WebPushConfig{PublicKey: first.PublicKey, PrivateKey: first.PrivateKey, Subject: "ops@example.com"}}, nil); err == nil {
		t.Error("NewProvider with a subject that is not a mailto: or https: URL: no error")
	}
}

func TestParseSubscription(t *testing.T) {
	t.Parallel()
	w := pushtest.NewWebPush(t)
	good := w.Subscribe(t, "BKey")
	if _, err := push.ParseSubscription(good.JSON()); err != nil {
		t.Fatalf("a browser's subscription: %v", err)
	}
	mutate := map[string]func(s *pushtest.Subscription){
		"http endpoint": func(s *pushtest.Subscription) { s.Endpoint = strings.Replace(s.Endpoint, "https:", "http:", 1) },
		"short p256dh":  func(s *pushtest.Subscription) { s.Keys.P256dh = s.Keys.P256dh[:20] },
		"no auth":       func(s *pushtest.Subscription) { s.Keys.Auth = "" },
	}
	for name, fn := range mutate {
		s := good
		fn(&s)
		if _, err := push.ParseSubscription(s.JSON()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := push.ParseSubscription("fcm-token"); err == nil {
		t.Error("a token that is not JSON: no error")
	}
}
