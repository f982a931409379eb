package web

// Better Auth compatibility, the transport half: its session cookie and bearer tokens,
// its error and JSON shapes, and its origin rules. The routes are in
// betterauth_routes.go; the account logic they run is the hub's own (accounts.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web/internal/betterauth"
)

// Better Auth's cookie names with its default prefix; under HTTPS they carry the
// "__Secure-" prefix.
const (
	baCookieSession      = "better-auth.session_token"
	baCookieData         = "better-auth.session_data"
	baCookieDontRemember = "better-auth.dont_remember"
	baSecurePrefix       = "__Secure-"
)

// baConfig is the Better Auth compatibility configuration.
type baConfig struct {
	secret string
	shared bool
	prefix string // "__Secure-" under HTTPS, else ""
	secure bool
}

func newBAConfig(secret string, shared, secure bool) *baConfig {
	c := &baConfig{secret: secret, shared: shared, secure: secure}
	if secure {
		c.prefix = baSecurePrefix
	}
	return c
}

// baCookieToken returns the session token of a Better Auth session cookie whose
// signature verifies. Both names (with and without "__Secure-") are read: a client
// moving between HTTP and HTTPS keeps its session.
func (c *credentials) baCookieToken(r *http.Request) (string, bool) {
	if c.ba == nil {
		return "", false
	}
	for _, name := range []string{c.ba.prefix + baCookieSession, baSecurePrefix + baCookieSession, baCookieSession} {
		if ck, err := r.Cookie(name); err == nil && ck.Value != "" {
			return betterauth.Verify(c.ba.secret, ck.Value)
		}
	}
	return "", false
}

// setBACookie sets Better Auth's session cookie (HttpOnly, SameSite=Lax, Secure under
// HTTPS) for tok, signed, until expires (a browser-session cookie when expires is
// zero), and the bearer plugin's set-auth-token header with the same signed value.
func (s *Server) setBACookie(w http.ResponseWriter, tok string, expires time.Time) {
	signed := betterauth.Sign(s.creds.ba.secret, tok)
	c := &http.Cookie{
		Name:     s.creds.ba.prefix + baCookieSession,
		Value:    url.QueryEscape(signed),
		Path:     "/",
		HttpOnly: true,
		Secure:   s.creds.ba.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if !expires.IsZero() {
		c.MaxAge = max(int(math.Ceil(expires.Sub(s.now()).Seconds())), 1)
	}
	http.SetCookie(w, c)
	h := w.Header()
	h.Set("Set-Auth-Token", signed)
	h.Set("Access-Control-Expose-Headers", "set-auth-token")
}

// clearBACookies expires the session cookies, as Better Auth does on sign-out.
func (s *Server) clearBACookies(w http.ResponseWriter) {
	for _, name := range []string{baCookieSession, baCookieData, baCookieDontRemember} {
		http.SetCookie(w, &http.Cookie{Name: s.creds.ba.prefix + name, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: s.creds.ba.secure, SameSite: http.SameSiteLaxMode})
	}
}

// baCredential reads the session credential of an /api/auth request as Better Auth
// with its bearer plugin does: Authorization: Bearer "<token>.<signature>" (or an
// unsigned token), else the session cookie. A bearer whose signature does not verify
// is ignored.
func (s *Server) baCredential(r *http.Request) (credential, bool) {
	if tok, ok := parseBearer(r.Header.Get("Authorization")); ok {
		c := s.creds.bearerCredential(tok)
		if c.signed || !strings.Contains(tok, ".") {
			return c, true
		}
	}
	if tok, ok := s.creds.baCookieToken(r); ok {
		return credential{token: tok, signed: true}, true
	}
	return credential{}, false
}

// baAuth is the session of an /api/auth request.
type baAuth struct {
	session store.Session
	token   string // the session token as the client holds it
	user    store.User
}

// baSession returns the request's session, or nil when it has none (no credential, or
// one that names no live session). A session renewed on the way gets a new cookie.
func (s *Server) baSession(w http.ResponseWriter, r *http.Request) (*baAuth, error) {
	c, ok := s.baCredential(r)
	if !ok {
		return nil, nil
	}
	sess, renewed, err := s.creds.sessionByToken(r.Context(), c, true)
	if errors.Is(err, errBadToken) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if renewed {
		s.setBACookie(w, c.token, sess.ExpiresAt)
	}
	return &baAuth{session: sess, token: c.token, user: u}, nil
}

// requireBASession is baSession for routes that need one: 401 UNAUTHORIZED without.
func (s *Server) requireBASession(w http.ResponseWriter, r *http.Request) (*baAuth, error) {
	a, err := s.baSession(w, r)
	if err == nil && a == nil {
		err = &baError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "Unauthorized"}
	}
	return a, err
}

// baError is an error in Better Auth's shape: a status and {message, code}.
type baError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

