package service

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/storage"
)

// fakeEngine stands in for the detector (tested in package detect): a
// fixed pack whose states follow SetEnabled.
type fakeEngine struct {
	rules []PackRule
	set   []map[string]bool
}

func (e *fakeEngine) Pack() ([]PackRule, []string, time.Time) {
	return e.rules, []string{"/etc/vigil/rules/bad.yaml: rule bad: when: unknown name x", "/other.yaml: broken"}, testNow
}

func (e *fakeEngine) RuleStats() map[string]RuleStats {
	return map[string]RuleStats{"brute": {Hits: 12, Alerts: 2, LastAlert: testNow}}
}

func (e *fakeEngine) SetEnabled(m map[string]bool) {
	e.set = append(e.set, m)
	for i := range e.rules {
		if on, ok := m[e.rules[i].ID]; ok {
			e.rules[i].Enabled, e.rules[i].State = on, StateOverride
		}
	}
}

func TestRules(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := &fakeEngine{rules: []PackRule{
		{ID: "brute", Title: "Brute force", Level: "high", File: "brute.yaml", Source: "id: brute\n", Enabled: true,
			Translations: map[string]RuleText{"zh-CN": {Title: "暴力破解", Description: "多次登录失败"}}},
		{ID: "bad", Title: "Bad", File: "/etc/vigil/rules/bad.yaml", Enabled: true},
	}}
	clk := newClock(testNow)
	svc := NewRules(eng, db, clk.fn())
	ctx := context.Background()

	p, err := svc.Pack(ctx, viewer)
	if err != nil || len(p.Rules) != 2 || len(p.Errors) != 2 || p.Rules[0].Stats.Hits != 12 || p.Rules[0].Source != "" {
		t.Fatalf("pack %+v, %v", p, err)
	}
	if len(p.Rules[1].Errors) != 1 || len(p.Rules[0].Errors) != 0 {
		t.Fatalf("errors by rule: %+v", p.Rules)
	}
	r, err := svc.Rule(ctx, viewer, "brute")
	if err != nil || r.Source != "id: brute\n" || r.Stats.Alerts != 2 {
		t.Fatalf("rule %+v, %v", r, err)
	}
	if zh := r.In("zh-CN"); zh.Title != "暴力破解" || zh.Description != "多次登录失败" || r.In("en").Title != "Brute force" {
		t.Fatalf("rule texts: %+v, %+v", zh, r.In("en"))
	}
	titles, err := svc.Titles(viewer, "zh-CN")
	if err != nil || titles["brute"] != "暴力破解" || titles["bad"] != "Bad" {
		t.Fatalf("titles in zh-CN: %v %v", titles, err)
	}
	if _, err := svc.Titles(Actor{}, "en"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("titles without a role: %v", err)
	}
	if _, err := svc.Rule(ctx, viewer, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown rule = %v", err)
	}
	for _, a := range []Actor{viewer, analyst} {
		if _, err := svc.SetEnabled(ctx, a, "brute", false); !errors.Is(err, ErrForbidden) {
			t.Fatalf("%s disables = %v", a.Role, err)
		}
	}
	if _, err := svc.SetEnabled(ctx, admin, "nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable unknown = %v", err)
	}
	clk.add(time.Minute)
	r, err = svc.SetEnabled(ctx, admin, "brute", false)
	if err != nil || r.Enabled || r.State != StateOverride || r.ChangedBy != "root" || !r.ChangedAt.Equal(testNow.Add(time.Minute)) {
		t.Fatalf("disabled %+v, %v", r, err)
	}
	if len(eng.set) != 1 || eng.set[0]["brute"] {
		t.Fatalf("engine got %v", eng.set)
	}
	// Durable: the state store has it, for the next start.
	states, err := db.RuleStates()
	if err != nil || states["brute"].Enabled || states["brute"].By != "root" {
		t.Fatalf("stored %+v, %v", states, err)
	}
	au, _ := db.Audit(storage.AuditFilter{})
	if len(au) != 1 || au[0].Action != "rule.disable" || au[0].Target != "rule brute" {
		t.Fatalf("audit %+v", au)
	}
	if _, err := svc.SetEnabled(ctx, admin, "brute", true); err != nil {
		t.Fatal(err)
	}
	if o := Overrides(mustStates(t, db)); len(o) != 1 || !o["brute"] {
		t.Fatalf("overrides %v", o)
	}
}

func mustStates(t *testing.T, db *storage.DB) map[string]storage.RuleState {
	t.Helper()
	s, err := db.RuleStates()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
