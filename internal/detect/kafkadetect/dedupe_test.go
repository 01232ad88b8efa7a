package kafkadetect

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/store"
)

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		key  string
		pos  uint64
		ts   int64
		okay bool
	}{
		{"kafka:raw-logs/2/1234@1700000000000", "kafka:raw-logs/2", 1234, 1700000000000, true},
		{"journal:0000000000000abc/41", "journal:0000000000000abc", 41, 0, true},
		{"", "", 0, 0, false},
		{"/5", "", 0, 0, false},
		{"kafka:t/0/x@1", "", 0, 0, false},
		{"kafka:t/0/1@x", "", 0, 0, false},
		{"kafka:t/0/-1", "", 0, 0, false},
		{"no-position", "", 0, 0, false},
	} {
		key, pos, ts, ok := parseSource([]byte(tc.in))
		if string(key) != tc.key || pos != tc.pos || ts != tc.ts || ok != tc.okay {
			t.Errorf("parseSource(%q) = %q %d %d %v, want %q %d %d %v", tc.in, key, pos, ts, ok, tc.key, tc.pos, tc.ts, tc.okay)
		}
	}
}

// src is a Kafka record's SourceHeader: partition p of topic raw, at
// offset off, with the record timestamp off (ms).
func src(p, off int) string { return fmt.Sprintf("kafka:raw/%d/%d@%d", p, off, 1000+off) }

