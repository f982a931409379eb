package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web/connlimit"
	"github.com/securecam/securecam/web/internal/betterauth"
	"github.com/securecam/securecam/web/internal/password"
)

// Verification identifiers: "<kind>:<user or device id>".
const (
	kindEmailVerification = "email-verification"
	kindPasswordReset     = store.VerificationPasswordReset
	kindWSTicket          = "ws-ticket"
)

// dummyHash is verified against when there is no account, so that an unknown email
// costs the same as a wrong password.
const dummyHash = "5f0c4b1e2d3a69788796a5b4c3d2e1f0:" +
	"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

type sessionJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type authResponse struct {
	User    wire.User   `json:"user"`
	Session sessionJSON `json:"session"`
}

// limitAuth counts one attempt of action from the client's network (its IPv4
// address, its IPv6 /64) for account (a lower-cased email or a user id; empty skips
// the per-account counts). Over the per-IP or per-IP-and-account limits the answer is
// 429. Over the per-account ceiling (attempts from anywhere) sign-in is slowed down by
// s.authSlowdown instead, so that strangers guessing from many addresses cannot lock
// the owner out; the other actions are refused.
func (s *Server) limitAuth(r *http.Request, action, account string) error {
	ip := s.clientIP(r)
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = connlimit.Network(a).String()
	}
	type check struct {
		key string
		RateLimit
		slow bool // over the limit: slow down, do not refuse
	}
	checks := []check{{action + ":ip:" + ip, s.perIP, false}}
	if account != "" {
		acct := hashToken(account)[:32]
		checks = append(checks,
			check{action + ":ip-account:" + ip + ":" + acct, s.perIPAccount, false},
			check{action + ":account:" + acct, s.perAccount, action == "sign-in"})
	}
	var retry time.Duration
	slow := false
	for _, c := range checks {
		ok, after, err := s.limiter.Allow(r.Context(), c.key, c.Requests, c.Window)
		if err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
				Detail: "rate limiter unavailable, retry", RetryAfter: time.Second, cause: err}
		}
		switch {
		case ok:
		case c.slow:
			slow = true
		default:
			retry = max(retry, after, time.Second)
		}
	}
	if retry > 0 {
		s.metrics.rateLimited.WithLabelValues(action).Inc()
		return errRateLimited(retry)
	}
	if slow {
		s.metrics.rateLimited.WithLabelValues(action + "-slowed").Inc()
		if err := s.pause(r.Context(), s.authSlowdown); err != nil {
			return fmt.Errorf("slow down %s: %w", action, err)
		}
	}
	return nil
}

// hashErr counts pool refusals before they become 429.
func (s *Server) hashErr(err error) error {
	if errors.Is(err, password.ErrBusy) {
		s.metrics.rateLimited.WithLabelValues("password_pool").Inc()
	}
	return err
}

// Errors the account logic returns that the Better Auth routes tell apart (the REST
// API answers them as they are).
var (
	errEmailTaken    = errConflict("an account with this email exists")
	errInvalidToken  = errBadRequest("invalid or expired token")
	errTokenExpired  = errBadRequest("invalid or expired token") // a verification JWT past its exp
	errTokenNoUser   = errBadRequest("invalid or expired token") // a verification JWT for no account
	errWrongPassword = &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalidCredentials,
		Detail: "the current password is wrong"}
	errNoPassword = errBadRequest("the account has no password")
)

// createSession stores a new session of the user and returns its token. raw stores
// the token itself instead of its hash, as Better Auth does, so that a Better Auth
// server sharing the database accepts the session.
func (s *Server) createSession(r *http.Request, userID string, raw bool) (string, store.Session, error) {
	tok, err := newSecret()
	if err != nil {
		return "", store.Session{}, err
	}
	stored := hashToken(tok)
	if raw {
		stored = tok
	}
	sess := store.Session{
		TokenHash: stored,
		UserID:    userID,
		ExpiresAt: s.now().Add(s.creds.sessionTTL).UTC(),
		IPAddress: s.clientIP(r),
		UserAgent: truncate(r.UserAgent(), maxUserAgent),
	}
	if err := s.store.CreateSession(r.Context(), &sess); err != nil {
		return "", store.Session{}, fmt.Errorf("create session: %w", err)
	}
	return tok, sess, nil
}

