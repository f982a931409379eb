package sqlite_test

import (
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/sqlite"
	"github.com/securecam/securecam/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewSQLite(t) })
}

// Open creates missing directories, the file survives a restart, and the database is
// in WAL mode with its migrations recorded once, even for a path with URI specials.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b c", "d#1?x%20", "hub.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u := store.User{Email: "persist@example.com", Name: "P", PasswordHash: "a:b"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if got, err := s.UserByEmail(t.Context(), u.Email); err != nil || got.ID != u.ID {
		t.Errorf("user after reopen: %v, %v", got.ID, err)
	}

	// A plain file name would be cut at its '?': name the file as a URI.
	raw, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	var n int
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM securecam_migrations`).Scan(&n); err != nil || n != migrationFiles(t) {
		t.Errorf("securecam_migrations rows = %d, %v; want one per file in migrations/", n, err)
	}
}

// Two processes (here: two Stores) opening one new file at once both succeed.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// migrationFiles counts the migrations the package embeds (its migrations directory).
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}
