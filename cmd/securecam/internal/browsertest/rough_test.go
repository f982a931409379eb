package browsertest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// signIn signs the tab in to the owner's account from the sign-in page.
func (tb *tab) signIn(url string) {
	tb.t.Helper()
	tb.do("sign in", pageTimeout,
		chromedp.Navigate(url+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.Clear(chromedp.CSS("#sign-in-email")),
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), ownerPassword),
		chromedp.Click(button("Sign in")),
	)
	waitFor[bool](tb, "the devices page, connected", `
		location.pathname === '/' && !!document.querySelector('#camera-list') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
}

// TestAccountScreensRenameAndReplacedTab walks the rough edges of issue 17: the
// sign-in page says what the product is and is titled "Sign in"; the
// verification banner can be dismissed; a bad verification link reads as a
// person would say it; a new camera is asked for its name and appears on the
// viewer's Devices page by the socket's device message (its reads of the list
// held meanwhile); a rename on a viewer's Devices page reaches the camera
// page's field (announced the same way; the camera page does not poll the name,
// so saving there does not undo it), with focus moving into the inline form and
// back; and a tab
// replaced by a newer tab of the same browser says so and can take over.
func TestAccountScreensRenameAndReplacedTab(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	view := b.profile(t, "viewer")
	cam := b.profile(t, "camera")

	view.do("open a private page signed out", pageTimeout,
		chromedp.Navigate(h.URL+"/events"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
	)
	if got := eval[string](view, "read the title", "document.title"); !strings.HasPrefix(got, "Sign in") {
		t.Errorf("title of the sign-in page = %q, want it to start with Sign in", got)
	}
	if got := view.text("read the product line", "p.product"); !strings.Contains(got, "SecureCam Hub") {
		t.Errorf("sign-in page product line = %q, want the product name", got)
	}
	view.do("open a bad verification link", pageTimeout, chromedp.Navigate(h.URL+"/verify-email?token=not-a-token"))
	if got := view.text("read the verification error", "p.error[role=alert]"); !strings.Contains(got, "does not work any more") {
		t.Errorf("bad verification link says %q, want a human message", got)
	}

	view.signIn(h.URL)
	if got := view.text("read the heading", "main h1"); got != "Devices" {
		t.Errorf("devices page heading = %q, want Devices (its navigation name)", got)
	}
	view.do("dismiss the verification banner", pageTimeout,
		chromedp.WaitVisible(chromedp.CSS("#verify-banner")),
		chromedp.Click(button("Dismiss")),
	)
	waitFor[bool](view, "the banner to go", `!document.querySelector('#verify-banner')`, pageTimeout)

	// A new camera asks for its name, offering a default that tells browsers apart.
	cam.signIn(h.URL)
	cam.do("open camera mode", pageTimeout,
		chromedp.Click(chromedp.CSS("#use-as-camera")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
	)
	def := eval[string](cam, "read the default name", `document.querySelector('#new-camera-name').value`)
	if !regexp.MustCompile(`^\S.* \(camera [0-9a-f]{4}\)$`).MatchString(def) {
		t.Errorf("default camera name %q, want a browser name and a tag such as (camera 7f3a)", def)
	}
	// From here until the camera is listed, the viewer's reads of the device list
	// never answer: only the socket's device message can bring the new camera.
	view.do("hold the viewer's device list reads", pageTimeout, chromedp.Evaluate[chromedp.Void](`(() => {
		const real = window.fetch;
		window.__realFetch = real;
		window.fetch = (url, opts) => /\/api\/v1\/devices(\?|$)/.test(String(url)) && !(opts?.method && opts.method !== 'GET')
			? new Promise(() => {}) : real(url, opts);
	})()`))
	cam.do("name the camera", pageTimeout,
		chromedp.Clear(chromedp.CSS("#new-camera-name")),
		chromedp.SendKeys(chromedp.CSS("#new-camera-name"), "Porch"),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](cam, "the camera to start", `
		!!document.querySelector('.camera-status[data-media=on]') && document.querySelector('#camera-name').value === 'Porch'`,
		pageTimeout)

	// Rename on the viewer: focus goes into the form, and back to Rename after.
	waitFor[bool](view, "the camera listed", `
		[...document.querySelectorAll('#camera-list li.device h3')].some((h) => h.textContent.includes('Porch'))`, pageTimeout)
	view.do("let the viewer read the device list again", pageTimeout,
		chromedp.Evaluate[chromedp.Void](`window.fetch = window.__realFetch`))
	view.do("open the rename form", pageTimeout, chromedp.Click(`//button[@aria-label="Rename Porch"]`))
	waitFor[bool](view, "focus in the name field", `document.activeElement?.name === 'name'`, pageTimeout)
	view.do("rename", pageTimeout,
		chromedp.Evaluate[chromedp.Void](`document.activeElement.value = ''`),
		chromedp.SendKeys(chromedp.CSS("#camera-list input[name=name]"), cameraName),
		chromedp.Click(button("Save")),
	)
	waitFor[bool](view, "focus back on Rename", fmt.Sprintf(
		`document.activeElement?.getAttribute('aria-label') === %q`, "Rename "+cameraName), pageTimeout)
	waitFor[bool](cam, "the camera page's field to follow the rename", fmt.Sprintf(
		`document.querySelector('#camera-name').value === %q`, cameraName), pageTimeout)

	// A second tab of the viewer's browser takes the viewer's connection. It is
	// opened from the page (a click, so no pop-up blocker) to keep a handle on it.
	view.do("open the app in another tab", pageTimeout,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const b = document.createElement('button');
			b.id = 'open-newer';
			b.textContent = 'open newer';
			b.onclick = () => { window.__newer = window.open('/', '_blank'); };
			document.body.append(b);
		})()`),
		chromedp.Click(chromedp.CSS("#open-newer")),
	)
	waitFor[bool](view, "the old tab to say it was replaced", `
		!!window.__newer?.document.querySelector('.conn[data-status=open]') &&
		!!document.querySelector('#take-over') && !document.querySelector('#camera-list') &&
		document.querySelector('.conn').textContent === 'Replaced by another tab'`, pageTimeout)
	view.screenshot("replaced-tab")
	view.do("take over", pageTimeout, chromedp.Click(button("Take over")))
	waitFor[bool](view, "the old tab connected again, and the newer one replaced in turn", `
		!!document.querySelector('.conn[data-status=open]') && !!document.querySelector('#camera-list') &&
		!!window.__newer.document.querySelector('#take-over')`, pageTimeout)
}