func (e *baError) Error() string { return e.Code + ": " + e.Message }

// Better Auth's messages for the codes these routes answer with (BASE_ERROR_CODES).
var baMessages = map[string]string{
	"USER_NOT_FOUND":                        "User not found",
	"FAILED_TO_GET_SESSION":                 "Failed to get session",
	"INVALID_PASSWORD":                      "Invalid password",
	"INVALID_EMAIL":                         "Invalid email",
	"INVALID_EMAIL_OR_PASSWORD":             "Invalid email or password",
	"INVALID_TOKEN":                         "Invalid token",
	"TOKEN_EXPIRED":                         "Token expired",
	"PASSWORD_TOO_SHORT":                    "Password too short",
	"PASSWORD_TOO_LONG":                     "Password too long",
	"USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": "User already exists. Use another email.",
	"EMAIL_CAN_NOT_BE_UPDATED":              "Email can not be updated",
	"CREDENTIAL_ACCOUNT_NOT_FOUND":          "Credential account not found",
	"CROSS_SITE_NAVIGATION_LOGIN_BLOCKED":   "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
	"EMAIL_ALREADY_VERIFIED":                "Email is already verified",
	"EMAIL_MISMATCH":                        "Email mismatch",
	"SESSION_NOT_FRESH":                     "Session is not fresh",
	"INVALID_ORIGIN":                        "Invalid origin",
	"INVALID_CALLBACK_URL":                  "Invalid callbackURL",
	"INVALID_REDIRECT_URL":                  "Invalid redirectURL",
	"INVALID_ERROR_CALLBACK_URL":            "Invalid errorCallbackURL",
	"INVALID_NEW_USER_CALLBACK_URL":         "Invalid newUserCallbackURL",
	"MISSING_OR_NULL_ORIGIN":                "Missing or null Origin",
}

// baErr is the error of a Better Auth code with its message.
func baErr(status int, code string) *baError {
	return &baError{Status: status, Code: code, Message: baMessages[code]}
}

// baValidation is Better Auth's answer to a body or query that does not match its
// schema: "[body.email] Invalid email address".
func baValidation(where, message string) *baError {
	return &baError{Status: http.StatusBadRequest, Code: "VALIDATION_ERROR", Message: "[" + where + "] " + message}
}

// asBAError maps any error to the Better Auth answer: the account logic's errors to
// Better Auth's codes, the hub's other errors by status.
func asBAError(err error) (*baError, time.Duration) {
	var be *baError
	if errors.As(err, &be) {
		return be, 0
	}
	switch {
	case errors.Is(err, errInvalidCredentials):
		return baErr(http.StatusUnauthorized, "INVALID_EMAIL_OR_PASSWORD"), 0
	case errors.Is(err, errEmailTaken):
		return baErr(http.StatusUnprocessableEntity, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"), 0
	case errors.Is(err, errTokenExpired):
		return baErr(http.StatusBadRequest, "TOKEN_EXPIRED"), 0
	case errors.Is(err, errTokenNoUser):
		return baErr(http.StatusBadRequest, "USER_NOT_FOUND"), 0
	case errors.Is(err, errInvalidToken):
		return baErr(http.StatusBadRequest, "INVALID_TOKEN"), 0
	case errors.Is(err, errWrongPassword):
		return baErr(http.StatusBadRequest, "INVALID_PASSWORD"), 0
	case errors.Is(err, errNoPassword):
		return baErr(http.StatusBadRequest, "CREDENTIAL_ACCOUNT_NOT_FOUND"), 0
	}
	e := asError(err)
	switch e.Status {
	case http.StatusTooManyRequests:
		// Better Auth's rate limiter answers without a code.
		return &baError{Status: e.Status, Message: "Too many requests. Please try again later."}, e.RetryAfter
	case http.StatusBadRequest:
		return &baError{Status: e.Status, Code: "VALIDATION_ERROR", Message: e.Detail}, 0
	case http.StatusUnauthorized:
		return &baError{Status: e.Status, Code: "UNAUTHORIZED", Message: "Unauthorized"}, 0
	case http.StatusForbidden:
		return &baError{Status: e.Status, Code: "FORBIDDEN", Message: e.Detail}, 0
	case http.StatusRequestEntityTooLarge:
		return &baError{Status: e.Status, Code: "PAYLOAD_TOO_LARGE", Message: e.Detail}, 0
	case http.StatusServiceUnavailable:
		return &baError{Status: e.Status, Code: "SERVICE_UNAVAILABLE", Message: e.Detail}, e.RetryAfter
	}
	if e.Status >= 500 {
		return &baError{Status: e.Status, Code: "INTERNAL_SERVER_ERROR", Message: "Internal Server Error"}, 0
	}
	return &baError{Status: e.Status, Code: strings.ToUpper(e.Code), Message: e.Detail}, 0
}

// writeBAError is where every /api/auth error becomes a response.
func (s *Server) writeBAError(w http.ResponseWriter, r *http.Request, err error) {
	be, retry := asBAError(err)
	if be.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"status", be.Status, "err", err)
	}
	if retry > 0 {
		secs := strconv.Itoa(int(math.Ceil(retry.Seconds())))
		w.Header().Set("Retry-After", secs)
		w.Header().Set("X-Retry-After", secs)
	}
	writeJSON(w, be.Status, be)
}

