package push

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// PlatformWeb is the platform of browsers: their push token is a Web Push subscription.
const PlatformWeb = "web"

// WebPushConfig configures Web Push (RFC 8030) with VAPID (RFC 8292) for "web" devices.
// The zero value means Web Push is not configured; [LoadVAPID] fills the key pair.
type WebPushConfig struct {
	// PublicKey and PrivateKey are the VAPID key pair, P-256, base64url without padding:
	// the 65-byte uncompressed public point and the 32-byte private scalar. Browsers
	// subscribe with the public key, so changing it voids every subscription.
	PublicKey, PrivateKey string
	// Subject is the contact a push service may use, a mailto: or https: URL (the JWT's
	// "sub"). Required when the keys are set.
	Subject string
	// Client sends the requests; nil means a plain http.Client (Send bounds each call).
	Client *http.Client
}

func (c WebPushConfig) configured() bool {
	return c.PublicKey != "" || c.PrivateKey != ""
}

// Subscription is a browser's push subscription as PushSubscription.toJSON() gives it;
// a "web" device's push token is this object as JSON.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// ParseSubscription reads a "web" device's push token.
func ParseSubscription(token string) (Subscription, error) {
	var s Subscription
	if err := json.Unmarshal([]byte(token), &s); err != nil {
		return s, fmt.Errorf("web push subscription: %w", err)
	}
	if !strings.HasPrefix(s.Endpoint, "https://") {
		return s, errors.New("web push subscription: endpoint is not an https URL")
	}
	if k, err := decodeKey(s.Keys.P256dh); err != nil || len(k) != 65 || k[0] != 4 {
		return s, errors.New("web push subscription: keys.p256dh is not an uncompressed P-256 point in base64url")
	}
	if k, err := decodeKey(s.Keys.Auth); err != nil || len(k) != 16 {
		return s, errors.New("web push subscription: keys.auth is not 16 bytes in base64url")
	}
	return s, nil
}

// decodeKey reads base64url with or without padding.
func decodeKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// VAPIDSettingName is the store setting that keeps the generated key pair.
const VAPIDSettingName = "vapid"

// SettingStore is the part of the store [LoadVAPID] uses.
type SettingStore interface {
	InitSetting(ctx context.Context, name, value string) (string, error)
}

// vapidPair is the stored form of a generated key pair.
type vapidPair struct {
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
}

// LoadVAPID returns cfg with its VAPID key pair: the configured one, checked, or else
// the hub's own, generated on its first start and kept in the store so that every
// replica signs with the same key (the first replica to store one wins). generated
// reports that this call made the pair.
func LoadVAPID(ctx context.Context, st SettingStore, cfg WebPushConfig) (_ WebPushConfig, generated bool, err error) {
	if cfg.PublicKey != "" || cfg.PrivateKey != "" {
		if err := checkVAPID(cfg.PublicKey, cfg.PrivateKey); err != nil {
			return cfg, false, err
		}
		return cfg, false, nil
	}
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return cfg, false, fmt.Errorf("generate VAPID key pair: %w", err)
	}
	mine := vapidPair{
		PublicKey:  base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()),
		PrivateKey: base64.RawURLEncoding.EncodeToString(key.Bytes()),
	}
	raw, err := json.Marshal(mine)
	if err != nil {
		return cfg, false, err
	}
	stored, err := st.InitSetting(ctx, VAPIDSettingName, string(raw))
	if err != nil {
		return cfg, false, fmt.Errorf("store VAPID key pair: %w", err)
	}
	var p vapidPair
	if err := json.Unmarshal([]byte(stored), &p); err != nil {
		return cfg, false, fmt.Errorf("stored VAPID key pair: %w", err)
	}
	if err := checkVAPID(p.PublicKey, p.PrivateKey); err != nil {
		return cfg, false, fmt.Errorf("stored VAPID key pair: %w", err)
	}
	cfg.PublicKey, cfg.PrivateKey = p.PublicKey, p.PrivateKey
	return cfg, p == mine, nil
}

