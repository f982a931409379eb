package web_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/web"
)

// Forty loops sending garbage bearers to /ws, from one client behind the trusted
// proxy, take no accept slot from a real camera: it connects twenty times in a row
// while they run. They spend their own network's budget of failed authentications,
// then get 429 with Retry-After.
func TestGarbageBearersDoNotKeepACameraOut(t *testing.T) {
	t.Parallel()
	// Built as cmd/securecam builds them: the socket auth from the server's Config and
	// store, the hub on it, the server mounting the hub.
	var h *hub.Hub
	e := newEnv(t, config(func(c *web.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} }),
		func(s *setup) {
			auth, err := web.NewSocketAuth(s.cfg, s.deps)
			if err != nil {
				t.Fatal(err)
			}
			// Twenty accept slots, refilled at one a second: the camera needs all of them.
			h, err = hub.New(hub.Config{Authenticator: auth, AcceptRate: 1, AcceptBurst: 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := h.Shutdown(ctx); err != nil {
					t.Errorf("hub Shutdown: %v", err)
				}
			})
			s.deps.WS = h
		})
	a := e.signUp()
	cam := e.createDevice(a.Session.Token, "camera")

	ctx, stop := context.WithCancel(t.Context())
	var unauthorized, throttled atomic.Int64
	var unexpected sync.Map // status → a description
	var loops sync.WaitGroup
	defer loops.Wait()
	defer stop()
	for i := range 40 {
		loops.Go(func() {
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/ws", nil)
				if err != nil {
					unexpected.Store(-1, err.Error())
					return
				}
				for k, v := range map[string]string{
					"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
					"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": hub.Subprotocol,
					"Authorization":   "Bearer garbage-" + strconv.Itoa(i),
					"X-Forwarded-For": "203.0.113.66",
				} {
					req.Header.Set(k, v)
				}
				res, err := e.http.Client().Do(req)
				if err != nil {
					continue // cancelled at the end
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				switch ra := res.Header.Get("Retry-After"); {
				case res.StatusCode == http.StatusUnauthorized:
					unauthorized.Add(1)
				case res.StatusCode == http.StatusTooManyRequests && ra != "" && ra != "0":
					throttled.Add(1)
				default:
					unexpected.Store(res.StatusCode, "Retry-After "+ra)
				}
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for throttled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the intruder was never answered 429 (%d answered 401)", unauthorized.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling the loops' counters
	}

	camera, err := client.New(client.Config{BaseURL: e.http.URL, Token: cam.DeviceToken})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		dctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		conn, err := camera.Dial(dctx, client.DialOptions{}) // returns once hello arrived
		cancel()
		if err != nil {
			t.Fatalf("camera connect %d of 20: %v", i+1, err)
		}
		if got := conn.Hello().DeviceID; got != cam.Device.ID {
			t.Fatalf("camera connect %d: hello for %q, want %q", i+1, got, cam.Device.ID)
		}
		_ = conn.Close()
	}
	stop()
	loops.Wait()
	unexpected.Range(func(k, v any) bool {
		t.Errorf("the intruder got status %v (%v), want only 401 and 429 with Retry-After", k, v)
		return true
	})
	if unauthorized.Load() == 0 {
		t.Error("no garbage bearer was refused 401 before the budget ran out")
	}
}