// startSession creates a session for the user and sets the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID string) (sessionJSON, error) {
	tok, sess, err := s.createSession(r, userID, false)
	if err != nil {
		return sessionJSON{}, err
	}
	s.setSessionCookie(w, tok, sess.ExpiresAt)
	return sessionJSON{Token: tok, ExpiresAt: sess.ExpiresAt}, nil
}

// createAccount hashes the password and creates the user with its credential account.
// The inputs are validated. errEmailTaken if the address has an account.
func (s *Server) createAccount(r *http.Request, email, name, password string, image *string) (store.User, error) {
	hash, err := s.hasher.Hash(r.Context(), password)
	if err != nil {
		return store.User{}, s.hashErr(err)
	}
	u := store.User{Email: email, Name: name, PasswordHash: hash, Image: image}
	if err := s.store.CreateUser(r.Context(), &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, errEmailTaken
		}
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	s.audit(r, u.ID, AuditSignUp, "user", u.ID, nil)
	return u, nil
}

// POST /auth/sign-up {email, password, name}
func (s *Server) handleSignUp(w http.ResponseWriter, r *http.Request) error {
	var in signUpRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.limitAuth(r, "sign-up", strings.ToLower(strings.TrimSpace(in.Email))); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	u, err := s.createAccount(r, in.Email, in.Name, in.Password, nil)
	if err != nil {
		return err
	}
	sess, err := s.startSession(w, r, u.ID)
	if err != nil {
		return err
	}
	if err := s.mailVerification(r.Context(), u, func(tok string) string { return s.link("/verify-email", tok) }); err != nil {
		// The account exists and is signed in; the link can be asked for again.
		s.log.ErrorContext(r.Context(), "sign-up: verification mail", "err", err)
	}
	writeJSON(w, http.StatusCreated, authResponse{User: wire.FromUser(u), Session: sess})
	return nil
}

// checkCredentials returns the user whose email (trimmed, lower case) and password
// these are, or errInvalidCredentials, spending the same work when there is no such
// account. Both outcomes are audited and counted.
func (s *Server) checkCredentials(r *http.Request, email, pw string) (store.User, error) {
	ctx := r.Context()
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.hasher.Verify(ctx, dummyHash, pw); err != nil && !errors.Is(err, password.ErrMalformed) {
			return store.User{}, s.hashErr(err)
		}
		meta := map[string]any{"reason": "unknown_email"}
		if email, err := normalizeEmail(email); err == nil {
			meta["email"] = email
		}
		s.audit(r, "", AuditSignInFailed, "", "", meta)
		s.metrics.signIns.WithLabelValues("invalid").Inc()
		return store.User{}, errInvalidCredentials
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sign in: %w", err)
	}
	ok, err := s.verifyPassword(ctx, u.ID, pw)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		s.audit(r, u.ID, AuditSignInFailed, "user", u.ID, map[string]any{"reason": "wrong_password"})
		s.metrics.signIns.WithLabelValues("invalid").Inc()
		return store.User{}, errInvalidCredentials
	}
	s.audit(r, u.ID, AuditSignIn, "user", u.ID, nil)
	s.metrics.signIns.WithLabelValues("ok").Inc()
	return u, nil
}

// verifyPassword checks pw against the user's credential password. A user without one
// (or with an unusable one) matches nothing, at the same cost.
func (s *Server) verifyPassword(ctx context.Context, userID, pw string) (bool, error) {
	stored, err := s.store.CredentialPassword(ctx, userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("credential password: %w", err)
	}
	ok, err := s.hasher.Verify(ctx, stored, pw)
	switch {
	case errors.Is(err, password.ErrMalformed):
		if stored != "" {
			s.log.WarnContext(ctx, "credential password unusable", "user_id", userID)
		}
	case err != nil:
		return false, s.hashErr(err)
	}
	return ok, nil
}

