package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
)

// announcement is a device message as the server handed it to the hub.
type announcement struct {
	to, change, id, name string
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
		out = append(out, announcement{m.to, d.Change, d.Device.ID, d.Device.Name})
	}
	return sortedByTo(out...)
}

func sortedByTo(as ...announcement) []announcement {
	slices.SortFunc(as, func(a, b announcement) int { return strings.Compare(a.to, b.to) })
	return as
}

// Every device of the account hears of a device created, renamed or deleted, linked
// or not; other accounts hear nothing; a change that is not a rename is not announced.
func TestDeviceChangesAreAnnouncedToTheAccount(t *testing.T) {
	e := newEnv(t)
	tok := e.signUp().Session.Token
	other := e.signUp().Session.Token
	e.createDevice(other, "viewer") // hears nothing of this account
	_ = e.sockets.takeSent()

	cam := e.createDevice(tok, "camera")
	if got, want := announcements(t, e), []announcement{{cam.Device.ID, "created", cam.Device.ID, cam.Device.Name}}; !slices.Equal(got, want) {
		t.Fatalf("after creating the camera: %v, want %v", got, want)
	}
	view := e.createDevice(tok, "viewer")
	want := sortedByTo(
		announcement{cam.Device.ID, "created", view.Device.ID, view.Device.Name},
		announcement{view.Device.ID, "created", view.Device.ID, view.Device.Name},
	)
	if got := announcements(t, e); !slices.Equal(got, want) {
		t.Fatalf("after creating the viewer: %v, want %v", got, want)
	}

	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]any{"name": "Porch"}, bearer(tok)).want(t, http.StatusOK, nil)
	want = sortedByTo(
		announcement{cam.Device.ID, "updated", cam.Device.ID, "Porch"},
		announcement{view.Device.ID, "updated", cam.Device.ID, "Porch"},
	)
	if got := announcements(t, e); !slices.Equal(got, want) {
		t.Fatalf("after the rename: %v, want %v", got, want)
	}
	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]any{"app_version": "2.0"}, bearer(tok)).want(t, http.StatusOK, nil)
	if got := announcements(t, e); len(got) != 0 {
		t.Fatalf("a change of app_version announced %v, want nothing", got)
	}

	e.do("DELETE", "/api/v1/devices/"+view.Device.ID, nil, bearer(tok)).want(t, http.StatusNoContent, nil)
	want = []announcement{{cam.Device.ID, "deleted", view.Device.ID, view.Device.Name}}
	if got := announcements(t, e); !slices.Equal(got, want) {
		t.Fatalf("after deleting the viewer: %v, want %v", got, want)
	}
}
