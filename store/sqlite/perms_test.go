package sqlite_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/sqlite"
)

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
	}
}

// The database, its -wal and -shm, and the directories Open creates are private.
func TestDatabaseFilesArePrivate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	path := filepath.Join(root, "data", "hub.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	u := store.User{Email: "private@example.com", Name: "P", PasswordHash: "a:b"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	wantMode(t, filepath.Join(root, "data"), 0o700)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, p, 0o600)
	}
}

// A database left world-readable by an earlier version is made private at Open.
func TestExistingDatabaseIsMadePrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	wantMode(t, path, 0o600)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the change: %v", err)
	}
}
