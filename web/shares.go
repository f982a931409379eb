package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Audit actions of sharing. Each row belongs to the camera's owner; its metadata
// names the acting user when that is someone else (an admin, the invitee).
const (
	AuditShareCreated  = "share.created"
	AuditShareAccepted = "share.accepted"
	AuditShareChanged  = "share.changed"
	AuditShareRevoked  = "share.revoked"
	AuditShareLeft     = "share.left"
)

// may answers "may the request's user do a on device id" (signaling/access): the
// grant, or the refusal a client sees (404 for a stranger, 403 for a role too weak).
func (s *Server) may(ctx context.Context, id string, a access.Action) (access.Grant, error) {
	return s.access.User(ctx, principalFrom(ctx).userID, id, a)
}

// POST /shares {email, camera_device_ids, role}: the owner (or an admin of every camera
// named) invites an address; the invitation's link is mailed to it.
func (s *Server) handleCreateShare(w http.ResponseWriter, r *http.Request) error {
	var in createShareRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	me, err := s.store.UserByID(ctx, p.userID)
	if err != nil {
		return fmt.Errorf("user: %w", err)
	}
	if strings.EqualFold(me.Email, in.Email) {
		return errBadRequest("you cannot share with yourself")
	}
	now := s.now().UTC()
	shares := make([]store.Share, len(in.CameraDeviceIDs))
	var names []string
	for i, id := range in.CameraDeviceIDs {
		g, err := s.may(ctx, id, access.Share)
		if err != nil {
			return err
		}
		if g.Camera.Role != store.RoleCamera {
			return errBadRequest("camera_device_ids: %s is not a camera", id)
		}
		owner, err := s.store.UserByID(ctx, g.Camera.UserID)
		if err != nil {
			return fmt.Errorf("camera owner: %w", err)
		}
		if strings.EqualFold(owner.Email, in.Email) {
			return errBadRequest("camera %s belongs to %s already", id, in.Email)
		}
		shares[i] = store.Share{OwnerUserID: g.Camera.UserID, CameraDeviceID: id, InviteeEmail: in.Email,
			Role: in.Role, InvitedByUserID: p.userID, ExpiresAt: now.Add(s.inviteTTL), CreatedAt: now}
		names = append(names, g.Camera.Name)
	}
	tok, err := newSecret()
	if err != nil {
		return err
	}
	if err := s.store.CreateShares(ctx, shares, hashToken(tok)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("a camera named is already shared with, or invited to, this address")
		}
		return fmt.Errorf("create shares: %w", err)
	}
	for _, sh := range shares {
		s.audit(r, sh.OwnerUserID, AuditShareCreated, "share", sh.ID, map[string]any{
			"camera_device_id": sh.CameraDeviceID, "email": sh.InviteeEmail, "role": sh.Role, "by_user_id": p.userID})
	}
	who := me.Name
	if who == "" {
		who = me.Email
	}
	s.sendMail(ctx, in.Email, who+" shared cameras with you on SecureCam",
		who+" invites you to "+in.Role+" these cameras: "+strings.Join(names, ", ")+".\n\n"+
			"Sign in (or sign up) with this address, then open this link to accept:\n\n"+s.link("/shares/accept", tok)+
			"\n\nThe link works once and expires in "+s.inviteTTL.String()+".\n")
	out := wire.Invitation{InvitationID: shares[0].InvitationID, Email: in.Email, Role: in.Role,
		ExpiresAt: shares[0].ExpiresAt, Shares: make([]wire.Share, len(shares))}
	for i, sh := range shares {
		out.Shares[i] = wire.FromShare(sh)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// POST /shares/accept {token}: the invitee, signed in with the invited address.
func (s *Server) handleAcceptShare(w http.ResponseWriter, r *http.Request) error {
	var in acceptShareRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	me, err := s.store.UserByID(ctx, p.userID)
	if err != nil {
		return fmt.Errorf("user: %w", err)
	}
	accepted, err := s.store.AcceptShares(ctx, hashToken(in.Token), me.Email, me.ID, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such invitation to " + me.Email + ": it was used, revoked or has expired, or was sent to another address")
	}
	if err != nil {
		return fmt.Errorf("accept shares: %w", err)
	}
	for _, sh := range accepted {
		s.audit(r, sh.OwnerUserID, AuditShareAccepted, "share", sh.ID, map[string]any{
			"camera_device_id": sh.CameraDeviceID, "user_id": me.ID, "role": sh.Role})
	}
	writeJSON(w, http.StatusOK, newList(accepted, "", wire.FromShare))
	return nil
}

// GET /shares?camera_device_id=&status=: the shares of the caller's cameras, or of one
// camera the caller owns or administers.
func (s *Server) handleListShares(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	camera, status, err := shareFilter(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	f := store.ShareFilter{OwnerUserID: principalFrom(ctx).userID}
	if camera != "" {
		if _, err := s.may(ctx, camera, access.Share); err != nil {
			return err
		}
		f = store.ShareFilter{CameraDeviceIDs: []string{camera}}
	}
	if status != "" {
		f.Statuses = []string{status}
	}
	items, next, err := s.store.ListShares(ctx, f, page)
	if err != nil {
		return fmt.Errorf("list shares: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromShare))
	return nil
}

// GET /shares/received?status=: the shares the caller accepted ("shared with me").
func (s *Server) handleListReceivedShares(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	camera, status, err := shareFilter(r.URL.Query())
	if err != nil {
		return err
	}
	f := store.ShareFilter{UserID: principalFrom(r.Context()).userID}
	if camera != "" {
		f.CameraDeviceIDs = []string{camera}
	}
	if status != "" {
		f.Statuses = []string{status}
	}
	items, next, err := s.store.ListShares(r.Context(), f, page)
	if err != nil {
		return fmt.Errorf("list shares: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromShare))
	return nil
}

// visibleShare returns a share the caller may see: its invitee, or the owner or an
// admin of its camera (then manage is true). Anyone else gets 404.
func (s *Server) visibleShare(ctx context.Context, id string) (sh store.Share, manage bool, err error) {
	sh, err = s.store.Share(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return sh, false, errNotFound("no such share")
	}
	if err != nil {
		return sh, false, fmt.Errorf("share: %w", err)
	}
	if _, err := s.may(ctx, sh.CameraDeviceID, access.Share); err == nil {
		return sh, true, nil
	} else if !errors.Is(err, access.ErrDenied) {
		return sh, false, err
	}
	if sh.UserID != nil && *sh.UserID == principalFrom(ctx).userID {
		return sh, false, nil
	}
	return store.Share{}, false, errNotFound("no such share")
}

// GET /shares/{id}
func (s *Server) handleGetShare(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	sh, _, err := s.visibleShare(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromShare(sh))
	return nil
}

// PATCH /shares/{id} {role}: the camera's owner or an admin changes the role.
func (s *Server) handleUpdateShare(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in updateShareRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	ctx := r.Context()
	sh, manage, err := s.visibleShare(ctx, id)
	if err != nil {
		return err
	}
	if !manage {
		return errForbidden("only the camera's owner or an admin changes a share's role")
	}
	was := sh.Role
	sh, err = s.store.SetShareRole(ctx, id, in.Role, s.now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return errConflict("the share is " + sh.Status)
	}
	if err != nil {
		return fmt.Errorf("set share role: %w", err)
	}
	if was != sh.Role {
		s.audit(r, sh.OwnerUserID, AuditShareChanged, "share", sh.ID, map[string]any{
			"camera_device_id": sh.CameraDeviceID, "role": sh.Role, "was": was, "by_user_id": principalFrom(ctx).userID})
	}
	writeJSON(w, http.StatusOK, wire.FromShare(sh))
	return nil
}

// DELETE /shares/{id}: the owner or an admin revokes the share, or the invitee leaves
// it. Either way the invitee's devices are unlinked from the camera, which ends their
// live sessions of it at once, and its events no longer reach them. Idempotent.
func (s *Server) handleDeleteShare(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	sh, manage, err := s.visibleShare(ctx, id)
	if err != nil {
		return err
	}
	me := principalFrom(ctx).userID
	status, action := store.ShareRevoked, AuditShareRevoked
	if !manage || (sh.UserID != nil && *sh.UserID == me) {
		status, action = store.ShareLeft, AuditShareLeft
	}
	was := sh.Status
	sh, links, err := s.store.EndShare(ctx, id, status, s.now().UTC())
	if err != nil {
		return fmt.Errorf("end share: %w", err)
	}
	if was == store.SharePending || was == store.ShareActive {
		for _, l := range links {
			s.linkRevoked(ctx, l)
		}
		if sh.UserID != nil {
			s.closeViewers(ctx, sh.CameraDeviceID, userPrincipal(*sh.UserID))
		}
		s.audit(r, sh.OwnerUserID, action, "share", sh.ID, map[string]any{
			"camera_device_id": sh.CameraDeviceID, "by_user_id": me, "revoked_links": len(links)})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// isForbidden reports a refusal for a role too weak (403), as opposed to no role at
// all (404).
func isForbidden(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == wire.CodeForbidden
}

// listOwner is whose rows a list of one camera's events or recordings reads: the
// camera's owner when access allows a (a camera shared with the caller), else the
// caller's own (which hold nothing of a camera that is not theirs: an empty page, as
// for a camera they deleted).
func (s *Server) listOwner(ctx context.Context, cameraID string, a access.Action) (string, error) {
	me := principalFrom(ctx).userID
	if cameraID == "" {
		return me, nil
	}
	g, err := s.may(ctx, cameraID, a)
	if errors.Is(err, access.ErrDenied) {
		return me, nil
	}
	if err != nil {
		return "", err
	}
	return g.Camera.UserID, nil
}

// sharedCameras lists the cameras shared with userID by active shares, with the shares.
func (s *Server) sharedCameras(ctx context.Context, userID string) ([]store.Device, []store.Share, error) {
	var devices []store.Device
	var shares []store.Share
	p := store.Page{Limit: 200}
	for {
		items, next, err := s.store.ListShares(ctx, store.ShareFilter{UserID: userID, Statuses: []string{store.ShareActive}}, p)
		if err != nil {
			return nil, nil, fmt.Errorf("shared cameras: %w", err)
		}
		for _, sh := range items {
			d, err := s.store.Device(ctx, sh.CameraDeviceID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("shared camera: %w", err)
			}
			devices, shares = append(devices, d), append(shares, sh)
		}
		if next == "" {
			return devices, shares, nil
		}
		p.Cursor = next
	}
}

// userName is the display name of a user (its e-mail when it has none; empty when
// it cannot be read).
func (s *Server) userName(ctx context.Context, id string) string {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return ""
	}
	if u.Name == "" {
		return u.Email
	}
	return u.Name
}
