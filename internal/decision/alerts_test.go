package decision

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

func alertRecord(t *testing.T, seq uint64, a *alert.Alert) journal.Record {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return journal.Record{Seq: seq, Data: b}
}

func TestAlertSender(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openStore(t, c, Policy{Enabled: true}, nil, nil)
	snd := NewAlertSender(s, nil)
	ban := func(v string) []alert.Action {
		return []alert.Action{{Decision: "ban", Scope: "ip", Value: v, Duration: time.Hour}}
	}
	now := c.Now()
	recs := []journal.Record{
		alertRecord(t, 1, &alert.Alert{ID: "a1", RuleID: "brute-force-source", Message: "20 failed logins", Last: now.Add(-time.Minute), Actions: ban("203.0.113.7")}),
		alertRecord(t, 2, &alert.Alert{ID: "a2", RuleID: "password-spraying", Last: now, Actions: ban("10.0.0.8")}),                         // private: refused
		alertRecord(t, 3, &alert.Alert{ID: "a3", RuleID: "brute-force-source", Last: now.Add(-2 * time.Hour), Actions: ban("203.0.113.9")}), // stale
		{Seq: 4, Data: []byte("{not json")},
		alertRecord(t, 5, &alert.Alert{ID: "a5", RuleID: "web-scanner", Last: now}), // no actions
	}
	if err := snd.Send(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got := s.List(Filter{States: allStates})
	if len(got) != 1 {
		t.Fatalf("decisions %+v, want one", got)
	}
	d := got[0]
	if d.Origin != "rule:brute-force-source" || d.Alert != "a1" || d.Reason != "20 failed logins" || d.Value != "203.0.113.7" ||
		d.Type != TypeBan || !d.Until.Equal(now.Add(time.Hour)) || d.DryRun {
		t.Errorf("decision %+v", d)
	}
	// Read again later (a crash before the cursor moved): no second one.
	c.Advance(10 * time.Minute)
	if err := snd.Send(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if n := len(s.List(Filter{States: allStates})); n != 1 {
		t.Errorf("after the replay %d decisions, want 1", n)
	}
	for reason, want := range map[string]float64{"private": 1, "stale": 1, "duplicate": 1} {
		if got := testutil.ToFloat64(s.m.refused.WithLabelValues(reason)); got != want {
			t.Errorf("refused{%s} = %v, want %v", reason, got, want)
		}
	}
	// A store that cannot record makes the runner retry.
	s.Close()
	err := snd.Send(ctx, []journal.Record{alertRecord(t, 6, &alert.Alert{ID: "a6", RuleID: "x", Last: c.Now(), Actions: ban("203.0.113.10")})})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Send to a closed store = %v, want ErrClosed", err)
	}
}

// TestAlertSenderDisabled: with enforcement off, rules' actions are
// recorded as dry run.
func TestAlertSenderDisabled(t *testing.T) {
	c := newClock()
	s := openStore(t, c, Policy{}, nil, nil)
	rec := alertRecord(t, 1, &alert.Alert{ID: "a1", RuleID: "brute-force-source", Last: c.Now(),
		Actions: []alert.Action{{Decision: "ban", Scope: "ip", Value: "203.0.113.7", Duration: time.Hour}}})
	if err := NewAlertSender(s, nil).Send(context.Background(), []journal.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if got := s.List(Filter{}); len(got) != 1 || !got[0].DryRun {
		t.Errorf("decisions %+v, want one dry run", got)
	}
	if n := len(s.Active(c.Now())); n != 0 {
		t.Errorf("%d active, want 0", n)
	}
}

// TestAlertReplayAfterDelete: an operator deletes a rule's ban; the alert
// read again (a crash before the alert journal's cursor moved, then a
// restart) does not ban the address again.
func TestAlertReplayAfterDelete(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(ctx, Options{Dir: dir, Policy: Policy{Enabled: true}, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	rec := alertRecord(t, 1, &alert.Alert{ID: "a1", RuleID: "brute-force-source", Last: c.Now(),
		Actions: []alert.Action{{Decision: "ban", Scope: "ip", Value: "203.0.113.7", Duration: time.Hour}}})
	if err := NewAlertSender(s, nil).Send(ctx, []journal.Record{rec}); err != nil {
		t.Fatal(err)
	}
	ds := s.List(Filter{States: allStates})
	if len(ds) != 1 {
		t.Fatalf("decisions %+v", ds)
	}
	if err := s.Delete(ctx, ds[0].ID, "operator:admin"); err != nil {
		t.Fatal(err)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			s.Close()
			s = open()
		}
		c.Advance(time.Minute)
		if err := NewAlertSender(s, nil).Send(ctx, []journal.Record{rec}); err != nil {
			t.Fatal(err)
		}
		if n, act := len(s.List(Filter{States: allStates})), s.Active(c.Now()); n != 1 || len(act) != 0 {
			t.Errorf("restart %v: %d decisions, active %+v; want the deleted one only", restart, n, act)
		}
	}
	// Another alert on the same address bans it again.
	rec2 := alertRecord(t, 2, &alert.Alert{ID: "a2", RuleID: "brute-force-source", Last: c.Now(),
		Actions: []alert.Action{{Decision: "ban", Scope: "ip", Value: "203.0.113.7", Duration: time.Hour}}})
	if err := NewAlertSender(s, nil).Send(ctx, []journal.Record{rec2}); err != nil {
		t.Fatal(err)
	}
	if act := s.Active(c.Now()); len(act) != 1 || act[0].Alert != "a2" {
		t.Errorf("after a new alert: active %+v", act)
	}
	s.Close()
}
