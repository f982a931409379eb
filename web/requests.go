package web

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// The request bodies and query parameters of the API, and their validation. A check
// method validates a decoded body and normalises it in place (trimmed names, canonical
// ids, lower-cased e-mail, empty optional strings as absent); a query function turns
// parameters into a filter. Neither does I/O: what needs the store (ownership,
// existence) stays in the handlers. Every refusal is a 400 *Error.

// signUpRequest is the body of POST /auth/sign-up.
type signUpRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (in *signUpRequest) check() error {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return err
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return err
	}
	if err := checkPassword(in.Password); err != nil {
		return err
	}
	in.Email, in.Name = email, name
	return nil
}

// signInRequest is the body of POST /auth/sign-in. The e-mail is only trimmed and
// lower-cased: an address that is not valid names no account.
type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (in *signInRequest) check() error {
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	if in.Email == "" || in.Password == "" {
		return errBadRequest("email and password are required")
	}
	return nil
}

// tokenRequest is the body of POST /auth/verify-email; the token is checked against
// the store (its shape by tokenUserID).
type tokenRequest struct {
	Token string `json:"token"`
}

// resetMailRequest is the body of POST /auth/password-reset/request.
type resetMailRequest struct {
	Email string `json:"email"`
}

func (in *resetMailRequest) check() error {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return err
	}
	in.Email = email
	return nil
}

// resetRequest is the body of POST /auth/password-reset.
type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (in *resetRequest) check() error { return checkPassword(in.Password) }

// createDeviceRequest is the body of POST /devices.
type createDeviceRequest struct {
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	Platform   string  `json:"platform"`
	AppVersion *string `json:"app_version"`
	PushToken  *string `json:"push_token"`
}

func (in *createDeviceRequest) check() error {
	name, err := checkName("name", in.Name)
	if err != nil {
		return err
	}
	if in.Role != store.RoleCamera && in.Role != store.RoleViewer {
		return errBadRequest("role must be %q or %q", store.RoleCamera, store.RoleViewer)
	}
	if !platforms[in.Platform] {
		return errBadRequest("platform must be one of ios, android, web, other")
	}
	if in.AppVersion != nil {
		if err := checkAppVersion(*in.AppVersion); err != nil {
			return err
		}
		if *in.AppVersion == "" {
			in.AppVersion = nil
		}
	}
	if in.PushToken != nil {
		if err := checkPushToken(*in.PushToken); err != nil {
			return err
		}
		if *in.PushToken == "" {
			in.PushToken = nil
		} else if in.Platform == platformWeb {
			if err := checkWebPushSubscription(*in.PushToken); err != nil {
				return err
			}
		}
	}
	in.Name = name
	return nil
}

// updateDeviceRequest is the body of PATCH /devices/{id}: absent fields stay as they
// are; an empty push_token clears it.
type updateDeviceRequest struct {
	Name          *string `json:"name"`
	PushToken     *string `json:"push_token"`
	AppVersion    *string `json:"app_version"`
	RecordingMode *string `json:"recording_mode"`
	LiveMode      *string `json:"live_mode"`
	cameraAlertsUpdate
}

// recordingModes are the values of a camera's recording_mode.
var recordingModes = map[string]bool{store.RecordingModeOff: true, store.RecordingModeEvents: true, store.RecordingModeContinuous: true}

// liveModes are the values of a camera's live_mode.
var liveModes = map[string]bool{store.LiveModeP2P: true, store.LiveModeRelay: true, store.LiveModeAuto: true}

// onlyMutes reports whether the request changes nothing but the caller's mute of the
// camera.
func (in *updateDeviceRequest) onlyMutes() bool {
	return in.MutedUntil != nil && in.Name == nil && in.PushToken == nil && in.AppVersion == nil &&
		in.RecordingMode == nil && in.LiveMode == nil && in.ArmModes == nil && in.EventCooldownSeconds == nil
}

func (in *updateDeviceRequest) check() error {
	if in.Name != nil {
		name, err := checkName("name", *in.Name)
		if err != nil {
			return err
		}
		in.Name = &name
	}
	if in.PushToken != nil {
		if err := checkPushToken(*in.PushToken); err != nil {
			return err
		}
	}
	if in.AppVersion != nil {
		if err := checkAppVersion(*in.AppVersion); err != nil {
			return err
		}
	}
	if in.RecordingMode != nil && !recordingModes[*in.RecordingMode] {
		return errBadRequest("recording_mode must be off, events or continuous")
	}
	if in.LiveMode != nil && !liveModes[*in.LiveMode] {
		return errBadRequest("live_mode must be p2p, relay or auto")
	}
	return nil
}

// createLinkRequest is the body of POST /device-links.
type createLinkRequest struct {
	CameraDeviceID string `json:"camera_device_id"`
	ClientDeviceID string `json:"client_device_id"`
}

