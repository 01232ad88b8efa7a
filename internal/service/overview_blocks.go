package service

import (
	"cmp"
	"container/list"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// The overview's costly panels (the login timeline, the top failing
// sources and accounts, the countries of successful logins) are
// computed per block of time: a block that closed (its end is more than
// the settle delay in the past) is queried once, kept in memory and
// merged with the live queries of the rest of the range (its partial
// blocks at the edges and the blocks still open). Every merge is exact:
// counts add up, the top lists keep every group of a block (at most
// blockCap; a block with more makes its panel query the whole range
// live) and distinct counts are kept as the set of pairs they count.

// Bounds of the overview's blocks.
const (
	// blockSize is the width of a block; it divides an hour, so blocks
	// start at whole quarters of an hour in UTC.
	blockSize = 15 * time.Minute
	// blockCap is the most groups a block keeps.
	blockCap = 50000
	// blockKeep is how far back blocks are kept (older ranges are
	// queried live).
	blockKeep = 8 * 24 * time.Hour
	// blockRecheck is when a block is computed once more after its end,
	// to count events that arrived later than the settle delay.
	blockRecheck = time.Hour
	// DefaultBlockBytes bounds the blocks' memory unless
	// DashboardOptions.BlockBytes says otherwise.
	DefaultBlockBytes = 64 << 20
	// blockQuiet is how long the warmer leaves a block alone after rows
	// arrived for it (they become searchable within a second; a backlog
	// brings more).
	blockQuiet = time.Minute
	// maxWants bounds the ranges the warmer keeps computing.
	maxWants = 8
	// wantIdle is how long the warmer keeps computing a range nobody
	// asked for again.
	wantIdle = time.Hour
)

// blockKind is what a block holds.
type blockKind uint8

const (
	// kindTimeline: authentication events by minute, protocol group and
	// outcome.
	kindTimeline blockKind = iota
	// kindFailures: failed logons by source.ip and user.name (the top
	// failing sources and accounts with their distinct users and
	// sources).
	kindFailures
	// kindLogins: successful logons by source.ip (the countries).
	kindLogins
)

var blockKinds = []blockKind{kindTimeline, kindFailures, kindLogins}

// blockQuery is kind's LogsQL for a block: the groups in full, limited
// to one more than the cap to see when a block has too many.
func (d *Dashboards) blockQuery(k blockKind) string {
	switch k {
	case kindTimeline:
		return authFilter + " | stats by (_time:60s, network.protocol, event.dataset, event.outcome) count() n"
	case kindFailures:
		return failedFilter + " | stats by (source.ip, user.name) count() n | limit " + strconv.Itoa(d.cap+1)
	default:
		return loginFilter + " | stats by (source.ip) count() n | limit " + strconv.Itoa(d.cap+1)
	}
}

// Filters of the top panels.
const (
	failedFilter = "event.category:authentication event.outcome:failure"
	loginFilter  = "event.category:authentication event.outcome:success source.ip:*"
)

type blockKey struct {
	kind  blockKind
	start int64 // Unix seconds
}

// block is one kind's result for [start, start+blockSize).
type block struct {
	key      blockKey
	computed time.Time // when its query started
	// over is true when the block had more than blockCap groups.
	over   bool
	counts []minuteCount // kindTimeline
	groups []groupCount  // kindFailures (ip, user), kindLogins (ip)
	size   int64
	elem   *list.Element
}

// minuteCount is the events of one minute, protocol group and outcome.
type minuteCount struct {
	at      int64 // Unix seconds of the minute
	group   uint8 // index in Protocols
	failure bool
	n       int64
}

// groupCount is the events of one group.
type groupCount struct {
	a, b string
	n    int64
}

// blockCache holds blocks up to a size in bytes, dropping the least
// recently used first.
type blockCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	m     map[blockKey]*block
	lru   list.List // of *block, most recently used first
	// dirty is when rows last arrived for a block start (Unix seconds).
	dirty map[int64]time.Time
}

func (c *blockCache) get(k blockKey) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[k]
	if b != nil {
		c.lru.MoveToFront(b.elem)
	}
	return b
}

// put adds b; full is true when that took the room of other blocks (or
// b does not fit at all).
func (c *blockCache) put(b *block) (full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.dirty[b.key.start]; ok && !at.Before(b.computed.Add(-time.Second)) {
		return false // rows arrived while it was computed: it may lack them
	}
	if old := c.m[b.key]; old != nil {
		c.removeLocked(old)
	}
	if b.size > c.max {
		return true
	}
	b.elem = c.lru.PushFront(b)
	c.m[b.key] = b
	c.bytes += b.size
	for c.bytes > c.max {
		c.removeLocked(c.lru.Back().Value.(*block))
		full = true
	}
	return full
}

