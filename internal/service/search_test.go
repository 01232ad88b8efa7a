package service

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

const testJournalID = 0xfeedface

var nobody = Actor{Name: "x", Role: "", Via: "api"}

// searchFixture is a real store holding events relative to now.
type searchFixture struct {
	st  *vlstore.Store
	s   *Searches
	now time.Time
	seq uint64
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	st, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 7 * 24 * time.Hour,
		StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &searchFixture{st: st, now: time.Now().UTC().Truncate(time.Second)}
	raw := func(_ context.Context, from uint64, count int, fn func(*journal.Record) error) error {
		if from > f.seq {
			return nil
		}
		return fn(&journal.Record{Seq: from, Input: "syslog", Peer: "127.0.0.1:5000",
			Data: []byte(fmt.Sprintf("<13>raw line %d", from))})
	}
	f.s = NewSearches(search.New(st, search.Limits{}, nil), SearchOptions{Raw: raw, JournalID: testJournalID,
		Now: func() time.Time { return f.now }, TailPoll: 10 * time.Millisecond})
	return f
}

// add stores one event per call of fields at time t, with the next seq.
func (f *searchFixture) add(t *testing.T, at time.Time, fields ...string) uint64 {
	t.Helper()
	f.seq++
	row := store.Row{Time: at, Fields: []store.Field{{Name: "vigil.input", Value: "syslog"},
		{Name: "vigil.seq", Value: strconv.FormatUint(f.seq, 10)}}}
	for i := 0; i+1 < len(fields); i += 2 {
		row.Fields = append(row.Fields, store.Field{Name: fields[i], Value: fields[i+1]})
	}
	add := f.st.Add
	if row.Get("event.kind") == "alert" {
		add = f.st.AddAlerts
	}
	if err := add([]store.Row{row}); err != nil {
		t.Fatal(err)
	}
	return f.seq
}

