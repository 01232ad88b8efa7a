package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/httpx/httpxtest"
	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// asRole authenticates a request as a user of the role named in its
// X-Test-Role header (401 without) and checks the route's permission, as
// the server's guard does with tokens and sessions (tested in
// roles_test.go).
func asRole(p service.Perm, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role := service.Role(r.Header.Get("X-Test-Role"))
		if role == "" {
			writeError(w, http.StatusUnauthorized, "no role")
			return
		}
		a := service.Actor{Name: "u-" + string(role), Role: role, Via: "api"}
		if err := a.Check(p); err != nil {
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, httpx.WithActor(r, a))
	})
}

// ruleStub is a fixed rule pack.
type ruleStub struct{ enabled map[string]bool }

func (e *ruleStub) Pack() ([]service.PackRule, []string, time.Time) {
	on, ok := e.enabled["brute"]
	st := ""
	if !ok {
		on = true
	} else {
		st = service.StateOverride
	}
	return []service.PackRule{{ID: "brute", Title: "Brute force", Type: "threshold", Level: "high", File: "brute.yaml",
		Source: "id: brute\n", Enabled: on, State: st}}, nil, time.Time{}
}
func (e *ruleStub) RuleStats() map[string]service.RuleStats { return nil }
func (e *ruleStub) SetEnabled(m map[string]bool)            { e.enabled = m }

// newListsServer serves the list, device and rule endpoints over real
// list files and a real state store.
func newListsServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	s, dir := newListsAPI(t)
	ts := httptest.NewServer(s.mux)
	t.Cleanup(ts.Close)
	return ts, dir
}

func newListsAPI(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"blocked.yaml": "name: blocked\nkind: ip\nrole: block\nentries: [203.0.113.0/24]\n",
		"devices.yaml": "name: devices\nkind: device\nentries:\n  - user: zhangwei\n    device: DEV1\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := lists.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Server{log: slog.New(slog.DiscardHandler), mux: httpx.NewMux(asRole), opts: Options{
		Lists: service.NewLists(set, db, nil),
		Rules: service.NewRules(&ruleStub{}, db, nil),
	}}
	s.routeLists()
	s.routeRules()
	return s, dir
}

// TestListsRoutesRoles walks every list, device and rule route: none
// answers without credentials, each role is refused exactly where its
// permission is missing.
func TestListsRoutesRoles(t *testing.T) {
	s, _ := newListsAPI(t)
	if n := len(s.mux.Routes()); n != 11 {
		t.Fatalf("%d routes", n)
	}
	httpxtest.Check(t, httpxtest.Roles{
		Handler:   s.mux,
		Routes:    s.mux.Routes(),
		Anonymous: func(resp *http.Response) bool { return resp.StatusCode == http.StatusUnauthorized },
		As:        func(_ *testing.T, req *http.Request, role service.Role) { req.Header.Set("X-Test-Role", string(role)) },
	})
}

