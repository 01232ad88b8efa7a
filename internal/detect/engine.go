// Package detect is Vigil's detection engine: rules written as YAML data
// (docs/rules.md) run over normalized events in event time and raise
// alerts.
//
// The engine is single-threaded by design: one goroutine (the pipeline's
// detector, or `vigil rules test`) feeds it events in journal order, so its
// state needs no locks and a replay gives the same alerts as the live run.
// Its whole state (windows, learned values, suppression) is written by
// Snapshot and read back by Restore, together with the journal position.
package detect

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/timefmt"
)

// Event is one normalized event as the engine sees it.
type Event struct {
	// Seq is the event's journal sequence number (its identity).
	Seq uint64
	// Time is the event time.
	Time   time.Time
	Fields []store.Field
	// Raw is the original record (for payloads; may be nil). The engine
	// copies what it keeps.
	Raw []byte

	// look remembers field lookups while the engine evaluates the event.
	look *lookups
}

// Get returns the named field's value, or "".
func (e *Event) Get(name string) string {
	if i := e.index(name); i >= 0 {
		return e.Fields[i].Value
	}
	return ""
}

// index returns the position of the named field in Fields, or -1.
func (e *Event) index(name string) int {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Lists is what rules ask of the black/white lists and the ActiveSync
// device registry (package lists; see ListsOf).
type Lists interface {
	// Contains reports whether value is on the named list (CIDR-aware for
	// IP lists).
	Contains(list, value string) bool
	// HasList reports whether a list of that name is loaded.
	HasList(name string) bool
	// Registered reports whether the user's device is in the registry.
	Registered(user, deviceID string) bool
	// Allowed and Blocked return the allow (block) list that covers an
	// event's source address, user or device for the rule.
	Allowed(rule, ip, user, deviceID string) (list string, ok bool)
	Blocked(rule, ip, user, deviceID string) (list string, ok bool)
}

// PayloadFunc returns the original text of the events with the given
// journal sequence numbers (for an alert's payloads), by sequence number;
// events it cannot find are left out.
type PayloadFunc func(seqs []uint64) map[uint64]string

// Options configure an Engine.
type Options struct {
	// Lateness is how far behind the newest event time of its sender an
	// event may arrive and still count; older events are counted as late
	// and skipped. Default one minute.
	Lateness time.Duration
	// MaxClockSkew is how far ahead of its receive time (vigil.received)
	// an event's time may be before its sender's clock counts as running
	// ahead (watermark.go); it must be the parser's MaxClockSkew. Default
	// parse.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// MaxSources bounds the senders whose progress is tracked (default
	// DefaultMaxSources).
	MaxSources int
	// Tick is the event-time interval between checks of timers (absence,
	// the end of suppression periods). Default ten seconds.
	Tick time.Duration
	// Lists are the black/white lists and the device registry (may be nil).
	Lists Lists
	// Geo answers country(), region(), city(), isp() and travel rules
	// (may be nil).
	Geo *geoip.DB
	// Payloads fetches the original text of contributing events whose text
	// was not captured on arrival (after a restart, or beyond
	// PayloadMemory); may be nil.
	Payloads PayloadFunc
	// PayloadMemory bounds the memory of contributing events' texts held
	// for alerts (default 64 MiB); beyond it only their journal sequence
	// numbers are kept and Payloads fetches the text when an alert fires.
	PayloadMemory int64
	// Language is the language of alert texts (display.language, one of
	// locale.Languages): each rule's title and message in its translation
	// into it; a rule without one keeps its own texts (English), and so
	// do the engine's words around them (a follow-up's, a default
	// message). "" or an unknown language: English.
	Language string
	// Location is the zone of the times in alert messages (the local
	// template function; display.timezone); nil is UTC.
	Location *time.Location
	// Emit receives every alert, on the engine's goroutine.
	Emit func(*alert.Alert)
	// Registerer for metrics (may be nil).
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Engine runs a set of rules over events.
type Engine struct {
	opts  Options
	env   *env
	rules []*compiled
	disp  *dispatch // the rules by what their match needs
	// newest is the engine's clock: the highest placed event time (ns,
	// watermark.go); tick the watermark of the last timer check.
	newest, tick int64
	srcs         *sources // each sender's progress
	keyBuf       []byte
	seed         maphash.Seed // of condition results' keys
	look         lookups
	budget       *payloadBudget
	m            *metrics
	vm           vm.VM  // reused for every expression run
	memo         []int8 // per event: the result of each condition (by cond.id)
	// stats holds each rule's counters by id (stats.go).
	stats atomic.Pointer[map[string]*ruleStats]
}

// Condition results in Engine.memo.
const (
	condUnknown int8 = iota
	condTrue
	condFalse
)

type metrics struct {
	events, late       prometheus.Counter
	alerts, evicted    *prometheus.CounterVec
	allowed, evalErrs  *prometheus.CounterVec
	groups             *prometheus.GaugeVec
	lastEvent, lastRun prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_events_total",
			Help: "Events evaluated by the detection engine."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_late_events_total",
			Help: "Events older than the newest event time of their sender minus the allowed lateness, skipped by detection."}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_detect_alerts_total",
			Help: "Alerts raised, by rule."}, []string{"rule"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_detect_evicted_groups_total",
			Help: "Tracked groups evicted because a rule reached max_groups, by rule."}, []string{"rule"}),
		allowed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_detect_allowlisted_total",
			Help: "Matching events a rule ignored because an allow list covers them, by rule."}, []string{"rule"}),
		evalErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_detect_eval_errors_total",
			Help: "Rule expressions that failed at run time (the event counts as not matching), by rule."}, []string{"rule"}),
		groups: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_detect_groups",
			Help: "Groups a rule currently tracks."}, []string{"rule"}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_event_time_seconds",
			Help: "The detection engine's clock: the newest event time it has seen, events ahead of their receive time placed near it (Unix seconds)."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_rules",
			Help: "Rules loaded and enabled."}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.late, m.alerts, m.evicted, m.allowed, m.evalErrs, m.groups, m.lastEvent, m.lastRun)
	}
	return m
}

