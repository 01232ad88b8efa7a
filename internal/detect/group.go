package detect

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/geoip"
)

// group is the state a rule keeps for one group_by key. Exported fields
// are the checkpointed state (encoding/gob); times are Unix nanoseconds of
// event time.
type group struct {
	Key         string
	First, Last int64
	N           int64 // events seen
	// Seqs is a ring of the latest contributing events' journal sequence
	// numbers (for payloads); SeqNext is the ring's next slot.
	Seqs    []uint64
	SeqNext int

	// Suppression: Until ends the current period; Since counts the
	// events during it, SinceFirst/SinceLast/SinceSeq(s) describe them.
	Until                 int64
	Since                 int
	SinceFirst, SinceLast int64
	SinceSeq              uint64
	SinceSeqs             []uint64
	// Ctx is the last alert raised for the group (for follow-ups).
	Ctx    *alert.Alert
	Alerts int

	// Times: threshold's latest event times (sorted), or a sequence's
	// history with Masks (which steps each entry matched).
	Times []int64
	Masks []uint32
	// Vals: cardinality's or new_value's values and when each was last
	// seen. The times are pointers so that an update never stores the
	// event's copy of the value as the key (Go replaces the key of a string
	// map on assignment, and the event's strings live in a parse buffer
	// that the state must not keep alive).
	Vals map[string]*int64
	// Spike: the current bucket (window number), its count, the moving
	// baseline and how many windows it has seen; Fired marks the bucket.
	Bucket, Cur int64
	Base        float64
	Windows     int64
	Fired       bool
	// Absence: the group's silence was alerted.
	Alerted bool
	// Travel: the previous location.
	Lat, Lon   float64
	Country    string
	IP         string
	At         int64
	HasLastLoc bool

	prev, next *group
	// texts are the original lines of Seqs (same slots) and sinceTexts of
	// SinceSeqs, captured when the events arrived, within the engine's
	// payload memory budget; not checkpointed ("" = fetch by seq).
	texts, sinceTexts []string
}

// maxPayload caps the text kept of one contributing event.
const maxPayload = 2048

// payloadBudget accounts the memory held by captured payload texts.
type payloadBudget struct {
	used, limit int64
}

// take returns raw (cut to maxPayload) as a string if the budget allows.
func (b *payloadBudget) take(raw []byte) string {
	if len(raw) == 0 || b == nil {
		return ""
	}
	if len(raw) > maxPayload {
		raw = raw[:maxPayload]
	}
	if b.used+int64(len(raw)) > b.limit {
		return ""
	}
	b.used += int64(len(raw))
	return string(raw)
}

func (b *payloadBudget) give(s string) {
	if b != nil {
		b.used -= int64(len(s))
	}
}

// release returns the group's payload texts to the budget.
func (g *group) release(b *payloadBudget) {
	for _, t := range g.texts {
		b.give(t)
	}
	for _, t := range g.sinceTexts {
		b.give(t)
	}
	g.texts, g.sinceTexts = nil, nil
}

func (g *group) observe(seq uint64, t int64, max int, raw []byte, b *payloadBudget) {
	if g.N == 0 || t < g.First {
		g.First = t
	}
	if t > g.Last {
		g.Last = t
	}
	g.N++
	if len(g.texts) != len(g.Seqs) {
		g.texts = make([]string, len(g.Seqs), max) // restored from a checkpoint
	}
	if len(g.Seqs) < max {
		g.Seqs = append(g.Seqs, seq)
		g.texts = append(g.texts, b.take(raw))
		g.SeqNext = len(g.Seqs) % max
		return
	}
	b.give(g.texts[g.SeqNext])
	g.Seqs[g.SeqNext] = seq
	g.texts[g.SeqNext] = b.take(raw)
	g.SeqNext = (g.SeqNext + 1) % max
}

// seqs returns the payload ring oldest first, with the captured texts
// ("" where none was captured).
func (g *group) seqs() ([]uint64, []string) {
	if len(g.Seqs) == 0 {
		return nil, nil
	}
	if len(g.texts) != len(g.Seqs) {
		g.texts = make([]string, len(g.Seqs))
	}
	seqs := make([]uint64, 0, len(g.Seqs))
	texts := make([]string, 0, len(g.Seqs))
	if g.SeqNext < len(g.Seqs) {
		seqs = append(seqs, g.Seqs[g.SeqNext:]...)
		texts = append(texts, g.texts[g.SeqNext:]...)
	}
	return append(seqs, g.Seqs[:g.SeqNext]...), append(texts, g.texts[:g.SeqNext]...)
}