// dropBefore forgets the blocks that start before t.
func (c *blockCache) dropBefore(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, b := range c.m {
		if k.start < t.Unix() {
			c.removeLocked(b)
		}
	}
	for k := range c.dirty {
		if k < t.Unix() {
			delete(c.dirty, k)
		}
	}
}

// Added drops the cached blocks that rows (just added to the store) fall
// in: they are queried live until the warmer computes them again, at
// least blockQuiet later. The server calls it for every batch the
// indexer stores, so events that arrive late are counted.
func (d *Dashboards) Added(rows []store.Row) {
	if d.blocks.max == 0 {
		return
	}
	now := d.opts.Now()
	last := int64(-1 << 63)
	for i := range rows {
		t := rows[i].Time.Truncate(blockSize).Unix()
		if t == last {
			continue
		}
		last = t
		d.blocks.drop(t, now)
	}
}

// drop forgets the blocks of every kind at start t.
func (c *blockCache) drop(t int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range blockKinds {
		if b := c.m[blockKey{k, t}]; b != nil {
			c.removeLocked(b)
		}
	}
	c.dirty[t] = now
}

// quiet reports whether the warmer may compute the blocks at t: no rows
// arrived for them lately.
func (c *blockCache) quiet(t int64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.dirty[t]
	if !ok {
		return true
	}
	if now.Sub(at) < blockQuiet {
		return false
	}
	delete(c.dirty, t)
	return true
}

func (c *blockCache) removeLocked(b *block) {
	c.lru.Remove(b.elem)
	delete(c.m, b.key)
	c.bytes -= b.size
}

// BlockStats describes the overview's block cache.
type BlockStats struct {
	Blocks int
	Bytes  int64
}

// BlockStats returns the number and size of the cached blocks.
func (d *Dashboards) BlockStats() BlockStats {
	d.blocks.mu.Lock()
	defer d.blocks.mu.Unlock()
	return BlockStats{Blocks: len(d.blocks.m), Bytes: d.blocks.bytes}
}

// closed reports whether the block starting at t closed: no event for
// it is expected any more.
func (d *Dashboards) closed(t, now time.Time) bool {
	return !t.Add(blockSize + d.opts.Settle).After(now)
}

// span is a part of a range: a cached block, or a live span when b is
// nil. end is exclusive but for the range's last span.
type span struct {
	start, end time.Time
	b          *block
}

// plan cuts [start, end] into the cached blocks of kind and the live
// spans between them. over is true when a block had too many groups.
func (d *Dashboards) plan(kind blockKind, start, end, now time.Time) (spans []span, cached int, over bool) {
	if d.blocks.max == 0 {
		return nil, 0, false
	}
	live := func(s, e time.Time) {
		if n := len(spans); n > 0 && spans[n-1].b == nil {
			spans[n-1].end = e
			return
		}
		spans = append(spans, span{start: s, end: e})
	}
	t := start.Truncate(blockSize)
	if t.Before(start) {
		t = t.Add(blockSize)
	}
	if t.After(start) {
		live(start, t)
	}
	old := now.Add(-blockKeep)
	for ; !t.Add(blockSize).After(end); t = t.Add(blockSize) {
		var b *block
		if d.closed(t, now) && !t.Before(old) {
			b = d.blocks.get(blockKey{kind, t.Unix()})
		}
		if b == nil {
			live(t, t.Add(blockSize))
			continue
		}
		if b.over {
			return nil, 0, true
		}
		spans = append(spans, span{start: t, end: t.Add(blockSize), b: b})
		cached++
	}
	live(t, end)
	return spans, cached, false
}

// spanRows runs text over a live span of a range that ends at end.
func (d *Dashboards) spanRows(ctx context.Context, text string, s span, end time.Time, fn func(*store.Row)) error {
	e := s.end.Add(-time.Nanosecond)
	if !s.end.Before(end) {
		e = end // the range's end is inclusive
	}
	return d.rows(ctx, text, s.start, e, fn)
}

// blockUse records what the overview took from the block cache.
type blockUse struct {
	mu       sync.Mutex
	cached   int
	fallback []string
}

func (u *blockUse) add(panel string, cached int, over bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cached += cached
	if over {
		u.fallback = append(u.fallback, panel)
	}
}

// tlSum adds up a login timeline.
type tlSum struct {
	tl     *Timeline
	series map[string]*ProtocolSeries
}

func newTLSum(tl *Timeline) *tlSum { return &tlSum{tl: tl, series: map[string]*ProtocolSeries{}} }

func (s *tlSum) add(t time.Time, group string, failure bool, n int64) {
	i := s.tl.bucket(t)
	if i < 0 {
		return
	}
	ps := s.series[group]
	if ps == nil {
		ps = &ProtocolSeries{Protocol: group, Success: make([]int64, len(s.tl.Buckets)), Failure: make([]int64, len(s.tl.Buckets))}
		s.series[group] = ps
	}
	if failure {
		ps.Failure[i] += n
		ps.TotalFailure += n
	} else {
		ps.Success[i] += n
		ps.TotalSuccess += n
	}
}

