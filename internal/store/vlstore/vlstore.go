// Package vlstore implements store.Store on VictoriaLogs' storage engine
// (github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage) used as a library.
//
// The engine's Must* functions panic on I/O errors and it silently skips rows
// outside its retention window; this package turns the panics into errors
// and counts every row it refuses, by reason, so nothing disappears silently.
package vlstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/store"
)

// Config configures the store.
type Config struct {
	// Path is the store's directory.
	Path string
	// Retention deletes data older than this (at least one day).
	Retention time.Duration
	// FutureLimit is how far in the future an event time may lie.
	FutureLimit time.Duration
	// MaxDiskBytes drops the oldest days when the store grows beyond it; 0 = no limit.
	MaxDiskBytes int64
	// MinFreeDiskBytes turns the store read-only when the disk has less free space.
	MinFreeDiskBytes int64
	// CacheBytes caps the engine's caches and in-memory buffers; 0 lets
	// the engine take 60% of the machine's memory. The engine reads it
	// once per process, at the first Open.
	CacheBytes int64
	// StreamFields name the fields that identify a log stream (low cardinality).
	StreamFields []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	noShape bool // tests: rows without ShapeField, to measure what it changes
}

// ErrReadOnly is returned by Add when the disk is too full to accept rows.
var ErrReadOnly = errors.New("store: read-only: free disk space is below store.min_free_disk")

// Store is a store.Store backed by VictoriaLogs' storage engine.
type Store struct {
	cfg     Config
	log     *slog.Logger
	s       *logstorage.Storage
	windows windows  // of ordered searches; tests make them small
	streams []string // cfg.StreamFields and ShapeField

	mu     sync.Mutex // guards closed
	closed bool

	added       atomic.Uint64
	droppedOld  atomic.Uint64
	droppedNew  atomic.Uint64
	addFailures atomic.Uint64
	reduced     atomic.Uint64
}

// Engine limits (lib/logstorage consts.go): a row over them is skipped by
// the engine with only a log line, so fit reduces such rows first.
const (
	maxFields    = 2000
	maxNameLen   = 128
	maxRowLen    = 2 << 20
	keptMsgBytes = 1 << 20
)

// fit returns fields unchanged and true when the engine accepts them.
// Otherwise it returns a reduced row that the engine accepts: names cut
// to the engine's length, and when the row is still too large, only the
// vigil.* fields and the first MiB of _msg, marked with vigil.store_error.
// The untouched original stays in the journal.
func fit(fields []logstorage.Field) ([]logstorage.Field, bool) {
	ok := len(fields) <= maxFields
	for i := range fields {
		if len(fields[i].Name) > maxNameLen {
			fields[i].Name = fields[i].Name[:maxNameLen]
			ok = false
		}
	}
	if ok && logstorage.EstimatedJSONRowLen(fields) <= maxRowLen-4096 {
		return fields, true
	}
	out := make([]logstorage.Field, 0, 8)
	for _, f := range fields {
		switch {
		case f.Name == "_msg":
			if len(f.Value) > keptMsgBytes {
				f.Value = f.Value[:keptMsgBytes]
			}
			out = append(out, f)
		case len(f.Name) > 6 && f.Name[:6] == "vigil." && len(f.Value) < 4096:
			out = append(out, f)
		}
	}
	out = append(out, logstorage.Field{Name: "vigil.store_error",
		Value: "event exceeds the store's row limits (2000 fields, 2 MiB); fields dropped, message cut to 1 MiB; the journal holds the original"})
	return out, false
}

// The engine keeps each tenant's rows apart: events go to one, the
// alerts the detection engine raised to another, so that an event search,
// facet or dashboard never counts alerts (see store.Scope).
var (
	eventsTenant = logstorage.TenantID{}
	alertsTenant = logstorage.TenantID{ProjectID: 1}
)

// tenantOf returns the tenant that holds a scope's rows.
func tenantOf(s store.Scope) logstorage.TenantID {
	if s == store.Alerts {
		return alertsTenant
	}
	return eventsTenant
}

// sorter hands rows to the engine with their fields ordered by name,
// the order it stores them in: it sorts every row it is given, which
// took 6% of the pipeline's CPU, and a sorted row costs it one pass.
// Rows of one format come with the same names in the same order, so the
// sorter remembers the order for each list of names it has seen (a
// layout) and only checks and applies it.
//
// The sorter also adds the row's shape (ShapeField) in its place.
type sorter struct {
	seed    maphash.Seed
	layouts map[uint64]*layout
	out     []logstorage.Field
}

