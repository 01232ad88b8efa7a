package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// storePeer is a peer over another fixture's store, as the API of a
// peer answers (its searches local, its rows with their event ids); fail
// makes it fail, block makes it wait for the end of its context.
type storePeer struct {
	name  string
	f     *searchFixture
	fail  error
	block bool
	calls atomic.Int64
}

func (p *storePeer) Name() string { return p.name }

func (p *storePeer) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	p.calls.Add(1)
	if p.block {
		<-ctx.Done()
		return fmt.Errorf("peer %s: %w", p.name, ctx.Err())
	}
	if p.fail != nil {
		return p.fail
	}
	local := p.f.s.Local()
	return local.st.Search(ctx, q, func(r store.Row) error {
		if r.Get("event.id") == "" {
			if id := local.EventID(&r); id != "" {
				r.Fields = append(slices.Clip(r.Fields), store.Field{Name: "event.id", Value: id})
			}
		}
		return fn(r)
	})
}

func (p *storePeer) Event(ctx context.Context, id string, at time.Time) (*EventDetail, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	return p.f.s.Local().Event(ctx, viewer, id, at, "")
}

// cluster is three fixtures, a, b and c, where a's searches read b and
// c as peers; each holds its own journal id.
type cluster struct {
	a, b, c *searchFixture
	pb, pc  *storePeer
}

func newCluster(t *testing.T) *cluster {
	cl := &cluster{a: newSearchFixture(t), b: newSearchFixture(t), c: newSearchFixture(t)}
	cl.b.now, cl.c.now = cl.a.now, cl.a.now
	for i, f := range []*searchFixture{cl.a, cl.b, cl.c} {
		f.s.opt.Node = string(rune('a' + i))
		f.s.opt.JournalID = testJournalID + uint64(i)
	}
	cl.pb, cl.pc = &storePeer{name: "b", f: cl.b}, &storePeer{name: "c", f: cl.c}
	cl.a.s.opt.Peers = []Peer{cl.pb, cl.pc}
	cl.a.s.opt.PeerTimeout = time.Minute
	return cl
}

// fill stores 3 events a second on a, 2 on b and 1 on c over 40
// seconds, and returns how many.
func (cl *cluster) fill(t *testing.T) int {
	n := 0
	for sec := range 40 {
		at := cl.a.now.Add(-time.Duration(sec) * time.Second)
		for i, f := range []*searchFixture{cl.a, cl.b, cl.c} {
			for k := range 3 - i {
				f.add(t, at, "_msg", fmt.Sprintf("%c %d %d", 'a'+i, sec, k), "user.name", fmt.Sprintf("u%d", (sec+k)%4),
					"source.ip", fmt.Sprintf("10.0.%d.1", i))
				n++
			}
		}
	}
	for _, f := range []*searchFixture{cl.a, cl.b, cl.c} {
		f.st.Flush()
	}
	return n
}

func TestClusterPageOrderAndCursors(t *testing.T) {
	cl := newCluster(t)
	total := cl.fill(t)
	req := cl.a.req(t, "", "1h")
	for _, size := range []int{1, 4, 7, 100, 500} {
		var got []Event
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > total+1 {
				t.Fatalf("size %d: paging does not end", size)
			}
			p, err := cl.a.s.Page(context.Background(), viewer, req, size, cursor)
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if len(p.Failed) > 0 || len(p.Events) > size || p.More && len(p.Events) == 0 {
				t.Fatalf("size %d: page of %d events, more %v, failed %v", size, len(p.Events), p.More, p.Failed)
			}
			got = append(got, p.Events...)
			if !p.More {
				break
			}
			if !strings.Contains(p.Cursor, "@") {
				t.Fatalf("cursor %q names no node", p.Cursor)
			}
			cursor = p.Cursor
		}
		if len(got) != total {
			t.Fatalf("size %d: %d events, want %d", size, len(got), total)
		}
		want := slices.Clone(got)
		sortCluster(want)
		seen := map[string]bool{}
		for i, e := range got {
			if e.ID != want[i].ID {
				t.Fatalf("size %d: event %d is %s %s, want %s %s", size, i, e.Node, e.Get("_msg"), want[i].Node, want[i].Get("_msg"))
			}
			if e.ID == "" || seen[e.ID] || e.Node == "" || e.Node != e.Get("_msg")[:1] {
				t.Fatalf("size %d: event %q: id %q (twice: %v), node %q", size, e.Get("_msg"), e.ID, seen[e.ID], e.Node)
			}
			seen[e.ID] = true
		}
	}
}

