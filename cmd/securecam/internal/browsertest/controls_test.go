package browsertest

import (
	"context"
	"regexp"
	"testing"

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
