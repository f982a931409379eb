package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// withSignaling serves commands, events, streams and recordings (on a disk) through
// one real signaling service.
func withSignaling(t *testing.T) envOpt {
	return func(s *setup) {
		svc := newSignaling(t, s, signaling.Config{})
		s.deps.Commands, s.deps.Events, s.deps.Streams, s.deps.Arming = svc, svc, svc, svc
		withEvents(t, newDisk(t))(s)
		s.deps.Events = svc
	}
}

// The people of the role matrix: the camera's owner, one user per share role, a user
// whose share was revoked, and a stranger.
const (
	asOwner    = "owner"
	asAdmin    = "admin"
	asOperator = "operator"
	asViewer   = "viewer"
	asRevoked  = "revoked"
	asStranger = "stranger"
)

// matrixPeople is the order the matrix runs in: the owner last, so that a row that
// deletes (which only the owner may) leaves the fixture whole for the others.
var matrixPeople = []string{asStranger, asRevoked, asViewer, asOperator, asAdmin, asOwner}

// person is a user of the matrix fixture, with a viewer device linked to the camera
// (unlinked again for revoked) and a spare viewer linked to nothing.
type person struct {
	tok           string
	user          wire.User
	viewer, spare deviceJSON
}

// fixture is one camera shared with every role, and what hangs off it.
type fixture struct {
	people    map[string]*person
	cam       deviceJSON
	event     wire.Event
	recording wire.Recording
	pending   wire.Recording // a recording created but not uploaded
	target    wire.Share     // a share of the camera to one more user, for the share rows
}

// share invites u to the camera with role through the API and accepts it.
func (e *env) share(owner string, camera string, u *person, role string) wire.Share {
	e.t.Helper()
	var inv struct{ Shares []wire.Share }
	e.do("POST", "/api/v1/shares", map[string]any{"email": u.user.Email, "camera_device_ids": []string{camera}, "role": role},
		bearer(owner)).want(e.t, http.StatusCreated, &inv)
	tok := tokenIn(e.t, e.mail.nextTo(e.t, u.user.Email).body)
	var acc struct{ Items []wire.Share }
	e.do("POST", "/api/v1/shares/accept", map[string]string{"token": tok}, bearer(u.tok)).want(e.t, http.StatusOK, &acc)
	if len(acc.Items) != 1 || acc.Items[0].Status != store.ShareActive {
		e.t.Fatalf("accepted %+v", acc.Items)
	}
	return acc.Items[0]
}

func (e *env) newPerson() *person {
	e.t.Helper()
	a := e.signUp()
	p := &person{tok: a.Session.Token, user: a.User}
	p.viewer, p.spare = e.createDevice(p.tok, "viewer"), e.createDevice(p.tok, "viewer")
	return p
}

func (e *env) link(tok, camera, client string) {
	e.t.Helper()
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": camera, "client_device_id": client},
		bearer(tok)).want(e.t, http.StatusCreated, nil)
}

func (e *env) matrixFixture() *fixture {
	e.t.Helper()
	f := &fixture{people: map[string]*person{}}
	for _, who := range matrixPeople {
		f.people[who] = e.newPerson()
	}
	owner := f.people[asOwner]
	f.cam = e.createDevice(owner.tok, "camera")
	e.link(owner.tok, f.cam.Device.ID, owner.viewer.Device.ID)
	for _, who := range []string{asAdmin, asOperator, asViewer, asRevoked} {
		p := f.people[who]
		role := who
		if who == asRevoked {
			role = store.ShareOperator
		}
		sh := e.share(owner.tok, f.cam.Device.ID, p, role)
		e.link(p.tok, f.cam.Device.ID, p.viewer.Device.ID)
		if who == asRevoked {
			e.do("DELETE", "/api/v1/shares/"+sh.ID, nil, bearer(owner.tok)).want(e.t, http.StatusNoContent, nil)
		}
	}
	f.target = e.share(owner.tok, f.cam.Device.ID, e.newPerson(), store.ShareViewer)
	e.do("POST", "/api/v1/events", map[string]any{"device_id": f.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(f.cam.DeviceToken)).want(e.t, http.StatusCreated, &f.event)
	var created struct{ Recording wire.Recording }
	e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": f.cam.Device.ID, "content_type": "video/mp4"},
		bearer(f.cam.DeviceToken)).want(e.t, http.StatusCreated, &created)
	f.recording = created.Recording
	e.do("PUT", "/api/v1/recordings/"+f.recording.ID+"/content", "clip bytes", bearer(f.cam.DeviceToken),
		header("Content-Type", "video/mp4")).want(e.t, http.StatusOK, nil)
	e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": f.cam.Device.ID, "content_type": "video/mp4"},
		bearer(f.cam.DeviceToken)).want(e.t, http.StatusCreated, &created)
	f.pending = created.Recording
	return f
}

