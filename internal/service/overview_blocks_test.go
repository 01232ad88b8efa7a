package service

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// blockFixture is a real store with 30 hours of logins and failures
// (some exactly on block boundaries) and two Dashboards over it: live
// (no blocks) and blocks (with an injected clock).
type blockFixture struct {
	vs     *vlstore.Store
	now    time.Time
	clock  atomic.Pointer[time.Time]
	live   *Dashboards
	blocks *Dashboards
}

func newBlockFixture(t *testing.T) *blockFixture {
	t.Helper()
	// A now that is not on a block boundary.
	now := time.Now().Truncate(blockSize).Add(7*time.Minute + 13*time.Second)
	vs, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 30 * 24 * time.Hour,
		StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	protos := []string{"owa", "activesync", "ews", "imap", "pop3", "kerberos", "mapi"}
	var rows []store.Row
	for i := range 3000 {
		// Spread over 30 hours; every 50th exactly on a block boundary.
		at := now.Add(-30 * time.Hour).Add(time.Duration(i*i%107993) * time.Second)
		if i%50 == 0 {
			at = at.Truncate(blockSize)
		}
		outcome := "success"
		if i%3 == 0 {
			outcome = "failure"
		}
		ds := "nginx.access"
		if protos[i%7] == "kerberos" {
			ds = "windows.security"
		}
		ip := "10.0." + strconv.Itoa(i%17) + "." + strconv.Itoa(i%29)
		kv := []string{"event.category", "authentication", "event.outcome", outcome, "network.protocol", protos[i%7],
			"event.dataset", ds, "user.name", "u" + strconv.Itoa(i*7%41)}
		if i%11 != 0 { // some without an address
			kv = append(kv, "source.ip", ip)
		}
		if i%13 == 0 { // and some without a user
			kv[9] = ""
		}
		rows = append(rows, ev(at, kv...))
	}
	if err := vs.Add(rows); err != nil {
		t.Fatal(err)
	}
	vs.Flush()
	f := &blockFixture{vs: vs, now: now}
	f.clock.Store(&now)
	svc := search.New(vs, search.Limits{MaxConcurrent: 4, QueueWait: time.Minute}, nil)
	clock := func() time.Time { return *f.clock.Load() }
	f.live = NewDashboards(svc, DashboardOptions{Now: clock, BlockBytes: -1})
	f.blocks = NewDashboards(svc, DashboardOptions{Now: clock, Settle: 5*time.Minute + time.Second})
	return f
}

func (f *blockFixture) set(t time.Time) { f.clock.Store(&t) }

// warm computes every block the warmer wants now.
func warm(t *testing.T, d *Dashboards) int {
	t.Helper()
	n := 0
	for {
		did, err := d.warmOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !did {
			return n
		}
		n++
	}
}

// overviewOf runs the overview's queries without its TTL cache.
func overviewOf(t *testing.T, d *Dashboards, q OverviewQuery) *Overview {
	t.Helper()
	if q.Loc == nil {
		q.Loc = time.UTC
	}
	ov, err := d.overview(context.Background(), q, d.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Errors) != 0 {
		t.Fatalf("errors %v", ov.Errors)
	}
	return ov
}

// ranked writes a top list sorted by count then key, leaving out the
// entries tied with the last one when the list is full (which of those
// the store's "sort | limit" keeps is not defined).
func ranked[T any](list []T, n func(T) int64, key func(T) string, full int) []string {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b T) int {
		if c := cmp.Compare(n(b), n(a)); c != 0 {
			return c
		}
		return cmp.Compare(key(a), key(b))
	})
	var out []string
	for _, e := range list {
		if len(list) == full && n(e) == n(list[len(list)-1]) {
			continue
		}
		out = append(out, fmt.Sprintf("%+v", e))
	}
	return append(out, "len "+strconv.Itoa(len(list)))
}

func samePanels(t *testing.T, name string, got, want *Overview) {
	t.Helper()
	if g, w := fmt.Sprintf("%+v", *got.Timeline), fmt.Sprintf("%+v", *want.Timeline); g != w {
		t.Errorf("%s: timeline\n got %s\nwant %s", name, g, w)
	}
	src := func(l []SourceFailures) []string {
		return ranked(l, func(s SourceFailures) int64 { return s.Failures }, func(s SourceFailures) string { return s.IP }, overviewTop)
	}
	acc := func(l []AccountFailures) []string {
		return ranked(l, func(s AccountFailures) int64 { return s.Failures }, func(s AccountFailures) string { return s.User }, overviewTop)
	}
	if g, w := src(got.TopSources), src(want.TopSources); !slices.Equal(g, w) {
		t.Errorf("%s: top sources\n got %v\nwant %v", name, g, w)
	}
	if g, w := acc(got.TopAccounts), acc(want.TopAccounts); !slices.Equal(g, w) {
		t.Errorf("%s: top accounts\n got %v\nwant %v", name, g, w)
	}
	if g, w := fmt.Sprintf("%+v", got.Countries), fmt.Sprintf("%+v", want.Countries); g != w {
		t.Errorf("%s: countries\n got %s\nwant %s", name, g, w)
	}
}

