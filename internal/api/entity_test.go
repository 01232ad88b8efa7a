package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// newDashServer serves the API over a store with a user's failed and
// successful logons.
func newDashServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rows []store.Row
	for i := range 6 {
		outcome := "failure"
		if i%3 == 0 {
			outcome = "success"
		}
		rows = append(rows, store.Row{Time: now.Add(-time.Duration(i+1) * time.Minute), Fields: []store.Field{
			{Name: "_msg", Value: "logon"}, {Name: "event.category", Value: "authentication"}, {Name: "event.outcome", Value: outcome},
			{Name: "user.name", Value: "zhangwei"}, {Name: "source.ip", Value: "203.0.113.7"}, {Name: "network.protocol", Value: "imap"},
		}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	searches := search.New(st, search.Limits{}, nil)
	s, err := New(searches, Options{Tokens: []string{token}, Dashboards: service.NewDashboards(searches, service.DashboardOptions{})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func TestEntityAPI(t *testing.T) {
	_, ts := newDashServer(t)
	for _, tc := range []struct {
		path string
		tok  string
		code int
	}{
		{"/api/v1/entities/user/ZhangWei?start=1h", token, 200},
		{"/api/v1/entities/ip/203.0.113.7?tz=Asia/Shanghai", token, 200},
		{"/api/v1/entities/device/PHONE1", token, 200},
		{"/api/v1/entities/user/zhangwei", "", 401},
		{"/api/v1/entities/host/x", token, 400},
		{"/api/v1/entities/ip/300.1.1.1", token, 400},
		{"/api/v1/entities/user/zhangwei?start=yesterday", token, 400},
		{"/api/v1/entities/user/zhangwei?tz=Mars/Base", token, 400},
		{"/api/v1/overview?range=6h&tz=Asia/Shanghai", token, 200},
		{"/api/v1/overview?range=soon", token, 400},
		{"/api/v1/overview?range=1s", token, 400},
		{"/api/v1/overview", "", 401},
	} {
		resp, body := get(t, ts, tc.path, tc.tok)
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.code)
		}
	}
	_, body := get(t, ts, "/api/v1/entities/user/ZhangWei?start=1h", token)
	var e service.EntityPage
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	if e.Value != "zhangwei" || len(e.Timeline.Series) != 1 || e.Timeline.Series[0].TotalFailure != 4 || len(e.Addresses) != 1 {
		t.Errorf("entity %s", body)
	}
	_, body = get(t, ts, "/api/v1/overview?range=6h", token)
	var ov service.Overview
	if err := json.Unmarshal([]byte(body), &ov); err != nil {
		t.Fatal(err)
	}
	if len(ov.TopAccounts) != 1 || ov.TopAccounts[0].Failures != 4 {
		t.Errorf("overview %s", body)
	}
}

// TestDashboardRoles: every role reads the pages; a request without a
// role is refused.
func TestDashboardRoles(t *testing.T) {
	s, _ := newDashServer(t)
	for _, tc := range []struct {
		role service.Role
		code int
	}{{service.RoleAdmin, 200}, {service.RoleAnalyst, 200}, {service.RoleViewer, 200}, {"", 403}} {
		for _, h := range []struct {
			path string
			fn   http.HandlerFunc
		}{{"/api/v1/entities/user/zhangwei", s.entity}, {"/api/v1/overview", s.overview}} {
			req := httptest.NewRequest(http.MethodGet, h.path, nil)
			req.SetPathValue("kind", "user")
			req.SetPathValue("value", "zhangwei")
			req = httpx.WithActor(req, service.Actor{Name: "u", Role: tc.role})
			w := httptest.NewRecorder()
			h.fn(w, req)
			if w.Code != tc.code {
				t.Errorf("%s as %q: %d %s, want %d", h.path, tc.role, w.Code, w.Body, tc.code)
			}
		}
	}
}
