// Package api serves Vigil's HTTP API: search, status, health and metrics.
//
// Every /api/ endpoint needs a bearer token (which acts as an admin) or a
// console session cookie (then a change also needs the session's CSRF
// token in the X-CSRF-Token header); /healthz never does, and /metrics
// does when so configured. Every request but /healthz must name a host
// Vigil serves (see Hosts). Cross-origin browser requests that change
// something are refused (http.CrossOriginProtection).
//
// Routes are registered on an httpx.Mux with the permission they need
// (s.mux.HandleFunc(pattern, service.PermX, h)): the role test walks them
// all. Paths the API does not serve go to Options.Console.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/cluster"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
)

// Options configure the API.
type Options struct {
	// Tokens are the accepted bearer tokens; at least one is required.
	Tokens []string
	// MetricsAuth requires a token for /metrics.
	MetricsAuth bool
	// DefaultLimit and MaxLimit bound the number of search results.
	DefaultLimit, MaxLimit int
	// Status returns the body of /api/v1/status.
	Status func() any
	// Gatherer serves /metrics; nil disables it.
	Gatherer prometheus.Gatherer
	// Raw reads the journal: it calls fn for up to count records from seq
	// on. Nil disables /api/v1/journal.
	Raw func(ctx context.Context, from uint64, count int, fn func(*journal.Record) error) error
	// Debug serves Go's profiler under /debug/pprof/ (token required).
	Debug bool
	// Now is the clock for relative times; nil means time.Now.
	Now func() time.Time
	// Hosts are the Host names requests may carry; nil accepts loopback
	// and local addresses and localhost only.
	Hosts *Hosts
	// Registerer takes the API's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Lists serves /api/v1/lists and /api/v1/devices (nil: not served).
	Lists *service.Lists
	// Rules serves /api/v1/rules (nil: not served).
	Rules *service.Rules
	// Decisions serves /api/v1/decisions (nil: not served).
	Decisions *service.Decisions
	// Dashboards serves /api/v1/entities and /api/v1/overview; nil
	// disables them.
	Dashboards *service.Dashboards
	// Sessions, when set, lets a console session cookie authenticate
	// API calls.
	Sessions *auth.Sessions
	// Users and Audit serve /api/v1/users and /api/v1/audit (both or
	// neither).
	Users *service.Users
	Audit *service.Audit
	// Console serves every path outside /api/, /healthz, /metrics and
	// /debug/; nil serves none.
	Console http.Handler
	// Alerts serves /api/v1/alerts and /api/v1/incidents; nil disables them.
	Alerts *service.Alerts
	// Searches serves the console's search endpoints (search_console.go);
	// nil leaves them out.
	Searches *service.Searches
	// Enforce answers nginx's auth_request checks at
	// GET /api/v1/enforce/check and lists the registered devices at
	// GET /api/v1/enforce/devices (internal/enforce), authenticated by a
	// bouncer key (Bouncers) or like any route; nil: not served.
	Enforce Enforcer
	// Bouncers serves /api/v1/bouncers (nil: not served).
	Bouncers *service.Bouncers
	// BouncerAPI serves BouncerPatterns (the CrowdSec bouncer API,
	// /v1/decisions*) with its own authentication; nil: not served.
	BouncerAPI      http.Handler
	BouncerPatterns []string
}

// Server is the HTTP handler of the API.
type Server struct {
	st      search.Searcher
	opts    Options
	log     *slog.Logger
	mux     *httpx.Mux
	cop     *http.CrossOriginProtection
	handler http.Handler
	badHost prometheus.Counter
}

// New returns the API handler. It runs searches on st: a
// *search.Service, which keeps them within its limits.
func New(st search.Searcher, opts Options, log *slog.Logger) (*Server, error) {
	if len(opts.Tokens) == 0 {
		return nil, errors.New("api: no token configured")
	}
	for _, t := range opts.Tokens {
		if len(t) < 16 {
			return nil, errors.New("api: tokens must be at least 16 characters")
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 1000
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hosts == nil {
		opts.Hosts, _ = NewHosts("", nil)
	}
	s := &Server{st: st, opts: opts, log: log, cop: http.NewCrossOriginProtection(),
		badHost: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_api_host_rejected_total",
			Help: "Requests refused because their Host header names no host Vigil serves (http.allowed_hosts)."})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.badHost)
	}
	s.mux = httpx.NewMux(s.guard)
	s.mux.Public("GET /healthz", http.HandlerFunc(s.health))
	s.mux.HandleFunc("GET /api/v1/search", service.PermRead, s.search)
	s.routeAlerts()
	if opts.Status != nil {
		s.mux.HandleFunc("GET /api/v1/status", service.PermRead, s.status)
	}
	if opts.Raw != nil {
		s.mux.HandleFunc("GET /api/v1/journal", service.PermRead, s.raw)
	}
	if opts.Sessions != nil {
		s.routeSession()
	}
	s.routeDashboards()
	if opts.Users != nil {
		s.routeUsers()
	}
	s.routeLists()
	s.routeDecisions()
	s.routeRules()
	s.routeSearch()
	s.routeEnforce()
	s.routeBouncers()
	if opts.Gatherer != nil {
		h := promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})
		if opts.MetricsAuth {
			s.mux.Handle("GET /metrics", service.PermRead, h)
		} else {
			s.mux.Public("GET /metrics", h)
		}
	}
	if opts.Debug {
		s.mux.HandleFunc("GET /debug/pprof/", service.PermAudit, pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/profile", service.PermAudit, pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/trace", service.PermAudit, pprof.Trace)
	}
	// Any other /api/ path: 401 without credentials, else 404 (after
	// the more specific patterns above, whatever the method).
	s.mux.HandleFunc("/api/", service.PermRead, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path+" (docs/api.md)")
	})
	if opts.Console != nil {
		s.mux.Public("/", opts.Console)
	}
	s.handler = s.cop.Handler(s.mux)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path != "/healthz" && !s.opts.Hosts.Allow(r.Host) {
		s.badHost.Inc()
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
			"host %q is not one this server answers to: add it to http.allowed_hosts (docs/configuration.md)", r.Host))
		return
	}
	s.handler.ServeHTTP(w, r)
}