func (g *group) resetSeqs(b *payloadBudget) {
	for _, t := range g.texts {
		b.give(t)
	}
	g.Seqs, g.SeqNext, g.texts = g.Seqs[:0], 0, g.texts[:0]
}

func (g *group) suppressed(seq uint64, t int64, raw []byte, b *payloadBudget) {
	if g.Since == 0 {
		g.SinceFirst, g.SinceLast, g.SinceSeq = t, t, seq
	}
	g.Since++
	g.SinceFirst = min(g.SinceFirst, t)
	g.SinceLast = max(g.SinceLast, t)
	if len(g.sinceTexts) != len(g.SinceSeqs) {
		g.sinceTexts = make([]string, len(g.SinceSeqs))
	}
	if len(g.SinceSeqs) < 10 {
		g.SinceSeqs = append(g.SinceSeqs, seq)
		g.sinceTexts = append(g.sinceTexts, b.take(raw))
	}
}

// insertTime inserts t into the sorted slice ts.
func insertTime(ts []int64, t int64) ([]int64, int) {
	if n := len(ts); n == 0 || ts[n-1] <= t { // in order, as most events come
		return append(ts, t), n
	}
	i := sort.Search(len(ts), func(i int) bool { return ts[i] > t })
	ts = append(ts, 0)
	copy(ts[i+1:], ts[i:])
	ts[i] = t
	return ts, i
}

// threshold keeps the latest Threshold event times: the count in a window
// reaches the threshold exactly when the oldest of them is within the
// window of the newest.
func (g *group) threshold(r *compiled, t int64) *hit {
	g.Times, _ = insertTime(g.Times, t)
	if len(g.Times) > r.Threshold {
		// Drop the oldest by reslicing: append reallocates (and so
		// compacts) only when the capacity runs out, so a busy group costs
		// O(1) per event instead of a copy of the whole window.
		g.Times = g.Times[len(g.Times)-r.Threshold:]
	}
	if len(g.Times) < r.Threshold {
		return nil
	}
	first, last := g.Times[0], g.Times[len(g.Times)-1]
	if last-first > r.window() {
		return nil
	}
	g.Times = g.Times[:0]
	return &hit{count: r.Threshold, first: first}
}

// maxValues caps the values a cardinality or new_value group keeps.
const maxValues = 10_000

func (g *group) cardinality(r *compiled, v string, t int64) *hit {
	if v == "" {
		return nil
	}
	g.see(v, t)
	if len(g.Vals) < r.Threshold {
		return nil
	}
	from := t - r.window()
	first := t
	for k, at := range g.Vals {
		if *at < from {
			delete(g.Vals, k)
		} else if *at < first {
			first = *at
		}
	}
	if len(g.Vals) > maxValues {
		g.evictOldest(len(g.Vals) - maxValues)
	}
	if len(g.Vals) < r.Threshold {
		return nil
	}
	h := &hit{count: len(g.Vals), first: first, fields: map[string]string{"values": sample(g.Vals, 20)}}
	clear(g.Vals)
	return h
}

func (g *group) evictOldest(n int) {
	type kv struct {
		k  string
		at int64
	}
	all := make([]kv, 0, len(g.Vals))
	for k, at := range g.Vals {
		all = append(all, kv{k, *at})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at < all[j].at || all[i].at == all[j].at && all[i].k < all[j].k })
	for _, e := range all[:n] {
		delete(g.Vals, e.k)
	}
}

// see records that value v was seen at t.
func (g *group) see(v string, t int64) {
	if g.Vals == nil {
		g.Vals = map[string]*int64{}
	}
	if at, ok := g.Vals[v]; ok {
		*at = max(*at, t)
		return
	}
	at := t
	g.Vals[strings.Clone(v)] = &at
}

// sample lists up to n values, sorted, with a count of the rest.
func sample(vals map[string]*int64, n int) string {
	keys := sortedKeys(vals)
	if len(keys) > n {
		return strings.Join(keys[:n], ",") + fmt.Sprintf(",... (%d more)", len(keys)-n)
	}
	return strings.Join(keys, ",")
}

