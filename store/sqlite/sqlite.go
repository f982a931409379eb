// Package sqlite is the store on a SQLite file (embedded mode), through the pure-Go
// driver modernc.org/sqlite.
//
// The database runs in WAL mode with foreign keys on and a busy timeout. Writes go
// through a pool of exactly one connection (SQLite has one writer; queueing in Go beats
// SQLITE_BUSY), transactions begin IMMEDIATE, and reads use a separate read-only pool
// that WAL lets run beside the writer.
//
// Concurrency: a Store is safe for concurrent use by any number of goroutines.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/internal/migrate"
	"github.com/securecam/securecam/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultPath is where the database file goes when Config.Path is empty.
const DefaultPath = "data/securecam.db"

// Config configures Open. The zero value opens DefaultPath.
type Config struct {
	// Path of the database file; its directory is created if missing.
	Path string
	// Logger receives migration notes; nil discards them.
	Logger *slog.Logger
}

// Store is a store.Store on SQLite.
type Store struct {
	*sqlstore.Store
	read, write *sql.DB
	db          *sqlDB
}

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 10 * time.Second

// Open opens (creating if need be) the database file and applies pending migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := cfg.Path
	if path == "" {
		path = DefaultPath
	}
	if err := private(path, log); err != nil {
		return nil, fmt.Errorf("sqlite open: %w", err)
	}
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(FULL)")
	wq.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", dsn(path, wq))
	if err != nil {
		return nil, fmt.Errorf("sqlite open: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", dsn(path, rq))
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("sqlite open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	db := &sqlDB{conn: conn{x: read, stmts: newStmts(read)}, write: conn{x: write, stmts: newStmts(write)}}
	s := &Store{Store: sqlstore.New(db, dialect), read: read, write: write, db: db}
	if err := s.migrate(ctx, db, log); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context, db *sqlDB, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite migrate: %w", err)
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return fmt.Errorf("sqlite migrate: %w", err)
	}
	// Migrations run on the single writer, so two Opens in one process cannot race;
	// BEGIN IMMEDIATE and the busy timeout serialise other processes.
	applied, err := migrate.Apply(ctx, db, ms)
	for _, name := range applied {
		log.Info("applied migration", "engine", "sqlite", "migration", name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	return errors.Join(s.db.stmts.close(), s.db.write.stmts.close(), s.read.Close(), s.write.Close())
}

// dsn is a SQLite URI: the path escaped, so that '?', '#' or '%' in it stay part of it.
// private makes the database readable by this user only: missing directories are
// created 0700, a missing file 0600, and an existing file, -wal or -shm that others may
// read loses those permissions. SQLite gives the -wal and -shm it creates the mode of the
// database file.
func private(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&0o700); err != nil {
				return err
			}
			log.Info("database file made private", "path", p, "mode_was", mode.String())
		}
	}
	return nil
}

func dsn(path string, q url.Values) string {
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

var dialect = sqlstore.Dialect{
	Rewrite: strings.NewReplacer(" FOR UPDATE", "", " FOR SHARE", "").Replace,
	Time:    func(t time.Time) any { return t.UTC().Format(sqlstore.TimeLayout) },
	IsUnique: func(err error) bool {
		code := errCode(err)
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
	IsForeignKey: func(err error) bool { return errCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY },
	JSONRows: func(param string, cols ...string) string {
		var b strings.Builder
		b.WriteString(`(SELECT `)
		for i, c := range cols {
			name, _, _ := strings.Cut(c, " ")
			if i > 0 {
				b.WriteString(`, `)
			}
			fmt.Fprintf(&b, `json_extract(value, '$.%s') AS %[1]s`, name)
		}
		b.WriteString(` FROM json_each(` + param + `)) AS v`)
		return b.String()
	},
}

func errCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}
