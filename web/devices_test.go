package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/web"
)

func TestDevices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.signUp(), e.signUp()
	auth := bearer(a.Session.Token)

	var cam deviceJSON
	e.do("POST", "/api/v1/devices", map[string]any{
		"name": "Porch", "role": "camera", "platform": "ios", "app_version": "1.2.3", "push_token": "apns-token",
	}, auth).want(t, http.StatusCreated, &cam)
	d := cam.Device
	if d.ID == "" || d.UserID != a.User.ID || !d.IsCamera || d.Status != "offline" || d.LastSeenAt != nil ||
		d.PushToken == nil || *d.PushToken != "apns-token" || d.AppVersion == nil || *d.AppVersion != "1.2.3" {
		t.Fatalf("device %+v", d)
	}
	if d.RecordingMode != "events" {
		t.Errorf("a new camera's recording_mode %q, want events", d.RecordingMode)
	}
	if d.LiveMode != "auto" {
		t.Errorf("a new camera's live_mode %q, want auto", d.LiveMode)
	}
	if len(cam.DeviceToken) != 43 {
		t.Fatalf("device token %q", cam.DeviceToken)
	}
	viewer := e.createDevice(a.Session.Token, "viewer")
	if viewer.Device.IsCamera {
		t.Fatal("a viewer is_camera")
	}

	t.Run("validation", func(t *testing.T) {
		for name, body := range map[string]any{
			"bad role":         map[string]any{"name": "x", "role": "admin", "platform": "ios"},
			"bad platform":     map[string]any{"name": "x", "role": "camera", "platform": "windows"},
			"no name":          map[string]any{"role": "camera", "platform": "ios"},
			"long push token":  map[string]any{"name": "x", "role": "camera", "platform": "ios", "push_token": strings.Repeat("t", 4097)},
			"long app version": map[string]any{"name": "x", "role": "camera", "platform": "ios", "app_version": strings.Repeat("1", 65)},
			"wrong type":       `{"name": "x", "role": "camera", "platform": "ios", "push_token": 5}`,
			"malformed":        `{"name": `,
			"trailing":         `{"name": "x", "role": "camera", "platform": "ios"}]`,
		} {
			t.Run(name, func(t *testing.T) {
				e.do("POST", "/api/v1/devices", body, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
			})
		}
		e.do("POST", "/api/v1/devices", map[string]any{"name": "x", "role": "camera", "platform": "ios", "push_token": strings.Repeat("t", 4096)}, auth).
			want(t, http.StatusCreated, nil)
	})

	t.Run("get", func(t *testing.T) {
		var got wire.Device
		e.do("GET", "/api/v1/devices/"+d.ID, nil, auth).want(t, http.StatusOK, &got)
		if got.ID != d.ID || got.PushToken == nil {
			t.Fatalf("device %+v", got)
		}
		e.do("GET", "/api/v1/devices/"+strings.ToUpper(d.ID), nil, auth).want(t, http.StatusOK, nil)
		e.do("GET", "/api/v1/devices/"+d.ID, nil, bearer(b.Session.Token)).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("GET", "/api/v1/devices/"+uuid.NewString(), nil, auth).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("GET", "/api/v1/devices/not-a-uuid", nil, auth).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("GET", "/api/v1/devices/"+d.ID, nil).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	})

	t.Run("patch", func(t *testing.T) {
		var got wire.Device
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"name": "Front door", "push_token": "new-token", "app_version": "2.0"}, auth).
			want(t, http.StatusOK, &got)
		if got.Name != "Front door" || *got.PushToken != "new-token" || *got.AppVersion != "2.0" {
			t.Fatalf("patched %+v", got)
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{}, auth).want(t, http.StatusOK, &got)
		if got.Name != "Front door" {
			t.Fatalf("empty patch changed the device: %+v", got)
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"push_token": ""}, auth).want(t, http.StatusOK, &got)
		if got.PushToken != nil {
			t.Fatalf("empty push_token did not clear it: %+v", got)
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"name": "x"}, bearer(b.Session.Token)).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"name": ""}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"push_token": strings.Repeat("t", 4097)}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/"+d.ID, `{"name": ["x"]}`, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/nope", map[string]any{}, auth).wantProblem(t, http.StatusNotFound, "not_found")

		// A camera's recording mode.
		for _, mode := range []string{"continuous", "off", "events"} {
			e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"recording_mode": mode}, auth).want(t, http.StatusOK, &got)
			if got.RecordingMode != mode || got.Name != "Front door" {
				t.Fatalf("recording_mode %s: %+v", mode, got)
			}
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"recording_mode": "always"}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/"+viewer.Device.ID, map[string]any{"recording_mode": "off"}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")

		// A camera's live mode: GET returns what PATCH set.
		for _, mode := range []string{"relay", "p2p", "auto"} {
			e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"live_mode": mode}, auth).want(t, http.StatusOK, &got)
			var again wire.Device
			e.do("GET", "/api/v1/devices/"+d.ID, nil, auth).want(t, http.StatusOK, &again)
			if got.LiveMode != mode || again.LiveMode != mode || got.RecordingMode != "events" {
				t.Fatalf("live_mode %s: PATCH %+v, GET %+v", mode, got, again)
			}
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"live_mode": "sfu"}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/"+viewer.Device.ID, map[string]any{"live_mode": "relay"}, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
	})

	t.Run("device token", func(t *testing.T) {
		dt := bearer(cam.DeviceToken)
		var got wire.Device
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"push_token": "from-device", "app_version": "3.0"}, dt).
			want(t, http.StatusOK, &got)
		if *got.PushToken != "from-device" || *got.AppVersion != "3.0" {
			t.Fatalf("patched by its token %+v", got)
		}
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"name": "renamed"}, dt).wantProblem(t, http.StatusForbidden, "forbidden")
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"recording_mode": "off"}, dt).wantProblem(t, http.StatusForbidden, "forbidden")
		e.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"live_mode": "relay"}, dt).wantProblem(t, http.StatusForbidden, "forbidden")
		e.do("PATCH", "/api/v1/devices/"+viewer.Device.ID, map[string]any{"push_token": "x"}, dt).wantProblem(t, http.StatusForbidden, "forbidden")
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/me"},
			{"GET", "/api/v1/devices"},
			{"GET", "/api/v1/devices/" + d.ID},
			{"POST", "/api/v1/devices"},
			{"DELETE", "/api/v1/devices/" + d.ID},
			{"POST", "/api/v1/device-links"},
			{"GET", "/api/v1/device-links"},
			{"GET", "/api/v1/audit-logs"},
			{"POST", "/api/v1/auth/verify-email/request"},
			{"POST", "/api/v1/auth/sign-out"},
		} {
			e.do(c.method, c.path, map[string]any{}, dt).wantProblem(t, http.StatusForbidden, "forbidden")
		}
	})

	t.Run("list and pagination", func(t *testing.T) {
		var page struct {
			Items      []wire.Device `json:"items"`
			NextCursor *string       `json:"next_cursor"`
		}
		e.do("GET", "/api/v1/devices?limit=2", nil, auth).want(t, http.StatusOK, &page)
		if len(page.Items) != 2 || page.NextCursor == nil {
			t.Fatalf("first page %+v", page)
		}
		seen := ids(page.Items)
		for page.NextCursor != nil {
			next := *page.NextCursor
			page.NextCursor = nil
			e.do("GET", "/api/v1/devices?limit=2&cursor="+next, nil, auth).want(t, http.StatusOK, &page)
			seen = append(seen, ids(page.Items)...)
		}
		if len(seen) != 3 || !slices.Contains(seen, d.ID) || !slices.Contains(seen, viewer.Device.ID) {
			t.Fatalf("pages hold %v, want the user's 3 devices", seen)
		}
		e.do("GET", "/api/v1/devices", nil, bearer(b.Session.Token)).want(t, http.StatusOK, &page)
		if len(page.Items) != 0 || page.NextCursor != nil {
			t.Fatalf("another user's list %+v", page)
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "cursor=garbage!"} {
			e.do("GET", "/api/v1/devices?"+q, nil, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
		}
	})

	t.Run("delete", func(t *testing.T) {
		other := e.createDevice(a.Session.Token, "viewer")
		var link wire.DeviceLink
		e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": d.ID, "client_device_id": other.Device.ID}, auth).
			want(t, http.StatusCreated, &link)
		e.do("DELETE", "/api/v1/devices/"+other.Device.ID, nil, bearer(b.Session.Token)).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("DELETE", "/api/v1/devices/"+other.Device.ID, nil, auth).want(t, http.StatusNoContent, nil)
		e.do("GET", "/api/v1/devices/"+other.Device.ID, nil, auth).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("DELETE", "/api/v1/devices/"+other.Device.ID, nil, auth).wantProblem(t, http.StatusNotFound, "not_found")
		e.do("PATCH", "/api/v1/devices/"+other.Device.ID, map[string]any{"push_token": "x"}, bearer(other.DeviceToken)).
			wantProblem(t, http.StatusUnauthorized, "unauthorized")
		if got := e.sockets.list(); !slices.Contains(got, "device:"+other.Device.ID+":4003") {
			t.Fatalf("sockets closed %v, want the deleted device's with 4003", got)
		}
		if got := e.revokedLinks(); !slices.Contains(got, link.ID) {
			t.Fatalf("OnLinkRevoked got %v, want the deleted device's link", got)
		}
		l, err := e.store.Link(t.Context(), link.ID)
		if err != nil || l.Status != store.LinkRevoked {
			t.Fatalf("link after delete %+v, %v", l, err)
		}
		got := e.auditActions(a.Session.Token)
		if !slices.Contains(got, web.AuditDeviceCreated) || !slices.Contains(got, web.AuditDeviceDeleted) {
			t.Fatalf("audit %v lacks device created/deleted", got)
		}
	})
}

