package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
)

const (
	ownerEmail    = "owner@example.com"
	ownerPassword = "correct horse battery staple"
	cameraName    = "Front door"
)

// Timeouts are generous: the suite shares two cores with every other package.
const (
	pageTimeout = 30 * time.Second // a page, a form answer, a socket
	liveTimeout = 60 * time.Second // a live view's first frames
)

// xpath helpers find controls by their visible text, as a person does.
func button(text string) string {
	return fmt.Sprintf(`//button[normalize-space()=%q]`, text)
}

func link(text string) string {
	return fmt.Sprintf(`//a[normalize-space()=%q]`, text)
}

// TestCameraAndViewer is the first minute of the product: one browser profile
// signs up and becomes a camera, a second profile signs in to the same account
// as a viewer, watches the camera live, and sees its motion event (with the
// clip) and the notification.
func TestCameraAndViewer(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	cam := b.profile(t, "camera")
	view := b.profile(t, "viewer")

	// The camera: sign up from the sign-in page, then camera mode.
	cam.do("sign up", pageTimeout,
		chromedp.Navigate(h.URL+"/"),
		chromedp.Click(link("Create an account")),
		chromedp.SendKeys(chromedp.CSS("#sign-up-name"), "Owner"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-up-password"), ownerPassword),
		chromedp.Click(button("Create account")),
		chromedp.WaitVisible(chromedp.CSS("#camera-list")),
	)
	cam.do("switch to camera mode, naming the new camera", pageTimeout,
		chromedp.Click(chromedp.CSS("#use-as-camera")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Clear(chromedp.CSS("#new-camera-name")),
		chromedp.SendKeys(chromedp.CSS("#new-camera-name"), "Porch"),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](cam, "the camera to start and connect", `
		!!document.querySelector('.camera-status[data-media=on]') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	preview := waitFor[videoState](cam, "the camera preview to play", playing(`video[aria-label="Camera preview"]`), pageTimeout)
	t.Logf("camera preview %dx%d", preview.Width, preview.Height)
	// Motion detection stays off until the viewer watches, so that the event
	// under test is the one that reaches a linked viewer.
	cam.do("turn motion detection off and name the camera", pageTimeout,
		chromedp.Click(chromedp.CSS("#motion-enabled")),
		// Not Clear: it empties the value attribute, which no longer shows once
		// the page has set the field's value (it follows renames).
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#camera-name').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#camera-name"), cameraName),
		chromedp.Click(button("Save name")),
	)
	waitFor[bool](cam, "the rename to be announced", fmt.Sprintf(
		`document.querySelector('#announcer').textContent.includes(%q)`, "Camera renamed to "+cameraName), pageTimeout)
	if eval[bool](cam, "read the motion checkbox", `document.querySelector('#motion-enabled').checked`) {
		t.Fatal("motion detection still on after unchecking it")
	}

	// The viewer: another profile signs in to the same account and sees the camera online.
	view.do("open the sign-in page", pageTimeout,
		chromedp.Navigate(h.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
	)
	view.screenshot("sign-in")
	view.do("sign in", pageTimeout,
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), ownerPassword),
		chromedp.Click(button("Sign in")),
	)
	cameraItem := `#camera-list li.device[data-status=online]`
	waitFor[bool](view, "the camera listed online", fmt.Sprintf(
		`[...document.querySelectorAll(%q)].some((li) => li.querySelector('h3').textContent.includes(%q)) &&
		!!document.querySelector('.conn[data-status=open]')`, cameraItem, cameraName), pageTimeout)
	view.screenshot("devices")

	// Live view: Watch links the camera to this viewer and plays it.
	view.do("watch the camera", pageTimeout, chromedp.Click(button("Watch")))
	live := waitFor[videoState](view, "the live video to play", playing(
		`figure.live.single[data-phase=live] video[aria-label="Live view of `+cameraName+`"]`), liveTimeout)
	t.Logf("live video %dx%d, %.1f s played", live.Width, live.Height, live.Time)
	if got := view.text("read the live status", "figure.live.single .live-status"); got != "Live" {
		t.Errorf("live status = %q, want Live", got)
	}
	waitFor[bool](cam, "the camera to count its viewer", `
		document.querySelector('.camera-status').textContent.includes('1 viewer watching')`, pageTimeout)
	view.screenshot("live-view")
	if os.Getenv("SECURECAM_TEST_SCREENSHOTS") != "" {
		view.do("look like a phone", pageTimeout, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		waitFor[videoState](view, "the live video to play on a phone screen", playing(
			`figure.live.single[data-phase=live] video[aria-label="Live view of `+cameraName+`"]`), liveTimeout)
		view.screenshot("live-view-phone")
		view.do("look like a desktop again", pageTimeout, chromedp.EmulateViewport(viewportWidth, viewportHeight))
	}

	// The clips under test are the camera's own: with recording mode events (the
	// default) the hub would ask the camera to publish to its relay on the event and
	// record it too, a second clip of the event.
	cam.do("set the recording mode to off", pageTimeout, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('.stream-settings select.recording-mode');
		s.value = 'off';
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`))
	waitFor[bool](cam, "the recording mode saved", `document.querySelector('#announcer').textContent.includes('Recording mode saved.')`, pageTimeout)

	// Motion: Chromium's fake camera is a turning sector, a few percent of the
	// picture per sample, so at the highest sensitivity (1 % of the picture)
	// it is motion on every sample.
	cam.do("turn motion detection on at the highest sensitivity", pageTimeout,
		chromedp.Focus(chromedp.CSS("#motion-sensitivity")),
		chromedp.KeyEvent(kb.End),
		chromedp.Click(chromedp.CSS("#motion-enabled")),
	)
	waitFor[bool](cam, "motion to be detected and recorded", `
		document.querySelector('.camera-status').textContent.includes('Recording clip')`, pageTimeout)
	cam.screenshot("camera-mode")

	// The event reaches the viewer over its socket, and its notification too.
	view.do("open the events", pageTimeout, chromedp.Click(link("Events")))
	eventItem := `#events-timeline li.event`
	waitFor[bool](view, "the motion event in the timeline", fmt.Sprintf(`
		[...document.querySelectorAll(%q)].some((li) =>
			li.querySelector('h2').textContent === 'Motion detected' &&
			li.querySelector('.meta').textContent.includes(%q) &&
			li.querySelector('.meta').textContent.includes('motion'))`, eventItem, cameraName), pageTimeout)
	waitFor[bool](view, "the unread notification count", `
		Number(document.querySelector('#unread-count')?.firstChild?.textContent) >= 1`, pageTimeout)

	// Motion off ends the event; the camera then uploads its clip (at least 5 s).
	cam.do("turn motion detection off", pageTimeout, chromedp.Click(chromedp.CSS("#motion-enabled")))
	waitFor[bool](view, "the event to end", fmt.Sprintf(
		`!!document.querySelector('%s[data-status=ended]')`, eventItem), pageTimeout)
	// The page looks again for the clip of a recent motion event until it is there.
	waitFor[bool](view, "the event's clip", fmt.Sprintf(`!!document.querySelector('%s button.play')`, eventItem), liveTimeout)
	view.do("play the clip", pageTimeout, chromedp.Click(chromedp.CSS(eventItem+" button.play")))
	clip := waitFor[videoState](view, "the clip to play", playing(eventItem+" video.clip"), pageTimeout)
	t.Logf("clip %dx%d", clip.Width, clip.Height)
	// The camera records at least 5 s. A MediaRecorder file does not say its length
	// up front: the player knows it once it has read the file to its end.
	waitFor[bool](view, "the clip's duration to be known and about 5 s or more", `(() => {
		const d = document.querySelector('`+eventItem+` video.clip').duration;
		return Number.isFinite(d) && d >= 4;
	})()`, liveTimeout)
	view.screenshot("events")

	// The clip downloads: a link with a file name, whose content is the clip.
	got := eval[string](view, "read the download name", `document.querySelector('`+eventItem+` .clip-item a[download]').download`)
	if !strings.HasPrefix(got, "clip-of-motion-detected-on-") || !strings.HasSuffix(got, ".webm") {
		t.Errorf("clip download name = %q, want clip-of-motion-detected-on-<camera>.webm", got)
	}
	fetchCtx, cancelFetch := context.WithTimeout(view.ctx, pageTimeout)
	downloaded, err := chromedp.Run(fetchCtx, chromedp.Evaluate[string](`fetch(document.querySelector('`+eventItem+` .clip-item a[download]').href)
		.then(async (r) => r.ok ? r.headers.get('Content-Type') + ' ' + ((await r.blob()).size > 0) : 'HTTP ' + r.status)`,
		chromedp.EvalAwaitPromise))
	cancelFetch()
	if err != nil || downloaded != "video/webm true" {
		t.Errorf("download the clip: %q, %v; want a video/webm body", downloaded, err)
	}

	// Filters ask the hub: another type shows nothing, this camera's motion shows the event.
	setSelect := func(what, selector, value string) {
		view.do(what, pageTimeout, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const el = document.querySelector(%q);
			el.value = %q;
			el.dispatchEvent(new Event('change', { bubbles: true }));
		})()`, selector, value)))
	}
	setSelect("filter by sound", "#filter-type", "sound")
	waitFor[bool](view, "no sound events", `!document.querySelector('#events-timeline li.event') &&
		document.body.textContent.includes('No events match these filters.')`, pageTimeout)
	setSelect("filter by motion", "#filter-type", "motion")
	cameraID := eval[string](view, "find the camera's option", fmt.Sprintf(
		`[...document.querySelectorAll('#filter-camera option')].find((o) => o.textContent === %q)?.value || ''`, cameraName))
	setSelect("filter by the camera", "#filter-camera", cameraID)
	setSelect("filter by today", "#filter-day", time.Now().Format("2006-01-02"))
	waitFor[bool](view, "the event under the filters", fmt.Sprintf(`
		!!document.querySelector('#filter-clear') &&
		[...document.querySelectorAll(%q)].some((li) => li.querySelector('h2').textContent === 'Motion detected' &&
			/\d+ (s|min)/.test(li.querySelector('.duration').textContent))`, eventItem), pageTimeout)
	setSelect("filter by yesterday", "#filter-day", time.Now().AddDate(0, 0, -1).Format("2006-01-02"))
	waitFor[bool](view, "no events yesterday", `!document.querySelector('#events-timeline li.event')`, pageTimeout)
	view.do("clear the filters", pageTimeout, chromedp.Click(chromedp.CSS("#filter-clear")))
	waitFor[bool](view, "the event without filters", fmt.Sprintf(`!!document.querySelector('%s button.play, %s video.clip')`, eventItem, eventItem), pageTimeout)

	// Delete asks first, then the clip is gone from the hub and the page.
	view.do("delete the clip", pageTimeout,
		chromedp.Click(chromedp.CSS(eventItem+` .clip-item button[aria-label^="Delete clip of"]`)),
		chromedp.Click(chromedp.CSS(eventItem+` .clip-item [role=group] button.danger`)),
	)
	waitFor[bool](view, "the clip gone", `[...document.querySelectorAll('#events-timeline li.event')].some((li) =>
		li.textContent.includes('No clip'))`, pageTimeout)

	view.do("open the notifications", pageTimeout, chromedp.Click(chromedp.CSS("#nav-notifications")))
	waitFor[bool](view, "the notification listed", `
		[...document.querySelectorAll('#notification-list li.notification')].some((li) => li.textContent.includes('Motion detected'))`,
		pageTimeout)

	// Stop camera: the viewer sees it go offline, and watching it says so.
	cam.do("stop the camera", pageTimeout, chromedp.Click(button("Stop camera")))
	view.do("open the devices", pageTimeout, chromedp.Click(link("Devices")))
	waitFor[bool](view, "the camera listed offline", fmt.Sprintf(
		`[...document.querySelectorAll('#camera-list li.device[data-status=offline]')].some((li) => li.querySelector('h3').textContent.includes(%q))`,
		cameraName), pageTimeout)
	view.do("watch the offline camera", pageTimeout, chromedp.Click(button("Watch")))
	waitFor[bool](view, "the live view to say the camera is offline, and wait for it", `
		document.querySelector('figure.live.single[data-phase=retrying] .live-status')?.textContent ===
			'Camera offline · watching again when it is back'`,
		pageTimeout)

	// The camera comes back: the view plays again by itself.
	cam.do("start camera mode again", pageTimeout, chromedp.Click(chromedp.CSS("#use-as-camera")))
	waitFor[videoState](view, "the live video to play again without a click", playingAfter(
		`figure.live.single[data-phase=live] video`, "camera-back"), liveTimeout)
}

// videoState is what playing reports about a video element.
type videoState struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Time   float64 `json:"time"`
}

// playing is an expression that is truthy once the video element matching the
// CSS selector has frames (videoWidth > 0), its currentTime has advanced by half a
// second and it has decoded new frames since the first poll that saw frames (or
// since it last went back: a clip's player seeks to the end and back to find its
// length). The frames count: the currentTime of a live stream advances even while
// no frame arrives.
func playing(selector string) string { return playingAfter(selector, "") }

// playingAfter is playing with its own start: the first poll of an expression with
// this tag, e.g. after an event the video must play through.
func playingAfter(selector, tag string) string {
	key := fmt.Sprintf("__started_%x_%s", selector, tag)
	return fmt.Sprintf(`(() => {
		const v = document.querySelector(%q);
		if (!v || !v.videoWidth || v.paused) return false;
		const frames = v.getVideoPlaybackQuality().totalVideoFrames;
		const s = window[%q];
		if (!s || !(v.currentTime >= s.time) || frames < s.frames) window[%q] = {time: v.currentTime, frames};
		if (v.currentTime - window[%q].time < 0.5 || frames <= window[%q].frames) return false;
		return {width: v.videoWidth, height: v.videoHeight, time: v.currentTime};
	})()`, selector, key, key, key, key)
}

// TestSignInErrors: wrong credentials are refused with an alert that says so,
// the same for an unknown email; a taken email cannot sign up again; the right
// password signs in.
func TestSignInErrors(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	tb := b.profile(t, "browser")

	tests := []struct {
		name, email, password, want string
	}{
		{"wrong password", ownerEmail, "not the password", "Invalid email or password."},
		{"unknown email", "nobody@example.com", ownerPassword, "Invalid email or password."},
	}
	for _, tc := range tests {
		tb.do(tc.name+": submit the sign-in form", pageTimeout,
			chromedp.Navigate(h.URL+"/sign-in"),
			chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
			chromedp.Clear(chromedp.CSS("#sign-in-email")),
			chromedp.SendKeys(chromedp.CSS("#sign-in-email"), tc.email),
			chromedp.SendKeys(chromedp.CSS("#sign-in-password"), tc.password),
			chromedp.Click(button("Sign in")),
		)
		if got := tb.text(tc.name+": read the alert", "#sign-in-form p.error[role=alert]"); got != tc.want {
			t.Errorf("%s: alert = %q, want %q", tc.name, got, tc.want)
		}
		if path := eval[string](tb, "read the path", "location.pathname"); path != "/sign-in" {
			t.Errorf("%s: after a refused sign-in the page is %s, want /sign-in", tc.name, path)
		}
	}

	tb.do("sign up with the taken email", pageTimeout,
		chromedp.Navigate(h.URL+"/sign-up"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-name"), "Someone else"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-up-password"), "another good password"),
		chromedp.Click(button("Create account")),
	)
	if got, want := tb.text("read the alert", "#sign-up-form p.error[role=alert]"), "An account with this email already exists"; !strings.Contains(got, want) {
		t.Errorf("sign-up alert = %q, want it to contain %q", got, want)
	}

	tb.do("sign in with the right password", pageTimeout,
		chromedp.Navigate(h.URL+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.Clear(chromedp.CSS("#sign-in-email")),
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), ownerPassword),
		chromedp.Click(button("Sign in")),
	)
	waitFor[bool](tb, "the devices page, connected", `
		location.pathname === '/' && !!document.querySelector('#camera-list') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	tb.do("sign out", pageTimeout, chromedp.Click(chromedp.CSS("#sign-out")))
	waitFor[bool](tb, "the sign-in page after signing out", `
		location.pathname === '/sign-in' && !!document.querySelector('#sign-in-form')`, pageTimeout)
}

// signUp creates the owner's account over the API.
func signUp(t *testing.T, h *child.Process) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": ownerEmail, "password": ownerPassword, "name": "Owner"})
	res, err := http.Post(h.URL+"/api/v1/auth/sign-up", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("sign up: status %s", res.Status)
	}
}
