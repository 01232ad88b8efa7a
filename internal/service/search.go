package service

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/store"
)

// SearchStore runs LogsQL searches: a *search.Service, which keeps them
// within the http.search_* limits, in front of the store.
type SearchStore interface {
	Search(ctx context.Context, q store.Query, fn func(store.Row) error) error
}

// RawReader calls fn for up to count journal records from seq from on.
type RawReader func(ctx context.Context, from uint64, count int, fn func(*journal.Record) error) error

// ParseScope returns the scope named s (store.ParseScope) as an
// *InvalidError when it names none.
func ParseScope(s string) (store.Scope, error) {
	sc, err := store.ParseScope(s)
	if err != nil {
		return 0, Invalidf("scope: %v", err)
	}
	return sc, nil
}

// Bounds of the search pages, exports and tails.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
	// MaxTopValues caps the values per field of a field sidebar or a top list.
	MaxTopValues = 100
	// DefaultFacetSample is how many of the newest matching events the
	// field sidebar looks at when the range holds more.
	DefaultFacetSample = 100_000
	// MaxSameTime is how many events sharing one timestamp a page can
	// step through; beyond it the page skips the rest of that instant.
	MaxSameTime = 100_000
	// MaxTailEvents caps the events of one tail answer.
	MaxTailEvents = 200
	// MaxTailWait caps how long one tail call waits for new events.
	MaxTailWait = 25 * time.Second
	// tailWindow is how far back a tail looks for new arrivals.
	tailWindow = time.Hour
	// minBuckets and maxBuckets bound the buckets of a histogram.
	maxBuckets = 120
)

// SearchOptions configure a Searches.
type SearchOptions struct {
	// Raw reads the journal; nil leaves events without their raw line.
	Raw RawReader
	// Charsets decode the raw lines of inputs whose senders do not write
	// UTF-8 (inputs.*.charset), for EventDetail.RawText.
	Charsets charset.Inputs
	// JournalID is the journal's id, the first half of the event ids
	// of journaled events (parse.AppendEventID).
	JournalID uint64
	// ExportRows caps the rows of an export; 0 means 100,000.
	ExportRows int
	// FacetSample is how many of the newest events the field sidebar
	// counts at most; 0 means DefaultFacetSample.
	FacetSample int
	// TailPoll is how often a waiting tail looks for new events; 0
	// means one second.
	TailPoll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Node is this node's name (cluster.name): events found here
	// carry it.
	Node string
	// Peers are the other nodes every search reads too (fanout.go);
	// none: this node's store alone.
	Peers []Peer
	// PeerTimeout bounds each peer's answer to one step of a search
	// (cluster.peer_timeout); 0: no bound but the request's.
	PeerTimeout time.Duration
}

// Searches is the search side of the console and the JSON API: pages of
// events, histograms, field statistics, single events with their raw
// line, live tail and export, all bounded, over one SearchStore and
// the stores of the peers (fanout.go).
type Searches struct {
	st  SearchStore
	opt SearchOptions
}

