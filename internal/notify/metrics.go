package notify

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// metrics holds the collectors of all channels of one Notifier.
type metrics struct {
	sent    *prometheus.CounterVec
	errors  *prometheus.CounterVec
	failed  *prometheus.CounterVec
	dropped *prometheus.CounterVec
	queue   *prometheus.GaugeVec
}

// chanMetrics holds one channel's children, resolved once so that the hot
// path only adds to them.
type chanMetrics struct {
	sent    prometheus.Counter
	errors  prometheus.Counter
	failed  prometheus.Counter
	dropped prometheus.Counter
	queue   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"channel"}
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_sent_total",
			Help: "Alerts delivered by a notification channel.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_errors_total",
			Help: "Failed delivery attempts of a notification channel (retried or not).",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_failed_total",
			Help: "Alerts a notification channel gave up on: permanent error, max_attempts or max_age reached.",
		}, labels),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_dropped_total",
			Help: "Alerts dropped undelivered: the oldest of a full queue, or left in the queue at shutdown.",
		}, labels),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_notify_queue_length",
			Help: "Alerts waiting in a notification channel's queue.",
		}, labels),
	}
	var err error
	promreg.Register(reg, &m.sent, &err)
	promreg.Register(reg, &m.errors, &err)
	promreg.Register(reg, &m.failed, &err)
	promreg.Register(reg, &m.dropped, &err)
	promreg.Register(reg, &m.queue, &err)
	if err != nil {
		return nil, fmt.Errorf("notify: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) channel(name string) chanMetrics {
	return chanMetrics{
		sent:    m.sent.WithLabelValues(name),
		errors:  m.errors.WithLabelValues(name),
		failed:  m.failed.WithLabelValues(name),
		dropped: m.dropped.WithLabelValues(name),
		queue:   m.queue.WithLabelValues(name),
	}
}
