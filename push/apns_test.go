package push_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
)

const (
	deviceID = "01960000-0000-7000-8000-000000000001"
	eventID  = "01960000-0000-7000-8000-0000000000e1"
)

func wakeMsg(platform, token string) push.Message {
	return push.Message{Platform: platform, Token: token, DeviceID: deviceID, Kind: push.KindWake, Reason: push.WakeCommand}
}

func eventMsg(platform, token string) push.Message {
	return push.Message{Platform: platform, Token: token, DeviceID: deviceID, Kind: push.KindEvent,
		EventID: eventID, Title: "Motion", Body: "Front door"}
}

func newAPNsProvider(t *testing.T, f *pushtest.APNs) push.Provider {
	t.Helper()
	p, err := push.NewProvider(push.Config{APNs: f.Config()}, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return p
}

func TestAPNsSendEncodesPayloadAndHeaders(t *testing.T) {
	t.Parallel()
	expiry := time.Now().Add(45 * time.Second).Truncate(time.Second)
	stream := wakeMsg(push.PlatformIOS, "aa01")
	stream.Reason = push.WakeStreamRequest
	custom := eventMsg(push.PlatformIOS, "aa03")
	custom.CollapseID = "camera-1"
	custom.Body = ""
	tests := []struct {
		name    string
		msg     push.Message
		headers map[string]string
		body    string
	}{{
		name: "wake",
		msg:  wakeMsg(push.PlatformIOS, "aa00"),
		headers: map[string]string{
			"apns-push-type": "background", "apns-priority": "5", "apns-topic": "org.securecam.test",
			"apns-collapse-id": "wake", "apns-expiration": strconv.FormatInt(expiry.Unix(), 10),
		},
		body: `{"aps":{"content-available":1},"securecam":{"type":"wake","reason":"command","device_id":"` + deviceID + `"}}`,
	}, {
		name: "wake for a stream request",
		msg:  stream,
		headers: map[string]string{
			"apns-push-type": "background", "apns-priority": "5", "apns-collapse-id": "wake",
		},
		body: `{"aps":{"content-available":1},"securecam":{"type":"wake","reason":"stream_request","device_id":"` + deviceID + `"}}`,
	}, {
		name: "event",
		msg:  eventMsg(push.PlatformIOS, "aa02"),
		headers: map[string]string{
			"apns-push-type": "alert", "apns-priority": "10", "apns-topic": "org.securecam.test",
			"apns-collapse-id": eventID, "apns-expiration": strconv.FormatInt(expiry.Unix(), 10),
		},
		body: `{"aps":{"alert":{"title":"Motion","body":"Front door"},"sound":"default"},"securecam":{"type":"event","event_id":"` + eventID + `"}}`,
	}, {
		name:    "event with collapse id and no body",
		msg:     custom,
		headers: map[string]string{"apns-push-type": "alert", "apns-collapse-id": "camera-1"},
		body:    `{"aps":{"alert":{"title":"Motion"},"sound":"default"},"securecam":{"type":"event","event_id":"` + eventID + `"}}`,
	}}
	fake := pushtest.NewAPNs(t)
	p := newAPNsProvider(t, fake)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.msg.Expiry = expiry
			if err := p.Send(t.Context(), tc.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			req := lastAPNs(t, fake, tc.msg.Token)
			if req.Status != http.StatusOK {
				t.Errorf("fake answered %d", req.Status)
			}
			for k, want := range tc.headers {
				if got := req.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if string(req.Body) != tc.body {
				t.Errorf("body\n got %s\nwant %s", req.Body, tc.body)
			}
		})
	}
}

