package wire

import (
	"encoding/json"
	"time"

	"github.com/securecam/securecam/store"
)

// The resource objects of the REST API (docs/api.md); Event and Notification are also
// the data of the event and notification messages. Each From function converts a
// store row to its wire form; secrets and hub-internal columns (a user's password
// hash, a command's request id, a session's stream key, a delivery's claim) have no
// field here and never leave the hub.

// User is the user object.
type User struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	EmailVerified bool      `json:"email_verified"`
	Image         *string   `json:"image"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// FromUser converts a store row.
func FromUser(u store.User) User {
	return User{ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified, Image: u.Image,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// Device is the device object.
type Device struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Platform   string     `json:"platform"`
	AppVersion *string    `json:"app_version"`
	PushToken  *string    `json:"push_token"`
	Status     string     `json:"status"`
	IsCamera   bool       `json:"is_camera"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// RecordingMode is what the hub records of a camera's relayed stream (cameras
	// only).
	RecordingMode string `json:"recording_mode,omitempty"`
	// LiveMode is how the socket flow's viewers watch a camera: p2p, relay or auto
	// (cameras only).
	LiveMode string `json:"live_mode,omitempty"`
	// A camera's alert settings, in the REST API's device objects (not in device
	// messages): the arming modes it alerts in, its event cooldown in seconds, and until
	// when the caller muted it (null: not muted).
	ArmModes             []string   `json:"arm_modes,omitempty"`
	EventCooldownSeconds *int       `json:"event_cooldown_seconds,omitempty"`
	MutedUntil           *time.Time `json:"muted_until,omitempty"`
	// Shared is set on a camera another account shares with the caller.
	Shared *DeviceShare `json:"shared,omitempty"`
	// Watchers is how many watch a camera now (GET /devices/{id} of a camera only):
	// its live peer-to-peer sessions and the viewers of its relay publication.
	Watchers *int `json:"watchers,omitempty"`
}

