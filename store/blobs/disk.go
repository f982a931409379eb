package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Disk is a Storage on a local (or shared) directory. Put writes to a temporary file
// (".upload-*") in the key's directory, syncs it, and renames it into place only when the
// whole object arrived.
type Disk struct {
	dir string
}

var _ Storage = (*Disk)(nil)

// DiskBucket is the bucket name of a Disk.
const DiskBucket = "local"

// tempPrefix starts the name of a Disk's temporary upload files.
const tempPrefix = ".upload-"

// NewDisk returns a Disk rooted at dir, creating it if need be.
func NewDisk(dir string) (*Disk, error) {
	if dir == "" {
		return nil, errors.New("blobs: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return &Disk{dir: abs}, nil
}

// Bucket implements Storage.
func (d *Disk) Bucket() string { return DiskBucket }

func (d *Disk) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

// Put implements Storage.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (n int64, err error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("blobs put: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("blobs put: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err = io.Copy(f, io.LimitReader(ctxReader{ctx, r}, o.Limit+1))
	if err != nil {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	if n > o.Limit {
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

// Stat implements Storage.
func (d *Disk) Stat(_ context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) || err == nil && !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blobs stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blobs stat: %w", err)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
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

// List implements Storage. Files whose relative path is not a valid key (temporary
// uploads, anything an operator put there) are not objects and are left out.
func (d *Disk) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		err := d.walk(ctx, prefix, func(key string, e fs.DirEntry) bool {
			if !strings.HasPrefix(key, prefix) || !ValidKey(key) {
				return true
			}
			st, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) { // deleted meanwhile
				return true
			}
			if err != nil {
				return yield(Info{}, fmt.Errorf("blobs list: %w", err))
			}
			return yield(Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil)
		})
		if err != nil {
			yield(Info{}, err)
		}
	}
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// walk calls visit for every regular file under the root (with its path relative to the
// root as key) in byte order of the keys, skipping directories that cannot hold a key
// starting with prefix. It stops early, returning nil, when visit returns false.
func (d *Disk) walk(ctx context.Context, prefix string, visit func(key string, e fs.DirEntry) bool) error {
	err := d.walkDir(ctx, d.dir, "", prefix, visit)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (d *Disk) walkDir(ctx context.Context, dir, rel, prefix string, visit func(key string, e fs.DirEntry) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blobs list: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) && rel != "" { // removed meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("blobs list: %w", err)
	}
	// A directory's keys all start with its name and '/': sorting it as that string puts
	// every key in byte order ("a-b" before "a/b").
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		key := e.Name()
		if rel != "" {
			key = rel + "/" + key
		}
		switch {
		case e.IsDir():
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if err := d.walkDir(ctx, filepath.Join(dir, e.Name()), key, prefix, visit); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if !visit(key, e) {
				return errStop
			}
		}
	}
	return nil
}

// Sweep implements Storage: it removes the temporary files of Puts last written to
// before cutoff (an upload still streaming writes to its file all the time).
func (d *Disk) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	removed := 0
	var failed error
	err := d.walk(ctx, "", func(key string, e fs.DirEntry) bool {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			return true
		}
		st, err := e.Info()
		if err != nil || !st.ModTime().Before(cutoff) {
			return true
		}
		if err := os.Remove(filepath.Join(d.dir, filepath.FromSlash(key))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			failed = fmt.Errorf("blobs sweep: %w", err)
			return false
		}
		removed++
		return true
	})
	if err == nil {
		err = failed
	}
	return removed, err
}

type diskObject struct {
	*os.File
	st os.FileInfo
}

func (o diskObject) Size() int64        { return o.st.Size() }
func (o diskObject) ModTime() time.Time { return o.st.ModTime() }
