package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web"
	"github.com/securecam/securecam/web/internal/betterauth"

	"github.com/securecam/securecam/signaling/wire"
)

// The behaviours of the Better Auth routes that the tests against the real Better Auth
// (cmd/securecam) do not reach: each rule taken apart, on the embedded store.

const baSecret = "web-test-better-auth-secret-0123456789abcdef"

func withBA(shared bool) envOpt {
	return config(func(c *web.Config) {
		c.BetterAuthSecret = baSecret
		c.BetterAuthShared = shared
		c.AllowedOrigins = []string{"http://localhost:8080", "myapp://"}
	})
}

type baErrorJSON struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

// wantBA checks an /api/auth error: status and Better Auth code.
func (r response) wantBA(t *testing.T, status int, code string) baErrorJSON {
	t.Helper()
	var e baErrorJSON
	r.want(t, status, &e)
	if e.Code != code || (code != "" && e.Message == "") {
		t.Fatalf("error %+v, want code %q with a message", e, code)
	}
	return e
}

type baUserJSON struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	Name          string  `json:"name"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     string  `json:"createdAt"`
}

type baSessionJSON struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	UserID    string `json:"userId"`
	ExpiresAt string `json:"expiresAt"`
	CreatedAt string `json:"createdAt"`
}

type baSignedIn struct {
	token  string // the session token of the body
	signed string // set-auth-token: "<token>.<signature>"
	cookie *http.Cookie
	user   baUserJSON
}

func (a baSignedIn) bearer() reqOpt { return bearer(a.signed) }

func (a baSignedIn) withCookie() reqOpt {
	return func(r *http.Request) { r.AddCookie(a.cookie) }
}

func (e *env) baSignUp(email string) baSignedIn {
	e.t.Helper()
	res := e.do("POST", "/api/auth/sign-up/email", map[string]string{"email": email, "password": testPassword, "name": "BA User"})
	return e.baSession(res)
}

func (e *env) baSignIn(email, pw string) baSignedIn {
	e.t.Helper()
	return e.baSession(e.do("POST", "/api/auth/sign-in/email", map[string]string{"email": email, "password": pw}))
}

func (e *env) baSession(res response) baSignedIn {
	e.t.Helper()
	var body struct {
		Token string     `json:"token"`
		User  baUserJSON `json:"user"`
	}
	res.want(e.t, http.StatusOK, &body)
	c := res.cookie("better-auth.session_token")
	if c == nil {
		c = res.cookie("__Secure-better-auth.session_token")
	}
	if c == nil {
		e.t.Fatalf("no session cookie in %v", res.header["Set-Cookie"])
	}
	return baSignedIn{token: body.Token, signed: res.header.Get("Set-Auth-Token"), cookie: c, user: body.User}
}

// getSession returns the user's email of GET /api/auth/get-session, "" for null.
func (e *env) getSession(opts ...reqOpt) string {
	e.t.Helper()
	var s *struct {
		Session baSessionJSON `json:"session"`
		User    baUserJSON    `json:"user"`
	}
	e.do("GET", "/api/auth/get-session", nil, opts...).want(e.t, http.StatusOK, &s)
	if s == nil {
		return ""
	}
	return s.User.Email
}

func TestBetterAuthCookieAndToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)

	// The cookie is Better Auth's: <token>.<base64 HMAC-SHA256>, URL-encoded, HttpOnly,
	// SameSite=Lax, for the session's lifetime; set-auth-token carries the same value.
	if want := betterauth.Sign(baSecret, a.token); a.signed != want {
		t.Errorf("set-auth-token %q, want %q", a.signed, want)
	}
	if v, _ := url.QueryUnescape(a.cookie.Value); v != a.signed || !strings.Contains(a.cookie.Value, "%3D") {
		t.Errorf("cookie value %q, want %q URL-encoded", a.cookie.Value, a.signed)
	}
	if !a.cookie.HttpOnly || a.cookie.SameSite != http.SameSiteLaxMode || a.cookie.Path != "/" || a.cookie.Secure ||
		a.cookie.MaxAge < int((29*24*time.Hour).Seconds()) {
		t.Errorf("cookie %+v, want HttpOnly, SameSite=Lax, Path=/, not Secure over http, Max-Age about 30 days", a.cookie)
	}
	if a.user.Email != email || a.user.Name != "BA User" || a.user.EmailVerified || a.user.Image != nil ||
		!strings.HasSuffix(a.user.CreatedAt, "Z") || len(a.user.CreatedAt) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("user %+v, want Better Auth's shape", a.user)
	}

	for name, opt := range map[string]reqOpt{
		"cookie":              a.withCookie(),
		"signed bearer":       a.bearer(),
		"unsigned bearer":     bearer(a.token),
		"Expo's decoded form": header("Cookie", "better-auth.session_token="+a.signed),
		"__Secure- name":      header("Cookie", "__Secure-better-auth.session_token="+a.cookie.Value),
	} {
		if got := e.getSession(opt); got != email {
			t.Errorf("%s: get-session = %q, want %s", name, got, email)
		}
	}
	forged := a.token + "." + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for name, opt := range map[string]reqOpt{
		"no credentials":         func(*http.Request) {},
		"forged cookie":          header("Cookie", "better-auth.session_token="+url.QueryEscape(forged)),
		"forged bearer":          bearer(forged),
		"unsigned cookie":        header("Cookie", "better-auth.session_token="+a.token),
		"hub cookie name":        withCookie(a.signed),
		"other secret's cookie":  header("Cookie", "better-auth.session_token="+url.QueryEscape(betterauth.Sign("another secret, long enough to be one", a.token))),
		"signature of the token": bearer(strings.SplitN(a.signed, ".", 2)[1]),
	} {
		if got := e.getSession(opt); got != "" {
			t.Errorf("%s: get-session = %q, want null", name, got)
		}
	}

	// The session works on the REST API and opens sockets like any other.
	e.do("GET", "/api/v1/me", nil, a.withCookie()).want(t, http.StatusOK, nil)
	e.do("GET", "/api/v1/me", nil, a.bearer()).want(t, http.StatusOK, nil)
	var dev deviceJSON
	e.do("POST", "/api/v1/devices", map[string]string{"name": "phone", "role": "viewer", "platform": "ios"},
		a.withCookie(), header("Expo-Origin", "myapp://")).want(t, http.StatusCreated, &dev)
	e.do("POST", "/api/v1/devices", map[string]string{"name": "phone", "role": "viewer", "platform": "ios"},
		a.withCookie()).wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
	for name, h := range map[string]http.Header{
		"cookie and expo-origin": {"Cookie": {a.cookie.String()}, "Expo-Origin": {"myapp://"}},
		"signed bearer":          {"Authorization": {"Bearer " + a.signed}},
	} {
		req, _ := http.NewRequest("GET", e.http.URL+"/ws", nil)
		req.Header = h
		req.Header.Set("X-Device-Id", dev.Device.ID)
		id, err := e.auth.Authenticate(req)
		if err != nil || id.DeviceID != dev.Device.ID || id.SessionID == "" {
			t.Errorf("%s: Authenticate = %+v, %v", name, id, err)
		}
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/ws", nil)
	req.Header = http.Header{"Cookie": {a.cookie.String()}, "Expo-Origin": {"otherapp://"}, "X-Device-Id": {dev.Device.ID}}
	if _, err := e.auth.Authenticate(req); err == nil {
		t.Error("a socket with another app's expo-origin opened")
	}

	// rememberMe: false makes the cookie a browser-session one (no Max-Age).
	res := e.do("POST", "/api/auth/sign-in/email", map[string]any{"email": email, "password": testPassword, "rememberMe": false})
	if c := res.cookie("better-auth.session_token"); c == nil || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("rememberMe false: cookie %v, want no Max-Age", c)
	}
	// Bodies are JSON; get-session is a GET.
	e.do("POST", "/api/auth/sign-in/email", "email=a%40example.com&password=x",
		header("Content-Type", "application/x-www-form-urlencoded")).wantBA(t, http.StatusBadRequest, "VALIDATION_ERROR")
	e.do("POST", "/api/auth/get-session", nil, a.bearer()).wantBA(t, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")

	// Under HTTPS the cookie has the __Secure- prefix and Secure.
	s := newEnv(t, withBA(false), config(func(c *web.Config) { c.PublicURL = "https://hub.example.com" }))
	res = s.do("POST", "/api/auth/sign-up/email", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "S"})
	c := res.cookie("__Secure-better-auth.session_token")
	if c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("HTTPS: cookies %v, want __Secure-better-auth.session_token, Secure", res.header["Set-Cookie"])
	}
	if s.getSession(header("Cookie", "better-auth.session_token="+c.Value)) == "" {
		t.Error("HTTPS: the cookie under its plain name is not read")
	}
}

func TestBetterAuthOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("POST", "/api/auth/sign-up/email", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "x"}).
		wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	if _, err := web.New(web.Config{BetterAuthShared: true}, web.Deps{Store: e.store}); err == nil {
		t.Error("BetterAuthShared without a secret accepted")
	}
}

// A Better Auth server sharing the database stores raw tokens: the hub accepts them
// only signed (reading the table is not enough), only in shared mode, and never a
// 64-character value (that is what the hub stores: a hash).
func TestBetterAuthRawSessions(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withBA(shared))
			ctx := t.Context()
			u := store.User{Email: uniqueEmail(), Name: "Raw", PasswordHash: "x:y"}
			if err := e.store.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			raw := "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6" // as Better Auth makes them
			for _, tok := range []string{raw, sha256hex("a hub token")} {
				if err := e.store.CreateSession(ctx, &store.Session{TokenHash: tok, UserID: u.ID,
					ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			want := ""
			if shared {
				want = u.Email
			}
			if got := e.getSession(bearer(betterauth.Sign(baSecret, raw))); got != want {
				t.Errorf("signed raw token: %q, want %q", got, want)
			}
			if got := e.getSession(header("Cookie", "better-auth.session_token="+url.QueryEscape(betterauth.Sign(baSecret, raw)))); got != want {
				t.Errorf("raw token in the cookie: %q, want %q", got, want)
			}
			if got := e.getSession(bearer(raw)); got != "" {
				t.Errorf("unsigned raw token accepted")
			}
			if got := e.getSession(bearer(betterauth.Sign(baSecret, sha256hex("a hub token")))); got != "" {
				t.Errorf("a stored hash, signed, accepted as a token")
			}

			// Sessions the hub's Better Auth routes create are stored raw when shared (so
			// that Better Auth finds them), hashed otherwise.
			a := e.baSignUp(uniqueEmail())
			_, err := e.store.SessionByTokenHash(ctx, a.token)
			if shared != (err == nil) {
				t.Errorf("session stored raw: %v, want %v", err == nil, shared)
			}
			_, err = e.store.SessionByTokenHash(ctx, sha256hex(a.token))
			if shared == (err == nil) {
				t.Errorf("session stored hashed: %v, want %v", err == nil, !shared)
			}
			// The REST API's sessions are always hashed.
			v1 := e.signUp()
			if _, err := e.store.SessionByTokenHash(ctx, sha256hex(v1.Session.Token)); err != nil {
				t.Errorf("REST session not stored hashed: %v", err)
			}

			// A WebSocket ticket names the session by id, never by what is stored.
			var ab deviceJSON
			e.do("POST", "/api/v1/devices", map[string]string{"name": "p", "role": "viewer", "platform": "ios"},
				a.bearer()).want(t, http.StatusCreated, &ab)
			var tk struct{ Ticket string }
			e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": ab.Device.ID}, a.bearer()).
				want(t, http.StatusCreated, &tk)
			if strings.Contains(tk.Ticket, a.token) || strings.Contains(tk.Ticket, sha256hex(a.token)) {
				t.Errorf("ticket %q carries the session's stored token", tk.Ticket)
			}
			req, _ := http.NewRequest("GET", e.http.URL+"/ws?ticket="+url.QueryEscape(tk.Ticket), nil)
			if id, err := e.auth.Authenticate(req); err != nil || id.SessionID == "" {
				t.Errorf("ticket: %+v, %v", id, err)
			}

			// Taking over hashes the raw tokens (and nothing while shared).
			n, err := e.srv.AdoptSessions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 1}[shared]; n != want {
				t.Errorf("AdoptSessions hashed %d, want %d", n, want)
			}
			if !shared {
				if got := e.getSession(bearer(raw)); got != u.Email {
					t.Errorf("after adoption the raw token (found by its hash) = %q", got)
				}
				if _, err := e.store.SessionByTokenHash(ctx, raw); err == nil {
					t.Error("raw token still stored after AdoptSessions")
				}
			}
		})
	}
}

func TestBetterAuthOriginChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	a := e.baSignUp(uniqueEmail())
	upd := map[string]string{"name": "New"}
	e.do("POST", "/api/auth/update-user", upd, a.withCookie()).wantBA(t, http.StatusForbidden, "MISSING_OR_NULL_ORIGIN")
	e.do("POST", "/api/auth/update-user", upd, a.withCookie(), header("Origin", "https://evil.example")).
		wantBA(t, http.StatusForbidden, "INVALID_ORIGIN")
	e.do("POST", "/api/auth/update-user", upd, a.withCookie(), header("Expo-Origin", "otherapp://")).
		wantBA(t, http.StatusForbidden, "INVALID_ORIGIN")
	e.do("POST", "/api/auth/update-user", upd, a.withCookie(), header("Referer", "https://evil.example/x")).
		wantBA(t, http.StatusForbidden, "INVALID_ORIGIN")
	for name, opt := range map[string]reqOpt{
		"expo-origin":    header("Expo-Origin", "myapp://"),
		"same origin":    header("Origin", e.http.URL),
		"allowed origin": header("Origin", "http://localhost:8080"),
		"bearer, no cookie, no origin": func(r *http.Request) {
			r.Header.Del("Cookie")
			r.Header.Set("Authorization", "Bearer "+a.signed)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e.do("POST", "/api/auth/update-user", upd, a.withCookie(), opt).want(t, http.StatusOK, nil)
		})
	}

	// Sign-in: a cross-site navigation is login CSRF; a browser fetch must name its
	// origin; an app without either passes.
	in := map[string]string{"email": a.user.Email, "password": testPassword}
	e.do("POST", "/api/auth/sign-in/email", in, header("Sec-Fetch-Site", "cross-site"), header("Sec-Fetch-Mode", "navigate")).
		wantBA(t, http.StatusForbidden, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
	e.do("POST", "/api/auth/sign-in/email", in, header("Sec-Fetch-Mode", "cors")).
		wantBA(t, http.StatusForbidden, "MISSING_OR_NULL_ORIGIN")
	e.do("POST", "/api/auth/sign-in/email", in, header("Origin", "https://evil.example")).
		wantBA(t, http.StatusForbidden, "INVALID_ORIGIN")
	e.do("POST", "/api/auth/sign-in/email", in).want(t, http.StatusOK, nil)

	// Callback URLs: relative paths, the hub's origins and allowed app schemes only.
	for url, want := range map[string]int{
		"/home": http.StatusOK, "http://localhost:8080/x": http.StatusOK, "myapp://signed-in": http.StatusOK,
		"https://evil.example/": http.StatusForbidden, "//evil.example": http.StatusForbidden, "otherapp://x": http.StatusForbidden,
	} {
		res := e.do("POST", "/api/auth/sign-in/email", map[string]string{"email": a.user.Email, "password": testPassword, "callbackURL": url})
		if want == http.StatusOK {
			var body struct {
				Redirect bool   `json:"redirect"`
				URL      string `json:"url"`
			}
			res.want(t, http.StatusOK, &body)
			if !body.Redirect || body.URL != url || res.header.Get("Location") != url {
				t.Errorf("callbackURL %s: %+v, Location %q", url, body, res.header.Get("Location"))
			}
			continue
		}
		res.wantBA(t, http.StatusForbidden, "INVALID_CALLBACK_URL")
	}
	e.do("POST", "/api/auth/request-password-reset", map[string]string{"email": a.user.Email, "redirectTo": "https://evil.example"}).
		wantBA(t, http.StatusForbidden, "INVALID_REDIRECT_URL")
}

func TestBetterAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)
	for name, tt := range map[string]struct {
		path   string
		body   any
		status int
		code   string
	}{
		"duplicate email":     {"/sign-up/email", map[string]string{"email": strings.ToUpper(email), "password": testPassword, "name": "x"}, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"},
		"short password":      {"/sign-up/email", map[string]string{"email": uniqueEmail(), "password": "short", "name": "x"}, 400, "PASSWORD_TOO_SHORT"},
		"long password":       {"/sign-up/email", map[string]string{"email": uniqueEmail(), "password": strings.Repeat("x", 129), "name": "x"}, 400, "PASSWORD_TOO_LONG"},
		"sign-up bad email":   {"/sign-up/email", map[string]string{"email": "nope", "password": testPassword, "name": "x"}, 400, "VALIDATION_ERROR"},
		"sign-up no name":     {"/sign-up/email", map[string]string{"email": uniqueEmail(), "password": testPassword}, 400, "VALIDATION_ERROR"},
		"sign-up empty name":  {"/sign-up/email", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": " "}, 400, "VALIDATION_ERROR"},
		"name not a string":   {"/sign-up/email", map[string]any{"email": uniqueEmail(), "password": testPassword, "name": 3}, 400, "VALIDATION_ERROR"},
		"wrong password":      {"/sign-in/email", map[string]string{"email": email, "password": "wrong password"}, 401, "INVALID_EMAIL_OR_PASSWORD"},
		"unknown email":       {"/sign-in/email", map[string]string{"email": uniqueEmail(), "password": testPassword}, 401, "INVALID_EMAIL_OR_PASSWORD"},
		"sign-in bad email":   {"/sign-in/email", map[string]string{"email": "nope", "password": testPassword}, 400, "INVALID_EMAIL"},
		"body not an object":  {"/sign-in/email", "[1]", 400, "BODY_MUST_BE_AN_OBJECT"},
		"reset without token": {"/reset-password", map[string]string{"newPassword": testPassword}, 400, "INVALID_TOKEN"},
		"reset bad token":     {"/reset-password", map[string]string{"newPassword": testPassword, "token": "nope"}, 400, "INVALID_TOKEN"},
		"reset hub-shaped":    {"/reset-password", map[string]string{"newPassword": testPassword, "token": a.user.ID + ".x"}, 400, "INVALID_TOKEN"},
		"not signed in":       {"/change-password", map[string]string{"newPassword": testPassword, "currentPassword": testPassword}, 401, "UNAUTHORIZED"},
	} {
		t.Run(name, func(t *testing.T) {
			e.do("POST", "/api/auth"+tt.path, tt.body).wantBA(t, tt.status, tt.code)
		})
	}
	e.do("POST", "/api/auth/change-password", map[string]string{"newPassword": "short", "currentPassword": testPassword}, a.bearer()).
		wantBA(t, 400, "PASSWORD_TOO_SHORT")
	e.do("POST", "/api/auth/change-password", map[string]string{"newPassword": testPassword + "2", "currentPassword": "wrong password"}, a.bearer()).
		wantBA(t, 400, "INVALID_PASSWORD")
	e.do("POST", "/api/auth/update-user", map[string]string{"email": "x@example.com"}, a.bearer()).
		wantBA(t, 400, "EMAIL_CAN_NOT_BE_UPDATED")
	if m := e.do("POST", "/api/auth/update-user", map[string]string{}, a.bearer()).wantBA(t, 400, ""); m.Message != "No fields to update" {
		t.Errorf("empty update-user: %+v", m)
	}
	e.do("GET", "/api/auth/no-such-route", nil).wantBA(t, 404, "NOT_FOUND")

	// Too many attempts: Better Auth's 429 (a message, no code) with X-Retry-After.
	r := newEnv(t, withBA(false), config(func(c *web.Config) { c.AuthPerIPAccount = web.RateLimit{Requests: 2, Window: time.Minute} }))
	for range 2 {
		r.do("POST", "/api/auth/sign-in/email", map[string]string{"email": email, "password": "x"}).wantBA(t, 401, "INVALID_EMAIL_OR_PASSWORD")
	}
	res := r.do("POST", "/api/auth/sign-in/email", map[string]string{"email": email, "password": "x"})
	if m := res.wantBA(t, http.StatusTooManyRequests, ""); m.Message != "Too many requests. Please try again later." ||
		res.header.Get("X-Retry-After") == "" {
		t.Errorf("429: %+v, X-Retry-After %q", m, res.header.Get("X-Retry-After"))
	}
}

func TestBetterAuthSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)
	b := e.baSignIn(email, testPassword)

	var list []baSessionJSON
	e.do("GET", "/api/auth/list-sessions", nil, a.bearer()).want(t, http.StatusOK, &list)
	if len(list) != 2 {
		t.Fatalf("list-sessions = %+v, want 2", list)
	}
	var other baSessionJSON
	for _, x := range list {
		if x.Token != a.token {
			other = x
		}
	}
	if other.Token == b.token || other.Token != sha256hex(b.token) {
		t.Errorf("another session is listed with token %q: want its stored hash, never its token", other.Token)
	}
	e.do("POST", "/api/auth/revoke-session", map[string]string{"token": other.Token}, a.bearer()).want(t, http.StatusOK, nil)
	if e.getSession(b.bearer()) != "" {
		t.Error("revoke-session by the listed handle left the session working")
	}
	if want := "session:" + other.ID + ":4003"; !contains(e.sockets.list(), want) {
		t.Errorf("sockets closed %v, want %s", e.sockets.list(), want)
	}

	// Another user's session cannot be revoked.
	c := e.baSignUp(uniqueEmail())
	e.do("POST", "/api/auth/revoke-session", map[string]string{"token": c.token}, a.bearer()).want(t, http.StatusOK, nil)
	if e.getSession(c.bearer()) == "" {
		t.Error("a user revoked another user's session")
	}

	// Revoking its own session clears the cookie.
	res := e.do("POST", "/api/auth/revoke-session", map[string]string{"token": a.token}, a.bearer())
	res.want(t, http.StatusOK, nil)
	if ck := res.cookie("better-auth.session_token"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("own session revoked, cookie %v, want expired", ck)
	}

	// list-sessions wants a fresh session (created within a day), as Better Auth.
	d := e.baSignIn(email, testPassword)
	e.clock.Advance(25 * time.Hour)
	e.do("GET", "/api/auth/list-sessions", nil, d.bearer()).wantBA(t, http.StatusForbidden, "SESSION_NOT_FRESH")

	// revoke-other-sessions and revoke-sessions end sessions and close their sockets;
	// so does sign-out.
	f := e.baSignIn(email, testPassword)
	g := e.baSignIn(email, testPassword)
	var fs, gs struct {
		Session baSessionJSON `json:"session"`
	}
	e.do("GET", "/api/auth/get-session", nil, f.bearer()).want(t, http.StatusOK, &fs)
	e.do("GET", "/api/auth/get-session", nil, g.bearer()).want(t, http.StatusOK, &gs)
	e.do("POST", "/api/auth/revoke-other-sessions", nil, f.bearer()).want(t, http.StatusOK, nil)
	if e.getSession(g.bearer()) != "" || e.getSession(f.bearer()) == "" || !contains(e.sockets.list(), "session:"+gs.Session.ID+":4003") {
		t.Errorf("revoke-other-sessions: sockets closed %v", e.sockets.list())
	}
	e.do("POST", "/api/auth/revoke-sessions", nil, f.bearer()).want(t, http.StatusOK, nil)
	if e.getSession(f.bearer()) != "" || !contains(e.sockets.list(), "user:"+a.user.ID+":4003") {
		t.Errorf("revoke-sessions: sockets closed %v", e.sockets.list())
	}
	h := e.baSignIn(email, testPassword)
	var hs struct {
		Session baSessionJSON `json:"session"`
	}
	e.do("GET", "/api/auth/get-session", nil, h.bearer()).want(t, http.StatusOK, &hs)
	e.do("POST", "/api/auth/sign-out", nil, h.bearer()).want(t, http.StatusOK, nil)
	if e.getSession(h.bearer()) != "" || !contains(e.sockets.list(), "session:"+hs.Session.ID+":4003") {
		t.Errorf("sign-out: sockets closed %v", e.sockets.list())
	}

	// Sign-out answers success signed in or not, and expires the cookies.
	res = e.do("POST", "/api/auth/sign-out", nil)
	res.want(t, http.StatusOK, nil)
	if string(res.body) != "{\"success\":true}\n" {
		t.Errorf("sign-out body %s", res.body)
	}
	for _, name := range []string{"better-auth.session_token", "better-auth.session_data", "better-auth.dont_remember"} {
		if ck := res.cookie(name); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("sign-out: cookie %s %v, want expired", name, ck)
		}
	}
}

// A session past half its lifetime is renewed by get-session, with a new cookie.
func TestBetterAuthRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false), config(func(c *web.Config) { c.SessionTTL = 10 * time.Hour }))
	a := e.baSignUp(uniqueEmail())
	res := e.do("GET", "/api/auth/get-session", nil, a.withCookie())
	if res.cookie("better-auth.session_token") != nil {
		t.Error("a fresh session got a new cookie")
	}
	e.clock.Advance(6 * time.Hour)
	res = e.do("GET", "/api/auth/get-session", nil, a.withCookie())
	var s struct {
		Session baSessionJSON `json:"session"`
	}
	res.want(t, http.StatusOK, &s)
	ck := res.cookie("better-auth.session_token")
	if ck == nil || ck.MaxAge < int((9*time.Hour).Seconds()) {
		t.Fatalf("renewal cookie %v, want Max-Age about 10 h", ck)
	}
	exp, _ := time.Parse(time.RFC3339, s.Session.ExpiresAt)
	if exp.Before(e.clock.Now().Add(9 * time.Hour)) {
		t.Errorf("expiresAt %s not renewed", s.Session.ExpiresAt)
	}
	e.clock.Advance(11 * time.Hour)
	if e.getSession(a.withCookie()) != "" {
		t.Error("a session past its renewed lifetime still works")
	}
}

// Reset rows Better Auth wrote ("reset-password:<token>" → user id) work until they
// expire, through its routes and the REST API, once.
func TestBetterAuthResetRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)
	ctx := t.Context()
	row := func(tok string, ttl time.Duration) {
		if err := e.store.CreateVerification(ctx, &store.Verification{Identifier: "reset-password:" + tok,
			ValueHash: a.user.ID, ExpiresAt: e.clock.Now().Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	row("Zq8wX4vB2nM6kL0pR3tY7uI1", time.Hour)
	row("Old0wX4vB2nM6kL0pR3tY7uI", -time.Minute)
	row("Rest0X4vB2nM6kL0pR3tY7uI", time.Hour)

	if status, loc := e.redirect("/api/auth/reset-password/Zq8wX4vB2nM6kL0pR3tY7uI1?callbackURL=%2Freset%3Fa%3D1"); status != http.StatusFound ||
		loc != "http://localhost:8080/reset?a=1&token=Zq8wX4vB2nM6kL0pR3tY7uI1" {
		t.Errorf("reset link: %d %q", status, loc)
	}
	if status, loc := e.redirect("/api/auth/reset-password/Old0wX4vB2nM6kL0pR3tY7uI?callbackURL=myapp%3A%2F%2Freset"); status != http.StatusFound ||
		loc != "myapp://reset?error=INVALID_TOKEN" {
		t.Errorf("expired reset link: %d %q", status, loc)
	}
	if status, loc := e.redirect("/api/auth/reset-password/Zq8wX4vB2nM6kL0pR3tY7uI1?callbackURL="); status != http.StatusFound ||
		loc != "http://localhost:8080/reset-password?token=Zq8wX4vB2nM6kL0pR3tY7uI1" {
		t.Errorf("reset link without a callback: %d %q, want the browser app's reset page", status, loc)
	}
	e.do("GET", "/api/auth/reset-password/Zq8wX4vB2nM6kL0pR3tY7uI1", nil).wantBA(t, 400, "VALIDATION_ERROR")
	e.do("GET", "/api/auth/reset-password/Zq8wX4vB2nM6kL0pR3tY7uI1?callbackURL=https%3A%2F%2Fevil.example", nil).
		wantBA(t, 403, "INVALID_CALLBACK_URL")

	e.do("POST", "/api/auth/reset-password", map[string]string{"newPassword": "brand new password", "token": "Old0wX4vB2nM6kL0pR3tY7uI"}).
		wantBA(t, 400, "INVALID_TOKEN")
	e.do("POST", "/api/auth/reset-password", map[string]string{"newPassword": "brand new password", "token": "Zq8wX4vB2nM6kL0pR3tY7uI1"}).
		want(t, http.StatusOK, nil)
	e.do("POST", "/api/auth/reset-password", map[string]string{"newPassword": "another password", "token": "Zq8wX4vB2nM6kL0pR3tY7uI1"}).
		wantBA(t, 400, "INVALID_TOKEN")
	if e.getSession(a.bearer()) != "" {
		t.Error("a session survived the reset")
	}
	e.baSignIn(email, "brand new password")
	// The new password voided the other outstanding link.
	e.do("POST", "/api/auth/reset-password", map[string]string{"newPassword": "another password", "token": "Rest0X4vB2nM6kL0pR3tY7uI"}).
		wantBA(t, 400, "INVALID_TOKEN")
	// The REST API honours them too.
	row("Rest1X4vB2nM6kL0pR3tY7uI", time.Hour)
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"password": "rest password 1", "token": "Rest1X4vB2nM6kL0pR3tY7uI"}).
		want(t, http.StatusNoContent, nil)
	e.baSignIn(email, "rest password 1")
}

// jwt signs an HS256 JWT as Better Auth's createEmailVerificationToken does.
func jwt(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256"}`))
	p, _ := json.Marshal(claims)
	body := h + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return body + "." + enc.EncodeToString(m.Sum(nil))
}

