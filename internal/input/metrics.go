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
	reasonJournalFull  = "journal_full"  // the journal refused the batch for lack of disk space
	reasonLimit        = "limit"         // the transport's connection limit reached
	reasonAddrLimit    = "address_limit" // the per-address connection limit reached
	reasonTLSHandshake = "tls_handshake" // the TLS handshake failed
	reasonIdle         = "idle_timeout"  // nothing received for IdleTimeout
	reasonMemory       = "buffer_memory" // closed to free buffer memory for others
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
	closed      *prometheus.CounterVec
	paused      *prometheus.GaugeVec
	udpRcvbuf   *prometheus.GaugeVec
	bufBytes    *prometheus.GaugeVec
	bufWaits    *prometheus.CounterVec
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
	droppedFull prometheus.Counter // reason journal_full
	conns       prometheus.Gauge
	paused      prometheus.Gauge
	rejLimit    prometheus.Counter
	rejAddr     prometheus.Counter
	rejTLS      prometheus.Counter
	closedIdle  prometheus.Counter
	// closedMemory counts connections closed to free buffer memory.
	closedMemory prometheus.Counter
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
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_connections_closed_total",
			Help: "Connections Vigil closed, by reason: idle_timeout (nothing received for idle_timeout), buffer_memory (stalled with a partial frame while others waited for buffer memory).",
		}, []string{"input", "transport", "reason"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_input_paused_connections",
			Help: "Connections not read from because the journal is full; their senders wait (TCP flow control).",
		}, labels),
		bufBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_input_buffer_bytes",
			Help: "Receive buffer memory the input's TCP and TLS connections hold beyond 16 KiB each (bounded by max_buffer_memory).",
		}, []string{"input"}),
		bufWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_buffer_waits_total",
			Help: "Times a connection stopped reading to wait for buffer memory (max_buffer_memory in use).",
		}, []string{"input"}),
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
	promreg.Register(reg, &m.closed, &err)
	promreg.Register(reg, &m.paused, &err)
	promreg.Register(reg, &m.bufBytes, &err)
	promreg.Register(reg, &m.bufWaits, &err)
	promreg.Register(reg, &m.udpRcvbuf, &err)
	if err != nil {
		return nil, fmt.Errorf("input: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) transport(input, name string) *transportMetrics {
	return &transportMetrics{
		name:         name,
		messages:     m.messages.WithLabelValues(input, name),
		bytes:        m.bytes.WithLabelValues(input, name),
		truncated:    m.truncated.WithLabelValues(input, name),
		truncFrames:  m.truncFrames.WithLabelValues(input, name),
		framing:      m.framing.WithLabelValues(input, name),
		dropped:      m.dropped.WithLabelValues(input, name, reasonSinkError),
		droppedFull:  m.dropped.WithLabelValues(input, name, reasonJournalFull),
		conns:        m.conns.WithLabelValues(input, name),
		paused:       m.paused.WithLabelValues(input, name),
		rejLimit:     m.rejected.WithLabelValues(input, name, reasonLimit),
		rejAddr:      m.rejected.WithLabelValues(input, name, reasonAddrLimit),
		rejTLS:       m.rejected.WithLabelValues(input, name, reasonTLSHandshake),
		closedIdle:   m.closed.WithLabelValues(input, name, reasonIdle),
		closedMemory: m.closed.WithLabelValues(input, name, reasonMemory),
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
