package main

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
)

// dashboards returns the entity pages' and the overview's service.
func (s *server) dashboards(searches *search.Service) *service.Dashboards {
	opts := service.DashboardOptions{Health: s.health, Log: s.log.With("component", "dashboards"),
		// Events up to detect.max_clock_skew late are expected; the store
		// shows what it was given within a second.
		Settle: s.cfg.Detect.MaxClockSkew.D() + time.Second, BlockBytes: int64(s.cfg.Console.OverviewBlockMemory)}
	if opts.BlockBytes == 0 {
		opts.BlockBytes = -1
	}
	if s.lists != nil {
		opts.Registered = func(user, id string) bool {
			_, ok := s.lists.Device(user, id)
			return ok
		}
		opts.Revoked = s.lists.Revoked
	}
	if s.geo != nil {
		opts.Country = func(ip netip.Addr) string { return s.geo.Lookup(ip).Country }
	}
	s.dash = service.NewDashboards(searches, opts)
	d := s.dash
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_console_overview_blocks",
			Help: "Blocks of the overview's costly panels held in memory (console.overview_block_memory)."},
			func() float64 { return float64(d.BlockStats().Blocks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_console_overview_block_bytes",
			Help: "Estimated bytes the overview's cached blocks take (at most console.overview_block_memory)."},
			func() float64 { return float64(d.BlockStats().Bytes) }))
	return s.dash
}

// notifyStore is the store as the indexer writes to it: the overview's
// cached blocks hear of every batch, so that events arriving late are
// counted (service.Dashboards.Added).
type notifyStore struct {
	*vlstore.Store
	s *server
}

// Add adds rows to the store, then tells the overview.
func (n notifyStore) Add(rows []store.Row) error {
	err := n.Store.Add(rows)
	if n.s.dash != nil {
		n.s.dash.Added(rows)
	}
	return err
}

// health is the pipeline's state for the overview, from the sources of
// /api/v1/status.
func (s *server) health() service.PipelineHealth {
	js := s.j.Stats()
	h := service.PipelineHealth{
		JournalNextSeq:   js.NextSeq,
		JournalDiskBytes: js.DiskBytes,
		JournalFull:      js.Full,
		FreeDiskBytes:    js.FreeDiskBytes,
		IndexLag:         s.j.NextSeq() - s.ix.Position(),
		Outputs:          []service.OutputHealth{},
		AlertChannels:    []service.ChannelHealth{},
	}
	for _, in := range s.kafka {
		st := in.Status()
		h.Kafka = append(h.Kafka, service.KafkaHealth{Name: st.Name, Running: st.Running, Lag: st.Lag, LastError: st.LastError})
	}
	for _, o := range append(append([]*output.Runner(nil), s.outputs...), s.alertOutputs...) {
		st := o.Status()
		h.Outputs = append(h.Outputs, service.OutputHealth{Name: st.Name, Kind: st.Kind, Lag: st.Lag, Errors: st.Errors,
			LastError: st.LastError, LastErrorTime: st.LastErrorTime})
	}
	if s.det == nil {
		return h
	}
	for _, c := range s.notify.Status() {
		h.AlertChannels = append(h.AlertChannels, service.ChannelHealth{Name: c.Name, Kind: c.Kind, Sent: c.Sent, Failed: c.Failed,
			Dropped: c.Dropped, Queued: c.Queued, LastError: c.LastError, LastErrorTime: c.LastErrorTime})
	}
	h.AlertStoreLag = s.alerts.NextSeq() - s.alertStore.Position()
	ds := s.det.Status()
	h.Detect = &service.DetectHealth{Rules: ds.Rules, RuleErrors: len(ds.RuleErrors), Alerts: ds.Alerts, NewestEvent: ds.NewestEvent}
	return h
}
