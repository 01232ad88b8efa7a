package service

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// DashboardStore runs the dashboards' queries: a *search.Service, so
// that they count against the same limits as every other search.
type DashboardStore interface {
	Search(ctx context.Context, q store.Query, fn func(store.Row) error) error
}

// DashboardOptions are the sources of Dashboards besides the store. Every
// one is optional.
type DashboardOptions struct {
	// Registered reports whether a user's ActiveSync device is in the
	// device registry; nil when there is no registry.
	Registered func(user, deviceID string) bool
	// Revoked reports whether a user's device was revoked and not
	// registered again (never proposed for registration); nil: none is.
	Revoked func(user, deviceID string) bool
	// Country returns the ISO country code of an address, "" when unknown;
	// nil when there is no GeoIP database.
	Country func(ip netip.Addr) string
	// Health returns the pipeline's state for the overview; nil leaves the
	// health panels out.
	Health func() PipelineHealth
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxParallel is how many of one page's queries run at once (each
	// also takes one of the search service's slots); 0 means 2, so that a
	// dashboard never takes every slot from analysts and ingest.
	MaxParallel int
	// CacheTTL is how long an overview is served from memory; 0 means
	// 30s. Ten open dashboards that refresh cost one set of queries; after
	// it, one caller computes the next while the others get the previous
	// one (up to 10 times CacheTTL old).
	CacheTTL time.Duration
	// Settle is how long after its end a block of the overview is first
	// computed (docs/console.md); events that arrive later drop it
	// (Added). The server passes detect.max_clock_skew plus a second.
	Settle time.Duration
	// BlockBytes bounds the memory of the overview's blocks; 0 means
	// DefaultBlockBytes, below 0 keeps no blocks (every overview queries
	// its whole range).
	BlockBytes int64
	// Log receives the warmer's errors; nil discards them.
	Log *slog.Logger
}

// Dashboards answers the entity pages and the overview dashboard: a few
// aggregations per page, run on the store within the search limits, with
// bounded results.
type Dashboards struct {
	st   DashboardStore
	opts DashboardOptions

	mu    sync.Mutex
	cache map[string]*overviewSlot

	// The overview's blocks, and the ranges the warmer computes.
	blocks blockCache
	wmu    sync.Mutex
	wants  map[string]want
	wake   chan struct{}
	cap    int // the most groups a block keeps (blockCap)
}

