package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/httpx/httpxtest"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/web"
)

// clock is a test clock that the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConsole is a console over a real state file with one user of each
// role: ann (admin), bob (analyst), vic (viewer), password "password-<name>".
type testConsole struct {
	*Console
	db       *storage.DB
	sessions *auth.Sessions
	clock    *clock
	reg      *prometheus.Registry
}

var roleUsers = map[service.Role]string{service.RoleAdmin: "ann", service.RoleAnalyst: "bob", service.RoleViewer: "vic"}

// newTestConsole returns the console; opts set the Options of slices.
func newTestConsole(t *testing.T, opts ...func(*Options)) *testConsole {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Date(2026, 12, 6, 0, 15, 2, 0, time.UTC)}
	for role, name := range roleUsers {
		putUser(t, db, name, role)
	}
	sessions := auth.NewSessions(db, auth.Options{Now: clk.Now})
	reg := prometheus.NewRegistry()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DB: db, Sessions: sessions, Now: clk.Now, Zone: shanghai, Registerer: reg,
		Alerts: service.NewAlerts(noAlerts{}, db, service.AlertsOptions{Now: clk.Now})}
	for _, f := range opts {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &testConsole{Console: c, db: db, sessions: sessions, clock: clk, reg: reg}
}

// putUser stores a user with the password "password-<name>", hashed at
// bcrypt's lowest cost: these tests are about the console.
func putUser(t *testing.T, db *storage.DB, name string, role service.Role) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("password-"+name), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *storage.Tx) error {
		return tx.PutUser(&storage.User{Name: name, Role: string(role), Hash: string(h)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// as adds a fresh session of role's user to req, and its CSRF token.
func (tc *testConsole) as(t *testing.T, req *http.Request, role service.Role) {
	t.Helper()
	id, ident, err := tc.sessions.Start(roleUsers[role], "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
	req.Header.Set("X-CSRF-Token", ident.Session.CSRF)
}

func (tc *testConsole) do(req *http.Request) (*http.Response, string) {
	rec := httptest.NewRecorder()
	tc.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRoutesRoles(t *testing.T) {
	checkRoutesRoles(t, newTestConsole(t))
}

// checkRoutesRoles walks every route of tc's console with each role.
func checkRoutesRoles(t *testing.T, tc *testConsole) {
	t.Helper()
	httpxtest.Check(t, httpxtest.Roles{
		Handler: tc,
		Routes:  tc.Routes(),
		Public:  []string{"GET /static/{file...}", "GET /login", "POST /login", "POST /login/lang"},
		Own:     []string{"POST /logout", "POST /settings/lang", "POST /settings", "POST /settings/password"},
		Anonymous: func(resp *http.Response) bool {
			return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
		},
		As: tc.as,
	})
}

func loginForm(tc *testConsole, t *testing.T, user, pass, next string) *http.Request {
	t.Helper()
	// The login page gives the form's token and its cookie.
	resp, body := tc.do(httptest.NewRequest("GET", "/login", nil))
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET /login: %d, no csrf field", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.LoginCookie {
			ck = c
		}
	}
	if ck == nil || ck.Value != m[1] {
		t.Fatalf("login cookie %v does not carry the form's token", ck)
	}
	form := url.Values{"csrf": {m[1]}, "user": {user}, "password": {pass}, "next": {next}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.7:5555"
	req.AddCookie(ck)
	return req
}

func TestLogin(t *testing.T) {
	tc := newTestConsole(t)

	// Unauthenticated pages go to the login with the page to come back to.
	resp, _ := tc.do(httptest.NewRequest("GET", "/alerts?status=new", nil))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Falerts%3Fstatus%3Dnew" {
		t.Errorf("GET /alerts without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Wrong password and unknown user: the same words.
	for _, up := range [][2]string{{"bob", "wrong-password"}, {"nobody", "password-bob"}} {
		resp, body := tc.do(loginForm(tc, t, up[0], up[1], "/"))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password.") {
			t.Errorf("login %s: %d, body lacks the generic error", up[0], resp.StatusCode)
		}
	}
	// Without the form's token.
	req := loginForm(tc, t, "bob", "password-bob", "/")
	req.Header.Del("Cookie")
	if resp, _ := tc.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the login cookie: %d, want 403", resp.StatusCode)
	}

	// Success: back to a local next only, with a fresh session cookie.
	for next, want := range map[string]string{"/alerts?x=1": "/alerts?x=1", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		req := loginForm(tc, t, "bob", "password-bob", next)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: "an-old-session-id"})
		resp, _ := tc.do(req)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("login with next=%q: %d to %q, want %q", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		var sc *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == auth.SessionCookie {
				sc = c
			}
		}
		if sc == nil || len(sc.Value) < 43 || sc.Value == "an-old-session-id" || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Secure {
			t.Fatalf("session cookie %+v", sc)
		}
		// The session works, and logs out.
		page := httptest.NewRequest("GET", "/", nil)
		page.AddCookie(sc)
		resp, body := tc.do(page)
		if resp.StatusCode != 200 || !strings.Contains(body, "bob") || !strings.Contains(body, "analyst") {
			t.Fatalf("GET / signed in: %d", resp.StatusCode)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
		out := httptest.NewRequest("POST", "/logout", strings.NewReader("csrf="+csrf))
		out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		out.AddCookie(sc)
		if resp, _ := tc.do(out); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := tc.do(page); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the session works after logout: %d", resp.StatusCode)
		}
	}
	// The state file keeps only the SHA-256 of session ids.
	err := tc.db.View(func(tx *storage.Tx) error {
		return tx.Each("sessions", "", func(k string, _ []byte) error {
			if len(k) != 64 {
				t.Errorf("session key %q is not a hex SHA-256", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := tc.db.Audit(storage.AuditFilter{Action: "session."})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e.Action]++
	}
	if count["session.login"] != 4 || count["session.logout"] != 4 || count["session.login_failed"] != 2 {
		t.Errorf("audit of sessions: %v", count)
	}
	if got := testutil.ToFloat64(tc.loginFailures.WithLabelValues("bad_credentials")); got != 2 {
		t.Errorf("bad_credentials failures counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(tc.loginFailures.WithLabelValues("csrf")); got != 1 {
		t.Errorf("csrf failures counted %v, want 1", got)
	}
}

func TestLoginRateLimit(t *testing.T) {
	tc := newTestConsole(t)
	for i := range 5 {
		// The limit is per name whatever its case ("BOB" is no user:
		// the same refusal).
		name := "bob"
		if i == 0 {
			name = "BOB"
		}
		if resp, _ := tc.do(loginForm(tc, t, name, "wrong-password", "/")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	// The right password is refused too until the minute is over.
	resp, body := tc.do(loginForm(tc, t, "bob", "password-bob", "/"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("6th login: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := testutil.ToFloat64(tc.loginFailures.WithLabelValues("rate_limited")); got != 1 {
		t.Errorf("rate_limited counted %v", got)
	}
	// Another user from the same address is not blocked yet (20 per
	// address)...
	if resp, _ := tc.do(loginForm(tc, t, "vic", "password-vic", "/")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("vic's login: %d", resp.StatusCode)
	}
	tc.clock.Add(61 * time.Second)
	if resp, _ := tc.do(loginForm(tc, t, "bob", "password-bob", "/")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's login a minute later: %d", resp.StatusCode)
	}
	// ...but 20 failures from one address block every name from it.
	// (Existing users: an unknown name costs a full bcrypt comparison.)
	for i := range 4 {
		name := "user" + string(rune('a'+i))
		putUser(t, tc.db, name, service.RoleViewer)
		for range 5 {
			if resp, _ := tc.do(loginForm(tc, t, name, "x-password", "/")); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure of %s: %d", name, resp.StatusCode)
			}
		}
	}
	if resp, _ := tc.do(loginForm(tc, t, "ann", "password-ann", "/")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login after 20 failures from the address: %d, want 429", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	tc := newTestConsole(t)
	for _, token := range []string{"", "wrong"} {
		req := httptest.NewRequest("POST", "/logout", strings.NewReader("csrf="+token))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tc.as(t, req, service.RoleAdmin)
		req.Header.Del("X-CSRF-Token")
		if resp, body := tc.do(req); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("POST /logout with csrf %q: %d", token, resp.StatusCode)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	tc := newTestConsole(t)
	page := func(id string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
		resp, _ := tc.do(req)
		return resp.StatusCode
	}
	id, _, err := tc.sessions.Start("vic", "")
	if err != nil {
		t.Fatal(err)
	}
	// Used every 11 hours: alive until the absolute limit of 7 days.
	for tc.clock.Add(11 * time.Hour); ; tc.clock.Add(11 * time.Hour) {
		code := page(id)
		if code != http.StatusOK {
			break
		}
	}
	idle, _, _ := tc.sessions.Start("vic", "")
	tc.clock.Add(12*time.Hour + time.Second)
	if code := page(idle); code != http.StatusSeeOther {
		t.Errorf("a session idle for 12h: %d", code)
	}
}

func TestLanguageAndZone(t *testing.T) {
	tc := newTestConsole(t)
	for accept, want := range map[string]string{"": "Log in", "zh-CN,zh;q=0.9": "登录", "zh-Hans": "登录", "fr, zh;q=0.5, en;q=0.8": "Log in", "zh-TW": "Log in"} {
		req := httptest.NewRequest("GET", "/login", nil)
		req.Header.Set("Accept-Language", accept)
		if _, body := tc.do(req); !strings.Contains(body, "<h1>"+want+"</h1>") {
			t.Errorf("Accept-Language %q: no %q", accept, want)
		}
	}
	// The user's setting beats the browser; times in the zone, named.
	set := httptest.NewRequest("POST", "/settings/lang", strings.NewReader("lang=zh-CN&next=/"))
	set.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tc.as(t, set, service.RoleViewer)
	if resp, _ := tc.do(set); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set language: %d", resp.StatusCode)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Language", "en")
	tc.as(t, req, service.RoleViewer)
	_, body := tc.do(req)
	for _, want := range []string{`<html lang="zh-CN">`, "概览", "2026-12-06 08:15:02 CST", "Asia/Shanghai (CST, UTC"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if e, _ := tc.db.Audit(storage.AuditFilter{Action: "user.settings"}); len(e) != 1 || e[0].Actor != "vic" {
		t.Errorf("settings change audited as %+v", e)
	}
}

// TestDefaultLanguage: a browser that asks for no language the console
// speaks gets display.language (Options.Lang); one that asks for one gets
// it.
func TestDefaultLanguage(t *testing.T) {
	tc := newTestConsole(t, func(o *Options) { o.Lang = "zh-CN" })
	for accept, want := range map[string]string{"": "登录", "fr": "登录", "zh-TW": "登录", "en-US,en;q=0.9": "Log in", "zh-CN": "登录"} {
		req := httptest.NewRequest("GET", "/login", nil)
		req.Header.Set("Accept-Language", accept)
		if _, body := tc.do(req); !strings.Contains(body, "<h1>"+want+"</h1>") {
			t.Errorf("Accept-Language %q: no %q", accept, want)
		}
	}
}

func TestViewFormats(t *testing.T) {
	cat, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	la, _ := time.LoadLocation("America/Los_Angeles")
	now := time.Date(2026, 12, 6, 0, 15, 2, 0, time.UTC)
	v := View{Zone: la, Now: now, p: cat.Printer("en")}
	for _, c := range []struct{ got, want string }{
		{v.Time(now), "2026-12-05 16:15:02 PST"},
		{v.Time(time.Time{}), "-"},
		{v.Ago(now.Add(-30 * time.Second)), "just now"},
		{v.Ago(now.Add(-5 * time.Minute)), "5 min ago"},
		{v.Ago(now.Add(-30 * time.Hour)), "30 h ago"},
		{v.Ago(now.Add(-72 * time.Hour)), "3 d ago"},
		{v.Ago(now.Add(2 * time.Hour)), "in 2 h"},
		{v.Num(1234567), "1,234,567"},
		{v.Num(int64(-1234)), "-1,234"},
		{v.Num(uint64(999)), "999"},
		{v.Num(12345.67), "12,345.7"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	zh := View{Zone: la, Now: now, p: cat.Printer("zh-CN")}
	if got := zh.Ago(now.Add(-5 * time.Minute)); got != "5 分钟前" {
		t.Errorf("zh Ago: %q", got)
	}
	if _, err := v.Can("triag"); err == nil {
		t.Error("Can accepted an unknown permission")
	}
}

func TestStaticAndHeaders(t *testing.T) {
	tc := newTestConsole(t)
	u, err := tc.staticURL("app.css")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := tc.do(httptest.NewRequest("GET", u, nil))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(body, "--accent") {
		t.Errorf("GET %s: %d %q %q", u, resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
	resp, _ = tc.do(httptest.NewRequest("GET", "/static/app.css?v=old", nil))
	if resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("an old version is cached: %q", resp.Header.Get("Cache-Control"))
	}
	if resp, _ := tc.do(httptest.NewRequest("GET", "/static/nope.js", nil)); resp.StatusCode != 404 {
		t.Errorf("missing static file: %d", resp.StatusCode)
	}
	resp, _ = tc.do(httptest.NewRequest("GET", "/login", nil))
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
}

// TestTemplateKeys: every literal key a template translates is in the
// catalogs, and no template has an inline script.
func TestTemplateKeys(t *testing.T) {
	cat, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	keyRE := regexp.MustCompile(`\$?\.T\s+"([^"]+)"`)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=`)
	err = fs.WalkDir(web.FS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.FS, p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			if !cat.Has(m[1]) {
				t.Errorf("%s: key %q is in no catalog", p, m[1])
			}
		}
		if loc := inline.FindIndex(b); loc != nil {
			t.Errorf("%s: inline script or event handler at %q (the CSP refuses it: use web/static/*.js)", p, b[loc[0]:min(loc[1]+20, len(b))])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPages renders every page as admin, with content, so that a template
// error shows here rather than in a browser.
func TestPages(t *testing.T) {
	tc := newTestConsole(t)
	for _, path := range []string{"/", "/admin/users", "/admin/audit", "/admin/audit?actor=ann&action=session.", "/settings", "/no-such-page"} {
		req := httptest.NewRequest("GET", path, nil)
		tc.as(t, req, service.RoleAdmin)
		resp, body := tc.do(req)
		if (resp.StatusCode != 200 && path != "/no-such-page") || !strings.Contains(body, "</html>") {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, body)
		}
	}
}

// TestAdminForms drives the users and settings forms as their users do.
func TestAdminForms(t *testing.T) {
	tc := newTestConsole(t)
	post := func(role service.Role, path string, form url.Values) (*http.Response, string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tc.as(t, req, role)
		return tc.do(req)
	}
	for _, c := range []struct {
		path string
		form url.Values
		code int
		want string // in the body (a refusal) or the flash cookie (success)
	}{
		{"/admin/users", url.Values{"name": {"dora"}, "role": {"analyst"}, "password": {"password-dora"}}, 303, "shell.users.added"},
		{"/admin/users", url.Values{"name": {"dora"}, "role": {"analyst"}, "password": {"password-dora"}}, 400, "exists already"},
		{"/admin/users", url.Values{"name": {"eve"}, "role": {"viewer"}, "password": {"short"}}, 400, "at least 8 characters"},
		{"/admin/users/dora/role", url.Values{"role": {"viewer"}}, 303, "common.saved"},
		{"/admin/users/ann/role", url.Values{"role": {"viewer"}}, 400, "last administrator"},
		{"/admin/users/dora/password", url.Values{"password": {"password-new"}}, 303, "shell.users.password_set"},
		{"/admin/users/ann/password", url.Values{"password": {"password-new"}}, 400, "in the settings"},
		{"/admin/users/ann/delete", nil, 400, "cannot delete yourself"},
		{"/admin/users/dora/delete", nil, 303, "shell.users.deleted"},
		{"/admin/users/dora/delete", nil, 404, "dora"},
		{"/settings", url.Values{"lang": {"en"}, "zone": {"Europe/Berlin"}}, 303, "common.saved"},
		{"/settings", url.Values{"zone": {"Mars/Base"}}, 400, "Mars/Base"},
		{"/settings/password", url.Values{"old": {"nope"}, "password": {"password-x1"}, "password2": {"password-x1"}}, 400, "current password is wrong"},
		{"/settings/password", url.Values{"old": {"password-ann"}, "password": {"password-x1"}, "password2": {"password-x2"}}, 400, "differ"},
	} {
		resp, body := post(service.RoleAdmin, c.path, c.form)
		got := body
		for _, ck := range resp.Cookies() {
			if ck.Name == flashCookie {
				got = ck.Value
			}
		}
		if resp.StatusCode != c.code || !strings.Contains(got, c.want) {
			t.Errorf("POST %s %v: %d, want %d with %q\n%.300s", c.path, c.form, resp.StatusCode, c.code, c.want, got)
		}
	}
	// The flash shows once, translated.
	req := httptest.NewRequest("GET", "/settings", nil)
	tc.as(t, req, service.RoleAdmin)
	req.AddCookie(&http.Cookie{Name: flashCookie, Value: "common.saved"})
	resp, body := tc.do(req)
	if !strings.Contains(body, `<div class="flash" role="status">Saved.</div>`) || !strings.Contains(body, "Europe/Berlin") {
		t.Errorf("settings page after saving lacks the flash or the zone")
	}
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].Name != flashCookie || cks[0].MaxAge >= 0 {
		t.Errorf("the flash cookie is not cleared: %v", cks)
	}

	// Changing one's password keeps this session and ends the others.
	other, _, err := tc.sessions.Start("ann", "")
	if err != nil {
		t.Fatal(err)
	}
	this, ident, err := tc.sessions.Start("ann", "")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"old": {"password-ann"}, "password": {"password-x1"}, "password2": {"password-x1"}, "csrf": {ident.Session.CSRF}}
	req = httptest.NewRequest("POST", "/settings/password", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: this})
	if resp, _ := tc.do(req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	for id, want := range map[string]int{this: 200, other: 303} {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
		if resp, _ := tc.do(req); resp.StatusCode != want {
			t.Errorf("after the password change a session answers %d, want %d", resp.StatusCode, want)
		}
	}
	// Every change is in the audit trail, newest first.
	es, err := tc.db.Audit(storage.AuditFilter{Action: "user."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Target)
	}
	if want := "user.password user ann,user.settings user ann,user.delete user dora,user.password user dora,user.role user dora,user.add user dora"; strings.Join(got, ",") != want {
		t.Errorf("audit %q\nwant   %q", strings.Join(got, ","), want)
	}
}
