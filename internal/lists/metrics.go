package lists

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// metrics are a Set's collectors. Without a registerer they are kept but
// not exported.
type metrics struct {
	entries      *prometheus.GaugeVec
	reloadErrors prometheus.Counter
	reloads      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_lists_entries",
			Help: "Entries in each list, expired ones included.",
		}, []string{"list"}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_lists_reload_errors_total",
			Help: "List file versions that failed to load (the previous version stays in service), name clashes and folder read errors.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_lists_reloads_total",
			Help: "Changes of the list folder applied (files added, changed or removed).",
		}),
	}
	var err error
	promreg.Register(reg, &m.entries, &err)
	promreg.Register(reg, &m.reloadErrors, &err)
	promreg.Register(reg, &m.reloads, &err)
	if err != nil {
		return nil, fmt.Errorf("lists: register metrics: %w", err)
	}
	return m, nil
}
