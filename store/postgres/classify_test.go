package postgres

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/securecam/securecam/store"
)

// A server that accepts the TCP connection and then says nothing makes the connect
// time out: that is unavailable too, after the connect timeout rather than never.
func TestConnectTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() { // holds every connection open, silent, until the listener closes
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cfg, err := pgxpool.ParseConfig("postgres://postgres@" + l.Addr().String() + "/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 500 * time.Millisecond
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	_, err = pgxDB{pool}.Exec(t.Context(), `SELECT 1`)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Exec against a silent server: %v, want store.ErrUnavailable", err)
	}
}
