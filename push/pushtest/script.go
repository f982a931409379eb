package pushtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// Response is a scripted answer to one push request.
type Response struct {
	// Status is the HTTP status; 0 means 200, a successful send.
	Status int
	// Reason is the error: APNs' "reason" (Unregistered, BadDeviceToken, …) or FCM's
	// FcmError errorCode (UNREGISTERED, QUOTA_EXCEEDED, …; empty: no FcmError detail).
	Reason string
	// Message is FCM's error message; empty means a default for the status.
	Message string
	// RetryAfter is the Retry-After header to send, if any.
	RetryAfter string
	// Hang holds the answer until the client gives up or the fake shuts down, to make
	// the client time out.
	Hang bool
}

// recorder holds the scripts per device token and the log of requests of one fake.
type recorder[R any] struct {
	mu      sync.Mutex
	scripts map[string][]Response
	reqs    []R
	changed chan struct{} // closed and replaced whenever reqs grows
}

func newRecorder[R any]() *recorder[R] {
	return &recorder[R]{scripts: map[string][]Response{}, changed: make(chan struct{})}
}

// respond queues answers for token, used one per request in order; once they are used
// up the token's pushes succeed.
func (r *recorder[R]) respond(token string, rs []Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scripts[token] = append(r.scripts[token], rs...)
}

// next takes the next scripted answer for token.
func (r *recorder[R]) next(token string) Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.scripts[token]
	if len(q) == 0 {
		return Response{Status: http.StatusOK}
	}
	r.scripts[token] = q[1:]
	if q[0].Status == 0 {
		q[0].Status = http.StatusOK
	}
	return q[0]
}

func (r *recorder[R]) record(req R) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder[R]) all() []R {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]R(nil), r.reqs...)
}

// wait returns the log once it holds at least n requests, or an error when ctx ends.
func (r *recorder[R]) wait(ctx context.Context, n int) ([]R, error) {
	for {
		r.mu.Lock()
		if len(r.reqs) >= n {
			reqs := append([]R(nil), r.reqs...)
			r.mu.Unlock()
			return reqs, nil
		}
		changed, got := r.changed, len(r.reqs)
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("pushtest: %d of %d push requests: %w", got, n, ctx.Err())
		}
	}
}