// NewSearches returns a Searches over st.
func NewSearches(st SearchStore, opt SearchOptions) *Searches {
	if opt.ExportRows <= 0 {
		opt.ExportRows = 100_000
	}
	if opt.FacetSample <= 0 {
		opt.FacetSample = DefaultFacetSample
	}
	if opt.TailPoll <= 0 {
		opt.TailPoll = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Searches{st: st, opt: opt}
}

// Now returns the time of the Searches' clock.
func (s *Searches) Now() time.Time { return s.opt.Now() }

// SearchRequest is what one search asks: a LogsQL query over a time
// range, in a scope.
type SearchRequest struct {
	// Query is LogsQL; "" means every event.
	Query string
	// Start and End bound the event time (both inclusive).
	Start, End time.Time
	// Scope is events (the default) or alerts, passed to the store.
	Scope store.Scope
}

// DefaultRange is the time range of a search that names no start.
const DefaultRange = 24 * time.Hour

// NewSearchRequest resolves the parameters of a search as
// NewSearchRequestIn does in UTC.
func (s *Searches) NewSearchRequest(query, start, end, scope string) (SearchRequest, error) {
	return s.NewSearchRequestIn(query, start, end, scope, time.UTC)
}

// NewSearchRequestIn resolves the parameters of a search: start and end as
// ParseStart and ParseEnd read them in loc (start defaults to DefaultRange
// ago, end to now).
func (s *Searches) NewSearchRequestIn(query, start, end, scope string, loc *time.Location) (SearchRequest, error) {
	now := s.opt.Now()
	req := SearchRequest{Query: strings.TrimSpace(query)}
	var err error
	if req.Scope, err = ParseScope(scope); err != nil {
		return req, err
	}
	if start == "" {
		req.Start = now.Add(-DefaultRange)
	} else if req.Start, err = ParseStart(start, now, loc); err != nil {
		return req, Invalidf("start: %v", err)
	}
	if end == "" {
		req.End = now
	} else if req.End, err = ParseEnd(end, now, loc); err != nil {
		return req, Invalidf("end: %v", err)
	}
	if req.End.Before(req.Start) {
		return req, Invalidf("end %s is before start %s", req.End.Format(time.RFC3339), req.Start.Format(time.RFC3339))
	}
	return req, nil
}

// parts splits the query into its filter and its pipes ("" or "| ...").
func (r *SearchRequest) parts() (filter, pipes string) {
	q := strings.TrimSpace(r.Query)
	if i := pipeIndex(q); i >= 0 {
		filter, pipes = strings.TrimSpace(q[:i]), q[i:]
	} else {
		filter = q
	}
	if filter == "" {
		filter = "*"
	}
	return filter, pipes
}

// text returns the LogsQL of the request with more filters and pipes.
func (r *SearchRequest) text(extraFilter, extraPipes string) string {
	filter, pipes := r.parts()
	if filter != "*" || extraFilter == "" {
		filter = "(" + filter + ")"
	} else {
		filter = ""
	}
	if extraFilter != "" {
		filter += " " + extraFilter
	}
	return strings.TrimSpace(strings.TrimSpace(filter) + " " + pipes + " " + extraPipes)
}

// query returns the store query of the request with more filters and pipes.
func (r *SearchRequest) query(extraFilter, extraPipes string, limit int, order store.Order) store.Query {
	return store.Query{Text: r.text(extraFilter, extraPipes), Start: r.Start, End: r.End,
		Limit: limit, Order: order, Scope: r.Scope}
}

// HasPipes reports whether a LogsQL query has pipes (a "|" outside quotes).
func HasPipes(q string) bool { return pipeIndex(q) >= 0 }

// pipeIndex returns the index of the first "|" of q outside quotes, or -1.
func pipeIndex(q string) int {
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '|':
			return i
		}
	}
	return -1
}

// Event is one stored event.
type Event struct {
	// ID is the event's event.id (docs/schema.md); "" when it has none.
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	// Node is the name of the node whose store holds the event
	// (cluster.name; "" when unnamed).
	Node   string        `json:"node,omitempty"`
	Fields []store.Field `json:"-"`
}