// Routes returns the API's routes (the console's is one public "/": it
// checks its own).
func (s *Server) Routes() []httpx.Route { return s.mux.Routes() }

// guard authenticates a request by its bearer token or its session
// cookie and checks that the actor has p.
func (s *Server) guard(p service.Perm, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if err := actor.Check(p); err != nil {
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, httpx.WithActor(r, actor))
	})
}

// authenticate returns the request's actor, or answers 401 (403 for a
// session change without its CSRF token) and reports false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (service.Actor, bool) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok {
		for _, t := range s.opts.Tokens {
			if subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
				// A configured token acts as an administrator.
				return service.Actor{Name: "token", Role: service.RoleAdmin, Via: "api", Remote: httpx.ClientIP(r)}, true
			}
		}
	} else if s.opts.Sessions != nil {
		id, err := s.opts.Sessions.Authenticate(r)
		switch {
		case err == nil:
			if auth.Unsafe(r.Method) && !auth.Equal(r.Header.Get("X-CSRF-Token"), id.Session.CSRF) {
				writeError(w, http.StatusForbidden, "a change made with a session cookie needs the session's CSRF token in the X-CSRF-Token header (GET /api/v1/session gives it)")
				return service.Actor{}, false
			}
			return id.Actor("api", httpx.ClientIP(r)), true
		case !errors.Is(err, auth.ErrNoSession):
			s.log.Error("api: session lookup", "err", err)
			writeError(w, http.StatusInternalServerError, "internal error: session lookup failed")
			return service.Actor{}, false
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	writeError(w, http.StatusUnauthorized, "missing or invalid bearer token (see the token file in the data directory) or console session")
	return service.Actor{}, false
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.opts.Status())
}

// MaxRawCount caps the count parameter of /api/v1/journal.
const MaxRawCount = 10000

