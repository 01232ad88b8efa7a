package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// The actors of the service tests.
var (
	admin   = Actor{Name: "root", Role: RoleAdmin, Via: "api", Remote: "127.0.0.1"}
	analyst = Actor{Name: "ann", Role: RoleAnalyst, Via: "console", Remote: "127.0.0.1"}
	viewer  = Actor{Name: "vic", Role: RoleViewer, Via: "console"}
)

// fixture is a real store with events and alerts and a real state file.
type fixture struct {
	st    *vlstore.Store
	db    *storage.DB
	dir   string
	now   time.Time
	svc   *Alerts
	byKey map[string]*alert.Alert
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// The engine keeps retention by the real clock: times are relative to it.
	now := time.Now().UTC().Truncate(time.Second)
	dir := t.TempDir()
	st, err := vlstore.Open(vlstore.Config{Path: filepath.Join(dir, "store"), Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, dir: dir, now: now, byKey: map[string]*alert.Alert{}}
	f.openDB(t)

	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	// Events: five failures of zhangwei from 203.0.113.5, one of someone else.
	var events []store.Row
	for i := range 5 {
		events = append(events, store.Row{Time: ago(60 - i), Fields: []store.Field{
			{Name: "_msg", Value: "login failed"}, {Name: "user.name", Value: "zhangwei"}, {Name: "source.ip", Value: "203.0.113.5"}}})
	}
	events = append(events, store.Row{Time: ago(58), Fields: []store.Field{
		{Name: "_msg", Value: "login failed"}, {Name: "user.name", Value: "liwei"}, {Name: "source.ip", Value: "192.0.2.1"}}})
	if err := st.Add(events); err != nil {
		t.Fatal(err)
	}
	mk := func(key, rule, level, user, ip string, m int) {
		a := &alert.Alert{ID: alert.MakeID(rule, key, uint64(m)), RuleID: rule, RuleTitle: "Rule " + rule, Level: level, Type: "threshold",
			TS: ago(m), First: ago(m + 5), Last: ago(m), User: user, SrcIP: ip, Count: 5, Message: rule + " fired"}
		switch {
		case user != "" && ip != "":
			a.Group = "user.name=" + user + " source.ip=" + ip
		case ip != "":
			a.Group = "source.ip=" + ip
		}
		f.byKey[key] = a
	}
	mk("brute", "brute-force", alert.LevelMedium, "zhangwei", "203.0.113.5", 56)
	mk("lockout", "lockout", alert.LevelHigh, "zhangwei", "", 50)
	mk("country", "new-country", alert.LevelCritical, "zhangwei", "203.0.113.5", 40)
	mk("other", "brute-force", alert.LevelMedium, "", "192.0.2.1", 30)
	mk("old", "brute-force", alert.LevelLow, "", "198.51.100.1", 3*24*60)
	var rows []store.Row
	for _, a := range f.byKey {
		rows = append(rows, a.Row())
	}
	if err := st.AddAlerts(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	return f
}

// openDB (re)opens the state file and the service over it.
func (f *fixture) openDB(t *testing.T) {
	t.Helper()
	db, err := storage.Open(filepath.Join(f.dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.svc = NewAlerts(f.st, db, AlertsOptions{Now: func() time.Time { return f.now }})
}

func ptr(s string) *string { return &s }

func ids(items []AlertItem) string {
	var s []string
	for _, it := range items {
		s = append(s, it.Alert.RuleID)
	}
	return strings.Join(s, ",")
}

func TestAlertList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		filter AlertFilter
		want   string // rule ids in order
	}{
		{"default: last 24h by level then time", AlertFilter{}, "new-country,lockout,brute-force,brute-force"},
		{"level", AlertFilter{Level: []string{"medium", "high"}}, "lockout,brute-force,brute-force"},
		{"rule", AlertFilter{Rule: "lockout"}, "lockout"},
		{"user", AlertFilter{User: "zhangwei"}, "new-country,lockout,brute-force"},
		{"source", AlertFilter{Source: "192.0.2.1"}, "brute-force"},
		{"quotes are data", AlertFilter{User: `zhangwei" OR *`}, ""},
		{"range", AlertFilter{Start: f.now.Add(-4 * 24 * time.Hour), End: f.now.Add(-2 * 24 * time.Hour)}, "brute-force"},
		{"status new", AlertFilter{Status: []string{"new"}}, "new-country,lockout,brute-force,brute-force"},
		{"paged", AlertFilter{Offset: 1, Limit: 2}, "lockout,brute-force"},
	}
	for _, tt := range tests {
		p, err := f.svc.List(ctx, viewer, tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := ids(p.Alerts); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	for _, bad := range []AlertFilter{{Status: []string{"closed"}}, {Level: []string{"severe"}}, {Limit: 501}, {Start: f.now, End: f.now.Add(-time.Hour)}} {
		if _, err := f.svc.List(ctx, viewer, bad); !IsInvalid(err) {
			t.Errorf("List(%+v) = %v, want an invalid request", bad, err)
		}
	}
}

// TestTriageDurable: a status change survives reopening the state file,
// is audited in its transaction, and only triage roles may make it.
func TestTriageDurable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.byKey["lockout"].ID
	if _, err := f.svc.Update(ctx, viewer, id, AlertChange{Status: ptr("acknowledged")}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("viewer update: %v, want forbidden", err)
	}
	for _, bad := range []AlertChange{{}, {Status: ptr("closed")}, {Assignee: ptr(strings.Repeat("x", 65))}, {Comment: strings.Repeat("x", 4001)}} {
		if _, err := f.svc.Update(ctx, analyst, id, bad); !IsInvalid(err) {
			t.Errorf("update %+v: %v, want invalid", bad, err)
		}
	}
	if _, err := f.svc.Update(ctx, analyst, "0123456789abcdef01234567", AlertChange{Status: ptr("resolved")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown alert: %v", err)
	}
	if _, err := f.svc.Update(ctx, analyst, "../../x", AlertChange{Status: ptr("resolved")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a malformed id: %v", err)
	}
	it, err := f.svc.Update(ctx, analyst, id, AlertChange{Status: ptr("acknowledged"), Assignee: ptr("ann"), Comment: "looking"})
	if err != nil {
		t.Fatal(err)
	}
	if it.Status != "acknowledged" || it.Assignee != "ann" || len(it.Comments) != 1 || it.Comments[0].Author != "ann" || !it.Comments[0].Time.Equal(f.now) {
		t.Fatalf("after update: %+v", it)
	}
	f.now = f.now.Add(time.Minute)
	if _, err := f.svc.Update(ctx, admin, id, AlertChange{Comment: "a phone with an old password"}); err != nil {
		t.Fatal(err)
	}

	// Reopen the state file: the triage state is still there.
	f.db.Close()
	f.openDB(t)
	d, err := f.svc.Get(ctx, viewer, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "acknowledged" || d.Assignee != "ann" || len(d.Comments) != 2 || d.Comments[1].Author != "root" || d.UpdatedBy != "root" {
		t.Fatalf("after reopen: %+v", d.AlertItem)
	}
	p, err := f.svc.List(ctx, viewer, AlertFilter{Status: []string{"acknowledged"}})
	if err != nil || ids(p.Alerts) != "lockout" {
		t.Fatalf("acknowledged alerts: %v %v", p, err)
	}
	audit, err := f.db.Audit(storage.AuditFilter{Action: "alert."})
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	if a := audit[1]; a.Actor != "ann" || a.Role != "analyst" || a.Via != "console" || a.Target != "alert "+id ||
		!strings.Contains(a.Detail, "status new -> acknowledged") || !strings.Contains(a.Detail, `comment "looking"`) {
		t.Errorf("audit entry: %+v", a)
	}
}

func TestAlertDetail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.byKey["brute"]
	d, err := f.svc.Get(ctx, viewer, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Its group's events in [first, last]: zhangwei from 203.0.113.5,
	// minutes 61..56 ago -> the five at 60..56 (and not liwei's).
	if len(d.Events) != 5 || d.EventsTruncated {
		t.Fatalf("events: %d %v: %v", len(d.Events), d.EventsTruncated, d.Events)
	}
	for _, e := range d.Events {
		if e.Get("user.name") != "zhangwei" {
			t.Errorf("event of another group: %v", e)
		}
	}
	if d.Search.Query != `"user.name":="zhangwei" "source.ip":="203.0.113.5"` || !d.Search.Start.Equal(a.First.Add(-15*time.Minute)) {
		t.Errorf("search link: %+v", d.Search)
	}
	if d.Incident != a.ID || d.Status != "new" {
		t.Errorf("incident %q status %q", d.Incident, d.Status)
	}
	if _, err := f.svc.Get(ctx, viewer, "ffffffffffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown alert: %v", err)
	}
	// Only events, never the alert itself, count as its events.
	f.svc.opts.MaxEvents = 2
	if d, err = f.svc.Get(ctx, viewer, a.ID); err != nil || len(d.Events) != 2 || !d.EventsTruncated {
		t.Errorf("bounded events: %d %v %v", len(d.Events), d.EventsTruncated, err)
	}
}

func TestIncidents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.svc.Incidents(ctx, viewer, IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// zhangwei's three alerts are one incident (critical); 192.0.2.1's
	// is another; the three-day-old one is outside the default range.
	if p.Total != 2 || len(p.Incidents[0].Timeline) != 0 {
		t.Fatalf("incidents: %+v", p)
	}
	in := p.Incidents[0]
	if in.ID != f.byKey["brute"].ID || in.Level != "critical" || in.Alerts != 3 || in.Events != 15 || in.Status != "new" ||
		len(in.Rules) != 3 || len(in.Entities) != 2 || in.Entities[0] != (Entity{EntityUser, "zhangwei"}) {
		t.Fatalf("zhangwei's incident: %+v", in)
	}
	if p, err = f.svc.Incidents(ctx, viewer, IncidentFilter{Source: "192.0.2.1"}); err != nil || p.Total != 1 || p.Incidents[0].Level != "medium" {
		t.Fatalf("by source: %+v %v", p, err)
	}

	// Any of its alert ids finds the incident, with its timeline.
	got, err := f.svc.Incident(ctx, viewer, f.byKey["country"].ID)
	if err != nil || got.ID != in.ID || len(got.Timeline) != 3 || got.Timeline[0].Alert.RuleID != "brute-force" {
		t.Fatalf("incident: %+v %v", got, err)
	}

	if _, err := f.svc.UpdateIncident(ctx, viewer, in.ID, AlertChange{Status: ptr("resolved")}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("viewer: %v", err)
	}
	// Acknowledging one alert: the incident is still new while others are.
	if _, err := f.svc.Update(ctx, analyst, f.byKey["lockout"].ID, AlertChange{Status: ptr("acknowledged")}); err != nil {
		t.Fatal(err)
	}
	if got, _ = f.svc.Incident(ctx, viewer, in.ID); got.Status != "new" || got.Statuses["acknowledged"] != 1 {
		t.Fatalf("after one ack: %s %v", got.Status, got.Statuses)
	}
	// Resolving the incident resolves each of its alerts, audited.
	got, err = f.svc.UpdateIncident(ctx, analyst, in.ID, AlertChange{Status: ptr("resolved"), Assignee: ptr("ann"), Comment: "phone"})
	if err != nil || got.Status != "resolved" || got.Assignee != "ann" || got.Statuses["resolved"] != 3 {
		t.Fatalf("after resolve: %+v %v", got, err)
	}
	f.db.Close()
	f.openDB(t)
	if got, _ = f.svc.Incident(ctx, viewer, in.ID); got.Status != "resolved" || len(got.Timeline[2].Comments) != 1 {
		t.Fatalf("after reopen: %+v", got)
	}
	if p, _ = f.svc.Incidents(ctx, viewer, IncidentFilter{Status: []string{"new"}}); p.Total != 1 {
		t.Errorf("new incidents: %d, want 1", p.Total)
	}
	audit, _ := f.db.Audit(storage.AuditFilter{})
	if len(audit) != 5 || audit[0].Action != "incident.update" || audit[0].Target != "incident "+in.ID {
		t.Errorf("audit: %+v", audit)
	}
}
