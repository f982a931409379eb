package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// fetchJSON starts a GET of the hub's API path in the tab and returns the
// expression that is the answer once it arrived (undefined before).
func (tb *tab) fetchJSON(path, name string) string {
	tb.t.Helper()
	eval[any](tb, "fetch "+path, `(window.`+name+` = undefined, fetch('/api/v1/`+path+`').then((r) => r.json()).then((j) => (window.`+name+` = j)), 0)`)
	return "window." + name
}

// TestArmingControls: the arm control is in the header of every viewer page; a
// change on one tab reaches another tab of the household at once (the arming
// message), saying who made it; the schedule editor and quiet hours save what
// the person entered.
func TestArmingControls(t *testing.T) {
	b := startBrowser(t)
	h := startHub(t, nil)
	signUp(t, h)
	one := b.profile(t, "first")
	two := b.profile(t, "second")
	one.signIn(h.URL)
	two.signIn(h.URL)

	// A new household is away (every camera alerts as before arming existed).
	for _, tb := range []*tab{one, two} {
		waitFor[bool](tb, "the arm control, away", `document.querySelector('.arming')?.dataset.mode === 'away'`, pageTimeout)
	}
	one.do("switch to home", pageTimeout, chromedp.Click(`//div[@class="arming"]//button[normalize-space()="Home"]`))
	waitFor[bool](one, "home pressed", `document.querySelector('.arming button[aria-pressed=true]')?.textContent === 'Home'`, pageTimeout)
	waitFor[bool](two, "the other tab to show home, from the browser", `
		document.querySelector('.arming')?.dataset.mode === 'home' &&
		document.querySelector('.arming-who')?.textContent === 'from the browser'`, pageTimeout)

	// The control stays in reach on other pages.
	two.do("open events", pageTimeout, chromedp.Click(link("Events")))
	two.do("disarm from the events page", pageTimeout, chromedp.Click(`//div[@class="arming"]//button[normalize-space()="Disarmed"]`))
	waitFor[bool](one, "the first tab to show disarmed", `document.querySelector('.arming')?.dataset.mode === 'disarmed'`, pageTimeout)

	// The schedule: one rule, away on weekdays at 08:30 in New York.
	one.do("open settings and add a rule", pageTimeout,
		chromedp.Click(link("Settings")),
		chromedp.WaitVisible(chromedp.CSS("#schedule-form")),
		chromedp.Clear(chromedp.CSS("#schedule-zone")),
		chromedp.SendKeys(chromedp.CSS("#schedule-zone"), "America/New_York"),
		chromedp.Click(chromedp.CSS("#add-rule")),
		chromedp.WaitVisible(chromedp.CSS(".rule")),
		chromedp.Click(button("Save schedule")),
	)
	waitFor[bool](one, "the next switch shown", `/Next: away at/.test(document.querySelector('#schedule-form')?.previousElementSibling?.textContent || '')`, pageTimeout)
	got := one.fetchJSON("arming", "__arming")
	waitFor[bool](one, "the schedule saved", got+` && `+got+`.time_zone === 'America/New_York' && `+got+`.schedule.length === 1 &&
		`+got+`.schedule[0].at === '08:30' && `+got+`.schedule[0].mode === 'away' && `+got+`.schedule[0].days.join() === 'mon,tue,wed,thu,fri' &&
		`+got+`.next_switch?.mode === 'away' && `+got+`.mode === 'disarmed'`, pageTimeout)

	// Quiet hours on, 22:00 to 07:00 (the defaults offered).
	one.do("turn quiet hours on", pageTimeout,
		chromedp.Click(chromedp.CSS("#quiet-on")),
		chromedp.Click(button("Save quiet hours")),
	)
	waitFor[bool](one, "quiet hours saved", `/Quiet hours saved/.test(document.querySelector('#announcer')?.textContent || '')`, pageTimeout)
	prefs := one.fetchJSON("notification-preferences", "__prefs")
	waitFor[bool](one, "the quiet hours stored", prefs+` && `+prefs+`.quiet_hours?.start === '22:00' && `+prefs+`.quiet_hours?.end === '07:00' &&
		`+prefs+`.time_zone === 'America/New_York'`, pageTimeout)
}
