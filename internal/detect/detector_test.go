package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

// alertJournal opens an alert journal in a temp dir.
func alertJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// recorded returns the alerts in the alert journal.
func recorded(t *testing.T, aj *journal.Journal) []*alert.Alert {
	t.Helper()
	r, err := aj.ReaderAt(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []*alert.Alert
	for r.Position() < aj.NextSeq() {
		recs, err := r.Next(ctx, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			a := new(alert.Alert)
			if err := json.Unmarshal(rec.Data, a); err != nil {
				t.Fatalf("record %d: %v", rec.Seq, err)
			}
			if rec.Input != AlertInput {
				t.Fatalf("record %d: input %q", rec.Seq, rec.Input)
			}
			out = append(out, a)
		}
	}
	return out
}

func failures(first uint64, n int, ip string, at time.Time) *index.Batch {
	var seqs []uint64
	var rows []store.Row
	var raw [][]byte
	for i := range n {
		seqs = append(seqs, first+uint64(i))
		rows = append(rows, store.Row{Time: at.Add(time.Duration(i) * time.Second), Fields: []store.Field{
			{Name: "event.outcome", Value: "failure"}, {Name: "source.ip", Value: ip}}})
		raw = append(raw, []byte(fmt.Sprintf("line %d from %s", first+uint64(i), ip)))
	}
	return index.NewBatch(seqs, rows, raw, at)
}

// TestDetectorCheckpoint: the state is written with its position at
// once (the alerts raised before it are in the alert journal already), a
// clean stop writes it too, and a new detector resumes from it.
func TestDetectorCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 5\n")}}
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	opts := DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Nanosecond, Alerts: aj}
	d, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Position() != 0 {
		t.Fatalf("fresh detector at %d", d.Position())
	}
	d.Process(ctx, failures(10, 3, "203.0.113.1", t0))
	state := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(state)
	if err != nil || !strings.HasPrefix(string(b), "13 alerts=1\n") {
		t.Fatalf("checkpoint %.20q %v: want position 13, alert journal at 1", b, err)
	}
	d.Flush(ctx)
	d2, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Position() != 13 {
		t.Fatalf("restored position %d, want 13", d2.Position())
	}
	if st := d2.Status(); st.Position != 13 || st.CheckpointPosition != 13 || st.LastCheckpoint.IsZero() || st.NewestEvent.IsZero() {
		t.Fatalf("status after restart: %+v", st)
	}
	d2.Process(ctx, failures(13, 2, "203.0.113.1", t0.Add(time.Minute)))
	got := recorded(t, aj)
	if len(got) != 1 || got[0].Count != 5 || len(got[0].Payloads) != 2 {
		t.Fatalf("after restart: %d alerts %+v (the window must hold 3 events from before)", len(got), got)
	}
	// Records before the checkpoint are skipped (a replay by the indexer).
	d2.Process(ctx, failures(10, 5, "203.0.113.1", t0))
	if got := recorded(t, aj); len(got) != 1 {
		t.Fatalf("replayed records counted again: %d alerts", len(got))
	}
}

