package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// ruleStub is a fixed rule pack whose states follow SetEnabled (the
// detector's side is tested in package detect).
type ruleStub struct{ on map[string]bool }

func (e *ruleStub) Pack() ([]service.PackRule, []string, time.Time) {
	on, set := e.on["brute"]
	r := service.PackRule{ID: "brute", Title: "Brute force on OWA", Description: "Many failed OWA logins.", Type: "threshold", Level: "high", File: "brute.yaml",
		Source: "id: brute\ntitle: Brute force on OWA\n", Enabled: !set || on,
		Translations: map[string]service.RuleText{"zh-CN": {Title: "OWA 暴力破解", Description: "大量 OWA 登录失败。"}}}
	if set {
		r.State = service.StateOverride
	}
	return []service.PackRule{r}, []string{"/etc/vigil/rules/x.yaml: rule x: when: bad"}, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
}

func (e *ruleStub) RuleStats() map[string]service.RuleStats {
	return map[string]service.RuleStats{"brute": {Hits: 1234, Alerts: 3, LastAlert: time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)}}
}

func (e *ruleStub) SetEnabled(m map[string]bool) { e.on = m }

// newListsConsole is the test console with the list and rule services
// over real list files.
func newListsConsole(t *testing.T) (*testConsole, string) {
	t.Helper()
	tc := newTestConsole(t)
	dir := t.TempDir()
	files := map[string]string{
		"blocked.yaml": "name: blocked\nkind: ip\nrole: block\nentries:\n  - value: 203.0.113.0/24\n    note: scanners\n",
		"devices.yaml": "name: devices\nkind: device\nentries:\n  - user: zhangwei\n    device: LOST1\n    model: iPhone 15\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := lists.Load(dir, lists.WithClock(tc.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	o := tc.Console.o
	o.Lists = service.NewLists(set, tc.db, tc.clock.Now)
	o.Rules = service.NewRules(&ruleStub{}, tc.db, tc.clock.Now)
	o.Registerer = nil
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tc.Console = c
	return tc, dir
}

func TestListsRoutesRoles(t *testing.T) {
	tc, _ := newListsConsole(t)
	n := 0
	for _, r := range tc.Routes() {
		if strings.Contains(r.Pattern, "/lists") || strings.Contains(r.Pattern, "/devices") || strings.Contains(r.Pattern, "/rules") {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d list, device and rule routes", n)
	}
	checkRoutesRoles(t, tc)
}

func form(t *testing.T, tc *testConsole, role service.Role, path string, vals url.Values) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tc.as(t, req, role)
	return tc.do(req)
}

func page(t *testing.T, tc *testConsole, role service.Role, path string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	tc.as(t, req, role)
	return tc.do(req)
}

func TestListsPages(t *testing.T) {
	tc, dir := newListsConsole(t)
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/lists", []string{`href="/lists/blocked"`, "devices", "block"}},
		{"/lists/blocked", []string{"203.0.113.0/24", "scanners"}},
		{"/devices?user=zhangwei", []string{"LOST1", "iPhone 15"}},
		{"/rules", []string{`href="/rules/brute"`, "1,234", "x.yaml: rule x"}},
		{"/rules/brute", []string{"id: brute", "/alerts?rule=brute"}},
	} {
		resp, body := page(t, tc, service.RoleViewer, c.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", c.path, resp.StatusCode)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", c.path, w)
			}
		}
		// A viewer gets no forms that change anything.
		if strings.Contains(body, `method="post" action="/lists`) || strings.Contains(body, `action="/devices`) || strings.Contains(body, `/enabled"`) {
			t.Errorf("GET %s shows a viewer a change form", c.path)
		}
	}

	// Rules in the reader's language; the filter finds a rule by either
	// title.
	for _, c := range []struct{ path, lang, want, not string }{
		{"/rules", "en", "Brute force on OWA", "OWA 暴力破解"},
		{"/rules", "zh-CN", "OWA 暴力破解", "Brute force on OWA"},
		{"/rules/brute", "en", "Many failed OWA logins.", "大量 OWA 登录失败。"},
		{"/rules/brute", "zh-CN", "大量 OWA 登录失败。", "Many failed OWA logins."},
		{"/rules?filter=" + url.QueryEscape("暴力"), "zh-CN", `href="/rules/brute"`, ""},
		{"/rules?filter=brute+force", "zh-CN", `href="/rules/brute"`, ""},
		{"/rules?filter=" + url.QueryEscape("暴力"), "en", `href="/rules/brute"`, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		req.Header.Set("Accept-Language", c.lang)
		tc.as(t, req, service.RoleViewer)
		_, body := tc.do(req)
		if !strings.Contains(body, c.want) || c.not != "" && strings.Contains(body, c.not) {
			t.Errorf("GET %s (%s): want %q and not %q", c.path, c.lang, c.want, c.not)
		}
	}

	// Add with an expiry typed in the user's zone (Asia/Shanghai).
	resp, body := form(t, tc, service.RoleAnalyst, "/lists/blocked/add", url.Values{"value": {"198.51.100.0/24"}, "note": {"kit"}, "expires": {"2026-12-31T08:00"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/lists/blocked" {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "blocked.yaml"))
	if !strings.Contains(string(data), "expires: \"2026-12-31T00:00:00Z\"") && !strings.Contains(string(data), "expires: 2026-12-31T00:00:00Z") {
		t.Fatalf("expiry not in the user's zone:\n%s", data)
	}
	// A bad value shows the page again with the error and what was typed.
	resp, body = form(t, tc, service.RoleAnalyst, "/lists/blocked/add", url.Values{"value": {"10.0.0.0/40"}, "note": {"typo"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "10.0.0.0/40") || !strings.Contains(body, `class="error"`) {
		t.Fatalf("bad add: %d %s", resp.StatusCode, body)
	}
	if resp, _ := form(t, tc, service.RoleAnalyst, "/lists/blocked/entry", url.Values{"value": {"198.51.100.0/24"}, "do": {"remove"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if resp, _ := form(t, tc, service.RoleAnalyst, "/lists/blocked/entry", url.Values{"value": {"203.0.113.0/24"}, "do": {"expire"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("expire: %d", resp.StatusCode)
	}
	if resp, _ := form(t, tc, service.RoleAnalyst, "/lists/blocked/entry", url.Values{"value": {"203.0.113.0/24"}, "do": {"frob"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", resp.StatusCode)
	}

	// Devices: register, revoke.
	resp, _ = form(t, tc, service.RoleAnalyst, "/devices", url.Values{"user": {"lisi"}, "device": {"NEW9"}, "model": {"Pixel 9"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices?user=lisi" {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = form(t, tc, service.RoleAnalyst, "/devices/revoke", url.Values{"user": {"zhangwei"}, "device": {"LOST1"}, "reason": {"lost"}, "next": {"/devices?user=zhangwei"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices?user=zhangwei" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = page(t, tc, service.RoleViewer, "/devices?user=zhangwei")
	if !strings.Contains(body, "revoked: lost") || !strings.Contains(body, "bob") {
		t.Errorf("revoked device page:\n%s", body)
	}

	// Rules: an admin disables.
	resp, _ = form(t, tc, service.RoleAdmin, "/rules/brute/enabled", url.Values{"enabled": {"false"}, "next": {"/rules"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rules" {
		t.Fatalf("disable: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := page(t, tc, service.RoleAdmin, "/rules/brute"); !strings.Contains(body, "set by ann") {
		t.Errorf("rule page after disabling lacks who did it")
	}
	var actions []string
	es, _ := tc.db.Audit(storage.AuditFilter{Action: ""})
	for _, e := range es {
		actions = append(actions, e.Action+"/"+e.Via)
	}
	if got := strings.Join(actions, ","); got != "rule.disable/console,device.revoke/console,device.register/console,list.expire/console,list.remove/console,list.add/console" {
		t.Errorf("audit: %s", got)
	}
}