func TestClusterCursorAt(t *testing.T) {
	t0 := time.Unix(1000, 0).UTC()
	c := clusterCursor{pageCursor{t: t0, seq: 7}, "b"}
	for _, tt := range []struct {
		node string
		want pageCursor
	}{
		{"a", pageCursor{t: t0.Add(-time.Nanosecond)}},
		{"b", pageCursor{t: t0, seq: 7}},
		{"c", pageCursor{t: t0}},
	} {
		if got := c.at(tt.node); got != tt.want {
			t.Errorf("at(%s) = %v, want %v", tt.node, got, tt.want)
		}
	}
	back, err := parseClusterCursor(c.String())
	if err != nil || back != c {
		t.Errorf("cursor %q reads back as %v, %v", c.String(), back, err)
	}
	if got := (clusterCursor{pageCursor{t: t0}, "b"}).at("b"); got != (pageCursor{t: t0.Add(-time.Nanosecond)}) {
		t.Errorf("a cursor without a sequence steps over the instant, got %v", got)
	}
	if _, err := parseClusterCursor("x@b"); !IsInvalid(err) {
		t.Errorf("a bad cursor: %v", err)
	}
}

func TestClusterCounts(t *testing.T) {
	cl := newCluster(t)
	total := cl.fill(t)
	ctx := context.Background()
	req := cl.a.req(t, "", "1h")
	h, err := cl.a.s.Histogram(ctx, viewer, req, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, b := range h.Buckets {
		sum += b.Count
	}
	if h.Total != uint64(total) || sum != uint64(total) {
		t.Errorf("histogram total %d, buckets %d, want %d", h.Total, sum, total)
	}
	fs, err := cl.a.s.Fields(ctx, viewer, req, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]uint64{}
	for _, f := range fs.Fields {
		if f.Name == "source.ip" {
			for _, v := range f.Values {
				ips[v.Value] = v.Count
			}
		}
	}
	if want := map[string]uint64{"10.0.0.1": 120, "10.0.1.1": 80, "10.0.2.1": 40}; fmt.Sprint(ips) != fmt.Sprint(want) {
		t.Errorf("source.ip values %v, want %v", ips, want)
	}
	top, err := cl.a.s.Top(ctx, viewer, req, "source.ip", 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(top.Values) != "[{10.0.0.1 120} {10.0.1.1 80}]" {
		t.Errorf("top %v", top.Values)
	}
}

func TestClusterPartialFailure(t *testing.T) {
	cl := newCluster(t)
	total := cl.fill(t)
	cl.pc.fail = errors.New("connection refused")
	cl.pb.block = true
	cl.a.s.opt.PeerTimeout = 50 * time.Millisecond
	ctx := context.Background()
	req := cl.a.req(t, "", "1h")
	p, err := cl.a.s.Page(ctx, viewer, req, 500, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != total/2 {
		t.Errorf("%d events, want a's %d", len(p.Events), total/2)
	}
	for _, e := range p.Events {
		if e.Node != "a" {
			t.Fatalf("event of node %q", e.Node)
		}
	}
	want := `[{b no answer within 50ms (cluster.peer_timeout)} {c connection refused}]`
	if got := fmt.Sprint(p.Failed); got != want {
		t.Errorf("failed %s, want %s", got, want)
	}
	h, err := cl.a.s.Histogram(ctx, viewer, req, 0)
	if err != nil || h.Total != uint64(total/2) || len(h.Failed) != 2 {
		t.Errorf("histogram %v, %v", h, err)
	}
	// This node's error is the search's.
	if _, err := cl.a.s.Page(ctx, viewer, cl.a.req(t, `"unclosed`, "1h"), 10, ""); err == nil || !store.IsQueryError(err) {
		t.Errorf("bad query: %v", err)
	}
}

func TestClusterNoLoop(t *testing.T) {
	cl := newCluster(t)
	cl.fill(t)
	local := cl.a.s.Local()
	if local.Clustered() || !cl.a.s.Clustered() {
		t.Fatal("Local still reads peers")
	}
	p, err := local.Page(context.Background(), viewer, cl.a.req(t, "", "1h"), 500, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 120 || cl.pb.calls.Load() != 0 || cl.pc.calls.Load() != 0 {
		t.Errorf("local page: %d events, peers asked %d and %d times", len(p.Events), cl.pb.calls.Load(), cl.pc.calls.Load())
	}
}

func TestClusterEvent(t *testing.T) {
	cl := newCluster(t)
	cl.fill(t)
	ctx := context.Background()
	p, err := cl.a.s.Page(ctx, viewer, cl.a.req(t, "", "1h"), 500, "")
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]Event{}
	for _, e := range p.Events {
		byNode[e.Node] = e
	}
	for _, name := range []string{"a", "b", "c"} {
		e := byNode[name]
		for _, hint := range []string{name, ""} {
			d, err := cl.a.s.Event(ctx, viewer, e.ID, e.Time, hint)
			if err != nil {
				t.Fatalf("event of %s (node %q): %v", name, hint, err)
			}
			if d.Node != name || d.ID != e.ID || d.Raw == nil {
				t.Errorf("event of %s (node %q): node %q, id %s, raw %v", name, hint, d.Node, d.ID, d.Raw)
			}
		}
	}
	if _, err := cl.a.s.Event(ctx, viewer, byNode["b"].ID, time.Time{}, "x"); !IsInvalid(err) {
		t.Errorf("unknown node: %v", err)
	}
	cl.pc.fail = errors.New("connection refused")
	_, err = cl.a.s.Event(ctx, viewer, byNode["c"].ID, byNode["c"].Time, "")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "c: connection refused") {
		t.Errorf("event of a failed peer: %v", err)
	}
}

func TestClusterTail(t *testing.T) {
	cl := newCluster(t)
	ctx := context.Background()
	req := cl.a.req(t, "", "1h")
	first, err := cl.a.s.Tail(ctx, viewer, req, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cursor != "a:0,b:0,c:0" {
		t.Errorf("first cursor %q", first.Cursor)
	}
	cl.b.add(t, cl.a.now, "_msg", "b new")
	cl.c.add(t, cl.a.now.Add(-time.Second), "_msg", "c new")
	cl.b.st.Flush()
	cl.c.st.Flush()
	got, err := cl.a.s.Tail(ctx, viewer, req, first.Cursor, MaxTailWait)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || got.Events[0].Get("_msg") != "b new" || got.Events[1].Get("_msg") != "c new" || got.Cursor != "a:0,b:1,c:1" {
		t.Errorf("tail: %d events, cursor %q", len(got.Events), got.Cursor)
	}
	if _, err := cl.a.s.Tail(ctx, viewer, req, "a:x", 0); !IsInvalid(err) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestClusterExportAndRows(t *testing.T) {
	cl := newCluster(t)
	total := cl.fill(t)
	cl.pc.fail = errors.New("connection refused")
	ctx := context.Background()
	var buf bytes.Buffer
	var early []NodeFailure
	n, late, err := cl.a.s.Export(ctx, viewer, cl.a.req(t, "", "1h"), FormatJSONL, nil, &buf, func(f []NodeFailure) {
		if buf.Len() > 0 {
			t.Error("failures told after the first write")
		}
		early = f
	})
	if err != nil || len(late) > 0 || n != total*5/6 {
		t.Fatalf("export: %d rows, late %v, %v", n, late, err)
	}
	if len(early) != 1 || early[0].Node != "c" {
		t.Errorf("failures %v", early)
	}
	sc := bufio.NewScanner(&buf)
	var prev time.Time
	nodes := map[string]int{}
	for sc.Scan() {
		var row map[string]string
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		at, _ := time.Parse(time.RFC3339Nano, row["_time"])
		if !prev.IsZero() && at.After(prev) {
			t.Fatalf("row at %s after one at %s", at, prev)
		}
		prev = at
		nodes[row[NodeField]]++
	}
	if fmt.Sprint(nodes) != "map[a:120 b:80]" {
		t.Errorf("rows by node %v", nodes)
	}
	// Rows: oldest first, limited.
	var rows []store.Row
	_, err = cl.a.s.Rows(ctx, viewer, store.Query{Text: "*", Start: cl.a.now.Add(-time.Hour), End: cl.a.now, Limit: 10, Order: store.Oldest},
		nil, func(r store.Row) error { rows = append(rows, r); return nil })
	if err != nil || len(rows) != 10 {
		t.Fatalf("rows: %d, %v", len(rows), err)
	}
	if !slices.IsSortedFunc(rows, func(a, b store.Row) int { return a.Time.Compare(b.Time) }) {
		t.Error("rows not oldest first")
	}
}