// FromDevice converts a store row.
func FromDevice(d store.Device) Device {
	out := Device{ID: d.ID, UserID: d.UserID, Name: d.Name, Role: d.Role, Platform: d.Platform,
		AppVersion: d.AppVersion, PushToken: d.PushToken, Status: d.Status, IsCamera: d.IsCamera,
		LastSeenAt: d.LastSeenAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.IsCamera {
		out.RecordingMode, out.LiveMode = d.RecordingMode, d.LiveMode
	}
	return out
}

// Changes the device message announces.
const (
	DeviceCreated = "created"
	DeviceUpdated = "updated"
	DeviceDeleted = "deleted"
)

// DeviceChange is the data of the device message: a device of the account was
// created, updated (renamed) or deleted.
type DeviceChange struct {
	Change string `json:"change"`
	Device Device `json:"device"`
}

// DeviceLink is the device link object.
type DeviceLink struct {
	ID             string    `json:"id"`
	OwnerUserID    string    `json:"owner_user_id"`
	CameraDeviceID string    `json:"camera_device_id"`
	ClientDeviceID string    `json:"client_device_id"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// FromDeviceLink converts a store row.
func FromDeviceLink(l store.DeviceLink) DeviceLink {
	return DeviceLink{ID: l.ID, OwnerUserID: l.OwnerUserID, CameraDeviceID: l.CameraDeviceID,
		ClientDeviceID: l.ClientDeviceID, Status: l.Status, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
}

// Command is the command object.
type Command struct {
	ID               string          `json:"id"`
	OwnerUserID      string          `json:"owner_user_id"`
	SourceDeviceID   string          `json:"source_device_id"`
	TargetDeviceID   string          `json:"target_device_id"`
	CommandType      string          `json:"command_type"`
	Payload          json.RawMessage `json:"payload"`
	Status           string          `json:"status"`
	RetryCount       int             `json:"retry_count"`
	LastDispatchedAt *time.Time      `json:"last_dispatched_at"`
	AcknowledgedAt   *time.Time      `json:"acknowledged_at"`
	Error            *string         `json:"error"`
	ExpiresAt        time.Time       `json:"expires_at"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

// FromCommand converts a store row.
func FromCommand(c store.Command) Command {
	return Command{ID: c.ID, OwnerUserID: c.OwnerUserID, SourceDeviceID: c.SourceDeviceID,
		TargetDeviceID: c.TargetDeviceID, CommandType: c.CommandType, Payload: c.Payload, Status: c.Status,
		RetryCount: c.RetryCount, LastDispatchedAt: c.LastDispatchedAt, AcknowledgedAt: c.AcknowledgedAt,
		Error: c.Error, ExpiresAt: c.ExpiresAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// StreamSession is the stream session object.
type StreamSession struct {
	ID                string          `json:"id"`
	OwnerUserID       string          `json:"owner_user_id"`
	CameraDeviceID    string          `json:"camera_device_id"`
	RequesterDeviceID string          `json:"requester_device_id"`
	Status            string          `json:"status"`
	Reason            *string         `json:"reason"`
	MediaProvider     string          `json:"media_provider"`
	MediaSessionID    *string         `json:"media_session_id"`
	PublishEndpoint   *string         `json:"publish_endpoint"`
	SubscribeEndpoint *string         `json:"subscribe_endpoint"`
	StartedAt         *time.Time      `json:"started_at"`
	EndedAt           *time.Time      `json:"ended_at"`
	CameraAwayAt      *time.Time      `json:"camera_away_at"`
	RequesterAwayAt   *time.Time      `json:"requester_away_at"`
	Metadata          json.RawMessage `json:"metadata"`
	CreatedAt         time.Time       `json:"created_at"`
	UpdatedAt         time.Time       `json:"updated_at"`
}

// Open reports whether the session is not over (neither ended nor failed).
func (s StreamSession) Open() bool { return openStatus(s.Status) }

// FromStreamSession converts a store row.
func FromStreamSession(s store.StreamSession) StreamSession {
	return StreamSession{ID: s.ID, OwnerUserID: s.OwnerUserID, CameraDeviceID: s.CameraDeviceID,
		RequesterDeviceID: s.RequesterDeviceID, Status: s.Status, Reason: s.Reason, MediaProvider: s.MediaProvider,
		MediaSessionID: s.MediaSessionID, PublishEndpoint: s.PublishEndpoint, SubscribeEndpoint: s.SubscribeEndpoint,
		StartedAt: s.StartedAt, EndedAt: s.EndedAt, CameraAwayAt: s.CameraAwayAt, RequesterAwayAt: s.RequesterAwayAt,
		Metadata: s.Metadata, CreatedAt: s.CreatedAt,
		UpdatedAt: s.UpdatedAt}
}

// Event is the event object, and the data of the event message.
type Event struct {
	ID          string     `json:"id"`
	UserID      string     `json:"user_id"`
	DeviceID    string     `json:"device_id"`
	Title       string     `json:"title"`
	TriggeredBy string     `json:"triggered_by"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	NotifiedAt  *time.Time `json:"notified_at"`
	VideoURL    *string    `json:"video_url"`
	// Armed is false for an event its camera raised while not armed: recorded, but it
	// alerted nobody.
	Armed     bool      `json:"armed"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FromEvent converts a store row.
func FromEvent(e store.Event) Event {
	return Event{ID: e.ID, UserID: e.UserID, DeviceID: e.DeviceID, Title: e.Title, TriggeredBy: e.TriggeredBy,
		Status: e.Status, StartedAt: e.StartedAt, EndedAt: e.EndedAt, NotifiedAt: e.NotifiedAt,
		VideoURL: e.VideoURL, Armed: !e.Disarmed, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// Notification is the notification object, and the data of the notification message.
type Notification struct {
	ID      string     `json:"id"`
	EventID *string    `json:"event_id"`
	UserID  string     `json:"user_id"`
	SentAt  *time.Time `json:"sent_at"`
	Channel *string    `json:"channel"`
	Status  *string    `json:"status"`
	IsRead  bool       `json:"is_read"`
}

// FromNotification converts a store row.
func FromNotification(n store.Notification) Notification {
	return Notification{ID: n.ID, EventID: n.EventID, UserID: n.UserID, SentAt: n.SentAt, Channel: n.Channel,
		Status: n.Status, IsRead: n.IsRead}
}

// Recording is the recording object.
type Recording struct {
	ID                string     `json:"id"`
	OwnerUserID       string     `json:"owner_user_id"`
	StreamSessionID   *string    `json:"stream_session_id"`
	CameraDeviceID    string     `json:"camera_device_id"`
	RequesterDeviceID *string    `json:"requester_device_id"`
	EventID           *string    `json:"event_id"`
	ObjectKey         *string    `json:"object_key"`
	Bucket            *string    `json:"bucket"`
	ContentType       string     `json:"content_type"`
	DurationSeconds   *int       `json:"duration_seconds"`
	SizeBytes         *int64     `json:"size_bytes"`
	Status            string     `json:"status"`
	AvailableAt       *time.Time `json:"available_at"`
	Error             *string    `json:"error"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
}

// FromRecording converts a store row.
func FromRecording(r store.Recording) Recording {
	return Recording{ID: r.ID, OwnerUserID: r.OwnerUserID, StreamSessionID: r.StreamSessionID,
		CameraDeviceID: r.CameraDeviceID, RequesterDeviceID: r.RequesterDeviceID, EventID: r.EventID,
		ObjectKey: r.ObjectKey, Bucket: r.Bucket, ContentType: r.ContentType, DurationSeconds: r.DurationSeconds,
		SizeBytes: r.SizeBytes, Status: r.Status, AvailableAt: r.AvailableAt, Error: r.Error,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// AuditLog is the audit log entry object.
type AuditLog struct {
	ID            string          `json:"id"`
	OwnerUserID   *string         `json:"owner_user_id"`
	ActorDeviceID *string         `json:"actor_device_id"`
	Action        string          `json:"action"`
	TargetType    *string         `json:"target_type"`
	TargetID      *string         `json:"target_id"`
	Metadata      json.RawMessage `json:"metadata"`
	IPAddress     *string         `json:"ip_address"`
	CreatedAt     time.Time       `json:"created_at"`
}

// FromAuditLog converts a store row.
func FromAuditLog(a store.AuditLog) AuditLog {
	return AuditLog{ID: a.ID, OwnerUserID: a.OwnerUserID, ActorDeviceID: a.ActorDeviceID, Action: a.Action,
		TargetType: a.TargetType, TargetID: a.TargetID, Metadata: a.Metadata, IPAddress: a.IPAddress,
		CreatedAt: a.CreatedAt}
}
