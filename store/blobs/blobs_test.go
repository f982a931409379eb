package blobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/securecam/securecam/store/blobs"
)

func newDisk(t *testing.T) (*blobs.Disk, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "recordings")
	d, err := blobs.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// files lists every file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDiskRoundTrip(t *testing.T) {
	d, dir := newDisk(t)
	ctx := t.Context()
	data := bytes.Repeat([]byte("securecam"), 1000)
	n, err := d.Put(ctx, "recordings/owner-1/rec_2", bytes.NewReader(data), int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if got := files(t, dir); len(got) != 1 || got[0] != "recordings/owner-1/rec_2" {
		t.Fatalf("files %v, want only the object", got)
	}
	o, err := d.Open(ctx, "recordings/owner-1/rec_2")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != int64(len(data)) || o.ModTime().IsZero() {
		t.Errorf("Size %d ModTime %v", o.Size(), o.ModTime())
	}
	if _, err := o.Seek(9, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(o, buf); err != nil || string(buf) != "securecam" {
		t.Errorf("read at 9 = %q, %v", buf, err)
	}

	// Replacing keeps one whole object.
	if _, err := d.Put(ctx, "recordings/owner-1/rec_2", strings.NewReader("new"), 10); err != nil {
		t.Fatal(err)
	}
	o2, err := d.Open(ctx, "recordings/owner-1/rec_2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(o2)
	o2.Close()
	if string(b) != "new" {
		t.Errorf("after replace %q", b)
	}

	if err := d.Delete(ctx, "recordings/owner-1/rec_2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "recordings/owner-1/rec_2"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := d.Open(ctx, "recordings/owner-1/rec_2"); !errors.Is(err, blobs.ErrNotFound) {
		t.Errorf("Open deleted = %v, want ErrNotFound", err)
	}
	if d.Bucket() != blobs.DiskBucket {
		t.Errorf("Bucket = %q", d.Bucket())
	}
}

// A failed upload stores nothing and leaves no temporary file.
func TestDiskPutFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		r     io.Reader
		limit int64
		want  error
	}{
		{"over the limit", context.Background(), strings.NewReader("0123456789"), 9, blobs.ErrTooLarge},
		{"read error", context.Background(), iotest.TimeoutReader(strings.NewReader(strings.Repeat("x", 1<<20))), 2 << 20, iotest.ErrTimeout},
		{"context ended", cancelled, strings.NewReader("abc"), 10, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, dir := newDisk(t)
			_, err := d.Put(tt.ctx, "a/b", tt.r, tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
			if got := files(t, dir); len(got) != 0 {
				t.Errorf("files left behind: %v", got)
			}
		})
	}
	d, _ := newDisk(t)
	if n, err := d.Put(t.Context(), "a/exact", strings.NewReader("0123456789"), 10); err != nil || n != 10 {
		t.Errorf("Put at exactly the limit = %d, %v", n, err)
	}
}

func TestDiskKeys(t *testing.T) {
	d, _ := newDisk(t)
	ctx := t.Context()
	for _, key := range []string{"", "../x", "a/../../x", "/abs", "a//b", "A/b", "a/b/", "a\\b", ".hidden", "a/.b", "a b"} {
		if _, err := d.Put(ctx, key, strings.NewReader("x"), 10); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := d.Open(ctx, key); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := d.Delete(ctx, key); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}
