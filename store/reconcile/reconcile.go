// Package reconcile keeps the recordings table and the stored clips in agreement. A
// pass, for each storage of the blobs.Set:
//
//   - sweeps what unfinished uploads left (a crashed process's temporary files,
//     incomplete multipart uploads) begun before the safety age;
//   - deletes the objects under "recordings/" that no recording row names and that are
//     older than the safety age (a clip stored just before a crash, before its row said
//     so; a clip whose row was deleted while the storage was unreachable);
//   - in the primary storage, when Config.MarkMissing says every replica sees it whole,
//     marks the available recordings whose clip is missing (available for longer than
//     the safety age) as failed with store.RecordingMissing, and makes such a recording
//     available again when its clip is back.
//
// Rows of other storages are never marked: the data directory of one replica is not
// every replica's.
//
// The pass walks the objects (blobs.Storage.List) and the rows (ListRecordingObjects)
// side by side, both in byte order of their keys, so it holds one page of each in memory
// however many clips there are. A listing that fails ends the pass for that storage
// before anything past the failure is judged.
//
// One replica at a time makes a pass: it first takes the "reconcile" lease for one
// interval (the pattern of store/retention).
//
// Concurrency: a Job's Run owns no goroutine besides the caller's; RunOnce may be called
// concurrently (the lease lets one through).
package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// Store is the part of the store a Job uses.
type Store interface {
	ListRecordingObjects(ctx context.Context, bucket, afterKey string, limit int) ([]store.Recording, error)
	SetRecordingMissing(ctx context.Context, id, key string, missing bool, at time.Time) (bool, error)
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
}