// row adds a row of the timeline's query.
func (s *tlSum) row(r *store.Row) {
	s.add(r.Time, protocolOf(r.Get("network.protocol"), r.Get("event.dataset")), r.Get("event.outcome") == "failure", num(r.Get("n")))
}

// done puts the series into the timeline in the order of Protocols.
func (s *tlSum) done() {
	for _, p := range Protocols {
		if ps := s.series[p]; ps != nil {
			s.tl.Series = append(s.tl.Series, *ps)
		}
	}
}

// timelinePanel fills the overview's login timeline from the cached
// blocks and live spans, or live over the whole range when no block
// helps or the buckets do not start at whole minutes.
func (d *Dashboards) timelinePanel(ctx context.Context, tl *Timeline, start, end, now time.Time, loc *time.Location, use *blockUse) error {
	aligned := len(tl.Buckets) > 0 && bucketOffset(tl.Step, loc, tl.Buckets[0])%time.Minute == 0
	spans, cached, _ := d.plan(kindTimeline, start, end, now)
	if !aligned || cached == 0 {
		return d.fillTimeline(ctx, tl, "", start, end, loc)
	}
	sum := newTLSum(tl)
	q := authFilter + " | stats by (" + tl.stepPipe(loc) + ", network.protocol, event.dataset, event.outcome) count() n"
	for _, s := range spans {
		if s.b == nil {
			if err := d.spanRows(ctx, q, s, end, sum.row); err != nil {
				return err
			}
			continue
		}
		for _, c := range s.b.counts {
			sum.add(time.Unix(c.at, 0), Protocols[c.group], c.failure, c.n)
		}
	}
	sum.done()
	use.add("timeline", cached, false)
	return nil
}

// groupPanel sums kind's groups over [start, end] from the cached
// blocks and live spans. ok is false when the panel must run its own
// query over the whole range: no block helps, or one has too many
// groups (over).
func (d *Dashboards) groupPanel(ctx context.Context, kind blockKind, panel string, start, end, now time.Time, use *blockUse) (sums map[[2]string]int64, ok bool, err error) {
	spans, cached, over := d.plan(kind, start, end, now)
	if over {
		use.add(panel, 0, true)
	}
	if over || cached == 0 {
		return nil, false, nil
	}
	sums = map[[2]string]int64{}
	for _, s := range spans {
		if s.b != nil {
			for _, g := range s.b.groups {
				sums[[2]string{g.a, g.b}] += g.n
			}
			continue
		}
		n := 0
		err := d.spanRows(ctx, d.blockQuery(kind), s, end, func(r *store.Row) {
			n++
			a, b := groupOf(kind, r)
			sums[[2]string{a, b}] += num(r.Get("n"))
		})
		if err != nil {
			return nil, false, err
		}
		if n > d.cap {
			use.add(panel, 0, true)
			return nil, false, nil
		}
	}
	use.add(panel, cached, false)
	return sums, true, nil
}

// groupOf returns the group of a row of kind's query (cloned).
func groupOf(kind blockKind, r *store.Row) (a, b string) {
	if kind == kindFailures {
		return get(r, "source.ip"), get(r, "user.name")
	}
	return get(r, "source.ip"), ""
}

// keyCount is a key's events and distinct partners.
type keyCount struct {
	key     string
	n, uniq int64
}

