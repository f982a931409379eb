package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/web"
)

// The public key is given to signed-in browsers; a web device's push_token must be a
// Web Push subscription, other platforms' tokens stay opaque.
func TestWebPushSubscription(t *testing.T) {
	t.Parallel()
	const key = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	e := newEnv(t, config(func(c *web.Config) { c.VAPIDPublicKey = key }))
	a := e.signUp()
	auth := bearer(a.Session.Token)

	var got struct {
		PublicKey string `json:"public_key"`
	}
	e.do("GET", "/api/v1/webpush/public-key", nil, auth).want(t, http.StatusOK, &got)
	if got.PublicKey != key {
		t.Errorf("public key %q, want %q", got.PublicKey, key)
	}
	e.do("GET", "/api/v1/webpush/public-key", nil).wantProblem(t, http.StatusUnauthorized, "unauthorized")

	sub := `{"endpoint":"https://push.example.net/send/abc","expirationTime":null,"keys":{"p256dh":"` + key + `","auth":"8eDyX_uCN0XRhSbY5hs7Hg"}}`
	var browser deviceJSON
	e.do("POST", "/api/v1/devices", map[string]any{"name": "Laptop", "role": "viewer", "platform": "web", "push_token": sub}, auth).
		want(t, http.StatusCreated, &browser)
	var d wire.Device
	e.do("PATCH", "/api/v1/devices/"+browser.Device.ID, map[string]any{"push_token": sub}, auth).want(t, http.StatusOK, &d)
	if d.PushToken == nil || *d.PushToken != sub {
		t.Errorf("push_token %v, want the subscription", d.PushToken)
	}
	bad := map[string]string{
		"not JSON":       "fcm-token",
		"http endpoint":  strings.Replace(sub, "https:", "http:", 1),
		"short p256dh":   strings.Replace(sub, key, key[:40], 1),
		"long auth":      strings.Replace(sub, "8eDyX_uCN0XRhSbY5hs7Hg", "8eDyX_uCN0XRhSbY5hs7Hg8eDy", 1),
		"no keys at all": `{"endpoint":"https://push.example.net/send/abc"}`,
	}
	for _, token := range bad {
		e.do("PATCH", "/api/v1/devices/"+browser.Device.ID, map[string]any{"push_token": token}, auth).
			wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("PATCH", "/api/v1/devices/"+browser.Device.ID, map[string]any{"push_token": token}, bearer(browser.DeviceToken)).
			wantProblem(t, http.StatusBadRequest, "bad_request")
		e.do("POST", "/api/v1/devices", map[string]any{"name": "x", "role": "viewer", "platform": "web", "push_token": token}, auth).
			wantProblem(t, http.StatusBadRequest, "bad_request")
	}
	// An empty token unsubscribes.
	e.do("PATCH", "/api/v1/devices/"+browser.Device.ID, map[string]any{"push_token": ""}, auth).want(t, http.StatusOK, &d)
	if d.PushToken != nil {
		t.Errorf("push_token %q after an empty one, want none", *d.PushToken)
	}

	// Without a key Web Push is off.
	off := newEnv(t)
	o := off.signUp()
	off.do("GET", "/api/v1/webpush/public-key", nil, bearer(o.Session.Token)).wantProblem(t, http.StatusNotFound, "not_found")
}