// New returns an engine running rules. Rules that fail to compile are
// returned as errors and left out.
func New(rules []*Rule, opts Options) (*Engine, []error) {
	if opts.Lateness <= 0 {
		opts.Lateness = time.Minute
	}
	if opts.Tick <= 0 {
		opts.Tick = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Emit == nil {
		opts.Emit = func(*alert.Alert) {}
	}
	if opts.PayloadMemory <= 0 {
		opts.PayloadMemory = 64 << 20
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = parse.DefaultMaxClockSkew
	}
	if opts.MaxSources <= 0 {
		opts.MaxSources = DefaultMaxSources
	}
	e := &Engine{opts: opts, env: newEnv(opts.Lists, opts.Geo), m: newMetrics(opts.Registerer),
		budget: &payloadBudget{limit: opts.PayloadMemory}, seed: maphash.MakeSeed(),
		srcs: newSources(opts.MaxSources, opts.Registerer)}
	e.env.loc = opts.Location
	errs := e.SetRules(rules)
	return e, errs
}

// Compile checks that a rule's expressions and templates compile, as
// `vigil rules lint` does (ParseRules has parsed its translations'
// templates).
func Compile(r *Rule) error {
	_, err := newEnv(nil, nil).compileRule(r, "", nil)
	return err
}

// SetRules replaces the running rules. A rule whose definition is
// unchanged keeps its state; a new or changed rule starts empty. Rules that
// fail to compile are reported and left out (for a reload: the caller keeps
// the previous version by passing it again).
func (e *Engine) SetRules(rules []*Rule) []error {
	old := map[string]*compiled{}
	for _, c := range e.rules {
		old[c.ID] = c
	}
	var errs []error
	var out []*compiled
	e.env.conds, e.env.ncond, e.env.caches = nil, 0, nil // compiled afresh below; shared again where texts match
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		c, err := e.env.compileRule(r, e.opts.Language, e.m)
		if err != nil {
			errs = append(errs, &RuleError{File: r.File, ID: r.ID, Err: err})
			continue
		}
		if o, ok := old[r.ID]; ok && o.hash == r.hash {
			c.groups, c.start = o.groups, o.start
			c.groups.rule = c
			delete(old, r.ID)
		}
		c.groups.budget = e.budget
		c.st = e.statsFor(r.ID)
		out = append(out, c)
	}
	for id, o := range old {
		o.groups.each(func(g *group) { g.release(e.budget) })
		if !containsRule(out, id) {
			e.m.groups.DeleteLabelValues(id)
		}
	}
	e.rules = out
	e.disp = newDispatch(&e.env.names, out)
	e.m.lastRun.Set(float64(len(out)))
	return errs
}

func containsRule(rs []*compiled, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Rules returns the running rules.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.Rule
	}
	return out
}

