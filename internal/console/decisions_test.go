package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/service"
)

// newDecisionsConsole is the test console with the decision service over
// an in-memory store on the console's clock, enforcement off, and one
// bouncer.
func newDecisionsConsole(t *testing.T) (*testConsole, *decision.Store) {
	t.Helper()
	tc := newTestConsole(t)
	st, err := decision.Open(context.Background(), decision.Options{Now: tc.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs := service.NewBouncers(tc.db, tc.clock.Now)
	if _, err := bs.Add(context.Background(), service.Actor{Name: "ann", Role: service.RoleAdmin, Via: "cli"}, "fw-edge"); err != nil {
		t.Fatal(err)
	}
	o := tc.Console.o
	o.Decisions = service.NewDecisions(st, tc.db)
	o.Bouncers = bs
	o.Registerer = nil
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tc.Console = c
	return tc, st
}

func TestDecisionsRoutesRoles(t *testing.T) {
	tc, _ := newDecisionsConsole(t)
	n := 0
	for _, r := range tc.Routes() {
		if strings.Contains(r.Pattern, "/decisions") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d decision routes, want 3", n)
	}
	checkRoutesRoles(t, tc)
}

func TestDecisionsPage(t *testing.T) {
	tc, st := newDecisionsConsole(t)
	ctx := context.Background()
	// A rule's ban, recorded as dry run (enforcement is off).
	if _, err := st.Add(ctx, decision.Decision{Scope: decision.ScopeIP, Value: "203.0.113.7", Origin: "rule:brute-force-source",
		Alert: "a1", Reason: "25 failed logins", Until: tc.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	resp, body := page(t, tc, service.RoleViewer, "/decisions")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /decisions: %d", resp.StatusCode)
	}
	for _, want := range []string{"203.0.113.7", `href="/rules/brute-force-source"`, `href="/alerts/a1"`, "dry run", "enforce.enabled: false", "25 failed logins"} {
		if !strings.Contains(body, want) {
			t.Errorf("viewer's page lacks %q", want)
		}
	}
	if strings.Contains(body, `action="/decisions`) || strings.Contains(body, "fw-edge") {
		t.Error("a viewer gets change forms or the bouncers")
	}

	// An analyst bans a user for 2 hours; the refusal of a private
	// address comes back with the form.
	resp, _ = form(t, tc, service.RoleAnalyst, "/decisions", url.Values{"scope": {"user"}, "value": {`CORP\Mallory`}, "type": {"ban"}, "duration": {"2h"}, "reason": {"phished"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/decisions" {
		t.Fatalf("add: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = form(t, tc, service.RoleAnalyst, "/decisions", url.Values{"scope": {"ip"}, "value": {"10.1.2.3"}, "type": {"ban"}, "duration": {"1h"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "private") || !strings.Contains(body, `value="10.1.2.3"`) {
		t.Errorf("private address: %d, want 400 with the reason and the form", resp.StatusCode)
	}
	act := st.Active(tc.clock.Now())
	if len(act) != 1 || act[0].Value != "mallory" || act[0].Origin != "operator:bob" || !act[0].Until.Equal(tc.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("active after the add: %+v", act)
	}

	// Filters: by address (its ip decisions), by scope and value, by state.
	for _, c := range []struct{ query, want, not string }{
		{"?value=203.0.113.7", "203.0.113.7", "mallory"},
		{"?scope=user&value=MALLORY", "mallory", "203.0.113.7"},
		{"?state=active", "mallory", "203.0.113.7"},
		{"?state=deleted", "No decisions match.", "mallory"},
	} {
		_, body = page(t, tc, service.RoleViewer, "/decisions"+c.query)
		if !strings.Contains(body, c.want) || strings.Contains(body, c.not) {
			t.Errorf("/decisions%s: want %q, not %q", c.query, c.want, c.not)
		}
	}
	if resp, body = page(t, tc, service.RoleViewer, "/decisions?state=bogus"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "bogus") {
		t.Errorf("bad state: %d", resp.StatusCode)
	}

	// The analyst deletes the ban; it stays in the history.
	resp, _ = form(t, tc, service.RoleAnalyst, "/decisions/"+strconv.FormatInt(act[0].ID, 10)+"/delete", url.Values{"next": {"/decisions?state=all"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/decisions?state=all" {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(st.Active(tc.clock.Now())) != 0 {
		t.Error("the ban is still active")
	}
	_, body = page(t, tc, service.RoleViewer, "/decisions?state=deleted")
	if !strings.Contains(body, "mallory") || !strings.Contains(body, "deleted") || !strings.Contains(body, "operator:bob") {
		t.Error("the deleted ban is not in the history")
	}
	if resp, _ = form(t, tc, service.RoleAnalyst, "/decisions/"+strconv.FormatInt(act[0].ID, 10)+"/delete", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting twice: %d, want 404", resp.StatusCode)
	}

	// Admins see the bouncers; the page in Chinese.
	_, body = page(t, tc, service.RoleAdmin, "/decisions")
	if !strings.Contains(body, "fw-edge") || !strings.Contains(body, "vigil bouncers add NAME") {
		t.Error("an admin does not see the bouncers")
	}
	code, body := tc.dashGet(t, "/decisions", "zh-CN")
	if code != http.StatusOK || !strings.Contains(body, "<h1>处置决策</h1>") {
		t.Errorf("zh-CN page: %d", code)
	}
}
