// Package memlimit keeps the Go runtime's soft memory limit at Vigil's
// memory target (the memory_target setting).
//
// With the runtime's defaults the garbage collector lets the heap grow to
// twice what was live after the previous collection. Under a burst that is
// mostly garbage (parse buffers, rows handed to the store, merge buffers),
// so a process with 250 MB live data peaks above 600 MB. A soft limit makes
// the collector run earlier as the process nears it, instead.
//
// A soft limit below what is live would make the collector run almost
// continuously (the runtime caps that at about half the CPU). So the
// governor checks the live heap once a second and, when the live data
// itself needs more than the target (a large search, many detection
// groups), raises the limit to keep at least half the live heap as room
// for new allocations: memory then grows above the target, at the cost of
// collecting somewhat more often than the runtime's defaults would.
package memlimit

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// liveMetric is the runtime metric of the heap the last collection found live.
const liveMetric = "/gc/heap/live:bytes"

// interval is how often the governor looks at the live heap.
const interval = time.Second

// Limit returns the soft memory limit for a target and the live heap: the
// target, or one and a half times the live heap when that is more.
func Limit(target, live uint64) uint64 {
	return max(target, live+live/2)
}

// Governor sets the runtime's soft memory limit from a target and the live
// heap. Create it with New; Run keeps it up to date.
type Governor struct {
	target uint64
	log    *slog.Logger
	live   func() uint64     // the live heap; tests replace it
	set    func(int64) int64 // debug.SetMemoryLimit; tests replace it

	now    func() time.Time // the clock of warnEvery; tests replace it
	limit  atomic.Int64     // the limit set last; 0: none
	warned time.Time        // when the limit last went above the target with a warning
}

// warnEvery is how often at most the governor warns that the live heap
// needs more than the target: under an overload the live heap swings
// across it every few seconds.
const warnEvery = time.Hour

// New returns a governor for target bytes, or nil when there is nothing to
// govern: a target of 0, or a GOMEMLIMIT in the environment (the operator's
// explicit setting wins; New logs that the target is not used).
func New(target uint64, log *slog.Logger) *Governor {
	if target == 0 {
		return nil
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory_target is not used: GOMEMLIMIT is set in the environment", "GOMEMLIMIT", v)
		return nil
	}
	return &Governor{target: target, log: log, live: readLive, set: debug.SetMemoryLimit, now: time.Now}
}

// Run applies the limit at once, then once a second until ctx is done; it
// then restores the limit the process had before.
func (g *Governor) Run(ctx context.Context) {
	prev := g.set(-1)
	defer g.set(prev)
	g.update()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.update()
		}
	}
}

// update sets the limit for the live heap now.
func (g *Governor) update() {
	live := g.live()
	lim := Limit(g.target, live)
	if now := g.now(); lim > g.target && (g.warned.IsZero() || now.Sub(g.warned) >= warnEvery) {
		g.warned = now
		g.log.Warn("the live heap needs more than memory_target: the soft memory limit follows it at one and a half times the live heap; raise memory_target to collect garbage less often (warned at most once an hour; vigil_memory_soft_limit_bytes shows the limit)",
			"live_bytes", live, "memory_target", g.target, "limit_bytes", lim)
	}
	l := int64(min(lim, math.MaxInt64))
	if g.limit.Load() != l {
		g.set(l)
		g.limit.Store(l)
	}
}

func readLive() uint64 {
	s := []metrics.Sample{{Name: liveMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

const (
	helpTarget = "The memory_target setting: the soft memory limit while the live heap fits in it."
	helpLimit  = "The Go runtime's soft memory limit Vigil set last: memory_target, or more when the live heap needs it."
)

var (
	descTarget = prometheus.NewDesc("vigil_memory_target_bytes", helpTarget, nil, nil)
	descLimit  = prometheus.NewDesc("vigil_memory_soft_limit_bytes", helpLimit, nil, nil)
)

// Describe implements prometheus.Collector.
func (g *Governor) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTarget
	ch <- descLimit
}

// Collect implements prometheus.Collector.
func (g *Governor) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descTarget, prometheus.GaugeValue, float64(g.target))
	ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(g.limit.Load()))
}
