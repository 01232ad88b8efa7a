package vlstore

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigil-soc/vigil/internal/store"
)

func open(t *testing.T, dir string, now time.Time) *Store {
	t.Helper()
	st, err := Open(Config{
		Path:         dir,
		Retention:    7 * 24 * time.Hour,
		StreamFields: []string{"vigil.input"},
		Now:          func() time.Time { return now },
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func search(t *testing.T, st *Store, q store.Query) []store.Row {
	t.Helper()
	var rows []store.Row
	err := st.Search(context.Background(), q, func(r store.Row) error {
		// The row's strings are the engine's until fn returns.
		fields := make([]store.Field, len(r.Fields))
		for i, f := range r.Fields {
			fields[i] = store.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
		}
		r.Fields = fields
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatalf("search %q: %v", q.Text, err)
	}
	return rows
}

func TestAddSearch(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	var rows []store.Row
	for i := range 100 {
		rows = append(rows, store.Row{
			Time: now.Add(time.Duration(i-100) * time.Second),
			Fields: []store.Field{
				{Name: "_msg", Value: "login failed for user u" + strconv.Itoa(i%10)},
				{Name: "vigil.input", Value: "syslog"},
				{Name: "statuscode", Value: strconv.Itoa(200 + (i%2)*201)},
				{Name: "vigil.seq", Value: strconv.Itoa(i + 1)},
			},
		})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()

	tests := []struct {
		name      string
		q         store.Query
		wantCount int
		wantFirst string // vigil.seq of the first row
	}{
		{"all newest first", store.Query{Text: "*"}, 100, "100"},
		{"oldest first", store.Query{Text: "*", Order: store.Oldest}, 100, "1"},
		{"field", store.Query{Text: "statuscode:401"}, 50, "100"},
		{"word", store.Query{Text: "u3"}, 10, "94"},
		{"limit keeps newest", store.Query{Text: "*", Limit: 5}, 5, "100"},
		{"limit oldest", store.Query{Text: "*", Limit: 5, Order: store.Oldest}, 5, "1"},
		{"time range", store.Query{Text: "*", Start: now.Add(-10 * time.Second), End: now}, 10, "100"},
		{"seq range", store.Query{Text: "vigil.seq:>=91", Order: store.Oldest}, 10, "91"},
		{"no match", store.Query{Text: "nosuchword"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := search(t, st, tt.q)
			if len(got) != tt.wantCount {
				t.Fatalf("got %d rows, want %d", len(got), tt.wantCount)
			}
			if tt.wantCount > 0 && got[0].Get("vigil.seq") != tt.wantFirst {
				t.Errorf("first row seq %s, want %s", got[0].Get("vigil.seq"), tt.wantFirst)
			}
			if tt.q.Order == store.Newest {
				for i := 1; i < len(got); i++ {
					if got[i].Time.After(got[i-1].Time) {
						t.Fatalf("row %d is newer than row %d", i, i-1)
					}
				}
			}
		})
	}
}

func TestQueryError(t *testing.T) {
	st := open(t, t.TempDir(), time.Now())
	defer st.Close()
	err := st.Search(context.Background(), store.Query{Text: "foo:(bar"}, func(store.Row) error { return nil })
	if !store.IsQueryError(err) {
		t.Fatalf("got %v, want a QueryError", err)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	now := time.Now()
	st := open(t, t.TempDir(), now)
	defer st.Close()
	rows := make([]store.Row, 50)
	for i := range rows {
		rows[i] = store.Row{Time: now.Add(-time.Minute), Fields: []store.Field{{Name: "_msg", Value: "x"}}}
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	stop := errors.New("stop")
	n := 0
	err := st.Search(context.Background(), store.Query{Text: "*", Order: store.Unordered}, func(store.Row) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err=%v after %d rows, want the callback's error after 1", err, n)
	}
}

func TestRetentionCounted(t *testing.T) {
	now := time.Now()
	st := open(t, t.TempDir(), now)
	defer st.Close()
	rows := []store.Row{
		{Time: now.Add(-30 * 24 * time.Hour), Fields: []store.Field{{Name: "_msg", Value: "ancient"}}},
		{Time: now.Add(72 * time.Hour), Fields: []store.Field{{Name: "_msg", Value: "future"}}},
		{Time: now, Fields: []store.Field{{Name: "_msg", Value: "fine"}}},
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	s := st.Stats()
	if s.DroppedTooOld != 1 || s.DroppedTooNew != 1 || s.Added != 1 {
		t.Fatalf("stats %+v, want one too old, one too new, one added", s)
	}
}

func TestOversizedRowReduced(t *testing.T) {
	now := time.Now()
	st := open(t, t.TempDir(), now)
	defer st.Close()
	big := strings.Repeat("A", 3<<20)
	fields := []store.Field{{Name: "_msg", Value: big}, {Name: "vigil.seq", Value: "7"}, {Name: "copy", Value: big}}
	for i := range 2100 {
		fields = append(fields, store.Field{Name: "f" + strconv.Itoa(i), Value: "v"})
	}
	fields = append(fields, store.Field{Name: strings.Repeat("n", 300), Value: "long name"})
	if err := st.Add([]store.Row{{Time: now, Fields: fields}}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	got := search(t, st, store.Query{Text: "vigil.seq:7"})
	if len(got) != 1 {
		t.Fatalf("got %d rows, want the reduced row", len(got))
	}
	if len(got[0].Get("_msg")) != 1<<20 || got[0].Get("vigil.store_error") == "" {
		t.Fatalf("row not reduced as documented: msg %d bytes, store_error %q", len(got[0].Get("_msg")), got[0].Get("vigil.store_error"))
	}
}

func TestReopenKeepsRows(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	st := open(t, dir, now)
	if err := st.Add([]store.Row{{Time: now, Fields: []store.Field{{Name: "_msg", Value: "persisted"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, now)
	defer st.Close()
	if got := search(t, st, store.Query{Text: "persisted"}); len(got) != 1 {
		t.Fatalf("after reopen got %d rows, want 1", len(got))
	}
}

// TestSorter: rows reach the engine ordered by field name, whatever order
// they come in, with every field kept and their shape (ShapeField) added
// in its place; a layout seen before is reused; the same names give the
// same shape in any order and in any process.
func TestSorter(t *testing.T) {
	s := sorters.New().(*sorter)
	shapes := map[string]string{} // sorted names -> shape
	for _, tc := range []string{
		"",
		"a",
		"a b c",
		"c b a",
		"_msg event.dataset host.ip vigil.input device.id event.action url.path vigil.received vigil.seq",
		"_msg vigil.shape vigil.seq", // a shape given is kept, not added
		"b a b a",
		"x y z a b c m n o",
		"a a a",
		"zzz",
	} {
		var in []store.Field
		for i, n := range strings.Fields(tc) {
			in = append(in, store.Field{Name: n, Value: strconv.Itoa(i)})
		}
		want := slices.Clone(in)
		if !strings.Contains(tc, ShapeField) {
			want = append(want, store.Field{Name: ShapeField})
		}
		slices.SortStableFunc(want, func(a, b store.Field) int { return strings.Compare(a.Name, b.Name) })
		got := slices.Clone(s.sort(slices.Clone(in)))
		if len(got) != len(want) {
			t.Fatalf("%q: %d fields, want %d", tc, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name {
				t.Fatalf("%q: got %v, want %v", tc, got, want)
			}
		}
		// The same fields: values travel with their names.
		seen := map[store.Field]int{}
		for _, f := range in {
			seen[f]++
		}
		for _, f := range got {
			if f.Name == ShapeField && !strings.Contains(tc, ShapeField) {
				key := strings.Join(slices.Sorted(slices.Values(strings.Fields(tc))), " ")
				if f.Value == "" || (shapes[key] != "" && shapes[key] != f.Value) {
					t.Fatalf("%q: shape %q, the same names had %q", tc, f.Value, shapes[key])
				}
				shapes[key] = f.Value
				continue
			}
			seen[store.Field{Name: f.Name, Value: f.Value}]--
		}
		for f, n := range seen {
			if n != 0 {
				t.Fatalf("%q: field %v count off by %d", tc, f, n)
			}
		}
		// Again, with other values: the learned layout gives the same order.
		for i := range in {
			in[i].Value += "'"
		}
		again := s.sort(slices.Clone(in))
		for i := range again {
			if again[i].Name != got[i].Name || (again[i].Name != ShapeField && again[i].Value != got[i].Value+"'") {
				t.Fatalf("%q, second row: got %v", tc, again)
			}
		}
	}
	if len(s.layouts) != 10 { // one per case: "a b c" and "c b a" differ
		t.Errorf("%d layouts learned, want 10", len(s.layouts))
	}
	// Shapes do not depend on the process: a new sorter (a new seed for
	// its layout table) gives the same shape.
	other := sorters.New().(*sorter)
	for _, f := range other.sort([]store.Field{{Name: "c"}, {Name: "a"}, {Name: "b"}}) {
		if f.Name == ShapeField && f.Value != shapes["a b c"] {
			t.Errorf("shape of a b c: %q in one sorter, %q in another", shapes["a b c"], f.Value)
		}
	}
	if shapes["a b c"] == shapes["a"] || shapes["a"] == shapes["zzz"] {
		t.Errorf("different names, same shape: %v", shapes)
	}
}

// TestSearchWindows: newest- and oldest-first searches with a limit, run
// in windows much smaller than the result, return the same rows in the
// same order as a reference computed here, ties at a window's edge
// included.
func TestSearchWindows(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	st.windows = windows{first: 7, bytes: 400, min: 3, max: 20}
	var rows []store.Row
	for i := range 600 {
		// Runs of up to 5 rows share a second; one run of 40 is larger
		// than any window.
		sec := i / 5
		if i >= 300 && i < 340 {
			sec = 60
		}
		rows = append(rows, store.Row{
			Time: now.Add(time.Duration(sec-200) * time.Second),
			Fields: []store.Field{
				{Name: "_msg", Value: "event " + strconv.Itoa(i)},
				{Name: "vigil.input", Value: "syslog"},
				{Name: "parity", Value: strconv.Itoa(i % 2)},
				{Name: "rare", Value: strconv.FormatBool(i%97 == 0)}, // 7 rows, far apart
				{Name: "vigil.seq", Value: strconv.Itoa(i + 1)},
			},
		})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()

	tests := []store.Query{
		{Text: "*", Limit: 250},
		{Text: "*", Limit: 250, Order: store.Oldest},
		{Text: "*", Limit: 1000},
		{Text: "parity:1", Limit: 90},
		{Text: "parity:0", Limit: 90, Order: store.Oldest},
		{Text: "*", Limit: 1},
		{Text: "*", Limit: 62, Start: now.Add(-170 * time.Second), End: now.Add(-100 * time.Second)},
		{Text: "nosuchword", Limit: 10},
		// The newest rows found by halving the time range (newestTimes):
		// more than twice the limit match, densely or far apart, or all
		// at one time.
		{Text: "*", Limit: 299},
		{Text: "*", Limit: 301},
		{Text: "parity:1", Limit: 3},
		{Text: "rare:true", Limit: 1},
		{Text: "rare:true", Limit: 3},
		{Text: "rare:true", Limit: 4},
		{Text: "*", Limit: 10, End: now.Add(-140 * time.Second)},
		{Text: "*", Limit: 45, End: now.Add(-140 * time.Second)},
		{Text: "parity:0", Limit: 5, Start: now.Add(-150 * time.Second), End: now.Add(-140 * time.Second)},
	}
	for _, q := range tests {
		t.Run(q.Text+"/"+strconv.Itoa(q.Limit)+"/"+strconv.Itoa(int(q.Order)), func(t *testing.T) {
			want := reference(rows, q)
			got := search(t, st, q)
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d", len(got), len(want))
			}
			// Rows of one time may come in any order; the set of rows
			// must be the same, except at the last time when the limit
			// cuts a run of ties.
			last := time.Time{}
			if len(want) > 0 {
				last = want[len(want)-1].Time
			}
			wantSeqs, gotSeqs := map[string]bool{}, map[string]bool{}
			for i := range want {
				if !got[i].Time.Equal(want[i].Time) {
					t.Fatalf("row %d at %v, want %v", i, got[i].Time, want[i].Time)
				}
				if !want[i].Time.Equal(last) || len(want) < q.Limit {
					wantSeqs[want[i].Get("vigil.seq")] = true
					gotSeqs[got[i].Get("vigil.seq")] = true
				}
			}
			if !maps.Equal(gotSeqs, wantSeqs) {
				t.Fatalf("rows differ:\ngot  %v\nwant %v", gotSeqs, wantSeqs)
			}
		})
	}
}

// reference filters, sorts and cuts rows as a search of the simple
// queries of TestSearchWindows does.
func reference(rows []store.Row, q store.Query) []store.Row {
	var out []store.Row
	for _, r := range rows {
		switch {
		case q.Text == "nosuchword",
			strings.HasPrefix(q.Text, "parity:") && r.Get("parity") != q.Text[7:],
			strings.HasPrefix(q.Text, "rare:") && r.Get("rare") != q.Text[5:],
			!q.Start.IsZero() && r.Time.Before(q.Start),
			!q.End.IsZero() && r.Time.After(q.End):
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b store.Row) int {
		if q.Order == store.Oldest {
			return a.Time.Compare(b.Time)
		}
		return b.Time.Compare(a.Time)
	})
	return out[:min(len(out), q.Limit)]
}

// TestStreamColumns: plain events leave out _stream and _stream_id; a
// query that groups by them or selects them gets them, labelled.
func TestStreamColumns(t *testing.T) {
	now := time.Now()
	st := open(t, t.TempDir(), now)
	defer st.Close()
	var rows []store.Row
	for i, in := range []string{"syslog", "syslog", "kafka"} {
		rows = append(rows, store.Row{Time: now.Add(time.Duration(i-10) * time.Second), Fields: []store.Field{
			{Name: "_msg", Value: "m" + strconv.Itoa(i)}, {Name: "vigil.input", Value: in},
		}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	tests := []struct {
		q          string
		order      store.Order
		want       []string // fields every row must have
		wantAbsent []string
	}{
		{"*", store.Newest, []string{"_msg"}, []string{"_stream", "_stream_id", ShapeField}},
		{"*", store.Unordered, []string{"_msg"}, []string{"_stream", "_stream_id", ShapeField}},
		{"* | sort by (_msg)", store.Newest, []string{"_msg"}, []string{"_stream", "_stream_id", ShapeField}},
		{"* | fields _msg, vigil.shape", store.Newest, []string{"_msg", ShapeField}, nil},
		{"* | stats by (_stream) count() n", store.Unordered, []string{"_stream", "n"}, nil},
		{"* | fields _stream, _msg", store.Newest, []string{"_stream", "_msg"}, nil},
		{"* | uniq by (_stream_id)", store.Unordered, []string{"_stream_id"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got := search(t, st, store.Query{Text: tt.q, Order: tt.order, Limit: 100})
			if len(got) < 2 {
				t.Fatalf("got %d rows, want at least 2", len(got))
			}
			streams := map[string]bool{}
			for _, r := range got {
				for _, f := range tt.want {
					if r.Get(f) == "" {
						t.Errorf("row %v has no %s", r.Fields, f)
					}
				}
				for _, f := range tt.wantAbsent {
					if r.Get(f) != "" {
						t.Errorf("row %v has %s", r.Fields, f)
					}
				}
				streams[r.Get("_stream")] = true
			}
			if tt.q == "* | stats by (_stream) count() n" {
				// The stream is the configured fields and the shape.
				found := false
				for s := range streams {
					found = found || strings.HasPrefix(s, `{vigil.input="kafka",vigil.shape="`)
				}
				if !found {
					t.Errorf("no group labelled {vigil.input=\"kafka\",vigil.shape=...}: %v", streams)
				}
			}
		})
	}
}

// TestAtTimes: the filter of a window's times finds the rows at exactly
// those times, to the nanosecond, and gives up beyond maxAtTimes.
func TestAtTimes(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	base := now.Add(-time.Hour)
	offsets := []time.Duration{0, 1, 999, time.Millisecond, time.Second, time.Second + 1, time.Minute}
	var rows []store.Row
	for i, d := range offsets {
		rows = append(rows, store.Row{Time: base.Add(d), Fields: []store.Field{{Name: "_msg", Value: "x"},
			{Name: "vigil.input", Value: "syslog"}, {Name: "vigil.seq", Value: strconv.Itoa(i)}}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	at := func(ds ...time.Duration) []int64 {
		var ts []int64
		for _, d := range ds {
			ts = append(ts, base.Add(d).UnixNano())
		}
		return ts
	}
	for _, tt := range []struct {
		ts   []int64
		want []string
	}{
		{at(0), []string{"0"}},
		{at(1, 1, time.Second), []string{"1", "4"}},
		{at(999, time.Second+1, time.Minute), []string{"2", "5", "6"}},
		{at(2), nil},
	} {
		var got []string
		for _, r := range search(t, st, store.Query{Text: atTimes(tt.ts), Order: store.Oldest}) {
			got = append(got, r.Get("vigil.seq"))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("atTimes(%v): rows %v, want %v", tt.ts, got, tt.want)
		}
	}
	many := make([]int64, maxAtTimes+1)
	for i := range many {
		many[i] = int64(i)
	}
	if f := atTimes(many); f != "" {
		t.Errorf("atTimes of %d times: %q, want none", len(many), f)
	}
	if f := atTimes(append(many[:maxAtTimes:maxAtTimes], maxAtTimes-1)); f == "" {
		t.Errorf("atTimes of %d distinct times: none", maxAtTimes)
	}
}

// TestNewestTimes: the times of the newest rows found by halving the time
// range are those a sort of every match finds, for rows dense and sparse,
// with ties, in bounded and unbounded ranges.
func TestNewestTimes(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	st := open(t, t.TempDir(), now)
	defer st.Close()
	r := rand.New(rand.NewPCG(1, 2))
	var rows []store.Row
	for i := range 3000 {
		var at time.Time
		switch {
		case i < 2000: // dense: the last 20 minutes
			at = now.Add(-time.Duration(r.Int64N(int64(20 * time.Minute))))
		case i < 2100: // one instant
			at = now.Add(-30 * time.Minute)
		default: // sparse: the last 3 days
			at = now.Add(-time.Duration(r.Int64N(int64(72 * time.Hour))))
		}
		rows = append(rows, store.Row{Time: at, Fields: []store.Field{{Name: "_msg", Value: "x"},
			{Name: "vigil.input", Value: "syslog"}, {Name: "m", Value: strconv.Itoa(i % 7)},
			{Name: "sparse", Value: strconv.FormatBool(i >= 2100)}}})
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	ns := now.UnixNano()
	for _, q := range []string{"*", "m:3", "sparse:true", "sparse:true m:1", "sparse:false m:2", "nothing"} {
		for _, rg := range [][2]time.Duration{{0, 0}, {-24 * time.Hour, 0}, {-45 * time.Minute, -25 * time.Minute}, {-40 * time.Hour, -20 * time.Hour}} {
			for _, n := range []int{1, 2, 7, 50, 101, 400, 1000} {
				pq, err := logstorage.ParseQueryAtTimestamp(q, ns)
				if err != nil {
					t.Fatal(err)
				}
				if rg[0] != 0 {
					pq.AddTimeFilter(now.Add(rg[0]).UnixNano(), now.Add(rg[1]).UnixNano())
				}
				want, err := st.times(context.Background(), eventsTenant, pq, "sort by (_time desc)", ns, n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := st.newestTimes(context.Background(), eventsTenant, pq, ns, n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s in %v, newest %d: %d times, want %d (%v ... / %v ...)", q, rg, n, len(got), len(want), got[:min(len(got), 3)], want[:min(len(want), 3)])
				}
			}
		}
	}
}
