// Package crowdsec serves Vigil's decisions to CrowdSec bouncers over the
// bouncer half of CrowdSec's Local API, so that unmodified bouncers (the
// firewall bouncer, the nginx/Openresty Lua bouncer, the custom-script
// bouncer) enforce them:
//
//	GET /v1/decisions/stream?startup=true|false   the stream: new and deleted decisions
//	GET /v1/decisions?ip=|range=|scope=&value=    live mode: the decisions matching one subject
//
// Both take the bouncer's key in the X-Api-Key header (and nothing else: an
// operator's token is no bouncer key). Bodies are CrowdSec's JSON shapes,
// with null for an empty list as CrowdSec answers.
//
// Each bouncer has its own stream cursor: startup=true sends every active
// decision, and the ended ones still in the history as deleted; a later
// pull sends what was added and deleted since that
// bouncer's previous pull, and what expired since then as deleted. Only ip
// and range decisions are served unless the bouncer asks for Vigil's user
// or device scopes with scopes=.
package crowdsec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/service"
)

// Source is where decisions come from (a *decision.Store).
type Source interface {
	// Active returns the decisions enforced at now.
	Active(now time.Time) []decision.Decision
	// Changes returns the decisions added and deleted after cursor
	// since, and the cursor to pass next time.
	Changes(since int64) (added, deleted []decision.Decision, cursor int64)
	// Cursor returns the current end of the change sequence.
	Cursor() int64
}

// Keys authenticates bouncers and keeps their pulls (a
// *service.Bouncers).
type Keys interface {
	// Authenticate returns the bouncer whose key is key and its
	// latest pull.
	Authenticate(key string) (name string, last service.Pull, ok bool)
	// Pulled records a bouncer's pull.
	Pulled(name string, p service.Pull) error
}

// Options configure a Handler.
type Options struct {
	Source Source
	Keys   Keys
	// Now is the clock (default time.Now); it must be the Source's.
	Now func() time.Time
	// MaxConcurrent bounds the pulls served at once, all bouncers
	// together (default 8); a bouncer's own pulls are served one at a
	// time. A pull that cannot start within QueueWait (default 5s) is
	// answered 503.
	MaxConcurrent int
	QueueWait     time.Duration
	// Registerer takes the metrics (nil: none).
	Registerer prometheus.Registerer
}

// Handler serves the bouncer API.
type Handler struct {
	opts Options
	mux  *http.ServeMux
	sem  chan struct{}

	mu    sync.Mutex
	locks map[string]chan struct{} // one pull at a time per bouncer

	requests *prometheus.CounterVec
	sent     *prometheus.CounterVec
}

// New returns the handler of /v1/decisions and /v1/decisions/stream.
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 8
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 5 * time.Second
	}
	h := &Handler{opts: opts, mux: http.NewServeMux(), sem: make(chan struct{}, opts.MaxConcurrent),
		locks: map[string]chan struct{}{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_bouncer_requests_total",
			Help: "Requests to the CrowdSec bouncer API (/v1/decisions*) by endpoint (stream, live) and result (ok, forbidden, bad_request, busy, error)."},
			[]string{"endpoint", "result"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_bouncer_decisions_sent_total",
			Help: "Decisions sent to bouncers on the stream, by list (new, deleted)."}, []string{"list"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.requests, h.sent)
	}
	h.mux.HandleFunc("GET /v1/decisions/stream", h.stream)
	h.mux.HandleFunc("GET /v1/decisions", h.live)
	return h
}

// Patterns are the routes New serves, for a parent mux.
var Patterns = []string{"GET /v1/decisions/stream", "GET /v1/decisions"}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// item is a decision as CrowdSec's API shows it.
type item struct {
	ID       int64  `json:"id"`
	Origin   string `json:"origin"`
	Type     string `json:"type"`
	Scope    string `json:"scope"`
	Value    string `json:"value"`
	Duration string `json:"duration"`
	Scenario string `json:"scenario"`
	Until    string `json:"until"`
}

