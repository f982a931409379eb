package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
)

// recorded is one request the REST test server saw.
type recorded struct {
	method, path, query, auth, contentType, body string
}

// restServer answers every request with status and body and records it.
func restServer(t *testing.T, status int, contentType, body string) (*client.Client, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*rec = recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{BaseURL: srv.URL + "/", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestREST(t *testing.T) {
	ctx := context.Background()
	ttl := 60
	tests := []struct {
		name   string
		status int
		answer string
		call   func(c *client.Client) (any, error)
		want   recorded // auth is always "Bearer tok"
		check  func(t *testing.T, got any)
	}{
		{
			name: "sign in", status: 200,
			answer: `{"user":{"id":"u1","email":"a@b.c","name":"A"},"session":{"token":"s1","expires_at":"2026-02-01T00:00:00Z"}}`,
			call:   func(c *client.Client) (any, error) { return c.SignIn(ctx, "a@b.c", "pw") },
			want:   recorded{method: "POST", path: "/api/v1/auth/sign-in", body: `{"email":"a@b.c","password":"pw"}`},
			check: func(t *testing.T, got any) {
				if a := got.(client.Auth); a.User.ID != "u1" || a.Session.Token != "s1" || a.Session.ExpiresAt.Year() != 2026 {
					t.Errorf("%+v", a)
				}
			},
		},
		{
			name: "create device", status: 201,
			answer: `{"device":{"id":"d1","role":"camera","status":"offline"},"device_token":"dt"}`,
			call: func(c *client.Client) (any, error) {
				return c.CreateDevice(ctx, client.NewDevice{Name: "Porch", Role: "camera", Platform: "android"})
			},
			want: recorded{method: "POST", path: "/api/v1/devices", body: `{"name":"Porch","role":"camera","platform":"android"}`},
			check: func(t *testing.T, got any) {
				if d := got.(client.CreatedDevice); d.Device.ID != "d1" || d.DeviceToken != "dt" {
					t.Errorf("%+v", d)
				}
			},
		},
		{
			name: "list devices page", status: 200,
			answer: `{"items":[{"id":"d1"},{"id":"d2"}],"next_cursor":"c2"}`,
			call: func(c *client.Client) (any, error) {
				return c.ListDevices(ctx, client.PageRequest{Limit: 2, Cursor: "c1"})
			},
			want: recorded{method: "GET", path: "/api/v1/devices", query: "cursor=c1&limit=2"},
			check: func(t *testing.T, got any) {
				if p := got.(client.Page[wire.Device]); len(p.Items) != 2 || p.NextCursor == nil || *p.NextCursor != "c2" {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "create link", status: 201, answer: `{"id":"l1","status":"active"}`,
			call: func(c *client.Client) (any, error) { return c.CreateLink(ctx, "cam", "viewer") },
			want: recorded{method: "POST", path: "/api/v1/device-links", body: `{"camera_device_id":"cam","client_device_id":"viewer"}`},
		},
		{
			name: "ws ticket", status: 201, answer: `{"ticket":"tk","expires_at":"2026-02-01T00:00:30Z"}`,
			call: func(c *client.Client) (any, error) { return c.CreateTicket(ctx, "d1") },
			want: recorded{method: "POST", path: "/api/v1/ws-tickets", body: `{"device_id":"d1"}`},
		},
		{
			name: "command", status: 202, answer: `{"id":"c1","status":"pending"}`,
			call: func(c *client.Client) (any, error) {
				return c.SendCommand(ctx, wire.CommandRequest{SourceDeviceID: "v", TargetDeviceID: "cam", CommandType: "siren",
					Payload: json.RawMessage(`{"on":true}`), TTLSeconds: &ttl})
			},
			want: recorded{method: "POST", path: "/api/v1/commands",
				body: `{"source_device_id":"v","target_device_id":"cam","command_type":"siren","payload":{"on":true},"ttl_seconds":60}`},
		},
		{
			name: "end stream", status: 200, answer: `{"id":"s1","status":"ended","reason":"ended_by_user"}`,
			call: func(c *client.Client) (any, error) { return c.EndStream(ctx, "s1", "") },
			want: recorded{method: "POST", path: "/api/v1/streams/s1/end"},
			check: func(t *testing.T, got any) {
				if s := got.(wire.StreamSession); s.Status != "ended" || s.Reason == nil || *s.Reason != "ended_by_user" {
					t.Errorf("%+v", s)
				}
			},
		},
		{
			name: "end stream with a reason", status: 200, answer: `{"id":"s1","status":"failed","reason":"privacy"}`,
			call: func(c *client.Client) (any, error) { return c.EndStream(ctx, "s1", "privacy") },
			want: recorded{method: "POST", path: "/api/v1/streams/s1/end", body: `{"reason":"privacy"}`},
		},
		{
			name: "list streams of a camera", status: 200, answer: `{"items":[{"id":"s1","media_provider":"p2p"}],"next_cursor":null}`,
			call: func(c *client.Client) (any, error) {
				return c.ListStreams(ctx, "cam", client.PageRequest{Limit: 5})
			},
			want: recorded{method: "GET", path: "/api/v1/streams", query: "camera_device_id=cam&limit=5"},
			check: func(t *testing.T, got any) {
				if p := got.(client.Page[wire.StreamSession]); len(p.Items) != 1 || p.Items[0].MediaProvider != "p2p" || p.NextCursor != nil {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "ice servers", status: 200,
			answer: `{"ice_servers":[{"urls":["turn:1.2.3.4:3478?transport=udp"],"username":"1:d","credential":"x"}],"ttl_seconds":3600}`,
			call:   func(c *client.Client) (any, error) { return c.ICEServers(ctx) },
			want:   recorded{method: "GET", path: "/api/v1/ice-servers"},
		},
		{
			name: "sign out", status: 204,
			call: func(c *client.Client) (any, error) { return nil, c.SignOut(ctx) },
			want: recorded{method: "POST", path: "/api/v1/auth/sign-out"},
		},
		{
			name: "delete device with an escaped id", status: 204,
			call: func(c *client.Client) (any, error) { return nil, c.DeleteDevice(ctx, "a/b") },
			want: recorded{method: "DELETE", path: "/api/v1/devices/a%2Fb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := restServer(t, tt.status, "application/json", tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			tt.want.auth = "Bearer tok"
			if tt.want.body != "" {
				tt.want.contentType = "application/json"
			}
			if *rec != tt.want {
				t.Errorf("request\n got %+v\nwant %+v", *rec, tt.want)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestRESTErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        client.Error
	}{
		{"problem document", 409, "application/problem+json",
			`{"type":"about:blank","title":"Conflict","status":409,"detail":"email taken","code":"conflict"}`,
			client.Error{Status: 409, Code: "conflict", Message: "email taken"}},
		{"problem without detail", 429, "application/problem+json",
			`{"title":"Too Many Requests","status":429,"code":"rate_limited"}`,
			client.Error{Status: 429, Code: "rate_limited", Message: "Too Many Requests"}},
		{"plain text", 502, "text/plain", "bad gateway\n", client.Error{Status: 502, Message: "bad gateway"}},
		{"empty", 503, "", "", client.Error{Status: 503, Message: "Service Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := restServer(t, tt.status, tt.contentType, tt.body)
			_, err := c.Me(context.Background())
			var e *client.Error
			if !errors.As(err, &e) || *e != tt.want {
				t.Fatalf("err = %v, want %+v", err, tt.want)
			}
		})
	}
}

func TestNewRefusesBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://h", "http://", "://"} {
		if _, err := client.New(client.Config{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestWithToken(t *testing.T) {
	c, rec := restServer(t, 200, "application/json", `{"id":"u1"}`)
	d := c.WithToken("device")
	if _, err := d.Me(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.auth != "Bearer device" || c.Token() != "tok" || d.Token() != "device" {
		t.Fatalf("auth %q, tokens %q %q", rec.auth, c.Token(), d.Token())
	}
}