// checkVAPID reports whether the keys are a P-256 pair in base64url.
func checkVAPID(public, private string) error {
	if public == "" || private == "" {
		return errors.New("VAPID: set both the public and the private key, or neither (the hub then makes its own)")
	}
	priv, err := decodeKey(private)
	if err != nil {
		return fmt.Errorf("VAPID private key: not base64url: %w", err)
	}
	key, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("VAPID private key: not a P-256 private key (32 bytes): %w", err)
	}
	pub, err := decodeKey(public)
	if err != nil {
		return fmt.Errorf("VAPID public key: not base64url: %w", err)
	}
	if string(pub) != string(key.PublicKey().Bytes()) {
		return errors.New("VAPID public key: does not belong to the private key (want the 65-byte uncompressed point)")
	}
	return nil
}

// webPushProvider sends through the push service named by each subscription.
type webPushProvider struct {
	cfg    WebPushConfig
	logger *slog.Logger
}

func newWebPush(cfg WebPushConfig, logger *slog.Logger) (*webPushProvider, error) {
	if err := checkVAPID(cfg.PublicKey, cfg.PrivateKey); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(cfg.Subject, "mailto:") && !strings.HasPrefix(cfg.Subject, "https://") {
		return nil, fmt.Errorf("VAPID subject %q: want a mailto: or https: URL", cfg.Subject)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &webPushProvider{cfg: cfg, logger: logger}, nil
}

// webPushBody is what the browser's service worker receives (decrypted): the
// "securecam" object with the title and body to show.
type webPushBody struct {
	SecureCam securecamObject `json:"securecam"`
	Title     string          `json:"title"`
	Body      string          `json:"body,omitempty"`
}

func (p *webPushProvider) send(ctx context.Context, m Message, expiry time.Time) error {
	sub, err := ParseSubscription(m.Token)
	if err != nil {
		return &Error{Service: "webpush", Class: ClassTokenInvalid, Reason: "bad subscription", Err: err}
	}
	body, err := json.Marshal(webPushBody{SecureCam: m.object(), Title: m.Title, Body: m.Body})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	ws := &webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth}}
	res, err := webpush.SendNotificationWithContext(ctx, body, ws, &webpush.Options{
		HTTPClient: p.cfg.Client,
		// webpush-go writes "mailto:" itself before anything that is not https:.
		Subscriber:      strings.TrimPrefix(p.cfg.Subject, "mailto:"),
		TTL:             max(int(time.Until(expiry)/time.Second), 0),
		Urgency:         webpush.UrgencyHigh,
		VAPIDPublicKey:  p.cfg.PublicKey,
		VAPIDPrivateKey: p.cfg.PrivateKey,
	})
	if err != nil {
		if isTransient(err) {
			return &Error{Service: "webpush", Class: ClassRetryable, Err: err}
		}
		return &Error{Service: "webpush", Class: ClassPermanent, Err: err}
	}
	defer res.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // keep the connection
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		p.logger.DebugContext(ctx, "web push sent", "device_id", m.DeviceID, "status", res.StatusCode)
		return nil
	}
	return webPushError(res, strings.TrimSpace(string(detail)), time.Now())
}

// webPushError classifies a push service's refusal (RFC 8030 section 5, RFC 8292
// section 4.1): 404 and 410 mean the subscription is gone, 429 and 5xx are worth a
// retry (after Retry-After), everything else (400 bad request, 401/403 VAPID refused,
// 413 too large) is permanent.
func webPushError(res *http.Response, detail string, now time.Time) *Error {
	e := &Error{Service: "webpush", Status: res.StatusCode, Reason: http.StatusText(res.StatusCode),
		RetryAfter: parseRetryAfter(res.Header, now)}
	if detail != "" {
		e.Err = errors.New(detail)
	}
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		e.Class = ClassTokenInvalid
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		e.Class = ClassRetryable
	default:
		e.Class = ClassPermanent
	}
	if e.Reason == "" {
		e.Reason = "status " + strconv.Itoa(res.StatusCode)
	}
	return e
}