// call is one request of a matrix row.
type call struct {
	method, path string
	body         any
	opts         []reqOpt
}

// matrixRow says how one API operation answers each person. A row that touches a
// camera names the action it needs (signaling/access decides) and the request; the
// allowed get status ok, the others 403 forbidden (a share whose role is too weak) or
// 404 not_found (no standing: revoked, stranger), unless deny says otherwise. A row
// that touches no camera says why in notCamera.
type matrixRow struct {
	notCamera string
	action    access.Action
	req       func(f *fixture, p *person) call
	ok        int
	deny      map[string]int
	// check, when set, replaces the status check: allowed says what the person may.
	check func(t *testing.T, f *fixture, res response, allowed bool)
}

func get(path string) func(*fixture, *person) call {
	return func(*fixture, *person) call { return call{method: "GET", path: path} }
}

// restMatrix has a row for every operation of openapi.json (TestRoleMatrixCoversEveryOperation).
var restMatrix = map[string]matrixRow{
	"POST /api/v1/auth/sign-up":  {notCamera: "anyone: account creation"},
	"POST /api/v1/auth/sign-in":  {notCamera: "anyone: account sign-in"},
	"POST /api/v1/auth/sign-out": {notCamera: "the caller's own session"},
	"GET /api/v1/me":             {notCamera: "the caller's own account"},
	// The camera's household: its owner's (access.Checker.Household).
	"GET /api/v1/arming": {action: access.View, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/arming?household=" + f.people[asOwner].user.ID}
		}},
	"PUT /api/v1/arming": {action: access.Arm, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "PUT", path: "/api/v1/arming",
				body: map[string]string{"mode": "home", "household_id": f.people[asOwner].user.ID}}
		}},
	"PUT /api/v1/arming/schedule":              {notCamera: "the caller's own household only (TestArmingScheduleAPI)"},
	"GET /api/v1/webpush/public-key":           {notCamera: "the hub's own VAPID public key, the same for everyone"},
	"GET /api/v1/notification-preferences":     {notCamera: "the caller's own account"},
	"PUT /api/v1/notification-preferences":     {notCamera: "the caller's own account"},
	"POST /api/v1/auth/verify-email/request":   {notCamera: "the caller's own account"},
	"POST /api/v1/auth/verify-email":           {notCamera: "token-bound, the account's own"},
	"POST /api/v1/auth/password-reset/request": {notCamera: "anyone: account recovery"},
	"POST /api/v1/auth/password-reset":         {notCamera: "token-bound, the account's own"},
	"POST /api/v1/devices":                     {notCamera: "creates a device of the caller's"},
	"GET /api/v1/devices": {action: access.View, req: get("/api/v1/devices"),
		check: func(t *testing.T, f *fixture, res response, allowed bool) {
			res.want(t, http.StatusOK, nil)
			var l struct{ Items []wire.Device }
			_ = json.Unmarshal(res.body, &l)
			i := slices.IndexFunc(l.Items, func(d wire.Device) bool { return d.ID == f.cam.Device.ID })
			if (i >= 0) != allowed {
				t.Fatalf("camera listed: %v, want %v", i >= 0, allowed)
			}
			if i >= 0 && l.Items[i].UserID != f.people[asOwner].user.ID {
				t.Fatalf("listed camera %+v", l.Items[i])
			}
		}},
	"GET /api/v1/devices/{id}": {action: access.View, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/devices/" + f.cam.Device.ID}
		}},
	"PATCH /api/v1/devices/{id}": {action: access.Configure, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "PATCH", path: "/api/v1/devices/" + f.cam.Device.ID, body: map[string]string{"name": "Porch", "recording_mode": "events"}}
		}},
	"DELETE /api/v1/devices/{id}": {action: access.Manage, ok: http.StatusNoContent,
		req: func(f *fixture, _ *person) call {
			return call{method: "DELETE", path: "/api/v1/devices/" + f.cam.Device.ID}
		}},
	"POST /api/v1/device-links": {action: access.View, ok: http.StatusCreated,
		req: func(f *fixture, p *person) call {
			return call{method: "POST", path: "/api/v1/device-links",
				body: map[string]string{"camera_device_id": f.cam.Device.ID, "client_device_id": p.spare.Device.ID}}
		}},
	"GET /api/v1/device-links":         {notCamera: "the caller's own links"},
	"DELETE /api/v1/device-links/{id}": {notCamera: "the caller's own links (a share's end revokes the invitee's)"},
	"POST /api/v1/commands": {action: access.Command, ok: http.StatusAccepted,
		req: func(f *fixture, p *person) call {
			return call{method: "POST", path: "/api/v1/commands", body: map[string]any{"source_device_id": p.viewer.Device.ID,
				"target_device_id": f.cam.Device.ID, "command_type": "set_torch", "payload": map[string]bool{"on": true}}}
		}},
	"GET /api/v1/commands":      {notCamera: "the caller's own commands"},
	"GET /api/v1/commands/{id}": {notCamera: "the caller's own commands"},
	"POST /api/v1/streams": {action: access.View, ok: http.StatusCreated,
		req: func(f *fixture, p *person) call {
			return call{method: "POST", path: "/api/v1/streams",
				body: map[string]string{"camera_device_id": f.cam.Device.ID, "requester_device_id": p.viewer.Device.ID}}
		}},
	"GET /api/v1/streams":           {notCamera: "the caller's own sessions"},
	"GET /api/v1/streams/{id}":      {notCamera: "the caller's own sessions"},
	"POST /api/v1/streams/{id}/end": {notCamera: "the caller's own sessions"},
	"GET /api/v1/ice-servers":       {notCamera: "issued to the caller's own device"},
	"POST /api/v1/events": {action: access.Manage, ok: http.StatusCreated,
		req: func(f *fixture, _ *person) call {
			return call{method: "POST", path: "/api/v1/events",
				body: map[string]any{"device_id": f.cam.Device.ID, "title": "Motion", "triggered_by": "motion"}}
		}},
	"GET /api/v1/events": {action: access.ReadEvents, check: listed(func(f *fixture) string { return f.event.ID }),
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/events?device_id=" + f.cam.Device.ID}
		}},
	"GET /api/v1/events/{id}": {action: access.ReadEvents, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call { return call{method: "GET", path: "/api/v1/events/" + f.event.ID} }},
	"PATCH /api/v1/events/{id}": {action: access.Manage, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "PATCH", path: "/api/v1/events/" + f.event.ID, body: map[string]string{"status": "ended"}}
		}},
	"POST /api/v1/recordings": {action: access.Manage, ok: http.StatusCreated,
		req: func(f *fixture, _ *person) call {
			return call{method: "POST", path: "/api/v1/recordings",
				body: map[string]any{"camera_device_id": f.cam.Device.ID, "content_type": "video/mp4"}}
		}},
	"GET /api/v1/recordings": {action: access.ReadClips, check: listed(func(f *fixture) string { return f.recording.ID }),
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/recordings?camera_device_id=" + f.cam.Device.ID}
		}},
	"GET /api/v1/recordings/{id}": {action: access.ReadClips, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/recordings/" + f.recording.ID}
		}},
	"DELETE /api/v1/recordings/{id}": {action: access.Manage, ok: http.StatusNoContent,
		req: func(f *fixture, _ *person) call {
			return call{method: "DELETE", path: "/api/v1/recordings/" + f.recording.ID}
		}},
	"GET /api/v1/recordings/{id}/content": {action: access.ReadClips, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/recordings/" + f.recording.ID + "/content"}
		}},
	"PUT /api/v1/recordings/{id}/content": {action: access.Manage, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "PUT", path: "/api/v1/recordings/" + f.pending.ID + "/content", body: "clip",
				opts: []reqOpt{header("Content-Type", "video/mp4")}}
		}},
	// Completing is for uploads straight to a bucket; the fixture's is through the hub,
	// so the owner is told it conflicts, and no one else learns that much.
	"POST /api/v1/recordings/{id}/complete": {action: access.Manage, ok: http.StatusConflict,
		req: func(f *fixture, _ *person) call {
			return call{method: "POST", path: "/api/v1/recordings/" + f.pending.ID + "/complete"}
		}},
	// Authorization comes before the offer is read: who may watch gets the offer's 400.
	"POST /api/v1/whep/{camera}": {action: access.View, ok: http.StatusBadRequest,
		req: func(f *fixture, _ *person) call {
			return call{method: "POST", path: "/api/v1/whep/" + f.cam.Device.ID, body: "not an offer",
				opts: []reqOpt{header("Content-Type", "application/sdp")}}
		}},
	"PATCH /api/v1/whep/{camera}/{id}":     {notCamera: "the viewer's own playback session (authorized when it was created)"},
	"DELETE /api/v1/whep/{camera}/{id}":    {notCamera: "the viewer's own playback session (authorized when it was created)"},
	"POST /api/v1/whip":                    {notCamera: "a camera publishing itself, with its own device token"},
	"PATCH /api/v1/whip/{id}":              {notCamera: "the publishing camera's own session"},
	"DELETE /api/v1/whip/{id}":             {notCamera: "the publishing camera's own session"},
	"GET /api/v1/notifications":            {notCamera: "the caller's own notifications (an event of a shared camera gives each invitee one)"},
	"POST /api/v1/notifications/{id}/read": {notCamera: "the caller's own notifications"},
	"POST /api/v1/ws-tickets":              {notCamera: "the caller's own device"},
	"GET /api/v1/audit-logs":               {notCamera: "the caller's own audit log"},
	"GET /api/v1/openapi.json":             {notCamera: "public document"},
	"GET /healthz":                         {notCamera: "public health check"},
	"GET /readyz":                          {notCamera: "public readiness check"},
	"GET /metrics":                         {notCamera: "operator's metrics"},
	"GET /ws":                              {notCamera: "the socket: its messages have their own matrix (signaling TestSocketRoleMatrix)"},
	"POST /api/v1/shares/accept":           {notCamera: "token-bound, the invitee's own (TestSharesFlow)"},
	"GET /api/v1/shares/received":          {notCamera: "the caller's own shares (TestSharesFlow)"},
	"POST /api/v1/shares": {action: access.Share, ok: http.StatusCreated,
		req: func(f *fixture, _ *person) call {
			return call{method: "POST", path: "/api/v1/shares", body: map[string]any{"email": uniqueEmail(),
				"camera_device_ids": []string{f.cam.Device.ID}, "role": "viewer"}}
		}},
	"GET /api/v1/shares": {action: access.Share, ok: http.StatusOK,
		req: func(f *fixture, _ *person) call {
			return call{method: "GET", path: "/api/v1/shares?camera_device_id=" + f.cam.Device.ID}
		}},
	// A share is visible to its invitee and to whoever may share the camera: to the
	// camera's other invitees it does not exist.
	"GET /api/v1/shares/{id}": {action: access.Share, ok: http.StatusOK, deny: map[string]int{asViewer: 404, asOperator: 404},
		req: func(f *fixture, _ *person) call { return call{method: "GET", path: "/api/v1/shares/" + f.target.ID} }},
	"PATCH /api/v1/shares/{id}": {action: access.Share, ok: http.StatusOK, deny: map[string]int{asViewer: 404, asOperator: 404},
		req: func(f *fixture, _ *person) call {
			return call{method: "PATCH", path: "/api/v1/shares/" + f.target.ID, body: map[string]string{"role": "operator"}}
		}},
	"DELETE /api/v1/shares/{id}": {action: access.Share, ok: http.StatusNoContent, deny: map[string]int{asViewer: 404, asOperator: 404},
		req: func(f *fixture, _ *person) call { return call{method: "DELETE", path: "/api/v1/shares/" + f.target.ID} }},
}

