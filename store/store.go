// Package store is SecureCam's data model and its persistence.
//
// The types mirror the tables of the seed schema (same names) and carry no wire tags:
// their JSON form is signaling/wire's, which converts at the edge. Two
// implementations satisfy [Store]: store/sqlite (embedded mode) and store/postgres
// (cluster mode); store/storetest is the conformance suite both pass.
//
// Concurrency: a Store is safe for concurrent use by any number of goroutines. Methods
// block on I/O and honour their context. Every method returns [ErrNotFound] when the row
// it names does not exist (or is soft-deleted; an id that is not a UUID names no row),
// [ErrConflict] when a uniqueness rule or a state-machine precondition refuses the write,
// [ErrUnavailable] when the database cannot be reached (a retry later may succeed), and
// wraps every other error. Lists and look-ups keyed by a parent (a user's devices,
// a device's links) return nothing rather than ErrNotFound when the parent is unknown.
//
// Create methods fill an empty ID with a UUID v7, a zero CreatedAt with the current
// time, and UpdatedAt with CreatedAt. Times are stored with microsecond precision and
// returned in UTC. Lists are newest first (ids are UUID v7, so id order is time order).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	// ErrInvalidCursor is returned by lists given a Page.Cursor they did not issue.
	ErrInvalidCursor = errors.New("store: invalid cursor")
	// ErrUnavailable: the database could not be reached (down, restarting, refusing
	// connections, or the connection was lost). Nothing was decided; retry later.
	ErrUnavailable = errors.New("store: unavailable")
)

// Device roles and statuses.
const (
	RoleCamera = "camera"
	RoleViewer = "viewer"

	DeviceOnline  = "online"
	DeviceOffline = "offline"
)

// Link statuses.
const (
	LinkActive  = "active"
	LinkRevoked = "revoked"
)

// Command statuses. Acknowledged, failed and expired are terminal.
const (
	CommandPending      = "pending"
	CommandDispatched   = "dispatched"
	CommandAcknowledged = "acknowledged"
	CommandFailed       = "failed"
	CommandExpired      = "expired"
)

// ProviderCredential is account.provider_id for e-mail + password accounts (Better Auth).
const ProviderCredential = "credential"

// VerificationPasswordReset is the kind of a password-reset token: its verification
// identifier is "password-reset:<user id>". SetPassword deletes every one of the user's.
const VerificationPasswordReset = "password-reset"

// BetterAuthPasswordReset is the kind of the password-reset tokens a Better Auth server
// issued: identifier "reset-password:<token>", value the user id. SetPassword deletes
// the user's too.
const BetterAuthPasswordReset = "reset-password"