// Origin is the origin every decision is served with: bouncers that
// filter by origin (origins: in their configuration) name it.
const Origin = "vigil"

// scopeNames are CrowdSec's spellings of the scopes.
var scopeNames = map[decision.Scope]string{
	decision.ScopeIP: "Ip", decision.ScopeRange: "Range", decision.ScopeUser: "User", decision.ScopeDevice: "Device",
}

func toItem(d decision.Decision, now time.Time) item {
	scenario := d.Origin
	if rule, ok := strings.CutPrefix(d.Origin, "rule:"); ok {
		scenario = rule
	} else if d.Reason != "" {
		scenario = d.Origin + ": " + d.Reason
	}
	return item{ID: d.ID, Origin: Origin, Type: string(d.Type), Scope: scopeNames[d.Scope], Value: d.Value,
		Duration: d.Until.Sub(now).Truncate(time.Second).String(), Scenario: scenario,
		Until: d.Until.UTC().Format(time.RFC3339)}
}

// filter is what a stream request selects.
type filter struct {
	scopes      map[decision.Scope]bool
	origins     []string
	contains    []string
	notContains []string
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseFilter reads scopes, origins, scenarios_containing and
// scenarios_not_containing (comma-separated lists, as bouncers send them).
func parseFilter(q map[string][]string) (filter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := filter{scopes: map[decision.Scope]bool{decision.ScopeIP: true, decision.ScopeRange: true}}
	if _, ok := q["scopes"]; ok {
		f.scopes = map[decision.Scope]bool{}
		for _, s := range splitList(get("scopes")) {
			sc, err := decision.ParseScope(s)
			if err != nil {
				return f, err
			}
			f.scopes[sc] = true
		}
	}
	f.origins = splitList(get("origins"))
	f.contains = splitList(get("scenarios_containing"))
	f.notContains = splitList(get("scenarios_not_containing"))
	return f, nil
}

func (f *filter) match(it *item, sc decision.Scope) bool {
	if !f.scopes[sc] {
		return false
	}
	if len(f.origins) > 0 && !containsFold(f.origins, it.Origin) {
		return false
	}
	if len(f.contains) > 0 && !anySub(it.Scenario, f.contains) {
		return false
	}
	return !anySub(it.Scenario, f.notContains)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func anySub(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// streamBody is the stream's answer; nil lists are JSON null.
type streamBody struct {
	New     []item `json:"new"`
	Deleted []item `json:"deleted"`
}

// authenticate checks X-Api-Key, answering 403 as CrowdSec does when it
// is missing or unknown.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, endpoint string) (string, service.Pull, bool) {
	name, p, ok := h.opts.Keys.Authenticate(r.Header.Get("X-Api-Key"))
	if !ok {
		h.requests.WithLabelValues(endpoint, "forbidden").Inc()
		writeMessage(w, http.StatusForbidden, "access forbidden")
	}
	return name, p, ok
}

// acquire waits for a pull slot and the bouncer's own lock; release
// frees both. It answers 503 and reports false when none comes in time.
func (h *Handler) acquire(w http.ResponseWriter, r *http.Request, name, endpoint string) (release func(), ok bool) {
	h.mu.Lock()
	lock := h.locks[name]
	if lock == nil {
		lock = make(chan struct{}, 1)
		h.locks[name] = lock
	}
	h.mu.Unlock()
	t := time.NewTimer(h.opts.QueueWait)
	defer t.Stop()
	busy := func() (func(), bool) {
		h.requests.WithLabelValues(endpoint, "busy").Inc()
		w.Header().Set("Retry-After", "1")
		writeMessage(w, http.StatusServiceUnavailable, "too many pulls at once: retry")
		return nil, false
	}
	select {
	case lock <- struct{}{}:
	case <-t.C:
		return busy()
	case <-r.Context().Done():
		return busy()
	}
	select {
	case h.sem <- struct{}{}:
	case <-t.C:
		<-lock
		return busy()
	case <-r.Context().Done():
		<-lock
		return busy()
	}
	return func() { <-h.sem; <-lock }, true
}

// stream serves GET /v1/decisions/stream?startup=true|false&scopes=&origins=
// &scenarios_containing=&scenarios_not_containing=.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	name, _, ok := h.authenticate(w, r, "stream")
	if !ok {
		return
	}
	q := r.URL.Query()
	f, err := parseFilter(q)
	if err != nil {
		h.requests.WithLabelValues("stream", "bad_request").Inc()
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		// As CrowdSec: no body, and the cursor does not move.
		h.requests.WithLabelValues("stream", "ok").Inc()
		w.WriteHeader(http.StatusOK)
		return
	}
	release, ok := h.acquire(w, r, name, "stream")
	if !ok {
		return
	}
	defer release()
	// The pull state is read again under the bouncer's lock: a pull
	// that waited must start from where the previous one left off.
	_, last, ok := h.authenticate(w, r, "stream")
	if !ok {
		return // deleted while waiting
	}
	now := h.opts.Now()
	var body streamBody
	var cursor int64
	if q.Get("startup") == "true" || last.Seen.IsZero() {
		// Everything enforced now. The cursor is taken first: what
		// changes meanwhile comes again in the next pull (a repeated
		// add or delete is harmless to a bouncer).
		cursor = h.opts.Source.Cursor()
		live := map[string]bool{}
		for _, d := range h.opts.Source.Active(now) {
			body.New = appendItem(body.New, &f, d, now)
			live[subjectKey(&d)] = true
		}
		body.Deleted = ended(body.Deleted, &f, h.opts.Source, live, now)
	} else {
		added, deleted, cur := h.opts.Source.Changes(last.Cursor)
		cursor = cur
		for _, d := range added {
			if d.Active(now) {
				body.New = appendItem(body.New, &f, d, now)
			}
		}
		seen := map[int64]bool{}
		for _, d := range deleted {
			seen[d.ID] = true
			body.Deleted = appendItem(body.Deleted, &f, d, now)
		}
		// Expiry is no change in the store: what was enforced at the
		// previous pull and is past its end now goes as deleted.
		for _, d := range h.opts.Source.Active(last.Seen) {
			if !seen[d.ID] && !now.Before(d.Until) {
				body.Deleted = appendItem(body.Deleted, &f, d, now)
			}
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		h.requests.WithLabelValues("stream", "error").Inc()
		writeMessage(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(b); err != nil {
		h.requests.WithLabelValues("stream", "error").Inc()
		return // the bouncer did not get it: the cursor stays
	}
	h.requests.WithLabelValues("stream", "ok").Inc()
	h.sent.WithLabelValues("new").Add(float64(len(body.New)))
	h.sent.WithLabelValues("deleted").Add(float64(len(body.Deleted)))
	_ = h.opts.Keys.Pulled(name, service.Pull{Time: now, Addr: clientIP(r), Agent: agent(r), Cursor: cursor, Seen: now})
}

// ended appends, as CrowdSec's startup answer does, the decisions of the
// history that ended (expired or deleted), one per subject, so that a
// bouncer that kept its state across its own restart (a script's
// firewall rules) lifts what ended meanwhile. A subject with a decision
// in force (live) is left out: bouncers apply deleted before new, and
// must not lift it.
func ended(list []item, f *filter, src Source, live map[string]bool, now time.Time) []item {
	added, deleted, _ := src.Changes(0)
	sent := map[string]bool{}
	for _, l := range [][]decision.Decision{deleted, added} {
		for _, d := range l {
			k := subjectKey(&d)
			if d.Active(now) || live[k] || sent[k] {
				continue
			}
			sent[k] = true
			list = appendItem(list, f, d, now)
		}
	}
	return list
}

// subjectKey is what a bouncer enforces a decision on: its scope and
// value.
func subjectKey(d *decision.Decision) string {
	return string(d.Scope) + "\x00" + strings.ToLower(d.Value)
}

func appendItem(list []item, f *filter, d decision.Decision, now time.Time) []item {
	it := toItem(d, now)
	if f.match(&it, d.Scope) {
		list = append(list, it)
	}
	return list
}

// live serves GET /v1/decisions?ip=|range=[&contains=false]|scope=&value=
// [&type=]: the active decisions matching, or null.
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	name, last, ok := h.authenticate(w, r, "live")
	if !ok {
		return
	}
	q := r.URL.Query()
	match, err := liveMatcher(q)
	if err != nil {
		h.requests.WithLabelValues("live", "bad_request").Inc()
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	release, ok := h.acquire(w, r, name, "live")
	if !ok {
		return
	}
	defer release()
	// Read again under the lock: the stream's state as a pull that ran
	// meanwhile left it, which this one keeps.
	if _, last, ok = h.authenticate(w, r, "live"); !ok {
		return // deleted while waiting
	}
	now := h.opts.Now()
	var out []item
	for _, d := range h.opts.Source.Active(now) {
		if match(&d) {
			out = append(out, toItem(d, now))
		}
	}
	h.requests.WithLabelValues("live", "ok").Inc()
	last.Time, last.Addr, last.Agent = now, clientIP(r), agent(r)
	_ = h.opts.Keys.Pulled(name, last)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, _ := json.Marshal(out) // null when nothing matches
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// liveMatcher returns the test of a live query: ip (its ip decisions and
// the ranges containing it), range (the ranges containing it; with
// contains=false the ip and range decisions inside it), scope and value,
// type. Without any, every active ip and range decision matches.
func liveMatcher(q map[string][]string) (func(*decision.Decision) bool, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	var tests []func(*decision.Decision) bool
	if v := get("ip"); v != "" {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("ip: %q is not an address", v)
		}
		ip = ip.Unmap()
		tests = append(tests, func(d *decision.Decision) bool {
			return subject(d).Contains(ip)
		})
	}
	if v := get("range"); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("range: %q is not a CIDR range", v)
		}
		p = p.Masked()
		inside := get("contains") == "false"
		tests = append(tests, func(d *decision.Decision) bool {
			s := subject(d)
			if !s.IsValid() {
				return false
			}
			if inside {
				return p.Bits() <= s.Bits() && p.Contains(s.Addr())
			}
			return s.Bits() <= p.Bits() && s.Contains(p.Addr())
		})
	}
	scopes := map[decision.Scope]bool{decision.ScopeIP: true, decision.ScopeRange: true}
	if v := get("scope"); v != "" {
		sc, err := decision.ParseScope(v)
		if err != nil {
			return nil, err
		}
		scopes = map[decision.Scope]bool{sc: true}
	}
	if v := get("value"); v != "" {
		tests = append(tests, func(d *decision.Decision) bool {
			n, err := decision.Normalize(d.Scope, v)
			return err == nil && strings.EqualFold(n, d.Value)
		})
	}
	if v := get("type"); v != "" {
		t, err := decision.ParseType(v)
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(d *decision.Decision) bool { return d.Type == t })
	}
	return func(d *decision.Decision) bool {
		if !scopes[d.Scope] {
			return false
		}
		for _, t := range tests {
			if !t(d) {
				return false
			}
		}
		return true
	}, nil
}

// subject is the prefix an ip or range decision covers (invalid for the
// other scopes).
func subject(d *decision.Decision) netip.Prefix {
	switch d.Scope {
	case decision.ScopeIP:
		if a, err := netip.ParseAddr(d.Value); err == nil {
			a = a.Unmap()
			return netip.PrefixFrom(a, a.BitLen())
		}
	case decision.ScopeRange:
		if p, err := netip.ParsePrefix(d.Value); err == nil {
			return p.Masked()
		}
	}
	return netip.Prefix{}
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(append(b, '\n'))
}

func clientIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

// agent is the request's User-Agent, cut to 128 bytes.
func agent(r *http.Request) string {
	a := r.UserAgent()
	if len(a) > 128 {
		a = a[:128]
	}
	return a
}