// layout is one list of field names and the order that sorts it.
type layout struct {
	names []string // as they arrive
	perm  []int    // perm[i]: position on arrival of the i-th name in order
	shape string   // the names' shape, ShapeField's value
	at    int      // ShapeField's place in the sorted row; -1: none
}

// The store adds a field to every row and makes it a stream field:
// store.ShapeField, a hash of the row's field names, its shape. The engine
// keeps a stream's rows in blocks; when all rows of a block have the same
// names, it stores each name once as a column without looking the names
// up row by row, and a block of one shape compresses better. Rows of one
// sender come in a few dozen shapes (a 401 has no user, a 200 has one),
// so giving each shape its own stream makes every block uniform: 27% less
// disk for nginx access logs, for one constant column. Search results
// leave the field out unless the query's pipes name it.
const ShapeField = store.ShapeField

// maxLayouts bounds a sorter's memory; it starts over beyond it.
const maxLayouts = 4096

var sorters = sync.Pool{New: func() any {
	return &sorter{seed: maphash.MakeSeed(), layouts: map[uint64]*layout{}}
}}

// sort returns a row's fields ordered by name, as the engine's fields, in
// a buffer of the sorter's (valid until the next call).
func (s *sorter) sort(fields []store.Field) []logstorage.Field {
	h := uint64(len(fields))
	for i := range fields {
		h = (h ^ maphash.String(s.seed, fields[i].Name)) * 0x9e3779b97f4a7c15
	}
	l := s.layouts[h]
	if l == nil || !l.matches(fields) {
		l = newLayout(fields)
		if len(s.layouts) >= maxLayouts {
			clear(s.layouts)
		}
		s.layouts[h] = l
	}
	s.out = s.out[:0]
	for n, i := range l.perm {
		if n == l.at {
			s.out = append(s.out, logstorage.Field{Name: ShapeField, Value: l.shape})
		}
		s.out = append(s.out, logstorage.Field{Name: fields[i].Name, Value: fields[i].Value})
	}
	if l.at == len(l.perm) {
		s.out = append(s.out, logstorage.Field{Name: ShapeField, Value: l.shape})
	}
	return s.out
}

func (l *layout) matches(fields []store.Field) bool {
	if len(l.names) != len(fields) {
		return false
	}
	for i := range fields {
		if l.names[i] != fields[i].Name {
			return false
		}
	}
	return true
}

// newLayout works out the order of a new list of names.
func newLayout(fields []store.Field) *layout {
	l := &layout{names: make([]string, len(fields)), perm: make([]int, len(fields))}
	for i := range fields {
		l.names[i] = strings.Clone(fields[i].Name) // names may live in a batch's buffer
		l.perm[i] = i
	}
	sort.SliceStable(l.perm, func(a, b int) bool { return l.names[l.perm[a]] < l.names[l.perm[b]] })
	// FNV-1a over the sorted names: the same names give the same shape
	// in every process, so a sender's shapes stay the same streams.
	h := uint64(14695981039346656037)
	l.at = len(l.perm)
	for n, i := range l.perm {
		name := l.names[i]
		if name == ShapeField {
			l.at = -1
		} else if l.at == len(l.perm) && name > ShapeField {
			l.at = n
		}
		for j := 0; j < len(name); j++ {
			h = (h ^ uint64(name[j])) * 1099511628211
		}
		h *= 1099511628211 // between names
	}
	if l.at < 0 {
		return l
	}
	l.shape = strconv.FormatUint(h>>32, 36)
	return l
}

