// Package migrateblobs moves the clips of recordings from one storage to another (the
// data directory to an S3 bucket: `securecam migrate-blobs`). For each recording whose
// row names the source storage, in key order: copy the clip (unless the destination
// already has it whole, from an interrupted run), switch the row to the destination,
// then delete the source's copy. A run that stops anywhere can be started again: the
// rows already switched are not listed any more, and a clip copied but not switched is
// found in place. Hubs may keep serving meanwhile: a row names a whole clip at every
// moment.
//
// Concurrency: Run owns no goroutine besides the caller's. Two runs at once do the same
// work twice but lose nothing.
package migrateblobs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// Store is the part of the store a run uses.
type Store interface {
	ListRecordingObjects(ctx context.Context, bucket, afterKey string, limit int) ([]store.Recording, error)
	MoveRecordingObject(ctx context.Context, id string, from, to store.ObjectRef, at time.Time) error
	Recording(ctx context.Context, id string) (store.Recording, error)
}

// Config says what to move where. Every field but Logger is required.
type Config struct {
	Store    Store
	From, To blobs.Storage
	// Logger receives a line per recording (its number of the total) and the summary.
	Logger *slog.Logger
}

// Result counts what a run did.
type Result struct {
	// Total is how many recordings named the source at the start.
	Total int
	// Moved recordings now name the destination; Bytes is the size of their clips.
	Moved int
	Bytes int64
	// Missing recordings name a clip the source does not have; they are left as they are.
	Missing int
	// Gone recordings were deleted (or moved by someone else) during the run.
	Gone int
}

const pageSize = 200

// Run moves every clip of cfg.From to cfg.To and returns what it did. It stops at the
// first failure of a storage or the store (run it again to go on).
func Run(ctx context.Context, cfg Config) (Result, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res Result
	from, to := cfg.From.Bucket(), cfg.To.Bucket()
	for _, err := range rows(ctx, cfg.Store, from) {
		if err != nil {
			return res, err
		}
		res.Total++
	}
	log.InfoContext(ctx, "migrate-blobs: starting", "from", from, "to", to, "recordings", res.Total)
	n := 0
	for r, err := range rows(ctx, cfg.Store, from) {
		if err != nil {
			return res, err
		}
		n++
		key := *r.ObjectKey
		size, err := copyClip(ctx, cfg.From, cfg.To, key, r.ContentType)
		if errors.Is(err, blobs.ErrNotFound) {
			res.Missing++
			log.WarnContext(ctx, "migrate-blobs: the clip is missing; recording left as it is", "n", n, "of", res.Total,
				"recording_id", r.ID, "key", key)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("copy %s: %w", key, err)
		}
		err = cfg.Store.MoveRecordingObject(ctx, r.ID, store.ObjectRef{Bucket: from, Key: key}, store.ObjectRef{Bucket: to, Key: key}, time.Now())
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			res.Gone++
			// Deleted meanwhile: the copy is nobody's. Moved by another run: it is kept.
			if now, err := cfg.Store.Recording(ctx, r.ID); err != nil || now.Bucket == nil || *now.Bucket != to {
				if err := cfg.To.Delete(ctx, key); err != nil {
					return res, fmt.Errorf("delete the copy of a deleted recording: %w", err)
				}
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("switch recording %s: %w", r.ID, err)
		}
		res.Moved++
		res.Bytes += size
		if err := cfg.From.Delete(ctx, key); err != nil {
			log.WarnContext(ctx, "migrate-blobs: delete the moved clip from the source (the reconcile pass removes it later)",
				"key", key, "err", err)
		}
		log.InfoContext(ctx, "migrate-blobs: moved", "n", n, "of", res.Total, "recording_id", r.ID, "key", key, "bytes", size)
	}
	log.InfoContext(ctx, "migrate-blobs: done", "from", from, "to", to, "moved", res.Moved, "bytes", res.Bytes,
		"missing", res.Missing, "gone", res.Gone)
	return res, nil
}

// copyClip copies the clip key to dst unless dst has it whole already, and returns its
// size.
func copyClip(ctx context.Context, src, dst blobs.Storage, key, contentType string) (int64, error) {
	obj, err := src.Open(ctx, key)
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	if info, err := dst.Stat(ctx, key); err == nil && info.Size == obj.Size() {
		return info.Size, nil
	} else if err != nil && !errors.Is(err, blobs.ErrNotFound) {
		return 0, err
	}
	n, err := dst.Put(ctx, key, obj, blobs.PutOptions{Limit: obj.Size(), ContentType: contentType})
	if err != nil {
		return 0, err
	}
	if n != obj.Size() {
		_ = dst.Delete(ctx, key)
		return 0, fmt.Errorf("copied %d bytes of %d", n, obj.Size())
	}
	return n, nil
}

// rows yields the recordings naming bucket with a clip to move (available ones, and
// failed ones that still name their object), in key order.
func rows(ctx context.Context, st Store, bucket string) iter.Seq2[store.Recording, error] {
	return func(yield func(store.Recording, error) bool) {
		after := ""
		for {
			page, err := st.ListRecordingObjects(ctx, bucket, after, pageSize)
			if err != nil {
				yield(store.Recording{}, fmt.Errorf("list recordings in %s: %w", bucket, err))
				return
			}
			for _, r := range page {
				if r.Status == store.RecordingPending {
					continue
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			after = *page[len(page)-1].ObjectKey
		}
	}
}
