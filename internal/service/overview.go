package service

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/store"
)

// Bounds of the overview.
const (
	overviewTop       = 10   // top failing sources and accounts
	overviewList      = 20   // lockouts, devices, admin actions, silent sources
	overviewCountryIP = 1000 // busiest addresses of successful logins placed in countries
	overviewDevices   = 5000 // user and device pairs checked against the registry
	ingestWindow      = 10 * time.Minute
)

// OverviewQuery asks for the overview dashboard.
type OverviewQuery struct {
	// Range is how far back from End the dashboard looks; 0 means 24h.
	Range time.Duration
	// End is the end of the range; zero means now (the cached overview is
	// then at most DashboardOptions.CacheTTL old).
	End time.Time
	// Loc is the reader's time zone: "today" and day buckets start at its
	// midnight. Nil means UTC.
	Loc *time.Location
}

// Overview is the mail service's overview dashboard. An Overview may be
// shared between callers: treat it as read-only.
type Overview struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Generated is when the queries ran (an overview is cached briefly).
	Generated time.Time `json:"generated"`
	// CachedBlocks counts the closed blocks of time whose results the
	// timeline, top and country panels took from memory instead of
	// querying them (docs/console.md); BlockFallback names the panels
	// that queried their whole range because a block had more than
	// 50 000 groups.
	CachedBlocks  int      `json:"cached_blocks"`
	BlockFallback []string `json:"block_fallback,omitempty"`
	// Timeline is logins and failures over time by protocol.
	Timeline *Timeline `json:"timeline"`
	// TopSources and TopAccounts are the addresses and accounts with the
	// most failed logons.
	TopSources  []SourceFailures  `json:"top_sources"`
	TopAccounts []AccountFailures `json:"top_accounts"`
	// Countries of successful logins (of the busiest 1000 addresses);
	// GeoIP is false without a GeoIP database (every country unknown).
	Countries []CountryUse `json:"countries"`
	GeoIP     bool         `json:"geoip"`
	// Lockouts are the accounts locked out since midnight in Loc.
	Lockouts Lockouts `json:"lockouts"`
	// Unregistered lists ActiveSync devices seen that the registry does
	// not pair with their user; Registry is false without a registry.
	Unregistered      []DeviceUse `json:"unregistered_devices"`
	UnregisteredTotal int         `json:"unregistered_total"`
	Registry          bool        `json:"registry"`
	// AdminActions are Exchange cmdlets run, newest first.
	AdminActions []AdminAction `json:"admin_actions"`
	// ProxyRate is requests at the web front ends over time.
	ProxyRate *RateSeries `json:"proxy_rate"`
	// Silent are the log-source-silent alerts of the range, newest first.
	Silent []AlertSummary `json:"silent_sources"`
	// Ingest is the events of the last 10 minutes per input and host.
	Ingest []IngestRate `json:"ingest"`
	// ParseErrors counts events with vigil.parse_error per input.
	ParseErrors []InputCount `json:"parse_errors"`
	// Health is the pipeline's state now (never cached).
	Health *PipelineHealth `json:"health,omitempty"`
	// Truncated names the lists that hit their bound.
	Truncated []string `json:"truncated,omitempty"`
	// Errors names the panels whose query failed, with why.
	Errors map[string]string `json:"errors,omitempty"`
}

// SourceFailures is an address with failed logons.
type SourceFailures struct {
	IP       string `json:"ip"`
	Country  string `json:"country,omitempty"`
	Failures int64  `json:"failures"`
	Users    int64  `json:"users"`
}

// AccountFailures is an account with failed logons.
type AccountFailures struct {
	User     string `json:"user"`
	Failures int64  `json:"failures"`
	Sources  int64  `json:"sources"`
}

// Lockouts are the lockouts since Since.
type Lockouts struct {
	Since time.Time  `json:"since"`
	Users []UserLock `json:"users"`
}

// UserLock is one account's lockout events.
type UserLock struct {
	User   string    `json:"user"`
	Events int64     `json:"events"`
	Last   time.Time `json:"last"`
}

// AdminAction counts one administrator's runs of one cmdlet.
type AdminAction struct {
	Cmdlet string    `json:"cmdlet"`
	User   string    `json:"user"`
	Count  int64     `json:"count"`
	Last   time.Time `json:"last"`
}

