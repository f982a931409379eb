package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// spoolExt names the spool files: <recording id>.webm.part in the spool directory.
const spoolExt = ".webm.part"

// Crashed is the error of a recording whose hub stopped while it was being written.
const Crashed = "the hub stopped while recording"

// createSpool creates the spool file of recording id in dir and takes an exclusive lock
// on it, held until the file is closed: a file nobody holds a lock on belongs to a
// process that is gone (Recover).
func createSpool(dir, id string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, id+spoolExt), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create spool file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("lock spool file: %w", err)
	}
	return f, nil
}

// Recovered counts what Recover did.
type Recovered struct {
	// Available: recordings made available with what their spool file held.
	Available int
	// Failed: recordings marked failed (Crashed): nothing in the file could be kept, or
	// storing it failed.
	Failed int
}

// Recover finishes the recordings of recorders that stopped without finishing (the hub
// crashed or was killed). Each spool file in cfg.SpoolDir that no live process holds is
// salvaged: the file up to its last whole block, with its Duration, is stored in
// cfg.Storage and its recording, still pending, becomes available (and its event's
// video_url, as when a recorder finishes); when nothing could be kept or
// storing failed, the recording is marked failed with Crashed. The file is removed
// either way. A recording row is created only after its spool file, so every
// unfinished recording of this spool directory is found, and it names a clip only once
// the clip is stored whole. Run it at start-up, before recording.
func Recover(ctx context.Context, cfg Config, now time.Time) (Recovered, error) {
	var done Recovered
	dir := cfg.SpoolDir
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return done, fmt.Errorf("recover recordings: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), spoolExt)
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return done, fmt.Errorf("recover recordings: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close() // a live recorder (of this or another process) holds it
			continue
		}
		status, err := recoverOne(ctx, cfg, f, id, now)
		if err == nil {
			err = os.Remove(path)
		}
		_ = f.Close()
		if err != nil {
			return done, fmt.Errorf("recover recording %s: %w", id, err)
		}
		switch status {
		case store.RecordingAvailable:
			done.Available++
		case store.RecordingFailed:
			done.Failed++
		}
	}
	return done, nil
}

// recoverOne finishes the recording of the spool file f: its new status, or "" when
// there was no row to finish (only the file is left).
func recoverOne(ctx context.Context, cfg Config, f *os.File, id string, now time.Time) (string, error) {
	rows, st := cfg.Rows, cfg.Storage
	rec, err := rows.Recording(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if rec.Status != store.RecordingPending {
		return "", nil
	}
	outcome := store.RecordingUpload{Status: store.RecordingFailed, Error: Crashed, At: now}
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	end, duration, err := salvage(f, info.Size())
	if err == nil && end > 0 {
		key := clipKey(rec)
		n, err := st.Put(ctx, key, io.NewSectionReader(f, 0, end), blobs.PutOptions{Limit: end, ContentType: "video/webm"})
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return "", err // the next start tries again
		}
		if err == nil {
			secs := int(math.Round(duration.Seconds()))
			outcome = store.RecordingUpload{Status: store.RecordingAvailable, ObjectKey: key, Bucket: st.Bucket(),
				SizeBytes: n, DurationSeconds: &secs, At: now}
		}
	}
	rec, err = rows.FinishRecordingUpload(ctx, id, outcome)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		// Finished or deleted meanwhile: the clip would be an orphan.
		if outcome.ObjectKey != "" {
			if err := st.Delete(ctx, outcome.ObjectKey); err != nil {
				return "", err
			}
		}
		return "", nil
	case err != nil:
		return "", err
	}
	if outcome.Status == store.RecordingAvailable {
		if err := cfg.setVideoURL(ctx, rec); err != nil {
			return "", err
		}
	}
	return outcome.Status, nil
}
