package store

import (
	"context"
	"encoding/json"
	"time"
)

// Event statuses.
const (
	EventActive = "active"
	EventEnded  = "ended"
)

// TriggerCameraOffline is events.triggered_by of the event the hub raises when a camera
// dropped off without a clean close and stayed away.
const TriggerCameraOffline = "camera_offline"

// Notification channel and status written by the hub: a row of the user's in-app
// history, delivered to the user's online devices when it was created.
const (
	ChannelInApp     = "in_app"
	NotificationSent = "sent"
)

// Delivery (push job) types and statuses. Sent, failed and expired are terminal.
const (
	DeliveryWake  = "wake"
	DeliveryEvent = "event"

	DeliveryPending = "pending"
	DeliverySending = "sending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
	DeliveryExpired = "expired"
)

// Recording statuses.
const (
	RecordingPending   = "pending"
	RecordingAvailable = "available"
	RecordingFailed    = "failed"
)

// Event is a row of events. DeviceID is the camera that raised it (empty only for rows
// inherited without one). StartedAt falls back to CreatedAt for inherited rows without
// it. NotifiedAt is set when the event's alerts went out; an event inside its camera's
// cooldown keeps it nil. VideoURL is set once a recording of it is available.
// Disarmed is set on an event its camera raised while not armed (column armed false):
// it alerts nobody.
type Event struct {
	ID          string
	UserID      string
	DeviceID    string
	Title       string
	TriggeredBy string
	Status      string
	StartedAt   time.Time
	EndedAt     *time.Time
	NotifiedAt  *time.Time
	VideoURL    *string
	Disarmed    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// EventFilter narrows ListEvents. Empty fields match everything; Since keeps the
// events that started at or after it.
type EventFilter struct {
	DeviceID string
	Since    time.Time
}

// Notification is a row of notifications: one entry of a user's history. The table has
// no creation time; its UUID v7 id orders it.
type Notification struct {
	ID      string
	EventID *string
	UserID  string
	SentAt  *time.Time
	Channel *string
	Status  *string
	IsRead  bool
}

// Delivery is a row of notification_deliveries: one push to one device. Payload is the
// push as the wire contract spells it ({"securecam": {…}}, plus "title" and "body" for
// an event). ExpiresAt, ClaimedBy and ClaimedUntil are columns the hub adds; a job
// created by the hub always has ExpiresAt and NextAttemptAt.
type Delivery struct {
	ID                string
	OwnerUserID       string
	RecipientDeviceID string
	Type              string
	Payload           json.RawMessage
	Status            string
	Attempts          int
	LastError         *string
	SentAt            *time.Time
	NextAttemptAt     time.Time
	ExpiresAt         time.Time
	ClaimedBy         *string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// DeliveryOutcome is how an attempt at a claimed job ended.
type DeliveryOutcome struct {
	// Status is DeliverySent, DeliveryFailed, DeliveryExpired, or DeliveryPending to
	// retry at RetryAt.
	Status  string
	RetryAt time.Time
	// Error is the attempt's error (nil for a sent job: last_error is then cleared).
	Error *string
	// At is when the attempt ended (sent_at of a sent job).
	At time.Time
}

// Recording is a row of recordings: a clip a camera uploads. ContentType is a column
// the hub adds. ObjectKey names the clip in the recordings storage once an upload
// completed (from the start for an upload straight to the bucket); Bucket names that
// storage ("local" for the data directory, else the S3 bucket). SizeBytes of a pending
// recording is the size declared for an upload straight to the bucket.
type Recording struct {
	ID                string
	OwnerUserID       string
	StreamSessionID   *string
	CameraDeviceID    string
	RequesterDeviceID *string
	EventID           *string
	ObjectKey         *string
	Bucket            *string
	ContentType       string
	DurationSeconds   *int
	SizeBytes         *int64
	Status            string
	AvailableAt       *time.Time
	Error             *string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// LocalBucket is the bucket of clips in the hub's data directory; a recording whose
// bucket is empty (NULL) counts as in it.
const LocalBucket = "local"

// RecordingMissing is the error of a recording whose clip was found missing from its
// storage (status failed; its object key and bucket are kept, and it becomes available
// again if the clip reappears).
const RecordingMissing = "the clip is missing from storage"

// ObjectRef names a stored object.
type ObjectRef struct {
	Bucket, Key string
}

// RecordingFilter narrows ListRecordings. Empty fields match everything.
type RecordingFilter struct {
	CameraDeviceID string
	EventID        string
}

// RecordingUpload is the outcome of an upload: Status RecordingAvailable with the
// object key, bucket and size, or RecordingFailed with Error.
type RecordingUpload struct {
	Status    string
	ObjectKey string
	Bucket    string
	SizeBytes int64
	// DurationSeconds, when set, replaces duration_seconds (a clip the hub recorded).
	DurationSeconds *int
	Error           string
	At              time.Time
}

// PruneCutoffs says what Prune deletes: the rows older than each non-zero cutoff.
type PruneCutoffs struct {
	// Recordings created before (any status). Their object keys are returned so the
	// caller deletes the files.
	Recordings time.Time
	// Events created before (their notifications go with them).
	Events time.Time
	// Commands that are acknowledged, failed or expired, last updated before.
	Commands time.Time
	// Stream sessions that ended or failed, last updated before.
	StreamSessions time.Time
	// Deliveries that are sent, failed or expired, last updated before.
	Deliveries time.Time
	// Audit log rows created before.
	AuditLogs time.Time
	// Verification rows (reset and e-mail tokens, WebSocket tickets) that expired
	// before: they can no longer be used.
	Verifications time.Time
}

// CameraOfflineCheck is a pending camera_offline alert: the camera dropped off without a
// clean close at DroppedAt, and unless it came back, camera_offline is raised at DueAt.
type CameraOfflineCheck struct {
	DeviceID  string
	DroppedAt time.Time
	DueAt     time.Time
}

// PruneResult counts what Prune deleted and lists the deleted recordings.
type PruneResult struct {
	Recordings                                                             []Recording
	Events, Commands, StreamSessions, Deliveries, AuditLogs, Verifications int64
}

// EventStore is the persistence of events, notifications, push jobs, recordings and
// retention. It is part of [Store].
type EventStore interface {
	// CreateEvent inserts e (status active unless set; StartedAt defaults to CreatedAt).
	// ErrNotFound unless e.DeviceID is a device of e.UserID.
	CreateEvent(ctx context.Context, e *Event) error
	Event(ctx context.Context, id string) (Event, error)
	ListEvents(ctx context.Context, userID string, f EventFilter, p Page) (items []Event, nextCursor string, err error)
	// EndEvent sets an active event ended at endedAt; an ended event is returned
	// unchanged.
	EndEvent(ctx context.Context, id string, endedAt time.Time) (Event, error)
	// ClaimEventNotification sets the event's notified_at to at and reports true,
	// unless another event of the same device and trigger was notified within cooldown
	// before at (or the event was notified already): then it changes nothing and
	// reports false. Concurrent claims for one device are serialised, so a burst of
	// events yields one notification per cooldown, cluster-wide.
	ClaimEventNotification(ctx context.Context, id string, at time.Time, cooldown time.Duration) (bool, error)
	// SetEventVideoURL sets the event's video_url. ErrConflict if another event has it.
	SetEventVideoURL(ctx context.Context, id, url string) error
	// ScheduleCameraOffline records c, replacing the device's earlier check if any.
	// ErrNotFound if the device does not exist.
	ScheduleCameraOffline(ctx context.Context, c CameraOfflineCheck) error
	// ClaimCameraOffline claims up to limit checks due at now, oldest drop first: the
	// DueAt of each claimed check moves to now+lease, after which another caller may
	// claim it again if this one never finishes it. A check is claimed by one caller at
	// a time, across replicas.
	ClaimCameraOffline(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]CameraOfflineCheck, error)
	// FinishCameraOffline deletes the device's check if it is still the one of the drop
	// at droppedAt (a later drop replaced it otherwise). None is not an error.
	FinishCameraOffline(ctx context.Context, deviceID string, droppedAt time.Time) error

	// CreateNotification inserts n. ErrNotFound if the user or event does not exist.
	CreateNotification(ctx context.Context, n *Notification) error
	// ListNotifications lists the user's notifications, only the unread ones when
	// unreadOnly.
	ListNotifications(ctx context.Context, userID string, unreadOnly bool, p Page) (items []Notification, nextCursor string, err error)
	// MarkNotificationRead sets is_read on the user's notification; ErrNotFound if it
	// is not the user's.
	MarkNotificationRead(ctx context.Context, id, userID string) error

	// EnqueueDelivery inserts d as a pending job (NextAttemptAt defaults to CreatedAt;
	// ExpiresAt is required) and reports true. When dedupe > 0 and a job of the same
	// type for the same recipient was created within dedupe before d.CreatedAt, nothing
	// is inserted and it reports false; concurrent calls for one recipient are
	// serialised, so this holds across replicas. ErrNotFound unless the recipient is a
	// device of d.OwnerUserID.
	EnqueueDelivery(ctx context.Context, d *Delivery, dedupe time.Duration) (bool, error)
	Delivery(ctx context.Context, id string) (Delivery, error)
	// ListDeliveries lists the jobs for a recipient device, newest first.
	ListDeliveries(ctx context.Context, recipientDeviceID string, p Page) (items []Delivery, nextCursor string, err error)
	// ClaimDeliveries claims up to limit jobs that are due at now — pending with
	// next_attempt_at <= now, or sending with a lapsed lease — oldest due first. Each
	// claimed job becomes sending, claimed by worker, its attempts incremented and its
	// next_attempt_at moved to now+lease: the lease after which another worker may
	// claim it again if this one never finishes it. A job is claimed by one caller at a
	// time, across replicas (PostgreSQL: FOR UPDATE SKIP LOCKED).
	ClaimDeliveries(ctx context.Context, worker string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery records the outcome of the attempt of job id that worker claimed as
	// attempt number attempt. ErrConflict if that claim is no longer current (the lease
	// lapsed and the job was claimed again, or it was finished).
	FinishDelivery(ctx context.Context, id, worker string, attempt int, o DeliveryOutcome) (Delivery, error)

	// CreateRecording inserts r as pending, with r.ObjectKey, r.Bucket and r.SizeBytes
	// when set (an upload straight to the bucket names its object from the start).
	// ErrNotFound unless the camera, and the event, stream session and requester when
	// given, belong to r.OwnerUserID (the event must also be the camera's).
	CreateRecording(ctx context.Context, r *Recording) error
	Recording(ctx context.Context, id string) (Recording, error)
	ListRecordings(ctx context.Context, ownerUserID string, f RecordingFilter, p Page) (items []Recording, nextCursor string, err error)
	// FinishRecordingUpload moves a pending recording to u.Status. ErrConflict if it is
	// no longer pending.
	FinishRecordingUpload(ctx context.Context, id string, u RecordingUpload) (Recording, error)
	// ListRecordingObjects lists the recordings (any status) whose object is in bucket
	// (LocalBucket includes the recordings without a bucket), in byte order of their
	// object keys, starting after afterKey, at most limit.
	ListRecordingObjects(ctx context.Context, bucket, afterKey string, limit int) ([]Recording, error)
	// SetRecordingMissing marks an available recording whose object key is key as failed
	// with RecordingMissing (missing true), or makes such a recording available again
	// (missing false). It reports whether the recording changed.
	SetRecordingMissing(ctx context.Context, id, key string, missing bool, at time.Time) (bool, error)
	// MoveRecordingObject makes the recording name the object to instead of from
	// (LocalBucket matches a recording without a bucket). ErrConflict if it no longer
	// names from.
	MoveRecordingObject(ctx context.Context, id string, from, to ObjectRef, at time.Time) error
	// DeleteRecording deletes the recording and returns it: the caller deletes the file
	// its object key names. The video_url of its event is cleared when it names the
	// recording (contains its id). ErrNotFound if absent.
	DeleteRecording(ctx context.Context, id string) (Recording, error)
	// RecordingBytes is the sum of size_bytes over the owner's recordings: the storage
	// the account uses (0 with none).
	RecordingBytes(ctx context.Context, ownerUserID string) (int64, error)
	// DeleteOldestRecordings deletes up to limit recordings whose clip is stored in
	// bucket (LocalBucket includes the recordings without a bucket), oldest created
	// first, and returns them, as DeleteRecording does. Concurrent callers delete
	// distinct recordings.
	DeleteOldestRecordings(ctx context.Context, bucket string, limit int) ([]Recording, error)

	// Prune deletes old rows as cutoffs says, in batches of batch rows (0: 1000).
	Prune(ctx context.Context, cutoffs PruneCutoffs, batch int) (PruneResult, error)
	// AcquireLease takes or renews the named lease for holder until now+ttl and reports
	// whether holder has it: it is free, lapsed, or already holder's. One holder at a
	// time across replicas.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
}