// newValue learns v and reports it when it is new after the learning
// period. near, when not nil, is asked about a new value first (with the
// known values, sorted): true makes it a variant of a known value, neither
// reported nor learned.
func (g *group) newValue(r *compiled, v string, t int64, near func(v string, known []string) bool) *hit {
	if v == "" {
		return nil
	}
	if _, ok := g.Vals[v]; ok {
		g.see(v, t)
		return nil
	}
	learn := int64(r.Learn)
	learning := t-r.start < learn || t-g.First < learn
	if !learning && near != nil && near(v, sortedKeys(g.Vals)) {
		return nil
	}
	known := sample(g.Vals, 10)
	g.see(v, t)
	v = strings.Clone(v) // kept in the alert
	if len(g.Vals) > 1000 {
		g.evictOldest(len(g.Vals) - 1000)
	}
	if learning {
		return nil
	}
	return &hit{count: 1, first: t, fields: map[string]string{"value": v, "known": known}}
}

// sortedKeys returns the values of vals, sorted.
func sortedKeys(vals map[string]*int64) []string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sequence keeps the history of step matches within the window and, when
// the event completes the last step, matches the steps backwards: the
// latest events for the last step, then the latest earlier ones for the
// step before, and so on. Taking the latest possible events for later
// steps leaves the most room for earlier ones, so this finds a match
// whenever one exists in the history.
func (g *group) sequence(r *compiled, mask uint32, t int64) *hit {
	from := t - r.window()
	var i int
	g.Times, i = insertTime(g.Times, t)
	g.Masks = append(g.Masks, 0)
	copy(g.Masks[i+1:], g.Masks[i:])
	g.Masks[i] = mask
	drop := 0
	for drop < len(g.Times) && g.Times[drop] < from {
		drop++
	}
	limit := 16
	for _, s := range r.steps {
		limit += 4 * s.count
	}
	if n := len(g.Times) - drop; n > limit {
		drop += n - limit
	}
	if drop > 0 {
		g.Times, g.Masks = g.Times[drop:], g.Masks[drop:] // see threshold
		i -= drop
	}
	last := len(r.steps) - 1
	if i < 0 || mask&(1<<last) == 0 {
		return nil
	}
	// Match backwards from the triggering event (only entries up to it).
	pos := i
	first := t
	for s := last; s >= 0; s-- {
		need := r.steps[s].count
		for pos >= 0 && need > 0 {
			if g.Masks[pos]&(1<<s) != 0 {
				need--
				first = g.Times[pos]
			}
			pos--
		}
		if need > 0 {
			return nil
		}
	}
	n := i + 1 - (pos + 1)
	g.Times, g.Masks = g.Times[:0], g.Masks[:0]
	return &hit{count: n, first: first}
}

func (g *group) spike(r *compiled, t int64) *hit {
	b := t / r.window()
	if g.Windows == 0 && g.Cur == 0 && g.Bucket == 0 {
		g.Bucket = b
	}
	if b > g.Bucket {
		alpha := 2 / (float64(r.Baseline) + 1)
		if g.Windows == 0 {
			g.Base = float64(g.Cur) // the first window seeds the average
		} else {
			g.Base += alpha * (float64(g.Cur) - g.Base)
		}
		gap := b - g.Bucket - 1
		if gap > int64(4*r.Baseline) {
			g.Base = 0
		} else {
			g.Base *= math.Pow(1-alpha, float64(gap))
		}
		g.Windows += b - g.Bucket
		g.Bucket, g.Cur, g.Fired = b, 0, false
	}
	if b < g.Bucket {
		return nil // late into a closed window
	}
	g.Cur++
	if g.Fired || g.Windows < r.learnWindows() || g.Cur < int64(r.Threshold) || float64(g.Cur) < r.Factor*g.Base {
		return nil
	}
	g.Fired = true
	return &hit{count: int(g.Cur), first: b * r.window(), fields: map[string]string{
		"baseline": strconv.FormatFloat(g.Base, 'f', 1, 64),
		"factor":   strconv.FormatFloat(float64(g.Cur)/math.Max(g.Base, 1), 'f', 1, 64),
	}}
}

