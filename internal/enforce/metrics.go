package enforce

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	checks                                    *prometheus.CounterVec
	allow, deny, unregistered, noDev, unknown prometheus.Counter
	bad                                       prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_enforce_checks_total",
			Help: "auth_request checks answered, by result: allow, ban (a decision matched), unregistered-device and no-device (enforce.devices: registered-only), unknown-device (allowed in learn mode).",
		}, []string{"result"}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_enforce_bad_requests_total",
			Help: "auth_request checks refused with 400 (an ip that is not an address).",
		}),
	}
	m.allow = m.checks.WithLabelValues("allow")
	m.deny = m.checks.WithLabelValues("ban")
	m.unregistered = m.checks.WithLabelValues("unregistered-device")
	m.noDev = m.checks.WithLabelValues("no-device")
	m.unknown = m.checks.WithLabelValues("unknown-device")
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.checks, m.bad} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) count(v Verdict) {
	switch v.Why {
	case "":
		m.allow.Inc()
	case "ban":
		m.deny.Inc()
	case "unregistered-device":
		m.unregistered.Inc()
	case "no-device":
		m.noDev.Inc()
	case "unknown-device":
		m.unknown.Inc()
	}
}