// Open opens or creates the store at cfg.Path.
func Open(cfg Config, reg prometheus.Registerer, log *slog.Logger) (st *Store, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention < 24*time.Hour {
		return nil, fmt.Errorf("store: retention %s is below the minimum of 24h", cfg.Retention)
	}
	if cfg.FutureLimit <= 0 {
		cfg.FutureLimit = 24 * time.Hour
	}
	if err := os.MkdirAll(cfg.Path, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// The engine exits the process on an unwritable directory: check first.
	probe := filepath.Join(cfg.Path, ".vigil-write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("store: directory is not writable: %w", err)
	}
	_ = os.Remove(probe)

	// The engine sizes its caches from flags on flag.CommandLine and
	// refuses to work (panics, or computes with a zero memory budget)
	// until that flag set is parsed. Vigil parses its own flag sets, so
	// mark the global one parsed, with the engine's defaults.
	if !flag.Parsed() {
		if cfg.CacheBytes > 0 {
			if err := flag.CommandLine.Set("memory.allowedBytes", strconv.FormatInt(cfg.CacheBytes, 10)); err != nil {
				return nil, fmt.Errorf("store: set cache size: %w", err)
			}
		}
		if err := flag.CommandLine.Parse(nil); err != nil {
			return nil, fmt.Errorf("store: init engine flags: %w", err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: open %s: %v", cfg.Path, r)
		}
	}()
	scfg := &logstorage.StorageConfig{
		Retention:              cfg.Retention,
		MaxBackfillAge:         cfg.Retention,
		FutureRetention:        cfg.FutureLimit,
		MaxDiskSpaceUsageBytes: cfg.MaxDiskBytes,
		MinFreeDiskSpaceBytes:  cfg.MinFreeDiskBytes,
		FlushInterval:          time.Second,
	}
	s := logstorage.MustOpenStorage(cfg.Path, scfg)
	st = &Store{cfg: cfg, log: log, s: s, windows: defaultWindows,
		streams: append(slices.Clip(cfg.StreamFields), ShapeField)}
	if cfg.noShape {
		st.streams = cfg.StreamFields
	}
	st.moveAlerts(scfg)
	if reg != nil {
		reg.MustRegister(st)
	}
	return st, nil
}

// Add stores event rows. Rows outside the retention window are counted
// and skipped.
func (st *Store) Add(rows []store.Row) error { return st.add(eventsTenant, rows) }

// AddAlerts stores alert rows apart from the events (store.Alerts).
func (st *Store) AddAlerts(rows []store.Row) error { return st.add(alertsTenant, rows) }

// Alerts returns the store's alerts side as a store.Store: its Add adds
// alerts (AddAlerts) and its Search searches alerts whatever the query's
// Scope. Its Close does nothing; close the Store.
func (st *Store) Alerts() store.Store { return alertsView{st} }

type alertsView struct{ st *Store }

func (v alertsView) Add(rows []store.Row) error { return v.st.AddAlerts(rows) }

func (v alertsView) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	q.Scope = store.Alerts
	return v.st.Search(ctx, q, fn)
}

func (v alertsView) Close() error { return nil }

// Flush makes every added row searchable now, alerts and events alike.
func (v alertsView) Flush() { v.st.Flush() }

func (st *Store) add(tenant logstorage.TenantID, rows []store.Row) (err error) {
	st.mu.Lock()
	closed := st.closed
	st.mu.Unlock()
	if closed {
		return errors.New("store: closed")
	}
	if st.s.IsReadOnly() {
		return ErrReadOnly
	}
	defer func() {
		if r := recover(); r != nil {
			st.addFailures.Add(1)
			err = fmt.Errorf("store: add: %v", r)
		}
	}()
	now := st.cfg.Now()
	// The engine rejects whole days before now-retention, and anything
	// older than its backfill age; keep a minute of margin for the clock
	// moving between this check and the engine's.
	oldest := now.Add(-st.cfg.Retention + time.Minute).UnixNano()
	newest := now.Add(st.cfg.FutureLimit - time.Minute).UnixNano()

	lr := logstorage.GetLogRows(st.streams, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)
	var n uint64
	srt := sorters.Get().(*sorter)
	defer sorters.Put(srt)
	for i := range rows {
		ts := rows[i].Time.UnixNano()
		switch {
		case ts < oldest:
			st.droppedOld.Add(1)
			continue
		case ts > newest:
			st.droppedNew.Add(1)
			continue
		}
		row := srt.sort(rows[i].Fields)
		if st.cfg.noShape {
			row = slices.DeleteFunc(row, func(f logstorage.Field) bool { return f.Name == ShapeField })
		}
		if reduced, ok := fit(row); !ok {
			row = reduced
			st.reduced.Add(1)
		}
		lr.MustAdd(tenant, ts, row, -1)
		n++
		if lr.NeedFlush() {
			st.s.MustAddRows(lr)
			lr.ResetKeepSettings()
		}
	}
	st.s.MustAddRows(lr)
	st.added.Add(n)
	return nil
}

// Search runs a LogsQL query and calls fn for each resulting row.
//
// Rows of plain events leave out the engine's _stream and _stream_id
// columns, which repeat the stream fields; a query whose pipes name them
// (a group key, fields, ...) gets them. A plain filter query asked for its
// newest or oldest rows up to a limit runs in windows (searchWindows).
func (st *Store) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	now := st.cfg.Now().UnixNano()
	text := q.Text
	if text == "" {
		text = "*"
	}
	pq, err := parseQuery(text, now)
	if err != nil {
		return err
	}
	pipes, plain := splitPipes(pq, now)
	w := &rowWriter{fn: fn, limit: q.Limit, keepStream: strings.Contains(pipes, "_stream"),
		keepShape: strings.Contains(pipes, ShapeField)}
	tenant := tenantOf(q.Scope)
	if !q.Start.IsZero() || !q.End.IsZero() {
		start, end := int64(minTime), int64(maxTime)
		if !q.Start.IsZero() {
			start = q.Start.UnixNano()
		}
		if !q.End.IsZero() {
			end = q.End.UnixNano()
		}
		pq.AddTimeFilter(start, end)
	}
	if plain && q.Limit > 0 && q.Order != store.Unordered {
		return st.searchWindows(ctx, tenant, pq, q.Order == store.Newest, now, w)
	}
	switch q.Order {
	case store.Newest:
		if pq.CanReturnLastNResults() {
			pq.AddPipeSortByTimeDesc()
		}
	case store.Oldest:
		if pq.CanReturnLastNResults() {
			if pq, err = withPipes(pq, now, "sort by (_time)"); err != nil {
				return err
			}
		}
	}
	if q.Limit > 0 {
		pq.AddPipeOffsetLimit(0, uint64(q.Limit))
	}
	return st.run(ctx, tenant, pq, w.write)
}

