package index

import (
	"context"
	"errors"
	"fmt"
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

type env struct {
	dir string
	j   *journal.Journal
	st  *vlstore.Store
}

func openEnv(t *testing.T, dir string) *env {
	t.Helper()
	j, err := journal.Open(dir+"/journal", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := vlstore.Open(vlstore.Config{Path: dir + "/store", Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, j: j, st: st}
}

func (e *env) close(t *testing.T) {
	t.Helper()
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.j.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendN(t *testing.T, j *journal.Journal, from, n int) {
	t.Helper()
	now := time.Now()
	var recs []journal.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, journal.Record{
			Time:  now,
			Input: "test",
			Data:  fmt.Appendf(nil, `<14>1 %s host app - - - {"n":%d,"msg":"event %d"}`, now.UTC().Format(time.RFC3339Nano), i, i),
		})
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
}

// runUntil runs an indexer until it has consumed the journal, then stops it
// the way a crash would: without closing the store first.
func runUntil(t *testing.T, e *env, opts Options, reg prometheus.Registerer) *Indexer {
	t.Helper()
	ix, err := New(e.j, e.st, opts, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = ix.Run(ctx, 10*time.Second) })
	end := e.j.NextSeq()
	deadline := time.Now().Add(30 * time.Second)
	for ix.Position() < end && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if ix.Position() != end {
		t.Fatalf("indexer at %d, journal end %d", ix.Position(), end)
	}
	return ix
}

func countStored(t *testing.T, st *vlstore.Store) map[string]int {
	t.Helper()
	st.Flush()
	seen := map[string]int{}
	err := st.Search(context.Background(), store.Query{Text: "*", Order: store.Unordered}, func(r store.Row) error {
		seen[strings.Clone(r.Get("n"))]++ // the store reuses its buffers
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

func checkExactlyOnce(t *testing.T, seen map[string]int, n int) {
	t.Helper()
	if len(seen) != n {
		t.Errorf("store holds %d distinct events, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("event n=%s stored %d times", k, c)
		}
	}
}

func TestIndexesEverything(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close(t)
	appendN(t, e.j, 0, 5000)
	ix := runUntil(t, e, Options{Batch: 300}, nil)
	defer ix.Close()
	checkExactlyOnce(t, countStored(t, e.st), 5000)
}

// TestReplayAfterCrash: the cursor was never committed (as after kill -9
// within CommitDelay), yet the store already holds the rows. A restart must
// replay the journal without storing anything twice, then index new records.
func TestReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir)
	appendN(t, e.j, 0, 3000)
	ix := runUntil(t, e, Options{CommitDelay: time.Hour}, nil)
	if ix.r.Committed() > 1 {
		t.Fatalf("cursor committed to %d despite CommitDelay", ix.r.Committed())
	}
	ix.Close()
	e.close(t) // the store persists its rows; the cursor stays at the start

	e = openEnv(t, dir)
	defer e.close(t)
	appendN(t, e.j, 3000, 500)
	reg := prometheus.NewRegistry()
	ix = runUntil(t, e, Options{CommitDelay: time.Hour}, reg)
	defer ix.Close()
	checkExactlyOnce(t, countStored(t, e.st), 3500)
	if got := testutil.ToFloat64(ix.m.skipped); got != 3000 {
		t.Errorf("replay skipped %v records, want 3000", got)
	}
}

// TestReplayManyParts crashes again and again without ever committing
// the cursor, so each start replays everything before it from a store
// that holds it in many parts: the store answers the replay's query from
// many blocks and reuses its buffers between them (a replay check that
// kept the strings it was handed compared garbage and stored records
// again: 184,386 of 240,000 values were wrong in a probe).
func TestReplayManyParts(t *testing.T) {
	if raceEnabled {
		// VictoriaLogs' Storage.MustClose clears a partition's index
		// (mustClosePartition sets pt.idb = nil) before it stops the
		// partition's background merges, which read it: eight closes in
		// a row make the race detector see that. The test runs without
		// it (scripts/test.sh's second pass).
		t.Skip("the storage engine's Close races with its own merges")
	}
	dir := t.TempDir()
	const rounds, per = 8, 25_000
	for r := range rounds {
		e := openEnv(t, dir)
		appendN(t, e.j, r*per, per)
		reg := prometheus.NewRegistry()
		ix := runUntil(t, e, Options{CommitDelay: time.Hour}, reg)
		checkExactlyOnce(t, countStored(t, e.st), (r+1)*per)
		if got := testutil.ToFloat64(ix.m.skipped); got != float64(r*per) {
			t.Errorf("round %d: replay skipped %v records, want %d", r, got, r*per)
		}
		ix.Close()
		e.close(t)
	}
}

// TestCommitAfterDelay: the cursor moves only past records handed to the
// store at least CommitDelay ago.
func TestCommitAfterDelay(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close(t)
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	appendN(t, e.j, 0, 10)
	ix := runUntil(t, e, Options{CommitDelay: time.Minute, Now: clock}, nil)
	defer ix.Close()
	if err := ix.commitDelayed(clock()); err != nil {
		t.Fatal(err)
	}
	if c := ix.r.Committed(); c > 1 {
		t.Fatalf("committed %d before the delay passed", c)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if err := ix.commitDelayed(clock()); err != nil {
		t.Fatal(err)
	}
	if c := ix.r.Committed(); c != 11 {
		t.Fatalf("committed %d after the delay, want 11", c)
	}
}

// flakyStore fails the first Adds, as a full disk would.
type flakyStore struct {
	store.Store
	mu    sync.Mutex
	fails int
}

func (f *flakyStore) Add(rows []store.Row) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("disk full")
	}
	return f.Store.Add(rows)
}

func TestStoreErrorsRetried(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close(t)
	appendN(t, e.j, 0, 100)
	fs := &flakyStore{Store: e.st, fails: 2}
	ix, err := New(e.j, fs, Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx, time.Second) }()
	for deadline := time.Now().Add(30 * time.Second); ix.Position() < e.j.NextSeq() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, countStored(t, e.st), 100)
	if got := testutil.ToFloat64(ix.m.storeErrors); got != 2 {
		t.Errorf("store errors %v, want 2", got)
	}
}

