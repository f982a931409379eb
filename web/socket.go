package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store"
)

// SocketAuth decides, before the upgrade, whether a request may open /ws and as which
// device: it is the hub's [hub.Authenticator]. Build it with [NewSocketAuth] from the
// Config and store the [Server] gets, so both check tokens and origins alike. It is
// safe for concurrent use.
type SocketAuth struct {
	creds *credentials
}

// NewSocketAuth returns the authenticator of /ws. cfg is the Server's Config (its
// allowed origins and session lifetime apply); of deps it uses Store (required),
// Logger and Now, as the Server does.
func NewSocketAuth(cfg Config, deps Deps) (*SocketAuth, error) {
	creds, err := newCredentials(cfg, deps)
	if err != nil {
		return nil, err
	}
	return &SocketAuth{creds: creds}, nil
}

// Authenticate implements [hub.Authenticator]. It tries, in order: ?ticket= (single
// use, from POST /api/v1/ws-tickets); Authorization: Bearer with a device token;
// Bearer with a user session token (or, with Better Auth on, its signed
// "<token>.<signature>" form) plus the device id in X-Device-Id or ?device_id=; the
// session cookie (the hub's or Better Auth's) plus a device id and an Origin (or
// expo-origin) header that is allowed. A present but bad credential is refused, never
// skipped. The identity's SessionID is empty when
// the socket was opened with a device token (or a ticket minted with one).
//
// Every error is a [*hub.AuthError]: 401 unauthorized (no or bad credentials), 403
// forbidden (device not the user's, origin missing or not allowed with the cookie), 400
// bad_request (no device id with a session, header and query ids disagree, malformed
// id), or 5xx when the store fails.
func (a *SocketAuth) Authenticate(r *http.Request) (hub.Identity, error) {
	id, err := a.authenticate(r)
	if err != nil {
		e := asError(err)
		if e.Status >= 500 {
			a.creds.log.ErrorContext(r.Context(), "socket authentication failed", "err", err)
		}
		return hub.Identity{}, &hub.AuthError{Status: e.Status, Code: e.Code, Message: e.Detail, RetryAfter: e.RetryAfter}
	}
	return id, nil
}

func (a *SocketAuth) authenticate(r *http.Request) (hub.Identity, error) {
	ctx := r.Context()
	q := r.URL.Query()
	if q.Has("ticket") {
		return a.socketByTicket(ctx, q.Get("ticket"))
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := parseBearer(h)
		if !ok {
			return hub.Identity{}, errUnauthorized("Authorization must be \"Bearer <token>\"")
		}
		sess, _, err := a.creds.sessionByToken(ctx, a.creds.bearerCredential(tok), true)
		if err == nil {
			return a.socketForSession(ctx, r, sess)
		}
		if !errors.Is(err, errBadToken) {
			return hub.Identity{}, err
		}
		d, err := a.creds.deviceByToken(ctx, tok)
		if err != nil {
			return hub.Identity{}, err
		}
		given, err := socketDeviceID(r)
		if err != nil && !errors.Is(err, errNoDeviceID) {
			return hub.Identity{}, err
		}
		if given != "" && given != d.ID {
			return hub.Identity{}, errForbidden("the device token is for another device")
		}
		return hub.Identity{UserID: d.UserID, DeviceID: d.ID}, nil
	}
	c, _, ok := a.creds.cookieCredential(r)
	if !ok {
		return hub.Identity{}, errNoCredentials
	}
	if o := presentedOrigin(r); o == "" || !a.creds.originOK(r, o) {
		return hub.Identity{}, errForbidden("a cookie-authenticated socket needs an allowed Origin")
	}
	// No renewal here: the new expiry could not reach the cookie before the upgrade.
	sess, _, err := a.creds.sessionByToken(ctx, c, false)
	if err != nil {
		return hub.Identity{}, err
	}
	return a.socketForSession(ctx, r, sess)
}

// Revalidate implements [hub.Authenticator]: for each identity of an open socket,
// whether its credentials still hold. The device must not be deleted and must be the
// user's, and a socket opened with a user session (directly or through a ticket) must
// still have that session, unexpired (not signed out, not ended by a password reset).
// An error (the store is down) tells nothing.
func (a *SocketAuth) Revalidate(ctx context.Context, ids []hub.Identity) ([]bool, error) {
	devices := make([]string, len(ids))
	var sessions []string
	for i, id := range ids {
		devices[i] = id.DeviceID
		if id.SessionID != "" {
			sessions = append(sessions, id.SessionID)
		}
	}
	owners, err := a.creds.store.DeviceUsers(ctx, devices)
	if err != nil {
		return nil, fmt.Errorf("revalidate sockets: %w", err)
	}
	live := map[string]string{}
	if len(sessions) > 0 {
		if live, err = a.creds.store.SessionUsers(ctx, sessions, a.creds.now()); err != nil {
			return nil, fmt.Errorf("revalidate sockets: %w", err)
		}
	}
	valid := make([]bool, len(ids))
	for i, id := range ids {
		owner, ok := owners[id.DeviceID]
		valid[i] = ok && owner == id.UserID
		if id.SessionID != "" {
			user, ok := live[id.SessionID]
			valid[i] = valid[i] && ok && user == id.UserID
		}
	}
	return valid, nil
}

