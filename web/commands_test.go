package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

type noSockets struct{}

func (noSockets) Authenticate(*http.Request) (hub.Identity, error) {
	return hub.Identity{}, &hub.AuthError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "no sockets in this test"}
}

func (noSockets) Revalidate(_ context.Context, ids []hub.Identity) ([]bool, error) {
	return make([]bool, len(ids)), nil
}

// newSignaling returns a real signaling service on the server's store, attached to a
// hub no socket connects to; both stop when the test ends. cfg.Store is filled in.
func newSignaling(t *testing.T, s *setup, cfg signaling.Config) *signaling.Service {
	cfg.Store = s.deps.Store.(store.Store)
	svc, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Authenticator: noSockets{}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		svc.Close()
	})
	return svc
}

// withCommands serves POST /commands through a real signaling service.
func withCommands(t *testing.T) envOpt {
	return func(s *setup) { s.deps.Commands = newSignaling(t, s, signaling.Config{}) }
}

func TestCommandsAPI(t *testing.T) {
	e := newEnv(t, withCommands(t))
	a := e.signUp()
	tok := a.Session.Token
	cam, view := e.createDevice(tok, "camera"), e.createDevice(tok, "viewer")
	e.do("POST", "/api/v1/device-links", map[string]string{
		"camera_device_id": cam.Device.ID, "client_device_id": view.Device.ID,
	}, bearer(tok)).want(t, http.StatusCreated, nil)
	send := map[string]any{
		"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID,
		"command_type": "set_torch", "payload": map[string]bool{"on": true}, "ttl_seconds": 60,
	}

	var cmd wire.Command
	e.do("POST", "/api/v1/commands", send, bearer(tok), header("Idempotency-Key", "k-1")).want(t, http.StatusAccepted, &cmd)
	if cmd.Status != store.CommandPending || cmd.TargetDeviceID != cam.Device.ID || string(cmd.Payload) != `{"on":true}` {
		t.Fatalf("command = %+v, want pending to the camera (offline)", cmd)
	}
	if d := cmd.ExpiresAt.Sub(cmd.CreatedAt); d != time.Minute {
		t.Errorf("ttl = %v, want 1m", d)
	}
	var again wire.Command
	e.do("POST", "/api/v1/commands", send, bearer(tok), header("Idempotency-Key", "k-1")).want(t, http.StatusAccepted, &again)
	if again.ID != cmd.ID {
		t.Errorf("retry with the same Idempotency-Key created %s, want %s", again.ID, cmd.ID)
	}
	var other wire.Command
	e.do("POST", "/api/v1/commands", send, bearer(tok)).want(t, http.StatusAccepted, &other)
	if other.ID == cmd.ID {
		t.Error("a send without a key returned the earlier command")
	}

	var got wire.Command
	e.do("GET", "/api/v1/commands/"+cmd.ID, nil, bearer(tok)).want(t, http.StatusOK, &got)
	if got.ID != cmd.ID || got.Status != store.CommandPending {
		t.Errorf("GET = %+v", got)
	}
	var l struct{ Items []wire.Command }
	e.do("GET", "/api/v1/commands?device_id="+cam.Device.ID+"&status=pending", nil, bearer(tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 2 || l.Items[0].ID != other.ID {
		t.Errorf("list = %d items, want the 2 commands newest first", len(l.Items))
	}
	e.do("GET", "/api/v1/commands?status=acknowledged", nil, bearer(tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Errorf("acknowledged list has %d items, want 0", len(l.Items))
	}

	t.Run("refusals", func(t *testing.T) {
		unlinked := e.createDevice(tok, "camera")
		intruder := e.signUp()
		tests := []struct {
			name   string
			body   any
			opts   []reqOpt
			status int
			code   string
		}{
			{"not linked", map[string]any{"source_device_id": view.Device.ID, "target_device_id": unlinked.Device.ID, "command_type": "snapshot"},
				nil, http.StatusForbidden, "not_linked"},
			{"another user's source", send, []reqOpt{bearer(intruder.Session.Token)}, http.StatusNotFound, wire.CodeNotFound},
			{"bad payload", map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "set_torch"},
				nil, http.StatusBadRequest, wire.CodeBadRequest},
			{"missing source", map[string]any{"target_device_id": cam.Device.ID, "command_type": "snapshot"}, nil, http.StatusBadRequest, wire.CodeBadRequest},
			{"wrong type", map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "snapshot", "ttl_seconds": "10"},
				nil, http.StatusBadRequest, wire.CodeBadRequest},
			{"device token", send, []reqOpt{bearer(view.DeviceToken)}, http.StatusForbidden, wire.CodeForbidden},
			{"no auth", send, []reqOpt{func(*http.Request) {}}, http.StatusUnauthorized, wire.CodeUnauthorized},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				opts := tt.opts
				if opts == nil {
					opts = []reqOpt{bearer(tok)}
				}
				e.do("POST", "/api/v1/commands", tt.body, opts...).wantProblem(t, tt.status, tt.code)
			})
		}
		t.Run("details name the field", func(t *testing.T) {
			for _, tt := range []struct {
				name   string
				body   any
				detail string
			}{
				{"payload field of the wrong type",
					map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "set_torch", "payload": map[string]any{"on": "yes"}},
					"payload.on: expected a boolean, got a string"},
				{"payload field missing",
					map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "set_torch"},
					"payload.on is required"},
				{"payload number not an integer",
					map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "siren", "payload": map[string]any{"on": true, "seconds": 1.5}},
					"payload.seconds: expected an integer, got the number 1.5"},
				{"body field of the wrong type",
					map[string]any{"source_device_id": view.Device.ID, "target_device_id": cam.Device.ID, "command_type": "snapshot", "ttl_seconds": "10"},
					"ttl_seconds: expected an integer, got a string"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					p := e.do("POST", "/api/v1/commands", tt.body, bearer(tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
					if p.Detail != tt.detail {
						t.Fatalf("detail %q, want %q", p.Detail, tt.detail)
					}
				})
			}
		})
		e.do("GET", "/api/v1/commands/"+cmd.ID, nil, bearer(intruder.Session.Token)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
		e.do("GET", "/api/v1/commands?status=done", nil, bearer(tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
		e.do("GET", "/api/v1/commands?device_id=x", nil, bearer(tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	})
}
