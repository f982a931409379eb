package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/client"
)

// dialFrom opens a TCP connection to the hub from a loopback source address, so that
// tests can play clients with their own IPs.
func dialFrom(t *testing.T, p *proc, source string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// rawGet sends GET path on c and reads the answer (20 s at most).
func rawGet(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hub\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, c, br)
}

func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	res, err := tryAnswer(c, br)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return res
}

func tryAnswer(c net.Conn, br *bufio.Reader) (*http.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res, nil
}

// wantClosed waits until the hub closes c.
func wantClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := br.Read(make([]byte, 256)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes (%v), want the connection closed", n, err)
	}
}

// The HTTP limits as configured through SECURECAM_* and served by the binary: a
// per-IP cap counting WebSockets and plain connections together, answered 429 while
// /healthz keeps answering and established sockets keep working; slow request bodies
// cut after the body timeout; the total cap derived from the open-file limit.
func TestHTTPLimits(t *testing.T) {
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":         t.TempDir(),
		"SECURECAM_MAX_CONNS_PER_IP": "3",
		"SECURECAM_BODY_TIMEOUT":     "500ms",
		"SECURECAM_BODY_MIN_RATE":    "1000",
	})
	a := newAccount(t, p) // from 127.0.0.1

	t.Run("total cap from the open-file limit", func(t *testing.T) {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(p.Tail(), "\n") {
			var rec struct {
				Msg      string `json:"msg"`
				MaxConns int    `json:"max_conns"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "connection limits" {
				if want := int(lim.Cur * 4 / 5); rec.MaxConns != want {
					t.Fatalf("max_conns %d, want 80%% of the file limit %d: %d", rec.MaxConns, lim.Cur, want)
				}
				return
			}
		}
		t.Fatal("no connection limits logged")
	})

	t.Run("per IP, WebSockets included", func(t *testing.T) {
		const ip = "127.0.0.2"
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext,
		}}
		c, err := client.New(client.Config{BaseURL: p.URL, Token: a.camera.DeviceToken, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		ws, err := c.Dial(ctx, client.DialOptions{})
		if err != nil {
			t.Fatalf("camera socket: %v", err)
		}
		defer ws.Close()
		// The socket and two idle connections hold this address's three.
		dialFrom(t, p, ip)
		dialFrom(t, p, ip)

		conn, br := dialFrom(t, p, ip)
		res := rawGet(t, conn, br, "/api/v1/me")
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Fatalf("over the cap: %d Retry-After %q, want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
		wantClosed(t, conn, br)
		conn, br = dialFrom(t, p, ip)
		if res := rawGet(t, conn, br, "/healthz"); res.StatusCode != http.StatusOK {
			t.Fatalf("/healthz over the cap: %d", res.StatusCode)
		}
		if _, err := ws.Ping(ctx); err != nil {
			t.Fatalf("the established socket stopped working: %v", err)
		}
		// Other addresses are not affected.
		conn, br = dialFrom(t, p, "127.0.0.4")
		if res := rawGet(t, conn, br, "/api/v1/me"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("another address: %d, want 401", res.StatusCode)
		}
		// Once the socket is gone its place is free (attempts made before the hub
		// noticed may be refused or closed unanswered).
		_ = ws.Close()
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ; ; <-tick.C {
			conn, br := dialFrom(t, p, ip)
			_, err := fmt.Fprintf(conn, "GET /api/v1/me HTTP/1.1\r\nHost: hub\r\n\r\n")
			var res *http.Response
			if err == nil {
				res, err = tryAnswer(conn, br)
			}
			_ = conn.Close()
			if err == nil && res.StatusCode == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the socket closed: still %v %v", res, err)
			}
		}
	})

	t.Run("slow body", func(t *testing.T) {
		conn, br := dialFrom(t, p, "127.0.0.3")
		if _, err := io.WriteString(conn, "POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: hub\r\n"+
			"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\":"); err != nil {
			t.Fatal(err)
		}
		if res := readAnswer(t, conn, br); res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stalled body: %d, want 408", res.StatusCode)
		}
		wantClosed(t, conn, br)
	})
}

// The header timeout, idle timeout and header size of SECURECAM_* reach the server.
func TestHTTPTimeouts(t *testing.T) {
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":         t.TempDir(),
		"SECURECAM_HEADER_TIMEOUT":   "300ms",
		"SECURECAM_IDLE_TIMEOUT":     "300ms",
		"SECURECAM_MAX_HEADER_BYTES": "4096",
	})
	t.Run("headers that never end", func(t *testing.T) {
		conn, br := dialFrom(t, p, "127.0.0.1")
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: hub\r\n"); err != nil {
			t.Fatal(err)
		}
		// Well past the 300 ms asked, well before the default of 10 s.
		drainUntilClosed(t, conn, br, 5*time.Second)
	})
	t.Run("an idle keep-alive connection", func(t *testing.T) {
		conn, br := dialFrom(t, p, "127.0.0.1")
		if res := rawGet(t, conn, br, "/healthz"); res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("/healthz: %d (close %v), want 200 kept alive", res.StatusCode, res.Close)
		}
		wantClosed(t, conn, br)
	})
	t.Run("headers too large", func(t *testing.T) {
		conn, br := dialFrom(t, p, "127.0.0.1")
		if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Pad: %s\r\n\r\n", strings.Repeat("a", 8192)); err != nil {
			t.Fatal(err)
		}
		if res := readAnswer(t, conn, br); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("8 KiB of headers: %d, want 431", res.StatusCode)
		}
	})
}

// drainUntilClosed reads whatever the hub sends until it closes c, within d.
func drainUntilClosed(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("want the connection closed: %v", err)
	}
}
