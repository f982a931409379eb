package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/storetest"
)

// With its server stopped, every kind of call (a read, a write, a transaction, a list,
// the ping) fails with store.ErrUnavailable, never a bare driver error; the same store
// works again once the server is back, without being reopened.
func TestUnavailableWhileServerIsDown(t *testing.T) {
	t.Parallel()
	url, stop, start := storetest.StartPostgres(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	u := store.User{Email: "down@example.com", Name: "Down", PasswordHash: "x"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}

	calls := map[string]func(ctx context.Context) error{
		"ping":  s.Ping,
		"read":  func(ctx context.Context) error { _, err := s.UserByID(ctx, u.ID); return err },
		"write": func(ctx context.Context) error { return s.SetEmailVerified(ctx, u.ID) },
		"tx":    func(ctx context.Context) error { return s.SetPassword(ctx, u.ID, "y") },
		"list":  func(ctx context.Context) error { _, _, err := s.ListDevices(ctx, u.ID, store.Page{}); return err },
		"insert-tx": func(ctx context.Context) error {
			return s.CreateUser(ctx, &store.User{Email: time.Now().String() + "@x.org", Name: "n", PasswordHash: "x"})
		},
	}
	stop()
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want store.ErrUnavailable", name, err)
		}
	}
	start()
	for name, call := range calls {
		// The pool may hand out a connection the shutdown broke once more: that one
		// fails as unavailable, and a retry gets a fresh connection.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := call(ctx)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("%s after the server came back: %v", name, err)
			}
		}
	}
}