// compiled is a rule ready to run.
type compiled struct {
	*Rule
	match []matcher
	// indexed: the engine's dispatch answers match (every field of it is
	// indexed), so processRule does not check it again.
	indexed bool
	when    *cond
	group   []keyPart
	value   keyPart
	near    *vm.Program // new_value's near condition (nil: none)
	// nearFn runs near in the engine the rule belongs to (made once).
	nearFn func(v string, known []string) bool
	steps  []compiledStep
	// text is the rule with its title, description and message in the
	// engine's language (Rule itself when it has no translation into it):
	// the alert's rule.name and what message templates see as .Rule.
	// lang is the language of those texts ("en" for the rule's own) and
	// words the engine's words in it.
	text   *Rule
	lang   string
	words  words
	msg    *template.Template
	notify []*template.Template
	groups *groupTable
	// start is the event time of the first event the rule saw (learning).
	start int64
	// What the rule needs to run (Requires, and a GeoIP database for
	// travel): geo, and the lists by name.
	geo   bool
	lists []string

	alerts, evicted, allowed, evalErrs prometheus.Counter
	ngroups                            prometheus.Gauge
	st                                 *ruleStats
}

type compiledStep struct {
	match []matcher
	when  *cond
	count int
}

type matcher struct {
	field  ref
	values []string
}

// keyPart is one group_by entry: a field read directly, the first
// non-empty of some fields, or an expression.
type keyPart struct {
	name   string
	field  ref
	fields []ref // first(a, b, ...) of plain fields, without the VM
	prog   *vm.Program
}

// firstOf matches first(field, field, ...).
var firstOf = regexp.MustCompile(`^first\(\s*([A-Za-z0-9_.-]+(?:\s*,\s*[A-Za-z0-9_.-]+)*)\s*\)$`)

