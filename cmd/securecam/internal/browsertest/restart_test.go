package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
)

// healTimeout is how long a live view may take to play again after the hub is back
// (the promise: without a click, within 15 s).
const healTimeout = 15 * time.Second

// TestLiveViewSurvivesHubRestart: the hub restarts (drains, and a new process takes
// its address and data) while a browser watches another browser's camera, first full
// screen, then in the grid. The video plays again, in the same session, without a
// click, within 15 s of the new hub listening: the two browsers keep their peer
// connection, reconnect their sockets and resume the session.
func TestLiveViewSurvivesHubRestart(t *testing.T) {
	b := startBrowser(t)
	h, env := startHubAt(t)
	cam := b.profile(t, "camera")
	view := b.profile(t, "viewer")

	cam.do("sign up and open camera mode", pageTimeout,
		chromedp.Navigate(h.URL+"/sign-up?next=/camera"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-name"), "Owner"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-up-password"), ownerPassword),
		chromedp.Click(button("Create account")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](cam, "the camera to start and connect", `
		!!document.querySelector('.camera-status[data-media=on]') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	view.do("sign in", pageTimeout,
		chromedp.Navigate(h.URL+"/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.SendKeys(chromedp.CSS("#sign-in-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-in-password"), ownerPassword),
		chromedp.Click(button("Sign in")),
	)
	waitFor[bool](view, "the camera listed online", `
		!!document.querySelector('#camera-list li.device[data-status=online]') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
	view.do("watch the camera", pageTimeout, chromedp.Click(button("Watch")))

	single := `figure.live.single[data-phase=live]`
	waitFor[videoState](view, "the live video to play", playing(single+" video"), liveTimeout)
	session := eval[string](view, "read the session", `document.querySelector('figure.live.single').dataset.session`)
	h = restartHub(t, h, env)
	healed(t, h, view, single, session)

	// The grid: its tile plays (a new session: leaving the full screen ended the
	// first), and again after another restart.
	view.do("open the grid", pageTimeout, chromedp.Click(link("Live")))
	tile := `#live-grid figure.live.tile[data-phase=live]`
	waitFor[videoState](view, "the grid tile to play", playing(tile+" video"), liveTimeout)
	session = eval[string](view, "read the tile's session", `document.querySelector('#live-grid figure.live.tile').dataset.session`)
	h = restartHub(t, h, env)
	healed(t, h, view, tile, session)

	// The camera stops and starts again: its tile stays, says so, and plays again
	// by itself (a new session: the camera ended the old one).
	cam.do("stop the camera", pageTimeout, chromedp.Click(button("Stop camera")))
	waitFor[bool](view, "the tile to wait for the camera", `
		document.querySelector('#live-grid figure.live.tile[data-phase=retrying] .live-status')?.textContent ===
			'The camera was stopped · watching again when it is back'`, pageTimeout)
	cam.do("start camera mode again", pageTimeout, chromedp.Click(chromedp.CSS("#use-as-camera")))
	waitFor[videoState](view, "the tile to play again without a click", playingAfter(tile+" video", "camera-back"), liveTimeout)
}

// restartHub stops the hub (it drains with 1012) and starts another on the same
// address and data directory.
func restartHub(t *testing.T, h *child.Process, env map[string]string) *child.Process {
	t.Helper()
	childtest.Stop(t, h)
	return startHub(t, env)
}

// healed checks that the live view in figure plays again in the same session without
// a click, within healTimeout, and that the hub has the session live with both
// parties back.
func healed(t *testing.T, h *child.Process, view *tab, figure, session string) {
	t.Helper()
	back := time.Now()
	waitFor[bool](view, "the socket to reconnect", `!!document.querySelector('.conn[data-status=open]')`, healTimeout)
	waitFor[videoState](view, "the video to play again", playingAfter(figure+" video", "restart"+fmt.Sprint(back.UnixNano())), healTimeout)
	if got := eval[string](view, "read the session", fmt.Sprintf(`document.querySelector(%q).dataset.session`, figure)); got != session {
		t.Errorf("after the restart the video plays in session %q, want the same %q", got, session)
	}
	t.Logf("playing again %v after the new hub listened", time.Since(back).Round(100*time.Millisecond))

	owner := signIn(t, h)
	deadline := time.Now().Add(pageTimeout)
	for {
		s, err := owner.Stream(t.Context(), session)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == store.StreamLive && s.CameraAwayAt == nil && s.RequesterAwayAt == nil {
			return
		}
		if !s.Open() || time.Now().After(deadline) {
			t.Fatalf("session after the restart: %s, camera away since %v, viewer away since %v; want live, both back",
				s.Status, s.CameraAwayAt, s.RequesterAwayAt)
		}
		time.Sleep(100 * time.Millisecond) // polling the hub
	}
}

// signIn signs the owner in over the API.
func signIn(t *testing.T, h *child.Process) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: h.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), pageTimeout)
	defer cancel()
	auth, err := c.SignIn(ctx, ownerEmail, ownerPassword)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return c.WithToken(auth.Session.Token)
}
