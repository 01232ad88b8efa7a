package input

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	register(reg, &m.messages, &err)
	register(reg, &m.bytes, &err)
	register(reg, &m.truncated, &err)
	register(reg, &m.truncFrames, &err)
	register(reg, &m.framing, &err)
	register(reg, &m.dropped, &err)
	register(reg, &m.conns, &err)
	register(reg, &m.rejected, &err)
	register(reg, &m.udpRcvbuf, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers *c with reg (nil: nothing). If an equal collector is
// already registered, for example by another input, *c becomes that one.
// The first error is kept in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C, errp *error) {
	if reg == nil || *errp != nil {
		return
	}
	err := reg.Register(*c)
	if err == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(C); ok {
			*c = ex
			return
		}
	}
	*errp = fmt.Errorf("input: register metrics: %w", err)
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
