package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
)

func TestSignUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	email := uniqueEmail()
	res := e.do("POST", "/api/v1/auth/sign-up", map[string]any{
		"email": "  " + strings.ToUpper(email) + " ", "password": testPassword, "name": " Ada ",
		"unknown_field": []int{1, 2}, // ignored
	})
	var a authJSON
	res.want(t, http.StatusCreated, &a)
	if a.User.Email != email || a.User.Name != "Ada" || a.User.EmailVerified || a.User.ID == "" {
		t.Fatalf("user %+v", a.User)
	}
	// The verification link goes out at sign-up, and works.
	mail := e.mail.nextTo(t, email)
	if mail.subject != "Verify your SecureCam email address" {
		t.Fatalf("sign-up mail %+v, want the verification mail", mail)
	}
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tokenIn(t, mail.body)}).want(t, http.StatusNoContent, nil)
	if strings.Contains(string(res.body), "password") {
		t.Fatalf("answer mentions the password: %s", res.body)
	}
	if len(a.Session.Token) != 43 {
		t.Fatalf("session token %q: want 43 base64url characters", a.Session.Token)
	}
	if d := a.Session.ExpiresAt.Sub(e.clock.Now()); d < 29*24*time.Hour || d > 30*24*time.Hour+time.Minute {
		t.Fatalf("expires_at %v is %v away, want 30 days", a.Session.ExpiresAt, d)
	}
	c := res.cookie(web.SessionCookie)
	if c == nil || c.Value != a.Session.Token || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Lax, Path=/, not Secure on http", c)
	}
	// The token is stored only as its SHA-256.
	if _, err := e.store.SessionByTokenHash(t.Context(), a.Session.Token); err == nil {
		t.Fatal("the plain token finds a session: stored unhashed")
	}
	// The stored hash is Better Auth's format, mirrored in the credential account.
	u, err := e.store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.store.CredentialPassword(t.Context(), u.ID)
	if err != nil || acct != u.PasswordHash || len(u.PasswordHash) != 32+1+128 {
		t.Fatalf("account.password %q, users.password_hash %q, %v", acct, u.PasswordHash, err)
	}
	var me wire.User
	e.do("GET", "/api/v1/me", nil, bearer(a.Session.Token)).want(t, http.StatusOK, &me)
	if me.ID != a.User.ID {
		t.Fatalf("/me %+v", me)
	}
	if got := e.auditActions(a.Session.Token); !slices.Contains(got, web.AuditSignUp) {
		t.Fatalf("audit %v lacks sign-up", got)
	}

	t.Run("duplicate email, any case", func(t *testing.T) {
		e.do("POST", "/api/v1/auth/sign-up", map[string]string{
			"email": strings.ToUpper(email), "password": testPassword, "name": "Eve",
		}).wantProblem(t, http.StatusConflict, "conflict")
	})

	tests := []struct {
		name string
		body any
	}{
		{"bad email", map[string]string{"email": "nope", "password": testPassword, "name": "A"}},
		{"display-name email", map[string]string{"email": "A <a@example.com>", "password": testPassword, "name": "A"}},
		{"short password", map[string]string{"email": uniqueEmail(), "password": "1234567", "name": "A"}},
		{"long password", map[string]string{"email": uniqueEmail(), "password": strings.Repeat("p", 129), "name": "A"}},
		{"no name", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "  "}},
		{"long name", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": strings.Repeat("n", 101)}},
		{"missing fields", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do("POST", "/api/v1/auth/sign-up", tt.body).wantProblem(t, http.StatusBadRequest, "bad_request")
		})
	}
	// Bodies that are not the JSON object asked for: the detail says what is wrong in
	// the body's terms, never in Go's.
	for _, tt := range []struct{ name, body, detail string }{
		{"malformed JSON", `{"email": "a@example.com",`, "the body is not valid JSON: it ends in the middle of a value"},
		{"bad character", `{"email": x}`, "the body is not valid JSON: unexpected 'x' at byte 11"},
		{"wrong type", `{"email": 42, "password": "x", "name": "A"}`, "email: expected a string, got a number"},
		{"not an object", `["a@example.com"]`, "the body: expected an object, got an array"},
		{"trailing object", `{"email": "a@example.com", "password": "12345678", "name": "A"} {}`, "the body has data after its JSON object"},
		{"trailing garbage", `{"email": "a@example.com", "password": "12345678", "name": "A"} x`, "the body has data after its JSON object"},
		{"empty body", ``, "the body is empty; expected a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := e.do("POST", "/api/v1/auth/sign-up", tt.body).wantProblem(t, http.StatusBadRequest, "bad_request")
			if p.Detail != tt.detail {
				t.Fatalf("detail %q, want %q", p.Detail, tt.detail)
			}
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		big := `{"email": "a@example.com", "password": "12345678", "name": "` + strings.Repeat("x", 70<<10) + `"}`
		e.do("POST", "/api/v1/auth/sign-up", big).wantProblem(t, http.StatusRequestEntityTooLarge, "too_large")
	})
	t.Run("oversized body without Content-Length", func(t *testing.T) {
		big := `{"name": "` + strings.Repeat("x", 70<<10) + `"}`
		req, err := http.NewRequestWithContext(t.Context(), "POST", e.http.URL+"/api/v1/auth/sign-up",
			struct{ *strings.Reader }{strings.NewReader(big)}) // hides the length
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", res.StatusCode)
		}
	})
}

func TestSecureCookieOnHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) { c.PublicURL = "https://hub.example.com" }))
	res := e.do("POST", "/api/v1/auth/sign-up", map[string]string{
		"email": uniqueEmail(), "password": testPassword, "name": "A",
	})
	res.want(t, http.StatusCreated, nil)
	if c := res.cookie(web.SessionCookie); c == nil || !c.Secure {
		t.Fatalf("cookie %+v: want Secure when the public URL is https", c)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()

	var in authJSON
	res := e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": strings.ToUpper(a.User.Email), "password": testPassword})
	res.want(t, http.StatusOK, &in)
	if in.User.ID != a.User.ID || in.Session.Token == "" || in.Session.Token == a.Session.Token {
		t.Fatalf("sign-in %+v", in)
	}
	if c := res.cookie(web.SessionCookie); c == nil || c.Value != in.Session.Token {
		t.Fatalf("cookie %+v", c)
	}
	e.do("GET", "/api/v1/me", nil, bearer(in.Session.Token)).want(t, http.StatusOK, nil)

	wrong := e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "wrong password"})
	wrongDoc := wrong.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	unknown := e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": uniqueEmail(), "password": "wrong password"})
	unknownDoc := unknown.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	if wrongDoc != unknownDoc || !bytes.Equal(wrong.body, unknown.body) {
		t.Fatalf("unknown email and wrong password answer differently:\n%s\n%s", wrong.body, unknown.body)
	}
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email}).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("POST", "/api/v1/auth/sign-in", `{"email": "a@example.com", "password": 12345678}`).
		wantProblem(t, http.StatusBadRequest, "bad_request")

	var logs struct{ Items []wire.AuditLog }
	e.do("GET", "/api/v1/audit-logs", nil, bearer(in.Session.Token)).want(t, http.StatusOK, &logs)
	var sawFail, sawOK bool
	for _, l := range logs.Items {
		if l.OwnerUserID == nil || *l.OwnerUserID != a.User.ID {
			t.Fatalf("audit row of someone else: %+v", l)
		}
		if l.IPAddress == nil || *l.IPAddress != "127.0.0.1" {
			t.Fatalf("audit row without the client IP: %+v", l)
		}
		if strings.Contains(string(l.Metadata), "wrong password") {
			t.Fatalf("audit metadata holds the password: %s", l.Metadata)
		}
		switch l.Action {
		case web.AuditSignInFailed:
			sawFail = true
		case web.AuditSignIn:
			sawOK = true
		}
	}
	if !sawFail || !sawOK {
		t.Fatalf("audit rows %+v: want sign-in and sign-in failure", logs.Items)
	}
}