func (g *group) absence(t int64) {
	if t >= g.Last {
		g.Alerted = false
	}
}

// travel compares the event's location (place looks addresses up) with
// the group's previous one.
func (g *group) travel(r *compiled, place func(string) geoip.Location, ev *Event, t int64) *hit {
	ipText := ev.Get("source.ip")
	ip, err := netip.ParseAddr(ipText)
	if err != nil || geoip.Private(ip.Unmap()) {
		return nil
	}
	loc := place(ipText)
	if !loc.HasCoords {
		return nil
	}
	if g.HasLastLoc && t < g.At {
		return nil // older than the location we hold: it says nothing new
	}
	defer func() {
		g.Lat, g.Lon, g.Country, g.IP, g.At, g.HasLastLoc = loc.Lat, loc.Lon, loc.Country, strings.Clone(ipText), t, true
	}()
	if !g.HasLastLoc {
		return nil
	}
	prev := geoip.Location{Country: g.Country, Lat: g.Lat, Lon: g.Lon, HasCoords: true}
	km := geoip.Distance(prev, loc)
	if km < r.MinDistance || km < 1 {
		return nil
	}
	hours := float64(t-g.At) / 3.6e12
	speed := math.Inf(1)
	if hours > 0 {
		speed = km / hours
	}
	if speed <= r.MaxSpeed {
		return nil
	}
	sp := "instant"
	if !math.IsInf(speed, 1) {
		sp = strconv.FormatFloat(speed, 'f', 0, 64)
	}
	return &hit{count: 2, first: g.At, fields: map[string]string{
		"from_ip": g.IP, "from_country": g.Country, "to_country": loc.Country,
		"distance_km": strconv.FormatFloat(km, 'f', 0, 64), "speed_kmh": sp,
	}}
}

// groupTable holds a rule's groups with least-recently-seen eviction.
type groupTable struct {
	rule       *compiled
	budget     *payloadBudget // the engine's, shared by every rule
	m          map[string]*group
	head, tail *group // head: most recently seen
	// timed holds the groups whose suppression period runs.
	timed map[*group]struct{}
	// forgotAt is when new_value last forgot old values (event time).
	forgotAt int64
}

func newGroupTable(r *compiled) *groupTable {
	return &groupTable{rule: r, m: map[string]*group{}, timed: map[*group]struct{}{}}
}

func (gt *groupTable) len() int { return len(gt.m) }

// get returns the group for key, creating it (and evicting the least
// recently seen group when the rule is at max_groups).
func (gt *groupTable) get(key []byte, t int64) *group {
	if h := gt.head; h != nil && h.Key == string(key) {
		return h // the group of the rule's previous event (a host, a dataset)
	}
	if g, ok := gt.m[string(key)]; ok { // no allocation for the lookup
		if gt.head != g {
			gt.unlink(g)
			gt.pushFront(g)
		}
		return g
	}
	if len(gt.m) >= gt.rule.MaxGroups && gt.tail != nil {
		gt.remove(gt.tail)
		gt.rule.evicted.Inc()
	}
	g := &group{Key: string(key), First: t, Last: t}
	gt.m[g.Key] = g
	gt.pushFront(g)
	return g
}

func (gt *groupTable) remove(g *group) {
	g.release(gt.budget)
	gt.unlink(g)
	delete(gt.m, g.Key)
	delete(gt.timed, g)
}

func (gt *groupTable) pushFront(g *group) {
	g.prev, g.next = nil, gt.head
	if gt.head != nil {
		gt.head.prev = g
	}
	gt.head = g
	if gt.tail == nil {
		gt.tail = g
	}
}

func (gt *groupTable) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else if gt.head == g {
		gt.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else if gt.tail == g {
		gt.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

// each calls fn for every group, least recently seen first; fn may not
// remove groups (collect them and remove afterwards).
func (gt *groupTable) each(fn func(*group)) {
	for g := gt.tail; g != nil; g = g.prev {
		fn(g)
	}
}

// add appends a restored group as the most recently seen.
func (gt *groupTable) add(g *group) {
	gt.m[g.Key] = g
	gt.pushFront(g)
	if g.Until != 0 {
		gt.timed[g] = struct{}{}
	}
}