// Get returns the value of the named field, or "".
func (e *Event) Get(name string) string {
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Seq returns the event's journal sequence number (vigil.seq), or 0.
func (e *Event) Seq() uint64 {
	n, _ := strconv.ParseUint(e.Get("vigil.seq"), 10, 64)
	return n
}

// event copies a row of node n (its strings belong to the store) into
// an Event.
func (s *Searches) event(r store.Row, n node) Event {
	e := Event{Time: r.Time, Fields: make([]store.Field, len(r.Fields)), Node: n.name}
	for i, f := range r.Fields {
		e.Fields[i] = store.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
	}
	e.ID = e.Get("event.id")
	// A peer gives the ids of its journaled events (RowID).
	if e.ID == "" && n.peer == nil && e.Get("event.kind") != "alert" {
		if seq := e.Seq(); seq > 0 {
			e.ID = s.seqID(seq)
		}
	}
	return e
}

// seqID is the event id of the journaled record seq (parse.AppendEventID).
func (s *Searches) seqID(seq uint64) string {
	return fmt.Sprintf("%016x%016x", s.opt.JournalID, seq)
}

// collect returns up to max events (0: all) of q on node n.
func (s *Searches) collect(ctx context.Context, n node, q store.Query, max int) ([]Event, error) {
	var out []Event
	err := n.st.Search(ctx, q, func(r store.Row) error {
		if max > 0 && len(out) >= max {
			return errEnough
		}
		out = append(out, s.event(r, n))
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, explain(q.Text, err)
}

var errEnough = errors.New("enough rows")

// Page is one page of a search, newest events first.
type Page struct {
	Events []Event
	// More is whether older events match; Cursor asks for them.
	More   bool
	Cursor string
	// Piped is whether the query has pipes: its rows are then what the
	// pipes make (stats, ...), a single page without paging (each
	// node's rows, node by node, when there are peers).
	Piped bool
	// Failed are the peers whose events are missing.
	Failed []NodeFailure
}

// Page returns up to size of the newest events of req older than cursor
// ("" for the first page). Events that share a timestamp are ordered by
// vigil.seq, newest first, so the pages neither repeat nor skip one.
func (s *Searches) Page(ctx context.Context, a Actor, req SearchRequest, size int, cursor string) (*Page, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if size <= 0 {
		size = DefaultPageSize
	}
	if size > MaxPageSize {
		return nil, Invalidf("page size: at most %d", MaxPageSize)
	}
	if _, pipes := req.parts(); pipes != "" && cursor != "" {
		return nil, Invalidf("cursor: a query with pipes has a single page")
	}
	if s.clustered() {
		return s.clusterPage(ctx, req, size, cursor)
	}
	cur, err := parseCursor(cursor)
	if err != nil {
		return nil, err
	}
	return s.pageOn(ctx, s.self(), req, size, cur)
}

// pageOn is Page on node n's store, from cur on.
func (s *Searches) pageOn(ctx context.Context, n node, req SearchRequest, size int, cur pageCursor) (*Page, error) {
	if _, pipes := req.parts(); pipes != "" {
		evs, err := s.collect(ctx, n, req.query("", "", size, store.Newest), size)
		return &Page{Events: evs, Piped: true}, err
	}
	if !cur.t.IsZero() && cur.t.Before(req.End) {
		req.End = cur.t
	}
	excl := cur.filter()
	rows, err := s.collect(ctx, n, req.query(excl, "", size+1, store.Newest), size+1)
	if err != nil || len(rows) <= size {
		sortNewest(rows)
		return &Page{Events: rows}, err
	}
	// rows[size] is the newest event left out: every event newer than
	// it is in rows; those sharing its time are an arbitrary subset.
	edge := rows[size].Time
	page := slices.DeleteFunc(rows[:size], func(e Event) bool { return !e.Time.After(edge) })
	sortNewest(page)
	next := pageCursor{t: edge}
	if k := size - len(page); k > 0 {
		at := req
		at.Start, at.End = edge, edge
		same, err := s.collect(ctx, n, at.query(excl, fmt.Sprintf("| sort by (vigil.seq desc) limit %d", k), k, store.Unordered), k)
		if err != nil {
			return nil, err
		}
		page = append(page, same...)
		next.seq = same[len(same)-1].Seq()
		if next.seq == 0 {
			// Events without a sequence cannot be told apart: step over
			// the instant.
			next.t, next.seq = edge.Add(-time.Nanosecond), 0
		}
	}
	return &Page{Events: page, More: true, Cursor: next.String()}, nil
}

// sortNewest orders events newest first, then by vigil.seq descending.
func sortNewest(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.Seq(), a.Seq())
	})
}

// pageCursor is where the next page starts: events at time t with a
// vigil.seq below seq (all of them when seq is 0), then older ones.
type pageCursor struct {
	t   time.Time
	seq uint64
}

func (c pageCursor) String() string {
	return strconv.FormatInt(c.t.UnixNano(), 10) + "-" + strconv.FormatUint(c.seq, 10)
}

func parseCursor(s string) (pageCursor, error) {
	if s == "" {
		return pageCursor{}, nil
	}
	ts, seq, ok := strings.Cut(s, "-")
	ns, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseUint(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return pageCursor{}, Invalidf("cursor: %q is not one a page gave", s)
	}
	return pageCursor{t: time.Unix(0, ns).UTC(), seq: n}, nil
}