// A user and Better Auth credential account inserted by hand (as the old backend left
// them: password_hash NULL, the hash in account.password) sign in with the real scrypt
// parameters.
func TestBetterAuthAccountSignsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, realHashing)
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	userID := uuid.NewString()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	// Produced by better-auth 1.7.25's hashPassword("correct horse battery staple").
	const hash = "9e9243f8ff6123f9d92711bbdce35f2c:c33fc80978096b892714d28090e1959a21230008812daac647ece4313e2774f6e30a67ef2baf3e3eadbad6c940a24222e09bd12b0ca9d8c9eee94a50c53d4bc3"
	if _, err := db.ExecContext(t.Context(), `INSERT INTO users (id, email, name, email_verified, created_at, updated_at)
		VALUES (?, 'old@example.com', 'Old User', 1, ?, ?)`, userID, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO account (id, user_id, account_id, provider_id, password, created_at, updated_at)
		VALUES (?, ?, ?, 'credential', ?, ?, ?)`, uuid.NewString(), userID, userID, hash, now, now); err != nil {
		t.Fatal(err)
	}
	var a authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": "Old@Example.com", "password": "correct horse battery staple"}).
		want(t, http.StatusOK, &a)
	if a.User.ID != userID || !a.User.EmailVerified {
		t.Fatalf("user %+v", a.User)
	}
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": "old@example.com", "password": "correct horse battery stapler"}).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	var other authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		want(t, http.StatusOK, &other)
	sess, err := e.store.SessionByTokenHash(t.Context(), sha256hex(a.Session.Token))
	if err != nil {
		t.Fatal(err)
	}

	res := e.do("POST", "/api/v1/auth/sign-out", nil, bearer(a.Session.Token))
	res.want(t, http.StatusNoContent, nil)
	if c := res.cookie(web.SessionCookie); c == nil || c.MaxAge >= 0 {
		t.Fatalf("cookie %+v: want it cleared", c)
	}
	e.do("GET", "/api/v1/me", nil, bearer(a.Session.Token)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	e.do("POST", "/api/v1/auth/sign-out", nil, bearer(a.Session.Token)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	// The other session lives on.
	e.do("GET", "/api/v1/me", nil, bearer(other.Session.Token)).want(t, http.StatusOK, nil)
	if got := e.sockets.list(); !slices.Equal(got, []string{"session:" + sess.ID + ":4003"}) {
		t.Fatalf("sockets closed %v, want the signed-out session's with 4003", got)
	}
	if got := e.auditActions(other.Session.Token); !slices.Contains(got, web.AuditSignOut) {
		t.Fatalf("audit %v lacks sign-out", got)
	}
	// A device token cannot sign out.
	d := e.createDevice(other.Session.Token, "camera")
	e.do("POST", "/api/v1/auth/sign-out", nil, bearer(d.DeviceToken)).wantProblem(t, http.StatusForbidden, "forbidden")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	tests := []struct {
		name string
		opts []reqOpt
	}{
		{"none", nil},
		{"unknown token", []reqOpt{bearer("nope")}},
		{"huge token", []reqOpt{bearer(strings.Repeat("a", 4000))}},
		{"not bearer", []reqOpt{header("Authorization", "Basic "+a.Session.Token)}},
		{"empty bearer", []reqOpt{header("Authorization", "Bearer ")}},
		{"unknown cookie", []reqOpt{withCookie("nope")}},
		{"bad bearer beats a good cookie", []reqOpt{bearer("nope"), withCookie(a.Session.Token)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do("GET", "/api/v1/me", nil, tt.opts...).wantProblem(t, http.StatusUnauthorized, "unauthorized")
		})
	}
	t.Run("lower-case scheme", func(t *testing.T) {
		e.do("GET", "/api/v1/me", nil, header("Authorization", "bearer "+a.Session.Token)).want(t, http.StatusOK, nil)
	})
	t.Run("cookie", func(t *testing.T) {
		e.do("GET", "/api/v1/me", nil, withCookie(a.Session.Token)).want(t, http.StatusOK, nil)
	})
}

func TestSessionExpiryAndRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	hash := sha256hex(a.Session.Token)
	before, err := e.store.SessionByTokenHash(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}

	// More than half left: no renewal.
	e.clock.Advance(10 * 24 * time.Hour)
	res := e.do("GET", "/api/v1/me", nil, withCookie(a.Session.Token))
	res.want(t, http.StatusOK, nil)
	if res.cookie(web.SessionCookie) != nil {
		t.Fatal("cookie re-set without renewal")
	}
	s, _ := e.store.SessionByTokenHash(t.Context(), hash)
	if !s.ExpiresAt.Equal(before.ExpiresAt) {
		t.Fatalf("expiry moved from %v to %v with 20 days left", before.ExpiresAt, s.ExpiresAt)
	}

	// Less than half left: renewed to 30 days from now, cookie re-set.
	e.clock.Advance(6 * 24 * time.Hour)
	res = e.do("GET", "/api/v1/me", nil, withCookie(a.Session.Token))
	res.want(t, http.StatusOK, nil)
	s, _ = e.store.SessionByTokenHash(t.Context(), hash)
	want := e.clock.Now().Add(30 * 24 * time.Hour)
	if s.ExpiresAt.Sub(want).Abs() > time.Second {
		t.Fatalf("renewed expiry %v, want %v", s.ExpiresAt, want)
	}
	if c := res.cookie(web.SessionCookie); c == nil || c.Value != a.Session.Token || c.Expires.Sub(want).Abs() > time.Second {
		t.Fatalf("renewed cookie %+v, want expiry %v", c, want)
	}
	// Right after, no second renewal.
	e.clock.Advance(time.Hour)
	e.do("GET", "/api/v1/me", nil, bearer(a.Session.Token)).want(t, http.StatusOK, nil)
	s2, _ := e.store.SessionByTokenHash(t.Context(), hash)
	if !s2.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatal("renewed again within the hour")
	}

	// Expired.
	e.clock.Advance(30*24*time.Hour + time.Second)
	e.do("GET", "/api/v1/me", nil, bearer(a.Session.Token)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
}

func TestCookieOriginRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) { c.AllowedOrigins = []string{"https://app.example.com"} }))
	a := e.signUp()
	body := map[string]string{"name": "cam", "role": "camera", "platform": "web"}
	host := strings.TrimPrefix(e.http.URL, "http://")
	tests := []struct {
		name string
		opts []reqOpt
		want int
	}{
		{"no origin", nil, http.StatusForbidden},
		{"foreign origin", []reqOpt{header("Origin", "https://evil.example")}, http.StatusForbidden},
		{"null origin", []reqOpt{header("Origin", "null")}, http.StatusForbidden},
		{"cross-site fetch", []reqOpt{header("Sec-Fetch-Site", "cross-site")}, http.StatusForbidden},
		{"same host", []reqOpt{header("Origin", "http://"+host)}, http.StatusCreated},
		{"allow-listed", []reqOpt{header("Origin", "https://app.example.com")}, http.StatusCreated},
		{"same-origin fetch", []reqOpt{header("Sec-Fetch-Site", "same-origin")}, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", "/api/v1/devices", body, append(tt.opts, withCookie(a.Session.Token))...)
			if tt.want == http.StatusForbidden {
				res.wantProblem(t, tt.want, "forbidden")
				return
			}
			res.want(t, tt.want, nil)
		})
	}
	t.Run("bearer needs no origin", func(t *testing.T) {
		e.do("POST", "/api/v1/devices", body, bearer(a.Session.Token), header("Origin", "https://evil.example")).
			want(t, http.StatusCreated, nil)
	})
	t.Run("cookie reads need no origin", func(t *testing.T) {
		e.do("GET", "/api/v1/devices", nil, withCookie(a.Session.Token)).want(t, http.StatusOK, nil)
	})
	t.Run("sign-out by cookie from a foreign origin", func(t *testing.T) {
		e.do("POST", "/api/v1/auth/sign-out", nil, withCookie(a.Session.Token), header("Origin", "https://evil.example")).
			wantProblem(t, http.StatusForbidden, "forbidden")
		e.do("GET", "/api/v1/me", nil, bearer(a.Session.Token)).want(t, http.StatusOK, nil)
	})
	t.Run("sign-in from a foreign page (login CSRF)", func(t *testing.T) {
		e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword},
			header("Origin", "https://evil.example")).wantProblem(t, http.StatusForbidden, "forbidden")
		e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword},
			header("Origin", "http://"+host)).want(t, http.StatusOK, nil)
	})
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	auth := bearer(a.Session.Token)

	e.do("POST", "/api/v1/auth/verify-email/request", nil, auth).want(t, http.StatusAccepted, nil)
	mail := e.mail.next(t)
	if mail.to != a.User.Email || !strings.Contains(mail.body, "http://localhost:8080/verify-email?token=") {
		t.Fatalf("mail %+v", mail)
	}
	tok := tokenIn(t, mail.body)

	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok + "x"}).wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "garbage"}).wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, http.StatusNoContent, nil)
	var me wire.User
	e.do("GET", "/api/v1/me", nil, auth).want(t, http.StatusOK, &me)
	if !me.EmailVerified {
		t.Fatal("email not verified after a good token")
	}
	// Single use.
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).wantProblem(t, http.StatusBadRequest, "bad_request")
	// Nothing left to verify.
	e.do("POST", "/api/v1/auth/verify-email/request", nil, auth).wantProblem(t, http.StatusConflict, "conflict")
	if got := e.auditActions(a.Session.Token); !slices.Contains(got, web.AuditEmailVerified) {
		t.Fatalf("audit %v lacks email verified", got)
	}

	t.Run("expires after 24 h", func(t *testing.T) {
		b := e.signUp()
		e.do("POST", "/api/v1/auth/verify-email/request", nil, bearer(b.Session.Token)).want(t, http.StatusAccepted, nil)
		tok := tokenIn(t, e.mail.next(t).body)
		e.clock.Advance(24*time.Hour + time.Second)
		e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).wantProblem(t, http.StatusBadRequest, "bad_request")
	})
	t.Run("needs a user", func(t *testing.T) {
		e.do("POST", "/api/v1/auth/verify-email/request", nil).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	var second authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		want(t, http.StatusOK, &second)

	// Unknown and known addresses get the same answer; only the known one gets mail
	// (the first mail to arrive is the known one's).
	e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": uniqueEmail()}).want(t, http.StatusAccepted, nil)
	e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": a.User.Email}).want(t, http.StatusAccepted, nil)
	mail := e.mail.next(t)
	if mail.to != a.User.Email || !strings.Contains(mail.body, "/reset-password?token=") {
		t.Fatalf("mail %+v", mail)
	}
	tok := tokenIn(t, mail.body)
	e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "not an address"}).
		wantProblem(t, http.StatusBadRequest, "bad_request")

	// A refused password does not burn the token.
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": tok, "password": "short"}).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": "x.y", "password": "new password 1"}).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": tok, "password": "new password 1"}).
		want(t, http.StatusNoContent, nil)

	// Every session ended, their sockets too.
	for _, s := range []string{a.Session.Token, second.Session.Token} {
		e.do("GET", "/api/v1/me", nil, bearer(s)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	}
	if got := e.sockets.list(); !slices.Contains(got, "user:"+a.User.ID+":4003") {
		t.Fatalf("sockets closed %v, want every session of the user", got)
	}
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	var in authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "new password 1"}).
		want(t, http.StatusOK, &in)
	// Single use.
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": tok, "password": "new password 2"}).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	got := e.auditActions(in.Session.Token)
	if !slices.Contains(got, web.AuditPasswordResetRequest) || !slices.Contains(got, web.AuditPasswordReset) {
		t.Fatalf("audit %v lacks the reset request and the reset", got)
	}

	t.Run("expires after an hour", func(t *testing.T) {
		e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": a.User.Email}).want(t, http.StatusAccepted, nil)
		tok := tokenIn(t, e.mail.next(t).body)
		e.clock.Advance(time.Hour + time.Second)
		e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": tok, "password": "new password 3"}).
			wantProblem(t, http.StatusBadRequest, "bad_request")
	})
}

// gatedStore holds every UserByEmail until the gate opens.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g *gatedStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	select {
	case <-g.gate:
		return g.Store.UserByEmail(ctx, email)
	case <-ctx.Done():
		return store.User{}, ctx.Err()
	}
}

// A reset request is answered before any of its work: the account lookup, the token
// and the mail, so the answer tells nothing by its timing either.
func TestPasswordResetRequestAnswersBeforeItsWork(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	e := newEnvOn(t, st)
	a := e.signUp()
	g := &gatedStore{Store: st, gate: make(chan struct{})}
	blocking := &mailbox{ch: make(chan sentMail)} // Send waits until the test reads
	gated := newEnvOn(t, g, func(s *setup) { s.deps.Mailer = blocking })

	for _, email := range []string{a.User.Email, uniqueEmail()} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		req, err := http.NewRequestWithContext(ctx, "POST", gated.http.URL+"/api/v1/auth/password-reset/request",
			strings.NewReader(`{"email":"`+email+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := gated.http.Client().Do(req)
		cancel()
		if err != nil {
			t.Fatalf("reset request for %s while the account lookup is held: %v", email, err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("reset request for %s: %d, want 202", email, res.StatusCode)
		}
	}
	close(g.gate)
	if m := blocking.next(t); m.to != a.User.Email || !strings.Contains(m.body, "/reset-password?token=") {
		t.Fatalf("mail %+v, want the reset link of the account", m)
	}
	// Once the background work is done no other mail went out.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := gated.srv.Shutdown(ctx); err != nil {
		t.Fatalf("background work did not end: %v", err)
	}
	select {
	case m := <-blocking.ch:
		t.Fatalf("a second mail %+v", m)
	default:
	}
}

func TestSignInRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	limited := 0
	for i := range 30 {
		res := e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "wrong password"})
		if res.status == http.StatusTooManyRequests {
			res.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
			if res.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			if limited == 0 && i > 10 {
				t.Fatalf("first 429 at attempt %d, want by the 11th", i+1)
			}
			limited++
			continue
		}
		res.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	if limited == 0 {
		t.Fatal("30 wrong passwords from one address: no 429")
	}
	// Even the right password waits for the window.
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		wantProblem(t, http.StatusTooManyRequests, "rate_limited")
	e.clock.Advance(time.Minute)
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		want(t, http.StatusOK, nil)

	t.Run("per IP across accounts", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		for i := range 31 {
			res := e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": uniqueEmail()})
			if i < 30 {
				res.want(t, http.StatusAccepted, nil)
				continue
			}
			res.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
		}
	})
}

// Strangers guessing from many addresses slow the account's sign-ins down but never
// lock its owner out.
func TestSignInFromManyAddressesDoesNotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var pauses []time.Duration
	e := newEnv(t, config(func(c *web.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} }), func(s *setup) {
		s.pause = func(_ context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			pauses = append(pauses, d)
			return nil
		}
	})
	paused := func() int {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range pauses {
			if d != time.Second {
				t.Fatalf("slowed down by %s, want the default 1s", d)
			}
		}
		return len(pauses)
	}
	a := e.signUp()
	for i := range 70 {
		e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "wrong password"},
			header("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))).
			wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
		if want := max(0, i+1-60); paused() != want {
			t.Fatalf("after %d attempts %d were slowed down, want %d (those beyond 60 a minute)", i+1, paused(), want)
		}
	}
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword},
		header("X-Forwarded-For", "203.0.113.50")).want(t, http.StatusOK, nil)
	if paused() != 11 {
		t.Fatalf("the owner's sign-in was not slowed down (%d pauses)", paused())
	}
}

