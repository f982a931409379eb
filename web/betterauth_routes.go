package web

// Better Auth's email and password routes under /api/auth, with its field names,
// status codes and error codes (better-auth 1.7, src/api/routes). Each is an adapter:
// it reads Better Auth's request, runs the hub's account logic (accounts.go) and writes
// Better Auth's answer.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/securecam/securecam/store"
)

// baFreshAge is Better Auth's default session.freshAge: list-sessions needs a session
// created within it.
const baFreshAge = 24 * time.Hour

func (s *Server) baRoutes(r chi.Router) {
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, &baError{Message: "Not Found", Code: "NOT_FOUND"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, &baError{Message: "Method Not Allowed", Code: "METHOD_NOT_ALLOWED"})
	})
	r.Use(s.baOriginCheck)
	r.Post("/sign-up/email", s.baHandler(s.handleBASignUp))
	r.Post("/sign-in/email", s.baHandler(s.handleBASignIn))
	r.Get("/get-session", s.baHandler(s.handleBAGetSession))
	r.Post("/sign-out", s.baHandler(s.handleBASignOut))
	r.Post("/request-password-reset", s.baHandler(s.handleBARequestPasswordReset))
	r.Get("/reset-password/{token}", s.baHandler(s.handleBAResetPasswordCallback))
	r.Post("/reset-password", s.baHandler(s.handleBAResetPassword))
	r.Post("/send-verification-email", s.baHandler(s.handleBASendVerificationEmail))
	r.Get("/verify-email", s.baHandler(s.handleBAVerifyEmail))
	r.Post("/change-password", s.baHandler(s.handleBAChangePassword))
	r.Post("/update-user", s.baHandler(s.handleBAUpdateUser))
	r.Get("/list-sessions", s.baHandler(s.handleBAListSessions))
	r.Post("/revoke-session", s.baHandler(s.handleBARevokeSession))
	r.Post("/revoke-sessions", s.baHandler(s.handleBARevokeSessions))
	r.Post("/revoke-other-sessions", s.baHandler(s.handleBARevokeOtherSessions))
}

// baStartSession creates a session (stored raw when sharing the database with Better
// Auth) and sets the cookie; remember=false makes it a browser-session cookie.
func (s *Server) baStartSession(w http.ResponseWriter, r *http.Request, userID string, remember bool) (string, error) {
	tok, sess, err := s.createSession(r, userID, s.creds.ba.shared)
	if err != nil {
		return "", err
	}
	exp := sess.ExpiresAt
	if !remember {
		exp = time.Time{}
	}
	s.setBACookie(w, tok, exp)
	return tok, nil
}

