package web_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
)

// mainFlow walks a household's first day through the API: it runs on every store.
func mainFlow(t *testing.T, e *env) {
	a := e.signUp()
	var in authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).
		want(t, http.StatusOK, &in)
	auth := bearer(in.Session.Token)
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "wrong password"}).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")

	e.do("POST", "/api/v1/auth/verify-email/request", nil, auth).want(t, http.StatusAccepted, nil)
	e.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tokenIn(t, e.mail.next(t).body)}).
		want(t, http.StatusNoContent, nil)

	cam := e.createDevice(in.Session.Token, "camera")
	viewer := e.createDevice(in.Session.Token, "viewer")
	e.do("GET", "/api/v1/devices/not-a-uuid", nil, auth).wantProblem(t, http.StatusNotFound, "not_found")
	var link wire.DeviceLink
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": cam.Device.ID, "client_device_id": viewer.Device.ID}, auth).
		want(t, http.StatusCreated, &link)
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": cam.Device.ID, "client_device_id": viewer.Device.ID}, auth).
		wantProblem(t, http.StatusConflict, "conflict")

	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]string{"push_token": "fcm-1"}, bearer(cam.DeviceToken)).
		want(t, http.StatusOK, nil)
	var list struct{ Items []wire.Device }
	e.do("GET", "/api/v1/devices?limit=1", nil, auth).want(t, http.StatusOK, &list)
	if len(list.Items) != 1 {
		t.Fatalf("limit=1 gave %d devices", len(list.Items))
	}

	var tk struct{ Ticket string }
	e.do("POST", "/api/v1/ws-tickets", map[string]string{"device_id": viewer.Device.ID}, auth).want(t, http.StatusCreated, &tk)
	id, err := e.auth.Authenticate(httptest.NewRequest("GET", "/ws?ticket="+tk.Ticket, nil))
	if err != nil || id.DeviceID != viewer.Device.ID || id.UserID != a.User.ID || id.SessionID == "" {
		t.Fatalf("ticket identity %+v, %v", id, err)
	}
	_, err = e.auth.Authenticate(httptest.NewRequest("GET", "/ws?ticket="+tk.Ticket, nil))
	wantRefusal(t, "reused ticket", 401, "unauthorized")(hub.Identity{}, err)

	e.do("DELETE", "/api/v1/device-links/"+link.ID, nil, auth).want(t, http.StatusNoContent, nil)
	e.do("DELETE", "/api/v1/devices/"+cam.Device.ID, nil, auth).want(t, http.StatusNoContent, nil)
	e.do("PATCH", "/api/v1/devices/"+cam.Device.ID, map[string]string{"push_token": "x"}, bearer(cam.DeviceToken)).
		wantProblem(t, http.StatusUnauthorized, "unauthorized")

	e.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": a.User.Email}).want(t, http.StatusAccepted, nil)
	e.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": tokenIn(t, e.mail.next(t).body), "password": "brand new password"}).
		want(t, http.StatusNoContent, nil)
	for _, tok := range []string{a.Session.Token, in.Session.Token} {
		e.do("GET", "/api/v1/me", nil, bearer(tok)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	}
	var again authJSON
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": "brand new password"}).
		want(t, http.StatusOK, &again)
	if !again.User.EmailVerified {
		t.Fatal("email_verified lost")
	}
	want := []string{
		web.AuditSignUp, web.AuditSignIn, web.AuditSignInFailed, web.AuditEmailVerificationRequest, web.AuditEmailVerified,
		web.AuditDeviceCreated, web.AuditLinkCreated, web.AuditLinkRevoked, web.AuditDeviceDeleted,
		web.AuditPasswordResetRequest, web.AuditPasswordReset,
	}
	got := e.auditActions(again.Session.Token)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("audit %v lacks %s", got, w)
		}
	}
	e.do("POST", "/api/v1/auth/sign-out", nil, bearer(again.Session.Token)).want(t, http.StatusNoContent, nil)
	e.do("GET", "/api/v1/me", nil, bearer(again.Session.Token)).wantProblem(t, http.StatusUnauthorized, "unauthorized")
}

func TestMainFlowSQLite(t *testing.T) {
	t.Parallel()
	mainFlow(t, newEnv(t))
}

func TestMainFlowPostgres(t *testing.T) {
	t.Parallel()
	mainFlow(t, newEnvOn(t, storetest.NewPostgres(t)))
}
