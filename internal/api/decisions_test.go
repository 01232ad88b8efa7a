package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/httpx/httpxtest"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

func newDecisionsAPI(t *testing.T) (*Server, *storage.DB) {
	t.Helper()
	st, err := decision.Open(context.Background(), decision.Options{Policy: decision.Policy{Enabled: true}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Server{log: slog.New(slog.DiscardHandler), mux: httpx.NewMux(asRole), opts: Options{
		Decisions: service.NewDecisions(st, db),
	}}
	s.routeDecisions()
	return s, db
}

// TestDecisionsRoutesRoles: no route answers without credentials; each
// role is refused exactly where its permission is missing.
func TestDecisionsRoutesRoles(t *testing.T) {
	s, _ := newDecisionsAPI(t)
	if n := len(s.mux.Routes()); n != 3 {
		t.Fatalf("%d routes", n)
	}
	httpxtest.Check(t, httpxtest.Roles{
		Handler:   s.mux,
		Routes:    s.mux.Routes(),
		Anonymous: func(resp *http.Response) bool { return resp.StatusCode == http.StatusUnauthorized },
		As:        func(_ *testing.T, req *http.Request, role service.Role) { req.Header.Set("X-Test-Role", string(role)) },
	})
}

func TestDecisionsAPI(t *testing.T) {
	s, db := newDecisionsAPI(t)
	ts := httptest.NewServer(s.mux)
	t.Cleanup(ts.Close)
	steps := []struct {
		role, method, path, body string
		want                     int
	}{
		{"viewer", "POST", "/api/v1/decisions", `{"scope":"ip","value":"203.0.113.7","duration":"1h"}`, 403},
		{"analyst", "POST", "/api/v1/decisions", `{"scope":"ip","value":"203.0.113.7","duration":"1h","reason":"brute force"}`, 201},
		{"analyst", "POST", "/api/v1/decisions", `{"scope":"ip","value":"127.0.0.1","duration":"1h"}`, 400},
		{"analyst", "POST", "/api/v1/decisions", `{"scope":"ip","value":"203.0.113.8"}`, 400},
		{"analyst", "POST", "/api/v1/decisions", `{"scope":"ip","value":"203.0.113.8","duration":"1h","colour":"red"}`, 400},
		{"admin", "POST", "/api/v1/decisions", `{"scope":"device","value":"ApplLOST1","type":"ban","duration":"7d"}`, 201},
		{"viewer", "GET", "/api/v1/decisions?ip=203.0.113.7", "", 200},
		{"viewer", "GET", "/api/v1/decisions?state=bogus", "", 400},
		{"viewer", "DELETE", "/api/v1/decisions/1", "", 403},
		{"analyst", "DELETE", "/api/v1/decisions/x", "", 400},
		{"analyst", "DELETE", "/api/v1/decisions/99", "", 404},
		{"analyst", "DELETE", "/api/v1/decisions/1", "", 204},
		{"analyst", "DELETE", "/api/v1/decisions/1", "", 404},
	}
	for _, st := range steps {
		if code, body := do(t, ts, st.role, st.method, st.path, st.body); code != st.want {
			t.Errorf("%s %s %s as %s = %d %s, want %d", st.method, st.path, st.body, st.role, code, body, st.want)
		}
	}
	code, body := do(t, ts, "viewer", "GET", "/api/v1/decisions?state=all", "")
	var got struct {
		Decisions []struct {
			ID     int64  `json:"id"`
			Scope  string `json:"scope"`
			Value  string `json:"value"`
			Origin string `json:"origin"`
			State  string `json:"state"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("list: %d %s %v", code, body, err)
	}
	if len(got.Decisions) != 2 || got.Decisions[0].Scope != "device" || got.Decisions[1].State != "deleted" ||
		got.Decisions[1].Origin != "operator:u-analyst" {
		t.Errorf("list %s", body)
	}
	if _, body := do(t, ts, "viewer", "GET", "/api/v1/decisions?scope=ip", ""); body != `{"decisions":[]}`+"\n" {
		t.Errorf("no active ip decision: %q", body)
	}
	au, _ := db.Audit(storage.AuditFilter{Action: "decision."})
	if len(au) != 3 {
		t.Errorf("%d audit entries, want 3 (two adds, one delete)", len(au))
	}
}
