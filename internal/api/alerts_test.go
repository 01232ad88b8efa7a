package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// alertServer is an API over a real store holding two alerts about
// zhangwei (one incident) and a real state file.
func alertServer(t *testing.T) (*Server, *storage.DB, []*alert.Alert) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second) // the engine's retention runs on the real clock
	dir := t.TempDir()
	st, err := vlstore.Open(vlstore.Config{Path: filepath.Join(dir, "store"), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := storage.Open(filepath.Join(dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var alerts []*alert.Alert
	for i, rule := range []string{"brute-force", "lockout"} {
		ts := now.Add(time.Duration(i-10) * time.Minute)
		alerts = append(alerts, &alert.Alert{ID: alert.MakeID(rule, "user.name=zhangwei", 1), RuleID: rule, Level: alert.LevelHigh,
			TS: ts, First: ts.Add(-time.Minute), Last: ts, User: "zhangwei", Group: "user.name=zhangwei", Count: 3, Message: rule})
	}
	if err := st.AddAlerts([]store.Row{alerts[0].Row(), alerts[1].Row()}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	putRoleUsers(t, db)
	clock := func() time.Time { return now }
	s, err := New(st, Options{Tokens: []string{token}, Now: clock, Sessions: auth.NewSessions(db, auth.Options{}),
		Alerts: service.NewAlerts(st, db, service.AlertsOptions{Now: clock})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, db, alerts
}

// TestAlertsRoles: every role reads; only analyst and admin triage.
func TestAlertsRoles(t *testing.T) {
	s, db, alerts := alertServer(t)
	id := alerts[0].ID
	tests := []struct {
		role   service.Role
		method string
		path   string
		body   string
		code   int
		want   string
	}{
		{service.RoleViewer, "GET", "/api/v1/alerts", "", 200, `"total":2`},
		{service.RoleViewer, "GET", "/api/v1/alerts?level=high,critical&user=zhangwei&start=1h", "", 200, `"total":2`},
		{service.RoleViewer, "GET", "/api/v1/alerts?status=closed", "", 400, "status"},
		{service.RoleViewer, "GET", "/api/v1/alerts?start=soon", "", 400, "start"},
		{service.RoleViewer, "GET", "/api/v1/alerts/" + id, "", 200, `"events":[]`},
		{service.RoleViewer, "GET", "/api/v1/alerts/ffff", "", 404, "not found"},
		{service.RoleViewer, "PATCH", "/api/v1/alerts/" + id, `{"status":"acknowledged"}`, 403, "triage"},
		{service.RoleViewer, "GET", "/api/v1/incidents", "", 200, `"total":1`},
		{service.RoleViewer, "GET", "/api/v1/incidents/" + id, "", 200, `"timeline"`},
		{service.RoleViewer, "PATCH", "/api/v1/incidents/" + id, `{"status":"resolved"}`, 403, "triage"},
		{service.RoleAnalyst, "PATCH", "/api/v1/alerts/" + id, `{"status":"acknowledged","assignee":"ann","comment":"mine"}`, 200, `"status":"acknowledged"`},
		{service.RoleAnalyst, "PATCH", "/api/v1/alerts/" + id, `{"status":"closed"}`, 400, "status"},
		{service.RoleAnalyst, "PATCH", "/api/v1/alerts/" + id, `{"state":"closed"}`, 400, "unknown field"},
		{service.RoleAnalyst, "PATCH", "/api/v1/alerts/" + id, ``, 400, "empty body"},
		{service.RoleAnalyst, "PATCH", "/api/v1/alerts/" + id, `{}`, 400, "nothing to change"},
		{service.RoleAdmin, "PATCH", "/api/v1/incidents/" + id, `{"status":"resolved"}`, 200, `"status":"resolved"`},
		{service.RoleAnalyst, "GET", "/api/v1/alerts?status=resolved", "", 200, `"total":2`},
	}
	for _, tt := range tests {
		// A console session of a user with the role, as the browser sends it.
		id, ident, err := s.opts.Sessions.Start(string(tt.role), "")
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		req.Host = "127.0.0.1:8514"
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
		req.Header.Set("X-CSRF-Token", ident.Session.CSRF)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s %s %s as %s: %d %s; want %d with %q", tt.method, tt.path, tt.body, tt.role, w.Code, w.Body, tt.code, tt.want)
		}
	}
	audit, err := db.Audit(storage.AuditFilter{})
	if err != nil || len(audit) != 4 || audit[0].Action != "incident.update" || audit[3].Actor != "analyst" || audit[3].Via != "api" {
		t.Errorf("audit: %+v %v", audit, err)
	}
}

// TestAlertsAuth: the routes need a token (which acts as admin).
func TestAlertsAuth(t *testing.T) {
	s, _, alerts := alertServer(t)
	ts := httptest.NewServer(s)
	defer ts.Close()
	for _, path := range []string{"/api/v1/alerts", "/api/v1/alerts/" + alerts[0].ID, "/api/v1/incidents", "/api/v1/incidents/" + alerts[0].ID} {
		if resp, _ := get(t, ts, path, ""); resp.StatusCode != 401 {
			t.Errorf("GET %s without a token: %d", path, resp.StatusCode)
		}
	}
	resp, body := get(t, ts, "/api/v1/alerts/"+alerts[1].ID, token)
	var d service.AlertDetail
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &d) != nil || d.Alert.RuleID != "lockout" || d.Status != "new" ||
		d.Incident != alerts[0].ID || !strings.Contains(body, `"alert.id":"`+alerts[1].ID+`"`) {
		t.Errorf("GET alert: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("PATCH", ts.URL+"/api/v1/alerts/"+alerts[1].ID, strings.NewReader(`{"status":"false_positive"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Errorf("PATCH with the token: %v %v", r2, err)
	}
}
