package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/httpx/httpxtest"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// sessionServer is an API with sessions over a real state file, with one
// user per role (named after the role).
func sessionServer(t *testing.T, metricsAuth bool) (*Server, *auth.Sessions) {
	t.Helper()
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	putRoleUsers(t, db)
	sessions := auth.NewSessions(db, auth.Options{})
	s, err := New(st, Options{
		Tokens:      []string{token},
		Sessions:    sessions,
		MetricsAuth: metricsAuth,
		Gatherer:    prometheus.NewRegistry(),
		Status:      func() any { return map[string]string{"ok": "yes"} },
		Debug:       true,
		Console:     http.NotFoundHandler(),
		Alerts:      service.NewAlerts(st, db, service.AlertsOptions{}),
		Users:       service.NewUsers(db, auth.Passwords{}, nil),
		Bouncers:    service.NewBouncers(db, nil),
		Audit:       service.NewAudit(db),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, sessions
}

// putRoleUsers adds one user per role, named after the role.
func putRoleUsers(t *testing.T, db *storage.DB) {
	t.Helper()
	err := db.Update(func(tx *storage.Tx) error {
		for _, r := range service.Roles {
			if err := tx.PutUser(&storage.User{Name: string(r), Role: string(r), Hash: "-"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoutesRoles(t *testing.T) {
	for _, metricsAuth := range []bool{false, true} {
		s, sessions := sessionServer(t, metricsAuth)
		public := []string{"GET /healthz", "/"}
		if !metricsAuth {
			public = append(public, "GET /metrics")
		}
		httpxtest.Check(t, httpxtest.Roles{
			Handler: s,
			Routes:  s.Routes(),
			Public:  public,
			Anonymous: func(resp *http.Response) bool {
				return resp.StatusCode == http.StatusUnauthorized
			},
			As: func(t *testing.T, req *http.Request, role service.Role) {
				id, ident, err := sessions.Start(string(role), "")
				if err != nil {
					t.Fatal(err)
				}
				req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
				req.Header.Set("X-CSRF-Token", ident.Session.CSRF)
			},
		})
	}
}

func TestSessionAuth(t *testing.T) {
	s, sessions := sessionServer(t, false)
	id, ident, err := sessions.Start("analyst", "")
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, csrf, origin string, bearer bool) (int, string) {
		req := httptest.NewRequest(method, path, nil)
		req.Host = "127.0.0.1:8514"
		if bearer {
			req.Header.Set("Authorization", "Bearer "+token)
		} else {
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b)
	}
	if code, body := do("GET", "/api/v1/session", "", "", false); code != 200 ||
		!strings.Contains(body, `"name":"analyst"`) || !strings.Contains(body, `"csrf":"`+ident.Session.CSRF+`"`) {
		t.Errorf("session: %d %s", code, body)
	}
	if code, body := do("GET", "/api/v1/session", "", "", true); code != 200 || !strings.Contains(body, `"via":"token"`) || strings.Contains(body, "csrf") {
		t.Errorf("session with a token: %d %s", code, body)
	}
	// A change with the cookie needs the header; a token does not.
	if code, body := do("POST", "/api/v1/nothing", "", "", false); code != 403 || !strings.Contains(body, "X-CSRF-Token") {
		t.Errorf("POST without CSRF: %d %s", code, body)
	}
	if code, _ := do("POST", "/api/v1/nothing", ident.Session.CSRF, "", false); code != 404 {
		t.Errorf("POST with CSRF: %d, want 404", code)
	}
	if code, _ := do("POST", "/api/v1/nothing", "", "", true); code != 404 {
		t.Errorf("POST with a token: %d, want 404", code)
	}
	// Cross-origin browser changes are refused before anything else.
	if code, _ := do("POST", "/api/v1/nothing", ident.Session.CSRF, "https://evil.example", false); code != 403 {
		t.Errorf("cross-origin POST: %d, want 403", code)
	}
}

func TestUsersAPI(t *testing.T) {
	s, _ := sessionServer(t, false)
	do := func(method, path, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Host = "127.0.0.1"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v1/users", `{"name":"dora","role":"analyst","password":"password-dora"}`, 201, `"name":"dora","role":"analyst"`},
		{"POST", "/api/v1/users", `{"name":"dora","role":"analyst","password":"password-dora"}`, 400, `exists already`},
		{"POST", "/api/v1/users", `{"name":"eve","role":"analyst","password":"short"}`, 400, `at least 8 characters`},
		{"POST", "/api/v1/users", `{"name":"eve","bogus":1}`, 400, `unknown field`},
		{"PATCH", "/api/v1/users/dora", `{"role":"viewer"}`, 200, `"role":"viewer"`},
		{"PATCH", "/api/v1/users/dora", `{"password":"password-new"}`, 200, `"name":"dora"`},
		{"PATCH", "/api/v1/users/nobody", `{"role":"viewer"}`, 404, `nobody`},
		{"GET", "/api/v1/users", ``, 200, `"name":"dora"`},
		{"DELETE", "/api/v1/users/dora", ``, 204, ``},
		{"DELETE", "/api/v1/users/dora", ``, 404, ``},
		{"GET", "/api/v1/audit?limit=2", ``, 200, `"action":"user.delete","target":"user dora"`},
		{"GET", "/api/v1/audit?actor=token&action=user.&limit=2", ``, 200, `"next":3`},
		{"GET", "/api/v1/audit?limit=100000", ``, 400, `limit`},
	} {
		code, body := do(c.method, c.path, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, code, body, c.code, c.want)
		}
	}
}