// parseQuery parses a LogsQL query, with its filters on Chinese text
// rewritten to find words inside runs of Chinese (rewriteHan). A query the
// engine refuses gets the engine's message about the query as written.
func parseQuery(text string, now int64) (*logstorage.Query, error) {
	pq, err := logstorage.ParseQueryAtTimestamp(text, now)
	if err != nil {
		return nil, &store.QueryError{Msg: err.Error()}
	}
	if rw := rewriteHan(text); rw != text {
		if pq, err = logstorage.ParseQueryAtTimestamp(rw, now); err != nil {
			return nil, &store.QueryError{Msg: fmt.Sprintf("the query's Chinese words could not be rewritten into substring filters (%v); write them as *\"词\"*", err)}
		}
	}
	return pq, nil
}

// splitPipes returns the pipes of a query as text ("" when it has none),
// and whether the query is a plain filter: no pipes, no options, and no
// subquery (which a time filter added to the query would narrow too).
func splitPipes(pq *logstorage.Query, now int64) (pipes string, plain bool) {
	full := pq.String()
	bare := pq.Clone(now)
	bare.DropAllPipes()
	pipes = strings.TrimPrefix(full, bare.String())
	plain = pipes == "" && !strings.Contains(full, "|") && !strings.HasPrefix(full, "options(")
	return pipes, plain
}

// withPipes returns pq with more pipes appended.
func withPipes(pq *logstorage.Query, now int64, pipes string) (*logstorage.Query, error) {
	out, err := logstorage.ParseQueryAtTimestamp(pq.String()+" | "+pipes, now)
	if err != nil {
		return nil, fmt.Errorf("store: add %q to the query: %w", pipes, err)
	}
	return out, nil
}

// windows sizes the windows of searchWindows: the rows of the first one,
// the bytes of names and values the later ones aim at (the engine holds a
// window's rows in a few times that much memory), and the fewest and most
// rows of one.
type windows struct {
	first, bytes, min, max int
}

var defaultWindows = windows{first: 1000, bytes: 8 << 20, min: 16, max: 50000}

