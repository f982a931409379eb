package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/securecam/securecam/push/pushtest"
	"github.com/securecam/securecam/signaling/client"
)

// TestWebPushAlerts: a viewer turns on alerts from a click on the Notifications page;
// the app registers its service worker (which takes control of the page), asks for
// the permission, subscribes with the hub's VAPID key and stores the subscription
// as its device's push token. Once that viewer is closed, a motion event of a linked
// camera reaches the local push service: the test decrypts it with the subscription's
// private key and checks the VAPID JWT. The alert's link, /events/<id>, shows the event
// (the service worker's click handling is tested in web/app/jstest/sw.test.js).
//
// Headless Chromium has no push service of its own (PushManager.subscribe needs
// Google's, unreachable here), so the page's PushManager.subscribe is replaced by one
// returning a subscription of the local push service: everything else is the
// browser's own (service worker, permission, the app's code).
func TestWebPushAlerts(t *testing.T) {
	svc := pushtest.NewWebPush(t)
	b := startBrowser(t)
	h := startHub(t, map[string]string{"SSL_CERT_FILE": svc.CertFile(t)})
	signUp(t, h)
	owner := signIn(t, h)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cam, err := owner.CreateDevice(ctx, client.NewDevice{Name: "Porch", Role: "camera", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}

	var key struct {
		PublicKey string `json:"public_key"`
	}
	apiCall(t, h.URL, owner.Token(), http.MethodGet, "/api/v1/webpush/public-key", nil, &key)
	sub := svc.Subscribe(t, key.PublicKey)

	view := b.profile(t, "viewer")
	view.signIn(h.URL)
	view.setPermission(h.URL, "notifications", cdpbrowser.PermissionSettingGranted)
	view.do("open the notifications page", pageTimeout,
		chromedp.Click(link("Notifications")),
		chromedp.WaitVisible(chromedp.CSS("#push-on")),
	)
	subJSON, _ := json.Marshal(sub.JSON())
	eval[bool](view, "stand in for the browser's push service", `(() => {
		PushManager.prototype.getSubscription = async () => null;
		PushManager.prototype.subscribe = async function (o) {
			window.askedKey = btoa(String.fromCharCode(...new Uint8Array(o.applicationServerKey)));
			window.askedVisible = o.userVisibleOnly;
			return { toJSON: () => JSON.parse(`+string(subJSON)+`), options: o };
		};
		return true;
	})()`)
	view.do("turn on alerts", pageTimeout, chromedp.Click(chromedp.CSS("#push-on")))
	waitFor[bool](view, "alerts on", `document.querySelector('#push-alerts')?.dataset.on === 'true' && !!document.querySelector('#push-off')`, pageTimeout)
	waitFor[bool](view, "the service worker in control", `navigator.serviceWorker.controller?.scriptURL.endsWith('/sw.js')`, pageTimeout)
	raw, _ := base64.RawURLEncoding.DecodeString(key.PublicKey)
	if got := eval[string](view, "read the key subscribed with", "window.askedKey"); got != base64.StdEncoding.EncodeToString(raw) {
		t.Errorf("subscribed with key %q, want the hub's %q", got, key.PublicKey)
	}
	if !eval[bool](view, "read userVisibleOnly", "window.askedVisible") {
		t.Error("subscribed without userVisibleOnly")
	}
	view.screenshot("notifications-alerts-on")

	devices, err := owner.ListDevices(ctx, client.PageRequest{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var viewerID string
	for _, d := range devices.Items {
		if d.Platform == "web" && d.Role == "viewer" {
			viewerID = d.ID
			if d.PushToken == nil || *d.PushToken != sub.JSON() {
				t.Fatalf("the viewer's push_token = %v, want the subscription %s", d.PushToken, sub.JSON())
			}
		}
	}
	if _, err := owner.CreateLink(ctx, cam.Device.ID, viewerID); err != nil {
		t.Fatal(err)
	}

	// The viewer closes the app; its alerts now go through the push service.
	if err := chromedp.Cancel(view.ctx); err != nil {
		t.Fatalf("close the viewer's tab: %v", err)
	}
	for {
		d, err := owner.Device(ctx, viewerID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == "offline" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the viewer stayed %s after its tab left", d.Status)
		case <-time.After(100 * time.Millisecond): // polling the hub
		}
	}
	var ev struct {
		ID string `json:"id"`
	}
	apiCall(t, h.URL, owner.Token(), http.MethodPost, "/api/v1/events",
		map[string]string{"device_id": cam.Device.ID, "title": "Motion detected", "triggered_by": "motion"}, &ev)

	reqs, err := svc.WaitRequests(ctx, 1)
	if err != nil {
		t.Fatalf("no push reached the push service: %v", err)
	}
	r := reqs[0]
	if r.Status != http.StatusCreated || r.Subscription != sub.ID() {
		t.Fatalf("push service: %v, want 201 for the viewer's subscription", r)
	}
	var msg struct {
		SecureCam struct {
			Type    string `json:"type"`
			EventID string `json:"event_id"`
		} `json:"securecam"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := json.Unmarshal(r.Payload, &msg); err != nil {
		t.Fatalf("decrypted payload %q: %v", r.Payload, err)
	}
	if msg.SecureCam.Type != "event" || msg.SecureCam.EventID != ev.ID || msg.Title != "Motion detected" || msg.Body != "Porch" {
		t.Errorf("decrypted payload %s, want the event %s from Porch", r.Payload, ev.ID)
	}
	if r.Audience != svc.URL || !strings.HasPrefix(r.Subject, "mailto:") {
		t.Errorf("VAPID aud %q sub %q", r.Audience, r.Subject)
	}

	// The notification's link (its click opens it in a tab of the app) shows the event.
	again := b.profile(t, "viewer again")
	again.signIn(h.URL)
	again.do("open the alert's link", pageTimeout,
		chromedp.Navigate(h.URL+"/events/"+ev.ID),
		chromedp.WaitVisible(chromedp.CSS(`li.event[aria-current=true][data-event-id="`+ev.ID+`"]`)),
	)
}

// setPermission sets a permission of the hub's pages in the tab's browser context,
// as a person does in the site settings.
func (tb *tab) setPermission(origin, name string, setting cdpbrowser.PermissionSetting) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission:       &cdpbrowser.PermissionDescriptor{Name: name},
		Setting:          setting,
		Origin:           origin,
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
	})
	if err != nil {
		tb.fail("set the "+name+" permission to "+string(setting), err)
	}
}

// apiCall makes one request with the owner's session and decodes the answer.
func apiCall(t *testing.T, base, token, method, path string, body, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	ctx, cancel := context.WithTimeout(t.Context(), pageTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: decode: %v", method, path, err)
	}
}
