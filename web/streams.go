package web

import (
	"context"
	"net/http"

	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Streams is live view as the REST API serves it; signaling.Service implements it.
type Streams interface {
	RequestStream(ctx context.Context, userID string, req wire.StreamRequest) (store.StreamSession, error)
	Stream(ctx context.Context, userID, id string) (store.StreamSession, error)
	ListStreams(ctx context.Context, userID string, f store.StreamFilter, p store.Page) ([]store.StreamSession, string, error)
	EndStream(ctx context.Context, userID, id, reason string) (store.StreamSession, error)
	ICEServers(deviceID string) ice.List
}

var errNoStreams = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "live view is not served here"}

// POST /streams {camera_device_id, requester_device_id} → 201 stream_session, the
// same path as stream.request: the camera is asked (or woken), and the requester's
// socket sees the session move.
func (s *Server) handleRequestStream(w http.ResponseWriter, r *http.Request) error {
	if s.streams == nil {
		return errNoStreams
	}
	var in streamRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	sess, err := s.streams.RequestStream(r.Context(), principalFrom(r.Context()).userID,
		wire.StreamRequest{CameraDeviceID: in.CameraDeviceID, RequesterDeviceID: in.RequesterDeviceID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.FromStreamSession(sess))
	return nil
}

// GET /streams/{id}
func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) error {
	if s.streams == nil {
		return errNoStreams
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	sess, err := s.streams.Stream(r.Context(), principalFrom(r.Context()).userID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromStreamSession(sess))
	return nil
}

// GET /streams?camera_device_id= newest first.
func (s *Server) handleListStreams(w http.ResponseWriter, r *http.Request) error {
	if s.streams == nil {
		return errNoStreams
	}
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	f, err := streamFilter(r.URL.Query())
	if err != nil {
		return err
	}
	items, next, err := s.streams.ListStreams(r.Context(), principalFrom(r.Context()).userID, f, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromStreamSession))
	return nil
}

// POST /streams/{id}/end {reason?} → 200 stream_session: both parties get
// stream.ended. The body may be empty; ending a closed session returns it unchanged.
func (s *Server) handleEndStream(w http.ResponseWriter, r *http.Request) error {
	if s.streams == nil {
		return errNoStreams
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in endStreamRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &in); err != nil {
			return err
		}
	}
	sess, err := s.streams.EndStream(r.Context(), principalFrom(r.Context()).userID, id, in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromStreamSession(sess))
	return nil
}

// GET /ice-servers[?device_id=] → {ice_servers, ttl_seconds}. TURN credentials are
// issued to devices only and name one: the caller's own with a device token, else the
// user's device given in device_id (required with a user session).
func (s *Server) handleICEServers(w http.ResponseWriter, r *http.Request) error {
	if s.streams == nil {
		return errNoStreams
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	var who string
	switch v := r.URL.Query().Get("device_id"); {
	case p.device != nil:
		if v != "" && v != p.device.ID {
			return errForbidden("a device token acts for its own device only")
		}
		who = p.device.ID
	case v == "":
		return errBadRequest("device_id is required: ICE servers are issued to a device")
	default:
		id, err := bodyID("device_id", v)
		if err != nil {
			return err
		}
		if _, err := s.ownedDevice(ctx, p.userID, id); err != nil {
			return err
		}
		who = id
	}
	writeJSON(w, http.StatusOK, s.streams.ICEServers(who))
	return nil
}