// POST /sign-up/email {name, email, password, image?, callbackURL?, rememberMe?}
// → {token, user}, and a verification mail (its link leads to callbackURL), as the
// REST API's sign-up sends.
func (s *Server) handleBASignUp(w http.ResponseWriter, r *http.Request) error {
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	name, err := b.str("name")
	if err != nil {
		return err
	}
	rawEmail, err := b.str("email")
	if err != nil {
		return err
	}
	pw, err := b.str("password")
	if err != nil {
		return err
	}
	image, hasImage, err := b.optString("image")
	if err != nil {
		return err
	}
	callback, _, err := b.optString("callbackURL")
	if err != nil {
		return err
	}
	remember := true
	if _, ok := b["rememberMe"]; ok {
		if remember, err = b.optBool("rememberMe"); err != nil {
			return err
		}
	}
	if err := s.baFormCSRF(r); err != nil {
		return err
	}
	email, err := normalizeEmail(rawEmail)
	if err != nil {
		return baValidation("body.email", "Invalid email address")
	}
	if pw == "" {
		return baValidation("body.password", "Too small: expected string to have >=1 characters")
	}
	if err := s.limitAuth(r, "sign-up", email); err != nil {
		return err
	}
	if err := baPasswordError(pw); err != nil {
		return err
	}
	if name, err = checkName("name", name); err != nil {
		return err
	}
	var img *string
	if hasImage && image != "" {
		img = &image
	}
	u, err := s.createAccount(r, email, name, pw, img)
	if err != nil {
		return err
	}
	tok, err := s.baStartSession(w, r, u.ID, remember)
	if err != nil {
		return err
	}
	if err := s.mailVerification(r.Context(), u, s.baVerifyLink(callback)); err != nil {
		// The account exists and is signed in; the link can be asked for again.
		s.log.ErrorContext(r.Context(), "sign-up: verification mail", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": toBAUser(u)})
	return nil
}

// POST /sign-in/email {email, password, callbackURL?, rememberMe?}
// → {redirect, token, url?, user}
func (s *Server) handleBASignIn(w http.ResponseWriter, r *http.Request) error {
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	rawEmail, err := b.str("email")
	if err != nil {
		return err
	}
	pw, err := b.str("password")
	if err != nil {
		return err
	}
	callback, _, err := b.optString("callbackURL")
	if err != nil {
		return err
	}
	remember := true
	if _, ok := b["rememberMe"]; ok {
		if remember, err = b.optBool("rememberMe"); err != nil {
			return err
		}
	}
	if err := s.baFormCSRF(r); err != nil {
		return err
	}
	account := strings.ToLower(strings.TrimSpace(rawEmail))
	if err := s.limitAuth(r, "sign-in", account); err != nil {
		return err
	}
	if _, err := normalizeEmail(account); err != nil {
		return baErr(http.StatusBadRequest, "INVALID_EMAIL")
	}
	if len([]rune(pw)) > maxPasswordRunes {
		return baErr(http.StatusBadRequest, "PASSWORD_TOO_LONG")
	}
	u, err := s.checkCredentials(r, account, pw)
	if err != nil {
		return err
	}
	tok, err := s.baStartSession(w, r, u.ID, remember)
	if err != nil {
		return err
	}
	out := map[string]any{"redirect": callback != "", "token": tok, "user": toBAUser(u)}
	if callback != "" {
		w.Header().Set("Location", callback)
		out["url"] = callback
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GET /get-session → {session, user}, or null when signed out.
func (s *Server) handleBAGetSession(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Pragma", "no-cache")
	a, err := s.baSession(w, r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "get session failed", "err", err)
		return baErr(http.StatusInternalServerError, "FAILED_TO_GET_SESSION")
	}
	if a == nil {
		if _, ok := s.creds.baCookieToken(r); ok {
			s.clearBACookies(w) // a cookie for a session that is gone
		}
		writeJSON(w, http.StatusOK, nil)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": toBASession(a.session, a.token), "user": toBAUser(a.user)})
	return nil
}

// POST /sign-out → {success: true}, signed in or not.
func (s *Server) handleBASignOut(w http.ResponseWriter, r *http.Request) error {
	if c, ok := s.baCredential(r); ok {
		sess, _, err := s.creds.sessionByToken(r.Context(), c, false)
		switch {
		case err == nil:
			if err := s.endSession(r, sess); err != nil {
				return err
			}
		case !errors.Is(err, errBadToken):
			return err
		}
	}
	s.clearBACookies(w)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

const baResetMessage = "If this email exists in our system, check your email for the reset link"

// POST /request-password-reset {email, redirectTo?} → {status, message}, whether or
// not the account exists. The mailed link is Better Auth's:
// /api/auth/reset-password/<token>?callbackURL=<redirectTo>.
func (s *Server) handleBARequestPasswordReset(w http.ResponseWriter, r *http.Request) error {
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	rawEmail, err := b.str("email")
	if err != nil {
		return err
	}
	redirect, _, err := b.optString("redirectTo")
	if err != nil {
		return err
	}
	if err := s.limitAuth(r, "password-reset", strings.ToLower(strings.TrimSpace(rawEmail))); err != nil {
		return err
	}
	email, err := normalizeEmail(rawEmail)
	if err != nil {
		return baValidation("body.email", "Invalid email address")
	}
	link := func(tok string) string {
		return s.baURL("/reset-password/"+url.PathEscape(tok), url.Values{"callbackURL": {redirect}})
	}
	s.requestPasswordReset(r, email, link)
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "message": baResetMessage})
	return nil
}

// GET /reset-password/{token}?callbackURL= → 302 to callbackURL?token=<token>, or
// callbackURL?error=INVALID_TOKEN when the token does not work. An empty callbackURL
// means the browser app's /reset-password page.
func (s *Server) handleBAResetPasswordCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("callbackURL") {
		return baValidation("query.callbackURL", "Invalid input: expected string, received undefined")
	}
	callback := q.Get("callbackURL")
	if callback != "" && !s.baTrustedURL(callback) {
		return baErr(http.StatusForbidden, "INVALID_CALLBACK_URL")
	}
	if callback == "" {
		// The app named no page (Better Auth would show its error page): the browser
		// app's reset page takes the token.
		callback = "/reset-password"
	}
	tok := chi.URLParam(r, "token")
	if t, err := url.PathUnescape(tok); err == nil {
		tok = t
	}
	ok, err := s.resetTokenValid(r.Context(), tok)
	if err != nil {
		return err
	}
	target := s.baRedirectURL(callback, url.Values{"error": {"INVALID_TOKEN"}})
	if ok {
		target = s.baRedirectURL(callback, url.Values{"token": {tok}})
	}
	baRedirect(w, target)
	return nil
}

// POST /reset-password {newPassword, token} (or ?token=) → {status: true}. Tokens
// Better Auth issued before the hub took over work until they expire.
func (s *Server) handleBAResetPassword(w http.ResponseWriter, r *http.Request) error {
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	pw, err := b.str("newPassword")
	if err != nil {
		return err
	}
	tok, _, err := b.optString("token")
	if err != nil {
		return err
	}
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		return baErr(http.StatusBadRequest, "INVALID_TOKEN")
	}
	if err := baPasswordError(pw); err != nil {
		return err
	}
	if err := s.limitAuth(r, "password-reset-confirm", ""); err != nil {
		return err
	}
	if err := s.resetPassword(r, tok, pw); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// POST /send-verification-email {email, callbackURL?} → {status: true}. Signed in, the
// email must be the user's; signed out, an unverified account of that email gets the
// mail and the answer is the same either way.
func (s *Server) handleBASendVerificationEmail(w http.ResponseWriter, r *http.Request) error {
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	rawEmail, err := b.str("email")
	if err != nil {
		return err
	}
	callback, _, err := b.optString("callbackURL")
	if err != nil {
		return err
	}
	email, err := normalizeEmail(rawEmail)
	if err != nil {
		return baValidation("body.email", "Invalid email address")
	}
	link := s.baVerifyLink(callback)
	a, err := s.baSession(w, r)
	if err != nil {
		return err
	}
	if a != nil {
		if !strings.EqualFold(a.user.Email, email) {
			return baErr(http.StatusBadRequest, "EMAIL_MISMATCH")
		}
		if a.user.EmailVerified {
			return baErr(http.StatusBadRequest, "EMAIL_ALREADY_VERIFIED")
		}
		if err := s.mailEmailVerification(r, a.user, link); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
		return nil
	}
	if err := s.limitAuth(r, "verify-email", email); err != nil {
		return err
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	switch {
	case err == nil && !u.EmailVerified:
		if err := s.mailEmailVerification(r, u, link); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// baVerifyLink makes Better Auth's verification links:
// /api/auth/verify-email?token=<token>&callbackURL=<callback, default "/">.
func (s *Server) baVerifyLink(callback string) func(tok string) string {
	if callback == "" {
		callback = "/"
	}
	return func(tok string) string {
		return s.baURL("/verify-email", url.Values{"token": {tok}, "callbackURL": {callback}})
	}
}

// GET /verify-email?token=&callbackURL= → 302 to callbackURL (with ?error=<code> when
// the token does not work), or without one {status: true, user: null} and 401 errors.
func (s *Server) handleBAVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("token") {
		return baValidation("query.token", "Invalid input: expected string, received undefined")
	}
	callback := q.Get("callbackURL")
	if callback != "" && !s.baTrustedURL(callback) {
		return baErr(http.StatusForbidden, "INVALID_CALLBACK_URL")
	}
	if _, err := s.verifyEmail(r, q.Get("token")); err != nil {
		be, _ := asBAError(err)
		if be.Status >= 500 || be.Status == http.StatusTooManyRequests {
			return err
		}
		if callback != "" {
			baRedirect(w, baAppendQuery(callback, url.Values{"error": {be.Code}}))
			return nil
		}
		be.Status = http.StatusUnauthorized
		return be
	}
	if callback != "" {
		baRedirect(w, callback)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "user": nil})
	return nil
}

// POST /change-password {newPassword, currentPassword, revokeOtherSessions?}
// → {token, user}: token is a new session's when the others were revoked, else null.
func (s *Server) handleBAChangePassword(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	next, err := b.str("newPassword")
	if err != nil {
		return err
	}
	current, err := b.str("currentPassword")
	if err != nil {
		return err
	}
	revoke, err := b.optBool("revokeOtherSessions")
	if err != nil {
		return err
	}
	if err := baPasswordError(next); err != nil {
		return err
	}
	if len([]rune(current)) > maxPasswordRunes {
		return baErr(http.StatusBadRequest, "PASSWORD_TOO_LONG")
	}
	if err := s.changePassword(r, a.user.ID, current, next); err != nil {
		return err
	}
	var tok *string
	if revoke {
		if err := s.endUserSessions(r.Context(), a.user.ID, "password changed"); err != nil {
			return err
		}
		t, err := s.baStartSession(w, r, a.user.ID, true)
		if err != nil {
			return err
		}
		tok = &t
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": toBAUser(a.user)})
	return nil
}

// POST /update-user {name?, image?} → {status: true}. The email cannot change here.
func (s *Server) handleBAUpdateUser(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	if raw, ok := b["email"]; ok && jsonKind(raw) != "null" && string(raw) != `""` {
		return baErr(http.StatusBadRequest, "EMAIL_CAN_NOT_BE_UPDATED")
	}
	var upd store.UserUpdate
	if name, ok, err := b.optString("name"); err != nil {
		return err
	} else if ok {
		n, err := checkName("name", name)
		if err != nil {
			return err
		}
		upd.Name = &n
	}
	if raw, ok := b["image"]; ok {
		img := ""
		if jsonKind(raw) != "null" {
			if img, _, err = b.optString("image"); err != nil {
				return err
			}
		}
		upd.Image = &img
	}
	if upd.Name == nil && upd.Image == nil {
		return &baError{Status: http.StatusBadRequest, Message: "No fields to update"}
	}
	if _, err := s.store.UpdateUser(r.Context(), a.user.ID, upd); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// GET /list-sessions → [session]: the user's unexpired sessions. As in Better Auth, the
// session asking must be fresh (created within a day).
func (s *Server) handleBAListSessions(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	if s.now().Sub(a.session.CreatedAt) >= baFreshAge {
		return baErr(http.StatusForbidden, "SESSION_NOT_FRESH")
	}
	all, err := s.store.ListUserSessions(r.Context(), a.user.ID)
	if err != nil {
		return err
	}
	out := []baSessionJSON{}
	now := s.now()
	for _, x := range all {
		if !now.Before(x.ExpiresAt) {
			continue
		}
		tok := x.TokenHash
		if x.ID == a.session.ID {
			tok = a.token
		}
		out = append(out, toBASession(x, tok))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /revoke-session {token} → {status: true}. token is a session token or the
// handle list-sessions gave; sessions of other users are left alone.
func (s *Server) handleBARevokeSession(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	b, err := s.baDecode(w, r)
	if err != nil {
		return err
	}
	tok, err := b.str("token")
	if err != nil {
		return err
	}
	target, found := a.session, tok == a.token
	if !found && tok != "" && len(tok) <= maxTokenLen {
		for _, v := range []string{hashToken(tok), tok} {
			x, err := s.store.SessionByTokenHash(r.Context(), v)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			target, found = x, true
			break
		}
	}
	if found && target.UserID == a.user.ID {
		if err := s.endSession(r, target); err != nil {
			return err
		}
		if target.ID == a.session.ID {
			s.clearBACookies(w)
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// POST /revoke-sessions → {status: true}: every session of the user, this one too.
func (s *Server) handleBARevokeSessions(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	if err := s.endUserSessions(r.Context(), a.user.ID, "signed out everywhere"); err != nil {
		return err
	}
	s.audit(r, a.user.ID, AuditSignOut, "user", a.user.ID, map[string]any{"sessions": "all"})
	s.clearBACookies(w)
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// POST /revoke-other-sessions → {status: true}: every session of the user but this one.
func (s *Server) handleBARevokeOtherSessions(w http.ResponseWriter, r *http.Request) error {
	a, err := s.requireBASession(w, r)
	if err != nil {
		return err
	}
	all, err := s.store.ListUserSessions(r.Context(), a.user.ID)
	if err != nil {
		return err
	}
	for _, x := range all {
		if x.ID == a.session.ID {
			continue
		}
		if err := s.endSession(r, x); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}