var plainField = func() func(string) bool {
	return func(s string) bool {
		if s == "" {
			return false
		}
		for _, c := range s {
			if !(c == '.' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
		return true
	}
}()

// compileRule compiles r with its texts in lang.
func (e *env) compileRule(r *Rule, lang string, m *metrics) (*compiled, error) {
	c := &compiled{Rule: r, text: r, lang: "en", geo: r.Type == TypeTravel}
	if t, ok := r.Translations[lang]; ok {
		tr := *r
		tr.Title, tr.Description, tr.Message = t.Title, t.Description, t.Message
		c.text, c.lang = &tr, lang
	}
	c.words = wordsIn(c.lang)
	for _, req := range r.Requires {
		if name, ok := strings.CutPrefix(req, "list:"); ok {
			c.lists = append(c.lists, name)
		} else if req == "geoip" {
			c.geo = true
		}
	}
	var err error
	c.match = e.compileMatch(r.Match)
	if r.When != "" {
		if c.when, err = e.condition(r.When); err != nil {
			return nil, fmt.Errorf("when: %w", err)
		}
	}
	for _, g := range r.GroupBy {
		k, err := e.keyPart(g)
		if err != nil {
			return nil, fmt.Errorf("group_by %q: %w", g, err)
		}
		c.group = append(c.group, k)
	}
	if r.Field != "" {
		if c.value, err = e.keyPart(r.Field); err != nil {
			return nil, fmt.Errorf("field %q: %w", r.Field, err)
		}
	}
	if r.Near != "" {
		if c.near, err = e.compile(nearPrelude+r.Near, true); err != nil {
			return nil, fmt.Errorf("near: %w", err)
		}
	}
	for _, s := range r.Steps {
		cs := compiledStep{match: e.compileMatch(s.Match), count: s.Count}
		if s.When != "" {
			if cs.when, err = e.condition(s.When); err != nil {
				return nil, fmt.Errorf("step %s: when: %w", s.Name, err)
			}
		}
		c.steps = append(c.steps, cs)
	}
	if len(c.steps) > 32 {
		return nil, fmt.Errorf("a sequence has at most 32 steps")
	}
	msg := c.text.Message
	if msg == "" {
		msg = c.words.defaultMessage
	}
	funcs := template.FuncMap{"local": localFunc(e.loc)}
	if c.msg, err = template.New(r.ID).Funcs(templateFuncs).Funcs(funcs).Option("missingkey=zero").Parse(msg); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	for _, n := range r.Notify {
		t, err := template.New(r.ID).Funcs(templateFuncs).Funcs(funcs).Parse(n)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		c.notify = append(c.notify, t)
	}
	if (r.Type == TypeTravel) && len(c.group) == 0 {
		return nil, fmt.Errorf("group_by is required")
	}
	c.groups = newGroupTable(c)
	if m != nil {
		c.alerts = m.alerts.WithLabelValues(r.ID)
		c.evicted = m.evicted.WithLabelValues(r.ID)
		c.allowed = m.allowed.WithLabelValues(r.ID)
		c.evalErrs = m.evalErrs.WithLabelValues(r.ID)
		c.ngroups = m.groups.WithLabelValues(r.ID)
	} else {
		c.alerts, c.evicted, c.allowed, c.evalErrs = nopCounter{}, nopCounter{}, nopCounter{}, nopCounter{}
		c.ngroups = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"})
	}
	return c, nil
}

type nopCounter struct{ prometheus.Counter }

func (nopCounter) Inc()        {}
func (nopCounter) Add(float64) {}

func (e *env) compileMatch(m map[string]StringList) []matcher {
	var out []matcher
	for f, vs := range m {
		out = append(out, matcher{field: e.names.ref(f), values: vs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].field.name < out[j].field.name })
	return out
}

// keyPart compiles a group_by or field entry: a field name, an
// expression, or "name=expression" to give an expression a short name.
func (e *env) keyPart(s string) (keyPart, error) {
	if plainField(s) {
		return keyPart{name: s, field: e.names.ref(s)}, nil
	}
	name, src := s, s
	if n, rest, ok := strings.Cut(s, "="); ok && plainField(strings.TrimSpace(n)) && !strings.HasPrefix(rest, "=") {
		name, src = strings.TrimSpace(n), strings.TrimSpace(rest)
	}
	if plainField(src) {
		return keyPart{name: name, field: e.names.ref(src)}, nil
	}
	if m := firstOf.FindStringSubmatch(src); m != nil {
		k := keyPart{name: name}
		for _, f := range strings.Split(m[1], ",") {
			k.fields = append(k.fields, e.names.ref(strings.TrimSpace(f)))
		}
		return k, nil
	}
	p, err := expr.Compile(src, e.options(src, nil)...)
	if err != nil {
		return keyPart{}, err
	}
	return keyPart{name: name, prog: p}, nil
}

// Process evaluates one event. Events must come in journal order; event
// times may be out of order within Options.Lateness of their sender's.
func (e *Engine) Process(ev *Event) {
	e.m.events.Inc()
	e.look.next(len(e.env.names.names))
	e.env.placed = false // the databases may have been reloaded since
	ev.look = &e.look
	defer func() { ev.look = nil }()
	t, late := e.place(ev, ev.Time.UnixNano())
	if late {
		e.m.late.Inc()
		return
	}
	// now is the event's time on the engine's clock: never more than the
	// lateness behind it (see watermark.go).
	now := max(t, e.newest-int64(e.opts.Lateness))
	e.env.ev = ev
	if n := e.env.ncond; len(e.memo) != n {
		e.memo = make([]int8, n)
	} else {
		clear(e.memo)
	}
	for _, r := range e.disp.rules(ev) {
		e.processRule(r, ev, t, now)
	}
	e.env.ev = nil
	if wm := e.newest - int64(e.opts.Lateness); wm-e.tick >= int64(e.opts.Tick) {
		e.Advance(time.Unix(0, wm))
	}
}

// Advance moves the engine's timers to now (event time): absence checks
// and the ends of suppression periods. Process calls it as event time
// moves; the live detector also calls it from the wall clock when no
// events arrive at all, so a silent source is still noticed.
func (e *Engine) Advance(now time.Time) {
	wm := now.UnixNano()
	if wm < e.tick {
		return
	}
	e.tick = wm
	for _, r := range e.rules {
		r.timers(e, wm)
		n := r.groups.len()
		r.ngroups.Set(float64(n))
		r.st.groups.Store(int64(n))
	}
}

// eval runs a condition for the current event; a condition shared by
// several rules (the same text) runs once per event.
func (e *Engine) eval(r *compiled, c *cond) bool {
	if c.id < len(e.memo) {
		switch e.memo[c.id] {
		case condTrue:
			return true
		case condFalse:
			return false
		}
	}
	var b, ok bool
	switch c.op {
	case opAnd:
		b, ok = e.eval(r, c.parts[0]) && e.eval(r, c.parts[1]), true
	case opOr:
		b, ok = e.eval(r, c.parts[0]) || e.eval(r, c.parts[1]), true
	case opIf:
		if e.eval(r, c.parts[0]) {
			b, ok = e.eval(r, c.parts[1]), true
		} else {
			b, ok = e.eval(r, c.parts[2]), true
		}
	case opTest:
		b, ok = c.test.eval(e.env.ev), true
	default:
		b, ok = e.run(r, c)
	}
	if ok && c.id < len(e.memo) {
		e.memo[c.id] = condFalse
		if b {
			e.memo[c.id] = condTrue
		}
	}
	return b
}

// run answers a program condition, from its cache when it has one; ok is
// false when the program failed (counted; the condition is false).
func (e *Engine) run(r *compiled, c *cond) (b, ok bool) {
	var key uint64
	if c.cache {
		// A 64-bit hash of the values: each value hashed on its own (so
		// no two value tuples hash the same input), mixed in by position.
		// A wrong answer would need a collision with one of at most
		// condCacheMax remembered hashes (about 1 in 10^14 per lookup);
		// the seed is random per engine, so a sender cannot aim for one.
		if t := c.results; t.event == e.look.n {
			key = t.key // computed by a condition over the same fields
		} else {
			for _, f := range c.fields {
				key = (bits.RotateLeft64(key, 23) ^ e.env.ev.hash(f, e.seed)) * 0x9e3779b97f4a7c15
			}
			t.event, t.key = e.look.n, key
		}
		if v, ok := c.cached(key); ok {
			return v, true
		}
	}
	out, err := e.vm.Run(c.prog, nil)
	if err != nil {
		r.evalErrs.Inc()
		r.st.evalErrs.Add(1)
		msg := err.Error()
		r.st.lastErr.Store(&msg)
		return false, false
	}
	b, _ = out.(bool)
	if c.cache {
		c.remember(key, b)
	}
	return b, true
}

func matches(ms []matcher, ev *Event) bool {
	for _, m := range ms {
		v := ev.field(m.field)
		ok := false
		for _, want := range m.values {
			if v == want {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (e *Engine) keyValue(r *compiled, k keyPart, ev *Event) string {
	if k.fields != nil {
		for _, f := range k.fields {
			if v := ev.field(f); v != "" {
				return v
			}
		}
		return ""
	}
	if k.prog == nil {
		return ev.field(k.field)
	}
	out, err := e.vm.Run(k.prog, nil)
	if err != nil {
		r.evalErrs.Inc()
		return ""
	}
	switch v := out.(type) {
	case string:
		return v
	case nil:
		return ""
	case int:
		return strconv.Itoa(v)
	}
	return fmt.Sprint(out)
}

// nearPrelude names a near condition's inputs: the new value and the
// group's known values.
const nearPrelude = "let value = " + fnNearValue + "(); let known = " + fnNearKnown + "(); "

// near runs a new_value rule's near condition for the new value v and the
// known values; an error counts and makes it false.
func (e *Engine) near(r *compiled, v string, known []string) bool {
	e.env.nearValue, e.env.nearKnown = v, known
	defer func() { e.env.nearValue, e.env.nearKnown = "", nil }()
	out, err := e.vm.Run(r.near, nil)
	if err != nil {
		r.evalErrs.Inc()
		return false
	}
	b, _ := out.(bool)
	return b
}

// groupKey builds "field=value field=value" into the engine's buffer
// (valid until the next call); ok is false when every part is empty (an
// event without the grouping fields does not form a group).
func (e *Engine) groupKey(r *compiled, ev *Event) ([]byte, bool) {
	b := e.keyBuf[:0]
	if len(r.group) == 0 {
		return b, true
	}
	any := false
	for i, k := range r.group {
		v := e.keyValue(r, k, ev)
		any = any || v != ""
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, k.name...)
		b = append(b, '=')
		if needsQuote(v) {
			b = strconv.AppendQuote(b, v)
		} else {
			b = append(b, v...)
		}
	}
	e.keyBuf = b
	return b, any
}

// needsQuote reports whether a group key value must be quoted: it has a
// space, '=', '"' or '\\' (strings.ContainsAny, without building its set
// on every call).
func needsQuote(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '=', '"', '\\':
			return true
		}
	}
	return false
}

// processRule runs one rule over the event placed at t; now is its time
// on the engine's clock, which suppression periods and absence follow.
func (e *Engine) processRule(r *compiled, ev *Event, t, now int64) {
	if r.geo && e.opts.Geo == nil {
		return // no locations without a GeoIP database
	}
	for _, name := range r.lists {
		if e.opts.Lists == nil || !e.opts.Lists.HasList(name) {
			return
		}
	}
	var stepMask uint32
	if r.Type == TypeSequence {
		if !r.indexed && !matches(r.match, ev) || r.when != nil && !e.eval(r, r.when) {
			return
		}
		for i := range r.steps {
			s := &r.steps[i]
			if matches(s.match, ev) && (s.when == nil || e.eval(r, s.when)) {
				stepMask |= 1 << i
			}
		}
		if stepMask == 0 {
			return
		}
	} else {
		if !r.indexed && !matches(r.match, ev) {
			return
		}
		if r.when != nil && !e.eval(r, r.when) {
			return
		}
	}
	key, ok := e.groupKey(r, ev)
	if !ok {
		return
	}
	if e.opts.Lists != nil {
		ip, user, dev := ev.field(e.env.srcIP), ev.field(e.env.user), ev.field(e.env.device)
		if _, hit := e.opts.Lists.Allowed(r.ID, ip, user, dev); hit {
			r.allowed.Inc()
			return
		}
	}
	if r.Type == TypeSequence && stepMask&1 == 0 {
		// Only a later step: it matters only to a group that has begun
		// the sequence, so it never starts one (successful logins would
		// otherwise track every user and address).
		if _, ok := r.groups.m[string(key)]; !ok {
			return
		}
	}
	if r.Type == TypeAbsence {
		t = now // silence is measured on the engine's clock
	}
	if r.start == 0 {
		r.start = t
	}
	r.st.hits.Add(1)
	g := r.groups.get(key, t)
	// The value a cardinality or new_value rule counts or learns,
	// computed once for capture and observe.
	var val string
	if r.Type == TypeCardinality || r.Type == TypeNewValue {
		val = e.keyValue(r, r.value, ev)
	}
	g.observe(ev.Seq, t, r.Payloads, r.capture(g, ev.Raw, t, val), e.budget)
	if g.Until != 0 && now >= g.Until {
		e.endSuppression(r, g, g.Until)
	}
	// During a suppression period the rule's state moves on (values are
	// learned, baselines and locations follow the traffic) but a hit
	// raises no alert: the event counts towards the follow-up.
	quiet := g.Until != 0 && now < g.Until
	if quiet {
		g.suppressed(ev.Seq, t, ev.Raw, e.budget)
	}
	if h := r.observe(e, g, ev, t, stepMask, val); h != nil && !quiet {
		e.fire(r, g, ev, t, now, h)
	}
}

// capture returns the event's text when the group may need it for an
// alert: counting rules keep the text of only the events that can be
// among the last Payloads before the count is reached (earlier ones keep
// their sequence number), so a flood does not copy every line it sees.
func (r *compiled) capture(g *group, raw []byte, now int64, val string) []byte {
	near := func(n int) bool { return n+1 >= r.Threshold-r.Payloads }
	switch r.Type {
	case TypeAbsence:
		return nil // an absence alert is about what did not arrive
	case TypeThreshold:
		// The count is reached within one window: only the events of
		// this one's window count (a busy group's Times span more).
		if k := r.Threshold - r.Payloads - 1; k > 0 && (len(g.Times) < k || g.Times[len(g.Times)-k] < now-r.window()) {
			return nil
		}
	case TypeCardinality:
		if !near(len(g.Vals)) {
			return nil
		}
	case TypeNewValue:
		// It fires only for a value it does not know: the logins from
		// known places (nearly all of them) keep their sequence numbers.
		if _, known := g.Vals[val]; known || val == "" {
			return nil
		}
	case TypeSpike:
		// It fires once per window, after the learning period, at the
		// threshold or at factor times the baseline, whichever is higher
		// (a busy front end passes the threshold every minute while the
		// rule still learns its baseline).
		if need := max(float64(r.Threshold), r.Factor*g.Base); g.Fired || g.Windows < r.learnWindows() || float64(g.Cur)+1 < need-float64(r.Payloads) {
			return nil
		}
	case TypeSequence:
		// It fires only after the first step's count (eight failures):
		// a group that has seen fewer has no use for texts yet (a phone
		// whose every logon starts with one refused attempt would
		// otherwise copy every line of its user).
		first := 0
		for _, m := range g.Masks {
			first += int(m & 1)
		}
		if first+1 < r.steps[0].count-r.Payloads {
			return nil
		}
	}
	return raw
}

// hit is what a rule type reports when it fires.
type hit struct {
	count  int
	first  int64
	fields map[string]string
}

// observe updates the group's state for the rule type and returns a hit
// when the rule fires.
func (r *compiled) observe(e *Engine, g *group, ev *Event, t int64, mask uint32, val string) *hit {
	var h *hit
	switch r.Type {
	case TypeMatch:
		h = &hit{count: 1, first: t}
	case TypeThreshold:
		h = g.threshold(r, t)
	case TypeCardinality:
		h = g.cardinality(r, val, t)
	case TypeNewValue:
		if r.near != nil && r.nearFn == nil {
			r.nearFn = func(v string, known []string) bool { return e.near(r, v, known) }
		}
		h = g.newValue(r, val, t, r.nearFn)
	case TypeSequence:
		h = g.sequence(r, mask, t)
	case TypeSpike:
		h = g.spike(r, t)
	case TypeAbsence:
		g.absence(t)
	case TypeTravel:
		if e.opts.Geo != nil {
			h = g.travel(r, e.env.place, ev, t)
		}
	}
	return h
}

// timers runs a rule's event-time timers up to the watermark wm. Only
// groups with a suppression period running are visited for those; absence
// rules (few groups: hosts and datasets) visit every group, and new_value
// forgets old values once an hour of event time.
func (r *compiled) timers(e *Engine, wm int64) {
	var due []*group
	for g := range r.groups.timed {
		if wm >= g.Until {
			due = append(due, g)
		}
	}
	// In period-end order, so a replay emits follow-ups in the same order.
	sort.Slice(due, func(i, j int) bool {
		return due[i].Until < due[j].Until || due[i].Until == due[j].Until && due[i].Key < due[j].Key
	})
	for _, g := range due {
		e.endSuppression(r, g, g.Until)
	}
	win, forget := r.window(), int64(time.Duration(r.Forget))
	switch r.Type {
	case TypeAbsence:
		var drop []*group
		r.groups.each(func(g *group) {
			if !g.Alerted && g.N >= int64(r.MinEvents) && wm-g.Last >= win {
				g.Alerted = true
				e.fire(r, g, nil, g.Last+win, g.Last+win, &hit{count: int(g.N), first: g.First, fields: map[string]string{
					"silent_since": time.Unix(0, g.Last).UTC().Format(time.RFC3339),
				}})
			}
			if forget > 0 && wm-g.Last > forget {
				drop = append(drop, g)
			}
		})
		for _, g := range drop {
			r.groups.remove(g)
		}
	case TypeNewValue:
		if forget <= 0 || wm-r.groups.forgotAt < int64(time.Hour) {
			return
		}
		r.groups.forgotAt = wm
		r.groups.each(func(g *group) {
			for v, at := range g.Vals {
				if wm-*at > forget {
					delete(g.Vals, v)
				}
			}
		})
	}
}

// endSuppression closes g's suppression period that ended at end: a
// follow-up alert carries the events counted during it and opens the next
// period; a quiet period simply ends.
func (e *Engine) endSuppression(r *compiled, g *group, end int64) {
	if g.Since == 0 || g.Ctx == nil {
		g.Until, g.Since = 0, 0
		delete(r.groups.timed, g)
		return
	}
	a := *g.Ctx
	a.ID = alert.MakeID(r.ID, g.Key, g.SinceSeq)
	a.FollowUp = true
	a.Count = g.Since
	a.First, a.Last = time.Unix(0, g.SinceFirst).UTC(), time.Unix(0, g.SinceLast).UTC()
	a.TS = time.Unix(0, end).UTC()
	a.Message = fmt.Sprintf(r.words.followUp, g.Ctx.Message, g.Since)
	if len(g.sinceTexts) != len(g.SinceSeqs) {
		g.sinceTexts = make([]string, len(g.SinceSeqs))
	}
	a.Payloads = e.payloads(g.SinceSeqs, g.sinceTexts)
	g.Until = end + r.suppress()
	for _, t := range g.sinceTexts {
		e.budget.give(t)
	}
	g.Since, g.SinceSeq, g.SinceSeqs, g.sinceTexts = 0, 0, nil, nil
	e.emit(r, &a)
}

// payloads returns the texts of contributing events in order: captured
// ones as they are, the others fetched by sequence number.
func (e *Engine) payloads(seqs []uint64, texts []string) []string {
	var missing []uint64
	for i, t := range texts {
		if t == "" {
			missing = append(missing, seqs[i])
		}
	}
	var fetched map[uint64]string
	if len(missing) > 0 && e.opts.Payloads != nil {
		fetched = e.opts.Payloads(missing)
	}
	out := make([]string, 0, len(seqs))
	for i, t := range texts {
		if t == "" {
			t = fetched[seqs[i]]
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (e *Engine) emit(r *compiled, a *alert.Alert) {
	r.alerts.Inc()
	r.st.alerts.Add(1)
	r.st.lastAlert.Store(a.TS.UnixNano())
	e.opts.Emit(a)
}

// fire builds and emits an alert at t; a suppression period starts at now
// (engine clock). ev is the triggering event (nil for timer-driven
// alerts: the group's last context is used).
func (e *Engine) fire(r *compiled, g *group, ev *Event, t, now int64, h *hit) {
	a := &alert.Alert{
		RuleID: r.ID, RuleTitle: r.text.Title, Threat: r.Threat, Level: r.Level, Type: r.Type,
		First: time.Unix(0, h.first).UTC(), Last: time.Unix(0, max(t, g.Last)).UTC(), TS: time.Unix(0, t).UTC(),
		Group: g.Key, Count: h.count, Fields: h.fields,
	}
	if ev != nil {
		a.SrcIP, a.DstIP = ev.Get("source.ip"), ev.Get("destination.ip")
		a.SrcPort, _ = strconv.Atoi(ev.Get("source.port"))
		a.DstPort, _ = strconv.Atoi(ev.Get("destination.port"))
		a.User, a.DeviceID = ev.Get("user.name"), ev.Get("device.id")
		a.SrcIP, a.DstIP, a.User, a.DeviceID = strings.Clone(a.SrcIP), strings.Clone(a.DstIP), strings.Clone(a.User), strings.Clone(a.DeviceID)
		if e.opts.Lists != nil {
			if name, hit := e.opts.Lists.Blocked(r.ID, a.SrcIP, a.User, a.DeviceID); hit {
				a.Level = alert.Raise(a.Level)
				if a.Fields == nil {
					a.Fields = map[string]string{}
				}
				a.Fields["blocklist"] = name
			}
		}
	} else if g.Ctx != nil {
		a.SrcIP, a.SrcPort, a.DstIP, a.DstPort, a.User, a.DeviceID = g.Ctx.SrcIP, g.Ctx.SrcPort, g.Ctx.DstIP, g.Ctx.DstPort, g.Ctx.User, g.Ctx.DeviceID
	}
	// Group fields fill what the event lacks (absence alerts have no event).
	for _, k := range r.group {
		v := groupValue(g.Key, k.name)
		switch k.name {
		case "source.ip":
			if a.SrcIP == "" {
				a.SrcIP = v
			}
		case "user.name":
			if a.User == "" {
				a.User = v
			}
		case "device.id":
			if a.DeviceID == "" {
				a.DeviceID = v
			}
		}
	}
	seqs, texts := g.seqs()
	first := uint64(0)
	if len(seqs) > 0 {
		first = seqs[0]
	}
	a.ID = alert.MakeID(r.ID, g.Key, first)
	a.Payloads = e.payloads(seqs, texts)
	data := &msgData{Alert: a, Rule: r.text, ev: ev, group: g, words: r.words, lang: r.lang}
	a.Message = render(r.msg, data)
	for _, n := range r.notify {
		// A template that renders to no usable address (a user without a
		// name, "bob@" without a domain) is dropped.
		if addr, err := mail.ParseAddress(strings.TrimSpace(render(n, data))); err == nil && validMailbox(addr.Address) {
			a.Notify = append(a.Notify, addr.Address)
		}
	}
	a.Actions = alertActions(r, a, ev, g)
	ctx := *a
	ctx.Payloads = nil
	ctx.Actions = nil
	g.Ctx = &ctx
	g.Alerts++
	g.resetSeqs(e.budget)
	if s := r.suppress(); s > 0 && r.Type != TypeAbsence {
		g.Until = now + s
		r.groups.timed[g] = struct{}{}
	}
	e.emit(r, a)
}

// validMailbox reports whether addr has a local part and a dotted domain.
func validMailbox(addr string) bool {
	local, domain, ok := strings.Cut(addr, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// groupValue returns the value of name in a group key: name=value pairs
// separated by spaces, values with spaces, '=' or quotes Go-quoted.
func groupValue(key, name string) string {
	for key != "" {
		k, rest, ok := strings.Cut(key, "=")
		if !ok {
			return ""
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return ""
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
		}
		if k == name {
			return v
		}
		key = strings.TrimPrefix(rest, " ")
	}
	return ""
}

// msgData is what message and notify templates see.
type msgData struct {
	*alert.Alert
	Rule  *Rule
	ev    *Event
	group *group
	words words
	lang  string // of the rule's texts
}

// Field returns a field of the triggering event ("" for timer alerts).
func (d *msgData) Field(name string) string {
	if d.ev != nil {
		return d.ev.Get(name)
	}
	return groupValue(d.group.Key, name)
}

// Value returns a rule-specific detail (Alert.Fields).
func (d *msgData) Value(name string) string { return d.Alert.Fields[name] }

// Window is the rule's window as text: "10m", "6h", "1h30m"; in Chinese
// "10 分钟", "6 小时", "1 小时 30 分钟".
func (d *msgData) Window() string {
	s := shortDuration(time.Duration(d.Rule.Window))
	if d.lang == "zh-CN" {
		s = zhDuration.Replace(s)
		s = strings.TrimSpace(strings.ReplaceAll(s, "  ", " "))
	}
	return s
}

// zhDuration writes the units of a short duration in Chinese.
var zhDuration = strings.NewReplacer("ms", " 毫秒 ", "h", " 小时 ", "m", " 分钟 ", "s", " 秒 ")

// shortDuration formats d without zero trailing units.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// templateFuncs are the functions of message and notify templates; an
// engine binds local to its Location.
var templateFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
	"local": localFunc(nil),
}

// localFunc returns the local template function: a time (time.Time, or
// RFC 3339 text such as .Value "silent_since") as people read it, in loc
// with its offset (2026-12-05 09:30:00 +08:00). Text that is no time is
// returned as it is.
func localFunc(loc *time.Location) func(any) string {
	return func(v any) string {
		switch v := v.(type) {
		case time.Time:
			return timefmt.Format(v, loc)
		case string:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return timefmt.Format(t, loc)
			}
			return v
		}
		return fmt.Sprint(v)
	}
}

func render(t *template.Template, d *msgData) string {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fmt.Sprintf(d.words.templateFailed, d.Rule.Title, err)
	}
	return b.String()
}