// TestDedupeAccept: per source, an event whose position is not above the
// highest processed is dropped; sources are independent; events without
// a readable source pass.
func TestDedupeAccept(t *testing.T) {
	type ev struct {
		src  string
		want bool
	}
	seq := func(from, to, p int, want bool) []ev {
		var out []ev
		for i := from; i <= to; i++ {
			out = append(out, ev{src(p, i), want})
		}
		return out
	}
	cat := func(parts ...[]ev) []ev {
		var out []ev
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		evs  []ev
	}{
		{"in order", seq(0, 5, 0, true)},
		{"output retry", cat(seq(0, 5, 0, true), seq(3, 5, 0, false), seq(6, 8, 0, true))},
		{"two partitions", cat(seq(0, 3, 0, true), seq(0, 3, 1, true), seq(2, 3, 0, false), seq(4, 4, 1, true))},
		// Node A publishes offsets 10-20 of partition 0; node B, which
		// took the partition over from the committed offset 15, 15-25:
		// their records interleave in the detection topic.
		{"interleaved publishers", cat(
			seq(10, 16, 0, true),  // A
			seq(15, 16, 0, false), // B
			seq(17, 17, 0, true),  // A
			seq(17, 17, 0, false), // B
			seq(18, 18, 0, true),  // B first this time
			seq(18, 18, 0, false), // A
			seq(19, 20, 0, true),  // A
			seq(19, 20, 0, false), // B
			seq(21, 25, 0, true),  // B
		)},
		{"journal sources", []ev{
			{"journal:00000000000000aa/1", true}, {"journal:00000000000000bb/1", true},
			{"journal:00000000000000aa/2", true}, {"journal:00000000000000aa/2", false},
			{"journal:00000000000000aa/1", false}, {"journal:00000000000000bb/2", true},
		}},
		{"no or unreadable source", []ev{{"", true}, {"", true}, {"garbage", true}, {"garbage", true}}},
		// The raw topic was deleted and re-created: its offsets start
		// again, with later timestamps.
		{"re-created topic", cat(seq(0, 5, 0, true), []ev{
			{"kafka:raw/0/0@9000", true}, {"kafka:raw/0/1@9001", true}, {"kafka:raw/0/1@9001", false}, {"kafka:raw/0/2@9002", true},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDedupe()
			drops := 0
			for i, e := range tc.evs {
				if got := f.accept([]byte(e.src), uint64(i)); got != e.want {
					t.Errorf("event %d (%s): accept = %v, want %v", i, e.src, got, e.want)
				}
				if !e.want {
					drops++
				}
			}
			if n := testutil.ToFloat64(f.m.dup); n != float64(drops) {
				t.Errorf("duplicates counted %v, want %d", n, drops)
			}
		})
	}
}

// TestDedupeBound: past the most sources kept, those that went longest
// without an event are forgotten, and counted.
func TestDedupeBound(t *testing.T) {
	f := newDedupe()
	f.max = 10
	for i := range 11 {
		f.accept([]byte(fmt.Sprintf("journal:%016x/1", i)), uint64(i))
	}
	if len(f.marks) != 9 || testutil.ToFloat64(f.m.evicted) != 2 || testutil.ToFloat64(f.m.sources) != 9 {
		t.Fatalf("%d marks, %v evicted, gauge %v; want 9, 2, 9", len(f.marks), testutil.ToFloat64(f.m.evicted), testutil.ToFloat64(f.m.sources))
	}
	for _, gone := range []int{0, 1} {
		if f.marks[fmt.Sprintf("journal:%016x", gone)] != nil {
			t.Errorf("source %d kept", gone)
		}
	}
}

// TestStateMarks: the marks go into the checkpoint with the detector's
// state and come back with it; a checkpoint written before the marks
// (version 0) loads whole, with no marks; no checkpoint means no marks.
func TestStateMarks(t *testing.T) {
	ctx := context.Background()
	cfg := newCluster(t)
	withMarks := func() *stateStore {
		s := newStore(t, cfg, 16)
		s.marks = newDedupe()
		return s
	}
	a := withMarks()
	if _, _, err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	a.marks.accept([]byte(src(0, 7)), 3)
	a.marks.accept([]byte("journal:00000000000000aa/9"), 4)
	state := []byte("5 alerts=0\n" + string(bytes.Repeat([]byte("engine;"), 10)))
	if err := a.Save(ctx, state); err != nil {
		t.Fatal(err)
	}
	b := withMarks()
	b.marks.accept([]byte(src(3, 1)), 1) // stale: replaced by the load
	data, _, err := b.Load(ctx)
	if err != nil || !bytes.Equal(data, state) {
		t.Fatalf("load: %q %v, want %q", data, err, state)
	}
	if len(b.marks.marks) != 2 || b.marks.accept([]byte(src(0, 7)), 5) || !b.marks.accept([]byte(src(0, 8)), 6) ||
		b.marks.accept([]byte("journal:00000000000000aa/9"), 7) {
		t.Fatalf("marks after the load: %v", b.marks.marks)
	}

	old := newStore(t, cfg, 16) // a node from before the marks
	if _, _, err := old.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Save(ctx, state); err != nil {
		t.Fatal(err)
	}
	c := withMarks()
	c.marks.accept([]byte(src(0, 7)), 1)
	if data, _, err := c.Load(ctx); err != nil || !bytes.Equal(data, state) || !c.found || len(c.marks.marks) != 0 {
		t.Fatalf("version 0 checkpoint: %q %v found %v, %d marks", data, err, c.found, len(c.marks.marks))
	}

	empty := &stateStore{base: c.base, prod: c.prod, topic: cfg.AlertsTopic, chunkSize: 16, log: discard, marks: c.marks}
	c.marks.accept([]byte(src(0, 7)), 1)
	if data, _, err := empty.Load(ctx); err != nil || data != nil || len(c.marks.marks) != 0 {
		t.Fatalf("no checkpoint: %q %v, %d marks", data, err, len(c.marks.marks))
	}
}

// publishFrom writes failed logins from ip to the detection topic as the
// detect-kafka output does, each with its source header (none if srcs[i]
// is "").
func publishFrom(t *testing.T, cfg Config, ip string, srcs ...string) {
	t.Helper()
	cl := client(t, cfg)
	var recs []*kgo.Record
	for i, s := range srcs {
		row := store.Row{Time: t0.Add(time.Duration(i) * time.Second), Fields: []store.Field{
			{Name: "event.outcome", Value: "failure"}, {Name: "source.ip", Value: ip}, {Name: "event.id", Value: s}}}
		r := &kgo.Record{Topic: cfg.Topic, Value: eventjson.AppendRow(nil, &row),
			Headers: []kgo.RecordHeader{{Key: output.RawHeader, Value: []byte("raw line")}}}
		if s != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: output.SourceHeader, Value: []byte(s)})
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestElectorDropsDuplicates: events published twice (an output retry,
// a partition re-read by another node) count once, also when the second
// copy comes after a takeover (the marks travel in the checkpoint);
// events without a source header are never dropped.
func TestElectorDropsDuplicates(t *testing.T) {
	cfg := newCluster(t)
	const x, y, z = "198.51.100.7", "198.51.100.8", "198.51.100.9"
	publishFrom(t, cfg, x, src(0, 0))
	publishFrom(t, cfg, x, src(0, 0)) // a retry: one failure, no alert
	publishFrom(t, cfg, y, "journal:00000000000000aa/5")
	publishFrom(t, cfg, z, "")

	d1, e1, stop1, done1 := runElector(t, cfg)
	waitFor(t, "the first detector", func() bool { return e1.Owner() && d1.Status().Position == 4 })
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(e1.dedupe.m.dup); n != 1 {
		t.Errorf("first detector dropped %v duplicates, want 1", n)
	}

	// After the takeover: x's and y's events again (another node re-read
	// them), z's again (no header: counted), then a new one of each.
	publishFrom(t, cfg, x, src(0, 0), src(0, 1))
	publishFrom(t, cfg, y, "journal:00000000000000aa/5", "journal:00000000000000aa/6")
	publishFrom(t, cfg, z, "")
	d2, e2, stop2, done2 := runElector(t, cfg)
	defer func() { stop2(); <-done2 }()
	waitFor(t, "the second detector", func() bool { return e2.Owner() && d2.Status().Position == 9 })
	waitFor(t, "three alerts", func() bool { return len(alertsIn(t, cfg)) >= 3 })
	got := alertsIn(t, cfg)
	if len(got) != 3 {
		t.Fatalf("alerts %v, want one per address", ids(got))
	}
	for _, a := range got {
		if a.Count != 2 {
			t.Errorf("alert of %s counts %d events, want 2", a.Group, a.Count)
		}
	}
	if n := testutil.ToFloat64(e2.dedupe.m.dup); n != 2 {
		t.Errorf("second detector dropped %v duplicates, want 2", n)
	}
}
