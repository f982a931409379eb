package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/internal/sqlstore"
)

// pgxRunner is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx share.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// pgxDB adapts pgx to sqlstore.DB. Reads and writes share the pool. Every error that
// says the database cannot be reached leaves it marked with store.ErrUnavailable.
type pgxDB struct{ r pgxRunner }

func (d pgxDB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := d.r.Exec(ctx, sql, args...)
	return tag.RowsAffected(), classify(err)
}

func (d pgxDB) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.r.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	return pgxRows{rows}, nil
}

func (d pgxDB) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return pgxRow{d.r.QueryRow(ctx, sql, args...)}
}

func (d pgxDB) Write() sqlstore.Querier { return d }

func (d pgxDB) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	return classify(pgx.BeginFunc(ctx, d.r, func(tx pgx.Tx) error { return fn(pgxDB{tx}) }))
}

type pgxRow struct{ r pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return classify(err)
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Err() error { return classify(r.Rows.Err()) }

// classify marks err with store.ErrUnavailable when it says PostgreSQL cannot be
// reached, and returns every other error as it is.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// unreachable reports a failed connect (refused, timed out, the server starting or
// shutting down), a connection lost mid-statement, and the server's connection-class
// and shutdown errors. A statement the server refused is not one of them.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"53300": // too many connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}