// filter is the LogsQL that leaves out the events of earlier pages at
// the cursor's time ("" when none).
func (c pageCursor) filter() string {
	if c.t.IsZero() || c.seq == 0 {
		return ""
	}
	t := c.t.UTC().Format(time.RFC3339Nano)
	return fmt.Sprintf("-(_time:[%s, %s] vigil.seq:>=%d)", t, t, c.seq)
}

// Histogram counts the events of a search over time.
type Histogram struct {
	Start, End time.Time
	// Step is the width of a bucket; Buckets cover Start to End.
	Step    time.Duration
	Buckets []Bucket
	Total   uint64
	// Failed are the peers whose events are not counted.
	Failed []NodeFailure
}

// Bucket is one bar of a histogram: the events from Time to Time+Step.
type Bucket struct {
	Time  time.Time `json:"time"`
	Count uint64    `json:"count"`
}

// steps are the bucket widths a histogram picks from.
var steps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// HistogramStep returns the bucket width for a range: the smallest of
// 1s, 2s, 5s, ... 12h, 1d that makes at most 120 buckets, and whole
// days beyond.
func HistogramStep(d time.Duration) time.Duration {
	for _, s := range steps {
		if d/s <= maxBuckets {
			return s
		}
	}
	day := 24 * time.Hour
	return (d/(maxBuckets*day) + 1) * day
}

// Histogram counts the events of a filter query in buckets over its
// range. Buckets start at multiples of the step in the zone of offset
// (its offset from UTC, so days start at the user's midnight).
func (s *Searches) Histogram(ctx context.Context, a Actor, req SearchRequest, offset time.Duration) (*Histogram, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if _, pipes := req.parts(); pipes != "" {
		return nil, Invalidf("histogram: only for a query without pipes")
	}
	if s.clustered() {
		return s.clusterHistogram(ctx, req, offset)
	}
	return s.histogramOn(ctx, s.self(), req, offset)
}

// histogramOn is Histogram on node n's store.
func (s *Searches) histogramOn(ctx context.Context, nd node, req SearchRequest, offset time.Duration) (*Histogram, error) {
	step := HistogramStep(req.End.Sub(req.Start))
	// Bucket starts as the engine rounds them: (t + offset) rounded
	// down to the step, minus offset.
	first := req.Start.Add(offset).Truncate(step).Add(-offset)
	if first.After(req.Start) {
		first = first.Add(-step)
	}
	n := int(req.End.Sub(first)/step) + 1
	h := &Histogram{Start: req.Start, End: req.End, Step: step, Buckets: make([]Bucket, n)}
	for i := range h.Buckets {
		h.Buckets[i].Time = first.Add(time.Duration(i) * step).UTC()
	}
	pipe := fmt.Sprintf("| stats by (_time:%s offset %s) count() hits", duration(step), duration(offset))
	q := req.query("", pipe, 0, store.Unordered)
	err := nd.st.Search(ctx, q, func(r store.Row) error {
		t, err := time.Parse(time.RFC3339Nano, r.Get("_time"))
		if err != nil && !r.Time.IsZero() {
			t, err = r.Time, nil
		}
		c, err2 := strconv.ParseUint(r.Get("hits"), 10, 64)
		if err != nil || err2 != nil {
			return fmt.Errorf("histogram: unexpected row %v", r.Fields)
		}
		i := int(t.Sub(first) / step)
		if i >= 0 && i < n {
			h.Buckets[i].Count += c
		}
		h.Total += c
		return nil
	})
	if err != nil {
		return nil, explain(q.Text, err)
	}
	return h, nil
}

// duration writes d in LogsQL: 90s, 15m, 1h, 1d; offsets may be negative.
func duration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d == 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return sign + strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return sign + strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return sign + strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return sign + strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// FieldValues is a field of the matched events with its most frequent
// values.
type FieldValues struct {
	Name   string       `json:"name"`
	Values []ValueCount `json:"values"`
	// Failed are the peers whose events are not counted (Top only).
	Failed []NodeFailure `json:"failed,omitempty"`
}

// ValueCount is a value and how many events have it.
type ValueCount struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

// FieldStats is the field sidebar of a search.
type FieldStats struct {
	Fields []FieldValues
	// From is where the counted events start: the request's start, or
	// later when the range held more than the sample.
	From    time.Time
	Sampled bool
	// Failed are the peers whose events are not counted.
	Failed []NodeFailure
}

