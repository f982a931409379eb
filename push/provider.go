package push

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// Provider sends one push per call. It is what the delivery worker and the waker use.
//
// Send returns nil when the push service accepted the push, else an error to pass to
// [Classify]: an *Error from APNs or FCM, a context error, or one of the Err* sentinels.
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// Config selects the push services. The zero value sends every push to the log provider.
type Config struct {
	APNs    APNsConfig
	FCM     FCMConfig
	WebPush WebPushConfig
}

// sendTimeout bounds every Send (the FCM client retries a 503 for up to ~7 s on its own).
const sendTimeout = 10 * time.Second

// sender is one service behind the router; m is valid and not expired.
type sender interface {
	send(ctx context.Context, m Message, expiry time.Time) error
}

// NewProvider builds the provider for cfg. It loads and checks the credentials (no
// network I/O) and returns an error a person can act on when they are missing or wrong.
//
// Routing by Message.Platform: "ios" goes to APNs, "android" to FCM and "web" to the
// push service of the browser's subscription (Web Push with VAPID). With neither APNs
// nor FCM configured every push for a phone goes to the log provider, which logs it (the
// token only as a short hash) and succeeds, so an embedded hub runs the whole delivery
// flow without credentials; so does a push for a browser without Web Push configured.
// With one phone service configured, a push for the other platform fails with
// ErrNotConfigured (permanent): pretending to deliver it would hide a configuration
// mistake on a hub that is meant to reach phones. Other platforms get
// ErrUnsupportedPlatform. A nil logger discards logs.
func NewProvider(cfg Config, logger *slog.Logger) (Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &router{}
	if cfg.APNs.configured() {
		p, err := newAPNs(cfg.APNs, logger)
		if err != nil {
			return nil, err
		}
		r.ios = p
	}
	if cfg.FCM.configured() {
		p, err := newFCM(cfg.FCM, logger)
		if err != nil {
			return nil, err
		}
		r.android = p
	}
	if cfg.WebPush.configured() {
		p, err := newWebPush(cfg.WebPush, logger)
		if err != nil {
			return nil, err
		}
		r.web = p
	}
	if r.ios == nil && r.android == nil {
		r.logOnly = &logProvider{logger: logger}
	}
	return r, nil
}

// router checks a message and hands it to the service of its platform.
type router struct {
	ios, android, web sender       // nil when not configured
	logOnly           *logProvider // set when neither APNs nor FCM is configured
}

func (r *router) Send(ctx context.Context, m Message) error {
	var s sender
	var service string
	switch m.Platform {
	case PlatformIOS:
		s, service = r.ios, "APNs"
	case PlatformAndroid:
		s, service = r.android, "FCM"
	case PlatformWeb:
		s, service = r.web, "Web Push"
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedPlatform, m.Platform)
	}
	if err := m.validate(); err != nil {
		return err
	}
	if m.Platform == PlatformWeb && m.Kind != KindEvent {
		return fmt.Errorf("%w: web push carries events only, not %q", ErrInvalidMessage, m.Kind)
	}
	now := time.Now()
	expiry := m.expiry(now)
	if !now.Before(expiry) {
		return fmt.Errorf("%w at %s", ErrExpired, expiry.UTC().Format(time.RFC3339))
	}
	if r.logOnly != nil && (m.Platform != PlatformWeb || s == nil) {
		s = r.logOnly
	}
	if s == nil {
		return fmt.Errorf("%w: %s is needed for %s devices", ErrNotConfigured, service, m.Platform)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return s.send(ctx, m, expiry)
}

// logProvider stands in for APNs and FCM when neither is configured.
type logProvider struct {
	logger *slog.Logger
}

func (p *logProvider) send(ctx context.Context, m Message, expiry time.Time) error {
	attrs := []any{
		"platform", m.Platform, "device_id", m.DeviceID, "kind", m.Kind,
		"token_hash", tokenHash(m.Token), "expires_at", expiry.UTC().Format(time.RFC3339),
	}
	if m.Kind == KindWake {
		attrs = append(attrs, "reason", m.Reason)
	} else {
		attrs = append(attrs, "event_id", m.EventID, "title", m.Title)
	}
	p.logger.InfoContext(ctx, "push not sent: no push service configured", attrs...)
	return nil
}

// tokenHash identifies a push token in logs without revealing it.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