// TestOverviewBlocksExact: the overview merged from cached blocks and
// live spans equals the one queried over the whole range, for ranges
// aligned and not, and zones with whole, half and three-quarter hour
// offsets.
func TestOverviewBlocksExact(t *testing.T) {
	f := newBlockFixture(t)
	var zones []*time.Location
	for _, name := range []string{"UTC", "Asia/Shanghai", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	aligned := f.now.Truncate(time.Hour).Add(-2 * time.Hour)
	queries := []OverviewQuery{
		{Range: 24 * time.Hour},
		{Range: 6 * time.Hour},
		{Range: 7*time.Hour + 13*time.Minute + 17*time.Second, End: f.now.Add(-37*time.Minute - 5*time.Second)},
		{Range: 25 * time.Hour, End: aligned},
		{Range: 90 * time.Minute, End: aligned.Add(-3 * time.Hour)},
		{Range: 29 * time.Hour},
		{Range: 49 * time.Hour}, // 2-hour buckets
	}
	for _, q := range queries {
		f.blocks.wantRange(q.Range, q.End, f.now)
	}
	if n := warm(t, f.blocks); n == 0 {
		t.Fatal("the warmer computed no block")
	}
	if warm(t, f.blocks) != 0 {
		t.Error("a second pass computed blocks again")
	}
	for _, q := range queries {
		for _, loc := range zones {
			q.Loc = loc
			name := fmt.Sprintf("range %s end %s zone %s", q.Range, q.End.Format(time.TimeOnly), loc)
			got, want := overviewOf(t, f.blocks, q), overviewOf(t, f.live, q)
			if got.CachedBlocks == 0 || want.CachedBlocks != 0 || len(got.BlockFallback) != 0 {
				t.Errorf("%s: %d cached blocks (live %d), fallback %v", name, got.CachedBlocks, want.CachedBlocks, got.BlockFallback)
			}
			samePanels(t, name, got, want)
		}
	}
	// The data has groups without an address or user and events on the
	// boundaries: the comparison above must have seen them.
	ov := overviewOf(t, f.live, OverviewQuery{Range: 29 * time.Hour})
	if len(ov.TopSources) != overviewTop || len(ov.Countries) == 0 || len(ov.Timeline.Series) != len(Protocols) {
		t.Errorf("fixture too thin: %+v", ov)
	}
}

// TestOverviewBlockPlan: which blocks of a range are cached, which are
// queried live.
func TestOverviewBlockPlan(t *testing.T) {
	h := time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
	now := h.Add(2*time.Hour + 4*time.Minute) // 12:04: 11:45-12:00 closes at 12:05
	d := NewDashboards(nil, DashboardOptions{Now: func() time.Time { return now }, Settle: 5 * time.Minute})
	for t := h.Add(-9 * 24 * time.Hour); t.Before(now); t = t.Add(blockSize) {
		d.blocks.put(&block{key: blockKey{kindLogins, t.Unix()}, size: 1})
	}
	f := func(t time.Time) string { return t.Format("15:04") }
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       string
	}{
		{"aligned (the range's end is inclusive)", h, h.Add(time.Hour), "10:00-11:00 cached 4, live 11:00-11:00"},
		{"edges", h.Add(7 * time.Minute), h.Add(time.Hour + 3*time.Minute), "live 10:07-10:15, 10:15-11:00 cached 3, live 11:00-11:03"},
		{"open block", h.Add(time.Hour), now, "11:00-11:45 cached 3, live 11:45-12:04"},
		{"within a block", h.Add(time.Minute), h.Add(14 * time.Minute), "live 10:01-10:14"},
		{"older than kept", now.Add(-8*24*time.Hour - 30*time.Minute), now.Add(-8*24*time.Hour + 30*time.Minute),
			"live 11:34-12:15, 12:15-12:30 cached 1, live 12:30-12:34"},
	} {
		spans, _, _ := d.plan(kindLogins, tc.start, tc.end, now)
		var got []string
		for i := 0; i < len(spans); i++ {
			s := spans[i]
			if s.b == nil {
				got = append(got, "live "+f(s.start)+"-"+f(s.end))
				continue
			}
			j := i
			for j+1 < len(spans) && spans[j+1].b != nil {
				j++
			}
			got = append(got, fmt.Sprintf("%s-%s cached %d", f(s.start), f(spans[j].end), j-i+1))
			i = j
		}
		if g := strings.Join(got, ", "); g != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, g, tc.want)
		}
	}
}

