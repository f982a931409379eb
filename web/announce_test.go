package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
)

// announcement is a device message as the server handed it to the hub: for the
// devices of user, except device except.
type announcement struct {
	user, except, change, id, name string
}

func announcements(t *testing.T, e *env) []announcement {
	t.Helper()
	var out []announcement
	for _, m := range e.sockets.takeSent() {
		if m.env.Type != "device" {
			t.Fatalf("sent %q, want only device messages", m.env.Type)
		}
		var d struct {
			Change string      `json:"change"`
			Device wire.Device `json:"device"`
		}
		if err := json.Unmarshal(m.env.Data, &d); err != nil {
			t.Fatalf("device message %s: %v", m.env.Data, err)
		}
		out = append(out, announcement{m.user, m.except, d.Change, d.Device.ID, d.Device.Name})
	}
	return out
}

// Every device of the account hears of a device created, renamed or deleted, linked
// or not (the hub reaches them by account, without a list of devices: see hub's
// TestSendUser*); other accounts hear nothing; a deleted device does not hear of its
// own deletion (its socket is closed); a change that is not a rename is not announced.
func TestDeviceChangesAreAnnouncedToTheAccount(t *testing.T) {
	e := newEnv(t)
	a := e.signUp()
	tok, user := a.Session.Token, a.User.ID
	other := e.signUp().Session.Token
	e.createDevice(other, "viewer")
	_ = e.sockets.takeSent()

	cam := e.createDevice(tok, "camera")
	if got, want := announcements(t, e), []announcement{{user, "", "created", cam.Device.ID, cam.Device.Name}}; !slices.Equal(got, want) {
		t.Fatalf("after creating the camera: %v, want %v", got, want)
	}
	view := e.createDevice(tok, "viewer")
	if got, want := announcements(t, e), []announcement{{user, "", "created", view.Device.ID, view.Device.Name}}; !slices.Equal(got, want) {
		t.Fatalf("after creating the viewer: %v, want %v", got, want)
	}

	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]any{"name": "Porch"}, bearer(tok)).want(t, http.StatusOK, nil)
	if got, want := announcements(t, e), []announcement{{user, "", "updated", cam.Device.ID, "Porch"}}; !slices.Equal(got, want) {
		t.Fatalf("after the rename: %v, want %v", got, want)
	}
	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]any{"app_version": "2.0"}, bearer(tok)).want(t, http.StatusOK, nil)
	if got := announcements(t, e); len(got) != 0 {
		t.Fatalf("a change of app_version announced %v, want nothing", got)
	}

	e.do("DELETE", "/api/v1/devices/"+view.Device.ID, nil, bearer(tok)).want(t, http.StatusNoContent, nil)
	if got, want := announcements(t, e), []announcement{{user, view.Device.ID, "deleted", view.Device.ID, view.Device.Name}}; !slices.Equal(got, want) {
		t.Fatalf("after deleting the viewer: %v, want %v", got, want)
	}
}
