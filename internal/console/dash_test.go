package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/httpx/httpxtest"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// newDashConsole is the test console with the dashboards over a real
// store: zhangwei's phone failing, his lockout and its alert. Event
// times are relative to the wall clock (the store's retention goes by it).
func newDashConsole(t *testing.T, withEvents bool) *testConsole {
	t.Helper()
	tc := newTestConsole(t)
	now := time.Now().Truncate(time.Second)
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	row := func(at time.Time, kv ...string) store.Row {
		r := store.Row{Time: at, Fields: []store.Field{{Name: "_msg", Value: "line <b>" + kv[1] + "</b>"}, {Name: "vigil.seq", Value: "7"}}}
		for i := 0; i+1 < len(kv); i += 2 {
			r.Fields = append(r.Fields, store.Field{Name: kv[i], Value: kv[i+1]})
		}
		return r
	}
	var rows []store.Row
	if withEvents {
		for i := range 10 {
			rows = append(rows, row(now.Add(-time.Duration(i+1)*10*time.Minute), "event.category", "authentication", "event.outcome", "failure",
				"user.name", "zhangwei", "source.ip", "203.0.113.7", "network.protocol", "activesync", "device.id", "PHONE1",
				"event.dataset", "nginx.access", "event.reason", "HTTP 401"))
		}
		rows = append(rows,
			row(now.Add(-time.Hour), "event.category", "authentication", "event.outcome", "success", "user.name", "zhangwei",
				"source.ip", "192.0.2.10", "network.protocol", "owa", "event.dataset", "nginx.access"),
			row(now.Add(-50*time.Minute), "event.category", "iam", "event.action", "account-locked", "user.name", "zhangwei",
				"event.dataset", "windows.security", "host.name", "dc1"))
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	if withEvents {
		// Where the store keeps alerts: apart when it can (AddAlerts).
		alert := row(now.Add(-49*time.Minute), "event.kind", "alert", "event.dataset", "vigil.alert", "alert.id", "a1", "rule.id", "account-locked-out",
			"rule.name", "Account locked out", "level", "medium", "user.name", "zhangwei")
		add := st.Add
		if a, ok := any(st).(interface{ AddAlerts([]store.Row) error }); ok {
			add = a.AddAlerts
		}
		if err := add([]store.Row{alert}); err != nil {
			t.Fatal(err)
		}
	}
	st.Flush()
	searches := search.New(st, search.Limits{}, nil)
	clock := func() time.Time { return now }
	d := service.NewDashboards(searches, service.DashboardOptions{Now: clock,
		Registered: func(user, id string) bool { return id == "PHONE1" },
		Health:     func() service.PipelineHealth { return service.PipelineHealth{IndexLag: 3} }})
	c, err := New(Options{DB: tc.db, Sessions: tc.sessions, Now: clock, Zone: tc.o.Zone, Dashboards: d})
	if err != nil {
		t.Fatal(err)
	}
	tc.Console = c
	return tc
}

func (tc *testConsole) dashGet(t *testing.T, path, lang string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	tc.as(t, req, service.RoleViewer)
	req.AddCookie(&http.Cookie{Name: langCookie, Value: lang})
	req.Header.Set("Accept-Language", lang)
	resp, body := tc.do(req)
	return resp.StatusCode, body
}

// TestDashPages: the overview and the entity pages render in both
// languages, with every text translated, links to the other pages and
// to searches, and the values escaped.
func TestDashPages(t *testing.T) {
	tc := newDashConsole(t, true)
	for _, lang := range []string{"en", "zh-CN"} {
		for _, tt := range []struct {
			path string
			want []string
		}{
			{"/", []string{`href="/entity/user/zhangwei"`, `href="/entity/ip/203.0.113.7"`, "<svg", "/search?"}},
			{"/?range=7d&refresh=1", []string{`http-equiv="refresh" content="60"`}},
			{"/entity/user/zhangwei", []string{`href="/entity/device/PHONE1"`, `href="/alerts/a1"`, "dc1", "<svg", "/search?", "CST"}},
			{"/entity/ip/203.0.113.7", []string{`href="/entity/user/zhangwei"`}},
			{"/entity/device/PHONE1?range=30d", []string{`href="/entity/user/zhangwei"`, `href="/entity/ip/203.0.113.7"`}},
		} {
			code, body := tc.dashGet(t, tt.path, lang)
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d\n%s", lang, tt.path, code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: no %q", lang, tt.path, w)
				}
			}
			for _, prefix := range []string{">dash.", ">entity.", " dash.", " entity.", `"dash.`, `"entity.`} {
				if i := strings.Index(body, prefix); i >= 0 {
					t.Errorf("%s %s: untranslated key at %q", lang, tt.path, body[i:min(i+40, len(body))])
				}
			}
			if strings.Contains(body, "<b>") {
				t.Errorf("%s %s: an event's text is not escaped", lang, tt.path)
			}
		}
	}
	_, body := tc.dashGet(t, "/entity/user/zhangwei", "zh-CN")
	if !strings.Contains(body, "按协议的失败登录") || !strings.Contains(body, "已登记") {
		t.Error("the Chinese page is not in Chinese")
	}
	if code, _ := tc.dashGet(t, "/entity/ip/not-an-ip", "en"); code != http.StatusBadRequest {
		t.Errorf("a bad address: %d, want 400", code)
	}
	if code, _ := tc.dashGet(t, "/entity/host/x", "en"); code != http.StatusBadRequest {
		t.Errorf("a bad kind: %d, want 400", code)
	}
}

// TestDashEmpty: without events every panel says so.
func TestDashEmpty(t *testing.T) {
	tc := newDashConsole(t, false)
	_, body := tc.dashGet(t, "/", "en")
	for _, w := range []string{"No logins in this range", "No failed logins in this range", "No account locked out today", "No admin actions in this range"} {
		if !strings.Contains(body, w) {
			t.Errorf("overview: no %q", w)
		}
	}
	_, body = tc.dashGet(t, "/entity/user/nobody", "en")
	for _, w := range []string{"No lockouts in this range", "No events in this range", "No alerts in this range"} {
		if !strings.Contains(body, w) {
			t.Errorf("entity: no %q", w)
		}
	}
}

// TestDashRoutesRoles: the role test over the dashboards' routes (the
// shell's TestRoutesRoles covers a console without them).
func TestDashRoutesRoles(t *testing.T) {
	tc := newDashConsole(t, false)
	var mine []httpx.Route
	for _, r := range tc.Routes() {
		if r.Pattern == "GET /{$}" || strings.HasPrefix(r.Pattern, "GET /entity/") {
			mine = append(mine, r)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("dashboard routes %v", mine)
	}
	httpxtest.Check(t, httpxtest.Roles{
		Handler: tc,
		Routes:  mine,
		Anonymous: func(resp *http.Response) bool {
			return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
		},
		As: tc.as,
	})
}

func TestPerSecond(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0/s", 0.002: "0.002/s", 0.0025: "0.0025/s", 0.5: "0.5/s", 0.25: "0.25/s", 5: "5/s", 9.5: "9.5/s",
		12: "12/s", 1234: "1.2k/s",
	} {
		if got := perSecond(v); got != want {
			t.Errorf("perSecond(%v) = %q, want %q", v, got, want)
		}
	}
}