// NewDashboards returns Dashboards over st.
func NewDashboards(st DashboardStore, opts DashboardOptions) *Dashboards {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = 2
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	switch {
	case opts.BlockBytes == 0:
		opts.BlockBytes = DefaultBlockBytes
	case opts.BlockBytes < 0:
		opts.BlockBytes = 0
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Dashboards{st: st, opts: opts, cache: map[string]*overviewSlot{},
		blocks: blockCache{max: opts.BlockBytes, m: map[blockKey]*block{}, dirty: map[int64]time.Time{}},
		wants:  map[string]want{}, wake: make(chan struct{}, 1), cap: blockCap}
}

// Protocols are the groups of the login timelines, in display order:
// network.protocol for the mail protocols, windows for the Windows
// Security log (Kerberos, NTLM, RDP, ...), other for the rest (MAPI,
// Autodiscover, SMTP, ...).
var Protocols = []string{"owa", "activesync", "ews", "imap", "pop", "windows", "other"}

// protocolOf returns the group of Protocols an event belongs to.
func protocolOf(protocol, dataset string) string {
	switch protocol {
	case "owa", "activesync", "ews", "imap":
		return protocol
	case "pop3", "pop":
		return "pop"
	}
	if dataset == "windows.security" {
		return "windows"
	}
	return "other"
}

// Timeline is logins (successful authentications) and failures over time,
// by protocol group.
type Timeline struct {
	// Step is the width of a bucket; Buckets their start times.
	Step    time.Duration `json:"-"`
	StepSec int64         `json:"step_seconds"`
	Buckets []time.Time   `json:"buckets"`
	// Series has one entry per protocol group that has events, in the
	// order of Protocols.
	Series []ProtocolSeries `json:"series"`
}

// ProtocolSeries is one protocol group's counts per bucket.
type ProtocolSeries struct {
	Protocol string  `json:"protocol"`
	Success  []int64 `json:"success"`
	Failure  []int64 `json:"failure"`
	// TotalSuccess and TotalFailure sum the buckets.
	TotalSuccess int64 `json:"total_success"`
	TotalFailure int64 `json:"total_failure"`
}

// authFilter selects authentication attempts with a known outcome.
const authFilter = `event.category:authentication event.outcome:in(success, failure)`

// lockoutFilter selects lockouts: the domain controller's 4740 and the
// logons refused because the account is locked (as the rule
// account-locked-out).
const lockoutFilter = `(event.action:="account-locked" or winlog.status:="0xC0000234" or winlog.sub_status:="0xC0000234" or iis.win32_status:="1909")`

// alertFilter selects the stored alerts (with Query.Scope alerts).
const alertFilter = `event.dataset:="vigil.alert"`

// notAlerts keeps alerts out of an event query that could match them
// (they carry user.name, source.ip and device.id too). The store's
// scopes will make it redundant.
const notAlerts = `-event.dataset:="vigil.alert"`

// dashSteps are the bucket widths a timeline picks from.
var dashSteps = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// dashMaxBuckets bounds a timeline.
const dashMaxBuckets = 200

// pickStep returns the smallest step that cuts [start, end) into at most
// about want buckets.
func pickStep(start, end time.Time, want int) time.Duration {
	d := end.Sub(start)
	for _, s := range dashSteps {
		if d/s <= time.Duration(want) {
			return s
		}
	}
	return dashSteps[len(dashSteps)-1]
}

// bucketOffset is the offset of buckets of step (their start times are
// offset modulo step, as in LogsQL's "_time:step offset o") that aligns
// them to midnight and whole hours in loc at t: day buckets start at the
// reader's midnight (in UTC+8, at 16:00 UTC).
func bucketOffset(step time.Duration, loc *time.Location, t time.Time) time.Duration {
	_, off := t.In(loc).Zone()
	o := -time.Duration(off) * time.Second % step
	if o < 0 {
		o += step
	}
	return o
}

// newTimeline returns an empty timeline of [start, end).
func newTimeline(start, end time.Time, step time.Duration, loc *time.Location) *Timeline {
	off := bucketOffset(step, loc, start)
	first := start.Add(-off).Truncate(step).Add(off)
	if first.After(start) {
		first = first.Add(-step)
	}
	tl := &Timeline{Step: step, StepSec: int64(step / time.Second)}
	for t := first; t.Before(end) && len(tl.Buckets) < dashMaxBuckets; t = t.Add(step) {
		tl.Buckets = append(tl.Buckets, t.UTC())
	}
	return tl
}

// bucket returns the index of t's bucket, or -1.
func (tl *Timeline) bucket(t time.Time) int {
	if len(tl.Buckets) == 0 || t.Before(tl.Buckets[0]) {
		return -1
	}
	i := int(t.Sub(tl.Buckets[0]) / tl.Step)
	if i >= len(tl.Buckets) {
		return -1
	}
	return i
}

// stepPipe is the stats group of a timeline's buckets.
func (tl *Timeline) stepPipe(loc *time.Location) string {
	g := "_time:" + formatStep(tl.Step)
	if len(tl.Buckets) > 0 {
		// LogsQL's offset moves the buckets back: "_time:1h offset 15m"
		// starts them at :45.
		if off := bucketOffset(tl.Step, loc, tl.Buckets[0]); off > 0 {
			g += " offset " + formatStep(tl.Step-off)
		}
	}
	return g
}

// formatStep writes d as a LogsQL duration (whole seconds).
func formatStep(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// fillTimeline runs the login timeline query for filter.
func (d *Dashboards) fillTimeline(ctx context.Context, tl *Timeline, filter string, start, end time.Time, loc *time.Location) error {
	q := filter + " " + authFilter + " | stats by (" + tl.stepPipe(loc) + ", network.protocol, event.dataset, event.outcome) count() n"
	sum := newTLSum(tl)
	err := d.rows(ctx, q, start, end, sum.row)
	sum.done()
	return err
}

// rows runs an aggregation query on the events and calls fn for each
// result row. Row strings are the store's until fn returns: fn clones
// what it keeps (the helpers below do).
func (d *Dashboards) rows(ctx context.Context, text string, start, end time.Time, fn func(*store.Row)) error {
	return d.st.Search(ctx, store.Query{Text: text, Start: start, End: end, Order: store.Unordered}, func(r store.Row) error {
		fn(&r)
		return nil
	})
}

// get returns a copy of the named field of r.
func get(r *store.Row, name string) string { return strings.Clone(r.Get(name)) }

// num reads a count.
func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// tm reads a time a stats function wrote (min(_time), max(_time)).
func tm(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// quote writes s as a LogsQL quoted string.
func quote(s string) string { return strconv.Quote(s) }

// panels runs a page's queries, at most MaxParallel at once, and keeps
// each one's error by panel name.
type panels struct {
	ctx  context.Context
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs map[string]string
	err  error // the first error
	n    int
}

func (d *Dashboards) panels(ctx context.Context) *panels {
	return &panels{ctx: ctx, sem: make(chan struct{}, d.opts.MaxParallel), errs: map[string]string{}}
}

// run runs fn for panel name on a goroutine that wait waits for.
func (p *panels) run(name string, fn func(ctx context.Context) error) {
	p.n++
	p.wg.Go(func() {
		select {
		case p.sem <- struct{}{}:
		case <-p.ctx.Done():
			p.fail(name, p.ctx.Err())
			return
		}
		defer func() { <-p.sem }()
		if err := fn(p.ctx); err != nil {
			p.fail(name, err)
		}
	})
}

func (p *panels) fail(name string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs[name] = err.Error()
	if p.err == nil {
		p.err = err
	}
}

// wait waits for the panels. It returns an error only when the context
// ended or every panel failed; otherwise the failed panels are in the
// map it returns (nil when none failed).
func (p *panels) wait() (map[string]string, error) {
	p.wg.Wait()
	if err := p.ctx.Err(); err != nil {
		return nil, err
	}
	if len(p.errs) == 0 {
		return nil, nil
	}
	if len(p.errs) == p.n {
		return nil, p.err
	}
	return p.errs, nil
}

// errNoRange is returned for a time range that ends before it starts.
var errNoRange = errors.New("empty time range")

// checkRange validates a page's time range, defaulting it to the last
// def before now.
func checkRange(start, end *time.Time, now time.Time, def time.Duration) error {
	if end.IsZero() {
		*end = now
	}
	if start.IsZero() {
		*start = end.Add(-def)
	}
	if !end.After(*start) {
		return Invalidf("%v: end %s is not after start %s", errNoRange, end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if end.Sub(*start) > 400*24*time.Hour {
		return Invalidf("time range longer than 400 days")
	}
	return nil
}