// Verification links Better Auth mailed (JWTs signed with its secret) verify the email
// until they expire; links it did not sign, or that change the address, do not.
func TestBetterAuthVerificationJWT(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)
	now := e.clock.Now().Unix()
	valid := map[string]any{"email": email, "userId": a.user.ID, "iat": now, "exp": now + 3600}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k, v := range valid {
			c[k] = v
		}
		c[k] = v
		return c
	}
	for name, tt := range map[string]struct {
		tok  string
		code string
	}{
		"expired":          {jwt(baSecret, with("exp", now-1)), "TOKEN_EXPIRED"},
		"other secret":     {jwt("not the secret at all, but as long", valid), "INVALID_TOKEN"},
		"changes address":  {jwt(baSecret, with("updateTo", "new@example.com")), "INVALID_TOKEN"},
		"other user's id":  {jwt(baSecret, with("userId", "01900000-0000-7000-8000-000000000000")), "INVALID_TOKEN"},
		"no such account":  {jwt(baSecret, with("email", uniqueEmail())), "USER_NOT_FOUND"},
		"not a token":      {"garbage", "INVALID_TOKEN"},
		"a hub-shaped one": {a.user.ID + ".secret", "INVALID_TOKEN"},
	} {
		t.Run(name, func(t *testing.T) {
			e.do("GET", "/api/auth/verify-email?token="+url.QueryEscape(tt.tok), nil).wantBA(t, http.StatusUnauthorized, tt.code)
			if status, loc := e.redirect("/api/auth/verify-email?callbackURL=%2Fdone&token=" + url.QueryEscape(tt.tok)); status != http.StatusFound ||
				loc != "/done?error="+tt.code {
				t.Errorf("with callbackURL: %d %q", status, loc)
			}
		})
	}
	if e.getSessionUser(a).EmailVerified {
		t.Fatal("verified by a bad link")
	}
	var out map[string]any
	e.do("GET", "/api/auth/verify-email?token="+jwt(baSecret, valid), nil).want(t, http.StatusOK, &out)
	if out["status"] != true || out["user"] != nil || len(out) != 2 {
		t.Errorf("verify-email answer %v, want {status: true, user: null}", out)
	}
	if !e.getSessionUser(a).EmailVerified {
		t.Error("a valid link did not verify")
	}
	// The REST API honours them too.
	b := e.baSignUp(uniqueEmail())
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": jwt(baSecret,
		map[string]any{"email": b.user.Email, "exp": now + 60})}).want(t, http.StatusNoContent, nil)
	if !e.getSessionUser(b).EmailVerified {
		t.Error("the REST API did not verify with a Better Auth link")
	}
}

