package browsertest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestRelayedCameraTwoViewers: a browser camera set to live mode relay on its own
// page is watched by two browser viewers. The hub asks it to publish
// (relay.publish) and it publishes by WHIP with its user's session: both viewers
// play its video from the one publication (one open relay publication row, both
// viewers' sessions relayed, none peer to peer), and the camera's page and a
// viewer's camera page both say 2 are watching. After a hub restart (its relay
// gone) the viewers ask again and the camera, asked again, publishes again: both
// play again.
func TestRelayedCameraTwoViewers(t *testing.T) {
	b := startBrowser(t)
	h, env := startHubAt(t)
	signUp(t, h)
	cam := b.profile(t, "camera")
	cam.signIn(h.URL)
	cam.startCamera("Porch")
	camID := waitFor[string](cam, "the camera's stream settings", `document.querySelector('.stream-settings')?.dataset.cameraId`, pageTimeout)

	cam.do("set the live mode to relay", pageTimeout, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('.stream-settings select.live-mode');
		s.value = 'relay';
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`))
	waitFor[bool](cam, "the live mode saved", `document.querySelector('#announcer').textContent.includes('Live mode saved.')`, pageTimeout)
	dev := cam.fetchJSON("devices/"+camID, "camDevice")
	if got := waitFor[string](cam, "the camera's device", dev+` && `+dev+`.live_mode`, pageTimeout); got != "relay" {
		t.Fatalf("live_mode = %q after choosing relay on the camera page, want relay", got)
	}

	video := `figure.live.single[data-phase=live] video[aria-label="Live view of Porch"]`
	var viewers []*tab
	for _, name := range []string{"first viewer", "second viewer"} {
		v := b.profile(t, name)
		v.signIn(h.URL)
		v.do("watch the camera", pageTimeout,
			chromedp.WaitVisible(`//button[@aria-label="Watch Porch"]`),
			chromedp.Click(`//button[@aria-label="Watch Porch"]`),
		)
		live := waitFor[videoState](v, "the relayed video to play", playing(video), liveTimeout)
		t.Logf("%s: %dx%d, %.1f s played", name, live.Width, live.Height, live.Time)
		viewers = append(viewers, v)
	}
	// Both still play: the second viewer joining the relay did not end the first.
	for _, v := range viewers {
		waitFor[videoState](v, "the video to go on playing", playingAfter(video, "both"), liveTimeout)
	}

	// One upload: the camera's one publication to the relay; both viewers' sessions
	// are relayed, none is peer to peer.
	oneUpload := func(name string) {
		t.Helper()
		streams := viewers[0].fetchJSON("streams?camera_device_id="+camID, name)
		raw := waitFor[string](viewers[0], "the camera's stream sessions", streams+` && JSON.stringify(`+streams+`.items)`, pageTimeout)
		var items []struct {
			Requester       string  `json:"requester_device_id"`
			Status          string  `json:"status"`
			MediaProvider   string  `json:"media_provider"`
			PublishEndpoint *string `json:"publish_endpoint"`
		}
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			t.Fatalf("stream sessions %s: %v", raw, err)
		}
		publications, relayed := 0, 0
		for _, it := range items {
			switch {
			case it.Status != "live":
			case it.MediaProvider != "relay":
				t.Errorf("a live %s session: the camera uploads more than its publication (%s)", it.MediaProvider, raw)
			case it.Requester == camID && it.PublishEndpoint != nil:
				publications++
			default:
				relayed++
			}
		}
		if publications != 1 || relayed != 2 {
			t.Fatalf("%d live publications and %d live relayed viewers, want 1 and 2: %s", publications, relayed, raw)
		}
	}
	oneUpload("streams")

	waitFor[bool](cam, "the camera page to count 2 watching, through the relay", `
		document.querySelector('.camera-status').textContent.includes('2 viewers watching · sent once to the hub relay') &&
		document.querySelector('.stream-settings .watchers').dataset.watchers === '2'`, pageTimeout)
	waitFor[bool](viewers[1], "the viewer's camera page to count 2 watching, in relay mode", `
		document.querySelector('.stream-settings .watchers')?.dataset.watchers === '2' &&
		document.querySelector('.stream-settings select.live-mode').value === 'relay'`, pageTimeout)
	cam.screenshot("camera-mode-relay")

	restartHub(t, h, env)
	for i, v := range viewers {
		waitFor[videoState](v, "the video to play again after the hub restarted", playingAfter(video, fmt.Sprintf("restart%d", i)), 3*liveTimeout)
	}
	waitFor[bool](cam, "the camera to publish again, to 2 watching", `
		document.querySelector('.camera-status').textContent.includes('2 viewers watching · sent once to the hub relay')`, 3*liveTimeout)
	oneUpload("streamsAfterRestart")
}