// An IPv6 client is one client across its /64.
func TestIPv6ClientsAreLimitedByTheirSlash64(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} }))
	a := e.signUp()
	try := func(ip string) response {
		return e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "wrong password"},
			header("X-Forwarded-For", ip))
	}
	for i := range 10 {
		try(fmt.Sprintf("2001:db8:7:7::%x", i+1)).wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	try("2001:db8:7:7:ffff:ffff:ffff:ffff").wantProblem(t, http.StatusTooManyRequests, "rate_limited")
	try("2001:db8:7:8::1").wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
}

func TestTrustedProxyRateLimitsTheClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) {
		c.TrustedProxies = []string{"127.0.0.1/32"}
		c.AuthPerIP = web.RateLimit{Requests: 2, Window: time.Minute}
	}))
	try := func(ip string) int {
		return e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": uniqueEmail(), "password": "x"},
			header("X-Forwarded-For", ip)).status
	}
	for range 2 {
		if s := try("198.51.100.1"); s != http.StatusUnauthorized {
			t.Fatalf("status %d", s)
		}
	}
	if s := try("198.51.100.1"); s != http.StatusTooManyRequests {
		t.Fatalf("third try from one client: %d, want 429", s)
	}
	if s := try("198.51.100.2"); s != http.StatusUnauthorized {
		t.Fatalf("another client behind the proxy: %d, want 401", s)
	}
}

func TestHashPoolFullAnswers429(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) {
		c.HashWorkers = 1
		c.HashQueue = -1
	}))
	a := e.signUp()
	release, err := e.srv.HoldHashWorker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/auth/sign-in", "/api/v1/auth/sign-up"} {
		res := e.do("POST", path, map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "B"})
		res.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
		if res.header.Get("Retry-After") != "1" {
			t.Fatalf("%s: Retry-After %q, want 1", path, res.header.Get("Retry-After"))
		}
	}
	release()
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		want(t, http.StatusOK, nil)
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp()
	res := e.do("GET", "/metrics", nil)
	res.want(t, http.StatusOK, nil)
	for _, want := range []string{
		`securecam_http_requests_total{method="POST",route="/api/v1/auth/sign-up",status="201"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(res.body), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}
