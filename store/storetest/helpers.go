package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/sqlite"
)

// DefaultPostgresURL is the server tests use when SECURECAM_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL creates a new, uniquely named, empty database on the test server
// (SECURECAM_TEST_POSTGRES_URL, else DefaultPostgresURL), drops it when the test ends,
// and returns its URL. It fails the test if the server cannot be reached.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return PostgresURLWith(t, "")
}

// PostgresURLWith is PostgresURL with options for CREATE DATABASE (a collation, say).
func PostgresURLWith(t testing.TB, options string) string {
	t.Helper()
	admin := os.Getenv("SECURECAM_TEST_POSTGRES_URL")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("storetest: SECURECAM_TEST_POSTGRES_URL must be a postgres:// URL, got %q", admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL at %s is not reachable (run scripts/test.sh, which starts it): %v", u.Redacted(), err)
	}
	defer conn.Close(context.Background())

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "securecam_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" "+options); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// NewPostgres returns a migrated store on a new database (see PostgresURL), closed
// when the test ends.
func NewPostgres(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{URL: PostgresURL(t), MaxConns: 8})
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

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
