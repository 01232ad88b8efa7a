package alert

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// record appends n alerts, numbered from first, to the alert journal.
func record(t *testing.T, j *journal.Journal, first, n int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second) // the store keeps retention by the real clock
	var recs []journal.Record
	for i := first; i < first+n; i++ {
		a := &Alert{ID: MakeID("r", "g", uint64(i)), RuleID: "r", Level: LevelHigh, TS: now.Add(time.Duration(i) * time.Second),
			First: now, Last: now, Count: i, Message: "alert"}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, journal.Record{Input: "alert", Data: b})
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
}

// runWriter runs a store writer until it has handed everything to the
// store, then stops it the way a crash would (no Commit).
func runWriter(t *testing.T, j *journal.Journal, st store.Store, reg prometheus.Registerer) *StoreWriter {
	t.Helper()
	w, err := NewStoreWriter(j, st, StoreWriterOptions{CommitDelay: time.Hour}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = w.Run(ctx, 10*time.Second) })
	deadline := time.Now().Add(30 * time.Second)
	for w.Position() < j.NextSeq() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	return w
}

func storedAlerts(t *testing.T, st *vlstore.Store) map[string]int {
	t.Helper()
	st.Flush()
	got := map[string]int{}
	err := st.Search(context.Background(), store.Query{Text: "event.dataset:" + Dataset, Scope: store.Alerts, Order: store.Unordered}, func(r store.Row) error {
		got[strings.Clone(r.Get(FieldID))]++ // the store reuses its buffers
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The alerts are apart from the events.
	err = st.Search(context.Background(), store.Query{Text: "*"}, func(r store.Row) error {
		t.Errorf("an alert among the events: %v", r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestStoreWriterExactlyOnce: alerts reach the store once, even when the
// writer crashes before committing its cursor and reads them again.
func TestStoreWriterExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir+"/alerts", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	open := func() *vlstore.Store {
		st, err := vlstore.Open(vlstore.Config{Path: dir + "/store", Retention: 7 * 24 * time.Hour}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	record(t, j, 0, 40)
	w := runWriter(t, j, st.Alerts(), nil)
	w.Close()
	st.Close() // the rows are on disk; the cursor was never committed

	st = open()
	defer st.Close()
	record(t, j, 40, 10)
	reg := prometheus.NewRegistry()
	w = runWriter(t, j, st.Alerts(), reg)
	defer w.Close()
	got := storedAlerts(t, st)
	if len(got) != 50 {
		t.Errorf("the store holds %d distinct alerts, want 50", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("alert %s stored %d times", id, n)
		}
	}
	if n := testutil.ToFloat64(w.skipped); n != 40 {
		t.Errorf("skipped %v alerts already stored, want 40", n)
	}
	if err := w.Commit(); err != nil || w.r.Committed() != j.NextSeq() {
		t.Errorf("commit: %v at %d, want %d", err, w.r.Committed(), j.NextSeq())
	}
}

// TestPositionSearchable: the alerts before the writer's Position can be
// found in the store without anyone flushing it (vigil demo and the
// status rely on it), for a first batch and for one that comes while the
// writer runs.
func TestPositionSearchable(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir+"/alerts", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := vlstore.Open(vlstore.Config{Path: dir + "/store", Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := NewStoreWriter(j, st.Alerts(), StoreWriterOptions{CommitDelay: time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx, 10*time.Second) })
	defer wg.Wait()
	defer cancel()
	count := func() int {
		n := 0
		err := st.Search(context.Background(), store.Query{Text: "event.dataset:" + Dataset, Scope: store.Alerts, Order: store.Unordered},
			func(store.Row) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, batch := range []struct{ first, n int }{{0, 50}, {50, 30}} {
		record(t, j, batch.first, batch.n)
		for deadline := time.Now().Add(30 * time.Second); w.Position() < j.NextSeq(); {
			if time.Now().After(deadline) {
				t.Fatalf("position %d, journal end %d after 30 s", w.Position(), j.NextSeq())
			}
			time.Sleep(time.Millisecond)
		}
		if got, want := count(), batch.first+batch.n; got != want {
			t.Fatalf("at position %d the store finds %d alerts, want %d", w.Position(), got, want)
		}
	}
}