// Config configures a Job. Store and Blobs are required; every other zero field takes
// its default.
type Config struct {
	Store Store
	Blobs *blobs.Set
	// MarkMissing lets a pass mark the recordings whose clip is missing from the primary
	// storage. Set it only when every replica sees that storage whole: a bucket, the
	// data directory of the one embedded hub.
	MarkMissing bool
	// Interval between passes, and the lease a pass holds. Default 6 h.
	Interval time.Duration
	// SafetyAge is how old an object, an unfinished upload or an available recording
	// must be before a pass judges it: longer than any upload takes. Default 24 h.
	SafetyAge time.Duration
	// Holder names this replica in the lease. Default: the host name and a random
	// suffix.
	Holder string
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Job runs reconcile passes.
type Job struct {
	cfg Config
	log *slog.Logger
}

// LeaseName is the name of the lease a pass holds.
const LeaseName = "reconcile"

// Prefix is where the hub's clips are in every storage; nothing else is touched.
const Prefix = "recordings/"

// pageSize is how many rows a pass reads at a time.
const pageSize = 500

// Result counts what a pass did.
type Result struct {
	Swept   int // unfinished uploads removed
	Orphans int // objects without a row deleted
	Missing int // recordings marked missing
	Found   int // missing recordings available again
}

// New returns a Job.
func New(cfg Config) (*Job, error) {
	if cfg.Store == nil || cfg.Blobs == nil {
		return nil, errors.New("reconcile: Config.Store and Config.Blobs are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 6 * time.Hour
	}
	if cfg.SafetyAge <= 0 {
		cfg.SafetyAge = 24 * time.Hour
	}
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

// Run makes a pass at once and then every Interval until ctx ends. Failures are logged
// and retried at the next interval. It returns nil.
func (j *Job) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if _, _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.log.WarnContext(ctx, "reconcile pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce makes one pass if this replica gets the lease, and reports whether it did and
// what it did. A storage that fails does not stop the others.
func (j *Job) RunOnce(ctx context.Context) (bool, Result, error) {
	now := j.cfg.Now().UTC()
	ok, err := j.cfg.Store.AcquireLease(ctx, LeaseName, j.cfg.Holder, now, j.cfg.Interval)
	if err != nil {
		return false, Result{}, fmt.Errorf("reconcile lease: %w", err)
	}
	if !ok {
		return false, Result{}, nil
	}
	var total Result
	var errs []error
	for i, st := range j.cfg.Blobs.All() {
		res, err := j.pass(ctx, st, i == 0 && j.cfg.MarkMissing, now)
		j.log.InfoContext(ctx, "reconcile pass", "bucket", st.Bucket(), "swept", res.Swept, "orphans", res.Orphans,
			"missing", res.Missing, "found", res.Found, "complete", err == nil)
		total.Swept += res.Swept
		total.Orphans += res.Orphans
		total.Missing += res.Missing
		total.Found += res.Found
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", st.Bucket(), err))
		}
	}
	return true, total, errors.Join(errs...)
}

// pass reconciles one storage; mark says whether its rows may be marked missing.
func (j *Job) pass(ctx context.Context, st blobs.Storage, mark bool, now time.Time) (Result, error) {
	var res Result
	cutoff := now.Add(-j.cfg.SafetyAge)
	n, err := st.Sweep(ctx, cutoff)
	res.Swept = n
	if err != nil {
		return res, err
	}
	rows := &rowCursor{store: j.cfg.Store, bucket: st.Bucket(), after: Prefix}
	// absent handles a row whose object the listing passed without finding.
	absent := func(r store.Recording) error {
		if !mark || r.Status != store.RecordingAvailable || r.AvailableAt == nil || !r.AvailableAt.Before(cutoff) {
			return nil
		}
		changed, err := j.cfg.Store.SetRecordingMissing(ctx, r.ID, *r.ObjectKey, true, now)
		if changed {
			res.Missing++
			j.log.WarnContext(ctx, "reconcile: a recording's clip is missing", "recording_id", r.ID, "bucket", st.Bucket(), "key", *r.ObjectKey)
		}
		return err
	}
	for info, err := range st.List(ctx, Prefix) {
		if err != nil {
			return res, err
		}
		named := false
		for {
			r, ok, err := rows.peek(ctx)
			if err != nil {
				return res, err
			}
			if !ok || *r.ObjectKey > info.Key {
				break
			}
			rows.pop()
			if *r.ObjectKey < info.Key {
				if err := absent(r); err != nil {
					return res, err
				}
				continue
			}
			named = true
			if r.Status == store.RecordingFailed && r.Error != nil && *r.Error == store.RecordingMissing {
				changed, err := j.cfg.Store.SetRecordingMissing(ctx, r.ID, info.Key, false, now)
				if err != nil {
					return res, err
				}
				if changed {
					res.Found++
				}
			}
		}
		if named || !blobs.ValidKey(info.Key) || !info.ModTime.Before(cutoff) {
			continue
		}
		if err := st.Delete(ctx, info.Key); err != nil {
			return res, err
		}
		res.Orphans++
		j.log.InfoContext(ctx, "reconcile: deleted a clip no recording names", "bucket", st.Bucket(), "key", info.Key)
	}
	for {
		r, ok, err := rows.peek(ctx)
		if err != nil || !ok {
			return res, err
		}
		rows.pop()
		if err := absent(r); err != nil {
			return res, err
		}
	}
}

// rowCursor walks the recordings of a bucket with keys under Prefix, in key order, a
// page at a time.
type rowCursor struct {
	store  Store
	bucket string
	after  string
	page   []store.Recording
	done   bool
}

func (c *rowCursor) peek(ctx context.Context) (store.Recording, bool, error) {
	if len(c.page) == 0 && !c.done {
		page, err := c.store.ListRecordingObjects(ctx, c.bucket, c.after, pageSize)
		if err != nil {
			return store.Recording{}, false, err
		}
		if len(page) < pageSize {
			c.done = true
		}
		if len(page) > 0 {
			c.after = *page[len(page)-1].ObjectKey
		}
		for i, r := range page {
			if !strings.HasPrefix(*r.ObjectKey, Prefix) {
				page, c.done = page[:i], true
				break
			}
		}
		c.page = page
	}
	if len(c.page) == 0 {
		return store.Recording{}, false, nil
	}
	return c.page[0], true, nil
}

func (c *rowCursor) pop() { c.page = c.page[1:] }
