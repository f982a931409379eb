package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/securecam/securecam/web/connlimit"

	"github.com/securecam/securecam/signaling/wire"
)

// connRetryAfter is the Retry-After of a connection refused over a cap.
const connRetryAfter = 5 * time.Second

// admitConn answers the requests of connections accepted over a cap (see
// web/connlimit): 429 over the client's cap, 503 over the total, with
// Retry-After, and the connection closes after the answer. Health checks are
// answered on them as usual: the reserve of connections exists for them.
func (s *Server) admitConn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := connlimit.VerdictOf(r.Context())
		if v == connlimit.Admitted {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if v == connlimit.OverTotalCap {
			writeProblem(w, &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
				Detail: "the hub is at its connection limit, retry", RetryAfter: connRetryAfter})
			return
		}
		writeProblem(w, &Error{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited,
			Detail: "too many connections from your address, close some and retry", RetryAfter: connRetryAfter})
	})
}

// errSlowBody is the error of reading a request body that did not keep up
// the minimum rate.
var errSlowBody = errors.New("request body too slow")

var errSlowBodyProblem = &Error{Status: http.StatusRequestTimeout, Code: wire.CodeBadRequest,
	Detail: "the request body arrived too slowly"}

// paceBodies makes every request body keep moving: each bodyTimeout spent
// waiting for it must bring bodyMinRate×bodyTimeout bytes, or the rest of the
// body. A small (JSON) body must so arrive whole within bodyTimeout; an
// upload may take as long as it needs while it keeps the rate. Beyond, the
// read fails with errSlowBody (answered 408) and the connection closes.
func (s *Server) paceBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &pacedBody{
				body:   r.Body,
				rc:     http.NewResponseController(w),
				window: s.bodyTimeout,
				need:   max(1, int64(float64(s.bodyMinRate)*s.bodyTimeout.Seconds())),
			}
		}
		next.ServeHTTP(w, r)
	})
}

// pacedBody sets the connection's read deadline before each Read to what is
// left of the window. Only time spent waiting in Read counts, so a handler
// that is slow between reads costs the client nothing; the window starts over
// each time it has brought need bytes. At the end of the body the deadline is
// cleared, as net/http keeps reading the connection in the background while
// the handler runs.
type pacedBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	window time.Duration
	need   int64

	got    int64         // bytes since the window started
	waited time.Duration // time in Read since the window started
	done   bool
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	start := time.Now()
	// Unsupported (a test's recorder) leaves the body unpaced.
	_ = b.rc.SetReadDeadline(start.Add(b.window - b.waited))
	n, err := b.body.Read(p)
	b.waited += time.Since(start)
	if b.got += int64(n); b.got >= b.need {
		b.got, b.waited = 0, 0
	}
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.done = true
		return n, fmt.Errorf("%w: %w", errSlowBody, err)
	default:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *pacedBody) Close() error { return b.body.Close() }
