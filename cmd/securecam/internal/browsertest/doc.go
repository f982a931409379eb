// Package browsertest holds the end-to-end tests of the browser app: a real
// securecam process (built from cmd/securecam and run as a child process, as a
// user runs it, through package child) and real headless Chromium driven from Go
// with chromedp, with Chromium's fake camera and microphone.
//
// The package has no code outside its tests. Its tests run one after another
// (each starts one hub and one Chromium); they may run at the same time as the
// tests of other packages, since every hub has its own data directory and
// port.
//
// Chromium is found as SECURECAM_TEST_CHROMIUM, else as chromium,
// chromium-browser, google-chrome or google-chrome-stable on PATH.
// scripts/test.sh installs it on Debian; without it the tests fail and say so.
// SECURECAM_TEST_SCREENSHOTS=<dir> makes TestCameraAndViewer, TestLiveControls,
// TestVerifyResetLinksAndDelete and TestWebPushAlerts save screenshots of the screens
// they pass there (docs/screenshots is the one the docs link to).
package browsertest
