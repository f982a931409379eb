package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

func (s *Server) linkRevoked(ctx context.Context, l store.DeviceLink) {
	if s.onLinkRevoked != nil {
		s.onLinkRevoked(ctx, l)
	}
	s.closeViewers(ctx, l.CameraDeviceID, l.ClientDeviceID)
}

// POST /device-links {camera_device_id, client_device_id}: the client is the caller's,
// the camera the caller's or shared with the caller; the link is the caller's.
func (s *Server) handleCreateLink(w http.ResponseWriter, r *http.Request) error {
	var in createLinkRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	cameraID, clientID := in.CameraDeviceID, in.ClientDeviceID
	ctx := r.Context()
	p := principalFrom(ctx)
	g, err := s.may(ctx, cameraID, access.View) // an invitee links their own viewers to a shared camera
	if err != nil {
		return err
	}
	camera := g.Camera
	if _, err := s.ownedDevice(ctx, p.userID, clientID); err != nil {
		return err
	}
	if camera.Role != store.RoleCamera {
		return errBadRequest("camera_device_id is not a camera")
	}
	l := store.DeviceLink{
		OwnerUserID:    p.userID,
		CameraDeviceID: cameraID,
		ClientDeviceID: clientID,
		Status:         store.LinkActive,
	}
	if err := s.store.CreateLink(ctx, &l); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("an active link between these devices exists")
		}
		return fmt.Errorf("create link: %w", err)
	}
	s.audit(r, p.userID, AuditLinkCreated, "device_link", l.ID,
		map[string]any{"camera_device_id": cameraID, "client_device_id": clientID})
	writeJSON(w, http.StatusCreated, wire.FromDeviceLink(l))
	return nil
}

// GET /device-links
func (s *Server) handleListLinks(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	items, next, err := s.store.ListLinks(r.Context(), principalFrom(r.Context()).userID, page)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromDeviceLink))
	return nil
}

// DELETE /device-links/{id}: revokes (idempotent).
func (s *Server) handleRevokeLink(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	l, err := s.store.Link(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && l.OwnerUserID != p.userID) {
		return errNotFound("no such link")
	}
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if l.Status == store.LinkActive {
		revoked, err := s.store.RevokeLink(ctx, id)
		if err != nil {
			return fmt.Errorf("revoke link: %w", err)
		}
		s.linkRevoked(ctx, revoked)
		s.audit(r, p.userID, AuditLinkRevoked, "device_link", id, nil)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
