package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// database creates an empty PostgreSQL database on Config.PostgresURL's server for the
// running scenario, dropped when the scenario ends, and returns its URL.
func (r *runner) database(ctx context.Context) (string, error) {
	u, err := url.Parse(r.cfg.PostgresURL)
	if err != nil {
		return "", fmt.Errorf("postgres url: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "securecam_bench_" + hex.EncodeToString(b)
	// pgxpool's settings (pool_max_conns, …) go to the hub, not to this one connection.
	admin := *u
	q := admin.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	admin.RawQuery = q.Encode()
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			return fmt.Errorf("postgres at %s (--postgres): %w", u.Redacted(), err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres: %s: %w", sql, err)
		}
		return nil
	}
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	r.cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			r.progressf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String(), nil
}