// raw streams journal records exactly as received, as JSON lines:
// GET /api/v1/journal?from=SEQ&count=N
func (s *Server) raw(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	from, err := strconv.ParseUint(v.Get("from"), 10, 64)
	if err != nil || from == 0 {
		writeError(w, http.StatusBadRequest, "from: want a journal sequence number (vigil.seq of an event)")
		return
	}
	count := 1
	if c := v.Get("count"); c != "" {
		count, err = strconv.Atoi(c)
		if err != nil || count < 1 || count > MaxRawCount {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("count: must be between 1 and %d", MaxRawCount))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	var buf []byte
	err = s.opts.Raw(r.Context(), from, count, func(rec *journal.Record) error {
		buf = append(eventjson.AppendRecord(buf[:0], rec), '\n')
		_, err := w.Write(buf)
		return err
	})
	if err != nil && r.Context().Err() == nil {
		s.log.Error("api: read journal", "from", from, "err", err)
		buf = eventjson.AppendString(append(buf[:0], `{"error":`...), err.Error())
		_, _ = w.Write(append(buf, "}\n"...))
	}
}

// search streams matching events (or alerts, scope=alerts) as JSON lines:
// GET /api/v1/search?q=LogsQL&start=&end=&limit=&order=desc|asc|none&scope=events|alerts
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	peer := isPeer(r)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	flusher, _ := w.(http.Flusher)
	var (
		buf     []byte
		started bool
		n       int
	)
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		}
	}
	run := s.st.Search
	if s.opts.Searches != nil && s.opts.Searches.Clustered() && !peer {
		// Every node's rows, merged (service.Searches.Rows); the peers
		// that failed before the first row are in the headers.
		a, _ := httpx.Actor(r)
		run = func(ctx context.Context, q store.Query, fn func(store.Row) error) error {
			late, err := s.opts.Searches.Rows(ctx, a, q, func(failed []service.NodeFailure) {
				setFailed(w.Header(), failed)
			}, fn)
			if err == nil && len(late) > 0 {
				err = fmt.Errorf("stopped: %s", failedText(late))
			}
			return err
		}
	}
	err = run(ctx, q, func(row store.Row) error {
		start()
		if peer && s.opts.Searches != nil && row.Get("event.id") == "" {
			// The asking node cannot make the ids of this node's events.
			if id := s.opts.Searches.EventID(&row); id != "" {
				row.Fields = append(slices.Clip(row.Fields), store.Field{Name: "event.id", Value: id})
			}
		}
		buf = eventjson.AppendRow(buf[:0], &row)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write response: %w", err)
		}
		if n++; n%1000 == 0 && flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	var limit *search.LimitError
	switch {
	case err == nil:
		start()
		return
	case r.Context().Err() != nil:
		return // client went away
	case errors.As(err, &limit):
		s.log.Warn("api: search refused or stopped by a limit", "query", q.Text, "reason", limit.Reason)
		if !started {
			code := http.StatusServiceUnavailable
			switch {
			case limit.Reason == search.ReasonTooLarge:
				code = http.StatusBadRequest
			case limit.RetryAfter > 0:
				w.Header().Set("Retry-After", strconv.Itoa(int(limit.RetryAfter.Seconds())))
			}
			writeError(w, code, err.Error())
			return
		}
	case store.IsQueryError(err) && !started:
		writeError(w, http.StatusBadRequest, "bad query: "+err.Error())
		return
	default:
		s.log.Error("api: search failed", "query", q.Text, "err", err)
		if !started {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	// Headers are out: say so in a last line a client can recognise.
	buf = eventjson.AppendString(append(buf[:0], `{"error":`...), err.Error())
	_, _ = w.Write(append(buf, "}\n"...))
}

func (s *Server) parseQuery(r *http.Request) (store.Query, error) {
	v := r.URL.Query()
	q := store.Query{Text: strings.TrimSpace(v.Get("q")), Limit: s.opts.DefaultLimit}
	if q.Text == "" {
		q.Text = "*"
	}
	var err error
	if q.Start, q.End, _, err = timeRange(v, s.opts.Now()); err != nil {
		return q, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return q, errors.New("end is before start")
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return q, fmt.Errorf("limit: %q is not a non-negative number", l)
		}
		if isPeer(r) {
			// Another node's search step: stats and facets need every
			// row (limit=0); the search limits bound it still.
			n = min(n, s.opts.MaxLimit)
		} else if n == 0 || n > s.opts.MaxLimit {
			return q, fmt.Errorf("limit: must be between 1 and %d (http.max_search_limit)", s.opts.MaxLimit)
		}
		q.Limit = n
	}
	if q.Scope, err = store.ParseScope(v.Get("scope")); err != nil {
		return q, fmt.Errorf("scope: %w", err)
	}
	switch v.Get("order") {
	case "", "desc":
		q.Order = store.Newest
	case "asc":
		q.Order = store.Oldest
	case "none":
		q.Order = store.Unordered
	default:
		return q, fmt.Errorf("order: %q is not desc, asc or none", v.Get("order"))
	}
	return q, nil
}

// ParseTime parses a time bound; see service.ParseTime.
func ParseTime(s string, now time.Time) (time.Time, error) { return service.ParseTime(s, now) }

// timeRange reads the start, end and tz parameters: the bounds as
// service.ParseStart and ParseEnd read them in the zone tz (default UTC),
// and that zone.
func timeRange(v url.Values, now time.Time) (start, end time.Time, loc *time.Location, err error) {
	if loc, err = zone(v.Get("tz")); err != nil {
		return start, end, nil, err
	}
	if start, err = service.ParseStart(v.Get("start"), now, loc); err != nil {
		return start, end, nil, service.Invalidf("start: %v", err)
	}
	if end, err = service.ParseEnd(v.Get("end"), now, loc); err != nil {
		return start, end, nil, service.Invalidf("end: %v", err)
	}
	return start, end, loc, nil
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b := eventjson.AppendString([]byte(`{"error":`), msg)
	_, _ = w.Write(append(b, "}\n"...))
}

// isPeer reports whether r is another node's step of its search
// (cluster.Header): it is answered from this node's store alone.
func isPeer(r *http.Request) bool { return r.Header.Get(cluster.Header) != "" }

// searches returns the searches that answer r: this node's alone for a
// peer, so that nodes which list each other never search in circles.
func (s *Server) searches(r *http.Request) *service.Searches {
	if isPeer(r) {
		return s.opts.Searches.Local()
	}
	return s.opts.Searches
}

// FailedHeader names a peer that failed in the answer of a search whose
// body is not JSON (/api/v1/search, the export): one value per peer,
// "name: why".
const FailedHeader = "Vigil-Failed-Peer"

func setFailed(h http.Header, failed []service.NodeFailure) {
	for _, f := range failed {
		h.Add(FailedHeader, strings.Join(strings.Fields(f.Node+": "+f.Error), " "))
	}
}

// failedText lists failed peers in words.
func failedText(failed []service.NodeFailure) string {
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = "peer " + f.Node + " failed: " + f.Error
	}
	return strings.Join(parts, "; ")
}
