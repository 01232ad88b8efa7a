package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// noAlerts is a store without alerts, for the tests of other pages.
type noAlerts struct{}

func (noAlerts) Search(context.Context, store.Query, func(store.Row) error) error { return nil }

// alertsConsole is a test console over a real store holding a
// compromised account's incident (three alerts) and a lone brute force.
func alertsConsole(t *testing.T) (*testConsole, map[string]*alert.Alert) {
	t.Helper()
	st, err := vlstore.Open(vlstore.Config{Path: filepath.Join(t.TempDir(), "store"), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The engine keeps retention by the real clock: times relative to it.
	now := time.Now().UTC().Truncate(time.Second)
	alerts := map[string]*alert.Alert{}
	var rows []store.Row
	add := func(key, rule, title, level, user, ip, group string, ago time.Duration) {
		ts := now.Add(-ago)
		a := &alert.Alert{ID: alert.MakeID(rule, key, 1), RuleID: rule, RuleTitle: title, Level: level, Type: "threshold",
			TS: ts, First: ts.Add(-5 * time.Minute), Last: ts, User: user, SrcIP: ip, Count: 12, Group: group,
			Message: title + " <script>x</script>", Payloads: []string{"line one", "line two"}, Fields: map[string]string{"values": "a,b"}}
		alerts[key] = a
		rows = append(rows, a.Row())
	}
	add("brute", "brute-force-source", "Brute force from one address", alert.LevelMedium, "zhangwei", "203.0.113.5", "source.ip=203.0.113.5", 50*time.Minute)
	add("success", "login-after-failures", "Login after failures", alert.LevelCritical, "zhangwei", "203.0.113.5", "user.name=zhangwei source.ip=203.0.113.5", 40*time.Minute)
	add("lockout", "account-locked-out", "Account locked out", alert.LevelMedium, "zhangwei", "", "user.name=zhangwei", 30*time.Minute)
	add("other", "brute-force-source", "Brute force from one address", alert.LevelHigh, "user9", "198.51.100.23", "source.ip=198.51.100.23", 20*time.Minute)
	if err := st.AddAlerts(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	tc := newTestConsole(t, func(o *Options) {
		o.Alerts = service.NewAlerts(st, o.DB, service.AlertsOptions{Now: func() time.Time { return now }})
		o.Now = func() time.Time { return now }
	})
	return tc, alerts
}

func TestAlertPages(t *testing.T) {
	tc, alerts := alertsConsole(t)
	incident := alerts["brute"].ID
	tests := []struct {
		path, lang string
		role       service.Role
		want, not  []string
	}{
		{"/alerts", "en", service.RoleViewer,
			[]string{"Incidents", "zhangwei", "/entity/user/zhangwei", "/entity/ip/203.0.113.5", "/incidents/" + incident, "Login after failures", "Showing 2 of 2"},
			[]string{`<button name="status" value="acknowledged">`, `type="checkbox"`}},
		{"/alerts", "en", service.RoleAnalyst, []string{"Acknowledge", `name="csrf"`, "Critical"}, nil},
		{"/alerts?view=alerts&level=high", "en", service.RoleViewer,
			[]string{"Login after failures", "/alerts/" + alerts["success"].ID, "198.51.100.23", "Showing 2 of 2"}, []string{"Account locked out"}},
		{"/alerts?user=nobody", "en", service.RoleViewer, []string{"Nothing matches these filters"}, nil},
		{"/alerts/" + alerts["success"].ID, "en", service.RoleViewer,
			[]string{"Login after failures", "&lt;script&gt;", "/search?end=", "line two", "alert.fields.values", "/incidents/" + incident, "No stored events", "Asia/Shanghai"},
			[]string{"<script>x", `name="status"`}},
		{"/alerts/" + alerts["success"].ID, "en", service.RoleAnalyst, []string{`name="status"`, `name="comment"`}, nil},
		{"/incidents/" + alerts["lockout"].ID, "en", service.RoleViewer,
			[]string{"Timeline", "Brute force from one address", "Account locked out", "/alerts/" + alerts["lockout"].ID, "zhangwei"}, []string{"198.51.100.23"}},
		// A per-address alert is about the address, not the user of the
		// event that tripped it.
		{"/incidents/" + alerts["other"].ID, "en", service.RoleViewer, []string{"198.51.100.23"}, []string{"user9"}},
		{"/alerts", "zh-CN", service.RoleAnalyst, []string{"事件", "严重", "确认"}, nil},
		{"/incidents/" + incident, "zh-CN", service.RoleViewer, []string{"时间线"}, nil},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Accept-Language", tt.lang)
		tc.as(t, req, tt.role)
		resp, body := tc.do(req)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s as %s: %d %s", tt.path, tt.role, resp.StatusCode, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s as %s (%s): no %q", tt.path, tt.role, tt.lang, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(body, n) {
				t.Errorf("GET %s as %s (%s): has %q", tt.path, tt.role, tt.lang, n)
			}
		}
	}
	for _, path := range []string{"/alerts/0123456789abcdef01234567", "/incidents/nothing"} {
		req := httptest.NewRequest("GET", path, nil)
		tc.as(t, req, service.RoleViewer)
		if resp, _ := tc.do(req); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestAlertTriageForms: the forms change the triage state, audited; a
// viewer cannot.
func TestAlertTriageForms(t *testing.T) {
	tc, alerts := alertsConsole(t)
	post := func(role service.Role, path string, form url.Values) *http.Response {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tc.as(t, req, role)
		resp, _ := tc.do(req)
		return resp
	}
	id := alerts["success"].ID
	if resp := post(service.RoleViewer, "/alerts/"+id, url.Values{"status": {"acknowledged"}}); resp.StatusCode != 403 {
		t.Errorf("viewer: %d, want 403", resp.StatusCode)
	}
	resp := post(service.RoleAnalyst, "/alerts/"+id, url.Values{"status": {"acknowledged"}, "assignee": {"bob"}, "assignee_was": {""}, "comment": {"calling him"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts/"+id {
		t.Fatalf("triage: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The same form again with the assignee unchanged changes only the status.
	post(service.RoleAnalyst, "/alerts/"+id, url.Values{"status": {"resolved"}, "assignee": {"bob"}, "assignee_was": {"bob"}})
	var tr storage.Triage
	err := tc.db.View(func(tx *storage.Tx) error {
		var err error
		tr, err = tx.Triage(id)
		return err
	})
	if err != nil || tr.Status != "resolved" || tr.Assignee != "bob" || len(tr.Comments) != 1 || tr.Comments[0].Text != "calling him" {
		t.Fatalf("triage state: %+v %v", tr, err)
	}
	// Bulk: acknowledge both incidents from the queue.
	resp = post(service.RoleAnalyst, "/alerts/bulk", url.Values{"kind": {"incident"}, "status": {"acknowledged"},
		"id": {alerts["brute"].ID, alerts["other"].ID}, "back": {"/alerts?range=7d"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts?range=7d" {
		t.Fatalf("bulk: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	req := httptest.NewRequest("GET", "/alerts?view=alerts&status=acknowledged", nil)
	tc.as(t, req, service.RoleViewer)
	_, body := tc.do(req)
	if n := len(regexp.MustCompile(`<span class="status acknowledged">`).FindAllString(body, -1)); n != 4 {
		t.Errorf("%d acknowledged alerts listed, want 4", n)
	}
	audit, err := tc.db.Audit(storage.AuditFilter{})
	if err != nil || len(audit) != 2+4+2 || audit[len(audit)-1].Actor != "bob" && audit[len(audit)-1].Via != "console" {
		t.Errorf("audit: %d entries %v", len(audit), err)
	}
	// A redirect elsewhere than the queue is refused.
	resp = post(service.RoleAnalyst, "/alerts/bulk", url.Values{"status": {"resolved"}, "back": {"https://evil.example/"}})
	if resp.Header.Get("Location") != "/alerts" {
		t.Errorf("bulk back: %q", resp.Header.Get("Location"))
	}
}

// packStub is a fixed rule pack.
type packStub []service.PackRule

func (p packStub) Pack() ([]service.PackRule, []string, time.Time) { return p, nil, time.Time{} }
func (packStub) RuleStats() map[string]service.RuleStats           { return nil }
func (packStub) SetEnabled(map[string]bool)                        {}

// TestAlertRuleTitles: alert and incident pages name each alert's
// rule in the reader's language, from the pack (its translation, else
// its own title), and by the alert's stored rule.name when the pack no
// longer has the rule.
func TestAlertRuleTitles(t *testing.T) {
	tc, alerts := alertsConsole(t)
	o := tc.Console.o
	o.Rules = service.NewRules(packStub{{ID: "login-after-failures", Title: "Successful login after a burst of failures",
		Translations: map[string]service.RuleText{"zh-CN": {Title: "连续登录失败后登录成功"}}}}, tc.db, nil)
	o.Registerer = nil
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tc.Console = c
	for _, path := range []string{"/alerts", "/alerts?view=alerts", "/alerts/" + alerts["success"].ID, "/incidents/" + alerts["lockout"].ID} {
		for lang, want := range map[string][]string{
			"en":    {"Successful login after a burst of failures"},
			"zh-CN": {"连续登录失败后登录成功"},
		} {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Accept-Language", lang)
			tc.as(t, req, service.RoleViewer)
			resp, body := tc.do(req)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			if path != "/alerts/"+alerts["success"].ID {
				want = append(want, "Brute force from one address") // not in the pack: as stored
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s (%s): no %q", path, lang, w)
				}
			}
			if strings.Contains(body, ">Login after failures<") {
				t.Errorf("GET %s (%s): shows the stored title of a rule the pack has", path, lang)
			}
		}
	}
}
