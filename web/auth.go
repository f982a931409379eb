package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "securecam_session"

// principal is who a request acts as: a user through a session, or one device
// through its device token.
type principal struct {
	userID  string
	session *store.Session // set for a user session
	device  *store.Device  // set for a device token
	cookie  bool           // the session came from the cookie
}

type principalKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

var (
	errNoCredentials = errUnauthorized("authentication required")
	errBadToken      = errUnauthorized("invalid or expired token")
	errDeviceToken   = errForbidden("a device token cannot do this: sign in as the user")
	errBadOrigin     = errForbidden("request origin not allowed")
)

// authenticate requires a user session (bearer or cookie) or, when allowDevice, also
// a device token. Cookie-authenticated state-changing requests must pass the origin
// check.
func (s *Server) authenticate(allowDevice bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := s.authRequest(w, r)
			if err == nil && p.device != nil && !allowDevice {
				err = errDeviceToken
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

func (s *Server) authRequest(w http.ResponseWriter, r *http.Request) (*principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := parseBearer(h)
		if !ok {
			return nil, errUnauthorized("Authorization must be \"Bearer <token>\"")
		}
		sess, _, err := s.creds.sessionByToken(ctx, s.creds.bearerCredential(tok), true)
		if err == nil {
			return &principal{userID: sess.UserID, session: &sess}, nil
		}
		if !errors.Is(err, errBadToken) {
			return nil, err
		}
		d, err := s.creds.deviceByToken(ctx, tok)
		if err != nil {
			return nil, err
		}
		return &principal{userID: d.UserID, device: &d}, nil
	}
	c, fromBA, ok := s.creds.cookieCredential(r)
	if !ok {
		return nil, errNoCredentials
	}
	if !safeMethod(r.Method) && !s.originAllowed(r) {
		return nil, errBadOrigin
	}
	sess, renewed, err := s.creds.sessionByToken(ctx, c, true)
	if err != nil {
		return nil, err
	}
	if renewed {
		if fromBA {
			s.setBACookie(w, c.token, sess.ExpiresAt)
		} else {
			s.setSessionCookie(w, c.token, sess.ExpiresAt)
		}
	}
	return &principal{userID: sess.UserID, session: &sess, cookie: true}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func parseBearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   s.secureCookie,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secureCookie,
		SameSite: http.SameSiteLaxMode,
	})
}

// refuseForeignOrigin guards the anonymous endpoints: a browser that posts from an
// origin we do not serve is refused (login CSRF). Apps send no Origin and pass.
func (s *Server) refuseForeignOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !safeMethod(r.Method) && !s.creds.originOK(r, o) {
			s.writeError(w, r, errBadOrigin)
			return
		}
		next.ServeHTTP(w, r)
	})
}
