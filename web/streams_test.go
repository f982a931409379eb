package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

const turnSecret = "streams-test-secret"

// withStreams serves /streams and /ice-servers through a real signaling service and
// hub (no sockets connect in these tests), with STUN and TURN configured.
func withStreams(t *testing.T, maxViewers int) envOpt {
	return func(s *setup) {
		provider, err := ice.New(ice.Config{STUNURLs: []string{"stun:stun.example.com"}, TURNHost: "192.0.2.1", Secret: turnSecret})
		if err != nil {
			t.Fatal(err)
		}
		svc := newSignaling(t, s, signaling.Config{Streams: signaling.StreamConfig{ICE: provider, MaxViewersPerCamera: maxViewers}})
		s.deps.Streams = svc
	}
}

func TestStreamsAPI(t *testing.T) {
	e := newEnv(t, withStreams(t, 2))
	tok := e.signUp().Session.Token
	cam, view := e.createDevice(tok, "camera"), e.createDevice(tok, "viewer")
	e.do("POST", "/api/v1/device-links", map[string]string{
		"camera_device_id": cam.Device.ID, "client_device_id": view.Device.ID,
	}, bearer(tok)).want(t, http.StatusCreated, nil)
	req := map[string]string{"camera_device_id": cam.Device.ID, "requester_device_id": view.Device.ID}

	// The camera is offline with no push token: the session fails at once.
	var s wire.StreamSession
	e.do("POST", "/api/v1/streams", req, bearer(tok)).want(t, http.StatusCreated, &s)
	if s.Status != store.StreamFailed || s.Reason == nil || *s.Reason != signaling.ReasonCameraOffline ||
		s.MediaProvider != store.MediaP2P || s.CameraDeviceID != cam.Device.ID || s.RequesterDeviceID != view.Device.ID || s.EndedAt == nil {
		t.Errorf("POST /streams = %+v, want failed camera_offline", s)
	}

	// With a push token it is being woken.
	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]string{"push_token": "tok-1"}, bearer(tok)).want(t, http.StatusOK, nil)
	var waking wire.StreamSession
	e.do("POST", "/api/v1/streams", req, bearer(tok)).want(t, http.StatusCreated, &waking)
	if waking.Status != store.StreamWaking {
		t.Errorf("status %q, want waking", waking.Status)
	}

	var got wire.StreamSession
	e.do("GET", "/api/v1/streams/"+waking.ID, nil, bearer(tok)).want(t, http.StatusOK, &got)
	if got.ID != waking.ID || got.Status != store.StreamWaking {
		t.Errorf("GET = %+v", got)
	}
	var l struct {
		Items      []wire.StreamSession
		NextCursor *string `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/streams?camera_device_id="+cam.Device.ID, nil, bearer(tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 2 || l.Items[0].ID != waking.ID || l.Items[1].ID != s.ID || l.NextCursor != nil {
		t.Errorf("list = %+v", l)
	}
	e.do("GET", "/api/v1/streams?limit=1", nil, bearer(tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.NextCursor == nil {
		t.Errorf("first page of one = %+v", l)
	}

	// The camera has two open places: the second waking request takes the last one.
	var second wire.StreamSession
	e.do("POST", "/api/v1/streams", req, bearer(tok)).want(t, http.StatusCreated, &second)
	e.do("POST", "/api/v1/streams", req, bearer(tok)).wantProblem(t, http.StatusConflict, "busy")

	var ended wire.StreamSession
	e.do("POST", "/api/v1/streams/"+waking.ID+"/end", map[string]string{"reason": "user_cancelled"}, bearer(tok)).want(t, http.StatusOK, &ended)
	if ended.Status != store.StreamFailed || *ended.Reason != "user_cancelled" {
		t.Errorf("ended = %+v", ended)
	}
	e.do("POST", "/api/v1/streams/"+second.ID+"/end", nil, bearer(tok)).want(t, http.StatusOK, &ended)
	if ended.Status != store.StreamFailed || *ended.Reason != signaling.ReasonHangup {
		t.Errorf("ended without a body = %+v", ended)
	}
	// Ending again returns it unchanged.
	e.do("POST", "/api/v1/streams/"+second.ID+"/end", map[string]string{"reason": "again"}, bearer(tok)).want(t, http.StatusOK, &ended)
	if *ended.Reason != signaling.ReasonHangup {
		t.Errorf("ended twice: reason %q", *ended.Reason)
	}
}

func TestStreamsAPIRefusals(t *testing.T) {
	e := newEnv(t, withStreams(t, 0))
	tok := e.signUp().Session.Token
	cam, view := e.createDevice(tok, "camera"), e.createDevice(tok, "viewer")
	otherTok := e.signUp().Session.Token
	otherCam, otherView := e.createDevice(otherTok, "camera"), e.createDevice(otherTok, "viewer")
	e.do("POST", "/api/v1/device-links", map[string]string{
		"camera_device_id": otherCam.Device.ID, "client_device_id": otherView.Device.ID,
	}, bearer(otherTok)).want(t, http.StatusCreated, nil)
	var theirs wire.StreamSession
	e.do("POST", "/api/v1/streams", map[string]string{"camera_device_id": otherCam.Device.ID, "requester_device_id": otherView.Device.ID},
		bearer(otherTok)).want(t, http.StatusCreated, &theirs)

	for _, tt := range []struct {
		name, method, path string
		body               any
		opt                reqOpt
		status             int
		code               string
	}{
		{"not linked", "POST", "/streams", map[string]string{"camera_device_id": cam.Device.ID, "requester_device_id": view.Device.ID},
			bearer(tok), http.StatusForbidden, "not_linked"},
		{"no requester", "POST", "/streams", map[string]string{"camera_device_id": cam.Device.ID}, bearer(tok), http.StatusBadRequest, "bad_request"},
		{"camera of another user", "POST", "/streams", map[string]string{"camera_device_id": otherCam.Device.ID, "requester_device_id": view.Device.ID},
			bearer(tok), http.StatusNotFound, "not_found"},
		{"requester is not a uuid", "POST", "/streams", map[string]string{"camera_device_id": cam.Device.ID, "requester_device_id": "v"},
			bearer(tok), http.StatusBadRequest, "bad_request"},
		{"a device token", "POST", "/streams", map[string]string{"camera_device_id": cam.Device.ID, "requester_device_id": view.Device.ID},
			bearer(view.DeviceToken), http.StatusForbidden, "forbidden"},
		{"another user's session", "GET", "/streams/" + theirs.ID, nil, bearer(tok), http.StatusNotFound, "not_found"},
		{"end another user's session", "POST", "/streams/" + theirs.ID + "/end", nil, bearer(tok), http.StatusNotFound, "not_found"},
		{"malformed id", "GET", "/streams/nope", nil, bearer(tok), http.StatusNotFound, "not_found"},
		{"camera filter not a uuid", "GET", "/streams?camera_device_id=cam", nil, bearer(tok), http.StatusBadRequest, "bad_request"},
		{"reason too long", "POST", "/streams/" + theirs.ID + "/end", map[string]string{"reason": strings.Repeat("x", 65)},
			bearer(otherTok), http.StatusBadRequest, "bad_request"},
		{"no credentials", "GET", "/streams", nil, header("X-None", ""), http.StatusUnauthorized, "unauthorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.do(tt.method, "/api/v1"+tt.path, tt.body, tt.opt).wantProblem(t, tt.status, tt.code)
		})
	}
	// Another user's list does not show theirs.
	var l struct{ Items []wire.StreamSession }
	e.do("GET", "/api/v1/streams", nil, bearer(tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Errorf("list shows %d sessions of another user", len(l.Items))
	}
}

func TestICEServersAPI(t *testing.T) {
	e := newEnv(t, withStreams(t, 0))
	a := e.signUp()
	tok := a.Session.Token
	view := e.createDevice(tok, "viewer")
	other := e.createDevice(e.signUp().Session.Token, "viewer")

	check := func(name string, opt reqOpt, query, who string) {
		t.Helper()
		var l ice.List
		e.do("GET", "/api/v1/ice-servers"+query, nil, opt).want(t, http.StatusOK, &l)
		if l.TTLSeconds != int(ice.DefaultTTL/time.Second) || len(l.ICEServers) != 2 || l.ICEServers[0].URLs[0] != "stun:stun.example.com" {
			t.Fatalf("%s: %+v", name, l)
		}
		turn := l.ICEServers[1]
		exp, id, err := ice.ParseUsername(turn.Username)
		if err != nil || id != who || time.Until(exp) < 50*time.Minute || turn.Credential != ice.Credential(turnSecret, turn.Username) {
			t.Errorf("%s: turn %+v names %q until %v, want %q for an hour", name, turn, id, exp, who)
		}
	}
	check("user naming a device", bearer(tok), "?device_id="+view.Device.ID, view.Device.ID)
	check("device token", bearer(view.DeviceToken), "", view.Device.ID)
	e.do("GET", "/api/v1/ice-servers?device_id="+other.Device.ID, nil, bearer(tok)).wantProblem(t, http.StatusNotFound, "not_found")
	e.do("GET", "/api/v1/ice-servers?device_id="+other.Device.ID, nil, bearer(view.DeviceToken)).wantProblem(t, http.StatusForbidden, "forbidden")
	e.do("GET", "/api/v1/ice-servers?device_id=x", nil, bearer(tok)).wantProblem(t, http.StatusBadRequest, "bad_request")
	// A bare account gets no TURN credentials: they are issued to devices.
	e.do("GET", "/api/v1/ice-servers", nil, bearer(tok)).wantProblem(t, http.StatusBadRequest, "bad_request")
}

func TestStreamsUnavailableWithoutSignaling(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp().Session.Token
	e.do("GET", "/api/v1/ice-servers", nil, bearer(tok)).wantProblem(t, http.StatusServiceUnavailable, "unavailable")
	e.do("GET", "/api/v1/streams", nil, bearer(tok)).wantProblem(t, http.StatusServiceUnavailable, "unavailable")
}
