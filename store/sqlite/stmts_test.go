package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/securecam/securecam/store/internal/sqlstore"
)

func TestStmts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "stmts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := newStmts(db)
	defer st.close()
	c := conn{x: db, stmts: st}

	// Several statements in one text run unprepared, all of them.
	if _, err := c.Exec(ctx, `CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER);`); err != nil {
		t.Fatal(err)
	}
	if len(st.m) != 0 {
		t.Errorf("a text of several statements was cached")
	}
	for _, table := range []string{"a", "b"} {
		if _, err := c.Exec(ctx, `INSERT INTO `+table+` VALUES ($1)`, 1); err != nil {
			t.Errorf("insert into %s: %v", table, err)
		}
	}

	// A query is prepared once and reused.
	var n int
	for range 3 {
		if err := c.QueryRow(ctx, `SELECT count(*) FROM a WHERE x = $1`, 1).Scan(&n); err != nil || n != 1 {
			t.Fatalf("count = %d, %v", n, err)
		}
	}
	if len(st.m) != 3 { // two inserts and the count
		t.Errorf("%d statements cached, want 3", len(st.m))
	}

	// A query that does not compile is not cached; its error shows on the call.
	if _, err := c.Query(ctx, `SELECT nope FROM a`); err == nil {
		t.Error("bad query succeeded")
	}

	// The cache stops growing at maxStmts; further queries still run.
	for i := len(st.m); i < maxStmts+5; i++ {
		if err := c.QueryRow(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil || n != i {
			t.Fatalf("select %d = %d, %v", i, n, err)
		}
	}
	if len(st.m) != maxStmts {
		t.Errorf("%d statements cached, want the cap %d", len(st.m), maxStmts)
	}
}

// A transaction on the one-connection write pool runs the statements the pool has
// prepared as its own, and prepares the others once it has ended (preparing them
// inside would wait for the connection the transaction holds).
func TestStmtsInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	d := &sqlDB{write: conn{x: w, stmts: newStmts(w)}}
	defer d.write.stmts.close()
	if _, err := d.Write().Exec(ctx, `CREATE TABLE a (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO a VALUES ($1)`
	for i := range 3 {
		err := d.InTx(ctx, func(q sqlstore.Querier) error {
			_, err := q.Exec(ctx, insert, i)
			return err
		})
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if d.write.stmts.peek(insert) == nil {
			t.Fatalf("after transaction %d the insert is not prepared", i)
		}
	}
	var n int
	if err := d.Write().QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