// RateSeries is event counts over time by dataset.
type RateSeries struct {
	StepSec int64       `json:"step_seconds"`
	Buckets []time.Time `json:"buckets"`
	Series  []Series    `json:"series"`
}

// Series is one named row of counts.
type Series struct {
	Name   string  `json:"name"`
	Counts []int64 `json:"counts"`
	Total  int64   `json:"total"`
}

// IngestRate is what one input received from one host lately.
type IngestRate struct {
	Input     string    `json:"input"`
	Host      string    `json:"host,omitempty"`
	Events    int64     `json:"events"`
	PerSecond float64   `json:"per_second"`
	Last      time.Time `json:"last"`
}

// InputCount is a count for one input.
type InputCount struct {
	Input string `json:"input"`
	Count int64  `json:"count"`
}

// PipelineHealth is the pipeline's state for the overview, from the
// same sources as /api/v1/status.
type PipelineHealth struct {
	JournalNextSeq   uint64 `json:"journal_next_seq"`
	JournalDiskBytes int64  `json:"journal_disk_bytes"`
	// JournalFull is true while the journal refuses records for lack of
	// disk space; FreeDiskBytes is -1 when unknown.
	JournalFull   bool  `json:"journal_full"`
	FreeDiskBytes int64 `json:"free_disk_bytes"`
	// IndexLag is the journal records not yet parsed and stored.
	IndexLag uint64 `json:"index_lag_records"`
	// AlertStoreLag is the alerts not yet stored.
	AlertStoreLag uint64          `json:"alert_store_lag_records"`
	Kafka         []KafkaHealth   `json:"kafka,omitempty"`
	Outputs       []OutputHealth  `json:"outputs"`
	AlertChannels []ChannelHealth `json:"alert_channels"`
	// Detect is nil when detection is off.
	Detect *DetectHealth `json:"detect,omitempty"`
}

// KafkaHealth is one Kafka input.
type KafkaHealth struct {
	Name      string `json:"name"`
	Running   bool   `json:"running"`
	Lag       int64  `json:"lag"`
	LastError string `json:"last_error,omitempty"`
}

// OutputHealth is one output (of events or alerts).
type OutputHealth struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Lag           uint64    `json:"lag_records"`
	Errors        uint64    `json:"errors"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// ChannelHealth is one alert channel.
type ChannelHealth struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Sent          uint64    `json:"sent"`
	Failed        uint64    `json:"failed"`
	Dropped       uint64    `json:"dropped"`
	Queued        int       `json:"queued"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// DetectHealth is the detection engine.
type DetectHealth struct {
	Rules       int       `json:"rules"`
	RuleErrors  int       `json:"rule_errors"`
	Alerts      uint64    `json:"alerts"`
	NewestEvent time.Time `json:"newest_event_time,omitzero"`
}

// overviewSlot caches the overview of one range, end and zone: the
// last one computed (good, whose queries ran at at) and the run under
// way, if any.
type overviewSlot struct {
	good *Overview
	at   time.Time
	run  *overviewRun
}

// overviewRun is one run of the queries; done is closed when ov or err
// is set.
type overviewRun struct {
	done chan struct{}
	ov   *Overview
	err  error
}

// maxCached bounds the cached overviews (one per range, end and zone).
const maxCached = 32

