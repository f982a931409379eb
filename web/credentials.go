package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web/internal/betterauth"
)

// credentials checks what a request presents: session and device tokens (the hub's
// and, with Better Auth on, its signed cookie and bearer tokens), and the browser
// Origin (which depends on the trusted proxies, for X-Forwarded-Proto). The [Server] and the [SocketAuth] each hold one, built from the same
// Config and Deps.
type credentials struct {
	store          Store
	log            *slog.Logger
	now            func() time.Time
	sessionTTL     time.Duration
	allowedOrigins map[string]bool
	appOrigins     []string       // custom-scheme patterns, see betterauth.MatchAppOrigin
	trustedProxies []netip.Prefix // whose X-Forwarded-For and X-Forwarded-Proto are believed
	ba             *baConfig      // nil: Better Auth compatibility off
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
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if betterauth.IsAppOrigin(o) {
			c.appOrigins = append(c.appOrigins, o)
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
	switch {
	case cfg.BetterAuthSecret != "":
		c.ba = newBAConfig(cfg.BetterAuthSecret, cfg.BetterAuthShared, public.Scheme == "https")
	case cfg.BetterAuthShared:
		return nil, errors.New("web: BetterAuthShared needs BetterAuthSecret")
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

// credential is a session token as a client presented it. signed says a Better Auth
// signature made with the configured secret vouched for it: its session cookie, or a
// bearer token in the bearer plugin's "<token>.<signature>" form.
type credential struct {
	token  string
	signed bool
}

// bearerCredential reads a bearer token: "<token>.<signature>" with a valid Better
// Auth signature stands for the token, signed; anything else is taken as it is.
func (c *credentials) bearerCredential(tok string) credential {
	if c.ba != nil && strings.Contains(tok, ".") {
		if v, ok := betterauth.Verify(c.ba.secret, tok); ok {
			return credential{token: v, signed: true}
		}
	}
	return credential{token: tok}
}

// cookieCredential reads the hub's session cookie or else, with Better Auth on, its
// session cookie, whose signature must verify. fromBA says which.
func (c *credentials) cookieCredential(r *http.Request) (cred credential, fromBA, ok bool) {
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		return credential{token: ck.Value}, false, true
	}
	if tok, ok := c.baCookieToken(r); ok {
		return credential{token: tok, signed: true}, true, true
	}
	return credential{}, false, false
}

// hashLen is the length of a stored token hash (hex SHA-256). A raw token never has
// it: Better Auth's are 32 characters, the hub's 43.
const hashLen = 64

// sessionByToken finds the unexpired session of a credential and, if renew, extends
// it when less than half its lifetime is left (renewed reports that). errBadToken when
// there is none. Sessions are found by the hash of the token; sessions a Better Auth
// server sharing the database wrote (the raw token stored) are found too, but only for
// a signed credential, so that reading the table is not enough to use them here.
func (c *credentials) sessionByToken(ctx context.Context, cred credential, renew bool) (sess store.Session, renewed bool, err error) {
	if len(cred.token) > maxTokenLen {
		return store.Session{}, false, errBadToken
	}
	sess, err = c.store.SessionByTokenHash(ctx, hashToken(cred.token))
	if errors.Is(err, store.ErrNotFound) && cred.signed && c.ba != nil && c.ba.shared && len(cred.token) != hashLen {
		sess, err = c.store.SessionByTokenHash(ctx, cred.token)
	}
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
