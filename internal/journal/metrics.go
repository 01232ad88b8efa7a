package journal

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the journal's Prometheus metrics. They exist (and are
// updated) even without a Registerer; they are only registered with one.
type metrics struct {
	appendedRecords prometheus.Counter
	appendedBytes   prometheus.Counter
	fsyncs          prometheus.Counter
	fsyncDuration   prometheus.Histogram
	corruptTail     prometheus.Counter
	deleted         *prometheus.CounterVec
	lost            *prometheus.CounterVec
	refused         prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(j *Journal) *metrics {
	return &metrics{
		appendedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_journal_appended_records_total",
			Help: "Records appended to the journal.",
		}),
		appendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_journal_appended_bytes_total",
			Help: "Bytes (framed records) written to the journal's segments.",
		}),
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_journal_fsyncs_total",
			Help: "fsync calls on segment files.",
		}),
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_journal_fsync_duration_seconds",
			Help:    "Duration of fsync calls on segment files.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. 6.5s
		}),
		corruptTail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_journal_corrupt_tail_bytes_total",
			Help: "Bytes of torn or corrupt segment tails cut off at Open (saved under corrupt/).",
		}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_journal_deleted_segments_total",
			Help: "Sealed segments deleted by retention, by reason (age or size).",
		}, []string{"reason"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_journal_consumer_lost_records_total",
			Help: "Records a durable consumer skipped because they were deleted by retention or unreadable.",
		}, []string{"consumer"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_journal_append_refused_total",
			Help: "Append calls refused for lack of disk space (ErrFull); an input that retries counts once per attempt.",
		}),
	}
}

// register registers all metrics with reg (nil: none). On error nothing stays registered.
func (m *metrics) register(reg prometheus.Registerer, j *Journal) error {
	if reg == nil {
		return nil
	}
	m.reg = reg
	for _, c := range []prometheus.Collector{
		m.appendedRecords, m.appendedBytes, m.fsyncs, m.fsyncDuration,
		m.corruptTail, m.deleted, m.lost, m.refused, &stateCollector{j: j},
	} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return fmt.Errorf("journal: register metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

// unregister removes what register registered.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

var (
	diskBytesDesc = prometheus.NewDesc("vigil_journal_disk_bytes",
		"Bytes of segment files on disk.", nil, nil)
	segmentsDesc = prometheus.NewDesc("vigil_journal_segments",
		"Segment files, the active one included.", nil, nil)
	firstSeqDesc = prometheus.NewDesc("vigil_journal_first_seq",
		"Oldest seq still retained.", nil, nil)
	nextSeqDesc = prometheus.NewDesc("vigil_journal_next_seq",
		"Seq the next appended record will get.", nil, nil)
	lagDesc = prometheus.NewDesc("vigil_journal_consumer_lag_records",
		"Records appended but not yet committed by a durable consumer (NextSeq - committed cursor).",
		[]string{"consumer"}, nil)
	fullDesc = prometheus.NewDesc("vigil_journal_full",
		"1 while the journal refuses appends for lack of disk space (below journal.min_free_disk, or a write failed with ENOSPC).", nil, nil)
	freeDesc = prometheus.NewDesc("vigil_journal_free_disk_bytes",
		"Free bytes on the journal's file system when last checked.", nil, nil)
)

// stateCollector exports gauges computed from the journal's state at scrape time.
type stateCollector struct{ j *Journal }

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskBytesDesc
	ch <- segmentsDesc
	ch <- firstSeqDesc
	ch <- nextSeqDesc
	ch <- lagDesc
	ch <- fullDesc
	ch <- freeDesc
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.j.Stats()
	ch <- prometheus.MustNewConstMetric(diskBytesDesc, prometheus.GaugeValue, float64(st.DiskBytes))
	ch <- prometheus.MustNewConstMetric(segmentsDesc, prometheus.GaugeValue, float64(st.Segments))
	ch <- prometheus.MustNewConstMetric(firstSeqDesc, prometheus.GaugeValue, float64(st.FirstSeq))
	ch <- prometheus.MustNewConstMetric(nextSeqDesc, prometheus.GaugeValue, float64(st.NextSeq))
	full := 0.0
	if st.Full {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(fullDesc, prometheus.GaugeValue, full)
	if st.FreeDiskBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(freeDesc, prometheus.GaugeValue, float64(st.FreeDiskBytes))
	}
	for name, committed := range st.Consumers {
		lag := uint64(0)
		if st.NextSeq > committed {
			lag = st.NextSeq - committed
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), name)
	}
}
