package blobs_test

import (
	"path/filepath"
	"testing"

	"github.com/securecam/securecam/store/blobs"
)

func TestFreeSpace(t *testing.T) {
	dir := t.TempDir()
	free, total, err := blobs.FreeSpace(dir)
	if err != nil || free <= 0 || total < free {
		t.Fatalf("FreeSpace = %d of %d, %v; want 0 < free <= total", free, total, err)
	}
	if _, _, err := blobs.FreeSpace(filepath.Join(dir, "missing")); err == nil {
		t.Error("FreeSpace of a missing directory: no error")
	}
}
