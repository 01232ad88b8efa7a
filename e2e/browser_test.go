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
	"strconv"
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
	// The form is submitted from a timer, after the evaluation returned:
	// an action that holds the select's node while the page navigates away
	// fails now and then ("No node with given id found").
	b.do(
		chromedp.WaitReady(chromedp.ID("lang-select")),
		chromedp.Evaluate[chromedp.Void](`(function () {
			var s = document.getElementById("lang-select");
			s.value = `+strconv.Quote(lang)+`;
			setTimeout(function () { s.form.submit(); }, 0);
		})()`),
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

// addUser creates a console user through the running server's API (vigil
// users add --server) and returns its password.
func addUser(t *testing.T, v *vigil, name, role string) string {
	t.Helper()
	pw := "pw-" + name + "-" + token("")[:8]
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runVigil(t, "users", "add", "--server", v.httpURL, "--data", v.dataDir,
		"--role", role, "--password-file", file, name)
	if code != 0 {
		t.Fatalf("vigil users add %s: exit %d: %s %s", name, code, out, stderr)
	}
	return pw
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

// TestBrowserAdmin: an admin adds a user in /admin/users and finds it in
// the audit trail; the new viewer sees no admin pages and may not open
// them; screenshots of the admin pages and the settings.
func TestBrowserAdmin(t *testing.T) {
	v := startVigil(t, vigilOpts{})
	b := startBrowser(t, v)
	b.login("admin", adminPassword(t, v))
	addUser(t, v, "zhangwei", "analyst")

	b.visit("/admin/users")
	b.do(
		chromedp.SendKeys(chromedp.CSS(`form[action="/admin/users"] input[name=name]`), "lihua"),
		chromedp.SetValue(chromedp.CSS(`form[action="/admin/users"] select[name=role]`), "viewer"),
		chromedp.SendKeys(chromedp.CSS(`form[action="/admin/users"] input[name=password]`), "viewer-password-1"),
		chromedp.Submit(chromedp.CSS(`form[action="/admin/users"] input[name=name]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := b.text(".flash"); got != "User added." {
		t.Errorf("flash after adding: %q", got)
	}
	if tbl := b.text("table"); !strings.Contains(tbl, "lihua") || !strings.Contains(tbl, "zhangwei") {
		t.Errorf("users table: %q", tbl)
	}
	b.screenshot("shell-admin-users")

	b.visit("/admin/audit")
	audit := b.text("table")
	for _, want := range []string{"user.add", "user lihua", "user zhangwei", "session.login", "token"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %q: %q", want, audit)
		}
	}
	b.screenshot("shell-admin-audit")
	b.visit("/settings")
	b.screenshot("shell-settings")
	b.switchLanguage("zh-CN")
	b.visit("/admin/users")
	b.screenshot("shell-admin-users-zh-CN")
	b.visit("/settings")
	b.screenshot("shell-settings-zh-CN")
	// The switch is also remembered by the browser (the login page
	// and users without a setting follow it): back to English.
	b.switchLanguage("en")
	b.logout()

	b.login("lihua", "viewer-password-1")
	if nav := b.text("nav.nav"); strings.Contains(nav, "Users") || strings.Contains(nav, "Audit") {
		t.Errorf("a viewer's navigation shows admin pages: %q", nav)
	}
	b.visit("/admin/users")
	if h := b.text("main"); !strings.Contains(h, "403") || !strings.Contains(h, "Your role (viewer) does not allow this") {
		t.Errorf("a viewer on /admin/users sees %q, want 403", h)
	}
	b.screenshot("shell-forbidden")
}
