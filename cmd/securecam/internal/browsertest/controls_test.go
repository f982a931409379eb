package browsertest

import (
	"context"
	"regexp"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// startCamera opens camera mode on a signed-in tab, naming the new camera.
func (tb *tab) startCamera(name string) {
	tb.t.Helper()
	tb.do("open camera mode", pageTimeout,
		chromedp.Click(chromedp.CSS("#use-as-camera")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Clear(chromedp.CSS("#new-camera-name")),
		chromedp.SendKeys(chromedp.CSS("#new-camera-name"), name),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](tb, "the camera to start and connect", `
		!!document.querySelector('.camera-status[data-media=on]') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
}

// TestLiveControls walks the live view's remote controls: they are those the
// camera reports it can do (its telemetry's capabilities), none while it is
// offline; Take snapshot shows the image the camera took, with a link that
// downloads it.
func TestLiveControls(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	cam := b.profile(t, "camera")
	view := b.profile(t, "viewer")
	cam.signIn(h.URL)
	cam.startCamera("Porch")
	view.signIn(h.URL)

	view.do("watch the camera", pageTimeout,
		chromedp.Navigate(h.URL+"/"),
		chromedp.WaitVisible(`//button[@aria-label="Watch Porch"]`),
		chromedp.Click(`//button[@aria-label="Watch Porch"]`),
	)
	waitFor[videoState](view, "the live video to play", playing(
		`figure.live.single[data-phase=live] video[aria-label="Live view of Porch"]`), liveTimeout)

	// Chromium's fake camera is one camera without a torch: the viewer is offered
	// the snapshot only.
	controls := waitFor[string](view, "the camera's controls", `
		[...document.querySelectorAll('.remote .actions button')].map((b) => b.textContent).join(',')`, pageTimeout)
	if controls != "Take snapshot" {
		t.Errorf("controls offered = %q, want only Take snapshot", controls)
	}

	view.do("take a snapshot", pageTimeout, chromedp.Click(button("Take snapshot")))
	waitFor[bool](view, "the snapshot shown", `(() => {
		const img = document.querySelector('.remote figure.snapshot img');
		return !!img && img.complete && img.naturalWidth > 0 &&
			document.querySelector('.command-outcome').textContent === 'Take snapshot: done';
	})()`, liveTimeout)
	id := eval[string](view, "read the snapshot's recording", `document.querySelector('figure.snapshot').dataset.recordingId`)
	href := eval[string](view, "read the download link", `document.querySelector('figure.snapshot a[download]').getAttribute('href')`)
	if want := "/api/v1/recordings/" + id + "/content"; href != want {
		t.Errorf("download link = %q, want %q", href, want)
	}
	file := eval[string](view, "read the download name", `document.querySelector('figure.snapshot a[download]').download`)
	if !regexp.MustCompile(`^snapshot-porch-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.jpg$`).MatchString(file) {
		t.Errorf("download name = %q, want snapshot-porch-<date and time>.jpg", file)
	}
	ctx, cancel := context.WithTimeout(view.ctx, pageTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('figure.snapshot a[download]').href)
		.then(async (r) => r.ok ? r.headers.get('Content-Type') + ' ' + ((await r.blob()).size > 0) : 'HTTP ' + r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("download the snapshot: %v", err)
	}
	if got != "image/jpeg true" {
		t.Errorf("downloading the snapshot: %q, want image/jpeg with a body", got)
	}
	view.screenshot("snapshot")

	// A camera gone offline offers no controls, and the page says why.
	cam.do("stop the camera", pageTimeout, chromedp.Click(button("Stop camera")))
	waitFor[bool](view, "the controls hidden for the offline camera", `
		!document.querySelector('.remote .actions') &&
		document.querySelector('.remote .controls-note')?.textContent.includes('offline')`, pageTimeout)
}

// setCameraPermission grants or denies the camera to the hub's pages in the tab's
// browser context, as a person does in the site settings.
func (tb *tab) setCameraPermission(origin string, setting cdpbrowser.PermissionSetting) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission:       &cdpbrowser.PermissionDescriptor{Name: "camera"},
		Setting:          setting,
		Origin:           origin,
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
	})
	if err != nil {
		tb.fail("set the camera permission to "+string(setting), err)
	}
}

// TestCameraAccessDenied: a camera whose access is denied says so with a Try again
// button and tells its viewers it is not capturing (no controls, a declined live
// view); once allowed, Try again starts it and the viewer gets its controls back.
func TestCameraAccessDenied(t *testing.T) {
	// Without the fake permission prompt, which would allow the camera whatever the
	// site settings say.
	b := startBrowser(t, chromedp.Flag("use-fake-ui-for-media-stream", false))
	h := startHub(t, nil)
	signUp(t, h)
	cam := b.profile(t, "camera")
	view := b.profile(t, "viewer")
	cam.signIn(h.URL)
	cam.setCameraPermission(h.URL, cdpbrowser.PermissionSettingDenied)
	cam.do("open camera mode", pageTimeout,
		chromedp.Click(chromedp.CSS("#use-as-camera")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Clear(chromedp.CSS("#new-camera-name")),
		chromedp.SendKeys(chromedp.CSS("#new-camera-name"), "Porch"),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](cam, "the camera to say access was denied, with Try again", `
		!!document.querySelector('.camera-status[data-media=error]') &&
		document.querySelector('.media-error [role=alert]')?.textContent.includes('denied') &&
		!!document.querySelector('#retry-camera') && !!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	cam.screenshot("camera-denied")

	view.signIn(h.URL)
	view.do("watch the camera", pageTimeout,
		chromedp.WaitVisible(`//button[@aria-label="Watch Porch"]`),
		chromedp.Click(`//button[@aria-label="Watch Porch"]`),
	)
	waitFor[bool](view, "the viewer told the camera is not capturing", `
		document.querySelector('figure.live.single .live-status')?.textContent === 'Ended: The camera is not capturing' &&
		!document.querySelector('.remote .actions') &&
		document.querySelector('.remote .controls-note')?.textContent.includes('not capturing')`, liveTimeout)

	cam.setCameraPermission(h.URL, cdpbrowser.PermissionSettingGranted)
	cam.do("try again", pageTimeout, chromedp.Click(chromedp.CSS("#retry-camera")))
	waitFor[bool](cam, "the camera to start", `
		!!document.querySelector('.camera-status[data-media=on]') && !document.querySelector('#retry-camera')`, pageTimeout)
	waitFor[bool](view, "the viewer offered the controls again", `
		[...document.querySelectorAll('.remote .actions button')].some((b) => b.textContent === 'Take snapshot')`, pageTimeout)
	view.do("reconnect", pageTimeout, chromedp.Click(button("Reconnect")))
	waitFor[videoState](view, "the live video to play", playing(
		`figure.live.single[data-phase=live] video[aria-label="Live view of Porch"]`), liveTimeout)
}
