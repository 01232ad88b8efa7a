package e2e

// The browser-test harness: the real vigil binary and a headless Debian
// chromium driven through the DevTools protocol (chromedp), at 1366x768.
// Console tests of every slice use it (internal/console/doc.go):
//
//	v := startVigil(t, vigilOpts{})
//	b := startBrowser(t, v)
//	b.login("admin", adminPassword(t, v))
//	b.visit("/alerts")
//	b.screenshot("alerts")          // PNG in $VIGIL_SCREENSHOTS or e2e/testdata/screenshots-out
//	b.switchLanguage("zh-CN")
//	b.do(chromedp.Click(chromedp.CSS("button.primary")))  // anything else chromedp does
//	n := run(b, chromedp.Text(chromedp.CSS("td.count")))   // an action with a value

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (scripts/install-test-deps.sh).
const chromiumPath = "/usr/bin/chromium"

// browser is one headless chromium tab on a running vigil.
type browser struct {
	t   *testing.T
	v   *vigil
	ctx context.Context
	dir string // screenshots
}

// startBrowser starts chromium for v (English unless the test switches).
// Without chromium the test is skipped, or fails under VIGIL_TEST_STRICT.
func startBrowser(t *testing.T, v *vigil) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		requireProgram(t, "chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", "new"),
		chromedp.WindowSize(1366, 768),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US,en"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelC()
		cancelA()
	})
	b := &browser{t: t, v: v, ctx: ctx, dir: screenshotDir(t)}
	// Start the browser now, so that its failure is reported as such.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return b
}

// screenshotDir is $VIGIL_SCREENSHOTS or e2e/testdata/screenshots-out.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("VIGIL_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots-out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs chromedp actions in order with a generous deadline, failing
// the test with the page's address on error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, chromedp.Steps(actions...))
}

// run runs one chromedp action and returns its value (see do).
func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("browser at %s: %v", loc, err)
	}
	return v
}

// visit opens path of the vigil under test and waits for its main part.
func (b *browser) visit(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.v.httpURL+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// location returns the current path (with query).
func (b *browser) location() string {
	b.t.Helper()
	return strings.TrimPrefix(run(b, chromedp.Location()), b.v.httpURL)
}

// text returns the visible text of the first element matching the CSS
// selector sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// login signs in through the login form and waits for the page after it.
func (b *browser) login(user, pass string) {
	b.t.Helper()
	b.visit("/login")
	b.submitLogin(user, pass)
}

// submitLogin fills in and sends the login form of the current page.
func (b *browser) submitLogin(user, pass string) {
	b.t.Helper()
	b.do(
		chromedp.Clear(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("details.menu")),
	)
}

// logout signs out through the user menu.
func (b *browser) logout() {
	b.t.Helper()
	b.do(
		chromedp.Click(chromedp.CSS("details.menu summary")),
		chromedp.Click(chromedp.CSS("details.menu button[type=submit]"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
}

// switchLanguage picks lang ("en", "zh-CN") in the header's switch.
func (b *browser) switchLanguage(lang string) {
	b.t.Helper()
	b.do(
		chromedp.SetValue(chromedp.ID("lang-select"), lang),
		chromedp.Submit(chromedp.ID("lang-select")),
		chromedp.WaitReady(chromedp.CSS(`html[lang="`+lang+`"]`)),
	)
}

// screenshot saves the whole page (1366 pixels wide) as name.png.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
	return path
}

var firstPasswordRE = regexp.MustCompile(`created the console user admin .* password=(\S+)`)

// adminPassword returns the password vigil printed for admin at its first
// start.
func adminPassword(t *testing.T, v *vigil) string {
	t.Helper()
	m := firstPasswordRE.FindStringSubmatch(tail(v.logPath, 1<<20))
	if m == nil {
		t.Fatalf("vigil logged no first admin password; log:\n%s", tail(v.logPath, 4<<10))
	}
	return m[1]
}

// TestBrowserShell logs in, sees the layout, switches to Chinese, and
// logs out.
func TestBrowserShell(t *testing.T) {
	v := startVigil(t, vigilOpts{})
	b := startBrowser(t, v)

	// A page asked for before the login comes back after it.
	b.visit("/rules?x=1")
	if loc := b.location(); loc != "/login?next=%2Frules%3Fx%3D1" {
		t.Errorf("unauthenticated /rules went to %s", loc)
	}
	b.screenshot("shell-login")
	b.do(
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".error")),
	)
	if got := b.text(".error"); got != "Wrong user name or password." {
		t.Errorf("failed login says %q", got)
	}

	b.submitLogin("admin", adminPassword(t, v))
	if loc := b.location(); loc != "/rules?x=1" {
		t.Errorf("after login at %s, want /rules?x=1", loc)
	}
	b.visit("/")
	nav := b.text("nav.nav")
	for _, want := range []string{"Overview", "Search", "Alerts", "Lists", "Devices", "Rules", "Users", "Audit"} {
		if !strings.Contains(nav, want) {
			t.Errorf("navigation %q lacks %q", nav, want)
		}
	}
	if who := b.text("details.menu summary"); !strings.Contains(who, "admin") {
		t.Errorf("user menu says %q", who)
	}
	b.screenshot("shell-home-en")

	b.switchLanguage("zh-CN")
	if nav := b.text("nav.nav"); !strings.Contains(nav, "告警") || !strings.Contains(nav, "概览") {
		t.Errorf("Chinese navigation is %q", nav)
	}
	b.screenshot("shell-home-zh-CN")
	// The language is the user's setting: it stays on the next page.
	b.visit("/no-such-page")
	if h := b.text("h1"); !strings.Contains(h, "未找到") {
		t.Errorf("Chinese 404 page says %q", h)
	}

	b.logout()
	if loc := b.location(); loc != "/login" {
		t.Errorf("after logout at %s", loc)
	}
	// The session is over: pages ask for the login again.
	b.visit("/")
	if loc := b.location(); !strings.HasPrefix(loc, "/login") {
		t.Errorf("after logout / went to %s", loc)
	}
}