// listed checks a list: the item is in it for those allowed, and not for the others
// (who get an empty page: nothing of that camera is theirs).
func listed(item func(f *fixture) string) func(t *testing.T, f *fixture, res response, allowed bool) {
	return func(t *testing.T, f *fixture, res response, allowed bool) {
		res.want(t, http.StatusOK, nil)
		var l struct{ Items []struct{ ID string } }
		_ = json.Unmarshal(res.body, &l)
		in := slices.ContainsFunc(l.Items, func(it struct{ ID string }) bool { return it.ID == item(f) })
		if in != allowed {
			t.Fatalf("%s listed: %v, want %v", item(f), in, allowed)
		}
	}
}

// roleOf is each person's role on the fixture's camera.
func roleOf(who string) access.Role {
	switch who {
	case asOwner:
		return access.Owner
	case asAdmin:
		return access.Admin
	case asOperator:
		return access.Operator
	case asViewer:
		return access.Viewer
	}
	return access.None
}

// apiOperations lists "METHOD path" of every operation of openapi.json.
func apiOperations(t *testing.T) []string {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

// TestRoleMatrixCoversEveryOperation: an operation added to the API without a row in
// the role matrix fails here.
func TestRoleMatrixCoversEveryOperation(t *testing.T) {
	ops := apiOperations(t)
	for _, op := range ops {
		row, ok := restMatrix[op]
		if !ok {
			t.Errorf("%s has no row in the role matrix (restMatrix): say which action it needs, or why it touches no camera", op)
			continue
		}
		if (row.notCamera == "") == (row.req == nil) {
			t.Errorf("%s: a row has either a request or a reason it touches no camera", op)
		}
	}
	for op := range restMatrix {
		if !slices.Contains(ops, op) {
			t.Errorf("restMatrix row %s names no operation of openapi.json", op)
		}
	}
}

func roleMatrix(t *testing.T, newEnv func(t *testing.T) *env) {
	var ops []string
	for op, row := range restMatrix {
		if row.req != nil {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	for _, op := range ops {
		row := restMatrix[op]
		t.Run(strings.ReplaceAll(op, "/", "_"), func(t *testing.T) {
			e := newEnv(t)
			f := e.matrixFixture()
			for _, who := range matrixPeople {
				p := f.people[who]
				c := row.req(f, p)
				allowed := access.Allows(roleOf(who), row.action)
				res := e.do(c.method, c.path, c.body, append([]reqOpt{bearer(p.tok)}, c.opts...)...)
				if row.check != nil {
					row.check(t, f, res, allowed)
					continue
				}
				want := row.ok
				if !allowed {
					want = http.StatusNotFound
					if roleOf(who) != access.None {
						want = http.StatusForbidden
					}
					if d, ok := row.deny[who]; ok {
						want = d
					}
				}
				if res.status != want {
					t.Fatalf("%s as %s: %d %s, want %d", op, who, res.status, res.body, want)
				}
			}
		})
	}
}

func TestRoleMatrixSQLite(t *testing.T) {
	t.Parallel()
	roleMatrix(t, func(t *testing.T) *env { return newEnv(t, withSignaling(t)) })
}

func TestRoleMatrixPostgres(t *testing.T) {
	t.Parallel()
	roleMatrix(t, func(t *testing.T) *env { return newEnvOn(t, storetest.NewPostgres(t), withSignaling(t)) })
}
