package push_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/securecam/securecam/push"
)

func TestClassifyOtherErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want push.Class
	}{
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), push.ClassRetryable},
		{"canceled", context.Canceled, push.ClassRetryable},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, push.ClassRetryable},
		{"wrapped push error", fmt.Errorf("deliver: %w", &push.Error{Service: "apns", Class: push.ClassTokenInvalid, Status: 410}), push.ClassTokenInvalid},
		{"expired", push.ErrExpired, push.ClassPermanent},
		{"anything else", errors.New("boom"), push.ClassPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, retryAfter := push.Classify(tc.err); got != tc.want || retryAfter != 0 {
				t.Fatalf("Classify(%v) = %v, %v; want %v, 0", tc.err, got, retryAfter, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"first failure", 1, 0, time.Second, 2 * time.Second},
		{"attempt zero counts as first", 0, 0, time.Second, 2 * time.Second},
		{"doubles", 3, 0, 4 * time.Second, 8 * time.Second},
		{"capped", 12, 0, 5 * time.Minute, 10 * time.Minute},
		{"huge attempt stays capped", 1 << 30, 0, 5 * time.Minute, 10 * time.Minute},
		{"retry-after wins when longer", 1, 30 * time.Second, 30 * time.Second, 30 * time.Second},
		{"backoff wins when longer", 8, time.Second, 128 * time.Second, 256 * time.Second},
		{"retry-after beyond the cap is honoured", 2, 40 * time.Minute, 40 * time.Minute, 40 * time.Minute},
		{"retry-after capped at an hour", 2, 48 * time.Hour, time.Hour, time.Hour},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := push.Backoff(tc.attempt, tc.retryAfter, rnd); d < tc.lo || d > tc.hi {
					t.Fatalf("Backoff(%d, %v) = %v, want in [%v, %v]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
				}
			}
			if d := push.Backoff(tc.attempt, tc.retryAfter, nil); d < tc.lo || d > tc.hi {
				t.Fatalf("Backoff(%d, %v, nil) = %v, want in [%v, %v]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
			}
		})
	}
}

func TestBackoffJitters(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(3, 4))
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[push.Backoff(5, 0, rnd)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 backoffs gave %d distinct values; want spread", len(seen))
	}
}
