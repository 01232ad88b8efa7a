// Package search runs searches on the store within limits: a time limit
// per search, a cap on the searches that run at once, and a bound on the
// result data one search may produce. The HTTP API runs every search
// through one Service; the console is to share it.
package search

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/units"
)

// Searcher runs searches: a store.Store, or a Service in front of one.
type Searcher interface {
	// Search calls fn for every row q finds, one call at a time, as
	// store.Store's Search does.
	Search(ctx context.Context, q store.Query, fn func(store.Row) error) error
}

// Limits bound the searches of a Service.
type Limits struct {
	// Timeout cancels a search that runs longer; 0 means no limit.
	Timeout time.Duration
	// MaxConcurrent is how many searches run at once; 0 means
	// DefaultMaxConcurrent().
	MaxConcurrent int
	// QueueWait is how long a search waits for one of them to finish
	// before it is refused; 0 refuses it at once.
	QueueWait time.Duration
	// MaxBytes stops a search whose rows pass this many bytes of field
	// names and values; 0 means no bound.
	MaxBytes int64
}

// DefaultMaxConcurrent is the default cap on concurrent searches, the
// VictoriaLogs server's: twice the CPUs on up to 4 CPUs, the CPUs on more,
// and at most 16. One search can keep every CPU busy, so more would only
// share them.
func DefaultMaxConcurrent() int {
	n := runtime.GOMAXPROCS(0)
	if n <= 4 {
		n *= 2
	}
	return min(n, 16)
}

// Reasons of a LimitError, the reason label of vigil_api_search_rejected_total.
const (
	ReasonBusy     = "busy"      // every slot taken for QueueWait
	ReasonTimeout  = "timeout"   // ran longer than Timeout
	ReasonTooLarge = "too_large" // results passed MaxBytes
)

// LimitError is a search refused or stopped by one of a Service's limits.
type LimitError struct {
	// Reason is ReasonBusy, ReasonTimeout or ReasonTooLarge.
	Reason string
	// RetryAfter is when a busy search is worth trying again.
	RetryAfter time.Duration
	msg        string
}

func (e *LimitError) Error() string { return e.msg }

// Service runs searches on a Searcher within Limits. It is safe for
// concurrent use.
type Service struct {
	st    Searcher
	lim   Limits
	slots chan struct{} // one token per running search
	// The errors of the limits, built once.
	busy, timeout, tooLarge *LimitError
	m                       metrics
}

type metrics struct {
	rejected *prometheus.CounterVec
	inFlight prometheus.Gauge
	duration prometheus.Histogram
}

// errTimedOut is the cause of a search context that reached Timeout.
var errTimedOut = errors.New("search timeout")

// New returns a Service that runs searches on st. Its metrics are
// registered on reg unless it is nil.
func New(st Searcher, lim Limits, reg prometheus.Registerer) *Service {
	if lim.MaxConcurrent <= 0 {
		lim.MaxConcurrent = DefaultMaxConcurrent()
	}
	s := &Service{
		st:    st,
		lim:   lim,
		slots: make(chan struct{}, lim.MaxConcurrent),
		busy: &LimitError{Reason: ReasonBusy, RetryAfter: max(lim.QueueWait.Round(time.Second), time.Second),
			msg: fmt.Sprintf("too many searches: %d run at once and none finished within %s (http.max_concurrent_searches, http.search_queue_wait); try again later",
				lim.MaxConcurrent, lim.QueueWait)},
		timeout: &LimitError{Reason: ReasonTimeout,
			msg: fmt.Sprintf("search timed out after %s (http.search_timeout): narrow the query or its time range", lim.Timeout)},
		tooLarge: &LimitError{Reason: ReasonTooLarge,
			msg: fmt.Sprintf("search stopped: its results passed %s (http.search_max_bytes): narrow the query or its time range, or ask for fewer rows or fields",
				units.ByteSize(lim.MaxBytes))},
		m: metrics{
			rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_api_search_rejected_total",
				Help: "Searches refused or stopped by a limit, by reason: busy (every slot taken for http.search_queue_wait), timeout (http.search_timeout), too_large (http.search_max_bytes)."},
				[]string{"reason"}),
			inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_api_searches_in_flight",
				Help: "Searches running now (at most http.max_concurrent_searches)."}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_api_search_duration_seconds",
				Help:    "Time searches ran, from getting a slot to their end.",
				Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		},
	}
	for _, r := range []string{ReasonBusy, ReasonTimeout, ReasonTooLarge} {
		s.m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(s.m.rejected, s.m.inFlight, s.m.duration)
	}
	return s
}

// Search runs q when a slot is free, within the limits. A search refused
// or stopped by a limit returns a *LimitError; one that ends because ctx
// is done returns ctx's error.
func (s *Service) Search(ctx context.Context, q store.Query, fn func(store.Row) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-s.slots }()
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	start := time.Now()
	defer func() { s.m.duration.Observe(time.Since(start).Seconds()) }()

	sctx, cancel := context.WithCancel(ctx)
	if s.lim.Timeout > 0 {
		sctx, cancel = context.WithTimeoutCause(ctx, s.lim.Timeout, errTimedOut)
	}
	defer cancel()
	var n int64
	err := s.st.Search(sctx, q, func(r store.Row) error {
		if s.lim.MaxBytes > 0 {
			if n += rowBytes(&r); n > s.lim.MaxBytes {
				return s.tooLarge
			}
		}
		return fn(r)
	})
	switch {
	case err == nil || ctx.Err() != nil:
		return err
	case context.Cause(sctx) == errTimedOut:
		err = s.timeout
	}
	var le *LimitError
	if errors.As(err, &le) {
		s.m.rejected.WithLabelValues(le.Reason).Inc()
	}
	return err
}

// acquire takes a slot, waiting up to QueueWait for one.
func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.lim.QueueWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		s.m.rejected.WithLabelValues(ReasonBusy).Inc()
		return s.busy
	}
}

// rowBytes is what MaxBytes counts of a row: its time and the names and
// values of its fields, about its size as a line of JSON.
func rowBytes(r *store.Row) int64 {
	n := 8
	for _, f := range r.Fields {
		n += len(f.Name) + len(f.Value)
	}
	return int64(n)
}
