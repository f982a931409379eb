package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
)

// sharesFlow walks an invitation from the owner's POST to the invitee leaving, on
// every store.
func sharesFlow(t *testing.T, e *env) {
	owner, invitee, other := e.newPerson(), e.newPerson(), e.newPerson()
	cam1, cam2 := e.createDevice(owner.tok, "camera"), e.createDevice(owner.tok, "camera")
	auth := bearer(owner.tok)

	// Refusals: a bad role, a device that is not a camera, oneself, someone else's camera.
	for _, bad := range []map[string]any{
		{"email": invitee.user.Email, "camera_device_ids": []string{cam1.Device.ID}, "role": "owner"},
		{"email": invitee.user.Email, "camera_device_ids": []string{}, "role": "viewer"},
		{"email": "not an address", "camera_device_ids": []string{cam1.Device.ID}, "role": "viewer"},
		{"email": invitee.user.Email, "camera_device_ids": []string{cam1.Device.ID, cam1.Device.ID}, "role": "viewer"},
		{"email": invitee.user.Email, "camera_device_ids": []string{owner.viewer.Device.ID}, "role": "viewer"},
		{"email": owner.user.Email, "camera_device_ids": []string{cam1.Device.ID}, "role": "viewer"},
	} {
		e.do("POST", "/api/v1/shares", bad, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
	}
	e.do("POST", "/api/v1/shares", map[string]any{"email": invitee.user.Email, "camera_device_ids": []string{cam1.Device.ID}, "role": "viewer"},
		bearer(other.tok)).wantProblem(t, http.StatusNotFound, "not_found")

	// The invitation: two cameras, one mail, one token.
	var inv struct {
		InvitationID string       `json:"invitation_id"`
		Shares       []wire.Share `json:"shares"`
	}
	e.do("POST", "/api/v1/shares", map[string]any{"email": strings.ToUpper(invitee.user.Email),
		"camera_device_ids": []string{cam1.Device.ID, cam2.Device.ID}, "role": "viewer"}, auth).want(t, http.StatusCreated, &inv)
	if len(inv.Shares) != 2 || inv.Shares[0].Status != store.SharePending || inv.Shares[0].InviteeEmail != invitee.user.Email {
		t.Fatalf("invitation %+v", inv)
	}
	if d := inv.Shares[0].ExpiresAt.Sub(inv.Shares[0].CreatedAt); d.Hours() != 7*24 {
		t.Errorf("invitation valid for %v, want 7 days", d)
	}
	mail := e.mail.nextTo(t, invitee.user.Email)
	tok := tokenIn(t, mail.body)
	if !strings.Contains(mail.body, cam1.Device.Name) {
		t.Errorf("mail names no camera:\n%s", mail.body)
	}
	e.do("POST", "/api/v1/shares", map[string]any{"email": invitee.user.Email, "camera_device_ids": []string{cam1.Device.ID}, "role": "admin"},
		auth).wantProblem(t, http.StatusConflict, "conflict")

	// Only the invited address accepts, once.
	e.do("POST", "/api/v1/shares/accept", map[string]string{"token": tok}, bearer(other.tok)).wantProblem(t, http.StatusNotFound, "not_found")
	e.do("POST", "/api/v1/shares/accept", map[string]string{"token": "nope"}, bearer(invitee.tok)).wantProblem(t, http.StatusNotFound, "not_found")
	var acc struct{ Items []wire.Share }
	e.do("POST", "/api/v1/shares/accept", map[string]string{"token": tok}, bearer(invitee.tok)).want(t, http.StatusOK, &acc)
	if len(acc.Items) != 2 || acc.Items[0].Status != store.ShareActive || *acc.Items[0].UserID != invitee.user.ID {
		t.Fatalf("accepted %+v", acc.Items)
	}
	e.do("POST", "/api/v1/shares/accept", map[string]string{"token": tok}, bearer(invitee.tok)).wantProblem(t, http.StatusNotFound, "not_found")

	// The invitee sees the cameras as shared, and links a viewer to one.
	var devs struct{ Items []wire.Device }
	e.do("GET", "/api/v1/devices", nil, bearer(invitee.tok)).want(t, http.StatusOK, &devs)
	i := slices.IndexFunc(devs.Items, func(d wire.Device) bool { return d.ID == cam1.Device.ID })
	if i < 0 || devs.Items[i].Shared == nil || devs.Items[i].Shared.Role != "viewer" || devs.Items[i].Shared.OwnerName != owner.user.Name ||
		devs.Items[i].PushToken != nil {
		t.Fatalf("GET /devices of the invitee: %+v", devs.Items)
	}
	var own struct{ Items []wire.Device }
	e.do("GET", "/api/v1/devices", nil, auth).want(t, http.StatusOK, &own)
	for _, d := range own.Items {
		if d.Shared != nil {
			t.Fatalf("the owner's own device marked shared: %+v", d)
		}
	}
	var link wire.DeviceLink
	e.do("POST", "/api/v1/device-links", map[string]string{"camera_device_id": cam1.Device.ID, "client_device_id": invitee.viewer.Device.ID},
		bearer(invitee.tok)).want(t, http.StatusCreated, &link)
	if link.OwnerUserID != invitee.user.ID {
		t.Errorf("link owner %s, want the invitee", link.OwnerUserID)
	}

	// Lists on both sides.
	var l struct{ Items []wire.Share }
	e.do("GET", "/api/v1/shares", nil, auth).want(t, http.StatusOK, &l)
	if len(l.Items) != 2 {
		t.Errorf("owner lists %d shares, want 2", len(l.Items))
	}
	e.do("GET", "/api/v1/shares/received?status=active", nil, bearer(invitee.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 2 {
		t.Errorf("invitee lists %d shares, want 2", len(l.Items))
	}
	e.do("GET", "/api/v1/shares?status=bogus", nil, auth).wantProblem(t, http.StatusBadRequest, "bad_request")
	e.do("GET", "/api/v1/shares/"+acc.Items[0].ID, nil, bearer(other.tok)).wantProblem(t, http.StatusNotFound, "not_found")

	// Role changes: the owner may, the invitee may not.
	sh1 := acc.Items[slices.IndexFunc(acc.Items, func(s wire.Share) bool { return s.CameraDeviceID == cam1.Device.ID })]
	e.do("PATCH", "/api/v1/shares/"+sh1.ID, map[string]string{"role": "admin"}, bearer(invitee.tok)).wantProblem(t, http.StatusForbidden, "forbidden")
	var changed wire.Share
	e.do("PATCH", "/api/v1/shares/"+sh1.ID, map[string]string{"role": "operator"}, auth).want(t, http.StatusOK, &changed)
	if changed.Role != "operator" {
		t.Errorf("role %s", changed.Role)
	}

	// Revoking unlinks the invitee's devices from that camera (ending their sessions).
	e.do("DELETE", "/api/v1/shares/"+sh1.ID, nil, auth).want(t, http.StatusNoContent, nil)
	if !slices.Contains(e.revokedLinks(), link.ID) {
		t.Errorf("revoked links %v lack the invitee's %s", e.revokedLinks(), link.ID)
	}
	e.do("GET", "/api/v1/devices/"+cam1.Device.ID, nil, bearer(invitee.tok)).wantProblem(t, http.StatusNotFound, "not_found")
	e.do("DELETE", "/api/v1/shares/"+sh1.ID, nil, auth).want(t, http.StatusNoContent, nil)

	// The invitee leaves the other.
	sh2 := acc.Items[slices.IndexFunc(acc.Items, func(s wire.Share) bool { return s.CameraDeviceID == cam2.Device.ID })]
	e.do("DELETE", "/api/v1/shares/"+sh2.ID, nil, bearer(invitee.tok)).want(t, http.StatusNoContent, nil)
	var left wire.Share
	e.do("GET", "/api/v1/shares/"+sh2.ID, nil, auth).want(t, http.StatusOK, &left)
	if left.Status != store.ShareLeft {
		t.Errorf("status %s, want left", left.Status)
	}
	got := e.auditActions(owner.tok)
	for _, w := range []string{web.AuditShareCreated, web.AuditShareAccepted, web.AuditShareChanged, web.AuditShareRevoked, web.AuditShareLeft} {
		if !slices.Contains(got, w) {
			t.Errorf("the owner's audit log %v lacks %s", got, w)
		}
	}
}

func TestSharesFlowSQLite(t *testing.T) {
	t.Parallel()
	sharesFlow(t, newEnv(t))
}

func TestSharesFlowPostgres(t *testing.T) {
	t.Parallel()
	sharesFlow(t, newEnvOn(t, storetest.NewPostgres(t)))
}
