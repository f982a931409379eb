package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/signaling/client"
)

// mailLinkRE finds a link of a mail the hub wrote to its log (no SMTP configured).
var mailLinkRE = regexp.MustCompile(`https?://[^\s"\\]+/(verify-email|reset-password|shares/accept)\?token=[^\s"\\&]+`)

// mailLink waits for the hub's log to hold a mail whose link leads to page
// ("verify-email", "reset-password" or "shares/accept") and returns the link's path and query, the n-th
// such link (from 1).
func mailLink(t *testing.T, h *child.Process, page string, n int) string {
	t.Helper()
	deadline := time.Now().Add(pageTimeout)
	for {
		var found []string
		for _, line := range strings.Split(h.Tail(), "\n") {
			if !strings.Contains(line, "MAIL NOT SENT") {
				continue
			}
			for _, m := range mailLinkRE.FindAllStringSubmatch(line, -1) {
				if m[1] == page {
					found = append(found, m[0])
				}
			}
		}
		if len(found) >= n {
			u, err := url.Parse(found[n-1])
			if err != nil {
				t.Fatalf("mail link %q: %v", found[n-1], err)
			}
			return u.RequestURI()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s mail #%d in the hub's log", page, n)
		}
		time.Sleep(100 * time.Millisecond) // polling the log
	}
}

// TestVerifyResetLinksAndDelete walks the screens the other tests pass by: the
// verification link of the sign-up mail; Forgot password, the reset mail's link and
// the new password; the Links page (link a camera to this browser, revoke it); and
// deleting a device from the Devices page (asked first, focus in the confirmation).
func TestVerifyResetLinksAndDelete(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	view := b.profile(t, "viewer")

	// The sign-up mail's link verifies the address.
	view.do("open the verification link", pageTimeout, chromedp.Navigate(h.URL+mailLink(t, h, "verify-email", 1)))
	waitFor[bool](view, "the address verified", `document.querySelector('main p[role=status]')?.textContent === 'Your email address is verified.'`, pageTimeout)
	view.screenshot("verify-email")

	// Forgot password → the reset mail → a new password, then sign in with it.
	const newPassword = "a brand new passphrase"
	view.do("ask for a reset link", pageTimeout,
		chromedp.Navigate(h.URL+"/forgot-password"),
		chromedp.WaitVisible(chromedp.CSS("#forgot-form")),
		chromedp.Clear(chromedp.CSS("#forgot-email")),
		chromedp.SendKeys(chromedp.CSS("#forgot-email"), ownerEmail),
		chromedp.Click(button("Send reset link")),
	)
	waitFor[bool](view, "the reset link sent", `!!document.querySelector('main p[role=status]')?.textContent.includes('reset link is on its way')`, pageTimeout)
	view.do("open the reset link", pageTimeout,
		chromedp.Navigate(h.URL+mailLink(t, h, "reset-password", 1)),
		chromedp.WaitVisible(chromedp.CSS("#reset-form")),
	)
	view.screenshot("reset-password")
	view.do("choose a new password", pageTimeout,
		chromedp.SendKeys(chromedp.CSS("#reset-password"), newPassword),
		chromedp.Click(button("Set new password")),
	)
	waitFor[bool](view, "the password changed", `!!document.querySelector('main p[role=status]')?.textContent.includes('Your password was changed')`, pageTimeout)
	view.do("sign in with the new password", pageTimeout,
		chromedp.Navigate(h.URL+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.Clear(chromedp.CSS("#sign-in-email")),
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), newPassword),
		chromedp.Click(button("Sign in")),
	)
	waitFor[bool](view, "the devices page, connected", `location.pathname === '/' &&
		!!document.querySelector('#camera-list') && !!document.querySelector('.conn[data-status=open]')`, pageTimeout)

	// A camera registered elsewhere (a phone), linked from the Links page, then revoked.
	api, err := client.New(client.Config{BaseURL: h.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), pageTimeout)
	defer cancel()
	auth, err := api.SignIn(ctx, ownerEmail, newPassword)
	if err != nil {
		t.Fatalf("sign in over the API with the new password: %v", err)
	}
	garage, err := api.WithToken(auth.Session.Token).CreateDevice(ctx, client.NewDevice{Name: "Garage", Role: "camera", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	view.do("open the links", pageTimeout,
		chromedp.Click(link("Links")),
		chromedp.WaitVisible(chromedp.CSS("#link-form")),
	)
	waitFor[bool](view, "the camera in the form", `[...document.querySelectorAll('#link-camera option')].some((o) => o.textContent === 'Garage')`, pageTimeout)
	view.do("link the camera to this browser", pageTimeout,
		chromedp.SetValue(chromedp.CSS("#link-camera"), garage.Device.ID),
		chromedp.Click(button("Link")),
	)
	waitFor[bool](view, "the link listed", `[...document.querySelectorAll('#link-list li.link')].some((li) => li.textContent.includes('Garage'))`, pageTimeout)
	view.screenshot("links")
	view.do("revoke the link", pageTimeout, chromedp.Click(chromedp.CSS(`#link-list button[aria-label^="Revoke link from Garage"]`)))
	waitFor[bool](view, "no links left", `!document.querySelector('#link-list li.link') && document.body.textContent.includes('No links yet.')`, pageTimeout)

	// Delete from the Devices page: a confirmation that takes the focus, then it is gone.
	view.do("open the devices", pageTimeout, chromedp.Click(link("Devices")))
	view.do("ask to delete the camera", pageTimeout, chromedp.Click(chromedp.CSS(`button[aria-label="Delete Garage"]`)))
	waitFor[bool](view, "focus on the confirmation", `document.activeElement?.textContent.trim() === 'Delete device'`, pageTimeout)
	view.do("delete it", pageTimeout, chromedp.Click(button("Delete device")))
	waitFor[bool](view, "the camera gone", fmt.Sprintf(`![...document.querySelectorAll('#camera-list li.device h3')].some((h) => h.textContent.includes(%q))`, "Garage"), pageTimeout)
	if _, err := api.WithToken(auth.Session.Token).Device(ctx, garage.Device.ID); err == nil {
		t.Error("the deleted camera is still readable over the API")
	}
}
