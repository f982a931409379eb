package web_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/web"
	"github.com/securecam/securecam/web/connlimit"

	"github.com/securecam/securecam/signaling/wire"
)

// rawWait bounds every wait on a raw connection: generous, as the machine is shared.
const rawWait = 20 * time.Second

// rawConn is a plain TCP connection to the test server.
type rawConn struct {
	t *testing.T
	net.Conn
	br *bufio.Reader
}

func (e *env) dial() *rawConn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.http.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: e.t, Conn: c, br: bufio.NewReader(c)}
}

// get sends a GET request for path.
func (c *rawConn) get(path string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hub\r\n\r\n", path); err != nil {
		c.t.Fatalf("write GET %s: %v", path, err)
	}
}

// answer reads one response, its body included.
func (c *rawConn) answer() (*http.Response, []byte) {
	c.t.Helper()
	res, body, err := c.tryAnswer()
	if err != nil {
		c.t.Fatalf("no answer: %v", err)
	}
	return res, body
}

func (c *rawConn) tryAnswer() (*http.Response, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(rawWait))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// wantAnswer reads one response and checks its status and, for a problem, its code.
func (c *rawConn) wantAnswer(status int, code string) *http.Response {
	c.t.Helper()
	res, body := c.answer()
	if res.StatusCode != status {
		c.t.Fatalf("status %d, want %d: %s", res.StatusCode, status, body)
	}
	if code != "" {
		var p problemDoc
		if err := json.Unmarshal(body, &p); err != nil || p.Code != code {
			c.t.Fatalf("problem %s, want code %q", body, code)
		}
	}
	return res
}

// wantClosed waits until the server closes the connection, with nothing more to read.
func (c *rawConn) wantClosed() {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(rawWait))
	n, err := c.br.Read(make([]byte, 512))
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), err != nil && strings.Contains(err.Error(), "connection reset"):
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatalf("the connection is still open after %s", rawWait)
	default:
		c.t.Fatalf("read %d bytes (%v), want the connection closed", n, err)
	}
}

func TestSlowBodiesAreCut(t *testing.T) {
	t.Parallel()
	fast := config(func(c *web.Config) { c.BodyTimeout = 300 * time.Millisecond; c.BodyMinRate = 1000 })
	head := "POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"

	t.Run("a stalled body", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fast)
		c := e.dial()
		if _, err := io.WriteString(c, head+`{"email":`); err != nil {
			t.Fatal(err)
		}
		c.wantAnswer(http.StatusRequestTimeout, "bad_request")
		c.wantClosed()
	})

	t.Run("a body trickled below the rate", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fast)
		c := e.dial()
		if _, err := io.WriteString(c, head+`{"email":"`); err != nil {
			t.Fatal(err)
		}
		// One byte every 20 ms: at most 15 per window, far below the 300 the rate asks.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		})
		defer wg.Wait()
		defer close(stop)
		c.wantAnswer(http.StatusRequestTimeout, "bad_request")
		c.wantClosed()
	})

	t.Run("an upload that keeps the rate may take longer than the window", func(t *testing.T) {
		t.Parallel()
		const window = 2 * time.Second
		e := newEnv(t, withEvents(t, newDisk(t)), config(func(c *web.Config) { c.BodyTimeout = window; c.BodyMinRate = 256 }))
		h := e.household()
		rec := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
		// 60 chunks of 1 KiB, one every 50 ms: about 3 s in all, each window well above 512 bytes.
		const chunks = 60
		chunk := bytes.Repeat([]byte("v"), 1024)
		pr, pw := io.Pipe()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for range chunks {
				<-tick.C
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			_ = pw.Close()
		})
		req, err := http.NewRequestWithContext(t.Context(), "PUT", e.http.URL+uploadPath(t, rec.UploadURL), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = chunks * int64(len(chunk))
		req.Header.Set("Authorization", "Bearer "+h.cam.DeviceToken)
		req.Header.Set("Content-Type", "video/mp4")
		start := time.Now()
		res, err := e.http.Client().Do(req)
		_ = pr.CloseWithError(io.ErrClosedPipe) // ends the writer if the server gave up early
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var up wire.Recording
		if err := json.NewDecoder(res.Body).Decode(&up); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("upload: %d %+v %v", res.StatusCode, up, err)
		}
		if up.SizeBytes == nil || *up.SizeBytes != req.ContentLength {
			t.Fatalf("stored %v bytes, want %d", up.SizeBytes, req.ContentLength)
		}
		if took := time.Since(start); took <= window {
			t.Fatalf("the upload took %s, not longer than the %s window: the test proves nothing", took, window)
		}
	})
}

func TestConnectionCaps(t *testing.T) {
	t.Parallel()

	t.Run("per client", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *setup) {
			s.connLimit = &connlimit.Config{MaxConnsPerClient: 3, ClientOverflow: 2, OverflowTimeout: time.Minute}
		})
		// Three idle connections take this address's cap (accepted in order).
		held := []*rawConn{e.dial(), e.dial(), e.dial()}
		// A request on a fourth is answered 429 with Retry-After, then closed.
		c := e.dial()
		c.get("/api/v1/me")
		if res := c.wantAnswer(http.StatusTooManyRequests, "rate_limited"); res.Header.Get("Retry-After") != "5" {
			t.Fatalf("Retry-After %q, want 5", res.Header.Get("Retry-After"))
		}
		c.wantClosed()
		// Health checks still answer there.
		for _, path := range []string{"/healthz", "/readyz"} {
			c := e.dial()
			c.get(path)
			c.wantAnswer(http.StatusOK, "")
			c.wantClosed()
		}
		// Beyond the overflow allowance connections are closed unanswered.
		over := []*rawConn{e.dial(), e.dial()}
		c = e.dial()
		c.get("/healthz")
		c.wantClosed()
		for _, o := range over {
			_ = o.Close()
		}
		// A connection given back makes room for a regular one (attempts made while the
		// others are still being closed may be refused or closed unanswered).
		_ = held[0].Close()
		waitUntil(t, "a request to be admitted again", func() bool {
			c := e.dial()
			defer c.Close()
			c.get("/api/v1/me")
			res, _, err := c.tryAnswer()
			return err == nil && res.StatusCode == http.StatusUnauthorized
		})
	})

	t.Run("a connection over the cap may not idle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *setup) {
			s.connLimit = &connlimit.Config{MaxConnsPerClient: 1, OverflowTimeout: 200 * time.Millisecond}
		})
		e.dial()
		idle := e.dial()
		idle.wantClosed()
	})

	t.Run("in total, with a reserve for health checks", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *setup) {
			s.connLimit = &connlimit.Config{MaxConns: 2, Reserve: 2, OverflowTimeout: time.Minute}
		})
		e.dial()
		e.dial()
		c := e.dial()
		c.get("/api/v1/me")
		if res := c.wantAnswer(http.StatusServiceUnavailable, "unavailable"); res.Header.Get("Retry-After") != "5" {
			t.Fatalf("Retry-After %q, want 5", res.Header.Get("Retry-After"))
		}
		c.wantClosed()
		// The reserve answers health checks; two idle connections fill it, and the next
		// is closed unanswered.
		c = e.dial()
		c.get("/healthz")
		c.wantAnswer(http.StatusOK, "")
		c.wantClosed()
		e.dial()
		e.dial()
		c = e.dial()
		c.get("/healthz")
		c.wantClosed()
	})
}

// waitUntil polls cond until it holds or rawWait passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rawWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