func (f *searchFixture) req(t *testing.T, q, start string) SearchRequest {
	t.Helper()
	r, err := f.s.NewSearchRequest(q, start, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mailDay stores 300 events over the last 100 minutes, three per
// second-precision timestamp (as RFC 3164 syslog has), and returns it.
func mailDay(t *testing.T) *searchFixture {
	f := newSearchFixture(t)
	users := []string{"zhangwei", "lina", "wangfang"}
	for i := range 300 {
		at := f.now.Add(-time.Duration(i/3) * time.Minute)
		outcome := "success"
		if i%5 == 0 {
			outcome = "failure"
		}
		f.add(t, at, "_msg", fmt.Sprintf("login %d", i), "user.name", users[i%3], "event.outcome", outcome,
			"source.ip", fmt.Sprintf("10.0.0.%d", i%7), "event.category", "authentication")
	}
	f.st.Flush()
	return f
}

func TestSearchPageWalksEveryEventOnce(t *testing.T) {
	f := mailDay(t)
	for _, size := range []int{1, 7, 100, 500} {
		req := f.req(t, "event.category:=authentication", "2h")
		seen := map[uint64]bool{}
		var last Event
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 400 {
				t.Fatalf("size %d: paging does not end", size)
			}
			p, err := f.s.Page(context.Background(), viewer, req, size, cursor)
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if len(p.Events) > size || p.More && len(p.Events) == 0 {
				t.Fatalf("size %d: page of %d events, more %v", size, len(p.Events), p.More)
			}
			for _, e := range p.Events {
				if seen[e.Seq()] {
					t.Fatalf("size %d: event %d on two pages", size, e.Seq())
				}
				seen[e.Seq()] = true
				if last.Seq() != 0 && (e.Time.After(last.Time) || e.Time.Equal(last.Time) && e.Seq() > last.Seq()) {
					t.Fatalf("size %d: event %d (%s) after %d (%s): not newest first", size, e.Seq(), e.Time, last.Seq(), last.Time)
				}
				if want := fmt.Sprintf("%016x%016x", testJournalID, e.Seq()); e.ID != want {
					t.Fatalf("event id %q, want %q", e.ID, want)
				}
				last = e
			}
			if !p.More {
				break
			}
			cursor = p.Cursor
		}
		if len(seen) != 300 {
			t.Errorf("size %d: pages held %d events, want 300", size, len(seen))
		}
	}
}

func TestSearchPagePiped(t *testing.T) {
	f := mailDay(t)
	p, err := f.s.Page(context.Background(), viewer, f.req(t, "* | stats by (user.name) count() n", "2h"), 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Piped || p.More || len(p.Events) != 3 {
		t.Fatalf("piped page: %+v", p)
	}
	if _, err := f.s.Page(context.Background(), viewer, f.req(t, "* | limit 1", "2h"), 10, "1-1"); !IsInvalid(err) {
		t.Errorf("cursor with pipes: %v, want invalid", err)
	}
}

func TestSearchHistogram(t *testing.T) {
	f := mailDay(t)
	for _, tc := range []struct {
		start string
		step  time.Duration
	}{{"2h", time.Minute}, {"24h", 15 * time.Minute}, {"7d", 2 * time.Hour}} {
		h, err := f.s.Histogram(context.Background(), viewer, f.req(t, "event.outcome:=failure", tc.start), 8*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if h.Step != tc.step || h.Total != 60 || len(h.Buckets) > 121 {
			t.Fatalf("%s: step %s total %d buckets %d", tc.start, h.Step, h.Total, len(h.Buckets))
		}
		var sum uint64
		for i, b := range h.Buckets {
			sum += b.Count
			if i > 0 && b.Time.Sub(h.Buckets[i-1].Time) != h.Step {
				t.Fatalf("%s: bucket %d at %s", tc.start, i, b.Time)
			}
		}
		if sum != 60 || h.Buckets[0].Time.After(h.Start) || h.Buckets[len(h.Buckets)-1].Time.After(h.End) {
			t.Fatalf("%s: buckets hold %d, from %s to %s for %s..%s", tc.start, sum,
				h.Buckets[0].Time, h.Buckets[len(h.Buckets)-1].Time, h.Start, h.End)
		}
	}
}

func TestHistogramStep(t *testing.T) {
	for _, tc := range []struct {
		d, want time.Duration
	}{
		{time.Minute, time.Second}, {15 * time.Minute, 10 * time.Second}, {time.Hour, 30 * time.Second},
		{24 * time.Hour, 15 * time.Minute}, {7 * 24 * time.Hour, 2 * time.Hour},
		{30 * 24 * time.Hour, 6 * time.Hour}, {31 * 24 * time.Hour, 12 * time.Hour}, {365 * 24 * time.Hour, 4 * 24 * time.Hour},
	} {
		if got := HistogramStep(tc.d); got != tc.want {
			t.Errorf("HistogramStep(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

func TestSearchFields(t *testing.T) {
	f := mailDay(t)
	fs, err := f.s.Fields(context.Background(), viewer, f.req(t, "", "2h"), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]FieldValues{}
	for _, fv := range fs.Fields {
		byName[fv.Name] = fv
	}
	if _, ok := byName["vigil.seq"]; ok || fs.Sampled {
		t.Errorf("fields: %+v", fs)
	}
	if got := byName["event.outcome"].Values; len(got) != 2 || got[0] != (ValueCount{"success", 240}) || got[1] != (ValueCount{"failure", 60}) {
		t.Errorf("event.outcome: %+v", got)
	}
	if got := byName["source.ip"].Values; len(got) != 5 {
		t.Errorf("source.ip: %d values, want the top 5", len(got))
	}

	// A sample of 50 counts only the newest minutes.
	f.s.opt.FacetSample = 50
	fs, err = f.s.Fields(context.Background(), viewer, f.req(t, "", "2h"), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, fv := range fs.Fields {
		if fv.Name == "user.name" {
			for _, v := range fv.Values {
				n += v.Count
			}
		}
	}
	if !fs.Sampled || n < 50 || n > 60 || !fs.From.After(f.now.Add(-time.Hour)) {
		t.Errorf("sampled: %v from %s, %d events counted", fs.Sampled, fs.From, n)
	}
}

func TestSearchTop(t *testing.T) {
	f := mailDay(t)
	top, err := f.s.Top(context.Background(), viewer, f.req(t, "", "2h"), "user.name", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Values) != 2 || top.Values[0].Count != 100 {
		t.Errorf("top: %+v", top)
	}
}

func TestSearchEvent(t *testing.T) {
	f := mailDay(t)
	kafka := f.add(t, f.now.Add(-time.Second), "_msg", "from kafka", "event.id", "0123456789abcdef0123456789abcdef")
	f.st.Flush()
	p, err := f.s.Page(context.Background(), viewer, f.req(t, "login", "2h"), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	first := p.Events[0]
	for _, at := range []time.Time{first.Time, {}} {
		d, err := f.s.Event(context.Background(), viewer, first.ID, at, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.Get("_msg") != first.Get("_msg") || d.Raw == nil || string(d.Raw.Data) != fmt.Sprintf("<13>raw line %d", first.Seq()) {
			t.Fatalf("event %s: %+v raw %+v (%s)", first.ID, d.Fields, d.Raw, d.RawNote)
		}
	}
	d, err := f.s.Event(context.Background(), viewer, "0123456789ABCDEF0123456789abcdef", time.Time{}, "")
	if err != nil || d.Get("_msg") != "from kafka" || d.Seq() != kafka {
		t.Fatalf("kafka event: %+v, %v", d, err)
	}
	for id, want := range map[string]error{
		"nothex":                           &InvalidError{},
		fmt.Sprintf("%016x%016x", 1, 5):    ErrNotFound,
		fmt.Sprintf("%016x%016x", 0, 9999): ErrNotFound,
		"ffffffffffffffffffffffffffffffff": ErrNotFound,
	} {
		_, err := f.s.Event(context.Background(), viewer, id, time.Time{}, "")
		if errors.Is(want, ErrNotFound) && !errors.Is(err, ErrNotFound) || !errors.Is(want, ErrNotFound) && !IsInvalid(err) {
			t.Errorf("event %s: %v, want %v", id, err, want)
		}
	}
}

func TestSearchTail(t *testing.T) {
	f := newSearchFixture(t)
	f.add(t, f.now.Add(-time.Minute), "_msg", "old login", "user.name", "lina")
	f.st.Flush()
	ctx := context.Background()
	req := f.req(t, "login", "")
	res, err := f.s.Tail(ctx, viewer, req, "", 0)
	if err != nil || len(res.Events) != 0 || res.Cursor != "1" {
		t.Fatalf("first tail: %+v, %v", res, err)
	}
	// Nothing new: the call waits, then answers with the same cursor.
	res, err = f.s.Tail(ctx, viewer, req, res.Cursor, 30*time.Millisecond)
	if err != nil || len(res.Events) != 0 || res.Cursor != "1" {
		t.Fatalf("empty tail: %+v, %v", res, err)
	}
	f.add(t, f.now.Add(-2*time.Hour), "_msg", "late login") // arrives now, time before the tail's window
	f.add(t, f.now, "_msg", "new login")
	f.add(t, f.now, "_msg", "new logout")
	f.add(t, f.now.Add(-time.Second), "_msg", "newer login")
	f.st.Flush()
	res, err = f.s.Tail(ctx, viewer, req, res.Cursor, time.Minute)
	if err != nil || len(res.Events) != 2 || res.Events[0].Get("_msg") != "newer login" || res.Cursor != "5" {
		t.Fatalf("tail: %+v, %v", res, err)
	}
	// A client that goes away ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.s.Tail(cctx, viewer, req, "5", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled tail: %v", err)
	}
	if _, err := f.s.Tail(ctx, viewer, f.req(t, "* | count()", ""), "5", 0); !IsInvalid(err) {
		t.Errorf("tail with pipes: %v", err)
	}
	alerts, _ := f.s.NewSearchRequest("", "", "", "alerts")
	if _, err := f.s.Tail(ctx, viewer, alerts, "5", 0); !IsInvalid(err) {
		t.Errorf("tail of alerts: %v", err)
	}
}

func TestSearchExport(t *testing.T) {
	f := mailDay(t)
	var buf bytes.Buffer
	n, _, err := f.s.Export(context.Background(), viewer, f.req(t, "event.outcome:=failure", "2h"), FormatCSV, nil, &buf, nil)
	if err != nil || n != 60 {
		t.Fatalf("csv: %d rows, %v", n, err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 61 {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	if h := strings.Join(recs[0], ","); !strings.HasPrefix(h, "_time,_msg,") || !strings.Contains(h, "user.name") {
		t.Errorf("csv header %q", h)
	}
	buf.Reset()
	f.s.opt.ExportRows = 10
	n, _, err = f.s.Export(context.Background(), viewer, f.req(t, "", "2h"), FormatJSONL, []string{"_time", "user.name"}, &buf, nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if err != nil || n != 10 || len(lines) != 10 {
		t.Fatalf("jsonl: %d rows, %d lines, %v", n, len(lines), err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil || len(m) != 2 || m["user.name"] == "" {
		t.Errorf("jsonl line %s: %v", lines[0], err)
	}
	if _, _, err := f.s.Export(context.Background(), viewer, f.req(t, "", "2h"), "xml", nil, &buf, nil); !IsInvalid(err) {
		t.Errorf("xml: %v", err)
	}
}

func TestSearchQueryErrorHints(t *testing.T) {
	f := newSearchFixture(t)
	for q, hint := range map[string]string{
		`user.name:"zhang`:       "double quote is not closed",
		`(a or b`:                "parentheses",
		`* | select count(*)`:    "not SQL",
		`* |`:                    "a pipe needs a name",
		`user.name==bob foo | x`: "field:=",
	} {
		_, err := f.s.Page(context.Background(), viewer, f.req(t, q, "1h"), 10, "")
		if !store.IsQueryError(err) || !strings.Contains(err.Error(), hint) {
			t.Errorf("%s: %v, want a query error with %q", q, err, hint)
		}
	}
}

func TestSearchScopeAndFilters(t *testing.T) {
	f := newSearchFixture(t)
	f.add(t, f.now, "_msg", "bad guy", "source.ip", "10.1.1.1", "user.name", `o"brien x`)
	f.add(t, f.now, "_msg", "alert: bad guy", "source.ip", "10.1.1.1", "event.kind", "alert")
	// The same without the alert's kind is an event: the filters below
	// count the events.
	f.add(t, f.now, "_msg", "alert: bad guy", "source.ip", "10.1.1.1")
	f.st.Flush()
	alerts, err := f.s.NewSearchRequest("source.ip:=10.1.1.1", "1h", "", "alerts")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.s.Page(context.Background(), viewer, alerts, 10, "")
	if err != nil || len(p.Events) != 1 || p.Events[0].Get("event.kind") != "alert" || p.Events[0].ID != "" {
		t.Fatalf("alerts scope: %+v, %v", p, err)
	}
	if _, err := f.s.NewSearchRequest("", "", "", "everything"); !IsInvalid(err) {
		t.Errorf("bad scope: %v", err)
	}
	for q, want := range map[string]int{
		AddFilter("bad", FilterFor("user.name", `o"brien x`, false)):                  1,
		AddFilter("bad", FilterFor("user.name", `o"brien x`, true)):                   1,
		AddFilter("", FilterFor("odd field|name", "x", true)):                         2,
		AddFilter("bad or good | limit 5", FilterFor("source.ip", "10.1.1.1", false)): 2,
	} {
		p, err := f.s.Page(context.Background(), viewer, f.req(t, q, "1h"), 10, "")
		if err != nil || len(p.Events) != want {
			t.Errorf("%s: %d events, %v; want %d", q, len(p.Events), err, want)
		}
	}
}

func TestSearchPermissions(t *testing.T) {
	f := newSearchFixture(t)
	ctx := context.Background()
	req := f.req(t, "", "1h")
	var buf bytes.Buffer
	for name, call := range map[string]func() error{
		"page":      func() error { _, err := f.s.Page(ctx, nobody, req, 10, ""); return err },
		"histogram": func() error { _, err := f.s.Histogram(ctx, nobody, req, 0); return err },
		"fields":    func() error { _, err := f.s.Fields(ctx, nobody, req, 5, nil); return err },
		"top":       func() error { _, err := f.s.Top(ctx, nobody, req, "a", 5); return err },
		"event":     func() error { _, err := f.s.Event(ctx, nobody, strings.Repeat("0", 32), time.Time{}, ""); return err },
		"tail":      func() error { _, err := f.s.Tail(ctx, nobody, req, "", 0); return err },
		"export":    func() error { _, _, err := f.s.Export(ctx, nobody, req, FormatCSV, nil, &buf, nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s without a role: %v", name, err)
		}
	}
}
