package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"

	"github.com/securecam/securecam/store/internal/sqlstore"
)

// execer is what *sql.DB and *sql.Tx share.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn adapts database/sql to sqlstore.Querier. With stmts set each query runs as a
// statement prepared once. In a transaction (tx set) a statement the write pool has
// prepared already runs as the transaction's; one it has not runs unprepared and is
// noted in missed, to be prepared once the transaction has freed the one writer.
type conn struct {
	x      execer
	stmts  *stmts
	tx     *sql.Tx
	missed *[]string
}

// on returns what runs query: its prepared statement, or the connection.
func (c conn) on(ctx context.Context, query string) execer {
	switch {
	case c.tx != nil:
		if st := c.stmts.peek(query); st != nil {
			return stmtExecer{c.tx.StmtContext(ctx, st)}
		}
		*c.missed = append(*c.missed, query)
	case c.stmts != nil:
		if st := c.stmts.get(ctx, query); st != nil {
			return stmtExecer{st}
		}
	}
	return c.x
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.on(ctx, query).ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.on(ctx, query).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{c.on(ctx, query).QueryRowContext(ctx, query, args...)}
}

// maxStmts bounds the prepared statements kept per pool; a query beyond runs
// unprepared. The store's queries are a fixed set of texts, well below it.
const maxStmts = 512

// stmts prepares each query text once per pool (database/sql then prepares it on each
// of the pool's connections as they use it). modernc.org/sqlite parses the SQL of
// every unprepared call, and that parse was most of the hub's CPU on reads.
type stmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

// get returns the prepared statement of query, or nil when it cannot be prepared (the
// unprepared call then reports why), holds several statements (a prepared statement
// runs only the first) or the cache is full.
func (s *stmts) get(ctx context.Context, query string) *sql.Stmt {
	if strings.Contains(strings.TrimRight(query, "; \t\r\n"), ";") {
		return nil
	}
	s.mu.Lock()
	st, ok := s.m[query]
	full := len(s.m) >= maxStmts
	s.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[query]; ok || len(s.m) >= maxStmts {
		_ = st.Close()
		return old
	}
	s.m[query] = st
	return st
}

// peek returns the prepared statement of query, or nil when there is none yet.
func (s *stmts) peek(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[query]
}

// close closes the prepared statements.
func (s *stmts) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for q, st := range s.m {
		errs = append(errs, st.Close())
		delete(s.m, q)
	}
	return errors.Join(errs...)
}

// stmtExecer runs one prepared statement; the query text it is given is the
// statement's own.
type stmtExecer struct{ st *sql.Stmt }

func (e stmtExecer) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return e.st.ExecContext(ctx, args...)
}

func (e stmtExecer) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return e.st.QueryContext(ctx, args...)
}

func (e stmtExecer) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return e.st.QueryRowContext(ctx, args...)
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
	write conn
}

func (d *sqlDB) Write() sqlstore.Querier { return d.write }

func (d *sqlDB) InTx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	tx, err := d.write.x.(*sql.DB).BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	committed := false
	var missed []string
	defer func() {
		if !committed { // fn failed or panicked: free the one writer
			_ = tx.Rollback()
		}
		// The writer is free: prepare what ran unprepared, for the next transaction.
		for _, q := range missed {
			d.write.stmts.get(ctx, q)
		}
	}()
	if err := fn(conn{x: tx, stmts: d.write.stmts, tx: tx, missed: &missed}); err != nil {
		return err
	}
	committed = true
	return tx.Commit()
}
