package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/store"
)

type sinkFunc func(*alert.Alert)

func (f sinkFunc) Send(a *alert.Alert) { f(a) }

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

// TestDetectorCheckpoint: the state is written with its position only
// after the checkpoint delay (so alerts before it are on disk first), a
// clean stop writes it at once, and a new detector resumes from it.
func TestDetectorCheckpoint(t *testing.T) {
	dir := t.TempDir()
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 5\n")}}
	var got []*alert.Alert
	opts := DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Nanosecond, CheckpointDelay: time.Hour,
		Sinks: []alert.Sink{sinkFunc(func(a *alert.Alert) { got = append(got, a) })}}
	d, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Position() != 0 {
		t.Fatalf("fresh detector at %d", d.Position())
	}
	d.Process(failures(10, 3, "203.0.113.1", t0))
	state := filepath.Join(dir, stateFile)
	first, err := os.ReadFile(state)
	if err != nil || string(first[:3]) != "10\n" {
		t.Fatalf("first checkpoint %q %v: want position 10 (where detection starts)", first, err)
	}
	d.Idle(time.Now()) // the snapshot waits for its delay
	if b, _ := os.ReadFile(state); string(b) != string(first) {
		t.Fatal("checkpoint written before its delay")
	}
	d.Flush() // a clean stop writes at once
	d2, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Position() != 13 {
		t.Fatalf("restored position %d, want 13", d2.Position())
	}
	d2.Process(failures(13, 2, "203.0.113.1", t0.Add(time.Minute)))
	if len(got) != 1 || got[0].Count != 5 || len(got[0].Payloads) != 2 {
		t.Fatalf("after restart: %d alerts %+v (the window must hold 3 events from before)", len(got), got)
	}
	// Records before the checkpoint are skipped (a replay by the indexer).
	d2.Process(failures(10, 5, "203.0.113.1", t0))
	if len(got) != 1 {
		t.Fatalf("replayed records counted again: %d alerts", len(got))
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
	n := 0
	d, err := NewDetector(DetectorOptions{Dir: t.TempDir(), RulesDir: rules,
		Sinks: []alert.Sink{sinkFunc(func(*alert.Alert) { n++ })}}, nil)
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
	d.Process(failures(1, 1, "203.0.113.2", t0))
	if n != 1 {
		t.Fatalf("the previous version did not run: %d alerts", n)
	}
}
