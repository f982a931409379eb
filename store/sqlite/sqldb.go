package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/securecam/securecam/store/internal/sqlstore"
)

// execer is what *sql.DB and *sql.Tx share.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn adapts database/sql to sqlstore.Querier.
type conn struct{ x execer }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.x.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.x.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{c.x.QueryRowContext(ctx, query, args...)}
}

type rows struct{ *sql.Rows }

func (r rows) Close() { _ = r.Rows.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}

// sqlDB reads through the read pool and writes through the one-connection write pool.
type sqlDB struct {
	conn
	write *sql.DB
}

func (d *sqlDB) Write() sqlstore.Querier { return conn{d.write} }

func (d *sqlDB) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed { // fn failed or panicked: free the one writer
			_ = tx.Rollback()
		}
	}()
	if err := fn(conn{tx}); err != nil {
		return err
	}
	committed = true
	return tx.Commit()
}
