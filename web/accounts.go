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
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web/connlimit"
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
	User    store.User  `json:"user"`
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
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
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

// startSession creates a session for the user and sets the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID string) (sessionJSON, error) {
	tok, err := newSecret()
	if err != nil {
		return sessionJSON{}, err
	}
	sess := store.Session{
		TokenHash: hashToken(tok),
		UserID:    userID,
		ExpiresAt: s.now().Add(s.creds.sessionTTL).UTC(),
		IPAddress: s.clientIP(r),
		UserAgent: truncate(r.UserAgent(), maxUserAgent),
	}
	if err := s.store.CreateSession(r.Context(), &sess); err != nil {
		return sessionJSON{}, fmt.Errorf("create session: %w", err)
	}
	s.setSessionCookie(w, tok, sess.ExpiresAt)
	return sessionJSON{Token: tok, ExpiresAt: sess.ExpiresAt}, nil
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
	hash, err := s.hasher.Hash(r.Context(), in.Password)
	if err != nil {
		return s.hashErr(err)
	}
	u := store.User{Email: in.Email, Name: in.Name, PasswordHash: hash}
	if err := s.store.CreateUser(r.Context(), &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("an account with this email exists")
		}
		return fmt.Errorf("create user: %w", err)
	}
	sess, err := s.startSession(w, r, u.ID)
	if err != nil {
		return err
	}
	s.audit(r, u.ID, AuditSignUp, "user", u.ID, nil)
	if err := s.mailVerification(r.Context(), u); err != nil {
		// The account exists and is signed in; the link can be asked for again.
		s.log.ErrorContext(r.Context(), "sign-up: verification mail", "err", err)
	}
	writeJSON(w, http.StatusCreated, authResponse{User: u, Session: sess})
	return nil
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
	ctx := r.Context()
	u, err := s.store.UserByEmail(ctx, account)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.hasher.Verify(ctx, dummyHash, in.Password); err != nil && !errors.Is(err, password.ErrMalformed) {
			return s.hashErr(err)
		}
		meta := map[string]any{"reason": "unknown_email"}
		if email, err := normalizeEmail(account); err == nil {
			meta["email"] = email
		}
		s.audit(r, "", AuditSignInFailed, "", "", meta)
		s.metrics.signIns.WithLabelValues("invalid").Inc()
		return errInvalidCredentials
	}
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	stored, err := s.store.CredentialPassword(ctx, u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sign in: %w", err)
	}
	ok, err := s.hasher.Verify(ctx, stored, in.Password)
	switch {
	case errors.Is(err, password.ErrMalformed):
		s.log.WarnContext(ctx, "credential password unusable", "user_id", u.ID)
	case err != nil:
		return s.hashErr(err)
	}
	if !ok {
		s.audit(r, u.ID, AuditSignInFailed, "user", u.ID, map[string]any{"reason": "wrong_password"})
		s.metrics.signIns.WithLabelValues("invalid").Inc()
		return errInvalidCredentials
	}
	sess, err := s.startSession(w, r, u.ID)
	if err != nil {
		return err
	}
	s.audit(r, u.ID, AuditSignIn, "user", u.ID, nil)
	s.metrics.signIns.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, authResponse{User: u, Session: sess})
	return nil
}

// POST /auth/sign-out: ends this session only.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if err := s.store.DeleteSession(r.Context(), p.session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sign out: %w", err)
	}
	if s.sockets != nil {
		if err := s.sockets.CloseSession(r.Context(), p.session.ID, hub.StatusForbidden, "signed out"); err != nil {
			s.log.WarnContext(r.Context(), "closing the session's sockets failed", "session_id", p.session.ID, "err", err)
		}
	}
	s.clearSessionCookie(w)
	s.audit(r, p.userID, AuditSignOut, "session", p.session.ID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /me
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.store.UserByID(r.Context(), principalFrom(r.Context()).userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
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
	invalid := errBadRequest("invalid or expired token")
	userID, ok := tokenUserID(tok)
	if !ok {
		return "", invalid
	}
	_, err := s.store.ConsumeVerification(ctx, kind+":"+userID, hashToken(tok), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", invalid
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
	if err := s.limitAuth(r, "verify-email", u.ID); err != nil {
		return err
	}
	if err := s.mailVerification(r.Context(), u); err != nil {
		return err
	}
	s.audit(r, u.ID, AuditEmailVerificationRequest, "user", u.ID, nil)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mailVerification issues a verification token for u and mails its link.
func (s *Server) mailVerification(ctx context.Context, u store.User) error {
	tok, err := s.issueVerification(ctx, kindEmailVerification, u.ID, s.verifyTTL)
	if err != nil {
		return err
	}
	s.sendMail(ctx, u.Email, "Verify your SecureCam email address",
		"Open this link to verify your email address:\n\n"+s.link("/verify-email", tok)+
			"\n\nThe link works once and expires in "+s.verifyTTL.String()+".\n")
	return nil
}

// POST /auth/verify-email {token}
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	userID, err := s.consumeVerification(r.Context(), kindEmailVerification, in.Token)
	if err != nil {
		return err
	}
	if err := s.store.SetEmailVerified(r.Context(), userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errBadRequest("invalid or expired token")
		}
		return fmt.Errorf("verify email: %w", err)
	}
	s.audit(r, userID, AuditEmailVerified, "user", userID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /auth/password-reset/request {email}: 202 whether or not the account exists.
// The answer must not tell, in content or in time, so the lookup, the token and the
// mail all happen after it, in the background.
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
	detached := r.Clone(context.WithoutCancel(r.Context()))
	s.background(r.Context(), "password reset request", func(ctx context.Context) {
		s.requestPasswordReset(detached.WithContext(ctx), in.Email)
	})
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// requestPasswordReset mails a reset link when an account has the email.
func (s *Server) requestPasswordReset(r *http.Request, email string) {
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
			s.link("/reset-password", tok)+"\n\nThe link works once and expires in "+s.resetTTL.String()+
			". If it was not you, ignore this mail.\n")
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
	// Hash first: a busy pool must not burn the token.
	hash, err := s.hasher.Hash(r.Context(), in.Password)
	if err != nil {
		return s.hashErr(err)
	}
	ctx := r.Context()
	userID, err := s.consumeVerification(ctx, kindPasswordReset, in.Token)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(ctx, userID, hash); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errBadRequest("invalid or expired token")
		}
		return fmt.Errorf("password reset: %w", err)
	}
	if err := s.store.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("password reset: end sessions: %w", err)
	}
	if s.sockets != nil {
		if err := s.sockets.CloseUserSessions(ctx, userID, hub.StatusForbidden, "password reset"); err != nil {
			s.log.WarnContext(ctx, "closing the user's session sockets failed", "user_id", userID, "err", err)
		}
	}
	s.audit(r, userID, AuditPasswordReset, "user", userID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
