package web

import (
	"context"
	"time"

	"github.com/securecam/securecam/web/internal/password"
)

// NewFast is New with scrypt parameters cheap enough for tests under -race (a real
// hash takes seconds there). The Better Auth parameters are covered by the vectors in
// internal/password and by the tests that use New.
func NewFast(cfg Config, deps Deps) (*Server, error) {
	return newServer(cfg, deps, password.Params{N: 16, R: 1, P: 1, KeyLen: 64})
}

// HoldHashWorker takes one password-hashing slot until release is called.
func (s *Server) HoldHashWorker(ctx context.Context) (release func(), err error) {
	return s.hasher.Acquire(ctx)
}

// NewFastPaused is NewFast whose sign-in slowdowns call pause instead of waiting.
func NewFastPaused(cfg Config, deps Deps, pause func(ctx context.Context, d time.Duration) error) (*Server, error) {
	s, err := NewFast(cfg, deps)
	if err != nil {
		return nil, err
	}
	s.pause = pause
	return s, nil
}