func TestAPNsReusesProviderToken(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewAPNs(t)
	p := newAPNsProvider(t, fake)
	for _, tok := range []string{"bb00", "bb01", "bb02"} {
		if err := p.Send(t.Context(), wakeMsg(push.PlatformIOS, tok)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs := fake.Requests()
	if len(reqs) != 3 {
		t.Fatalf("fake got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.Header.Get("authorization") != reqs[0].Header.Get("authorization") {
			t.Fatalf("provider token changed between sends: %q then %q",
				reqs[0].Header.Get("authorization"), r.Header.Get("authorization"))
		}
	}
}

func TestAPNsErrorsAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		res        pushtest.Response
		class      push.Class
		retryAfter time.Duration
	}{
		{"unregistered", pushtest.Response{Status: 410, Reason: "Unregistered"}, push.ClassTokenInvalid, 0},
		{"expired token", pushtest.Response{Status: 410, Reason: "ExpiredToken"}, push.ClassTokenInvalid, 0},
		{"bad device token", pushtest.Response{Status: 400, Reason: "BadDeviceToken"}, push.ClassTokenInvalid, 0},
		{"token for another app", pushtest.Response{Status: 400, Reason: "DeviceTokenNotForTopic"}, push.ClassTokenInvalid, 0},
		{"too many requests", pushtest.Response{Status: 429, Reason: "TooManyRequests", RetryAfter: "7"}, push.ClassRetryable, 7 * time.Second},
		{"token updates", pushtest.Response{Status: 429, Reason: "TooManyProviderTokenUpdates"}, push.ClassRetryable, 0},
		{"unavailable", pushtest.Response{Status: 503, Reason: "ServiceUnavailable", RetryAfter: "30"}, push.ClassRetryable, 30 * time.Second},
		{"internal", pushtest.Response{Status: 500, Reason: "InternalServerError"}, push.ClassRetryable, 0},
		{"topic disallowed", pushtest.Response{Status: 400, Reason: "TopicDisallowed"}, push.ClassPermanent, 0},
		{"payload too large", pushtest.Response{Status: 413, Reason: "PayloadTooLarge"}, push.ClassPermanent, 0},
		{"bad provider token", pushtest.Response{Status: 403, Reason: "InvalidProviderToken"}, push.ClassPermanent, 0},
	}
	fake := pushtest.NewAPNs(t)
	p := newAPNsProvider(t, fake)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := "cc" + strconv.Itoa(i)
			fake.Respond(token, tc.res)
			err := p.Send(t.Context(), wakeMsg(push.PlatformIOS, token))
			class, retryAfter := push.Classify(err)
			if class != tc.class || retryAfter != tc.retryAfter {
				t.Fatalf("Classify(%v) = %v, %v; want %v, %v", err, class, retryAfter, tc.class, tc.retryAfter)
			}
			var pe *push.Error
			if !errors.As(err, &pe) || pe.Service != "apns" || pe.Status != tc.res.Status || pe.Reason != tc.res.Reason {
				t.Fatalf("error %#v, want apns %d %s", err, tc.res.Status, tc.res.Reason)
			}
		})
	}
}

func TestAPNsRetryAfterDate(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewAPNs(t)
	p := newAPNsProvider(t, fake)
	at := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	fake.Respond("dd00", pushtest.Response{Status: 503, Reason: "ServiceUnavailable", RetryAfter: at})
	class, retryAfter := push.Classify(p.Send(t.Context(), wakeMsg(push.PlatformIOS, "dd00")))
	if class != push.ClassRetryable || retryAfter < 90*time.Second || retryAfter > 2*time.Minute {
		t.Fatalf("Classify = %v, %v; want retryable, about 2m", class, retryAfter)
	}
}

func TestAPNsTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewAPNs(t)
	p := newAPNsProvider(t, fake)
	fake.Respond("ee00", pushtest.Response{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := p.Send(ctx, wakeMsg(push.PlatformIOS, "ee00"))
	if class, _ := push.Classify(err); class != push.ClassRetryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v (%v), want a retryable deadline error", err, class)
	}
	// The same provider keeps working after a timed-out request.
	if err := p.Send(t.Context(), wakeMsg(push.PlatformIOS, "ee01")); err != nil {
		t.Fatalf("Send after timeout: %v", err)
	}
}

func TestAPNsWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	fake := pushtest.NewAPNs(t)
	cfg := fake.Config()
	cfg.KeyFile, _ = pushtest.WriteAPNsKey(t) // a key the fake does not know
	p, err := push.NewProvider(push.Config{APNs: cfg}, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	err = p.Send(t.Context(), wakeMsg(push.PlatformIOS, "ff00"))
	var pe *push.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Reason != "InvalidProviderToken" {
		t.Fatalf("Send = %v, want 403 InvalidProviderToken", err)
	}
	if class, _ := push.Classify(err); class != push.ClassPermanent {
		t.Fatalf("class %v, want permanent", class)
	}
}

// lastAPNs returns the last request the fake got for token.
func lastAPNs(t *testing.T, f *pushtest.APNs, token string) pushtest.APNsRequest {
	t.Helper()
	reqs := f.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Token == token {
			return reqs[i]
		}
	}
	t.Fatalf("fake got no request for token %s", token)
	return pushtest.APNsRequest{}
}
