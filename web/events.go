package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// EventStore is the part of the store the events, recordings and notifications
// endpoints use.
type EventStore interface {
	Event(ctx context.Context, id string) (store.Event, error)
	ListEvents(ctx context.Context, userID string, f store.EventFilter, p store.Page) ([]store.Event, string, error)
	SetEventVideoURL(ctx context.Context, id, url string) error

	CreateRecording(ctx context.Context, r *store.Recording) error
	Recording(ctx context.Context, id string) (store.Recording, error)
	ListRecordings(ctx context.Context, ownerUserID string, f store.RecordingFilter, p store.Page) ([]store.Recording, string, error)
	FinishRecordingUpload(ctx context.Context, id string, u store.RecordingUpload) (store.Recording, error)
	DeleteRecording(ctx context.Context, id string) (store.Recording, error)
	RecordingBytes(ctx context.Context, ownerUserID string) (int64, error)

	ListNotifications(ctx context.Context, userID string, unreadOnly bool, p store.Page) ([]store.Notification, string, error)
	MarkNotificationRead(ctx context.Context, id, userID string) error
}

// Events raises and ends motion events, telling viewers and queueing alerts;
// signaling.Service implements it.
type Events interface {
	RaiseEvent(ctx context.Context, camera store.Device, req wire.EventRequest) (store.Event, error)
	EndEvent(ctx context.Context, e store.Event, endedAt *time.Time) (store.Event, error)
}

var errNoEvents = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "events are not served here"}

// actingCamera returns the camera a request acts for: the device named in the body,
// which must be the user's camera, and the caller's own device when it authenticated
// with a device token.
func (s *Server) actingCamera(ctx context.Context, field, id string) (store.Device, error) {
	id, err := bodyID(field, id)
	if err != nil {
		return store.Device{}, err
	}
	p := principalFrom(ctx)
	if p.device != nil && p.device.ID != id {
		return store.Device{}, errForbidden("a device token acts for its own device only")
	}
	d, err := s.ownedDevice(ctx, p.userID, id)
	if err != nil {
		return store.Device{}, err
	}
	if d.Role != store.RoleCamera {
		return store.Device{}, errBadRequest("%s must name a camera", field)
	}
	return d, nil
}

// POST /events {device_id, title, triggered_by, started_at?}: the camera's owner or
// the camera's device token.
func (s *Server) handleCreateEvent(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return errNoEvents
	}
	var in wire.EventRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	cam, err := s.actingCamera(r.Context(), "device_id", in.DeviceID)
	if err != nil {
		return err
	}
	in.DeviceID = cam.ID
	e, err := s.events.RaiseEvent(r.Context(), cam, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromEvent(e))
	return nil
}

// ownedEvent returns the event if the request may do a with it: the owner's session,
// a session of a user whose role on its camera allows a (signaling/access), or the
// token of the camera that raised it. A stranger gets 404, a role too weak 403.
func (s *Server) ownedEvent(ctx context.Context, id string, a access.Action) (store.Event, error) {
	e, err := s.store.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return e, errNotFound("no such event")
	}
	if err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	p := principalFrom(ctx)
	switch {
	case p.device != nil && (p.device.ID != e.DeviceID || e.UserID != p.userID):
		return store.Event{}, errNotFound("no such event")
	case p.device != nil || e.UserID == p.userID: // the owner's, even of a deleted camera
		return e, nil
	case e.DeviceID == "":
		return store.Event{}, errNotFound("no such event")
	}
	if _, err := s.may(ctx, e.DeviceID, a); err != nil {
		if errors.Is(err, access.ErrDenied) && !isForbidden(err) {
			return store.Event{}, errNotFound("no such event")
		}
		return store.Event{}, err
	}
	return e, nil
}

// GET /events/{id}
func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	e, err := s.ownedEvent(r.Context(), id, access.ReadEvents)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromEvent(e))
	return nil
}

// PATCH /events/{id} {status: "ended", ended_at?}: the owner or the camera's token.
func (s *Server) handleUpdateEvent(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return errNoEvents
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in updateEventRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	e, err := s.ownedEvent(r.Context(), id, access.Manage)
	if err != nil {
		return err
	}
	if e, err = s.events.EndEvent(r.Context(), e, in.EndedAt); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromEvent(e))
	return nil
}

// GET /events?device_id=&since= newest first.
func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	f, err := eventFilter(r.URL.Query())
	if err != nil {
		return err
	}
	owner, err := s.listOwner(r.Context(), f.DeviceID, access.ReadEvents)
	if err != nil {
		return err
	}
	items, next, err := s.store.ListEvents(r.Context(), owner, f, page)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromEvent))
	return nil
}