// User is a row of users. PasswordHash mirrors account.password and never leaves the hub.
type User struct {
	ID            string
	Email         string
	Name          string
	PasswordHash  string
	EmailVerified bool
	Image         *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Session is a row of session. TokenHash is stored in the column token: the plain token
// is shown to the client once and never stored, except by a Better Auth server sharing
// the database (and by the hub when it shares it too), which keeps the raw token there.
// A hash is always 64 lower-case hex characters; a raw token never is.
type Session struct {
	ID        string
	TokenHash string
	UserID    string
	ExpiresAt time.Time
	IPAddress string
	UserAgent string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UserUpdate changes the fields that are non-nil. An empty Image clears it.
type UserUpdate struct {
	Name  *string
	Image *string
}

// Verification is a row of verification: Identifier says what it verifies (for example
// "email-verification:<user id>" or "password-reset:<user id>"), ValueHash is the hash
// of the single-use token (column value).
type Verification struct {
	ID         string
	Identifier string
	ValueHash  string
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Device is a row of devices. Status and LastSeenAt are the durable presence record.
// IsCamera follows Role (set by CreateDevice).
type Device struct {
	ID         string
	UserID     string
	Name       string
	Role       string
	Platform   string
	AppVersion *string
	PushToken  *string
	Status     string
	IsCamera   bool
	LastSeenAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// RecordingMode is what the hub records of a camera's relayed stream
	// (RecordingMode*; RecordingModeEvents unless set).
	RecordingMode string
	// LiveMode is how the socket flow's viewers watch a camera (LiveMode*;
	// LiveModeAuto unless set).
	LiveMode string
}

// Live modes of a camera (devices.live_mode): peer to peer only, always through the
// hub's relay, or peer to peer for the first viewer and the relay for the others.
const (
	LiveModeP2P   = "p2p"
	LiveModeRelay = "relay"
	LiveModeAuto  = "auto"
)

// Recording modes of a camera (devices.recording_mode).
const (
	RecordingModeOff        = "off"
	RecordingModeEvents     = "events"
	RecordingModeContinuous = "continuous"
)

// DeviceUpdate changes the fields that are non-nil. An empty PushToken clears it.
type DeviceUpdate struct {
	Name          *string
	PushToken     *string
	AppVersion    *string
	RecordingMode *string
	LiveMode      *string
}

// DeviceLink is a row of device_links: a viewer (client) allowed to reach a camera.
type DeviceLink struct {
	ID             string
	OwnerUserID    string
	CameraDeviceID string
	ClientDeviceID string
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Command is a row of commands. RequestID (the sender's envelope id) and ExpiresAt are
// columns the hub adds to the seed schema. ExpiresAt is required by CreateCommand. A
// command's RequestID is set to nil when a later command of the same source reuses the
// request id after the dedupe window. AcknowledgedAt is the time the target acknowledged
// it, set only on an acknowledged command (a failed one has its time in UpdatedAt).
type Command struct {
	ID               string
	OwnerUserID      string
	SourceDeviceID   string
	TargetDeviceID   string
	CommandType      string
	Payload          json.RawMessage
	Status           string
	RetryCount       int
	LastDispatchedAt *time.Time
	AcknowledgedAt   *time.Time
	Error            *string
	RequestID        *string
	ExpiresAt        time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// CommandCompletion is a target's answer to a command: status acknowledged or failed.
type CommandCompletion struct {
	ID, TargetDeviceID, Status string
	Error                      *string
}

// CommandFilter narrows ListCommands. Empty fields match everything.
type CommandFilter struct {
	DeviceID string // source or target
	Status   string
}

// AuditLog is a row of audit_logs.
type AuditLog struct {
	ID            string
	OwnerUserID   *string
	ActorDeviceID *string
	Action        string
	TargetType    *string
	TargetID      *string
	Metadata      json.RawMessage
	IPAddress     *string
	CreatedAt     time.Time
}

// Page asks for one page of a list, newest first. Limit is clamped to 1..200 (0 means
// 50); Cursor is the NextCursor of the previous page, or empty for the first. A list
// returns nextCursor "" on its last page, and ErrInvalidCursor for a foreign cursor.
type Page struct {
	Limit  int
	Cursor string
}

// Store is the whole persistence surface. Consumers declare the subset they use.
type Store interface {
	StreamStore
	EventStore
	ArmingStore
	ShareStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error

	// CreateUser inserts the user and its credential account (account.password =
	// u.PasswordHash) in one transaction. ErrConflict if the e-mail (case-insensitive)
	// is taken. Fills ID (UUID v7 when empty) and the timestamps.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// CredentialPassword returns account.password of the user's credential account.
	CredentialPassword(ctx context.Context, userID string) (string, error)
	// SetPassword updates account.password and users.password_hash together and, in the
	// same transaction, deletes every outstanding password-reset verification of the user
	// (identifier "password-reset:<user id>", and Better Auth's "reset-password:<token>"
	// whose value is the user id): a new password voids the links sent before.
	SetPassword(ctx context.Context, userID, hash string) error
	SetEmailVerified(ctx context.Context, userID string) error
	// UpdateUser applies the non-nil fields and returns the user.
	UpdateUser(ctx context.Context, id string, u UserUpdate) (User, error)

	// CreateSession inserts s. ErrNotFound if the user does not exist, ErrConflict if
	// the token hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash returns the session even if expired: the caller checks ExpiresAt.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, error)
	// SessionByID returns the session even if expired.
	SessionByID(ctx context.Context, id string) (Session, error)
	// ListUserSessions lists every session of the user, expired ones included, newest
	// first; none for an unknown user.
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)
	// HashRawSessionTokens replaces every session.token that is not a hash (64
	// lower-case hex characters) by hash(token), and returns how many it replaced. A
	// token changed meanwhile by someone else is left to them.
	HashRawSessionTokens(ctx context.Context, hash func(token string) string) (int, error)
	// ExtendSession moves expires_at forward (sliding renewal).
	ExtendSession(ctx context.Context, id string, expiresAt time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions deletes every session of the user; none is not an error.
	DeleteUserSessions(ctx context.Context, userID string) error
	// SessionUsers returns, for each of ids that names a session unexpired at now, the
	// session's user id (keyed by session id). Ids naming nothing are left out.
	SessionUsers(ctx context.Context, ids []string, now time.Time) (map[string]string, error)

	CreateVerification(ctx context.Context, v *Verification) error
	// ConsumeVerification deletes and returns the unexpired row with this identifier
	// and value hash: a token works once. ErrNotFound otherwise.
	ConsumeVerification(ctx context.Context, identifier, valueHash string, now time.Time) (Verification, error)
	// ListVerifications returns the rows with this identifier that have not expired at
	// now, without consuming them.
	ListVerifications(ctx context.Context, identifier string, now time.Time) ([]Verification, error)

	// CreateDevice inserts the device with the hash of its device token (empty: none).
	// Status defaults to offline. A push token given here is removed from every other
	// device that held it. ErrNotFound if the user does not exist, ErrConflict if the
	// token hash is taken.
	CreateDevice(ctx context.Context, d *Device, tokenHash string) error
	Device(ctx context.Context, id string) (Device, error)
	DeviceByTokenHash(ctx context.Context, tokenHash string) (Device, error)
	// DeviceUsers returns, for each of ids that names a device not deleted, the device's
	// user id (keyed by device id). Ids naming nothing are left out.
	DeviceUsers(ctx context.Context, ids []string) (map[string]string, error)
	ListDevices(ctx context.Context, userID string, p Page) (items []Device, nextCursor string, err error)
	// UpdateDevice applies the non-nil fields; a new push token is removed from every
	// other device that held it, in the same transaction.
	UpdateDevice(ctx context.Context, id string, u DeviceUpdate) (Device, error)
	// DeleteDevice soft-deletes the device (it is ErrNotFound from then on), clears its
	// token hash and push token, and revokes its links. Returns the revoked links.
	DeleteDevice(ctx context.Context, id string) ([]DeviceLink, error)
	// SetDevicePresence records status and last_seen_at.
	SetDevicePresence(ctx context.Context, id, status string, lastSeen time.Time) error
	// MarkAllDevicesOffline sets every online device offline (embedded start).
	MarkAllDevicesOffline(ctx context.Context, at time.Time) error
	// ClearPushToken removes the device's push token if it still equals token (no error
	// if it does not).
	ClearPushToken(ctx context.Context, deviceID, token string) error

	// CreateLink inserts an active link. ErrNotFound unless both devices exist and
	// belong to l.OwnerUserID (or the camera is shared with l.OwnerUserID by an
	// active share: an invitee links their own viewers to a shared camera); ErrConflict if an active link between the same camera
	// and client exists.
	CreateLink(ctx context.Context, l *DeviceLink) error
	Link(ctx context.Context, id string) (DeviceLink, error)
	// ListLinks lists the owner's links, active and revoked.
	ListLinks(ctx context.Context, ownerUserID string, p Page) (items []DeviceLink, nextCursor string, err error)
	// RevokeLink sets status revoked; ErrNotFound if absent, no error if already revoked.
	RevokeLink(ctx context.Context, id string) (DeviceLink, error)
	// LinkedDeviceIDs lists the devices with an active link to deviceID, either side.
	LinkedDeviceIDs(ctx context.Context, deviceID string) ([]string, error)
	// Linked reports whether an active link joins a and b, either side.
	Linked(ctx context.Context, a, b string) (bool, error)

	// CreateCommand inserts c (status pending). When c.RequestID is set and the same
	// source device created a command with that request id within dedupeWindow (before
	// c.CreatedAt, or now), that command is returned in *c with created=false and
	// nothing is inserted. ErrNotFound unless both devices exist and belong to
	// c.OwnerUserID, or the target is a camera shared with c.OwnerUserID by an
	// active share (the command's owner is the user who sent it).
	CreateCommand(ctx context.Context, c *Command, dedupeWindow time.Duration) (created bool, err error)
	// CreateLinkedCommands is the group commit of CreateCommand: in one statement it
	// inserts each command of cs whose source and target are devices of its owner
	// joined by an active link and whose request id (when set) is not taken, filling it
	// in as CreateCommand does; inserted[i] reports cs[i]. The others are untouched:
	// CreateCommand tells a missing device from a repeated request. A command whose
	// Status is dispatched (its caller hands it to the target as soon as it commits) is
	// inserted dispatched, as MarkCommandsDispatched at its CreatedAt would leave it;
	// any other Status is inserted pending.
	CreateLinkedCommands(ctx context.Context, cs []*Command) (inserted []bool, err error)
	Command(ctx context.Context, id string) (Command, error)
	ListCommands(ctx context.Context, ownerUserID string, f CommandFilter, p Page) (items []Command, nextCursor string, err error)
	// DeliverableCommands lists the target's pending or dispatched commands that have
	// not expired at now, oldest first.
	DeliverableCommands(ctx context.Context, targetDeviceID string, now time.Time) ([]Command, error)
	// DeliverableCommandsTo is DeliverableCommands for many targets at once, oldest
	// first.
	DeliverableCommandsTo(ctx context.Context, targetDeviceIDs []string, now time.Time) ([]Command, error)
	// CommandsChangedSince lists the commands sent by any of sourceDeviceIDs that have
	// left pending and were last updated at or after since, oldest update first: the
	// statuses their senders may have missed.
	CommandsChangedSince(ctx context.Context, sourceDeviceIDs []string, since time.Time) ([]Command, error)
	// MarkCommandDispatched sets status dispatched (if pending or dispatched),
	// retry_count+1 and last_dispatched_at. ErrConflict if the command is terminal.
	MarkCommandDispatched(ctx context.Context, id string, at time.Time) (Command, error)
	// MarkCommandsDispatched is MarkCommandDispatched for many commands in one
	// statement. It returns, by id, the commands it changed and, as they are, those
	// that are terminal (where MarkCommandDispatched says ErrConflict); a missing one is
	// absent.
	MarkCommandsDispatched(ctx context.Context, ids []string, at time.Time) (map[string]Command, error)
	// CompleteCommand moves a pending or dispatched command of that target to status
	// (acknowledged or failed) with errText; at is its acknowledged_at when acknowledged
	// (a failed command keeps acknowledged_at nil) and its updated_at. A repeat of the same completion returns
	// the command unchanged; ErrConflict if it is terminal otherwise.
	CompleteCommand(ctx context.Context, id, targetDeviceID, status string, errText *string, at time.Time) (Command, error)
	// CompleteCommands is CompleteCommand for many commands in one statement (each id
	// at most once). It returns the commands it completed, by id; one that is absent
	// (missing, of another target, terminal, or a repeat) is left to CompleteCommand.
	CompleteCommands(ctx context.Context, cs []CommandCompletion, at time.Time) (map[string]Command, error)
	// ExpireCommands marks every pending or dispatched command with expires_at <= now
	// as expired and returns them.
	ExpireCommands(ctx context.Context, now time.Time) ([]Command, error)

	// InitSetting stores value under name unless a value is stored there already, and
	// returns the stored one: the first replica to initialise a setting decides it for
	// all (the hub's VAPID key pair). Name and value must not be empty.
	InitSetting(ctx context.Context, name, value string) (string, error)

	AddAuditLog(ctx context.Context, a *AuditLog) error
	ListAuditLogs(ctx context.Context, ownerUserID string, p Page) (items []AuditLog, nextCursor string, err error)
}