// searchWindows calls w for the newest (desc) or oldest rows of a plain
// filter query, up to w's limit, in that order.
//
// Sorting them in one query makes the engine keep the limit's number of
// whole rows for each CPU, replaced as better ones come: 2.1 GB of memory
// for a limit of 100,000 nginx events, and every column of every matching
// row read. Instead it first reads only the times of those rows, then the
// rows themselves, window by window in time, the first window first. A
// window holds about windowBytes of rows; rows that share a time are never
// split over two windows.
func (st *Store) searchWindows(ctx context.Context, tenant logstorage.TenantID, pq *logstorage.Query, desc bool, now int64, w *rowWriter) error {
	order := "sort by (_time)"
	if desc {
		order = "sort by (_time desc)"
	}
	var times []int64
	var err error
	if desc {
		times, err = st.newestTimes(ctx, tenant, pq, now, w.limit)
	} else {
		times, err = st.times(ctx, tenant, pq, order, now, w.limit)
	}
	if err != nil {
		return err
	}
	if desc {
		slices.Reverse(times)
	}
	win := st.windows
	rows := win.first
	for i := 0; i < len(times); {
		j := min(i+rows, len(times)) - 1
		for j+1 < len(times) && times[j+1] == times[j] {
			j++
		}
		wq, err := withPipes(pq, now, order)
		if err != nil {
			return err
		}
		wq.AddTimeFilter(min(times[i], times[j]), max(times[i], times[j]))
		if at := atTimes(times[i : j+1]); at != "" {
			if f, err := logstorage.ParseFilter(at); err == nil {
				wq.AddExtraFilters(f)
			}
		}
		sent, bytes := w.sent, w.bytes
		if err := st.run(ctx, tenant, wq, w.write); err != nil || w.full() {
			return err
		}
		if n := w.sent - sent; n > 0 {
			rows = min(max(int(int64(win.bytes)*int64(n)/max(w.bytes-bytes, 1)), win.min), win.max)
		}
		i = j + 1
	}
	return nil
}

// maxAtTimes is the most distinct times atTimes names.
const maxAtTimes = 128

// atTimes returns a filter of rows at exactly the given times (sorted,
// repeats allowed), or "" when they are more than maxAtTimes. A window
// of few rows spread over a long span (a rare match) is then read from
// the blocks that hold its rows only: the engine skips a block by its
// time range before it reads a column, where the window's time range
// alone would make it read the query's columns over the whole span again
// (a substring filter, such as a Chinese word's, reads them all).
func atTimes(ts []int64) string {
	var b strings.Builder
	n := 0
	for k, t := range ts {
		if k > 0 && t == ts[k-1] {
			continue
		}
		if n++; n > maxAtTimes {
			return ""
		}
		if n > 1 {
			b.WriteString(" or ")
		}
		// Every digit of the nanoseconds: a shorter time would stand for
		// the whole second, millisecond, ... it names.
		at := time.Unix(0, t).UTC().Format("2006-01-02T15:04:05.000000000Z")
		fmt.Fprintf(&b, "_time:[%s, %s]", at, at)
	}
	return b.String()
}

// times returns the times of the first n rows of pq in the given order,
// oldest first. The engine sorts only the times.
func (st *Store) times(ctx context.Context, tenant logstorage.TenantID, pq *logstorage.Query, order string, now int64, n int) ([]int64, error) {
	return st.timesOf(ctx, tenant, pq, now, fmt.Sprintf("%s | limit %d", order, n))
}

// timesOf returns the times of the rows of pq with more pipes, sorted.
func (st *Store) timesOf(ctx context.Context, tenant logstorage.TenantID, pq *logstorage.Query, now int64, pipes string) ([]int64, error) {
	tq, err := withPipes(pq, now, pipes+" | fields _time")
	if err != nil {
		return nil, err
	}
	var ts []int64
	err = st.run(ctx, tenant, tq, func(db *logstorage.DataBlock) error {
		var ok bool
		if ts, ok = db.GetTimestamps(ts); !ok {
			return errors.New("store: search: rows without a valid _time")
		}
		return nil
	})
	slices.Sort(ts)
	return ts, err
}

