// Package postgres is the store on PostgreSQL (cluster mode), through pgx/v5 and its
// connection pool.
//
// Open applies the embedded migrations while holding a PostgreSQL advisory lock, so
// replicas that start together take turns and the later ones find nothing to do. The
// migrations adopt a database made by the original backend (Drizzle / Better Auth):
// its tables are kept, its timestamp columns become timestamptz (their values read as
// UTC), and the hub's columns and indexes are added.
//
// Errors that say the server cannot be reached (connect refused or timed out, the server
// shutting down, a connection lost mid-statement) carry store.ErrUnavailable.
//
// Concurrency: a Store is safe for concurrent use by any number of goroutines; pgx
// caches prepared statements per pooled connection.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/internal/migrate"
	"github.com/securecam/securecam/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures Open. The zero value connects as the PG* environment variables
// say, with pgx's default pool size.
type Config struct {
	// URL is the connection string, postgres://user:pass@host:port/db?sslmode=….
	URL string
	// Logger receives migration notes; nil discards them.
	Logger *slog.Logger
	// MaxConns caps the pool; 0 keeps pgx's default (the larger of 4 and the CPUs).
	MaxConns int32
	// ConnectTimeout bounds each new connection, so that requests answer
	// store.ErrUnavailable rather than hang while the server does not answer. Default
	// 5 s; a connect_timeout in the URL wins.
	ConnectTimeout time.Duration
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// migrationLock is the advisory lock key Open holds while migrating ("SecureCa").
const migrationLock int64 = 0x5365637572654361

// Open connects, applies pending migrations under the advisory lock, and returns the
// store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres open: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres open: %w", err)
	}
	if err := migrateLocked(ctx, pool, log); err != nil {
		pool.Close()
		return nil, withCreateHint(err, pcfg.ConnConfig.Config)
	}
	return &Store{Store: sqlstore.New(pgxDB{pool}, dialect), pool: pool}, nil
}

// withCreateHint says how to create the database when err is PostgreSQL's "database
// does not exist" (SQLSTATE 3D000): the hub creates its tables, not the database.
func withCreateHint(err error, c pgconn.Config) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		return err
	}
	return fmt.Errorf("postgres open: database %q does not exist on %s:%d; create it once with "+
		"`createdb -h %s -p %d -U %s %s` (or `CREATE DATABASE %s;` in psql) and start again; "+
		"the hub creates its tables itself: %w",
		c.Database, c.Host, c.Port, c.Host, c.Port, c.User, c.Database, c.Database, err)
}

// migrateLocked applies the migrations on one connection holding the advisory lock.
func migrateLocked(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (err error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres migrate: lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			// Closing the session is what releases a session lock for sure.
			_ = conn.Conn().Close(uctx)
			err = errors.Join(err, fmt.Errorf("postgres migrate: unlock: %w", uerr))
		}
	}()
	applied, err := migrate.Apply(ctx, pgxDB{conn}, ms)
	for _, name := range applied {
		log.Info("applied migration", "engine", "postgres", "migration", name)
	}
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", classify(err))
	}
	return nil
}

// Close implements store.Store. It waits for borrowed connections to come back.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

var dialect = sqlstore.Dialect{
	Time:         func(t time.Time) any { return t },
	IsUnique:     func(err error) bool { return pgCode(err) == "23505" },
	IsForeignKey: func(err error) bool { return pgCode(err) == "23503" },
	LockKeySQL:   `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
	JSONRows: func(param string, cols ...string) string {
		return `jsonb_to_recordset(` + param + `::jsonb) AS v(` + strings.Join(cols, `, `) + `)`
	},
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
