package service

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/storage"
)

func newDecisionService(t *testing.T) (*Decisions, *storage.DB, *clock) {
	t.Helper()
	clk := newClock(testNow)
	st, err := decision.Open(context.Background(), decision.Options{Policy: decision.Policy{Enabled: true}, Now: clk.fn(), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := storage.Open(filepath.Join(t.TempDir(), storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewDecisions(st, db), db, clk
}

func TestDecisionsService(t *testing.T) {
	ctx := context.Background()
	svc, db, clk := newDecisionService(t)
	if _, err := svc.Add(ctx, viewer, DecisionInput{Scope: "ip", Value: "203.0.113.7", Duration: "1h"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("viewer add = %v, want forbidden", err)
	}
	invalid := []DecisionInput{
		{Scope: "ip", Value: "203.0.113.7"},                                                // no duration
		{Scope: "ip", Value: "203.0.113.7", Duration: "1h", Until: testNow.Add(time.Hour)}, // both
		{Scope: "ip", Value: "203.0.113.7", Duration: "soon"},
		{Scope: "ip", Value: "10.0.0.1", Duration: "1h"}, // private: refused by the policy
		{Scope: "planet", Value: "mars", Duration: "1h"},
	}
	for _, in := range invalid {
		if _, err := svc.Add(ctx, analyst, in); !IsInvalid(err) {
			t.Errorf("Add(%+v) = %v, want an invalid request", in, err)
		}
	}
	d, err := svc.Add(ctx, analyst, DecisionInput{Scope: "user", Value: `CORP\Mallory`, Duration: "2d", Reason: "phished"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Value != "mallory" || d.Origin != "operator:"+analyst.Name || !d.Until.Equal(testNow.Add(48*time.Hour)) || d.State != decision.StateActive {
		t.Errorf("added %+v", d)
	}
	if _, err := svc.Add(ctx, analyst, DecisionInput{Scope: "ip", Value: "203.0.113.7", Until: testNow.Add(time.Hour), DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.List(ctx, viewer, DecisionQuery{}); err != nil || len(got) != 2 {
		t.Errorf("List = %d, %v; want 2", len(got), err)
	}
	if got, _ := svc.List(ctx, viewer, DecisionQuery{Scope: "user", Value: "MALLORY"}); len(got) != 1 {
		t.Errorf("List by user = %d, want 1", len(got))
	}
	if _, err := svc.List(ctx, viewer, DecisionQuery{States: []string{"gone"}}); !IsInvalid(err) {
		t.Errorf("bad state = %v", err)
	}
	if err := svc.Delete(ctx, viewer, d.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("viewer delete = %v", err)
	}
	if err := svc.Delete(ctx, analyst, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete unknown = %v", err)
	}
	clk.add(time.Minute)
	if err := svc.Delete(ctx, analyst, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, analyst, d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
	got, _ := svc.List(ctx, viewer, DecisionQuery{States: []string{"deleted"}})
	if len(got) != 1 || got[0].DeletedBy != "operator:"+analyst.Name {
		t.Errorf("deleted = %+v", got)
	}
	au, err := db.Audit(storage.AuditFilter{Action: "decision."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range au {
		actions = append(actions, e.Action+" "+e.Target)
	}
	want := []string{"decision.delete decision 1", "decision.add decision 2", "decision.add decision 1"}
	if len(actions) != len(want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("audit %v, want %v", actions, want)
			break
		}
	}
}