// TestOverviewBlockCap: a block with more groups than the cap makes its
// panels query the whole range, and says so.
func TestOverviewBlockCap(t *testing.T) {
	f := newBlockFixture(t)
	f.blocks.cap = 5 // some of the fixture's blocks have more addresses and failure pairs
	warm(t, f.blocks)
	q := OverviewQuery{Range: 24 * time.Hour}
	got, want := overviewOf(t, f.blocks, q), overviewOf(t, f.live, q)
	samePanels(t, "cap 5", got, want)
	if !slices.Equal(got.BlockFallback, []string{"countries", "top_accounts", "top_sources"}) {
		t.Errorf("fallback %v, want the top panels", got.BlockFallback)
	}
	if got.CachedBlocks == 0 {
		t.Error("the timeline took no block")
	}
	// A live span with more groups than the cap falls back too.
	f.blocks.cap = 1
	got = overviewOf(t, f.blocks, OverviewQuery{Range: 24 * time.Hour, End: f.now.Add(-7 * time.Minute)})
	samePanels(t, "cap 1", got, overviewOf(t, f.live, OverviewQuery{Range: 24 * time.Hour, End: f.now.Add(-7 * time.Minute)}))
	if !slices.Contains(got.BlockFallback, "countries") {
		t.Errorf("cap 1: fallback %v", got.BlockFallback)
	}
}

// TestOverviewLateEvents: an event that arrives after its block was
// computed is counted once the block is computed again, an hour after
// its end (each block is computed at most twice).
func TestOverviewLateEvents(t *testing.T) {
	f := newBlockFixture(t)
	warm(t, f.blocks)
	q := OverviewQuery{Range: 24 * time.Hour, End: f.now}
	before := overviewOf(t, f.blocks, q)
	// Late: timed 30 minutes ago, in a closed block computed already.
	at := f.now.Add(-30 * time.Minute)
	if err := f.vs.Add([]store.Row{ev(at, "event.category", "authentication", "event.outcome", "failure",
		"network.protocol", "owa", "event.dataset", "nginx.access", "user.name", "late", "source.ip", "192.0.2.99")}); err != nil {
		t.Fatal(err)
	}
	f.vs.Flush()
	stale := overviewOf(t, f.blocks, q)
	if stale.Timeline.Series[0].TotalFailure != before.Timeline.Series[0].TotalFailure {
		t.Errorf("the cached block changed by itself")
	}
	if n := warm(t, f.blocks); n != 0 {
		t.Errorf("within the hour: %d blocks computed again", n)
	}
	// Its recheck is due an hour after its end.
	f.set(f.now.Add(2 * time.Hour))
	if n := warm(t, f.blocks); n == 0 {
		t.Fatal("no block computed again")
	}
	fresh := overviewOf(t, f.blocks, q)
	if fresh.Timeline.Series[0].TotalFailure != before.Timeline.Series[0].TotalFailure+1 {
		t.Errorf("after the recheck: %d failures over OWA, want %d", fresh.Timeline.Series[0].TotalFailure, before.Timeline.Series[0].TotalFailure+1)
	}
	samePanels(t, "after the recheck", fresh, overviewOf(t, f.live, q))
	// An hour later: the 4 blocks that closed since and the 8 computed
	// less than an hour after their end at +2h, no other.
	f.set(f.now.Add(3 * time.Hour))
	if n := warm(t, f.blocks); n > 3*(4+8) {
		t.Errorf("an hour later: %d blocks computed, want at most %d", n, 3*(4+8))
	}
	f.set(f.now.Add(10 * time.Hour))
	warm(t, f.blocks)
	if n := warm(t, f.blocks); n != 0 {
		t.Errorf("a block computed a third time: %d", n)
	}
}

