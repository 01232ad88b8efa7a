package journal

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// waitLong bounds every wait in tests; it only matters when a test hangs.
const waitLong = 30 * time.Second

// openJ opens a journal and closes it at the end of the test.
func openJ(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// payload returns the deterministic Data of record i of stream s.
func payload(s string, i int, size int) []byte {
	b := fmt.Appendf(nil, "%s/%d|", s, i)
	for len(b) < size {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

// mkRecs builds n records of stream s numbered from start.
func mkRecs(s string, start, n, size int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Time:  time.Unix(1_700_000_000, int64(start+i)),
			Input: "syslog-" + s,
			Peer:  "10.0.0.1:514",
			Flags: uint8(i % 2),
			Data:  payload(s, start+i, size),
		}
	}
	return recs
}

// appendN appends n records of stream s in batches of batch and returns them.
func appendN(t testing.TB, j *Journal, s string, n, batch, size int) []Record {
	t.Helper()
	var all []Record
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		recs := mkRecs(s, i, k, size)
		if err := j.Append(recs); err != nil {
			t.Fatalf("Append: %v", err)
		}
		all = append(all, recs...)
	}
	return all
}

// readN reads exactly n records from r, copying their Data.
func readN(t testing.TB, r *Reader, n int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var out []Record
	var buf []Record
	for len(out) < n {
		var err error
		buf, err = r.Next(ctx, buf, min(100, n-len(out)))
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", len(out), n, err)
		}
		for _, rec := range buf {
			rec.Data = bytes.Clone(rec.Data)
			out = append(out, rec)
		}
	}
	return out
}

// sameRecords checks that got equals want record by record.
func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !g.Time.Equal(w.Time) || g.Input != w.Input || g.Peer != w.Peer ||
			g.Flags != w.Flags || !bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.Origin, w.Origin) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// fakeClock is a settable clock for retention tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// metricValue returns the value of the metric name with the given label
// pairs from reg, and whether it was found.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// waitFor polls cond until it holds or waitLong passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readerWaiting reports whether a reader is blocked waiting for data.
func (j *Journal) readerWaiting() bool {
	j.pubMu.Lock()
	defer j.pubMu.Unlock()
	return j.waiting
}

// setMaxSize changes MaxSize; maintenance reads it under maintMu.
func (j *Journal) setMaxSize(n int64) {
	j.maintMu.Lock()
	j.opts.MaxSize = n
	j.maintMu.Unlock()
}
