package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/securecam/securecam/store"
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

// Recover cleans up after recorders that stopped without finishing (the hub crashed or
// was killed): each spool file in dir that no live process holds is removed and its
// recording, still pending, is marked failed with Crashed. A recording row is created
// only after its spool file, so every unfinished recording of this spool directory is
// found; it never points at a clip, since a clip is named only once uploaded whole. It
// returns how many recordings it marked failed. Run it at start-up, before recording.
func Recover(ctx context.Context, dir string, rows Rows, now time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recover recordings: %w", err)
	}
	failed := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), spoolExt)
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return failed, fmt.Errorf("recover recordings: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close() // a live recorder (of this or another process) holds it
			continue
		}
		_, err = rows.FinishRecordingUpload(ctx, id, store.RecordingUpload{Status: store.RecordingFailed, Error: Crashed, At: now})
		switch {
		case err == nil:
			failed++
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
			// No row was made, or it was finished: only the file is left.
		default:
			_ = f.Close()
			return failed, fmt.Errorf("recover recording %s: %w", id, err)
		}
		err = os.Remove(path)
		_ = f.Close()
		if err != nil {
			return failed, fmt.Errorf("recover recordings: %w", err)
		}
	}
	return failed, nil
}
