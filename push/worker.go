package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/store"
)

// WorkerStore is the part of the store a [Worker] uses.
type WorkerStore interface {
	Device(ctx context.Context, id string) (store.Device, error)
	ClearPushToken(ctx context.Context, deviceID, token string) error
	ClaimDeliveries(ctx context.Context, worker string, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error)
	FinishDelivery(ctx context.Context, id, worker string, attempt int, o store.DeliveryOutcome) (store.Delivery, error)
}

// WorkerConfig configures a [Worker]. Store and Provider are required.
type WorkerConfig struct {
	Store    WorkerStore
	Provider Provider
	Logger   *slog.Logger
	// ID names this worker in the jobs it claims (claimed_by). Default: the host name
	// and a random suffix.
	ID string
	// Concurrency is how many pushes are sent at once. Default 8.
	Concurrency int
	// PollInterval is how often the queue is read when no job was announced through
	// Notify (jobs queued by other replicas, retries coming due). Default 2 s.
	PollInterval time.Duration
	// Lease is how long a claimed job stays with this worker; if the worker dies
	// before finishing it, another one claims it after the lease. It must exceed the
	// longest send (10 s). Default 1 min.
	Lease time.Duration
	// MaxAttempts: a job still failing with retryable errors after this many attempts
	// fails. Default 10.
	MaxAttempts int
	// Now is the clock the queue is read with (due times, backoff, expiry). Default
	// time.Now.
	Now func() time.Time
	// Registerer receives the worker's metrics. Nil: not registered.
	Registerer prometheus.Registerer
}

// Worker sends the jobs of the push queue: it claims due jobs, sends each through the
// Provider and records the outcome. Retryable failures are retried with [Backoff]
// (honouring Retry-After) until the job expires or runs out of attempts; a dead token
// is cleared from its device and the job fails; other permanent errors fail the job
// and are logged as errors. A job past its expiry is dropped as expired.
//
// Any number of workers, on any number of replicas, may share one queue: each attempt
// of a job is made by the one worker whose claim holds.
type Worker struct {
	cfg    WorkerConfig
	log    *slog.Logger
	notify chan struct{}

	outcomes *prometheus.CounterVec
}

// NewWorker returns a Worker; [Worker.Run] starts it.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Store == nil || cfg.Provider == nil {
		return nil, errors.New("push: WorkerConfig.Store and Provider are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ID == "" {
		cfg.ID = defaultWorkerID()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Worker{
		cfg:    cfg,
		log:    cfg.Logger.With("worker", cfg.ID),
		notify: make(chan struct{}, 1),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_push_attempts_total",
			Help: "Push delivery attempts by job type and outcome (sent, retry, failed, token_invalid, expired).",
		}, []string{"type", "outcome"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(w.outcomes); err != nil {
			return nil, fmt.Errorf("push: register metrics: %w", err)
		}
	}
	return w, nil
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Notify tells the worker a job is due now. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// finishTimeout bounds the store calls of one job, which run to completion even
// during shutdown so that an attempt made is an attempt recorded.
const finishTimeout = 30 * time.Second

// Run claims and sends jobs until ctx ends, then stops claiming and waits for the
// sends in flight and their outcomes to be recorded (drain). It returns nil.
func (w *Worker) Run(ctx context.Context) error {
	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		free := cap(slots) - len(slots) // only this goroutine fills slots
		more := false
		if free > 0 {
			jobs, err := w.cfg.Store.ClaimDeliveries(ctx, w.cfg.ID, w.cfg.Now().UTC(), w.cfg.Lease, free)
			if err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "claim push jobs", "err", err)
			}
			for _, d := range jobs {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots; w.Notify() }() // a free slot: look for more
					w.process(context.WithoutCancel(ctx), d)
				})
			}
			more = len(jobs) == free
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.notify:
		case <-poll.C:
		}
	}
}

// process makes one attempt at a claimed job and records its outcome.
func (w *Worker) process(ctx context.Context, d store.Delivery) {
	log := w.log.With("delivery_id", d.ID, "device_id", d.RecipientDeviceID, "type", d.Type, "attempt", d.Attempts)
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(ctx, "panic sending a push", "panic", fmt.Sprint(p))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, sendTimeout+finishTimeout)
	defer cancel()

	outcome, label := w.attempt(ctx, log, d)
	w.outcomes.WithLabelValues(d.Type, label).Inc()
	if _, err := w.cfg.Store.FinishDelivery(ctx, d.ID, w.cfg.ID, d.Attempts, outcome); err != nil {
		if errors.Is(err, store.ErrConflict) {
			log.WarnContext(ctx, "push outcome not recorded: the claim lapsed and another worker took the job", "outcome", label)
			return
		}
		log.ErrorContext(ctx, "record push outcome", "outcome", label, "err", err)
	}
}