func ids(ds []wire.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestListLimitClamp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp()
	for i := range 205 {
		d := store.Device{UserID: a.User.ID, Name: fmt.Sprint("d", i), Role: store.RoleViewer, Platform: "web"}
		if err := e.store.CreateDevice(t.Context(), &d, ""); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Items      []wire.Device `json:"items"`
		NextCursor *string       `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/devices?limit=1000", nil, bearer(a.Session.Token)).want(t, http.StatusOK, &page)
	if len(page.Items) != 200 || page.NextCursor == nil {
		t.Fatalf("limit=1000 gave %d items, next %v; want 200 and a cursor", len(page.Items), page.NextCursor)
	}
	e.do("GET", "/api/v1/devices", nil, bearer(a.Session.Token)).want(t, http.StatusOK, &page)
	if len(page.Items) != 50 {
		t.Fatalf("default page %d items, want 50", len(page.Items))
	}
}

func TestDeviceLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.signUp(), e.signUp()
	auth := bearer(a.Session.Token)
	cam, viewer := e.createDevice(a.Session.Token, "camera"), e.createDevice(a.Session.Token, "viewer")
	foreign := e.createDevice(b.Session.Token, "viewer")

	var l wire.DeviceLink
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": cam.Device.ID, "client_device_id": viewer.Device.ID}, auth).
		want(t, http.StatusCreated, &l)
	if l.Status != "active" || l.OwnerUserID != a.User.ID || l.CameraDeviceID != cam.Device.ID || l.ClientDeviceID != viewer.Device.ID {
		t.Fatalf("link %+v", l)
	}
	tests := []struct {
		name       string
		camera     string
		client     string
		status     int
		code       string
		authorized reqOpt
	}{
		{"duplicate", cam.Device.ID, viewer.Device.ID, 409, "conflict", auth},
		{"same device twice", cam.Device.ID, cam.Device.ID, 400, "bad_request", auth},
		{"first not a camera", viewer.Device.ID, cam.Device.ID, 400, "bad_request", auth},
		{"another user's client", cam.Device.ID, foreign.Device.ID, 404, "not_found", auth},
		{"another user's camera", cam.Device.ID, viewer.Device.ID, 404, "not_found", bearer(b.Session.Token)},
		{"unknown device", cam.Device.ID, uuid.NewString(), 404, "not_found", auth},
		{"malformed id", cam.Device.ID, "nope", 400, "bad_request", auth},
		{"missing id", cam.Device.ID, "", 400, "bad_request", auth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": tt.camera, "client_device_id": tt.client}, tt.authorized).
				wantProblem(t, tt.status, tt.code)
		})
	}
	e.do("POST", "/api/v1/device-links", `{"camera_device_id": 1}`, auth).wantProblem(t, 400, "bad_request")
	e.do("POST", "/api/v1/device-links", map[string]string{}, bearer("nope")).wantProblem(t, 401, "unauthorized")

	var list struct {
		Items      []wire.DeviceLink `json:"items"`
		NextCursor *string           `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/device-links", nil, auth).want(t, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].ID != l.ID || list.NextCursor != nil {
		t.Fatalf("links %+v", list)
	}
	e.do("GET", "/api/v1/device-links", nil, bearer(b.Session.Token)).want(t, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("another user sees links %+v", list)
	}

	e.do("DELETE", "/api/v1/device-links/"+l.ID, nil, bearer(b.Session.Token)).wantProblem(t, 404, "not_found")
	e.do("DELETE", "/api/v1/device-links/"+uuid.NewString(), nil, auth).wantProblem(t, 404, "not_found")
	e.do("DELETE", "/api/v1/device-links/bad", nil, auth).wantProblem(t, 404, "not_found")
	e.do("DELETE", "/api/v1/device-links/"+l.ID, nil, auth).want(t, http.StatusNoContent, nil)
	e.do("DELETE", "/api/v1/device-links/"+l.ID, nil, auth).want(t, http.StatusNoContent, nil)
	if got := e.revokedLinks(); !slices.Equal(got, []string{l.ID}) {
		t.Fatalf("OnLinkRevoked calls %v, want one for %s", got, l.ID)
	}
	got, err := e.store.Link(t.Context(), l.ID)
	if err != nil || got.Status != store.LinkRevoked {
		t.Fatalf("after revoke %+v, %v", got, err)
	}
	// A revoked pair may be linked again.
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": cam.Device.ID, "client_device_id": viewer.Device.ID}, auth).
		want(t, http.StatusCreated, nil)
	actions := e.auditActions(a.Session.Token)
	if !slices.Contains(actions, web.AuditLinkCreated) || !slices.Contains(actions, web.AuditLinkRevoked) {
		t.Fatalf("audit %v lacks link created/revoked", actions)
	}
}

func TestAuditLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.signUp(), e.signUp()
	e.createDevice(a.Session.Token, "camera")
	var page struct {
		Items      []wire.AuditLog `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/audit-logs?limit=1", nil, bearer(a.Session.Token)).want(t, http.StatusOK, &page)
	if len(page.Items) != 1 || page.NextCursor == nil || page.Items[0].Action != web.AuditDeviceCreated {
		t.Fatalf("newest first, one per page: %+v", page)
	}
	e.do("GET", "/api/v1/audit-logs?cursor="+*page.NextCursor, nil, bearer(a.Session.Token)).want(t, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].Action != web.AuditSignUp || page.NextCursor != nil {
		t.Fatalf("second page %+v", page)
	}
	for _, act := range e.auditActions(b.Session.Token) {
		if act != web.AuditSignUp {
			t.Fatalf("user b sees %q", act)
		}
	}
	e.do("GET", "/api/v1/audit-logs", nil).wantProblem(t, 401, "unauthorized")
}

func TestWSTickets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.signUp(), e.signUp()
	auth := bearer(a.Session.Token)
	cam := e.createDevice(a.Session.Token, "camera")
	viewer := e.createDevice(a.Session.Token, "viewer")
	sess, err := e.store.SessionByTokenHash(t.Context(), sha256hex(a.Session.Token))
	if err != nil {
		t.Fatal(err)
	}
	ws := func(query string) (hub.Identity, error) {
		return e.auth.Authenticate(httptest.NewRequest("GET", "/ws?"+query, nil))
	}

	var tk struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, auth).want(t, http.StatusCreated, &tk)
	if d := tk.ExpiresAt.Sub(e.clock.Now()); d <= 0 || d > 30*time.Second {
		t.Fatalf("ticket expires in %v, want 30 s", d)
	}
	id, err := ws("ticket=" + tk.Ticket)
	if err != nil || id != (hub.Identity{UserID: a.User.ID, DeviceID: viewer.Device.ID, SessionID: sess.ID}) {
		t.Fatalf("ticket identity %+v, %v", id, err)
	}
	wantRefusal(t, "reused ticket", 401, "unauthorized")(ws("ticket=" + tk.Ticket))

	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, auth).want(t, http.StatusCreated, &tk)
	e.clock.Advance(31 * time.Second)
	wantRefusal(t, "expired ticket", 401, "unauthorized")(ws("ticket=" + tk.Ticket))

	// A device token gets tickets for itself only.
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": cam.Device.ID}, bearer(cam.DeviceToken)).want(t, http.StatusCreated, &tk)
	id, err = ws("ticket=" + tk.Ticket)
	if err != nil || id != (hub.Identity{UserID: a.User.ID, DeviceID: cam.Device.ID}) {
		t.Fatalf("device ticket identity %+v, %v", id, err)
	}
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, bearer(cam.DeviceToken)).wantProblem(t, 403, "forbidden")

	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, bearer(b.Session.Token)).wantProblem(t, 404, "not_found")
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": "nope"}, auth).wantProblem(t, 400, "bad_request")
	e.do("POST", "/api/v1/ws-tickets", `{"device_id": true}`, auth).wantProblem(t, 400, "bad_request")
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}).wantProblem(t, 401, "unauthorized")

	// A ticket of a session that ended since is refused.
	c := e.signUp()
	cv := e.createDevice(c.Session.Token, "viewer")
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": cv.Device.ID}, bearer(c.Session.Token)).want(t, http.StatusCreated, &tk)
	e.do("POST", "/api/v1/auth/sign-out", nil, bearer(c.Session.Token)).want(t, http.StatusNoContent, nil)
	wantRefusal(t, "signed-out session's ticket", 401, "unauthorized")(ws("ticket=" + tk.Ticket))

	// A deleted device's ticket is refused.
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, auth).want(t, http.StatusCreated, &tk)
	e.do("DELETE", "/api/v1/devices/"+viewer.Device.ID, nil, auth).want(t, http.StatusNoContent, nil)
	wantRefusal(t, "deleted device's ticket", 401, "unauthorized")(ws("ticket=" + tk.Ticket))
}

// wantRefusal checks a refusal of the SocketAuth.
func wantRefusal(t *testing.T, what string, status int, code string) func(hub.Identity, error) {
	return func(id hub.Identity, err error) {
		t.Helper()
		var e *hub.AuthError
		if !errors.As(err, &e) || e.Status != status || e.Code != code {
			t.Fatalf("%s: Authenticate = %+v, %v; want %d %s", what, id, err, status, code)
		}
		if id != (hub.Identity{}) {
			t.Fatalf("%s: identity %+v returned with a refusal", what, id)
		}
	}
}

func TestSocketAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config(func(c *web.Config) { c.AllowedOrigins = []string{"https://app.example.com"} }))
	a, b := e.signUp(), e.signUp()
	cam := e.createDevice(a.Session.Token, "camera")
	viewer := e.createDevice(a.Session.Token, "viewer")
	foreign := e.createDevice(b.Session.Token, "viewer")
	sess, err := e.store.SessionByTokenHash(t.Context(), sha256hex(a.Session.Token))
	if err != nil {
		t.Fatal(err)
	}
	userSocket := hub.Identity{UserID: a.User.ID, DeviceID: viewer.Device.ID, SessionID: sess.ID}

	type hdr = map[string]string
	tests := []struct {
		name    string
		query   string
		headers hdr
		cookie  string
		want    hub.Identity
		status  int
		code    string
	}{
		{name: "device token", headers: hdr{"Authorization": "Bearer " + cam.DeviceToken},
			want: hub.Identity{UserID: a.User.ID, DeviceID: cam.Device.ID}},
		{name: "device token naming itself", query: "device_id=" + cam.Device.ID, headers: hdr{"Authorization": "Bearer " + cam.DeviceToken},
			want: hub.Identity{UserID: a.User.ID, DeviceID: cam.Device.ID}},
		{name: "device token naming another device", headers: hdr{"Authorization": "Bearer " + cam.DeviceToken, "X-Device-Id": viewer.Device.ID},
			status: 403, code: "forbidden"},
		{name: "session + header", headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": viewer.Device.ID}, want: userSocket},
		{name: "session + query", query: "device_id=" + viewer.Device.ID, headers: hdr{"Authorization": "Bearer " + a.Session.Token}, want: userSocket},
		{name: "session + both agreeing", query: "device_id=" + viewer.Device.ID,
			headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": strings.ToUpper(viewer.Device.ID)}, want: userSocket},
		{name: "session + both disagreeing", query: "device_id=" + cam.Device.ID,
			headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": viewer.Device.ID}, status: 400, code: "bad_request"},
		{name: "session without device id", headers: hdr{"Authorization": "Bearer " + a.Session.Token}, status: 400, code: "bad_request"},
		{name: "session + malformed device id", headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": "nope"}, status: 400, code: "bad_request"},
		{name: "session + another user's device", headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": foreign.Device.ID}, status: 403, code: "forbidden"},
		{name: "session + unknown device", headers: hdr{"Authorization": "Bearer " + a.Session.Token, "X-Device-Id": uuid.NewString()}, status: 403, code: "forbidden"},
		{name: "bad bearer", headers: hdr{"Authorization": "Bearer nope", "X-Device-Id": viewer.Device.ID}, status: 401, code: "unauthorized"},
		{name: "not bearer", headers: hdr{"Authorization": "Basic abc"}, status: 401, code: "unauthorized"},
		{name: "nothing", status: 401, code: "unauthorized"},
		{name: "bad ticket", query: "ticket=abc", status: 401, code: "unauthorized"},
		{name: "bad ticket beats a good bearer", query: "ticket=" + viewer.Device.ID + "..x",
			headers: hdr{"Authorization": "Bearer " + cam.DeviceToken}, status: 401, code: "unauthorized"},
		{name: "cookie + same-host origin", query: "device_id=" + viewer.Device.ID, cookie: a.Session.Token,
			headers: hdr{"Origin": "http://example.com"}, want: userSocket},
		{name: "cookie + allowed origin", query: "device_id=" + viewer.Device.ID, cookie: a.Session.Token,
			headers: hdr{"Origin": "https://app.example.com"}, want: userSocket},
		{name: "cookie without origin", query: "device_id=" + viewer.Device.ID, cookie: a.Session.Token, status: 403, code: "forbidden"},
		{name: "cookie + same-origin fetch but no origin", query: "device_id=" + viewer.Device.ID, cookie: a.Session.Token,
			headers: hdr{"Sec-Fetch-Site": "same-origin"}, status: 403, code: "forbidden"},
		{name: "cookie + foreign origin (CSWSH)", query: "device_id=" + viewer.Device.ID, cookie: a.Session.Token,
			headers: hdr{"Origin": "https://evil.example"}, status: 403, code: "forbidden"},
		{name: "cookie without device id", cookie: a.Session.Token, headers: hdr{"Origin": "http://example.com"}, status: 400, code: "bad_request"},
		{name: "bad cookie", query: "device_id=" + viewer.Device.ID, cookie: "nope", headers: hdr{"Origin": "http://example.com"}, status: 401, code: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(context.Background(), "GET", "/ws?"+tt.query, nil) // Host: example.com
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tt.cookie})
			}
			id, err := e.auth.Authenticate(r)
			if tt.status != 0 {
				wantRefusal(t, tt.name, tt.status, tt.code)(id, err)
				return
			}
			if err != nil || id != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v", id, err, tt.want)
			}
		})
	}
	t.Run("signed-out session", func(t *testing.T) {
		c := e.signUp()
		d := e.createDevice(c.Session.Token, "viewer")
		e.do("POST", "/api/v1/auth/sign-out", nil, bearer(c.Session.Token)).want(t, http.StatusNoContent, nil)
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Header.Set("Authorization", "Bearer "+c.Session.Token)
		r.Header.Set("X-Device-Id", d.Device.ID)
		wantRefusal(t, "signed-out session", 401, "unauthorized")(e.auth.Authenticate(r))
	})
}

func TestHealthReadyMetricsAndWS(t *testing.T) {
	t.Parallel()
	var busDown atomic.Bool
	e := newEnv(t, func(s *setup) {
		s.deps.Ready = []web.ReadyCheck{{Name: "bus", Check: func(context.Context) error {
			if busDown.Load() {
				return errors.New("bus down")
			}
			return nil
		}}}
		s.deps.WS = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
		s.deps.App = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("app")) })
	})
	e.do("GET", "/healthz", nil).want(t, http.StatusOK, nil)
	var ready struct {
		Status string            `json:"status"`
		Failed []string          `json:"failed"`
		Checks map[string]string `json:"checks"`
	}
	e.do("GET", "/readyz", nil).want(t, http.StatusOK, &ready)
	if ready.Status != "ok" || ready.Checks["store"] != "ok" || ready.Checks["bus"] != "ok" {
		t.Fatalf("readyz %+v", ready)
	}
	busDown.Store(true)
	e.do("GET", "/readyz", nil).want(t, http.StatusServiceUnavailable, &ready)
	if ready.Status != "unavailable" || !slices.Equal(ready.Failed, []string{"bus"}) || ready.Checks["store"] != "ok" {
		t.Fatalf("readyz with the bus down %+v", ready)
	}
	e.do("GET", "/metrics", nil).want(t, http.StatusOK, nil)
	e.do("GET", "/ws", nil).want(t, http.StatusTeapot, nil)
	if res := e.do("GET", "/some/app/route", nil); res.status != 200 || string(res.body) != "app" {
		t.Fatalf("app route: %d %s", res.status, res.body)
	}
	e.do("GET", "/api/v1/nope", nil).wantProblem(t, http.StatusNotFound, "not_found")
	e.do("PUT", "/api/v1/me", nil).wantProblem(t, http.StatusMethodNotAllowed, "bad_request")
	for path, allow := range map[string]string{"/api/v1/me": "GET", "/api/v1/devices/" + uuid.NewString(): "GET, PATCH, DELETE",
		"/api/v1/recordings/" + uuid.NewString() + "/content": "GET, PUT"} {
		if got := e.do("POST", path, nil).header.Get("Allow"); got != allow {
			t.Errorf("POST %s: Allow %q, want %q", path, got, allow)
		}
	}
}
