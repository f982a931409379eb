package push_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/push/pushtest"
)

func TestNewProviderRejectsBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	notSA := filepath.Join(dir, "user.json")
	if err := os.WriteFile(notSA, []byte(`{"type": "authorized_user", "client_id": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile, _ := pushtest.WriteAPNsKey(t)
	saFile, _, _ := pushtest.WriteServiceAccount(t, "", "http://127.0.0.1:1/token")
	apns := push.APNsConfig{KeyFile: keyFile, KeyID: "K", TeamID: "T", Topic: "org.example"}
	fcm := push.FCMConfig{CredentialsFile: saFile, ProjectID: "p"}
	with := func(f func(*push.Config)) push.Config {
		c := push.Config{APNs: apns, FCM: fcm}
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  push.Config
		want string
	}{
		{"apns without key id", with(func(c *push.Config) { c.APNs.KeyID = "" }), "APNs key id is not set"},
		{"apns endpoint only", push.Config{APNs: push.APNsConfig{Endpoint: "https://127.0.0.1:1"}}, "APNs key file is not set"},
		{"apns key file missing", with(func(c *push.Config) { c.APNs.KeyFile = filepath.Join(dir, "nope.p8") }), "read APNs key file " + filepath.Join(dir, "nope.p8")},
		{"apns key file garbage", with(func(c *push.Config) { c.APNs.KeyFile = garbage }), "read APNs key file " + garbage},
		{"apns endpoint not https", with(func(c *push.Config) { c.APNs.Endpoint = "http://127.0.0.1:1" }), "APNs endpoint"},
		{"fcm without credentials", push.Config{FCM: push.FCMConfig{ProjectID: "p"}}, "FCM credentials file is not set"},
		{"fcm credentials missing", with(func(c *push.Config) { c.FCM.CredentialsFile = filepath.Join(dir, "nope.json") }), "read FCM credentials file"},
		{"fcm credentials garbage", with(func(c *push.Config) { c.FCM.CredentialsFile = garbage }), "parse FCM credentials file"},
		{"fcm not a service account", with(func(c *push.Config) { c.FCM.CredentialsFile = notSA }), "not a service account key"},
		{"fcm without project", with(func(c *push.Config) { c.FCM.ProjectID = "" }), "FCM project id is not set"},
		{"fcm endpoint not a url", with(func(c *push.Config) { c.FCM.Endpoint = "fcm.local" }), "FCM endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := push.NewProvider(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewProvider = %v, %v; want error containing %q", p, err, tc.want)
			}
		})
	}
	if _, err := push.NewProvider(push.Config{APNs: apns, FCM: fcm}, nil); err != nil {
		t.Fatalf("NewProvider with good config: %v", err)
	}
}

func TestSendRefusesBadMessages(t *testing.T) {
	t.Parallel()
	p, err := push.NewProvider(push.Config{}, nil) // log provider: routing rules are the same
	if err != nil {
		t.Fatal(err)
	}
	edit := func(m push.Message, f func(*push.Message)) push.Message {
		f(&m)
		return m
	}
	wake := wakeMsg(push.PlatformIOS, "t")
	event := eventMsg(push.PlatformAndroid, "t")
	tests := []struct {
		name string
		msg  push.Message
		want error
	}{
		{"other platform", edit(wake, func(m *push.Message) { m.Platform = "other" }), push.ErrUnsupportedPlatform},
		{"wake for a browser", edit(wake, func(m *push.Message) { m.Platform = push.PlatformWeb }), push.ErrInvalidMessage},
		{"no platform", edit(wake, func(m *push.Message) { m.Platform = "" }), push.ErrUnsupportedPlatform},
		{"no token", edit(wake, func(m *push.Message) { m.Token = "" }), push.ErrInvalidMessage},
		{"no device id", edit(wake, func(m *push.Message) { m.DeviceID = "" }), push.ErrInvalidMessage},
		{"unknown kind", edit(wake, func(m *push.Message) { m.Kind = "alert" }), push.ErrInvalidMessage},
		{"unknown wake reason", edit(wake, func(m *push.Message) { m.Reason = "hello" }), push.ErrInvalidMessage},
		{"event without id", edit(event, func(m *push.Message) { m.EventID = "" }), push.ErrInvalidMessage},
		{"event without title", edit(event, func(m *push.Message) { m.Title = "" }), push.ErrInvalidMessage},
		{"expired", edit(event, func(m *push.Message) { m.Expiry = time.Now().Add(-time.Second) }), push.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := p.Send(t.Context(), tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
			if class, _ := push.Classify(err); class != push.ClassPermanent {
				t.Fatalf("class %v, want permanent", class)
			}
		})
	}
}

func TestRouterSendsByPlatform(t *testing.T) {
	t.Parallel()
	apns, fcm := pushtest.NewAPNs(t), pushtest.NewFCM(t)
	both, err := push.NewProvider(push.Config{APNs: apns.Config(), FCM: fcm.Config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Send(t.Context(), wakeMsg(push.PlatformIOS, "ios-tok")); err != nil {
		t.Fatalf("send to ios: %v", err)
	}
	if err := both.Send(t.Context(), wakeMsg(push.PlatformAndroid, "android-tok")); err != nil {
		t.Fatalf("send to android: %v", err)
	}
	if a, f := apns.Requests(), fcm.Requests(); len(a) != 1 || a[0].Token != "ios-tok" || len(f) != 1 || f[0].Token != "android-tok" {
		t.Fatalf("APNs got %+v, FCM got %+v; want one each", a, f)
	}

	// With one service configured, the other platform is a permanent error, not a log line.
	apnsOnly, err := push.NewProvider(push.Config{APNs: apns.Config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = apnsOnly.Send(t.Context(), wakeMsg(push.PlatformAndroid, "android-tok"))
	if class, _ := push.Classify(err); !errors.Is(err, push.ErrNotConfigured) || class != push.ClassPermanent {
		t.Fatalf("android push without FCM = %v (%v), want permanent ErrNotConfigured", err, class)
	}
}

func TestLogProviderLogsWithoutToken(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	p, err := push.NewProvider(push.Config{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	const token = "secret-push-token-0123456789"
	for _, m := range []push.Message{wakeMsg(push.PlatformIOS, token), eventMsg(push.PlatformAndroid, token)} {
		if err := p.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	out := buf.String()
	if strings.Contains(out, token) {
		t.Fatalf("log shows the push token: %s", out)
	}
	for _, want := range []string{`"kind":"wake"`, `"reason":"command"`, `"kind":"event"`, `"event_id":"` + eventID + `"`, `"device_id":"` + deviceID + `"`, `"token_hash":"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}