// newestTimes returns the times of the newest n rows of pq, oldest first.
// Sorting every match by time (times) reads the matching rows of the whole
// range for a page of 100, and a filter that reads every value of a column
// (a substring, such as a Chinese word's) reads that column over the whole
// range. Instead, as the VictoriaLogs server finds its newest rows
// (app/vlstorage/lastnoptimization.go), it asks for 2n rows in any order,
// which the engine stops reading at; with fewer, those are all. Else it
// halves the part of the time range that holds the newest n, asking each
// newer half for 2k rows in any order (k still wanted): with fewer it has
// them all and goes on in the older half, else the newer half holds the k.
// The rows found also bound where the newest lie: the k-th newest of any
// k or more rows is no newer than the k-th newest of all. A part too short
// to halve is sorted.
func (st *Store) newestTimes(ctx context.Context, tenant logstorage.TenantID, pq *logstorage.Query, now int64, n int) ([]int64, error) {
	some := func(start, end int64, k int) ([]int64, error) { // times of up to k rows in [start, end), sorted
		q := pq
		if start > minTime || end < maxTime {
			q = pq.CloneWithTimeFilter(now, start, end-1)
		}
		return st.timesOf(ctx, tenant, q, now, fmt.Sprintf("limit %d", k))
	}
	ts, err := some(minTime, maxTime, 2*n)
	if err != nil || len(ts) < 2*n {
		return ts[max(len(ts)-n, 0):], err
	}
	// [lo, end) holds the k newest rows not in found.
	lo, end := pq.GetFilterTimeRange()
	if end < maxTime {
		end++
	}
	lo = max(lo, ts[len(ts)-n])
	// After finding more than it needs in a half, it splits once after
	// the newest row found: what is newer (often nothing, the range
	// reaching into the future) comes in one go.
	split := ts[len(ts)-1] + 1
	var found []int64
	for k := n; ; {
		if end/2-lo/2 <= 0 || !logstorage.CanApplyLastNResultsOptimization(lo, end) {
			ts, err := st.times(ctx, tenant, pq.CloneWithTimeFilter(now, lo, end-1), "sort by (_time desc)", now, k)
			found = append(found, ts...)
			slices.Sort(found)
			return found[max(len(found)-n, 0):], err
		}
		mid := lo + (end/2 - lo/2)
		splitting := lo < split && split < end
		if splitting {
			mid = split
		}
		split = 0
		ts, err := some(mid, end, 2*k)
		switch {
		case err != nil:
			return nil, err
		case len(ts) >= 2*k:
			lo = max(mid, ts[len(ts)-k])
			if !splitting {
				split = ts[len(ts)-1] + 1
			}
		case len(ts) >= k:
			found = append(found, ts...)
			slices.Sort(found)
			return found[len(found)-n:], nil
		default:
			found = append(found, ts...)
			k -= len(ts)
			end = mid
		}
	}
}

// run runs one query, handing its blocks to write one at a time, and
// returns the first error: write's (errLimit is none), the engine's or
// the context's.
func (st *Store) run(ctx context.Context, tenant logstorage.TenantID, pq *logstorage.Query, write func(*logstorage.DataBlock) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		wrErr error
	)
	qctx := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, pq, false, nil)
	err := st.s.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
		mu.Lock()
		defer mu.Unlock()
		if wrErr == nil {
			if wrErr = write(db); wrErr != nil {
				cancel()
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	switch {
	case errors.Is(wrErr, errLimit):
		return nil
	case wrErr != nil:
		return wrErr
	case err != nil && !errors.Is(err, context.Canceled):
		return fmt.Errorf("store: search: %w", err)
	}
	return ctx.Err()
}

// errLimit stops a query whose search has all its rows.
var errLimit = errors.New("store: limit reached")

// rowWriter turns the engine's blocks into the rows of one search.
type rowWriter struct {
	fn         func(store.Row) error
	limit      int  // most rows; 0 means no limit
	keepStream bool // keep the _stream and _stream_id columns
	keepShape  bool // keep ShapeField
	sent       int
	bytes      int64 // of the names and values sent
	row        store.Row
}

// full reports whether the search has all its rows.
func (w *rowWriter) full() bool { return w.limit > 0 && w.sent >= w.limit }

func (w *rowWriter) write(db *logstorage.DataBlock) error {
	cols := db.GetColumns(false)
	for i := range db.RowsCount() {
		if w.full() {
			return errLimit
		}
		w.row.Time = time.Time{}
		w.row.Fields = w.row.Fields[:0]
		for _, c := range cols {
			v := c.Values[i]
			switch c.Name {
			case "_time":
				if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
					w.row.Time = t
					continue
				}
			case "_stream_id", "_stream":
				if !w.keepStream {
					continue
				}
			case ShapeField:
				if !w.keepShape {
					continue
				}
			}
			if v == "" {
				continue
			}
			w.row.Fields = append(w.row.Fields, store.Field{Name: c.Name, Value: v})
			w.bytes += int64(len(c.Name) + len(v))
		}
		w.sent++
		if err := w.fn(w.row); err != nil {
			return err
		}
	}
	return nil
}

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

