package blobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securecam/securecam/store/blobs"
)

// Stored clips are readable by the hub's user only.
func TestStoredFilesArePrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "recordings")
	d, err := blobs.NewDisk(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(t.Context(), "recordings/user/clip", strings.NewReader("clip"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		root:                              0o700,
		filepath.Join(root, "recordings"): 0o700,
		filepath.Join(root, "recordings", "user"):         0o700,
		filepath.Join(root, "recordings", "user", "clip"): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
}
