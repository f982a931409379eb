// Package retention deletes old data on a schedule: recordings (rows and files) and
// events past the retention period, finished commands, stream sessions, push jobs and
// audit rows past theirs, and verification rows (reset and e-mail tokens, WebSocket
// tickets) once expired. It also keeps a free-space reserve: when less than the reserve
// is free in the recordings storage, it deletes the oldest clips first.
//
// One replica at a time runs a pass: each pass first takes the "retention" lease in the
// store (the securecam_leases table) for one interval, so in a cluster the pass runs
// once per interval wherever the lease was free, and a replica that dies mid-pass is
// replaced when its lease lapses. The lease is kept until it lapses, not released, so
// replicas starting later do not run a second pass within the interval. The reserve is
// checked every ReserveInterval; deleting for it takes the "retention-reserve" lease
// for that interval.
//
// Concurrency: a Job's Run owns no goroutine besides the caller's; RunOnce and
// KeepReserve may be called concurrently (the leases let one through).
package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// Store is the part of the store a Job uses.
type Store interface {
	Prune(ctx context.Context, cutoffs store.PruneCutoffs, batch int) (store.PruneResult, error)
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	DeleteOldestRecordings(ctx context.Context, bucket string, limit int) ([]store.Recording, error)
}

// Config configures a Job. Store is required; every other zero field takes its default.
type Config struct {
	Store Store
	// Blobs holds the recordings' clips; each is deleted from the storage its row names.
	// Nil: only rows are deleted.
	Blobs *blobs.Set
	// Interval between passes, and the lease a pass holds. Default 1 h.
	Interval time.Duration
	// Recordings is how long recordings and events are kept. Default 30 days.
	Recordings time.Duration
	// History is how long finished commands (acknowledged, failed, expired), ended or
	// failed stream sessions and finished push jobs (sent, failed, expired) are kept.
	// Default 7 days.
	History time.Duration
	// Audit is how long audit log rows are kept. Default 90 days.
	Audit time.Duration
	// FreeSpace reports the bytes free on the volume of the data directory's clips (the
	// Disk in Blobs). With such a Disk, FreeSpace and a positive Reserve, the job keeps
	// the reserve: when less is free it deletes that Disk's clips, oldest first whoever
	// owns them, one at a time, until 1.25×Reserve is free or no clip is left.
	FreeSpace func() (int64, error)
	Reserve   int64
	// ReserveInterval is how often the free space is checked. Default 1 min.
	ReserveInterval time.Duration
	// Holder names this replica in the lease. Default: the host name and a random
	// suffix.
	Holder string
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Job runs retention passes.
type Job struct {
	cfg Config
	log *slog.Logger
}

// LeaseName is the name of the lease a pass holds; ReserveLeaseName the one for
// deleting clips to keep the reserve.
const (
	LeaseName        = "retention"
	ReserveLeaseName = "retention-reserve"
)

// New returns a Job.
func New(cfg Config) (*Job, error) {
	if cfg.Store == nil {
		return nil, errors.New("retention: Config.Store is required")
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&cfg.Interval, time.Hour)
	def(&cfg.Recordings, 30*24*time.Hour)
	def(&cfg.History, 7*24*time.Hour)
	def(&cfg.Audit, 90*24*time.Hour)
	def(&cfg.ReserveInterval, time.Minute)
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Holder = host + "-" + hex.EncodeToString(b[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Job{cfg: cfg, log: cfg.Logger}, nil
}

// Run makes a pass at once and then every Interval, and keeps the reserve (when one is
// configured) at once and every ReserveInterval, until ctx ends. Failures are logged
// and retried at the next tick. It returns nil.
func (j *Job) Run(ctx context.Context) error {
	pass := time.NewTicker(j.cfg.Interval)
	defer pass.Stop()
	var reserve <-chan time.Time
	if j.keepsReserve() {
		t := time.NewTicker(j.cfg.ReserveInterval)
		defer t.Stop()
		reserve = t.C
	}
	runPass := func() {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.log.WarnContext(ctx, "retention pass failed", "err", err)
		}
	}
	keepReserve := func() {
		if _, err := j.KeepReserve(ctx); err != nil && ctx.Err() == nil {
			j.log.WarnContext(ctx, "keeping the storage reserve failed", "err", err)
		}
	}
	runPass()
	if reserve != nil {
		keepReserve()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pass.C:
			runPass()
		case <-reserve:
			keepReserve()
		}
	}
}

func (j *Job) keepsReserve() bool {
	if j.cfg.Blobs == nil || j.cfg.FreeSpace == nil || j.cfg.Reserve <= 0 {
		return false
	}
	_, ok := j.cfg.Blobs.Get(blobs.DiskBucket)
	return ok
}

// KeepReserve deletes the oldest clips while less than the reserve is free, if this
// replica gets the reserve lease, and returns how many recordings it deleted. Without a
// reserve configured it does nothing.
func (j *Job) KeepReserve(ctx context.Context) (int, error) {
	if !j.keepsReserve() {
		return 0, nil
	}
	free, err := j.cfg.FreeSpace()
	if err != nil {
		return 0, fmt.Errorf("retention reserve: %w", err)
	}
	if free >= j.cfg.Reserve {
		return 0, nil
	}
	ok, err := j.cfg.Store.AcquireLease(ctx, ReserveLeaseName, j.cfg.Holder, j.cfg.Now().UTC(), j.cfg.ReserveInterval)
	if err != nil {
		return 0, fmt.Errorf("retention reserve lease: %w", err)
	}
	if !ok {
		return 0, nil
	}
	target := j.cfg.Reserve + j.cfg.Reserve/4
	deleted, failed := 0, 0
	for free < target {
		rs, err := j.cfg.Store.DeleteOldestRecordings(ctx, blobs.DiskBucket, 1)
		if err != nil {
			return deleted, fmt.Errorf("retention reserve: %w", err)
		}
		if len(rs) == 0 {
			j.log.ErrorContext(ctx, "storage below its reserve and no clip left to delete",
				"free_bytes", free, "reserve_bytes", j.cfg.Reserve)
			break
		}
		_, f := j.deleteFiles(ctx, rs)
		deleted, failed = deleted+len(rs), failed+f
		if f > 0 {
			// Deleting rows whose files stay frees nothing: stop before every row goes.
			j.log.ErrorContext(ctx, "storage below its reserve and a clip's file could not be deleted; stopped",
				"free_bytes", free, "reserve_bytes", j.cfg.Reserve)
			break
		}
		if free, err = j.cfg.FreeSpace(); err != nil {
			return deleted, fmt.Errorf("retention reserve: %w", err)
		}
	}
	j.log.WarnContext(ctx, "storage below its reserve: deleted the oldest clips", "recordings", deleted,
		"files_failed", failed, "free_bytes", free, "reserve_bytes", j.cfg.Reserve)
	return deleted, nil
}

// RunOnce makes one pass if this replica gets the lease, and reports whether it did.
func (j *Job) RunOnce(ctx context.Context) (bool, error) {
	now := j.cfg.Now().UTC()
	ok, err := j.cfg.Store.AcquireLease(ctx, LeaseName, j.cfg.Holder, now, j.cfg.Interval)
	if err != nil {
		return false, fmt.Errorf("retention lease: %w", err)
	}
	if !ok {
		return false, nil
	}
	history := now.Add(-j.cfg.History)
	res, err := j.cfg.Store.Prune(ctx, store.PruneCutoffs{
		Recordings:     now.Add(-j.cfg.Recordings),
		Events:         now.Add(-j.cfg.Recordings),
		Commands:       history,
		StreamSessions: history,
		Deliveries:     history,
		AuditLogs:      now.Add(-j.cfg.Audit),
		Verifications:  now,
	}, 0)
	// Rows deleted before a failure still lose their files.
	files, failed := j.deleteFiles(ctx, res.Recordings)
	if err != nil {
		return true, fmt.Errorf("retention: %w", err)
	}
	j.log.InfoContext(ctx, "retention pass", "recordings", len(res.Recordings), "files", files, "files_failed", failed,
		"events", res.Events, "commands", res.Commands, "stream_sessions", res.StreamSessions,
		"deliveries", res.Deliveries, "audit_logs", res.AuditLogs, "verifications", res.Verifications)
	return true, nil
}

// deleteFiles deletes the stored clips of deleted recordings. A clip that cannot be
// deleted is logged (its row is gone: nothing serves it; the reconcile pass removes it
// later).
func (j *Job) deleteFiles(ctx context.Context, rs []store.Recording) (deleted, failed int) {
	if j.cfg.Blobs == nil {
		return 0, 0
	}
	for _, r := range rs {
		if r.ObjectKey == nil {
			continue
		}
		bucket := blobs.DiskBucket
		if r.Bucket != nil {
			bucket = *r.Bucket
		}
		st, ok := j.cfg.Blobs.Get(bucket)
		if !ok {
			j.log.WarnContext(ctx, "retention: a recording's file is in a storage this hub does not have; left there",
				"recording_id", r.ID, "bucket", bucket, "key", *r.ObjectKey)
			failed++
			continue
		}
		if err := st.Delete(context.WithoutCancel(ctx), *r.ObjectKey); err != nil {
			j.log.WarnContext(ctx, "retention: delete a recording's file", "recording_id", r.ID, "key", *r.ObjectKey, "err", err)
			failed++
			continue
		}
		deleted++
	}
	return deleted, failed
}