// POST /auth/sign-in {email, password}
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) error {
	var in signInRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	account := strings.ToLower(strings.TrimSpace(in.Email))
	if err := s.limitAuth(r, "sign-in", account); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	u, err := s.checkCredentials(r, account, in.Password)
	if err != nil {
		return err
	}
	sess, err := s.startSession(w, r, u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, authResponse{User: wire.FromUser(u), Session: sess})
	return nil
}

// endSession deletes one session (gone already is fine) and closes its sockets.
func (s *Server) endSession(r *http.Request, sess store.Session) error {
	if err := s.store.DeleteSession(r.Context(), sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sign out: %w", err)
	}
	if s.sockets != nil {
		if err := s.sockets.CloseSession(r.Context(), sess.ID, hub.StatusForbidden, "signed out"); err != nil {
			s.log.WarnContext(r.Context(), "closing the session's sockets failed", "session_id", sess.ID, "err", err)
		}
	}
	s.audit(r, sess.UserID, AuditSignOut, "session", sess.ID, nil)
	return nil
}

// endUserSessions deletes every session of the user and closes their sockets.
func (s *Server) endUserSessions(ctx context.Context, userID, reason string) error {
	if err := s.store.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if s.sockets != nil {
		if err := s.sockets.CloseUserSessions(ctx, userID, hub.StatusForbidden, reason); err != nil {
			s.log.WarnContext(ctx, "closing the user's session sockets failed", "user_id", userID, "err", err)
		}
	}
	return nil
}

// POST /auth/sign-out: ends this session only.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if err := s.endSession(r, *p.session); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /me
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.store.UserByID(r.Context(), principalFrom(r.Context()).userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromUser(u))
	return nil
}

// issueVerification stores a single-use token for kind:userID and returns it.
func (s *Server) issueVerification(ctx context.Context, kind, userID string, ttl time.Duration) (string, error) {
	tok, err := newScopedToken(userID)
	if err != nil {
		return "", err
	}
	v := store.Verification{
		Identifier: kind + ":" + userID,
		ValueHash:  hashToken(tok),
		ExpiresAt:  s.now().Add(ttl).UTC(),
	}
	if err := s.store.CreateVerification(ctx, &v); err != nil {
		return "", fmt.Errorf("create verification: %w", err)
	}
	return tok, nil
}

// consumeVerification spends a token of kind and returns the user id it was for.
func (s *Server) consumeVerification(ctx context.Context, kind, tok string) (string, error) {
	userID, ok := tokenUserID(tok)
	if !ok {
		return "", errInvalidToken
	}
	_, err := s.store.ConsumeVerification(ctx, kind+":"+userID, hashToken(tok), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", errInvalidToken
	}
	if err != nil {
		return "", fmt.Errorf("consume verification: %w", err)
	}
	return userID, nil
}

func (s *Server) link(path, tok string) string {
	u := *s.publicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = url.Values{"token": {tok}}.Encode()
	return u.String()
}

// mailEmailVerification mails u a single-use verification link made by link, within
// the verification requests' rate limit.
func (s *Server) mailEmailVerification(r *http.Request, u store.User, link func(tok string) string) error {
	if err := s.limitAuth(r, "verify-email", u.ID); err != nil {
		return err
	}
	if err := s.mailVerification(r.Context(), u, link); err != nil {
		return err
	}
	s.audit(r, u.ID, AuditEmailVerificationRequest, "user", u.ID, nil)
	return nil
}

// mailVerification issues a verification token for u and mails its link.
func (s *Server) mailVerification(ctx context.Context, u store.User, link func(tok string) string) error {
	tok, err := s.issueVerification(ctx, kindEmailVerification, u.ID, s.verifyTTL)
	if err != nil {
		return err
	}
	s.sendMail(ctx, u.Email, "Verify your SecureCam email address",
		"Open this link to verify your email address:\n\n"+link(tok)+
			"\n\nThe link works once and expires in "+s.verifyTTL.String()+".\n")
	return nil
}

