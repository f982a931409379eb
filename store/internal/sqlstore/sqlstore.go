// Package sqlstore is the one implementation of store.Store's queries, shared by the
// PostgreSQL and SQLite engines. An engine hands it a [DB] (its connections behind a
// tiny interface) and a [Dialect] (what differs between the two SQL dialects); the
// queries are written once, in the subset of SQL both engines accept.
//
// Concurrency: a Store is safe for concurrent use when its DB is, which both engines'
// are. Every method blocks on I/O and honours its context.
package sqlstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/store"
)

// ErrNoRows is what a Row's Scan returns when the query produced no row; adapters
// translate their driver's own value to it.
var ErrNoRows = errors.New("sqlstore: no rows")

// Querier runs statements. Placeholders are $1, $2, … in both engines.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Rows is the cursor of a Query. Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the result of QueryRow; Scan returns ErrNoRows when there was none.
type Row interface {
	Scan(dest ...any) error
}

// DB is an engine's connections. The embedded Querier serves reads (SQLite: the
// reader pool); Write serves single write statements; InTx runs fn in a write
// transaction, committing when fn returns nil and rolling back otherwise.
type DB interface {
	Querier
	Write() Querier
	InTx(ctx context.Context, fn func(q Querier) error) error
}

// Dialect is what differs between the engines.
type Dialect struct {
	// Rewrite adapts a query written for PostgreSQL (row locking clauses) to the
	// engine, or is nil when none is needed.
	Rewrite func(sql string) string
	// Time converts a time to the engine's parameter value.
	Time func(t time.Time) any
	// IsUnique reports a unique-constraint violation, IsForeignKey a foreign-key one.
	IsUnique, IsForeignKey func(err error) bool
	// LockKeySQL takes a transaction-scoped lock on the text key $1, or is empty when
	// the engine serialises writers anyway.
	LockKeySQL string
	// JSONRows is a FROM item named v with a row per object of the JSON array in the
	// parameter param and a column per col, given as "name type" (a PostgreSQL type;
	// SQLite takes the value as JSON has it). Batches pass their rows this way: one
	// query text whatever their size.
	JSONRows func(param string, cols ...string) string
}

// Store implements every method of store.Store except Ping and Close, which the
// engine packages add.
type Store struct {
	db DB
	d  Dialect
}

// New returns a Store over db.
func New(db DB, d Dialect) *Store {
	return &Store{db: db, d: d}
}

// q adapts a query to the dialect.
func (s *Store) q(sql string) string {
	if s.d.Rewrite == nil {
		return sql
	}
	return s.d.Rewrite(sql)
}

// t converts a time parameter.
func (s *Store) t(t time.Time) any { return s.d.Time(t.UTC()) }

// nt converts a nullable time parameter.
func (s *Store) nt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.t(*t)
}

// lockKey takes the dialect's transaction-scoped lock on key inside q's transaction.
func (s *Store) lockKey(ctx context.Context, q Querier, key string) error {
	if s.d.LockKeySQL == "" {
		return nil
	}
	if _, err := q.Exec(ctx, s.d.LockKeySQL, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the store's sentinels: unique violations are
// conflicts, foreign-key violations name a row that does not exist.
func (s *Store) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoRows):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case s.d.IsUnique(err):
		return fmt.Errorf("%s: %w: %w", op, store.ErrConflict, err)
	case s.d.IsForeignKey(err):
		return fmt.Errorf("%s: %w: %w", op, store.ErrNotFound, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// now is the current time at the precision both engines store.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// stamp normalises a caller-given time to what the database keeps.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// created fills a zero creation time with now and normalises it.
func created(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return stamp(t)
}

// newID returns id in canonical form, or a new UUID v7 when id is empty.
func newID(id string) (string, error) {
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		return u.String(), nil
	}
	c, ok := canonID(id)
	if !ok {
		return "", fmt.Errorf("id %q is not a UUID", id)
	}
	return c, nil
}

// canonID returns the canonical lower-case form of a UUID, or false when s is not one.
// A string that is not a UUID names no row.
func canonID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// Pagination.

const (
	defaultLimit = 50
	maxLimit     = 200
)

// page decodes p: the clamped limit and the id the page starts below ("" for the first).
func page(p store.Page) (limit int, before string, err error) {
	limit = p.Limit
	switch {
	case limit == 0:
		limit = defaultLimit
	case limit < 1:
		limit = 1
	case limit > maxLimit:
		limit = maxLimit
	}
	if p.Cursor == "" {
		return limit, "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return 0, "", store.ErrInvalidCursor
	}
	id, ok := canonID(string(raw))
	if !ok {
		return 0, "", store.ErrInvalidCursor
	}
	return limit, id, nil
}

// cursor encodes the id a next page starts below.
func cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// pageQuery completes a list query whose WHERE clause ends the text base and whose
// arguments are args: it adds the cursor condition, newest-first order and limit+1.
func pageQuery(base string, args []any, limit int, before string) (string, []any) {
	var b strings.Builder
	b.WriteString(base)
	if before != "" {
		args = append(args, before)
		fmt.Fprintf(&b, " AND id < $%d", len(args))
	}
	args = append(args, limit+1)
	fmt.Fprintf(&b, " ORDER BY id DESC LIMIT $%d", len(args))
	return b.String(), args
}

// listPage runs a page query, returning at most limit items and, when there are more,
// the cursor of the next page.
func listPage[T any](ctx context.Context, q Querier, sql string, args []any, limit int, scan func(Row) (T, error), id func(T) string) ([]T, string, error) {
	items, err := collect(ctx, q, sql, args, scan)
	if err != nil {
		return nil, "", err
	}
	if len(items) > limit {
		return items[:limit], cursor(id(items[limit-1])), nil
	}
	return items, "", nil
}

// collect runs a query and scans every row.
func collect[T any](ctx context.Context, q Querier, sql string, args []any, scan func(Row) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}
