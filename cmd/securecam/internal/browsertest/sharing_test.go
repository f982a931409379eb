package browsertest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
)

const (
	guestEmail    = "guest@example.com"
	guestPassword = "the guest's passphrase"
)

// signUpAs creates another account over the API.
func signUpAs(t *testing.T, h *child.Process, email, password, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": name})
	res, err := http.Post(h.URL+"/api/v1/auth/sign-up", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("sign up %s: status %s", email, res.Status)
	}
}

// signInAs signs the tab in to another account, from the page it is on (the
// sign-in form of a private page keeps that page as where to go next).
func (tb *tab) signInAs(email, password string) {
	tb.t.Helper()
	tb.do("sign in as "+email, pageTimeout,
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.Clear(chromedp.CSS("#sign-in-email")),
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), email),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), password),
		chromedp.Click(button("Sign in")),
	)
}

// TestSharingInviteAcceptWatchRevoke: the owner invites a second account's address
// to a camera as viewer on the Sharing page; the mailed link, opened signed out,
// asks to sign in and then accepts; the invitee sees the camera marked with its
// owner and role (Devices, "Shared with me"), watches it live from their own
// browser; the owner changes the role in place to operator, the invitee arms the
// owner's household from the "Shared with me" card (the owner's control follows),
// then the owner revokes the share, and the invitee's video stops, the page saying so.
func TestSharingInviteAcceptWatchRevoke(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	signUpAs(t, h, guestEmail, guestPassword, "Guest")
	cam := b.profile(t, "camera")
	owner := b.profile(t, "owner")
	guest := b.profile(t, "guest")
	cam.signIn(h.URL)
	cam.startCamera("Porch")
	owner.signIn(h.URL)

	owner.do("invite the guest to Porch as viewer", pageTimeout,
		chromedp.Click(link("Sharing")),
		chromedp.WaitVisible(chromedp.CSS("#share-form")),
		chromedp.SendKeys(chromedp.CSS("#share-email"), guestEmail),
		chromedp.Click(`//form[@id="share-form"]//label[normalize-space()="Porch"]/input`),
		chromedp.SetValue(chromedp.CSS("#share-role"), "viewer"),
		chromedp.Click(button("Send invitation")),
	)
	waitFor[bool](owner, "the pending invitation listed and announced", `
		document.querySelector('#share-list .share[data-status=pending] h3')?.textContent === 'Porch → `+guestEmail+`' &&
		document.querySelector('#share-list .share select.role').value === 'viewer' &&
		document.querySelector('#announcer').textContent.includes('Invited `+guestEmail+`')`, pageTimeout)

	// The mailed link, opened signed out: sign in, then back on the accept page.
	accept := mailLink(t, h, "shares/accept", 1)
	guest.do("open the invitation link", pageTimeout, chromedp.Navigate(h.URL+accept))
	guest.signInAs(guestEmail, guestPassword)
	guest.do("accept the invitation", pageTimeout,
		chromedp.WaitVisible(chromedp.CSS("#accept-share")),
		chromedp.Click(chromedp.CSS("#accept-share")),
	)
	waitFor[bool](guest, "the invitation accepted", `
		location.pathname === '/shares/accept' &&
		document.querySelector('#share-accepted')?.textContent.includes('You can now see Porch')`, pageTimeout)
	guest.screenshot("share-accepted")

	guest.do("open Shared with me", pageTimeout, chromedp.Click(link("Sharing")))
	waitFor[bool](guest, "the camera shared with me, with its owner and role", `(() => {
		const li = document.querySelector('#received-list .received');
		return !!li && li.querySelector('h3').textContent === 'Porch' &&
			li.textContent.includes('Shared by Owner') && li.querySelector('.role').textContent === 'viewer' &&
			!!li.querySelector('button[aria-label="Leave Porch"]');
	})()`, pageTimeout)
	owner.do("reopen Sharing", pageTimeout, chromedp.Navigate(h.URL+"/sharing"))
	waitFor[bool](owner, "the owner's list to show the share active", `
		!!document.querySelector('#share-list .share[data-status=active]') && !!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	owner.screenshot("sharing")

	guest.do("watch the shared camera from Devices", pageTimeout,
		chromedp.Click(link("Devices")),
		chromedp.WaitVisible(`//button[@aria-label="Watch Porch"]`),
	)
	marked := waitFor[string](guest, "the shared camera marked", `document.querySelector('#camera-list .device .shared-by')?.textContent || ''`, pageTimeout)
	if marked != "Shared by Owner · you are viewer" {
		t.Errorf("shared camera marked %q, want %q", marked, "Shared by Owner · you are viewer")
	}
	if n := eval[int](guest, "count delete buttons", `document.querySelectorAll('#camera-list button.delete').length`); n != 0 {
		t.Errorf("the invitee is offered %d Delete buttons on a shared camera, want none", n)
	}
	guest.do("watch", pageTimeout, chromedp.Click(`//button[@aria-label="Watch Porch"]`))
	waitFor[videoState](guest, "the shared camera's video to play", playing(
		`figure.live.single[data-phase=live] video[aria-label="Live view of Porch"]`), liveTimeout)

	// A role change in place, then the revocation.
	eval[any](owner, "make the guest an operator", `(() => {
		const sel = document.querySelector('#share-list .share[data-status=active] select.role');
		sel.value = 'operator';
		sel.dispatchEvent(new Event('change', {bubbles: true}));
	})()`)
	waitFor[bool](owner, "the role change announced", `
		document.querySelector('#announcer').textContent === '`+guestEmail+` is now operator of Porch.' &&
		document.querySelector('#share-list .share select.role').value === 'operator'`, pageTimeout)

	// The operator arms the owner's household from the card; the owner's control follows,
	// the guest's own household does not change.
	guest.do("open Shared with me as operator", pageTimeout, chromedp.Navigate(h.URL+"/sharing"))
	waitFor[bool](guest, "the arm control of the owner's home on the card", `(() => {
		const g = document.querySelector('#received-list .received .household-arming');
		return !!g && g.getAttribute('aria-label') === "Arming of Owner's home" && g.dataset.mode === 'away' &&
			document.querySelector('#received-list .received .role').textContent === 'operator';
	})()`, pageTimeout)
	guest.do("arm the owner's home: Home", pageTimeout,
		chromedp.Click(`//div[@aria-label="Arming of Owner's home"]/button[normalize-space()="Home"]`))
	waitFor[bool](guest, "the owner's home armed, announced", `
		document.querySelector('#received-list .household-arming').dataset.mode === 'home' &&
		document.querySelector('#announcer').textContent === "Owner's home is now home." &&
		document.querySelector('.arming[aria-label=Arming]').dataset.mode === 'away'`, pageTimeout)
	waitFor[bool](owner, "the owner's control to follow the guest's change", `
		document.querySelector('.arming[aria-label=Arming]')?.dataset.mode === 'home'`, pageTimeout)
	guest.screenshot("shared-arming")
	guest.do("watch again from the card", pageTimeout, chromedp.Click(`//button[@aria-label="Watch Porch"]`))
	waitFor[videoState](guest, "the shared camera's video to play again", playing(
		`figure.live.single[data-phase=live] video[aria-label="Live view of Porch"]`), liveTimeout)

	owner.do("revoke the share", pageTimeout,
		chromedp.Click(`//button[@aria-label="Revoke share of Porch to `+guestEmail+`"]`),
	)
	waitFor[bool](owner, "the share gone from the owner's list", `!document.querySelector('#share-list .share') &&
		document.querySelector('#announcer').textContent.includes('can no longer see Porch')`, pageTimeout)
	waitFor[bool](guest, "the guest's video to stop, saying why", `(() => {
		if (document.querySelector('figure.live[data-phase=live]')) return false;
		const text = document.querySelector('#main').textContent;
		return text.includes('Ended: Link revoked') || text.includes('This camera does not exist.');
	})()`, pageTimeout)
}