// attempt sends d and returns the outcome to record and its metrics label.
func (w *Worker) attempt(ctx context.Context, log *slog.Logger, d store.Delivery) (store.DeliveryOutcome, string) {
	if !w.cfg.Now().Before(d.ExpiresAt) {
		log.InfoContext(ctx, "push expired before it was sent")
		return w.outcome(store.DeliveryExpired, "expired before it was sent"), "expired"
	}
	m, err := decodeJob(d)
	if err != nil {
		log.ErrorContext(ctx, "push job unreadable", "err", err)
		return w.outcome(store.DeliveryFailed, err.Error()), "failed"
	}
	dev, err := w.cfg.Store.Device(ctx, d.RecipientDeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return w.outcome(store.DeliveryFailed, "the device was deleted"), "failed"
	case err != nil:
		log.WarnContext(ctx, "load push recipient", "err", err)
		return w.retry(ctx, log, d, err, 0)
	case dev.PushToken == nil || *dev.PushToken == "":
		log.InfoContext(ctx, "push dropped: the device has no push token any more")
		return w.outcome(store.DeliveryFailed, "the device has no push token"), "failed"
	}
	m.Platform, m.Token, m.DeviceID = dev.Platform, *dev.PushToken, dev.ID

	err = w.cfg.Provider.Send(ctx, m)
	if err == nil {
		log.DebugContext(ctx, "push sent")
		return store.DeliveryOutcome{Status: store.DeliverySent, At: w.cfg.Now()}, "sent"
	}
	if errors.Is(err, ErrExpired) {
		return w.outcome(store.DeliveryExpired, err.Error()), "expired"
	}
	class, retryAfter := Classify(err)
	switch class {
	case ClassRetryable:
		return w.retry(ctx, log, d, err, retryAfter)
	case ClassTokenInvalid:
		log.InfoContext(ctx, "push token rejected: cleared from the device", "err", err)
		if cerr := w.cfg.Store.ClearPushToken(ctx, dev.ID, m.Token); cerr != nil {
			log.ErrorContext(ctx, "clear push token", "err", cerr)
		}
		return w.outcome(store.DeliveryFailed, err.Error()), "token_invalid"
	default:
		log.ErrorContext(ctx, "push failed permanently", "platform", dev.Platform, "err", err)
		return w.outcome(store.DeliveryFailed, err.Error()), "failed"
	}
}

// retry schedules the next attempt after a retryable error, or gives up when the job
// has used its attempts or would retry after its expiry.
func (w *Worker) retry(ctx context.Context, log *slog.Logger, d store.Delivery, err error, retryAfter time.Duration) (store.DeliveryOutcome, string) {
	if d.Attempts >= w.cfg.MaxAttempts {
		log.ErrorContext(ctx, "push failed: out of attempts", "err", err)
		return w.outcome(store.DeliveryFailed, err.Error()), "failed"
	}
	now := w.cfg.Now()
	at := now.Add(Backoff(d.Attempts, retryAfter, nil))
	if !at.Before(d.ExpiresAt) {
		log.InfoContext(ctx, "push expired: the next attempt would come too late", "err", err)
		return w.outcome(store.DeliveryExpired, err.Error()), "expired"
	}
	log.InfoContext(ctx, "push will be retried", "retry_at", at.UTC().Format(time.RFC3339), "err", err)
	msg := err.Error()
	return store.DeliveryOutcome{Status: store.DeliveryPending, RetryAt: at, Error: &msg, At: now}, "retry"
}

func (w *Worker) outcome(status, msg string) store.DeliveryOutcome {
	return store.DeliveryOutcome{Status: status, Error: &msg, At: w.cfg.Now()}
}

// decodeJob reads the message of a job from its payload (the recipient is filled in
// at send time).
func decodeJob(d store.Delivery) (Message, error) {
	var p payload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return Message{}, fmt.Errorf("%w: payload: %w", ErrInvalidMessage, err)
	}
	m := Message{Kind: p.SecureCam.Type, Expiry: d.ExpiresAt}
	switch m.Kind {
	case KindWake:
		m.Reason = p.SecureCam.Reason
	case KindEvent:
		m.EventID, m.Title, m.Body = p.SecureCam.EventID, p.Title, p.Body
	default:
		return Message{}, fmt.Errorf("%w: payload type %q", ErrInvalidMessage, m.Kind)
	}
	return m, nil
}
