package web_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/storetest"
)

// socketAs authenticates a /ws request with a bearer token (and a device id for a
// session) and returns the socket's identity.
func socketAs(t *testing.T, e *env, tok, deviceID string) hub.Identity {
	t.Helper()
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if deviceID != "" {
		r.Header.Set("X-Device-Id", deviceID)
	}
	id, err := e.auth.Authenticate(r)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return id
}

// Re-validation finds sockets whose session was signed out, reset or expired, or whose
// device was deleted; the others still hold.
func TestRevalidateSockets(t *testing.T) {
	e := newEnv(t)
	a := e.signUp()
	var second authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).want(t, http.StatusOK, &second)
	cam, view, gone := e.createDevice(a.Session.Token, "camera"), e.createDevice(a.Session.Token, "viewer"), e.createDevice(a.Session.Token, "viewer")

	ids := []hub.Identity{
		socketAs(t, e, cam.DeviceToken, ""),                  // device token
		socketAs(t, e, a.Session.Token, view.Device.ID),      // session, kept
		socketAs(t, e, second.Session.Token, view.Device.ID), // session, signed out below
		socketAs(t, e, gone.DeviceToken, ""),                 // device deleted below
		socketAs(t, e, a.Session.Token, gone.Device.ID),      // session on the deleted device
	}
	e.do("POST", "/api/v1/auth/sign-out", nil, bearer(second.Session.Token)).want(t, http.StatusNoContent, nil)
	e.do("DELETE", "/api/v1/devices/"+gone.Device.ID, nil, bearer(a.Session.Token)).want(t, http.StatusNoContent, nil)
	foreign := ids[1]
	foreign.UserID = e.signUp().User.ID // a device is valid only as its owner's
	ids = append(ids, foreign)

	got, err := e.auth.Revalidate(t.Context(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, false, false}; !slices.Equal(got, want) {
		t.Fatalf("Revalidate = %v, want %v", got, want)
	}
	// A session past its expiry no longer holds either.
	e.clock.Advance(31 * 24 * time.Hour)
	if got, err := e.auth.Revalidate(t.Context(), ids[:2]); err != nil || !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("after the session expired: %v, %v; want [true false]", got, err)
	}
}

// With the database down, REST, sign-in and /ws authentication answer 503
// unavailable with Retry-After, never 500, and /readyz says 503; once it is back the
// same server answers again.
func TestDatabaseOutageAnswersUnavailable(t *testing.T) {
	t.Parallel()
	url, stop, start := storetest.StartPostgres(t)
	st, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := newEnvOn(t, st)
	a := e.signUp()
	cam := e.createDevice(a.Session.Token, "camera")

	requests := map[string]func() response{
		"sign-in": func() response {
			return e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword})
		},
		"sign-up": func() response {
			return e.do("POST", "/api/v1/auth/sign-up", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "N"})
		},
		"list devices": func() response { return e.do("GET", "/api/v1/devices", nil, bearer(a.Session.Token)) },
		"device token": func() response {
			return e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": cam.Device.ID}, bearer(cam.DeviceToken))
		},
		"create device": func() response {
			return e.do("POST", "/api/v1/devices", map[string]string{"name": "x", "role": "viewer", "platform": "ios"}, bearer(a.Session.Token))
		},
	}
	stop()
	for name, req := range requests {
		res := req()
		var p struct{ Code string }
		_ = json.Unmarshal(res.body, &p)
		if res.status != http.StatusServiceUnavailable || p.Code != "unavailable" || res.header.Get("Retry-After") == "" {
			t.Errorf("%s with the database down: %d %s (Retry-After %q), want 503 unavailable with Retry-After",
				name, res.status, res.body, res.header.Get("Retry-After"))
		}
	}
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Header.Set("Authorization", "Bearer "+cam.DeviceToken)
	_, err = e.auth.Authenticate(r)
	var ae *hub.AuthError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "unavailable" || ae.RetryAfter <= 0 {
		t.Errorf("socket authentication with the database down: %v, want 503 unavailable with a retry", err)
	}
	if res := e.do("GET", "/readyz", nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %d", res.status)
	}

	start()
	for name, req := range requests {
		deadline := time.Now().Add(30 * time.Second)
		for {
			res := req()
			if res.status < 300 {
				break
			}
			if res.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("%s after the database came back: %d %s", name, res.status, res.body)
			}
		}
	}
	if res := e.do("GET", "/readyz", nil); res.status != http.StatusOK {
		t.Errorf("/readyz after the database came back: %d %s", res.status, res.body)
	}
}