// Flush makes every added row searchable now. It is slow; tests use it.
func (st *Store) Flush() { st.s.DebugFlush() }

// Close flushes everything to disk and closes the store.
func (st *Store) Close() (err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	st.closed = true
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: close: %v", r)
		}
	}()
	st.s.MustClose()
	return nil
}

var (
	descRows = prometheus.NewDesc("vigil_store_rows",
		"Rows held by the embedded store.", nil, nil)
	descDisk = prometheus.NewDesc("vigil_store_disk_bytes",
		"Compressed bytes of the embedded store on disk.", nil, nil)
	descAdded = prometheus.NewDesc("vigil_store_rows_added_total",
		"Rows handed to the embedded store.", nil, nil)
	descDropped = prometheus.NewDesc("vigil_store_rows_dropped_total",
		"Rows the store refused, by reason: too_old (before retention), too_new (beyond future_limit), engine_* (skipped by the engine).", []string{"reason"}, nil)
	descReduced = prometheus.NewDesc("vigil_store_rows_reduced_total",
		"Rows cut down to fit the engine's limits (the journal keeps the original).", nil, nil)
	descFailures = prometheus.NewDesc("vigil_store_add_failures_total",
		"Add calls that failed with an engine error.", nil, nil)
	descReadOnly = prometheus.NewDesc("vigil_store_read_only",
		"1 when the store refuses rows because free disk space is below store.min_free_disk.", nil, nil)
	descPartitions = prometheus.NewDesc("vigil_store_partitions",
		"Per-day partitions in the embedded store.", nil, nil)
)

// Describe implements prometheus.Collector.
func (st *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRows, descDisk, descAdded, descDropped, descFailures, descReduced, descReadOnly, descPartitions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (st *Store) Collect(ch chan<- prometheus.Metric) {
	st.mu.Lock()
	closed := st.closed
	st.mu.Unlock()
	if !closed {
		var ss logstorage.StorageStats
		st.s.UpdateStats(&ss)
		ch <- prometheus.MustNewConstMetric(descRows, prometheus.GaugeValue, float64(ss.RowsCount()))
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue,
			float64(ss.CompressedInmemorySize+ss.CompressedSmallPartSize+ss.CompressedBigPartSize))
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(ss.RowsDroppedTooSmallTimestamp), "engine_too_old")
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(ss.RowsDroppedTooBigTimestamp), "engine_too_new")
		ro := 0.0
		if ss.IsReadOnly {
			ro = 1
		}
		ch <- prometheus.MustNewConstMetric(descReadOnly, prometheus.GaugeValue, ro)
		ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(ss.PartitionsCount))
	}
	ch <- prometheus.MustNewConstMetric(descAdded, prometheus.CounterValue, float64(st.added.Load()))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.droppedOld.Load()), "too_old")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.droppedNew.Load()), "too_new")
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.addFailures.Load()))
	ch <- prometheus.MustNewConstMetric(descReduced, prometheus.CounterValue, float64(st.reduced.Load()))
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	Rows          uint64 `json:"rows"`
	DiskBytes     uint64 `json:"disk_bytes"`
	Added         uint64 `json:"added"`
	DroppedTooOld uint64 `json:"dropped_too_old"`
	DroppedTooNew uint64 `json:"dropped_too_new"`
	ReadOnly      bool   `json:"read_only"`
}

// Stats returns the store's counters.
func (st *Store) Stats() Stats {
	var ss logstorage.StorageStats
	st.s.UpdateStats(&ss)
	return Stats{
		Rows:          ss.RowsCount(),
		DiskBytes:     ss.CompressedInmemorySize + ss.CompressedSmallPartSize + ss.CompressedBigPartSize,
		Added:         st.added.Load(),
		DroppedTooOld: st.droppedOld.Load() + ss.RowsDroppedTooSmallTimestamp,
		DroppedTooNew: st.droppedNew.Load() + ss.RowsDroppedTooBigTimestamp,
		ReadOnly:      ss.IsReadOnly,
	}
}