// topOf sums pairs by their first (by == 0) or second element: the
// events and the distinct non-empty partners of each non-empty key, most
// events first (ties by key), at most n (all when n < 0).
func topOf(sums map[[2]string]int64, by, n int) []keyCount {
	at := map[string]*keyCount{}
	for p, c := range sums {
		k, other := p[by], p[1-by]
		if k == "" {
			continue
		}
		kc := at[k]
		if kc == nil {
			kc = &keyCount{key: k}
			at[k] = kc
		}
		kc.n += c
		if other != "" {
			kc.uniq++
		}
	}
	out := make([]keyCount, 0, len(at))
	for _, kc := range at {
		out = append(out, *kc)
	}
	slices.SortFunc(out, func(a, b keyCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// computeBlock runs kind's query for the block at t.
func (d *Dashboards) computeBlock(ctx context.Context, kind blockKind, t time.Time) (*block, error) {
	b := &block{key: blockKey{kind, t.Unix()}, computed: d.opts.Now(), size: 128}
	n := 0
	err := d.rows(ctx, d.blockQuery(kind), t, t.Add(blockSize-time.Nanosecond), func(r *store.Row) {
		if kind == kindTimeline {
			g := slices.Index(Protocols, protocolOf(r.Get("network.protocol"), r.Get("event.dataset")))
			b.counts = append(b.counts, minuteCount{at: r.Time.Unix(), group: uint8(g), failure: r.Get("event.outcome") == "failure", n: num(r.Get("n"))})
			return
		}
		if n++; n > d.cap {
			return
		}
		a, c := groupOf(kind, r)
		b.groups = append(b.groups, groupCount{a: a, b: c, n: num(r.Get("n"))})
	})
	if err != nil {
		return nil, err
	}
	if n > d.cap {
		b.over, b.groups = true, nil
	}
	b.size += int64(len(b.counts)) * 32
	for _, g := range b.groups {
		b.size += 48 + int64(len(g.a)+len(g.b))
	}
	return b, nil
}

// want is a range the warmer keeps computing the blocks of.
type want struct {
	rng   time.Duration
	end   time.Time // zero: now
	asked time.Time
}

// wantRange records that someone looks at a range, so that the warmer
// computes its blocks.
func (d *Dashboards) wantRange(rng time.Duration, end, now time.Time) {
	if d.blocks.max == 0 {
		return
	}
	d.wmu.Lock()
	k := rng.String() + "|" + end.UTC().Format(time.RFC3339Nano)
	_, known := d.wants[k]
	d.wants[k] = want{rng: rng, end: end, asked: now}
	for len(d.wants) > maxWants {
		oldest := ""
		for k, w := range d.wants {
			if oldest == "" || w.asked.Before(d.wants[oldest].asked) {
				oldest = k
			}
		}
		delete(d.wants, oldest)
	}
	d.wmu.Unlock()
	if !known {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// nextBlock returns the block the warmer computes next: a missing
// closed block of a wanted range (newest first), or a block due for its
// recheck. ok is false when there is nothing to do.
func (d *Dashboards) nextBlock(now time.Time) (kind blockKind, t time.Time, ok bool) {
	ws := []want{{rng: 24 * time.Hour, asked: now}}
	d.wmu.Lock()
	for k, w := range d.wants {
		if now.Sub(w.asked) > wantIdle {
			delete(d.wants, k)
			continue
		}
		ws = append(ws, w)
	}
	d.wmu.Unlock()
	old := now.Add(-blockKeep)
	for _, w := range ws {
		end := w.end
		if end.IsZero() {
			end = now
		}
		first := end.Add(-w.rng)
		for t := end.Truncate(blockSize); !t.Before(first) && !t.Before(old); t = t.Add(-blockSize) {
			if !d.closed(t, now) || t.Add(blockSize).After(end) || !d.blocks.quiet(t.Unix(), now) {
				continue
			}
			for _, k := range blockKinds {
				b := d.blocks.get(blockKey{k, t.Unix()})
				if b == nil || b.computed.Before(t.Add(blockSize+blockRecheck)) && !now.Before(t.Add(blockSize+blockRecheck)) {
					return k, t, true
				}
			}
		}
	}
	return 0, time.Time{}, false
}

// warmOnce computes the next block the warmer should; it reports whether
// it should go on at once: false when there was nothing to do or the
// memory bound is reached (computing more would only drop other blocks
// the warmer would then compute again).
func (d *Dashboards) warmOnce(ctx context.Context) (bool, error) {
	now := d.opts.Now()
	d.blocks.dropBefore(now.Add(-blockKeep))
	kind, t, ok := d.nextBlock(now)
	if !ok {
		return false, nil
	}
	b, err := d.computeBlock(ctx, kind, t)
	if err != nil {
		return true, err
	}
	if d.blocks.put(b) {
		d.opts.Log.Warn("overview: console.overview_block_memory is full; the rest of the range is queried live", "bytes", d.blocks.max)
		return false, nil
	}
	return true, nil
}

// Warm computes the closed blocks of the default overview (24 hours) and
// of the ranges asked for lately, one query at a time, as blocks close,
// until ctx ends: the first dashboard after a start does not wait for
// the whole range's queries. It returns when ctx ends.
func (d *Dashboards) Warm(ctx context.Context) {
	if d.blocks.max == 0 {
		return
	}
	for ctx.Err() == nil {
		did, err := d.warmOnce(ctx)
		wait := time.Duration(0)
		switch {
		case err != nil:
			d.opts.Log.Warn("overview: computing a block failed", "err", err)
			wait = 10 * time.Second
		case !did:
			// Until the next block closes (re-read at least each minute).
			now := d.opts.Now()
			next := now.Add(-d.opts.Settle).Truncate(blockSize).Add(blockSize + d.opts.Settle)
			wait = min(max(next.Sub(now), time.Second), time.Minute)
		}
		if wait == 0 {
			continue
		}
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-tm.C:
		}
		tm.Stop()
	}
}
