package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web/internal/password"
)

// Error is an error a client sees: an HTTP status, a wire code and a human detail.
// Handlers return it; the problem writer turns it into an RFC 9457 document (and
// [SocketAuth] into the hub's refusal).
type Error struct {
	Status     int
	Code       string
	Detail     string
	RetryAfter time.Duration // sent as Retry-After when positive
	cause      error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.cause)
	}
	return e.Code + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.cause }

func errBadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: wire.CodeBadRequest, Detail: fmt.Sprintf(format, args...)}
}

func errUnauthorized(detail string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthorized, Detail: detail}
}

func errForbidden(detail string) *Error {
	return &Error{Status: http.StatusForbidden, Code: wire.CodeForbidden, Detail: detail}
}

func errNotFound(detail string) *Error {
	return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Detail: detail}
}

func errConflict(detail string) *Error {
	return &Error{Status: http.StatusConflict, Code: wire.CodeConflict, Detail: detail}
}

func errRateLimited(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited,
		Detail: "too many requests, retry later", RetryAfter: retryAfter}
}

var errInvalidCredentials = &Error{Status: http.StatusUnauthorized, Code: wire.CodeInvalidCredentials,
	Detail: "wrong email or password"}

// unavailableRetry is the Retry-After of a 503 unavailable: a dependency (the
// database, Redis) is down or did not answer in time.
const unavailableRetry = 2 * time.Second

// asError maps any error to the *Error a client sees: typed errors as they are, store
// and pool sentinels to their codes, everything else to 500 internal.
func asError(err error) *Error {
	var e *Error
	var we *wire.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &we):
		e := &Error{Status: wire.HTTPStatus(we.Code), Code: we.Code, Detail: we.Message, cause: err}
		if e.Status == http.StatusServiceUnavailable {
			e.RetryAfter = unavailableRetry
		}
		return e
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
			Detail: "the database is unavailable, retry", RetryAfter: unavailableRetry, cause: err}
	case errors.Is(err, errSlowBody):
		return errSlowBodyProblem
	case errors.Is(err, store.ErrNotFound):
		return errNotFound("no such resource")
	case errors.Is(err, store.ErrConflict):
		return errConflict("the request conflicts with the current state")
	case errors.Is(err, store.ErrInvalidCursor):
		return errBadRequest("cursor is not one this list issued")
	case errors.Is(err, password.ErrBusy):
		return &Error{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited,
			Detail: "the server is busy hashing passwords, retry shortly", RetryAfter: time.Second, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
			Detail: "a dependency did not answer in time, retry", RetryAfter: unavailableRetry, cause: err}
	default:
		return &Error{Status: http.StatusInternalServerError, Code: wire.CodeInternal,
			Detail: "internal error", cause: err}
	}
}

// writeError is the one place errors become responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	switch {
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		s.log.DebugContext(r.Context(), "request cancelled", "method", r.Method, "path", r.URL.Path)
	case e.Status == http.StatusServiceUnavailable:
		s.log.WarnContext(r.Context(), "request failed: unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case e.Status >= 500:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"status", e.Status, "err", err)
	}
	writeProblem(w, e)
}

// writeProblem writes e as a problem document (the hub's writer), never cached.
func writeProblem(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	hub.WriteProblem(w, e.Status, e.Code, e.Detail)
}

// writeJSON writes v with status. API answers are never cached: some carry tokens.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