// baHandler adapts an /api/auth handler: its error becomes Better Auth's answer.
func (s *Server) baHandler(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeBAError(w, r, err)
		}
	}
}

// baTime is a time as JavaScript's Date.toJSON writes it: UTC with milliseconds.
type baTime time.Time

func (t baTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// baUser is Better Auth's user object.
type baUser struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     baTime  `json:"createdAt"`
	UpdatedAt     baTime  `json:"updatedAt"`
}

func toBAUser(u store.User) baUser {
	return baUser{ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: u.Image,
		CreatedAt: baTime(u.CreatedAt), UpdatedAt: baTime(u.UpdatedAt)}
}

// baSessionJSON is Better Auth's session object. Token is the token the client holds
// for its own session; for the user's other sessions, which the hub can only name by
// what it stores, it is that stored value, which revoke-session accepts.
type baSessionJSON struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	UserID    string `json:"userId"`
	ExpiresAt baTime `json:"expiresAt"`
	IPAddress string `json:"ipAddress"`
	UserAgent string `json:"userAgent"`
	CreatedAt baTime `json:"createdAt"`
	UpdatedAt baTime `json:"updatedAt"`
}

func toBASession(x store.Session, token string) baSessionJSON {
	return baSessionJSON{ID: x.ID, Token: token, UserID: x.UserID, ExpiresAt: baTime(x.ExpiresAt),
		IPAddress: x.IPAddress, UserAgent: x.UserAgent, CreatedAt: baTime(x.CreatedAt), UpdatedAt: baTime(x.UpdatedAt)}
}

// baBody is a decoded JSON object body.
type baBody map[string]json.RawMessage

// baDecode reads the JSON object body (none is an empty object) and checks its
// callback URLs against the trusted origins, as Better Auth's origin-check middleware
// does for every POST.
func (s *Server) baDecode(w http.ResponseWriter, r *http.Request) (baBody, error) {
	b := baBody{}
	if r.ContentLength != 0 {
		var raw json.RawMessage
		if err := s.decodeJSON(w, r, &raw); err != nil {
			return nil, err
		}
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, &baError{Status: http.StatusBadRequest, Code: "BODY_MUST_BE_AN_OBJECT", Message: "Body must be an object"}
			}
		}
	}
	for field, code := range map[string]string{"callbackURL": "INVALID_CALLBACK_URL", "redirectTo": "INVALID_REDIRECT_URL",
		"errorCallbackURL": "INVALID_ERROR_CALLBACK_URL", "newUserCallbackURL": "INVALID_NEW_USER_CALLBACK_URL"} {
		v, ok, err := b.optString(field)
		if err != nil {
			return nil, err
		}
		if ok && v != "" && !s.baTrustedURL(v) {
			return nil, baErr(http.StatusForbidden, code)
		}
	}
	return b, nil
}

// jsonKind names a JSON value's type as zod's messages do.
func jsonKind(raw json.RawMessage) string {
	switch t := strings.TrimSpace(string(raw)); {
	case t == "null":
		return "null"
	case strings.HasPrefix(t, `"`):
		return "string"
	case strings.HasPrefix(t, "{"):
		return "object"
	case strings.HasPrefix(t, "["):
		return "array"
	case t == "true" || t == "false":
		return "boolean"
	default:
		return "number"
	}
}

// optString returns a string field; ok=false when it is absent.
func (b baBody) optString(field string) (v string, ok bool, err error) {
	raw, present := b[field]
	if !present {
		return "", false, nil
	}
	if jsonKind(raw) != "string" || json.Unmarshal(raw, &v) != nil {
		return "", false, baValidation("body."+field, "Invalid input: expected string, received "+jsonKind(raw))
	}
	return v, true, nil
}

// str returns a required string field.
func (b baBody) str(field string) (string, error) {
	v, ok, err := b.optString(field)
	if err == nil && !ok {
		err = baValidation("body."+field, "Invalid input: expected string, received undefined")
	}
	return v, err
}

// optBool returns a boolean field, false when absent.
func (b baBody) optBool(field string) (bool, error) {
	raw, ok := b[field]
	if !ok {
		return false, nil
	}
	var v bool
	if jsonKind(raw) != "boolean" || json.Unmarshal(raw, &v) != nil {
		return false, baValidation("body."+field, "Invalid input: expected boolean, received "+jsonKind(raw))
	}
	return v, nil
}

