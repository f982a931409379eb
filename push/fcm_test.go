package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
)

func newFCMProvider(t *testing.T, f *pushtest.FCM) push.Provider {
	t.Helper()
	p, err := push.NewProvider(push.Config{FCM: f.Config()}, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return p
}

// fcmBody is what an FCM v1 send request carries, as the fake received it.
type fcmBody struct {
	Message struct {
		Token   string            `json:"token"`
		Data    map[string]string `json:"data"`
		Android struct {
			CollapseKey string `json:"collapse_key"`
			Priority    string `json:"priority"`
			TTL         string `json:"ttl"`
		} `json:"android"`
		Notification json.RawMessage `json:"notification"`
		APNS         json.RawMessage `json:"apns"`
	} `json:"message"`
}

func TestFCMSendEncodesDataMessage(t *testing.T) {
	t.Parallel()
	custom := eventMsg(push.PlatformAndroid, "tok-3")
	custom.CollapseID = "camera-1"
	tests := []struct {
		name     string
		msg      push.Message
		ttl      time.Duration
		data     map[string]string
		collapse string
	}{{
		name:     "wake with default expiry",
		msg:      wakeMsg(push.PlatformAndroid, "tok-0"),
		ttl:      push.WakeTTL,
		data:     map[string]string{"securecam": `{"type":"wake","reason":"command","device_id":"` + deviceID + `"}`},
		collapse: "wake",
	}, {
		name: "event with default expiry",
		msg:  eventMsg(push.PlatformAndroid, "tok-1"),
		ttl:  push.EventTTL,
		data: map[string]string{
			"securecam": `{"type":"event","event_id":"` + eventID + `"}`,
			"title":     "Motion", "body": "Front door",
		},
	}, {
		name: "event with expiry and collapse id",
		msg: func() push.Message {
			m := custom
			m.Expiry = time.Now().Add(5 * time.Minute)
			return m
		}(),
		ttl: 5 * time.Minute,
		data: map[string]string{
			"securecam": `{"type":"event","event_id":"` + eventID + `"}`,
			"title":     "Motion", "body": "Front door",
		},
		collapse: "camera-1",
	}}
	fake := pushtest.NewFCM(t)
	p := newFCMProvider(t, fake)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Send(t.Context(), tc.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			req := lastFCM(t, fake, tc.msg.Token)
			var body fcmBody
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatalf("decode %s: %v", req.Body, err)
			}
			m := body.Message
			if m.Token != tc.msg.Token || !maps.Equal(m.Data, tc.data) {
				t.Errorf("token %q data %v, want %q %v", m.Token, m.Data, tc.msg.Token, tc.data)
			}
			if m.Notification != nil || m.APNS != nil {
				t.Errorf("not data-only: %s", req.Body)
			}
			if m.Android.Priority != "high" || m.Android.CollapseKey != tc.collapse {
				t.Errorf("android %+v, want priority high, collapse key %q", m.Android, tc.collapse)
			}
			ttl, err := time.ParseDuration(m.Android.TTL)
			if err != nil || ttl > tc.ttl || ttl < tc.ttl-5*time.Second {
				t.Errorf("ttl %q, want about %v", m.Android.TTL, tc.ttl)
			}
		})
	}
}

func TestFCMSignsInOnceAndSendsBearer(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewFCM(t)
	p := newFCMProvider(t, fake)
	for i := range 3 {
		if err := p.Send(t.Context(), wakeMsg(push.PlatformAndroid, "tok-"+strconv.Itoa(i))); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if n := fake.AccessTokensIssued(); n != 1 {
		t.Fatalf("%d access tokens issued, want 1 reused across sends", n)
	}
	for _, r := range fake.Requests() {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ya29.pushtest-") {
			t.Fatalf("send without the issued access token: %q", r.Header.Get("Authorization"))
		}
	}
}

func TestFCMErrorsAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		res        pushtest.Response
		class      push.Class
		reason     string
		retryAfter time.Duration
	}{
		{"unregistered", pushtest.Response{Status: 404, Reason: "UNREGISTERED"}, push.ClassTokenInvalid, "UNREGISTERED", 0},
		{"sender id mismatch", pushtest.Response{Status: 403, Reason: "SENDER_ID_MISMATCH"}, push.ClassTokenInvalid, "SENDER_ID_MISMATCH", 0},
		{"malformed token", pushtest.Response{Status: 400, Reason: "INVALID_ARGUMENT",
			Message: "The registration token is not a valid FCM registration token"}, push.ClassTokenInvalid, "INVALID_ARGUMENT", 0},
		{"other invalid argument", pushtest.Response{Status: 400, Reason: "INVALID_ARGUMENT",
			Message: "Invalid value at 'message.android.ttl'"}, push.ClassPermanent, "INVALID_ARGUMENT", 0},
		{"quota exceeded", pushtest.Response{Status: 429, Reason: "QUOTA_EXCEEDED", RetryAfter: "7"}, push.ClassRetryable, "QUOTA_EXCEEDED", 7 * time.Second},
		// A Retry-After beyond 2 minutes stops the client library retrying by itself.
		{"unavailable", pushtest.Response{Status: 503, Reason: "UNAVAILABLE", RetryAfter: "300"}, push.ClassRetryable, "UNAVAILABLE", 300 * time.Second},
		{"internal", pushtest.Response{Status: 500, Reason: "INTERNAL"}, push.ClassRetryable, "INTERNAL", 0},
		{"internal without detail", pushtest.Response{Status: 500}, push.ClassRetryable, "INTERNAL", 0},
		{"third party auth", pushtest.Response{Status: 401, Reason: "THIRD_PARTY_AUTH_ERROR"}, push.ClassPermanent, "THIRD_PARTY_AUTH_ERROR", 0},
		{"not found without detail", pushtest.Response{Status: 404}, push.ClassPermanent, "NOT_FOUND", 0},
	}
	fake := pushtest.NewFCM(t)
	p := newFCMProvider(t, fake)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := "err-" + strconv.Itoa(i)
			fake.Respond(token, tc.res)
			err := p.Send(t.Context(), eventMsg(push.PlatformAndroid, token))
			class, retryAfter := push.Classify(err)
			if class != tc.class || retryAfter != tc.retryAfter {
				t.Fatalf("Classify(%v) = %v, %v; want %v, %v", err, class, retryAfter, tc.class, tc.retryAfter)
			}
			var pe *push.Error
			if !errors.As(err, &pe) || pe.Service != "fcm" || pe.Status != tc.res.Status || pe.Reason != tc.reason {
				t.Fatalf("error %#v, want fcm %d %s", err, tc.res.Status, tc.reason)
			}
			if n := len(fake.Requests()); n == 0 {
				t.Fatal("fake got no request")
			}
		})
	}
}

func TestFCMClientRetries503WithinSend(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewFCM(t)
	p := newFCMProvider(t, fake)
	fake.Respond("tok-503", pushtest.Response{Status: 503, Reason: "UNAVAILABLE"})
	if err := p.Send(t.Context(), wakeMsg(push.PlatformAndroid, "tok-503")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Status != 503 || reqs[1].Status != 200 {
		t.Fatalf("requests %+v, want a 503 then a 200", reqs)
	}
}

func TestFCMTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewFCM(t)
	p := newFCMProvider(t, fake)
	if err := p.Send(t.Context(), wakeMsg(push.PlatformAndroid, "warm-up")); err != nil {
		t.Fatalf("Send: %v", err) // signs in, so the deadline below covers only the send
	}
	fake.Respond("tok-hang", pushtest.Response{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := p.Send(ctx, wakeMsg(push.PlatformAndroid, "tok-hang"))
	if class, _ := push.Classify(err); class != push.ClassRetryable {
		t.Fatalf("Send = %v (%v), want retryable", err, class)
	}
	if _, err := fake.WaitRequests(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
}

func TestFCMWrongServiceAccountIsRefused(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewFCM(t)
	cfg := fake.Config()
	// Same account and token endpoint, another key: the token endpoint refuses the grant.
	cfg.CredentialsFile, _, _ = pushtest.WriteServiceAccount(t, fake.ProjectID, fake.URL+"/token")
	p, err := push.NewProvider(push.Config{FCM: cfg}, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := p.Send(ctx, wakeMsg(push.PlatformAndroid, "tok")); err == nil {
		t.Fatal("Send succeeded with a key the token endpoint does not know")
	}
	if n := fake.AccessTokensIssued(); n != 0 || len(fake.Requests()) != 0 {
		t.Fatalf("%d tokens issued, %d sends reached FCM; want none", n, len(fake.Requests()))
	}
}

func TestFCMWrongProjectIsPermanent(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewFCM(t)
	cfg := fake.Config()
	cfg.ProjectID = "someone-else"
	p, err := push.NewProvider(push.Config{FCM: cfg}, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	err = p.Send(t.Context(), wakeMsg(push.PlatformAndroid, "tok"))
	var pe *push.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Reason != "PERMISSION_DENIED" {
		t.Fatalf("Send = %v, want 403 PERMISSION_DENIED", err)
	}
	if class, _ := push.Classify(err); class != push.ClassPermanent {
		t.Fatalf("class %v, want permanent", class)
	}
}

// lastFCM returns the last request the fake got for token.
func lastFCM(t *testing.T, f *pushtest.FCM, token string) pushtest.FCMRequest {
	t.Helper()
	reqs := f.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Token == token {
			return reqs[i]
		}
	}
	t.Fatalf("fake got no request for token %s", token)
	return pushtest.FCMRequest{}
}
