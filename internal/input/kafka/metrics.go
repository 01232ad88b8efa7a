package kafka

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// metrics holds the collectors of all Kafka inputs.
type metrics struct {
	records      *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	empty        *prometheus.CounterVec
	truncated    *prometheus.CounterVec
	commitErrors *prometheus.CounterVec
	appendErrors *prometheus.CounterVec
	lag          *prometheus.GaugeVec
	recreated    *prometheus.CounterVec
}

// topicMetrics holds one topic's children, resolved once.
type topicMetrics struct {
	records, bytes, empty, truncated prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	lt := []string{"input", "topic"}
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_records_total",
			Help: "Kafka records appended to the journal.",
		}, lt),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_bytes_total",
			Help: "Bytes of Kafka record values appended to the journal.",
		}, lt),
		empty: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_empty_total",
			Help: "Kafka records with an empty value, skipped (their offsets are committed).",
		}, lt),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_truncated_total",
			Help: "Kafka record values longer than the size limit, stored cut to it.",
		}, lt),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_commit_errors_total",
			Help: "Failed offset commits; the records are journaled and may be read again.",
		}, []string{"input"}),
		appendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_append_errors_total",
			Help: "Failed journal appends; the same records are retried.",
		}, []string{"input"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_input_kafka_lag",
			Help: "Records behind the partition's high watermark as of the latest fetch.",
		}, []string{"input", "topic", "partition"}),
		recreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_kafka_topic_recreated_total",
			Help: "Times a topic was found deleted or re-created (a new topic id) and subscribed to again; the new topic is read from its start.",
		}, lt),
	}
	var err error
	promreg.Register(reg, &m.records, &err)
	promreg.Register(reg, &m.bytes, &err)
	promreg.Register(reg, &m.empty, &err)
	promreg.Register(reg, &m.truncated, &err)
	promreg.Register(reg, &m.commitErrors, &err)
	promreg.Register(reg, &m.appendErrors, &err)
	promreg.Register(reg, &m.lag, &err)
	promreg.Register(reg, &m.recreated, &err)
	if err != nil {
		return nil, fmt.Errorf("kafka input: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) topic(input, topic string) *topicMetrics {
	return &topicMetrics{
		records:   m.records.WithLabelValues(input, topic),
		bytes:     m.bytes.WithLabelValues(input, topic),
		empty:     m.empty.WithLabelValues(input, topic),
		truncated: m.truncated.WithLabelValues(input, topic),
	}
}