// POST /auth/verify-email/request: mails the signed-in user a verification link.
func (s *Server) handleVerifyEmailRequest(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	u, err := s.store.UserByID(r.Context(), p.userID)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return errConflict("email already verified")
	}
	if err := s.mailEmailVerification(r, u, func(tok string) string { return s.link("/verify-email", tok) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// verifyEmail marks the address of a verification token's user verified and returns
// the user. The token is one of the hub's (single use) or, with Better Auth on, an
// e-mail verification JWT signed with its secret (valid until it expires; links that
// change the address are refused).
func (s *Server) verifyEmail(r *http.Request, tok string) (store.User, error) {
	ctx := r.Context()
	var userID string
	if s.creds.ba != nil && strings.Count(tok, ".") == 2 {
		claims, err := betterauth.VerifyJWT(s.creds.ba.secret, tok, s.now())
		switch {
		case errors.Is(err, betterauth.ErrTokenExpired):
			return store.User{}, errTokenExpired
		case err != nil || claims.UpdateTo != "":
			return store.User{}, errInvalidToken
		}
		u, err := s.store.UserByEmail(ctx, claims.Email)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, errTokenNoUser
		}
		if err != nil {
			return store.User{}, fmt.Errorf("verify email: %w", err)
		}
		if claims.UserID != "" && !strings.EqualFold(claims.UserID, u.ID) {
			return store.User{}, errInvalidToken
		}
		userID = u.ID
	} else {
		var err error
		if userID, err = s.consumeVerification(ctx, kindEmailVerification, tok); err != nil {
			return store.User{}, err
		}
	}
	if err := s.store.SetEmailVerified(ctx, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, errInvalidToken
		}
		return store.User{}, fmt.Errorf("verify email: %w", err)
	}
	s.audit(r, userID, AuditEmailVerified, "user", userID, nil)
	return s.store.UserByID(ctx, userID)
}

// POST /auth/verify-email {token}
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if _, err := s.verifyEmail(r, in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// requestPasswordReset answers a reset request at once and, in the background (the
// answer must not tell, in content or in time, whether the account exists), mails the
// account of email (normalized), if there is one, a single-use reset link made by link.
func (s *Server) requestPasswordReset(r *http.Request, email string, link func(tok string) string) {
	detached := r.Clone(context.WithoutCancel(r.Context()))
	s.background(r.Context(), "password reset request", func(ctx context.Context) {
		s.mailPasswordReset(detached.WithContext(ctx), email, link)
	})
}

// mailPasswordReset mails a reset link when an account has the email.
func (s *Server) mailPasswordReset(r *http.Request, email string, link func(tok string) string) {
	ctx := r.Context()
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		s.log.ErrorContext(ctx, "password reset request: find the account", "err", err)
		return
	}
	tok, err := s.issueVerification(ctx, kindPasswordReset, u.ID, s.resetTTL)
	if err != nil {
		s.log.ErrorContext(ctx, "password reset request: issue a token", "user_id", u.ID, "err", err)
		return
	}
	s.audit(r, u.ID, AuditPasswordResetRequest, "user", u.ID, nil)
	s.deliverMail(ctx, u.Email, "Reset your SecureCam password",
		"Someone asked to reset the password of your SecureCam account. If it was you, open:\n\n"+
			link(tok)+"\n\nThe link works once and expires in "+s.resetTTL.String()+
			". If it was not you, ignore this mail.\n")
}

