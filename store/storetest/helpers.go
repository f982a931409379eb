package storetest

import (
	"path/filepath"
	"testing"

	"github.com/securecam/securecam/store/sqlite"
)

// NewSQLite returns a migrated SQLite store in a temporary directory, closed when the
// test ends.
func NewSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "securecam.db")})
	if err != nil {
		t.Fatalf("storetest: open sqlite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close sqlite: %v", err)
		}
	})
	return s
}
