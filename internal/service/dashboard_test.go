package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// countingStore counts the searches that reach the store.
type countingStore struct {
	DashboardStore
	n atomic.Int64
	// hold, when set, keeps every search waiting until it is closed.
	hold atomic.Pointer[chan struct{}]
}

func (c *countingStore) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	c.n.Add(1)
	if h := c.hold.Load(); h != nil {
		<-*h
	}
	return c.DashboardStore.Search(ctx, q, fn)
}

// dashFixture is a store with a mail-service morning: zhangwei's phone with an
// old password failing over ActiveSync, an attacker guessing over OWA,
// a lockout today and one yesterday, an admin cmdlet, proxy requests, a
// parse error and alerts.
type dashFixture struct {
	st    *countingStore
	now   time.Time
	loc   *time.Location // local noon at now
	clock atomic.Pointer[time.Time]
	d     *Dashboards
}

func ev(t time.Time, kv ...string) store.Row {
	r := store.Row{Time: t, Fields: []store.Field{{Name: "vigil.input", Value: "syslog"}, {Name: "_msg", Value: "event"}}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Fields = append(r.Fields, store.Field{Name: kv[i], Value: kv[i+1]})
	}
	return r
}

func newDashFixture(t *testing.T) *dashFixture {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	vs, err := vlstore.Open(vlstore.Config{Path: t.TempDir(), Retention: 30 * 24 * time.Hour,
		StreamFields: []string{"vigil.input"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	// A zone where now is 12:00, so "today" holds the last 12 hours.
	sod := now.UTC().Sub(now.UTC().Truncate(24 * time.Hour))
	loc := time.FixedZone("noon", int((12*time.Hour-sod)/time.Second))

	auth := func(at time.Time, user, proto, outcome, ip string, more ...string) store.Row {
		kv := []string{"event.category", "authentication", "event.outcome", outcome, "network.protocol", proto,
			"source.ip", ip, "user.name", user, "event.dataset", "nginx.access", "host.hostname", "proxy1"}
		return ev(at, append(kv, more...)...)
	}
	var rows []store.Row
	for i := range 30 { // the phone, every 10 minutes for 5 hours
		at := now.Add(-time.Duration(i*10+5) * time.Minute)
		rows = append(rows, auth(at, "zhangwei", "activesync", "failure", "203.0.113.7",
			"device.id", "PHONE1", "device.type", "iPhone", "event.reason", "HTTP 401 from the activesync endpoint"))
	}
	for i := range 12 { // the attacker, a burst over OWA from two addresses
		ip := "198.51.100." + strconv.Itoa(1+i%2)
		rows = append(rows, auth(now.Add(-2*time.Hour+time.Duration(i)*time.Second), "zhangwei", "owa", "failure", ip))
		rows = append(rows, auth(now.Add(-2*time.Hour+time.Duration(i)*time.Second), "lili", "owa", "failure", ip))
	}
	for i := range 8 { // zhangwei's laptop works
		rows = append(rows, auth(now.Add(-time.Duration(i+1)*time.Hour), "zhangwei", "owa", "success", "192.0.2.10"))
	}
	rows = append(rows,
		auth(now.Add(-3*time.Hour), "zhangwei", "activesync", "success", "192.0.2.10", "device.id", "TABLET9", "device.type", "iPad"),
		ev(now.Add(-90*time.Minute), "event.category", "iam", "event.action", "account-locked", "user.name", "zhangwei",
			"event.dataset", "windows.security", "host.name", "dc1", "host.hostname", "dc1"),
		ev(now.Add(-20*time.Hour), "event.category", "iam", "event.action", "account-locked", "user.name", "olduser",
			"event.dataset", "windows.security", "host.hostname", "dc1"),
		ev(now.Add(-4*time.Hour), "event.dataset", "windows.security", "event.category", "authentication", "event.outcome", "success",
			"user.name", "zhangwei", "network.protocol", "kerberos", "source.ip", "10.1.1.5", "host.hostname", "dc1"),
		ev(now.Add(-30*time.Minute), "event.dataset", "exchange.admin_audit", "exchange.cmdlet", "New-MailboxExportRequest",
			"user.name", "admin1", "host.hostname", "ex1"),
		ev(now.Add(-10*time.Minute), "vigil.parse_error", "iis: too few columns", "host.hostname", "ex1"),
	)
	if err := vs.Add(rows); err != nil {
		t.Fatal(err)
	}
	// Alerts, as the alert store writer adds them.
	addAlerts(t, vs,
		ev(now.Add(-89*time.Minute), "event.kind", "alert", "event.dataset", "vigil.alert", "alert.id", "a1",
			"rule.id", "account-locked-out", "rule.name", "Account locked out", "level", "medium", "user.name", "zhangwei"),
		ev(now.Add(-15*time.Minute), "event.kind", "alert", "event.dataset", "vigil.alert", "alert.id", "a2",
			"rule.id", "log-source-silent", "rule.name", "A log source fell silent", "level", "high"),
	)
	vs.Flush()
	f := &dashFixture{now: now, loc: loc, st: &countingStore{DashboardStore: search.New(vs, search.Limits{MaxConcurrent: 4, QueueWait: time.Minute}, nil)}}
	f.clock.Store(&now)
	f.d = NewDashboards(f.st, DashboardOptions{
		Registered: func(user, id string) bool { return user == "zhangwei" && id == "PHONE1" },
		Country: func(ip netip.Addr) string {
			return map[string]string{"203.0.113.7": "CN", "198.51.100.1": "RU", "198.51.100.2": "RU", "192.0.2.10": "CN"}[ip.String()]
		},
		Health: func() PipelineHealth { return PipelineHealth{IndexLag: 7} },
		Now:    func() time.Time { return *f.clock.Load() },
	})
	return f
}

// addAlerts stores alert rows where the store keeps alerts: apart from
// the events when it has a side for them (AddAlerts), else among them.
func addAlerts(t *testing.T, st store.Store, rows ...store.Row) {
	t.Helper()
	add := st.Add
	if a, ok := st.(interface{ AddAlerts([]store.Row) error }); ok {
		add = a.AddAlerts
	}
	if err := add(rows); err != nil {
		t.Fatal(err)
	}
}

func TestEntityUser(t *testing.T) {
	f := newDashFixture(t)
	e, err := f.d.Entity(context.Background(), viewer, EntityQuery{Kind: EntityKindUser, Value: "ZhangWei", Start: f.now.Add(-24 * time.Hour), End: f.now.Add(time.Second), Loc: f.loc})
	if err != nil {
		t.Fatal(err)
	}
	if e.Value != "zhangwei" || len(e.Errors) != 0 {
		t.Fatalf("value %q, errors %v", e.Value, e.Errors)
	}
	totals := map[string][2]int64{}
	for _, s := range e.Timeline.Series {
		totals[s.Protocol] = [2]int64{s.TotalSuccess, s.TotalFailure}
		var sum int64
		for i := range s.Failure {
			sum += s.Failure[i]
		}
		if sum != s.TotalFailure {
			t.Errorf("%s: buckets sum to %d failures, total %d", s.Protocol, sum, s.TotalFailure)
		}
	}
	want := map[string][2]int64{"activesync": {1, 30}, "owa": {8, 12}, "windows": {1, 0}}
	for p, w := range want {
		if totals[p] != w {
			t.Errorf("timeline %s = %v, want %v (all %v)", p, totals[p], w, totals)
		}
	}
	if len(e.Timeline.Series) != 3 {
		t.Errorf("series %v, want activesync, owa, windows", e.Timeline.Series)
	}
	if len(e.Lockouts) != 1 || e.Lockouts[0].Host != "dc1" {
		t.Errorf("lockouts %+v", e.Lockouts)
	}
	if len(e.Failures) == 0 || e.Failures[0].DeviceID != "PHONE1" || e.Failures[0].Count != 30 || !e.Failures[0].Registered ||
		e.Failures[0].Protocol != "activesync" || e.Failures[0].Country != "CN" {
		t.Errorf("first failure group %+v, want the registered phone with 30", e.Failures)
	}
	if e.Hint != "" {
		t.Errorf("hint %q: the phone and the guessing are both there", e.Hint)
	}
	devs := map[string]bool{}
	for _, d := range e.Devices {
		devs[d.ID] = d.Registered
	}
	if len(devs) != 2 || !devs["PHONE1"] || devs["TABLET9"] {
		t.Errorf("devices %+v", e.Devices)
	}
	if len(e.Addresses) != 5 || e.Addresses[0].IP != "203.0.113.7" || e.Addresses[0].Failures != 30 {
		t.Errorf("addresses %+v", e.Addresses)
	}
	if len(e.Countries) != 3 || e.Countries[0].Country != "CN" || e.Countries[0].Addresses != 2 {
		t.Errorf("countries %+v", e.Countries)
	}
	if len(e.Alerts) != 1 || e.Alerts[0].ID != "a1" {
		t.Errorf("alerts %+v", e.Alerts)
	}
	if len(e.Recent) != entityRecent {
		t.Errorf("%d recent events, want %d", len(e.Recent), entityRecent)
	}
	for _, r := range e.Recent {
		if r.Dataset == "vigil.alert" {
			t.Errorf("an alert among the events: %+v", r)
		}
	}
	if !slices.IsSortedFunc(e.Recent, func(a, b EventSummary) int { return b.Time.Compare(a.Time) }) {
		t.Error("recent events are not newest first")
	}
}

func TestEntityIPAndDevice(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	e, err := f.d.Entity(ctx, viewer, EntityQuery{Kind: EntityKindIP, Value: "198.51.100.1", End: f.now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Country != "RU" || len(e.Users) != 2 || e.Users[0].Failures != 6 || e.Addresses != nil {
		t.Errorf("ip page: country %q users %+v addresses %v", e.Country, e.Users, e.Addresses)
	}
	e, err = f.d.Entity(ctx, viewer, EntityQuery{Kind: EntityKindDevice, Value: "PHONE1", End: f.now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Users) != 1 || e.Users[0].Name != "zhangwei" || len(e.Addresses) != 1 || e.Devices != nil {
		t.Errorf("device page: users %+v addresses %+v", e.Users, e.Addresses)
	}
	if e.Hint != HintStaleDevice || e.HintDevice != "PHONE1" {
		t.Errorf("device page: hint %q %q, want the stale phone", e.Hint, e.HintDevice)
	}
}

func TestEntityRefused(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		a    Actor
		q    EntityQuery
		want func(error) bool
	}{
		{"no role", Actor{Name: "x"}, EntityQuery{Kind: EntityKindUser, Value: "a"}, func(err error) bool { return errors.Is(err, ErrForbidden) }},
		{"bad kind", viewer, EntityQuery{Kind: "host", Value: "a"}, IsInvalid},
		{"bad ip", viewer, EntityQuery{Kind: EntityKindIP, Value: "1.2.3"}, IsInvalid},
		{"empty", viewer, EntityQuery{Kind: EntityKindUser, Value: " "}, IsInvalid},
		{"control", viewer, EntityQuery{Kind: EntityKindDevice, Value: "a\nb"}, IsInvalid},
		{"range", viewer, EntityQuery{Kind: EntityKindUser, Value: "a", Start: f.now, End: f.now.Add(-time.Hour)}, IsInvalid},
	} {
		if _, err := f.d.Entity(ctx, tc.a, tc.q); !tc.want(err) {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
	// A quote in a value stays inside the query's string.
	e, err := f.d.Entity(ctx, viewer, EntityQuery{Kind: EntityKindUser, Value: `x" or user.name:*`})
	if err != nil || len(e.Recent) != 0 {
		t.Errorf("injected value: %d events, err %v", len(e.Recent), err)
	}
}

func TestOverview(t *testing.T) {
	f := newDashFixture(t)
	ov, err := f.d.Overview(context.Background(), viewer, OverviewQuery{Range: 24 * time.Hour, Loc: f.loc})
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Errors) != 0 {
		t.Fatalf("errors %v", ov.Errors)
	}
	if len(ov.TopSources) != 3 || ov.TopSources[0].IP != "203.0.113.7" || ov.TopSources[0].Failures != 30 ||
		ov.TopSources[1].Users != 2 || ov.TopSources[1].Country != "RU" {
		t.Errorf("top sources %+v", ov.TopSources)
	}
	if len(ov.TopAccounts) != 2 || ov.TopAccounts[0].User != "zhangwei" || ov.TopAccounts[0].Failures != 42 || ov.TopAccounts[0].Sources != 3 {
		t.Errorf("top accounts %+v", ov.TopAccounts)
	}
	if len(ov.Countries) != 2 || ov.Countries[0].Country != "CN" || ov.Countries[0].Events != 9 || ov.Countries[1].Country != "" {
		t.Errorf("countries %+v, want CN and unknown (the Windows logon's private address)", ov.Countries)
	}
	if len(ov.Lockouts.Users) != 1 || ov.Lockouts.Users[0].User != "zhangwei" {
		t.Errorf("lockouts today %+v: want zhangwei only (olduser's was yesterday in the reader's zone)", ov.Lockouts)
	}
	if want := f.now.Add(-12 * time.Hour).UTC(); !ov.Lockouts.Since.Equal(want) {
		t.Errorf("today starts %s, want %s", ov.Lockouts.Since, want)
	}
	if ov.UnregisteredTotal != 1 || ov.Unregistered[0].ID != "TABLET9" {
		t.Errorf("unregistered %+v", ov.Unregistered)
	}
	if len(ov.AdminActions) != 1 || ov.AdminActions[0].Cmdlet != "New-MailboxExportRequest" {
		t.Errorf("admin actions %+v", ov.AdminActions)
	}
	if len(ov.ProxyRate.Series) != 1 || ov.ProxyRate.Series[0].Name != "nginx.access" || ov.ProxyRate.Series[0].Total != 30+24+8+1 {
		t.Errorf("proxy rate %+v", ov.ProxyRate.Series)
	}
	if len(ov.Silent) != 1 || ov.Silent[0].ID != "a2" {
		t.Errorf("silent %+v", ov.Silent)
	}
	if len(ov.ParseErrors) != 1 || ov.ParseErrors[0].Count != 1 {
		t.Errorf("parse errors %+v", ov.ParseErrors)
	}
	if len(ov.Ingest) == 0 {
		t.Error("no ingest rates")
	}
	if ov.Health == nil || ov.Health.IndexLag != 7 {
		t.Errorf("health %+v", ov.Health)
	}
	// Day buckets start at the reader's midnight.
	ov, err = f.d.Overview(context.Background(), viewer, OverviewQuery{Range: 30 * 24 * time.Hour, Loc: f.loc})
	if err != nil {
		t.Fatal(err)
	}
	if b := ov.Timeline.Buckets[len(ov.Timeline.Buckets)-1].In(f.loc); b.Hour() != 0 || b.Minute() != 0 || ov.Timeline.StepSec != 86400 {
		t.Errorf("last day bucket starts %s (step %ds)", b, ov.Timeline.StepSec)
	}
}

func TestOverviewCache(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	q := OverviewQuery{Range: 6 * time.Hour, Loc: f.loc}
	var wg sync.WaitGroup
	gen := make([]time.Time, 10)
	for i := range 10 {
		wg.Go(func() {
			ov, err := f.d.Overview(ctx, viewer, q)
			if err != nil {
				t.Error(err)
				return
			}
			gen[i] = ov.Generated
		})
	}
	wg.Wait()
	one := f.st.n.Load()
	if one == 0 || one > 12 {
		t.Fatalf("10 dashboards ran %d searches, want one set", one)
	}
	later := f.now.Add(29 * time.Second)
	f.clock.Store(&later)
	if _, err := f.d.Overview(ctx, viewer, q); err != nil {
		t.Fatal(err)
	}
	if n := f.st.n.Load(); n != one {
		t.Errorf("within the TTL: %d searches, want %d", n, one)
	}
	later = f.now.Add(31 * time.Second)
	f.clock.Store(&later)
	ov, err := f.d.Overview(ctx, viewer, q)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.st.n.Load(); n != 2*one || !ov.Generated.Equal(later.UTC()) {
		t.Errorf("after the TTL: %d searches (want %d), generated %s", n, 2*one, ov.Generated)
	}
	// After the TTL, one caller computes the next overview; the others
	// get the previous one meanwhile instead of waiting.
	stale := ov.Generated
	later = f.now.Add(62 * time.Second)
	f.clock.Store(&later)
	hold := make(chan struct{})
	f.st.hold.Store(&hold)
	n := f.st.n.Load()
	fresh := make(chan *Overview, 1)
	go func() {
		ov, err := f.d.Overview(ctx, viewer, q)
		if err != nil {
			t.Error(err)
		}
		fresh <- ov
	}()
	for deadline := time.Now().Add(10 * time.Second); f.st.n.Load() == n; {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not start")
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan *Overview, 1)
	go func() {
		ov, _ := f.d.Overview(ctx, viewer, q)
		got <- ov
	}()
	select {
	case ov := <-got:
		if ov == nil || !ov.Generated.Equal(stale) {
			t.Errorf("during the refresh: %+v, want the previous overview of %s", ov, stale)
		}
	case <-time.After(10 * time.Second):
		t.Error("a caller waited for the refresh although a previous overview was there")
	}
	close(hold)
	f.st.hold.Store(nil)
	if ov := <-fresh; ov == nil || !ov.Generated.Equal(later.UTC()) {
		t.Errorf("the refresh gave %+v, want an overview of %s", ov, later)
	}
	if _, err := f.d.Overview(ctx, Actor{Name: "x"}, q); !errors.Is(err, ErrForbidden) {
		t.Errorf("no role: %v", err)
	}
	if _, err := f.d.Overview(ctx, viewer, OverviewQuery{Range: time.Second}); !IsInvalid(err) {
		t.Errorf("range 1s: %v", err)
	}
}

func TestHint(t *testing.T) {
	phone := FailureGroup{DeviceID: "P", Registered: true, SourceIP: "1.1.1.1", Count: 40}
	for _, tc := range []struct {
		name   string
		groups []FailureGroup
		want   string
	}{
		{"none", nil, ""},
		{"phone", []FailureGroup{phone, {SourceIP: "2.2.2.2", Count: 5}}, HintStaleDevice},
		{"unregistered phone", []FailureGroup{{DeviceID: "P", SourceIP: "1.1.1.1", Count: 40}}, ""},
		{"guessing", []FailureGroup{{SourceIP: "1.0.0.1", Count: 9}, {SourceIP: "1.0.0.2", Count: 9}, {SourceIP: "1.0.0.3", Count: 9},
			{SourceIP: "1.0.0.4", Count: 9}, {SourceIP: "1.0.0.5", Count: 9}, phone}, HintManySources},
		{"mixed", []FailureGroup{phone, {SourceIP: "1.0.0.2", Count: 30}}, ""},
	} {
		if got, _ := hint(tc.groups); got != tc.want {
			t.Errorf("%s: hint %q, want %q", tc.name, got, tc.want)
		}
	}
}

// gateStore tracks how many searches run at once and fails the queries
// that contain failOn with a refusal of the search limits.
type gateStore struct {
	DashboardStore
	failOn        string
	mu            sync.Mutex
	running, peak int
}

func (g *gateStore) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	g.mu.Lock()
	g.running++
	g.peak = max(g.peak, g.running)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		g.mu.Unlock()
	}()
	time.Sleep(5 * time.Millisecond) // let the others start if they may
	if g.failOn != "" && strings.Contains(q.Text, g.failOn) {
		return fmt.Errorf("too many searches: %w", &search.LimitError{Reason: search.ReasonBusy})
	}
	return g.DashboardStore.Search(ctx, q, fn)
}

// TestOverviewLimits: the overview runs at most MaxParallel queries at
// once, and a panel refused by the search limits is named while the
// others still answer; when every panel fails, the overview fails.
func TestOverviewLimits(t *testing.T) {
	f := newDashFixture(t)
	g := &gateStore{DashboardStore: f.st, failOn: "count_uniq(user.name)"}
	d := NewDashboards(g, DashboardOptions{Now: f.d.opts.Now})
	ov, err := d.Overview(context.Background(), viewer, OverviewQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if g.peak != 2 {
		t.Errorf("%d queries ran at once, want 2", g.peak)
	}
	if len(ov.Errors) != 1 || ov.Errors["top_sources"] == "" || len(ov.TopAccounts) != 2 {
		t.Errorf("errors %v, top accounts %v: want only top_sources failed", ov.Errors, ov.TopAccounts)
	}
	g.failOn = " " // every query
	d = NewDashboards(g, DashboardOptions{Now: f.d.opts.Now, MaxParallel: 3})
	var le *search.LimitError
	if _, err := d.Overview(context.Background(), viewer, OverviewQuery{}); !errors.As(err, &le) {
		t.Errorf("every panel refused: err %v, want the limit's", err)
	}
	if g.peak != 3 {
		t.Errorf("MaxParallel 3: %d at once", g.peak)
	}
	// The refused overview was not cached.
	g.failOn = ""
	if ov, err := d.Overview(context.Background(), viewer, OverviewQuery{}); err != nil || len(ov.Errors) != 0 {
		t.Errorf("after the refusal: %v %v", err, ov.Errors)
	}
}
