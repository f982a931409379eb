package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/securecam/securecam/store/internal/sqlstore"
)

// pgxRunner is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx share.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// pgxDB adapts pgx to sqlstore.DB. Reads and writes share the pool.
type pgxDB struct{ r pgxRunner }

func (d pgxDB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := d.r.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (d pgxDB) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.r.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil // pgx.Rows is a sqlstore.Rows
}

func (d pgxDB) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return pgxRow{d.r.QueryRow(ctx, sql, args...)}
}

func (d pgxDB) Write() sqlstore.Querier { return d }

func (d pgxDB) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	return pgx.BeginFunc(ctx, d.r, func(tx pgx.Tx) error { return fn(pgxDB{tx}) })
}

type pgxRow struct{ r pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}