var errNoDeviceID = errBadRequest("a session needs the device id in X-Device-Id or ?device_id=")

// socketDeviceID reads the device id from the header or the query; both present must
// agree.
func socketDeviceID(r *http.Request) (string, error) {
	h, q := r.Header.Get("X-Device-Id"), r.URL.Query().Get("device_id")
	raw := h
	switch {
	case h != "" && q != "":
		hid, ok1 := parseID(h)
		qid, ok2 := parseID(q)
		if !ok1 || !ok2 || hid != qid {
			return "", errBadRequest("X-Device-Id and device_id disagree")
		}
	case h == "" && q == "":
		return "", errNoDeviceID
	case h == "":
		raw = q
	}
	id, ok := parseID(raw)
	if !ok {
		return "", errBadRequest("device id is not a UUID")
	}
	return id, nil
}

func (a *SocketAuth) socketForSession(ctx context.Context, r *http.Request, sess store.Session) (hub.Identity, error) {
	id, err := socketDeviceID(r)
	if err != nil {
		return hub.Identity{}, err
	}
	d, err := a.creds.store.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID != sess.UserID) {
		return hub.Identity{}, errForbidden("the device is not this user's")
	}
	if err != nil {
		return hub.Identity{}, fmt.Errorf("socket device: %w", err)
	}
	return hub.Identity{UserID: sess.UserID, DeviceID: d.ID, SessionID: sess.ID}, nil
}

var errBadTicket = errUnauthorized("invalid, used or expired ticket")

// A ticket is "<device id>.<session id, or empty for a device token>.<secret>", stored
// hashed under "ws-ticket:<device id>". Naming the session lets the ticket be refused
// once the session has ended (signed out, reset), even within its 30 seconds; the id
// alone authenticates nothing.
func (a *SocketAuth) socketByTicket(ctx context.Context, ticket string) (hub.Identity, error) {
	deviceID, sessionRef, ok := ticketParts(ticket)
	if !ok {
		return hub.Identity{}, errBadTicket
	}
	_, err := a.creds.store.ConsumeVerification(ctx, kindWSTicket+":"+deviceID, hashToken(ticket), a.creds.now())
	if errors.Is(err, store.ErrNotFound) {
		return hub.Identity{}, errBadTicket
	}
	if err != nil {
		return hub.Identity{}, fmt.Errorf("consume ticket: %w", err)
	}
	d, err := a.creds.store.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return hub.Identity{}, errBadTicket
	}
	if err != nil {
		return hub.Identity{}, fmt.Errorf("ticket device: %w", err)
	}
	id := hub.Identity{UserID: d.UserID, DeviceID: d.ID}
	if sessionRef == "" {
		return id, nil
	}
	sess, err := a.creds.store.SessionByID(ctx, sessionRef)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (sess.UserID != d.UserID || !a.creds.now().Before(sess.ExpiresAt))) {
		return hub.Identity{}, errBadTicket
	}
	if err != nil {
		return hub.Identity{}, fmt.Errorf("ticket session: %w", err)
	}
	id.SessionID = sess.ID
	return id, nil
}

type ticketJSON struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// POST /ws-tickets {device_id} → 201 {ticket, expires_at}
func (s *Server) handleCreateTicket(w http.ResponseWriter, r *http.Request) error {
	var in ticketRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	id := in.DeviceID
	ctx := r.Context()
	p := principalFrom(ctx)
	sessionRef := ""
	if p.device != nil {
		if p.device.ID != id {
			return errForbidden("a device token may only get tickets for its own device")
		}
	} else {
		if _, err := s.ownedDevice(ctx, p.userID, id); err != nil {
			return err
		}
		sessionRef = p.session.ID
	}
	ticket, err := newScopedToken(id, sessionRef)
	if err != nil {
		return err
	}
	v := store.Verification{
		Identifier: kindWSTicket + ":" + id,
		ValueHash:  hashToken(ticket),
		ExpiresAt:  s.now().Add(s.ticketTTL).UTC(),
	}
	if err := s.store.CreateVerification(ctx, &v); err != nil {
		return fmt.Errorf("create ticket: %w", err)
	}
	writeJSON(w, http.StatusCreated, ticketJSON{Ticket: ticket, ExpiresAt: v.ExpiresAt})
	return nil
}
