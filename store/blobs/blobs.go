// Package blobs stores the files of recordings. [Storage] is the interface the web
// layer and the retention job use; [Disk] keeps the files under a directory (by default
// <data dir>/recordings), which serves one node, or a cluster whose data directory is a
// shared volume.
//
// Keys are chosen by the hub from ids it generated (never from a path a client sent):
// lower-case letters, digits, '-' and '_' in segments separated by '/'. Anything else is
// refused with [ErrInvalidKey], so a key can never leave the storage root.
//
// Concurrency: a Disk is safe for concurrent use. Put writes to a temporary file in the
// key's directory and renames it into place only when the whole object arrived, so a
// reader never sees a partial object and a failed or abandoned upload leaves nothing
// behind. Two Puts of one key leave one of the two objects whole.
package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Errors callers branch on.
var (
	// ErrTooLarge: the object was longer than the limit given to Put; nothing was stored.
	ErrTooLarge = errors.New("blobs: object too large")
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("blobs: not found")
	// ErrInvalidKey: the key is not one the storage accepts.
	ErrInvalidKey = errors.New("blobs: invalid key")
)

// Storage stores whole objects by key.
type Storage interface {
	// Put stores the bytes of r under key, replacing any object there, and returns how
	// many it stored. More than limit bytes is ErrTooLarge; an error reading r or an
	// ended ctx stores nothing.
	Put(ctx context.Context, key string, r io.Reader, limit int64) (int64, error)
	// Open returns the object for reading (ErrNotFound if absent). The caller closes it.
	Open(ctx context.Context, key string) (Object, error)
	// Delete removes the object; an absent object is not an error.
	Delete(ctx context.Context, key string) error
	// Bucket names the storage (recordings.bucket).
	Bucket() string
}

// Object is a stored object open for reading, with random access for HTTP ranges.
type Object interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}(/[a-z0-9][a-z0-9_-]{0,127}){0,7}$`)

// Disk is a Storage on a local (or shared) directory.
type Disk struct {
	dir string
}

var _ Storage = (*Disk)(nil)

// DiskBucket is the bucket name of a Disk.
const DiskBucket = "local"

// NewDisk returns a Disk rooted at dir, creating it if need be.
func NewDisk(dir string) (*Disk, error) {
	if dir == "" {
		return nil, errors.New("blobs: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return &Disk{dir: abs}, nil
}

// Bucket implements Storage.
func (d *Disk) Bucket() string { return DiskBucket }

func (d *Disk) path(key string) (string, error) {
	if !keyRE.MatchString(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

// Put implements Storage.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, limit int64) (n int64, err error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("blobs put: %w", err)
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return 0, fmt.Errorf("blobs put: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err = io.Copy(f, io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	if n > limit {
		return n, ErrTooLarge
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	// Make the rename durable; a failure here leaves the object in place.
	if dh, derr := os.Open(dir); derr == nil {
		_ = dh.Sync()
		_ = dh.Close()
	}
	return n, nil
}

// Open implements Storage.
func (d *Disk) Open(_ context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blobs open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobs open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blobs open: %w", err)
	}
	return diskObject{f, st}, nil
}

// Delete implements Storage.
func (d *Disk) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blobs delete: %w", err)
	}
	return nil
}

type diskObject struct {
	*os.File
	st os.FileInfo
}

func (o diskObject) Size() int64        { return o.st.Size() }
func (o diskObject) ModTime() time.Time { return o.st.ModTime() }

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context // lives for one Put call
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
