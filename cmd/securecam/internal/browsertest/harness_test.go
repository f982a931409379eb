package browsertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
)

var (
	// chromium is the browser's path, or "" with chromiumErr saying why.
	chromium    string
	chromiumErr error
)

func TestMain(m *testing.M) {
	chromium, chromiumErr = findChromium()
	os.Exit(childtest.Main(m))
}

// findChromium looks where scripts/test.sh looks.
func findChromium() (string, error) {
	if p := os.Getenv("SECURECAM_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SECURECAM_TEST_CHROMIUM: %w", err)
		}
		return p, nil
	}
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s is on PATH", strings.Join(names, ", "))
}

// ---------------------------------------------------------------------------- hub

// startHub runs securecam in embedded mode (SQLite in a temporary data directory, the
// in-process bus) with debug logs and the extra environment env, and waits until it
// listens. Its log is printed if the test fails.
func startHub(t *testing.T, env map[string]string) *child.Process {
	t.Helper()
	full := map[string]string{"SECURECAM_NODE_ID": "browsertest", "SECURECAM_LOG_LEVEL": "debug"}
	maps.Copy(full, env)
	return childtest.Start(t, full)
}

// startHubAt is startHub on a free loopback address (SECURECAM_HTTP_ADDR, for a hub
// that restarts on it), with its own data directory; it returns the hub and its
// environment, for restartHub.
func startHubAt(t *testing.T) (*child.Process, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	return childtest.StartAt(t, func(addr string) map[string]string {
		return map[string]string{"SECURECAM_NODE_ID": "browsertest", "SECURECAM_LOG_LEVEL": "debug",
			"SECURECAM_DATA_DIR": dir, "SECURECAM_HTTP_ADDR": addr}
	})
}

// ---------------------------------------------------------------------------- browser

// browser is one headless Chromium with a fake camera and microphone.
type browser struct {
	ctx context.Context // has the started browser; profiles derive from it
}

// lanHost is a name that Chromium resolves to 127.0.0.1, standing for the
// hub's address on a home network: unlike localhost, it is not a secure
// context over plain HTTP.
const lanHost = "securecam.test"

// startBrowser starts Chromium, with extra options. It fails the test (never
// skips it) when Chromium is not installed.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if chromiumErr != nil {
		t.Fatalf("the browser tests need Chromium: %v. Run scripts/test.sh (it installs Chromium on Debian), "+
			"or install it (apt-get install chromium) or point SECURECAM_TEST_CHROMIUM at a Chrome or Chromium binary", chromiumErr)
	}
	out := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Host candidates as IP addresses, not mDNS names nothing here resolves.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("host-resolver-rules", "MAP "+lanHost+" 127.0.0.1"),
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("Chromium's output (without D-Bus and ALSA noise):\n%s", quiet(out.String()))
		}
	})
	// The first Do binds the browser's life to its context: ctx, not one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", chromium, err)
	}
	return &browser{ctx: ctx}
}

// The size of every page, so that screenshots come out alike.
const viewportWidth, viewportHeight = 1280, 800

// tab is a page in its own browser context: its own cookies and localStorage,
// so its own signed-in session and device ids, like another browser profile.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []string
}

// profile opens a tab in a fresh browser context. The page's console is
// printed if the test fails.
func (b *browser) profile(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, name: name, ctx: ctx}
	// Console opens the tab, and binds its life to ctx (not to the timeouts of later actions).
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m.Time.Format("15:04:05.000")+" "+m.String())
			tb.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			tb.mu.Lock()
			defer tb.mu.Unlock()
			t.Logf("console of the %s tab:\n%s", name, strings.Join(tb.console, "\n"))
		}
	})
	tb.do("size the page", pageTimeout, chromedp.EmulateViewport(viewportWidth, viewportHeight))
	return tb
}

// do runs actions, failing the test with what was being done when one fails
// or all of them take longer than timeout.
func (tb *tab) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(what, err)
	}
}

// fail ends the test with the page's visible text, which usually says what
// went wrong.
func (tb *tab) fail(what string, err error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	page, perr := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + "\n" + document.body.innerText`))
	if perr != nil {
		page = "(page text unavailable: " + perr.Error() + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, chromedp.ErrPollingTimeout) {
		err = fmt.Errorf("timed out: %w", err)
	}
	tb.t.Fatalf("%s tab: %s: %v\npage %s", tb.name, what, err, page)
}

// waitFor polls the JavaScript expression until it is truthy and returns its
// value. Polling is on a timer: it does not depend on the page painting.
func waitFor[T any](tb *tab, what, expression string, timeout time.Duration) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expression,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		tb.fail("waiting for "+what, err)
	}
	return v
}

// eval evaluates a JavaScript expression once.
func eval[T any](tb *tab, what, expression string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		tb.fail(what, err)
	}
	return v
}

// text returns the visible text of the first element matching the CSS selector,
// waiting for it to be visible.
func (tb *tab) text(what, selector string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector), chromedp.NodeVisible))
	if err != nil {
		tb.fail(what, err)
	}
	return strings.TrimSpace(s)
}

// screenshot saves the viewport as <SECURECAM_TEST_SCREENSHOTS>/<name>.png when
// that variable is set; a relative directory is taken from the module root.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	dir := os.Getenv("SECURECAM_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(moduleRoot(tb.t), dir)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	// The top of the page, without the caret and focus ring of the last action.
	_ = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement?.blur(); scrollTo(0, 0)`))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.fail("screenshot "+name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// quiet drops the lines a container without D-Bus or a sound card always gets.
func quiet(output string) string {
	var keep []string
	for line := range strings.Lines(output) {
		if !strings.Contains(line, "dbus") && !strings.Contains(line, "ALSA") && !strings.Contains(line, "alsa") {
			keep = append(keep, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(keep, "\n")
}