// hiddenFields are left out of the sidebar: unique per event or internal.
var hiddenFields = map[string]bool{"_time": true, "_msg": true, "_stream": true, "_stream_id": true,
	"vigil.seq": true, "event.id": true, "vigil.received": true, "vigil.raw_base64": true, store.ShapeField: true}

// Fields returns the fields of the events a filter query matches with
// their top values (at most top each), counted over the newest events:
// when the histogram shows more than the sample in the range, the range
// is narrowed to the newest buckets holding about that many. Fields with
// more than 10,000 distinct values or values over 200 bytes are left
// out; Top counts one field without those bounds. hist is the request's
// histogram when the caller has it already; nil makes Fields count.
func (s *Searches) Fields(ctx context.Context, a Actor, req SearchRequest, top int, hist *Histogram) (*FieldStats, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if top <= 0 || top > MaxTopValues {
		return nil, Invalidf("top: between 1 and %d", MaxTopValues)
	}
	h := hist
	if h == nil {
		var err error
		if h, err = s.Histogram(ctx, a, req, 0); err != nil {
			return nil, err
		}
	}
	fs := &FieldStats{From: req.Start}
	if h.Total > uint64(s.opt.FacetSample) {
		var n uint64
		for i := len(h.Buckets) - 1; i >= 0; i-- {
			if n += h.Buckets[i].Count; n >= uint64(s.opt.FacetSample) {
				if t := h.Buckets[i].Time; t.After(req.Start) {
					fs.From, fs.Sampled, req.Start = t, true, t
				}
				break
			}
		}
	}
	res, failed, err := fanout(ctx, s, func(ctx context.Context, n node) ([]FieldValues, error) {
		return s.facetsOn(ctx, n, req, top)
	})
	if err != nil {
		return nil, err
	}
	fs.Failed = failed
	fs.Fields = mergeFields(res, top)
	return fs, nil
}

// facetsOn returns the top values of each field of req's events on node
// n, by name, each field's values by count.
func (s *Searches) facetsOn(ctx context.Context, n node, req SearchRequest, top int) ([]FieldValues, error) {
	var fields []FieldValues
	q := req.query("", fmt.Sprintf("| facets %d max_values_per_field 10000 max_value_len 200 keep_const_fields", top), 0, store.Unordered)
	err := n.st.Search(ctx, q, func(r store.Row) error {
		name := r.Get("field_name")
		if hiddenFields[name] {
			return nil
		}
		c, _ := strconv.ParseUint(r.Get("hits"), 10, 64)
		if len(fields) == 0 || fields[len(fields)-1].Name != name {
			fields = append(fields, FieldValues{Name: strings.Clone(name)})
		}
		f := &fields[len(fields)-1]
		f.Values = append(f.Values, ValueCount{Value: strings.Clone(r.Get("field_value")), Count: c})
		return nil
	})
	if err != nil {
		return nil, explain(q.Text, err)
	}
	slices.SortFunc(fields, func(a, b FieldValues) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range fields {
		slices.SortStableFunc(f.Values, func(a, b ValueCount) int { return cmp.Compare(b.Count, a.Count) })
	}
	return fields, nil
}

// Top returns the n most frequent values of one field over the whole
// range of a filter query.
func (s *Searches) Top(ctx context.Context, a Actor, req SearchRequest, field string, n int) (*FieldValues, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if field == "" {
		return nil, Invalidf("field: missing")
	}
	if n <= 0 || n > MaxTopValues {
		return nil, Invalidf("top: between 1 and %d", MaxTopValues)
	}
	if _, pipes := req.parts(); pipes != "" {
		return nil, Invalidf("top: only for a query without pipes")
	}
	res, failed, err := fanout(ctx, s, func(ctx context.Context, nd node) ([]FieldValues, error) {
		v, err := s.topOn(ctx, nd, req, field, n)
		return []FieldValues{*v}, err
	})
	if err != nil {
		return nil, err
	}
	out := &FieldValues{Name: field}
	if m := mergeFields(res, n); len(m) > 0 {
		out = &m[0]
	}
	out.Failed = failed
	return out, nil
}

// topOn is Top on node nd's store.
func (s *Searches) topOn(ctx context.Context, nd node, req SearchRequest, field string, n int) (*FieldValues, error) {
	name := QuoteField(field)
	q := req.query("", fmt.Sprintf("| top %d by (%s) hits as vigil.hits", n, name), 0, store.Unordered)
	out := &FieldValues{Name: field}
	err := nd.st.Search(ctx, q, func(r store.Row) error {
		c, _ := strconv.ParseUint(r.Get("vigil.hits"), 10, 64)
		out.Values = append(out.Values, ValueCount{Value: strings.Clone(r.Get(field)), Count: c})
		return nil
	})
	if err != nil {
		return nil, explain(q.Text, err)
	}
	slices.SortStableFunc(out.Values, func(a, b ValueCount) int { return cmp.Compare(b.Count, a.Count) })
	return out, nil
}

// QuoteField returns a field name as LogsQL writes it: quoted unless
// it is letters, digits, '_' and '.'.
func QuoteField(name string) string {
	if name == "" {
		return `""`
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return strconv.Quote(name)
		}
	}
	if isLogsQLKeyword(name) {
		return strconv.Quote(name)
	}
	return name
}

func isLogsQLKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "in", "contains_all", "contains_any", "seq", "range", "re", "i", "exact", "options":
		return true
	}
	return false
}

// FilterFor returns the LogsQL filter for events whose field equals
// value exactly, or (exclude) those where it does not: field:="value",
// -field:="value".
func FilterFor(field, value string, exclude bool) string {
	f := QuoteField(field) + ":=" + strconv.Quote(value)
	if exclude {
		return "-" + f
	}
	return f
}

// AddFilter appends a filter to a query (before its pipes).
func AddFilter(query, filter string) string {
	q := strings.TrimSpace(query)
	pipes := ""
	if i := pipeIndex(q); i >= 0 {
		q, pipes = strings.TrimSpace(q[:i]), " "+q[i:]
	}
	switch {
	case q == "" || q == "*":
		q = filter
	case strings.Contains(strings.ToLower(q), " or "):
		q = "(" + q + ") " + filter
	default:
		q += " " + filter
	}
	return q + pipes
}

// EventDetail is one event with all its fields and its raw journal
// record.
type EventDetail struct {
	Event
	// Raw is the journal record of the event (nil when not kept).
	Raw *journal.Record
	// RawText is Raw's bytes as text, decoded from RawCharset (its
	// input's charset), invalid bytes as U+FFFD.
	RawText    string
	RawCharset charset.Charset
	// RawNote says why Raw is nil.
	RawNote string
}

// Event returns the event with id (32 hex digits, as Page gives) with
// all its fields and its raw journal record. at, when not zero, is the
// event's time, which makes the lookup cheap; otherwise the whole
// retention is searched. nodeName, when not "", is the node whose store
// holds it (Event.Node); otherwise this node's store is searched, then
// the peers'.
func (s *Searches) Event(ctx context.Context, a Actor, id string, at time.Time, nodeName string) (*EventDetail, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return nil, Invalidf("event id: want 32 hexadecimal digits, got %q", id)
	}
	id = strings.ToLower(id)
	if s.clustered() || nodeName != "" && nodeName != s.opt.Node {
		return s.clusterEvent(ctx, id, at, nodeName)
	}
	return s.eventOn(ctx, id, at)
}

