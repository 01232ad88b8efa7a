package kafkadetect

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

// journalAlerts returns the ids of the alerts in j, in order.
func journalAlerts(t *testing.T, j *journal.Journal) []string {
	t.Helper()
	var ids []string
	if _, err := alert.ScanJournal(j, j.FirstSeq(), func(a *alert.Alert) { ids = append(ids, a.ID) }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestFollower: every alert of the alerts topic is copied into the alert
// journal once: a restarted follower goes on after the last one it
// copied, and an alert id the journal holds already is not copied again.
func TestFollower(t *testing.T) {
	cfg := newCluster(t)
	dir := t.TempDir()
	open := func() *journal.Journal {
		j, err := journal.Open(filepath.Join(dir, "alerts"), journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	produce := func(ids ...string) {
		cl := client(t, cfg)
		for _, id := range ids {
			v, _ := json.Marshal(&alert.Alert{ID: id, RuleID: "r"})
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: cfg.AlertsTopic, Key: []byte(id), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(j *journal.Journal, want int) {
		t.Helper()
		f, err := NewFollower(cfg, j, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		waitFor(t, "the alerts to be copied", func() bool { return len(journalAlerts(t, j)) >= want })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	produce("a1", "a2")
	j := open()
	run(j, 2)
	j.Close()

	produce("a3", "a2") // a2 again: a producer that retried, a detector that did not know
	j = open()
	defer j.Close()
	run(j, 3)
	produce("a4")
	run(j, 4)
	if got := journalAlerts(t, j); len(got) != 4 || got[0] != "a1" || got[1] != "a2" || got[2] != "a3" || got[3] != "a4" {
		t.Fatalf("alert journal holds %v, want a1 a2 a3 a4", got)
	}
}