func (e *env) getSessionUser(a baSignedIn) baUserJSON {
	e.t.Helper()
	var s struct {
		User baUserJSON `json:"user"`
	}
	e.do("GET", "/api/auth/get-session", nil, a.bearer()).want(e.t, http.StatusOK, &s)
	return s.User
}

// Signed out, send-verification-email answers the same whether the account exists,
// and mails only an unverified one; signed in, the email must be the user's.
func TestBetterAuthSendVerificationEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	email := uniqueEmail()
	a := e.baSignUp(email)
	// Sign-up mails a verification link already, Better Auth's.
	if m := e.mail.next(t); m.to != email || !strings.Contains(m.body, "http://localhost:8080/api/auth/verify-email?callbackURL=%2F&token=") {
		t.Fatalf("sign-up mail %+v, want a Better Auth verification link to %s", m, email)
	}
	for _, to := range []string{uniqueEmail(), email} {
		e.do("POST", "/api/auth/send-verification-email", map[string]string{"email": to}).want(t, http.StatusOK, nil)
	}
	m := e.mail.next(t)
	if m.to != email || !strings.Contains(m.body, "http://localhost:8080/api/auth/verify-email?") {
		t.Fatalf("mail %+v, want a Better Auth verification link to %s", m, email)
	}
	e.do("POST", "/api/auth/send-verification-email", map[string]string{"email": uniqueEmail()}, a.bearer()).
		wantBA(t, 400, "EMAIL_MISMATCH")
	if status, loc := e.redirect("/api/auth/verify-email?token=" + url.QueryEscape(tokenIn(t, m.body)) + "&callbackURL=myapp%3A%2F%2Fverified"); status != http.StatusFound ||
		loc != "myapp://verified" {
		t.Errorf("hub verification link: %d %q", status, loc)
	}
	e.do("POST", "/api/auth/send-verification-email", map[string]string{"email": email}, a.bearer()).
		wantBA(t, 400, "EMAIL_ALREADY_VERIFIED")
	select {
	case extra := <-e.mail.ch:
		t.Errorf("unexpected mail %+v", extra)
	default:
	}
}

func TestBetterAuthUpdateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBA(false))
	a := e.baSignUp(uniqueEmail())
	e.do("POST", "/api/auth/update-user", map[string]any{"name": "Renamed", "image": "https://example.com/me.png"}, a.bearer()).
		want(t, http.StatusOK, nil)
	u := e.getSessionUser(a)
	if u.Name != "Renamed" || u.Image == nil || *u.Image != "https://example.com/me.png" {
		t.Errorf("after update-user: %+v", u)
	}
	e.do("POST", "/api/auth/update-user", map[string]any{"image": nil}, a.bearer()).want(t, http.StatusOK, nil)
	if u := e.getSessionUser(a); u.Image != nil || u.Name != "Renamed" {
		t.Errorf("after clearing the image: %+v", u)
	}
}

// redirect GETs path without following a redirect and returns the status and Location.
func (e *env) redirect(path string) (int, string) {
	e.t.Helper()
	c := e.http.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(e.http.URL + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
