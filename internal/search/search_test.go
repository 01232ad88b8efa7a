package search

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/store"
)

// fakeStore answers every search with rows, or, for the query "block",
// blocks until the search's context is done or release is closed.
type fakeStore struct {
	rows    []store.Row
	started chan struct{} // receives one value per blocking search
	release chan struct{}
}

func newFakeStore(rows ...store.Row) *fakeStore {
	return &fakeStore{rows: rows, started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (f *fakeStore) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	if q.Text == "block" {
		f.started <- struct{}{}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.release:
		}
	}
	for _, r := range f.rows {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func row(msg string) store.Row {
	return store.Row{Time: time.Unix(1, 0), Fields: []store.Field{{Name: "_msg", Value: msg}}}
}

func collect(rows *[]string) func(store.Row) error {
	return func(r store.Row) error {
		*rows = append(*rows, r.Get("_msg"))
		return nil
	}
}

func rejected(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_api_search_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no vigil_api_search_rejected_total{reason=%q}", reason)
	return 0
}

func limitReason(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Reason
	}
	return ""
}

func TestSearchPassesRows(t *testing.T) {
	s := New(newFakeStore(row("a"), row("b")), Limits{Timeout: time.Hour}, nil)
	var got []string
	if err := s.Search(context.Background(), store.Query{Text: "*"}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("got %q", got)
	}
}

// TestTimeout: a search that would block for ever is cancelled through its
// context at the timeout and reported as a timeout.
func TestTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(newFakeStore(), Limits{Timeout: time.Millisecond}, reg)
	err := s.Search(context.Background(), store.Query{Text: "block"}, collect(new([]string)))
	if limitReason(err) != ReasonTimeout || !strings.Contains(err.Error(), "http.search_timeout") {
		t.Fatalf("got %v, want a timeout naming http.search_timeout", err)
	}
	if n := rejected(t, reg, ReasonTimeout); n != 1 {
		t.Fatalf("rejected{timeout} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(s.m.inFlight); n != 0 {
		t.Fatalf("in flight after the search = %v", n)
	}
}

// TestClientGone: a search whose caller gives up is not a timeout.
func TestClientGone(t *testing.T) {
	reg := prometheus.NewRegistry()
	fs := newFakeStore()
	s := New(fs, Limits{Timeout: time.Hour}, reg)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-fs.started
		cancel()
	}()
	err := s.Search(ctx, store.Query{Text: "block"}, collect(new([]string)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := rejected(t, reg, ReasonTimeout); n != 0 {
		t.Fatalf("rejected{timeout} = %v, want 0", n)
	}
}

// TestConcurrencyCap: with every slot held by a blocked search, one more
// waits QueueWait and is refused as busy; once a slot frees, a waiting
// search runs.
func TestConcurrencyCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	fs := newFakeStore(row("a"))
	s := New(fs, Limits{Timeout: time.Hour, MaxConcurrent: 2, QueueWait: time.Millisecond}, reg)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- s.Search(context.Background(), store.Query{Text: "block"}, collect(new([]string))) })
		<-fs.started
	}
	if n := testutil.ToFloat64(s.m.inFlight); n != 2 {
		t.Fatalf("in flight = %v, want 2", n)
	}
	err := s.Search(context.Background(), store.Query{Text: "*"}, collect(new([]string)))
	var le *LimitError
	if !errors.As(err, &le) || le.Reason != ReasonBusy || le.RetryAfter < time.Second ||
		!strings.Contains(err.Error(), "http.max_concurrent_searches") {
		t.Fatalf("got %v, want busy with a Retry-After of at least 1s naming http.max_concurrent_searches", err)
	}
	if n := rejected(t, reg, ReasonBusy); n != 1 {
		t.Fatalf("rejected{busy} = %v, want 1", n)
	}

	// A search that may wait long enough gets the slot a finished one frees.
	s.lim.QueueWait = time.Hour
	done := make(chan error, 1)
	var got []string
	go func() { done <- s.Search(context.Background(), store.Query{Text: "*"}, collect(&got)) }()
	close(fs.release)
	wg.Wait()
	if err := <-done; err != nil || len(got) != 1 {
		t.Fatalf("queued search: %v, rows %q", err, got)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("blocked search: %v", err)
		}
	}
}

// TestQueueGivesUpWithClient: a search waiting for a slot ends when its
// caller gives up, without counting a refusal.
func TestQueueGivesUpWithClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	fs := newFakeStore()
	s := New(fs, Limits{Timeout: time.Hour, MaxConcurrent: 1, QueueWait: time.Hour}, reg)
	go func() { _ = s.Search(context.Background(), store.Query{Text: "block"}, collect(new([]string))) }()
	<-fs.started
	defer close(fs.release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Search(ctx, store.Query{Text: "*"}, collect(new([]string))); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := rejected(t, reg, ReasonBusy); n != 0 {
		t.Fatalf("rejected{busy} = %v, want 0", n)
	}
}

// TestMaxBytes: a search stops at the row that passes MaxBytes, after
// handing on the rows before it.
func TestMaxBytes(t *testing.T) {
	reg := prometheus.NewRegistry()
	var rows []store.Row
	for range 10 {
		rows = append(rows, row(strings.Repeat("x", 92))) // 8+4+92 = 104 bytes each
	}
	s := New(newFakeStore(rows...), Limits{MaxBytes: 1000}, reg)
	var got []string
	err := s.Search(context.Background(), store.Query{Text: "*"}, collect(&got))
	if limitReason(err) != ReasonTooLarge || !strings.Contains(err.Error(), "http.search_max_bytes") {
		t.Fatalf("got %v, want too_large naming http.search_max_bytes", err)
	}
	if len(got) != 9 {
		t.Fatalf("%d rows handed on, want the 9 within 1000 bytes", len(got))
	}
	if n := rejected(t, reg, ReasonTooLarge); n != 1 {
		t.Fatalf("rejected{too_large} = %v, want 1", n)
	}
	// Without a bound every row comes.
	got = nil
	if err := New(newFakeStore(rows...), Limits{}, nil).Search(context.Background(), store.Query{}, collect(&got)); err != nil || len(got) != 10 {
		t.Fatalf("unbounded: %v, %d rows", err, len(got))
	}
}

func TestDefaultMaxConcurrent(t *testing.T) {
	if s := New(newFakeStore(), Limits{}, nil); cap(s.slots) != DefaultMaxConcurrent() {
		t.Fatalf("%d slots, want DefaultMaxConcurrent() = %d", cap(s.slots), DefaultMaxConcurrent())
	}
	if n := DefaultMaxConcurrent(); n < 2 || n > 16 {
		t.Fatalf("DefaultMaxConcurrent() = %d", n)
	}
}
