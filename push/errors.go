package push

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of Send. All are permanent: Classify returns ClassPermanent.
var (
	// ErrInvalidMessage: the message lacks a token, a device id, a valid kind or reason,
	// or an event's id or title.
	ErrInvalidMessage = errors.New("push: invalid message")
	// ErrUnsupportedPlatform: the recipient's platform is neither ios nor android.
	ErrUnsupportedPlatform = errors.New("push: unsupported platform")
	// ErrNotConfigured: the recipient's service is not configured while the other one
	// is (with neither configured, pushes go to the log provider instead).
	ErrNotConfigured = errors.New("push: provider not configured")
	// ErrExpired: the message's expiry has passed; it was not sent.
	ErrExpired = errors.New("push: message expired")
)

// Class is what the delivery worker should do after a failed send.
type Class int

// Classes of send errors.
const (
	// ClassPermanent: do not retry (bad request, configuration, payload, expired).
	ClassPermanent Class = iota + 1
	// ClassRetryable: try again later (throttled, server error, network error, timeout).
	ClassRetryable
	// ClassTokenInvalid: the push token is dead; clear it from the device, do not retry.
	ClassTokenInvalid
)

func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassRetryable:
		return "retryable"
	case ClassTokenInvalid:
		return "token_invalid"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Error is a failed send as the APNs or FCM provider reports it.
type Error struct {
	// Service is "apns" or "fcm".
	Service string
	// Class is the classification Classify returns.
	Class Class
	// Status is the HTTP status of the answer, 0 when there was none (network error,
	// timeout).
	Status int
	// Reason is the service's error: the APNs reason ("Unregistered", "BadDeviceToken", …)
	// or the FCM error code ("UNREGISTERED", …, else the status such as "NOT_FOUND").
	Reason string
	// RetryAfter is the server's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	// Err is the underlying client error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Service)
	b.WriteString(":")
	if e.Status != 0 {
		b.WriteString(" " + strconv.Itoa(e.Status))
	}
	if e.Reason != "" {
		b.WriteString(" " + e.Reason)
	}
	switch {
	case e.Err != nil && b.Len() > len(e.Service)+1:
		b.WriteString(": " + e.Err.Error())
	case e.Err != nil:
		b.WriteString(" " + e.Err.Error())
	case b.Len() == len(e.Service)+1:
		b.WriteString(" send failed")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Classify says what to do after Send returned err (which must not be nil), and how long
// the server asked to wait before retrying (0 when it did not say).
//
// An *Error carries its class. Context cancellation, deadlines and network errors are
// retryable; everything else, including the Err* sentinels, is permanent.
func Classify(err error) (Class, time.Duration) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class, e.RetryAfter
	}
	if isTransient(err) {
		return ClassRetryable, 0
	}
	return ClassPermanent, 0
}

// isTransient reports whether err is a timeout, a cancellation or a network error.
func isTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. It returns 0
// for an absent, malformed or past value.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// Backoff policy.
const (
	backoffBase   = 2 * time.Second
	backoffMax    = 10 * time.Minute
	maxRetryAfter = time.Hour
)

// Backoff returns how long to wait before the next attempt, after attempt failed
// attempts (1 after the first failure). The delay doubles from 2 s up to 10 min, with
// "equal jitter" (a uniformly random value in [d/2, d]) so replicas retrying together
// spread out; it is never shorter than retryAfter (the server's Retry-After, capped at
// one hour). rnd is the randomness source; nil uses the global one (safe for concurrent
// use, unlike a *rand.Rand).
func Backoff(attempt int, retryAfter time.Duration, rnd *rand.Rand) time.Duration {
	attempt = max(attempt, 1)
	d := backoffMax
	if attempt <= 20 { // 2 s << 19 is far past the cap; beyond that the shift would overflow
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	half := int64(d / 2)
	var jitter int64
	if rnd != nil {
		jitter = rnd.Int64N(half + 1)
	} else {
		jitter = rand.Int64N(half + 1)
	}
	d = time.Duration(half + jitter)
	return max(d, min(retryAfter, maxRetryAfter))
}
