// Package migrate applies numbered SQL migrations embedded in the binary and records
// them in the table securecam_migrations.
//
// Concurrency: Apply is not safe to run concurrently on one database; the caller
// serialises it (PostgreSQL: an advisory lock; SQLite: its single writer connection).
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/securecam/securecam/store/internal/sqlstore"
)

// Migration is one file NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files at the root of fsys, ordered by version.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	var ms []Migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("load migrations: %s: name is not NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(path.Base(name), ".sql"), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("load migrations: version %d twice", ms[i].Version)
		}
	}
	return ms, nil
}

// Apply applies, in order, each migration whose version is not recorded yet, each in
// its own transaction together with its record, and returns the names it applied. The
// check is made inside that transaction, so a second process that waited for the
// first one's transaction skips what it did. Versions recorded but unknown here (a
// newer binary migrated the database) are left alone.
func Apply(ctx context.Context, db sqlstore.DB, ms []Migration) ([]string, error) {
	if _, err := db.Write().Exec(ctx, `CREATE TABLE IF NOT EXISTS securecam_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at text NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, m := range ms {
		done := false
		err := db.InTx(ctx, func(q sqlstore.Querier) error {
			var n int
			if err := q.QueryRow(ctx, `SELECT count(*) FROM securecam_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return err
			}
			if done = n > 0; done {
				return nil
			}
			if _, err := q.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := q.Exec(ctx, `INSERT INTO securecam_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if !done {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}