// Overview returns the overview dashboard. Callers asking for the same
// range and zone share one run of the queries: within CacheTTL they get
// its result; after it, the first caller runs the queries again while
// the others get the previous result (for up to 10 times CacheTTL, then
// they wait for the run). Health is read on every call.
func (d *Dashboards) Overview(ctx context.Context, a Actor, q OverviewQuery) (*Overview, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if q.Range == 0 {
		q.Range = 24 * time.Hour
	}
	if q.Range < time.Minute || q.Range > 400*24*time.Hour {
		return nil, Invalidf("range %s: want between 1m and 400d", q.Range)
	}
	if q.Loc == nil {
		q.Loc = time.UTC
	}
	key := q.Range.String() + "|" + q.Loc.String()
	if !q.End.IsZero() {
		key += "|" + q.End.UTC().Format(time.RFC3339Nano)
	}
	now := d.opts.Now()
	d.wantRange(q.Range, q.End, now)
	d.mu.Lock()
	s := d.cache[key]
	if s == nil {
		d.evictLocked(now)
		s = &overviewSlot{}
		d.cache[key] = s
	}
	age := now.Sub(s.at)
	switch {
	case s.good != nil && age < d.opts.CacheTTL:
		ov := s.good
		d.mu.Unlock()
		return d.withHealth(ov), nil
	case s.run != nil && s.good != nil && age < d.staleTTL():
		// Another caller refreshes it: the previous one meanwhile.
		ov := s.good
		d.mu.Unlock()
		return d.withHealth(ov), nil
	case s.run != nil:
		run := s.run
		d.mu.Unlock()
		select {
		case <-run.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if run.err != nil {
			return nil, run.err
		}
		return d.withHealth(run.ov), nil
	}
	run := &overviewRun{done: make(chan struct{})}
	s.run = run
	d.mu.Unlock()
	// The run serves every caller that waits for it: one leaving does not
	// cancel it (the search timeout bounds it).
	run.ov, run.err = d.overview(context.WithoutCancel(ctx), q, now)
	d.mu.Lock()
	s.run = nil
	if run.err == nil {
		s.good, s.at = run.ov, now
	}
	d.mu.Unlock()
	close(run.done)
	if run.err != nil {
		return nil, run.err
	}
	return d.withHealth(run.ov), nil
}

// staleTTL is how long a previous overview is served while a new one is
// computed.
func (d *Dashboards) staleTTL() time.Duration { return 10 * d.opts.CacheTTL }

// withHealth returns a copy of a cached overview with the pipeline's
// health now.
func (d *Dashboards) withHealth(cached *Overview) *Overview {
	ov := *cached
	if d.opts.Health != nil {
		h := d.opts.Health()
		ov.Health = &h
	}
	return &ov
}

// evictLocked drops the slots that serve nothing any more, and every idle
// one when the cache is still full.
func (d *Dashboards) evictLocked(now time.Time) {
	for k, s := range d.cache {
		if s.run == nil && (s.good == nil || now.Sub(s.at) >= d.staleTTL()) {
			delete(d.cache, k)
		}
	}
	if len(d.cache) < maxCached {
		return
	}
	for k, s := range d.cache {
		if s.run == nil {
			delete(d.cache, k)
		}
	}
}

// overview runs the overview's queries.
func (d *Dashboards) overview(ctx context.Context, q OverviewQuery, now time.Time) (*Overview, error) {
	end := q.End
	if end.IsZero() {
		end = now
	}
	start := end.Add(-q.Range)
	step := pickStep(start, end, 48)
	ov := &Overview{Start: start.UTC(), End: end.UTC(), Generated: now.UTC(), GeoIP: d.opts.Country != nil,
		Registry: d.opts.Registered != nil, TopSources: []SourceFailures{}, TopAccounts: []AccountFailures{},
		Countries: []CountryUse{}, Unregistered: []DeviceUse{}, AdminActions: []AdminAction{}, Silent: []AlertSummary{},
		Ingest: []IngestRate{}, ParseErrors: []InputCount{}}
	ov.Timeline = newTimeline(start, end, step, q.Loc)
	proxy := newTimeline(start, end, step, q.Loc)
	ov.ProxyRate = &RateSeries{StepSec: proxy.StepSec, Buckets: proxy.Buckets, Series: []Series{}}
	y, m, dd := end.In(q.Loc).Date()
	ov.Lockouts = Lockouts{Since: time.Date(y, m, dd, 0, 0, 0, 0, q.Loc).UTC(), Users: []UserLock{}}
	trunc := map[string]bool{}
	var tmu sync.Mutex
	cut := func(name string, more bool) {
		if more {
			tmu.Lock()
			trunc[name] = true
			tmu.Unlock()
		}
	}
	p := d.panels(ctx)
	use := &blockUse{}
	p.run("timeline", func(ctx context.Context) error {
		return d.timelinePanel(ctx, ov.Timeline, start, end, now, q.Loc, use)
	})
	p.run("top_sources", func(ctx context.Context) error {
		sums, ok, err := d.groupPanel(ctx, kindFailures, "top_sources", start, end, now, use)
		if err != nil || !ok {
			if err == nil {
				err = d.rows(ctx, failedFilter+" source.ip:* | stats by (source.ip) count() n, count_uniq(user.name) users | sort by (n desc) | limit "+strconv.Itoa(overviewTop), start, end, func(r *store.Row) {
					ov.TopSources = append(ov.TopSources, SourceFailures{IP: get(r, "source.ip"), Failures: num(r.Get("n")), Users: num(r.Get("users"))})
				})
			}
		} else {
			for _, k := range topOf(sums, 0, overviewTop) {
				ov.TopSources = append(ov.TopSources, SourceFailures{IP: k.key, Failures: k.n, Users: k.uniq})
			}
		}
		for i := range ov.TopSources {
			ov.TopSources[i].Country = d.country(ov.TopSources[i].IP)
		}
		slices.SortStableFunc(ov.TopSources, func(a, b SourceFailures) int { return cmp.Compare(b.Failures, a.Failures) })
		return err
	})
	p.run("top_accounts", func(ctx context.Context) error {
		sums, ok, err := d.groupPanel(ctx, kindFailures, "top_accounts", start, end, now, use)
		if err != nil || !ok {
			if err == nil {
				err = d.rows(ctx, failedFilter+" user.name:* | stats by (user.name) count() n, count_uniq(source.ip) sources | sort by (n desc) | limit "+strconv.Itoa(overviewTop), start, end, func(r *store.Row) {
					ov.TopAccounts = append(ov.TopAccounts, AccountFailures{User: get(r, "user.name"), Failures: num(r.Get("n")), Sources: num(r.Get("sources"))})
				})
			}
		} else {
			for _, k := range topOf(sums, 1, overviewTop) {
				ov.TopAccounts = append(ov.TopAccounts, AccountFailures{User: k.key, Failures: k.n, Sources: k.uniq})
			}
		}
		slices.SortStableFunc(ov.TopAccounts, func(a, b AccountFailures) int { return cmp.Compare(b.Failures, a.Failures) })
		return err
	})
	p.run("countries", func(ctx context.Context) error {
		var addrs []AddressUse
		add := func(ip string, n int64) {
			if len(addrs) == overviewCountryIP {
				cut("countries", true)
				return
			}
			addrs = append(addrs, AddressUse{IP: ip, Country: d.country(ip), Events: n})
		}
		sums, ok, err := d.groupPanel(ctx, kindLogins, "countries", start, end, now, use)
		if err != nil || !ok {
			if err == nil {
				err = d.rows(ctx, loginFilter+" | stats by (source.ip) count() n | sort by (n desc) | limit "+strconv.Itoa(overviewCountryIP+1), start, end, func(r *store.Row) {
					add(get(r, "source.ip"), num(r.Get("n")))
				})
			}
		} else {
			for _, k := range topOf(sums, 0, overviewCountryIP+1) {
				add(k.key, k.n)
			}
		}
		ov.Countries = countries(addrs)
		if ov.Countries == nil {
			ov.Countries = []CountryUse{}
		}
		return err
	})
	p.run("lockouts", func(ctx context.Context) error {
		err := d.rows(ctx, lockoutFilter+" user.name:* | stats by (user.name) count() n, max(_time) last | sort by (n desc) | limit "+strconv.Itoa(overviewList+1), ov.Lockouts.Since, end, func(r *store.Row) {
			if len(ov.Lockouts.Users) == overviewList {
				cut("lockouts", true)
				return
			}
			ov.Lockouts.Users = append(ov.Lockouts.Users, UserLock{User: get(r, "user.name"), Events: num(r.Get("n")), Last: tm(r.Get("last"))})
		})
		slices.SortStableFunc(ov.Lockouts.Users, func(a, b UserLock) int { return cmp.Compare(b.Events, a.Events) })
		return err
	})
	if d.opts.Registered != nil {
		p.run("unregistered_devices", func(ctx context.Context) error {
			seen := 0
			err := d.rows(ctx, "network.protocol:activesync device.id:* user.name:* "+notAlerts+" | stats by (user.name, device.id, device.type) count() n, count() if (event.outcome:failure) failures, min(_time) first, max(_time) last | sort by (n desc) | limit "+strconv.Itoa(overviewDevices+1), start, end, func(r *store.Row) {
				if seen++; seen > overviewDevices {
					cut("unregistered_devices", true)
					return
				}
				user, id := r.Get("user.name"), r.Get("device.id")
				if d.registered(user, id) {
					return
				}
				ov.UnregisteredTotal++
				ov.Unregistered = append(ov.Unregistered, DeviceUse{ID: strings.Clone(id), User: strings.Clone(user), Type: get(r, "device.type"),
					Events: num(r.Get("n")), Failures: num(r.Get("failures")), First: tm(r.Get("first")), Last: tm(r.Get("last"))})
			})
			slices.SortStableFunc(ov.Unregistered, func(a, b DeviceUse) int { return cmp.Compare(b.Events, a.Events) })
			if len(ov.Unregistered) > overviewList {
				ov.Unregistered = ov.Unregistered[:overviewList]
			}
			return err
		})
	}
	p.run("admin_actions", func(ctx context.Context) error {
		err := d.rows(ctx, `event.dataset:="exchange.admin_audit" | stats by (exchange.cmdlet, user.name) count() n, max(_time) last | sort by (last desc) | limit `+strconv.Itoa(overviewList), start, end, func(r *store.Row) {
			ov.AdminActions = append(ov.AdminActions, AdminAction{Cmdlet: get(r, "exchange.cmdlet"), User: get(r, "user.name"), Count: num(r.Get("n")), Last: tm(r.Get("last"))})
		})
		slices.SortStableFunc(ov.AdminActions, func(a, b AdminAction) int { return b.Last.Compare(a.Last) })
		return err
	})
	p.run("proxy_rate", func(ctx context.Context) error {
		by := map[string]*Series{}
		err := d.rows(ctx, "event.dataset:in(nginx.access, iis.access, exchange.httpproxy) | stats by ("+proxy.stepPipe(q.Loc)+", event.dataset) count() n", start, end, func(r *store.Row) {
			i := proxy.bucket(r.Time)
			if i < 0 {
				return
			}
			name := r.Get("event.dataset")
			s := by[name]
			if s == nil {
				s = &Series{Name: strings.Clone(name), Counts: make([]int64, len(proxy.Buckets))}
				by[s.Name] = s
			}
			n := num(r.Get("n"))
			s.Counts[i] += n
			s.Total += n
		})
		for _, name := range []string{"nginx.access", "iis.access", "exchange.httpproxy"} {
			if s := by[name]; s != nil {
				ov.ProxyRate.Series = append(ov.ProxyRate.Series, *s)
			}
		}
		return err
	})
	p.run("silent_sources", func(ctx context.Context) error {
		var err error
		var more bool
		ov.Silent, more, err = d.alerts(ctx, `rule.id:="log-source-silent"`, start, end, overviewList)
		cut("silent_sources", more)
		return err
	})
	p.run("ingest", func(ctx context.Context) error {
		from := end.Add(-ingestWindow)
		err := d.rows(ctx, "* "+notAlerts+" | stats by (vigil.input, host.hostname) count() n, max(_time) last | sort by (n desc) | limit "+strconv.Itoa(50), from, end, func(r *store.Row) {
			n := num(r.Get("n"))
			ov.Ingest = append(ov.Ingest, IngestRate{Input: get(r, "vigil.input"), Host: get(r, "host.hostname"), Events: n,
				PerSecond: float64(n) / ingestWindow.Seconds(), Last: tm(r.Get("last"))})
		})
		slices.SortStableFunc(ov.Ingest, func(a, b IngestRate) int { return cmp.Compare(b.Events, a.Events) })
		return err
	})
	p.run("parse_errors", func(ctx context.Context) error {
		err := d.rows(ctx, "vigil.parse_error:* | stats by (vigil.input) count() n | sort by (n desc) | limit 20", start, end, func(r *store.Row) {
			ov.ParseErrors = append(ov.ParseErrors, InputCount{Input: get(r, "vigil.input"), Count: num(r.Get("n"))})
		})
		slices.SortStableFunc(ov.ParseErrors, func(a, b InputCount) int { return cmp.Compare(b.Count, a.Count) })
		return err
	})
	var err error
	if ov.Errors, err = p.wait(); err != nil {
		return nil, err
	}
	for name := range trunc {
		ov.Truncated = append(ov.Truncated, name)
	}
	slices.Sort(ov.Truncated)
	ov.CachedBlocks, ov.BlockFallback = use.cached, use.fallback
	slices.Sort(ov.BlockFallback)
	return ov, nil
}