// POST /auth/password-reset/request {email}: 202 whether or not the account exists.
func (s *Server) handlePasswordResetRequest(w http.ResponseWriter, r *http.Request) error {
	var in resetMailRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.limitAuth(r, "password-reset", strings.ToLower(strings.TrimSpace(in.Email))); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	s.requestPasswordReset(r, in.Email, func(tok string) string { return s.link("/reset-password", tok) })
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// Better Auth's reset rows: identifier "reset-password:<token>", value the user id.
const baResetPrefix = store.BetterAuthPasswordReset + ":"

// isScopedToken tells the hub's verification tokens ("<user id>.<secret>") from Better
// Auth's reset tokens (24 letters and digits).
func isScopedToken(tok string) bool { return strings.Contains(tok, ".") }

// resetTokenValid reports, without spending it, whether a reset token would work now.
func (s *Server) resetTokenValid(ctx context.Context, tok string) (bool, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return false, nil
	}
	identifier, value := baResetPrefix+tok, ""
	if isScopedToken(tok) {
		userID, ok := tokenUserID(tok)
		if !ok {
			return false, nil
		}
		identifier, value = kindPasswordReset+":"+userID, hashToken(tok)
	}
	vs, err := s.store.ListVerifications(ctx, identifier, s.now())
	if err != nil {
		return false, fmt.Errorf("reset token: %w", err)
	}
	for _, v := range vs {
		if value == "" || v.ValueHash == value {
			return true, nil
		}
	}
	return false, nil
}

// consumeResetToken spends a reset token, the hub's or one Better Auth issued before
// the hub took over, and returns the user id it was for.
func (s *Server) consumeResetToken(ctx context.Context, tok string) (string, error) {
	if isScopedToken(tok) {
		return s.consumeVerification(ctx, kindPasswordReset, tok)
	}
	if tok == "" || len(tok) > maxTokenLen {
		return "", errInvalidToken
	}
	vs, err := s.store.ListVerifications(ctx, baResetPrefix+tok, s.now())
	if err != nil {
		return "", fmt.Errorf("reset token: %w", err)
	}
	for _, v := range vs {
		userID, ok := parseID(v.ValueHash)
		if !ok {
			continue
		}
		_, err := s.store.ConsumeVerification(ctx, v.Identifier, v.ValueHash, s.now())
		if errors.Is(err, store.ErrNotFound) {
			continue // spent meanwhile
		}
		if err != nil {
			return "", fmt.Errorf("consume reset token: %w", err)
		}
		return userID, nil
	}
	return "", errInvalidToken
}

// resetPassword spends a reset token, sets the new (validated) password and ends every
// session of the user.
func (s *Server) resetPassword(r *http.Request, tok, pw string) error {
	ctx := r.Context()
	// Hash first: a busy pool must not burn the token.
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return s.hashErr(err)
	}
	userID, err := s.consumeResetToken(ctx, tok)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(ctx, userID, hash); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errInvalidToken
		}
		return fmt.Errorf("password reset: %w", err)
	}
	if err := s.endUserSessions(ctx, userID, "password reset"); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	s.audit(r, userID, AuditPasswordReset, "user", userID, nil)
	return nil
}

// POST /auth/password-reset {token, password}: sets the password and ends every
// session of the user.
func (s *Server) handlePasswordReset(w http.ResponseWriter, r *http.Request) error {
	var in resetRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.limitAuth(r, "password-reset-confirm", ""); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if err := s.resetPassword(r, in.Token, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changePassword sets a new (validated) password for a user who knows the current
// one. errNoPassword when the account has none, errWrongPassword when current is not
// it. Sessions are left as they are.
func (s *Server) changePassword(r *http.Request, userID, current, next string) error {
	ctx := r.Context()
	if err := s.limitAuth(r, "change-password", userID); err != nil {
		return err
	}
	if _, err := s.store.CredentialPassword(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return errNoPassword
	}
	ok, err := s.verifyPassword(ctx, userID, current)
	if err != nil {
		return err
	}
	if !ok {
		return errWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return s.hashErr(err)
	}
	if err := s.store.SetPassword(ctx, userID, hash); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.audit(r, userID, AuditPasswordChanged, "user", userID, nil)
	return nil
}
