package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
)

// presenceMap is the hub's presence registry as web sees it.
type presenceMap struct {
	online map[string]bool
	err    error
}

func (p *presenceMap) OnlineDevices(_ context.Context, ids []string) ([]bool, error) {
	if p.err != nil {
		return nil, p.err
	}
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = p.online[id]
	}
	return out, nil
}

func TestDevicesReportLivePresence(t *testing.T) {
	reg := &presenceMap{online: map[string]bool{}}
	e := newEnv(t, func(s *setup) { s.deps.Presence = reg })
	tok := e.signUp().Session.Token
	cam, view := e.createDevice(tok, "camera"), e.createDevice(tok, "viewer")
	reg.online[cam.Device.ID] = true

	var l struct{ Items []wire.Device }
	e.do("GET", "/api/v1/devices", nil, bearer(tok)).want(t, http.StatusOK, &l)
	got := map[string]string{}
	for _, d := range l.Items {
		got[d.ID] = d.Status
	}
	if got[cam.Device.ID] != "online" || got[view.Device.ID] != "offline" {
		t.Errorf("statuses = %v, want the camera online and the viewer offline", got)
	}
	var d wire.Device
	e.do("GET", "/api/v1/devices/"+cam.Device.ID, nil, bearer(tok)).want(t, http.StatusOK, &d)
	if d.Status != "online" {
		t.Errorf("GET camera status = %q, want online", d.Status)
	}

	// The registry down: the stored status stands rather than an error.
	reg.err = errors.New("redis down")
	e.do("GET", "/api/v1/devices/"+cam.Device.ID, nil, bearer(tok)).want(t, http.StatusOK, &d)
	if d.Status != "offline" {
		t.Errorf("with the registry down status = %q, want the stored offline", d.Status)
	}
}
