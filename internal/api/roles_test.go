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
	err = db.Update(func(tx *storage.Tx) error {
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
	sessions := auth.NewSessions(db, auth.Options{})
	s, err := New(st, Options{
		Tokens:      []string{token},
		Sessions:    sessions,
		MetricsAuth: metricsAuth,
		Gatherer:    prometheus.NewRegistry(),
		Status:      func() any { return map[string]string{"ok": "yes"} },
		Debug:       true,
		Console:     http.NotFoundHandler(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, sessions
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