func do(t *testing.T, ts *httptest.Server, role, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, ts.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test-Role", role)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListsAPIRoles: viewers read; analysts also edit lists and devices;
// only admins turn rules on and off.
func TestListsAPIRoles(t *testing.T) {
	ts, _ := newListsServer(t)
	cases := []struct {
		method, path, body string
		want               map[service.Role]int // by role
	}{
		{"GET", "/api/v1/lists", "", map[service.Role]int{"viewer": 200, "analyst": 200, "admin": 200}},
		{"GET", "/api/v1/lists/blocked?limit=10", "", map[service.Role]int{"viewer": 200, "analyst": 200, "admin": 200}},
		{"GET", "/api/v1/devices?user=zhangwei", "", map[service.Role]int{"viewer": 200, "analyst": 200, "admin": 200}},
		{"GET", "/api/v1/rules", "", map[service.Role]int{"viewer": 200, "analyst": 200, "admin": 200}},
		{"GET", "/api/v1/rules/brute", "", map[service.Role]int{"viewer": 200, "analyst": 200, "admin": 200}},
		{"POST", "/api/v1/lists/blocked/entries", `{"value":"198.51.100.0/24","note":"kit"}`, map[service.Role]int{"viewer": 403, "analyst": 201, "admin": 201}},
		{"PATCH", "/api/v1/lists/blocked/entries/198.51.100.0/24", `{"expires":"2999-01-01T00:00:00Z"}`, map[service.Role]int{"viewer": 403, "analyst": 200, "admin": 200}},
		{"DELETE", "/api/v1/lists/blocked/entries/198.51.100.0/24", "", map[service.Role]int{"viewer": 403, "analyst": 204, "admin": 404}},
		{"POST", "/api/v1/devices", `{"user":"lisi","device":"DEV2","model":"Pixel 9"}`, map[service.Role]int{"viewer": 403, "analyst": 201, "admin": 201}},
		{"POST", "/api/v1/devices/DEV2/revoke", `{"reason":"lost"}`, map[service.Role]int{"viewer": 403, "analyst": 200, "admin": 400}},
		{"PATCH", "/api/v1/rules/brute", `{"enabled":false}`, map[service.Role]int{"viewer": 403, "analyst": 403, "admin": 200}},
	}
	for _, c := range cases {
		for _, role := range []service.Role{service.RoleViewer, service.RoleAnalyst, service.RoleAdmin} {
			code, body := do(t, ts, string(role), c.method, c.path, c.body)
			if code != c.want[role] {
				t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, role, code, body, c.want[role])
			}
		}
	}
}

func TestListsAPI(t *testing.T) {
	ts, dir := newListsServer(t)
	code, body := do(t, ts, "analyst", "POST", "/api/v1/lists/blocked/entries", `{"value":"2001:db8::/32","expires":"2999-01-01T00:00:00Z"}`)
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	var e service.EntryView
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Value != "2001:db8::/32" || e.By != "u-analyst" {
		t.Fatalf("add answered %s (%v)", body, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "blocked.yaml"))
	if !strings.Contains(string(data), "2001:db8::/32") || !strings.Contains(string(data), "by: u-analyst") {
		t.Fatalf("file not written back:\n%s", data)
	}
	// An escaped slash works too.
	if code, body := do(t, ts, "analyst", "DELETE", "/api/v1/lists/blocked/entries/2001:db8::%2F32", ""); code != 204 {
		t.Fatalf("delete escaped: %d %s", code, body)
	}
	code, body = do(t, ts, "viewer", "GET", "/api/v1/lists/blocked", "")
	var p service.ListPage
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || p.Total != 1 || p.List.Kind != "ip" || p.List.Role != "block" {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/lists/blocked/entries", `{"value":"x","bogus":1}`},
		{"POST", "/api/v1/lists/blocked/entries", `{"value":"not an ip"}`},
		{"GET", "/api/v1/lists/blocked?limit=-1", ""},
		{"PATCH", "/api/v1/lists/blocked/entries/203.0.113.0/24", `{"expires":"tomorrow"}`},
		{"PATCH", "/api/v1/rules/brute", `{}`},
		{"POST", "/api/v1/devices", `{"user":"x"}`},
	} {
		if code, body := do(t, ts, "admin", c.method, c.path, c.body); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s %s: %d %s, want 400", c.method, c.path, c.body, code, body)
		}
	}
	if code, _ := do(t, ts, "viewer", "GET", "/api/v1/lists/nope", ""); code != 404 {
		t.Errorf("unknown list: %d", code)
	}
	if code, _ := do(t, ts, "viewer", "GET", "/api/v1/rules/nope", ""); code != 404 {
		t.Errorf("unknown rule: %d", code)
	}
}

// TestListsAPIAuth: the endpoints answer nobody without authentication.
func TestListsAPIAuth(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(nil, Options{Tokens: []string{token}, Lists: service.NewLists(nil, db, nil), Rules: service.NewRules(&ruleStub{}, db, nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	for _, path := range []string{"/api/v1/lists", "/api/v1/lists/x", "/api/v1/devices", "/api/v1/rules", "/api/v1/rules/brute"} {
		if resp, _ := get(t, ts, path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d", path, resp.StatusCode)
		}
		if resp, body := get(t, ts, path, token); resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("GET %s with a token: %d %s", path, resp.StatusCode, body)
		}
	}
}