// baPasswordError is Better Auth's length rule (8 to 128) on a new password.
func baPasswordError(pw string) error {
	if checkPassword(pw) == nil {
		return nil
	}
	if len([]rune(pw)) < minPasswordRunes {
		return baErr(http.StatusBadRequest, "PASSWORD_TOO_SHORT")
	}
	return baErr(http.StatusBadRequest, "PASSWORD_TOO_LONG")
}

// baTrustedURL reports whether a callback URL is one Better Auth would redirect to: a
// safe relative path, or a URL on the public URL's origin, an allowed origin or an
// allowed app scheme.
func (s *Server) baTrustedURL(v string) bool {
	if strings.HasPrefix(v, "/") {
		return betterauth.IsSafeRelativeURL(v)
	}
	for _, p := range s.creds.appOrigins {
		if betterauth.MatchAppOrigin(v, p) {
			return true
		}
	}
	o := originOf(v)
	return o != "" && (o == originOf(s.publicURL.String()) || s.creds.allowedOrigins[o])
}

// baCheckOrigin is Better Auth's origin check for a state-changing request: one that
// carries cookies (or, when force, any) must come from a trusted origin, read from
// Origin, else expo-origin (the Expo plugin), else Referer.
func (s *Server) baCheckOrigin(r *http.Request, force bool) error {
	if safeMethod(r.Method) || (!force && r.Header.Get("Cookie") == "") {
		return nil
	}
	o := presentedOrigin(r)
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" || o == "null" {
		return baErr(http.StatusForbidden, "MISSING_OR_NULL_ORIGIN")
	}
	if !s.creds.originOK(r, o) {
		return baErr(http.StatusForbidden, "INVALID_ORIGIN")
	}
	return nil
}

// baFormCSRF is Better Auth's guard of sign-in and sign-up against login CSRF: a
// browser request (Fetch Metadata present) that is a cross-site navigation is refused,
// and any request that names its origin is checked.
func (s *Server) baFormCSRF(r *http.Request) error {
	if r.Header.Get("Cookie") != "" {
		return s.baCheckOrigin(r, false)
	}
	site, mode, dest := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
	if strings.TrimSpace(site+mode+dest) != "" {
		if site == "cross-site" && mode == "navigate" {
			return baErr(http.StatusForbidden, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
		}
		return s.baCheckOrigin(r, true)
	}
	if presentedOrigin(r) != "" || r.Header.Get("Referer") != "" {
		return s.baCheckOrigin(r, true)
	}
	return nil
}

// baOriginCheck runs baCheckOrigin before every /api/auth route.
func (s *Server) baOriginCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.baCheckOrigin(r, false); err != nil {
			s.writeBAError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// baURL is the public URL of an /api/auth path with query.
func (s *Server) baURL(path string, q url.Values) string {
	u := *s.publicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/auth" + path
	u.RawQuery = q.Encode()
	return u.String()
}

// baRedirect answers 302 to target, with no body, as Better Auth does.
func baRedirect(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// baAppendQuery appends query parameters to a callback URL, keeping a relative one
// relative (appendQueryParams).
func baAppendQuery(callback string, q url.Values) string {
	u, err := url.Parse(callback)
	if err != nil || len(q) == 0 {
		return callback
	}
	if u.RawQuery != "" && !strings.HasSuffix(u.RawQuery, "&") {
		u.RawQuery += "&"
	}
	u.RawQuery += q.Encode()
	return u.String()
}

// baRedirectURL resolves a callback URL against the /api/auth base, as new URL(url,
// baseURL) does, and sets the query parameters.
func (s *Server) baRedirectURL(callback string, q url.Values) string {
	base, _ := url.Parse(s.baURL("", nil))
	ref, err := url.Parse(callback)
	if err != nil {
		return callback
	}
	u := base.ResolveReference(ref)
	vals := u.Query()
	for k, v := range q {
		vals[k] = v
	}
	u.RawQuery = vals.Encode()
	return u.String()
}

// AdoptSessions takes a database over from Better Auth: each raw session token it
// stored in session.token is replaced by its hash, so that its sessions keep working
// (clients present the same token, found by its hash) and no usable token stays at
// rest. It runs whether or not Better Auth's routes are on (an unsigned bearer token
// works without the secret) and does nothing while a Better Auth server shares the
// database (Config.BetterAuthShared). It returns how many tokens it replaced.
func (s *Server) AdoptSessions(ctx context.Context) (int, error) {
	if s.creds.ba != nil && s.creds.ba.shared {
		return 0, nil
	}
	n, err := s.store.HashRawSessionTokens(ctx, hashToken)
	if err != nil {
		return 0, fmt.Errorf("adopt sessions: %w", err)
	}
	return n, nil
}
