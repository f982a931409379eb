package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

// credentials checks what a request presents: session and device tokens, and the
// browser Origin (which depends on the trusted proxies, for X-Forwarded-Proto). The [Server] and the [SocketAuth] each hold one, built from the same
// Config and Deps.
type credentials struct {
	store          Store
	log            *slog.Logger
	now            func() time.Time
	sessionTTL     time.Duration
	allowedOrigins map[string]bool
	trustedProxies []netip.Prefix // whose X-Forwarded-For and X-Forwarded-Proto are believed
}

// newCredentials applies the defaults of cfg and deps that token and origin checks
// depend on.
func newCredentials(cfg Config, deps Deps) (*credentials, error) {
	if deps.Store == nil {
		return nil, errors.New("web: Deps.Store is required")
	}
	c := &credentials{
		store:      deps.Store,
		log:        deps.Logger,
		now:        deps.Now,
		sessionTTL: orDefault(cfg.SessionTTL, 30*24*time.Hour),
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	public, err := parsePublicURL(cfg)
	if err != nil {
		return nil, err
	}
	origins := cfg.AllowedOrigins
	if origins == nil {
		origins = []string{public.String()}
	}
	c.allowedOrigins = make(map[string]bool, len(origins))
	for _, o := range origins {
		if strings.TrimSpace(o) == "" {
			continue
		}
		n := originOf(o)
		if n == "" {
			return nil, fmt.Errorf("web: allowed origin %q: want scheme://host[:port]", o)
		}
		c.allowedOrigins[n] = true
	}
	if c.trustedProxies, err = parseTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return c, nil
}

// parsePublicURL returns cfg.PublicURL, or its default http://localhost:8080.
func parsePublicURL(cfg Config) (*url.URL, error) {
	raw := cfg.PublicURL
	if raw == "" {
		raw = "http://localhost:8080"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("web: public URL %q: want http(s)://host[:port]", raw)
	}
	return u, nil
}

// sessionByToken finds the unexpired session of a token and, if renew, extends it when
// less than half its lifetime is left (renewed reports that). errBadToken when there
// is none.
func (c *credentials) sessionByToken(ctx context.Context, tok string, renew bool) (sess store.Session, renewed bool, err error) {
	if len(tok) > maxTokenLen {
		return store.Session{}, false, errBadToken
	}
	sess, err = c.store.SessionByTokenHash(ctx, hashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return sess, false, errBadToken
	}
	if err != nil {
		return sess, false, err
	}
	now := c.now()
	if !now.Before(sess.ExpiresAt) {
		return sess, false, errBadToken
	}
	if !renew || sess.ExpiresAt.Sub(now) >= c.sessionTTL/2 {
		return sess, false, nil
	}
	exp := now.Add(c.sessionTTL).UTC()
	if err := c.store.ExtendSession(ctx, sess.ID, exp); err != nil {
		c.log.WarnContext(ctx, "session renewal failed", "session_id", sess.ID, "err", err)
		return sess, false, nil
	}
	sess.ExpiresAt = exp
	return sess, true, nil
}

func (c *credentials) deviceByToken(ctx context.Context, tok string) (store.Device, error) {
	if len(tok) > maxTokenLen {
		return store.Device{}, errBadToken
	}
	d, err := c.store.DeviceByTokenHash(ctx, hashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return d, errBadToken
	}
	return d, err
}