func (in *createLinkRequest) check() error {
	camera, err := bodyID("camera_device_id", in.CameraDeviceID)
	if err != nil {
		return err
	}
	client, err := bodyID("client_device_id", in.ClientDeviceID)
	if err != nil {
		return err
	}
	if camera == client {
		return errBadRequest("a device cannot be linked with itself")
	}
	in.CameraDeviceID, in.ClientDeviceID = camera, client
	return nil
}

// sendCommandRequest is the body of POST /commands; signaling checks all but the
// source device.
type sendCommandRequest struct {
	SourceDeviceID string          `json:"source_device_id"`
	TargetDeviceID string          `json:"target_device_id"`
	CommandType    string          `json:"command_type"`
	Payload        json.RawMessage `json:"payload"`
	TTLSeconds     *int            `json:"ttl_seconds"`
}

func (in *sendCommandRequest) check() error {
	source, err := bodyID("source_device_id", in.SourceDeviceID)
	if err != nil {
		return err
	}
	in.SourceDeviceID = source
	return nil
}

// updateEventRequest is the body of PATCH /events/{id}.
type updateEventRequest struct {
	Status  string     `json:"status"`
	EndedAt *time.Time `json:"ended_at"`
}

func (in *updateEventRequest) check() error {
	if in.Status != store.EventEnded {
		return errBadRequest("status must be %q", store.EventEnded)
	}
	return nil
}

// createRecordingRequest is the body of POST /recordings. Empty event_id and
// stream_session_id are absent. size_bytes is required with direct_upload; the handler
// compares it with the upload limit.
type createRecordingRequest struct {
	CameraDeviceID  string  `json:"camera_device_id"`
	EventID         *string `json:"event_id"`
	StreamSessionID *string `json:"stream_session_id"`
	ContentType     string  `json:"content_type"`
	DurationSeconds *int    `json:"duration_seconds"`
	SizeBytes       *int64  `json:"size_bytes"`
	DirectUpload    bool    `json:"direct_upload"`
}

func (in *createRecordingRequest) check() error {
	camera, err := bodyID("camera_device_id", in.CameraDeviceID)
	if err != nil {
		return err
	}
	if !recordingTypes[in.ContentType] {
		return errBadRequest("content_type must be video/mp4, video/webm or image/jpeg")
	}
	if in.DurationSeconds != nil && (*in.DurationSeconds < 0 || *in.DurationSeconds > maxClipSeconds) {
		return errBadRequest("duration_seconds must be between 0 and %d", maxClipSeconds)
	}
	switch {
	case in.SizeBytes == nil && in.DirectUpload:
		return errBadRequest("size_bytes is required with direct_upload")
	case in.SizeBytes != nil && *in.SizeBytes <= 0:
		return errBadRequest("size_bytes must be positive")
	}
	for _, ref := range []struct {
		field string
		id    **string
	}{{"event_id", &in.EventID}, {"stream_session_id", &in.StreamSessionID}} {
		if *ref.id == nil || **ref.id == "" {
			*ref.id = nil
			continue
		}
		id, err := bodyID(ref.field, **ref.id)
		if err != nil {
			return err
		}
		*ref.id = &id
	}
	in.CameraDeviceID = camera
	return nil
}

// ticketRequest is the body of POST /ws-tickets.
type ticketRequest struct {
	DeviceID string `json:"device_id"`
}

func (in *ticketRequest) check() error {
	id, err := bodyID("device_id", in.DeviceID)
	if err != nil {
		return err
	}
	in.DeviceID = id
	return nil
}

// streamRequest is the body of POST /streams.
type streamRequest struct {
	CameraDeviceID    string `json:"camera_device_id"`
	RequesterDeviceID string `json:"requester_device_id"`
}

func (in *streamRequest) check() error {
	camera, err := bodyID("camera_device_id", in.CameraDeviceID)
	if err != nil {
		return err
	}
	requester, err := bodyID("requester_device_id", in.RequesterDeviceID)
	if err != nil {
		return err
	}
	in.CameraDeviceID, in.RequesterDeviceID = camera, requester
	return nil
}

// endStreamRequest is the body of POST /streams/{id}/end; signaling checks the reason.
type endStreamRequest struct {
	Reason string `json:"reason"`
}

// Query parameters.

// pageOf reads limit (1..200, larger values clamped to 200, default 50) and cursor.
func pageOf(q url.Values) (store.Page, error) {
	p := store.Page{Limit: 50, Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, errBadRequest("limit must be a positive integer")
		}
		p.Limit = min(n, maxPageLimit)
	}
	if len(p.Cursor) > 512 {
		return p, errBadRequest("cursor too long")
	}
	return p, nil
}