func BenchmarkIndex(b *testing.B) {
	dir := b.TempDir()
	j, err := journal.Open(dir+"/journal", journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	st, err := vlstore.Open(vlstore.Config{Path: dir + "/store", Retention: 7 * 24 * time.Hour}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	line := `<190>Nov 27 23:39:14 proxy1 nginx: {"source":"192.168.0.8", "ip":"10.%d.%d.7","user":"user%d","time_local":"27/Nov/2026:23:39:14 +0000","statuscode":401,"bytes_sent":1534,"http_referer":"-","http_user_agent":"Apple-iPhone14C2/2006.100","request_uri":"/Microsoft-Server-ActiveSync?User=user%d&DeviceId=ABC%d&DeviceType=iPhone&Cmd=Sync","request_time":0.012,"gzip_ration":"-","query_string":"User=user%d&DeviceId=ABC%d&DeviceType=iPhone&Cmd=Sync"}`
	now := time.Now()
	recs := make([]journal.Record, 0, 1000)
	for i := 0; i < b.N; i++ {
		recs = append(recs, journal.Record{Time: now, Input: "bench", Data: fmt.Appendf(nil, line, i%200, i%250, i%3000, i%3000, i%5000, i%3000, i%5000)})
		if len(recs) == cap(recs) || i == b.N-1 {
			if err := j.Append(recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	ix, err := New(j, st, Options{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx, time.Minute) }()
	for ix.Position() < j.NextSeq() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	st.Flush() // until searchable, not just handed to the store
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestRecycle: recycled rows keep their slices' memory but no string of
// the batches that filled them, not even beyond their current lengths
// (those would keep whole parser arenas alive).
func TestRecycle(t *testing.T) {
	rows := make([]store.Row, 3, 5)
	for i := range rows {
		fields := []store.Field{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}}
		rows[i].Fields = fields[:1+i%2] // stale fields beyond the length
	}
	got := recycle(rows)
	if len(got) != 0 || cap(got) != 5 {
		t.Fatalf("recycled len %d cap %d, want 0 and 5", len(got), cap(got))
	}
	for i, r := range got[:3] {
		if len(r.Fields) != 0 || cap(r.Fields) != 3 {
			t.Fatalf("row %d: fields len %d cap %d, want 0 and 3", i, len(r.Fields), cap(r.Fields))
		}
		for k, f := range r.Fields[:cap(r.Fields)] {
			if f != (store.Field{}) {
				t.Errorf("row %d keeps field %d %+v", i, k, f)
			}
		}
	}
}

// checkingDetector verifies each batch's rows and raw records against the
// journal's numbering, after a pause that lets the reader parse ahead.
type checkingDetector struct {
	t    *testing.T
	seen int
}

func (d *checkingDetector) Position() uint64                { return 0 }
func (d *checkingDetector) Idle(context.Context, time.Time) {}
func (d *checkingDetector) Flush(context.Context)           {}
func (d *checkingDetector) Process(_ context.Context, b *Batch) {
	time.Sleep(time.Millisecond)
	for i, row := range b.Rows {
		n := fmt.Sprint(b.Seqs[i] - 1) // appendN numbers from 0, the journal from 1
		if got := row.Get("n"); got != n {
			d.t.Errorf("seq %d: field n = %q, want %s", b.Seqs[i], got, n)
		}
		if raw := string(b.Raw(i)); !strings.Contains(raw, `"msg":"event `+n+`"`) {
			d.t.Errorf("seq %d: raw %q", b.Seqs[i], raw)
		}
		d.seen++
	}
}

// TestReusedBuffers: batches in flight keep their own text while later
// batches are parsed into reused buffers; the store gets every event once.
func TestReusedBuffers(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close(t)
	const n = 20_000
	for from := 0; from < n; from += 2500 {
		appendN(t, e.j, from, 2500)
	}
	det := &checkingDetector{t: t}
	runUntil(t, e, Options{Batch: 300, Detector: det}, nil)
	if det.seen != n {
		t.Errorf("detector saw %d events, want %d", det.seen, n)
	}
	checkExactlyOnce(t, countStored(t, e.st), n)
}