// TestOverviewWarm: the warmer computes the default range's blocks in
// the background and ends with its context; an overview then takes
// them.
func TestOverviewWarm(t *testing.T) {
	f := newBlockFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.blocks.Warm(ctx)
		close(done)
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, _, ok := f.blocks.nextBlock(f.now); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not warm after a minute: %+v", f.blocks.BlockStats())
		}
	}
	// 24 hours of closed 15-minute blocks, three kinds.
	if st := f.blocks.BlockStats(); st.Blocks < 3*(96-2) || st.Bytes == 0 {
		t.Errorf("warm: %+v", st)
	}
	ov, err := f.blocks.Overview(context.Background(), viewer, OverviewQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if ov.CachedBlocks < 4*(96-2) {
		t.Errorf("cached blocks %d", ov.CachedBlocks)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the warmer did not end with its context")
	}
	// Without blocks (BlockBytes < 0) Warm returns at once.
	f.live.Warm(context.Background())
}

// TestOverviewBlockMemory: the blocks stay within their memory bound,
// dropping the least recently used, and the warmer stops when the bound
// is reached instead of computing the dropped blocks again.
func TestOverviewBlockMemory(t *testing.T) {
	c := blockCache{max: 300, m: map[blockKey]*block{}, dirty: map[int64]time.Time{}}
	for i := range 3 {
		if full := c.put(&block{key: blockKey{kindLogins, int64(i)}, size: 100}); full {
			t.Errorf("block %d: full", i)
		}
	}
	c.get(blockKey{kindLogins, 0}) // used: 1 is now the least recently used
	if !c.put(&block{key: blockKey{kindLogins, 3}, size: 100}) {
		t.Error("no room was taken")
	}
	if c.get(blockKey{kindLogins, 1}) != nil || c.get(blockKey{kindLogins, 0}) == nil || c.bytes != 300 {
		t.Errorf("kept %d bytes, block 1 %v", c.bytes, c.get(blockKey{kindLogins, 1}))
	}
	if !c.put(&block{key: blockKey{kindLogins, 9}, size: 301}) || c.get(blockKey{kindLogins, 9}) != nil {
		t.Error("a block larger than the bound was kept")
	}

	f := newBlockFixture(t)
	f.blocks.blocks.max = 20 << 10
	n := warm(t, f.blocks)
	if st := f.blocks.BlockStats(); st.Bytes > 20<<10 || n > st.Blocks+1 {
		t.Errorf("bound 20KiB: %d computed, %+v kept", n, st)
	}
	q := OverviewQuery{Range: 24 * time.Hour}
	samePanels(t, "bound 20KiB", overviewOf(t, f.blocks, q), overviewOf(t, f.live, q))
}

// TestOverviewAdded: rows the indexer stores drop the blocks they fall
// in, so late events are counted at once (live) and in the block
// computed again a minute later; a block computed while rows arrived
// for it is not kept.
func TestOverviewAdded(t *testing.T) {
	f := newBlockFixture(t)
	warm(t, f.blocks)
	q := OverviewQuery{Range: 24 * time.Hour, End: f.now}
	before := overviewOf(t, f.blocks, q)
	late := []store.Row{ev(f.now.Add(-5*time.Hour), "event.category", "authentication", "event.outcome", "failure",
		"network.protocol", "owa", "event.dataset", "nginx.access", "user.name", "late", "source.ip", "192.0.2.99")}
	if err := f.vs.Add(late); err != nil {
		t.Fatal(err)
	}
	f.blocks.Added(late)
	f.vs.Flush()
	got := overviewOf(t, f.blocks, q)
	if got.CachedBlocks != before.CachedBlocks-4 {
		t.Errorf("cached blocks %d, want %d (the late event's dropped)", got.CachedBlocks, before.CachedBlocks-4)
	}
	samePanels(t, "late event", got, overviewOf(t, f.live, q))
	if n := warm(t, f.blocks); n != 0 {
		t.Errorf("computed %d blocks again while rows arrive", n)
	}
	f.set(f.now.Add(blockQuiet))
	if n := warm(t, f.blocks); n != 3 {
		t.Errorf("a minute later: %d blocks computed, want 3", n)
	}
	got = overviewOf(t, f.blocks, q)
	if got.CachedBlocks != before.CachedBlocks {
		t.Errorf("cached blocks %d, want %d", got.CachedBlocks, before.CachedBlocks)
	}
	samePanels(t, "late event, block computed again", got, overviewOf(t, f.live, q))
	// Rows for a block while it is computed: the result is not kept.
	at := f.now.Add(blockQuiet - 3*time.Hour).Truncate(blockSize)
	f.blocks.Added([]store.Row{{Time: at}})
	b, err := f.blocks.computeBlock(context.Background(), kindLogins, at)
	if err != nil {
		t.Fatal(err)
	}
	if f.blocks.blocks.put(b); f.blocks.blocks.get(b.key) != nil {
		t.Error("a block computed while rows arrived for it was kept")
	}
}
