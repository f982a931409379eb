package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/securecam/securecam/store"
)

// QueueStore is the part of the store a [Queue] uses.
type QueueStore interface {
	Device(ctx context.Context, id string) (store.Device, error)
	EnqueueDelivery(ctx context.Context, d *store.Delivery, dedupe time.Duration) (bool, error)
}

// QueueConfig configures a [Queue]. Only Store is required.
type QueueConfig struct {
	Store QueueStore
	// WakeInterval is the shortest time between two wake pushes to one device, across
	// all replicas (the store serialises the check). Default 30 s.
	WakeInterval time.Duration
	// WakeTTL is how long a wake push is worth delivering. Default [WakeTTL].
	WakeTTL time.Duration
	// EventTTL is how long an event alert is worth delivering. Default [EventTTL].
	EventTTL time.Duration
	// Notify is called after a job was queued, to start sending at once (the local
	// [Worker.Notify]); other replicas find the job when they poll. Nil: nobody.
	Notify func()
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Queue turns wake-ups and event alerts into push jobs (notification_deliveries rows)
// for the delivery [Worker]. It implements the signaling package's Waker and Alerter.
//
// A job is queued only for a device that can receive a push: an ios or android device
// with a push token, or for an alert a web device with a Web Push subscription. The token and platform are read again when the job is sent, so a
// token that changes meanwhile is the one used.
type Queue struct {
	cfg QueueConfig
	log *slog.Logger
}

// NewQueue returns a Queue.
func NewQueue(cfg QueueConfig) (*Queue, error) {
	if cfg.Store == nil {
		return nil, errors.New("push: QueueConfig.Store is required")
	}
	if cfg.WakeInterval <= 0 {
		cfg.WakeInterval = 30 * time.Second
	}
	if cfg.WakeTTL <= 0 {
		cfg.WakeTTL = WakeTTL
	}
	if cfg.EventTTL <= 0 {
		cfg.EventTTL = EventTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{cfg: cfg, log: cfg.Logger}, nil
}

// payload is the stored form of a job: the wire contract's push, {"securecam": {…}}
// plus title and body for an event.
type payload struct {
	SecureCam securecamObject `json:"securecam"`
	Title     string          `json:"title,omitempty"`
	Body      string          `json:"body,omitempty"`
}

// Wake queues a wake push for deviceID with reason ("command" or "stream_request"),
// unless the device cannot receive one or was sent a wake within the wake interval.
// It returns nil in those cases too: a wake is best effort.
func (q *Queue) Wake(ctx context.Context, deviceID, reason string) error {
	if reason != WakeCommand && reason != WakeStreamRequest {
		return fmt.Errorf("%w: wake reason %q", ErrInvalidMessage, reason)
	}
	d, ok, err := q.recipient(ctx, deviceID, false)
	if err != nil || !ok {
		return err
	}
	p := payload{SecureCam: securecamObject{Type: KindWake, Reason: reason, DeviceID: d.ID}}
	queued, err := q.enqueue(ctx, d, store.DeliveryWake, p, q.cfg.WakeTTL, q.cfg.WakeInterval)
	if err != nil {
		return fmt.Errorf("wake %s: %w", deviceID, err)
	}
	if !queued {
		q.log.DebugContext(ctx, "wake-up skipped: one was sent within the wake interval", "device_id", deviceID, "reason", reason)
	}
	return nil
}

// Alert queues an alert push about event e for the viewer deviceID, titled with the
// event's title, body as its text. A device that cannot receive a push gets none.
func (q *Queue) Alert(ctx context.Context, deviceID string, e store.Event, body string) error {
	d, ok, err := q.recipient(ctx, deviceID, true)
	if err != nil || !ok {
		return err
	}
	p := payload{SecureCam: securecamObject{Type: KindEvent, EventID: e.ID}, Title: e.Title, Body: body}
	if _, err := q.enqueue(ctx, d, store.DeliveryEvent, p, q.cfg.EventTTL, 0); err != nil {
		return fmt.Errorf("alert %s: %w", deviceID, err)
	}
	return nil
}

// recipient loads the device and reports whether it can receive a push: a phone, or
// for an alert also a browser (a browser cannot be woken).
func (q *Queue) recipient(ctx context.Context, deviceID string, alert bool) (store.Device, bool, error) {
	d, err := q.cfg.Store.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("push recipient %s: %w", deviceID, err)
	}
	if d.PushToken == nil || *d.PushToken == "" {
		q.log.DebugContext(ctx, "no push: the device has no push token", "device_id", deviceID)
		return d, false, nil
	}
	if d.Platform != PlatformIOS && d.Platform != PlatformAndroid && !(alert && d.Platform == PlatformWeb) {
		q.log.DebugContext(ctx, "no push: the platform has no push service", "device_id", deviceID, "platform", d.Platform)
		return d, false, nil
	}
	return d, true, nil
}

func (q *Queue) enqueue(ctx context.Context, d store.Device, typ string, p payload, ttl, dedupe time.Duration) (bool, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	now := q.cfg.Now().UTC()
	job := store.Delivery{
		OwnerUserID:       d.UserID,
		RecipientDeviceID: d.ID,
		Type:              typ,
		Payload:           raw,
		CreatedAt:         now,
		NextAttemptAt:     now,
		ExpiresAt:         now.Add(ttl),
	}
	queued, err := q.cfg.Store.EnqueueDelivery(ctx, &job, dedupe)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // the device was deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	if queued {
		q.log.DebugContext(ctx, "push queued", "delivery_id", job.ID, "device_id", d.ID, "type", typ)
		if q.cfg.Notify != nil {
			q.cfg.Notify()
		}
	}
	return queued, nil
}
