package decision

import (
	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// metrics are a Store's collectors. Without a registerer they are kept but
// not exported.
type metrics struct {
	active  prometheus.GaugeFunc
	added   *prometheus.CounterVec
	refused *prometheus.CounterVec

	skipped       prometheus.Counter
	compactions   prometheus.Counter
	compactErrors prometheus.Counter
	compacted     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_decisions_active",
			Help: "Decisions enforced now (not expired, deleted or dry run).",
		}, func() float64 { return float64(s.activeCount()) }),
		added: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decisions_added_total",
			Help: "Decisions recorded (dry-run ones included), by origin kind (rule, operator, ...).",
		}, []string{"origin"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decisions_refused_total",
			Help: "Decisions not recorded, by reason: allow_listed, own_network, private, cap, invalid, duplicate (an equal decision lasts as long, or the same alert made one), stale (an alert older than its action's duration), error.",
		}, []string{"reason"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_decisions_log_skipped_total",
			Help: "Lines of the decision log skipped at start: torn by a crash or unreadable.",
		}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_decisions_compactions_total",
			Help: "Rewrites of the decision log.",
		}),
		compactErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_decisions_compaction_errors_total",
			Help: "Rewrites of the decision log that failed (the log stays valid).",
		}),
		compacted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_decisions_history_dropped_total",
			Help: "Expired or deleted decisions dropped from the history after the retention.",
		}),
	}
	var err error
	promreg.Register(reg, &m.active, &err)
	promreg.Register(reg, &m.added, &err)
	promreg.Register(reg, &m.refused, &err)
	promreg.Register(reg, &m.skipped, &err)
	promreg.Register(reg, &m.compactions, &err)
	promreg.Register(reg, &m.compactErrors, &err)
	promreg.Register(reg, &m.compacted, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// activeCount counts the decisions enforced now.
func (s *Store) activeCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.activeCountLocked(s.now())
}
