package input

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// Transport names used in the transport label.
const (
	transportUDP = "udp"
	transportTCP = "tcp"
	transportTLS = "tls"
)

// Reasons used in the reason labels.
const (
	reasonSinkError    = "sink_error"    // the sink failed to store the batch
	reasonLimit        = "limit"         // MaxConnections reached
	reasonTLSHandshake = "tls_handshake" // the TLS handshake failed
)

// metrics holds the collectors shared by all transports of one input.
type metrics struct {
	messages    *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	truncated   *prometheus.CounterVec
	truncFrames *prometheus.CounterVec
	framing     *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	conns       *prometheus.GaugeVec
	rejected    *prometheus.CounterVec
	udpRcvbuf   *prometheus.GaugeVec
}

// transportMetrics holds one transport's children, resolved once so that
// the hot path only adds to them.
type transportMetrics struct {
	name        string
	messages    prometheus.Counter
	bytes       prometheus.Counter
	truncated   prometheus.Counter
	truncFrames prometheus.Counter
	framing     prometheus.Counter
	dropped     prometheus.Counter // reason sink_error
	conns       prometheus.Gauge
	rejLimit    prometheus.Counter
	rejTLS      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"input", "transport"}
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_messages_total",
			Help: "Messages received (see vigil_input_dropped_total for those the journal refused).",
		}, labels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_bytes_total",
			Help: "Message bytes received, without transport framing.",
		}, labels),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_truncated_total",
			Help: "Messages longer than the size limit, stored cut to it.",
		}, labels),
		truncFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_truncated_frames_total",
			Help: "Frames cut short by the end of their connection; the partial data was kept.",
		}, labels),
		framing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_framing_errors_total",
			Help: "Frames with an invalid octet count, kept as LF-terminated lines.",
		}, labels),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_dropped_total",
			Help: "Messages received but not stored, by reason.",
		}, []string{"input", "transport", "reason"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_input_connections",
			Help: "Open stream connections.",
		}, labels),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_connections_rejected_total",
			Help: "Connections closed right after accept, by reason.",
		}, []string{"input", "transport", "reason"}),
		udpRcvbuf: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_input_udp_receive_buffer_bytes",
			Help: "Socket receive buffer size the kernel granted (SO_RCVBUF as reported).",
		}, []string{"input"}),
	}
	var err error
	promreg.Register(reg, &m.messages, &err)
	promreg.Register(reg, &m.bytes, &err)
	promreg.Register(reg, &m.truncated, &err)
	promreg.Register(reg, &m.truncFrames, &err)
	promreg.Register(reg, &m.framing, &err)
	promreg.Register(reg, &m.dropped, &err)
	promreg.Register(reg, &m.conns, &err)
	promreg.Register(reg, &m.rejected, &err)
	promreg.Register(reg, &m.udpRcvbuf, &err)
	if err != nil {
		return nil, fmt.Errorf("input: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) transport(input, name string) *transportMetrics {
	return &transportMetrics{
		name:        name,
		messages:    m.messages.WithLabelValues(input, name),
		bytes:       m.bytes.WithLabelValues(input, name),
		truncated:   m.truncated.WithLabelValues(input, name),
		truncFrames: m.truncFrames.WithLabelValues(input, name),
		framing:     m.framing.WithLabelValues(input, name),
		dropped:     m.dropped.WithLabelValues(input, name, reasonSinkError),
		conns:       m.conns.WithLabelValues(input, name),
		rejLimit:    m.rejected.WithLabelValues(input, name, reasonLimit),
		rejTLS:      m.rejected.WithLabelValues(input, name, reasonTLSHandshake),
	}
}

// addStats adds a Framer's counts.
func (t *transportMetrics) addStats(s FramerStats) {
	if s.Truncated != 0 {
		t.truncated.Add(float64(s.Truncated))
	}
	if s.TruncatedFrames != 0 {
		t.truncFrames.Add(float64(s.TruncatedFrames))
	}
	if s.FramingErrors != 0 {
		t.framing.Add(float64(s.FramingErrors))
	}
}

// logLimiter lets one log line through per interval and counts the rest.
type logLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	next       time.Time
	suppressed int
}

// allow reports whether to log now and how many lines were suppressed
// since the last one that was let through.
func (l *logLimiter) allow() (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.next) {
		l.suppressed++
		return 0, false
	}
	l.next = now.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