// eventOn is Event on this node's store.
func (s *Searches) eventOn(ctx context.Context, id string, at time.Time) (*EventDetail, error) {
	filter := "event.id:=" + strconv.Quote(id)
	if strconv.FormatUint(s.opt.JournalID, 16) == strings.TrimLeft(id[:16], "0") || s.opt.JournalID == 0 && strings.TrimLeft(id[:16], "0") == "" {
		seq, _ := strconv.ParseUint(id[16:], 16, 64)
		filter = fmt.Sprintf("(%s or vigil.seq:=%d)", filter, seq)
	}
	q := store.Query{Text: filter, Limit: 2, Order: store.Unordered}
	if !at.IsZero() {
		q.Start, q.End = at, at
	}
	evs, err := s.collect(ctx, s.self(), q, 2)
	if err != nil {
		return nil, err
	}
	var d *EventDetail
	for _, e := range evs {
		if e.ID == id {
			d = &EventDetail{Event: e}
			break
		}
	}
	if d == nil {
		return nil, fmt.Errorf("event %s: %w (outside the store's retention, or the time given is not its time)", id, ErrNotFound)
	}
	seq := d.Seq()
	switch {
	case d.Get("event.kind") == "alert":
		d.RawNote = "an alert has no raw record: its contributing events do"
	case s.opt.Raw == nil || seq == 0:
		d.RawNote = "the journal is not available"
	default:
		err := s.opt.Raw(ctx, seq, 1, func(r *journal.Record) error {
			if r.Seq == seq {
				c := *r
				c.Data = slices.Clone(r.Data)
				c.Origin = slices.Clone(r.Origin)
				d.Raw = &c
				d.RawCharset = s.opt.Charsets.Of(r.Input)
				d.RawText = d.RawCharset.Text(r.Data)
			}
			return nil
		})
		switch {
		case err != nil:
			d.RawNote = "reading the journal failed: " + err.Error()
		case d.Raw == nil:
			d.RawNote = fmt.Sprintf("record %d is no longer in the journal (journal.retention)", seq)
		}
	}
	return d, nil
}

// TailResult is what a tail call found: new events, newest first.
type TailResult struct {
	Events []Event
	// Cursor asks for the events after these.
	Cursor string
	// Skipped counts new events left out beyond MaxTailEvents.
	Skipped bool
	// Failed are the peers whose events are missing.
	Failed []NodeFailure
}

// Tail returns the events of a filter query that arrived after cursor
// (vigil.seq order), newest first, at most MaxTailEvents. With cursor ""
// it returns none and a cursor at the newest event. When there are none
// yet it looks again every TailPoll for up to wait (at most MaxTailWait),
// and stops when ctx ends. The request's range is ignored: a tail looks
// at the last hour.
func (s *Searches) Tail(ctx context.Context, a Actor, req SearchRequest, cursor string, wait time.Duration) (*TailResult, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if _, pipes := req.parts(); pipes != "" {
		return nil, Invalidf("live tail: only for a query without pipes")
	}
	if req.Scope == store.Alerts {
		return nil, Invalidf("live tail: follows events, in the order the journal took them; alerts have no journal sequence (search them with a range instead)")
	}
	wait = min(max(wait, 0), MaxTailWait)
	if s.clustered() {
		return s.clusterTail(ctx, req, cursor, wait)
	}
	return s.tailOn(ctx, s.self(), req, cursor, wait)
}

// tailOn is Tail on node n's store.
func (s *Searches) tailOn(ctx context.Context, n node, req SearchRequest, cursor string, wait time.Duration) (*TailResult, error) {
	var after uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, Invalidf("cursor: %q is not one a tail gave", cursor)
		}
		after = n
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		now := s.opt.Now()
		req.Start, req.End = now.Add(-tailWindow), now.Add(24*time.Hour)
		if cursor == "" {
			// Start at the newest event of any query: the journal order.
			all := SearchRequest{Start: req.Start, End: req.End, Scope: req.Scope}
			evs, err := s.collect(ctx, n, all.query("", "| stats max(vigil.seq) seq", 0, store.Unordered), 1)
			if err != nil {
				return nil, err
			}
			var last uint64
			if len(evs) > 0 {
				last, _ = strconv.ParseUint(evs[0].Get("seq"), 10, 64)
			}
			return &TailResult{Cursor: strconv.FormatUint(last, 10)}, nil
		}
		q := req.query(fmt.Sprintf("vigil.seq:>%d", after),
			fmt.Sprintf("| sort by (vigil.seq desc) limit %d", MaxTailEvents+1), 0, store.Unordered)
		evs, err := s.collect(ctx, n, q, MaxTailEvents+1)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			res := &TailResult{Cursor: strconv.FormatUint(evs[0].Seq(), 10)}
			if len(evs) > MaxTailEvents {
				evs, res.Skipped = evs[:MaxTailEvents], true
			}
			res.Events = evs
			return res, nil
		}
		if done, err := s.pollWait(ctx, timeout.C); err != nil {
			return nil, err
		} else if done {
			return &TailResult{Cursor: cursor}, nil
		}
	}
}