// queryID reads an optional id parameter: "" when absent, 400 when malformed.
func queryID(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return "", nil
	}
	return bodyID(name, v)
}

// eventFilter reads GET /events?device_id=&since=.
func eventFilter(q url.Values) (store.EventFilter, error) {
	var f store.EventFilter
	var err error
	if f.DeviceID, err = queryID(q, "device_id"); err != nil {
		return f, err
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, errBadRequest("since must be an RFC 3339 time, such as 2025-01-31T08:00:00Z")
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, errBadRequest("until must be an RFC 3339 time, such as 2025-02-01T00:00:00Z")
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, errBadRequest("since must be before until")
	}
	if v := q.Get("triggered_by"); v != "" {
		if !wire.ValidTrigger(v) {
			return f, errBadRequest("triggered_by must be a trigger such as motion, sound, manual or camera_offline")
		}
		f.TriggeredBy = v
	}
	return f, nil
}

// recordingFilter reads GET /recordings?camera_device_id=&event_id=.
func recordingFilter(q url.Values) (store.RecordingFilter, error) {
	var f store.RecordingFilter
	var err error
	if f.CameraDeviceID, err = queryID(q, "camera_device_id"); err != nil {
		return f, err
	}
	f.EventID, err = queryID(q, "event_id")
	return f, err
}

var commandStatuses = map[string]bool{
	store.CommandPending: true, store.CommandDispatched: true, store.CommandAcknowledged: true,
	store.CommandFailed: true, store.CommandExpired: true,
}

// commandFilter reads GET /commands?device_id=&status=.
func commandFilter(q url.Values) (store.CommandFilter, error) {
	var f store.CommandFilter
	var err error
	if f.DeviceID, err = queryID(q, "device_id"); err != nil {
		return f, err
	}
	if f.Status = q.Get("status"); f.Status != "" && !commandStatuses[f.Status] {
		return f, errBadRequest("status must be pending, dispatched, acknowledged, failed or expired")
	}
	return f, nil
}

// streamFilter reads GET /streams?camera_device_id=.
func streamFilter(q url.Values) (store.StreamFilter, error) {
	id, err := queryID(q, "camera_device_id")
	return store.StreamFilter{CameraDeviceID: id}, err
}

// unreadOnly reads GET /notifications?unread=.
func unreadOnly(q url.Values) (bool, error) {
	v := q.Get("unread")
	if v == "" {
		return false, nil
	}
	unread, err := strconv.ParseBool(v)
	if err != nil {
		return false, errBadRequest("unread must be true or false")
	}
	return unread, nil
}

// maxShareCameras bounds the cameras of one invitation.
const maxShareCameras = 50

// createShareRequest is the body of POST /shares.
type createShareRequest struct {
	Email           string   `json:"email"`
	CameraDeviceIDs []string `json:"camera_device_ids"`
	Role            string   `json:"role"`
}

func (in *createShareRequest) check() error {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if !access.ValidShareRole(in.Role) {
		return errBadRequest("role must be viewer, operator or admin")
	}
	if len(in.CameraDeviceIDs) == 0 || len(in.CameraDeviceIDs) > maxShareCameras {
		return errBadRequest("camera_device_ids must list 1 to %d cameras", maxShareCameras)
	}
	seen := map[string]bool{}
	for i, v := range in.CameraDeviceIDs {
		id, err := bodyID("camera_device_ids", v)
		if err != nil {
			return err
		}
		if seen[id] {
			return errBadRequest("camera_device_ids lists %s twice", id)
		}
		seen[id] = true
		in.CameraDeviceIDs[i] = id
	}
	in.Email = email
	return nil
}

// acceptShareRequest is the body of POST /shares/accept.
type acceptShareRequest struct {
	Token string `json:"token"`
}

func (in *acceptShareRequest) check() error {
	if in.Token == "" || len(in.Token) > 256 {
		return errBadRequest("token is required")
	}
	return nil
}

// updateShareRequest is the body of PATCH /shares/{id}.
type updateShareRequest struct {
	Role string `json:"role"`
}

func (in *updateShareRequest) check() error {
	if !access.ValidShareRole(in.Role) {
		return errBadRequest("role must be viewer, operator or admin")
	}
	return nil
}

// shareFilter reads GET /shares?camera_device_id=&status= and GET /shares/received?status=.
func shareFilter(q url.Values) (camera, status string, err error) {
	if v := q.Get("camera_device_id"); v != "" {
		if camera, err = bodyID("camera_device_id", v); err != nil {
			return "", "", err
		}
	}
	switch status = q.Get("status"); status {
	case "", store.SharePending, store.ShareActive, store.ShareRevoked, store.ShareLeft:
	default:
		return "", "", errBadRequest("status must be pending, active, revoked or left")
	}
	return camera, status, nil
}