// TestDetectorReplayRecordsOnce: after a crash the detector resumes from
// its last checkpoint and raises the alerts after it again; those already
// in the alert journal (same id) are not recorded twice, new ones are.
func TestDetectorReplayRecordsOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 2\n")}}
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	mainJ := alertJournal(t, filepath.Join(dir, "journal"))
	clock := t0
	opts := DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Hour, Alerts: aj, Journal: mainJ,
		Now: func() time.Time { return clock }}
	d, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(ctx, failures(1, 2, "203.0.113.1", t0)) // first checkpoint (position 1), then an alert
	d.Process(ctx, failures(3, 2, "203.0.113.2", t0)) // a second alert; no checkpoint within the hour
	if got := recorded(t, aj); len(got) != 2 {
		t.Fatalf("%d alerts recorded, want 2", len(got))
	}
	// Crash: no Flush. The journal has moved on to seq 9 meanwhile.
	for range 8 {
		if err := mainJ.Append([]journal.Record{{Input: "x", Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	d2, err := NewDetector(opts, reg)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Position() != 1 {
		t.Fatalf("resumed at %d, want the checkpoint's 1", d2.Position())
	}
	d2.Process(ctx, failures(1, 2, "203.0.113.1", t0))
	d2.Process(ctx, failures(3, 2, "203.0.113.2", t0))
	d2.Process(ctx, failures(5, 2, "203.0.113.3", t0)) // new after the crash
	got := recorded(t, aj)
	if len(got) != 3 || got[2].SrcIP != "203.0.113.3" {
		t.Fatalf("after the replay: %d alerts recorded, want 3 (2 before the crash, once each, and 1 new)", len(got))
	}
	if n := testutil.ToFloat64(d2.m.replayed); n != 2 {
		t.Fatalf("vigil_detect_alerts_replayed_total = %v, want 2", n)
	}
	if st := d2.Status(); st.Alerts != 1 || st.AlertsReplayed != 2 {
		t.Fatalf("status %+v", st)
	}
}

// TestDetectorWaitsForAlertJournal: alerts wait for an alert journal that
// refuses them; a stop before it takes them writes no checkpoint, so the
// next start raises them again.
func TestDetectorWaitsForAlertJournal(t *testing.T) {
	dir := t.TempDir()
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: match\nmatch: {event.outcome: failure}\n")}}
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	d, err := NewDetector(DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Nanosecond, Alerts: aj}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(context.Background(), failures(1, 1, "203.0.113.1", t0))
	before, _ := os.ReadFile(filepath.Join(dir, stateFile))
	aj.Close() // appends fail from now on
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	d.Process(ctx, failures(2, 1, "203.0.113.1", t0))
	d.Flush(ctx)
	after, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if string(after) != string(before) {
		t.Fatal("a checkpoint was written past alerts that were not recorded")
	}
}

// TestDetectorReloadKeepsGoodVersion: a user rule file that breaks keeps
// its previous version running and is reported.
func TestDetectorReloadKeepsGoodVersion(t *testing.T) {
	rules := t.TempDir()
	file := filepath.Join(rules, "mine.yaml")
	good := "id: mine\ntitle: Mine\ntype: match\nmatch: {event.outcome: failure}\n"
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	d, err := NewDetector(DetectorOptions{Dir: dir, RulesDir: rules, Alerts: aj}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(good+"when: 'source.ip =='\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Reload()
	st := d.Status()
	if len(st.RuleErrors) != 1 || st.Rules != 1 {
		t.Fatalf("status after a broken reload: %+v", st)
	}
	d.Process(context.Background(), failures(1, 1, "203.0.113.2", t0))
	if n := len(recorded(t, aj)); n != 1 {
		t.Fatalf("the previous version did not run: %d alerts", n)
	}
}

// TestDetectorSetEnabled: a rule turned off at run time stops raising
// alerts at the next batch, turned on again it raises them; the pack
// shows its state and the stats its hits and alerts.
func TestDetectorSetEnabled(t *testing.T) {
	rules := t.TempDir()
	rule := "id: mine\ntitle: Mine\ntype: match\nmatch: {event.outcome: failure}\n"
	if err := os.WriteFile(filepath.Join(rules, "mine.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	d, err := NewDetector(DetectorOptions{Dir: dir, RulesDir: rules, Alerts: aj, Enabled: map[string]bool{"mine": false}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, ok := d.Pack().Rule("mine")
	if !ok || pr.Enabled || pr.State != StateOverride || !strings.Contains(pr.Source, "id: mine") {
		t.Fatalf("pack rule: %+v", pr)
	}
	d.Process(context.Background(), failures(1, 1, "203.0.113.2", t0))
	if n := len(recorded(t, aj)); n != 0 {
		t.Fatalf("disabled rule raised %d alerts", n)
	}
	d.SetEnabled(map[string]bool{"mine": true})
	d.Process(context.Background(), failures(2, 1, "203.0.113.3", t0.Add(time.Minute)))
	if n := len(recorded(t, aj)); n != 1 {
		t.Fatalf("enabled rule raised %d alerts", n)
	}
	if pr, _ := d.Pack().Rule("mine"); !pr.Enabled {
		t.Fatalf("pack after enabling: %+v", pr)
	}
	st := d.RuleStats()["mine"]
	if st.Hits != 1 || st.Alerts != 1 || !st.LastAlert.Equal(t0.Add(time.Minute)) {
		t.Fatalf("stats: %+v", st)
	}
	d.SetEnabled(nil)
	d.Idle(context.Background(), t0)
	if pr, _ := d.Pack().Rule("mine"); !pr.Enabled || pr.State != StateDefault {
		t.Fatalf("pack without overrides: %+v", pr)
	}
}

func TestSplitDocuments(t *testing.T) {
	a := "id: a\ntitle: A\ntype: match\nwhen: 'true'\n"
	b := "id: b\ntitle: B\ntype: match\nwhen: 'true'\n"
	data := "# pack\n---\n" + a + "---   # second\n" + b
	rs, err := ParseRules("x.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Source != a || rs[1].Source != b {
		t.Fatalf("sources: %q", []string{rs[0].Source, rs[1].Source})
	}
}
