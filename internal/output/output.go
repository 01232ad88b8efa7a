// Package output forwards journaled messages to other systems. Each output
// reads the journal from its own durable cursor and moves the cursor only
// past what it delivered, so delivery is at least once: an outage of the
// receiver delays delivery and loses nothing until the journal's retention
// passes the cursor (the journal counts that loss per consumer). A slow or
// dead output never holds up ingest, indexing or detection: they have their
// own cursors.
package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/journal"
	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

// Sender delivers journal records to one receiver. Send delivers all of
// recs or returns an error (the runner then retries the same records).
type Sender interface {
	Send(ctx context.Context, recs []journal.Record) error
	Close() error
}

// Status is an output's state for the API.
type Status struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Target        string    `json:"target"`
	Position      uint64    `json:"position"`
	Lag           uint64    `json:"lag_records"`
	Sent          uint64    `json:"sent"`
	Errors        uint64    `json:"errors"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// Servers are the receiver's servers, for an output that has several
	// (ClickHouse with addresses).
	Servers []ServerStatus `json:"servers,omitempty"`
}

// The states of a server (ServerStatus.State).
const (
	ServerActive  = "active"  // the output writes to it
	ServerStandby = "standby" // it answered at its last contact, or was not tried yet
	ServerDown    = "down"    // its last contact failed
)

// ServerStatus is the state of one of an output's servers.
type ServerStatus struct {
	Address       string    `json:"address"`
	State         string    `json:"state"`
	Failures      uint64    `json:"failures"` // contacts that failed: the output moved on to the next server
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// ServerReporter is a Sender that writes to one of several servers and
// fails over between them: the runner shows their state in its status and
// metrics.
type ServerReporter interface {
	Servers() []ServerStatus
}

// Runner moves records from the journal to a Sender.
type Runner struct {
	name, kind, target string
	j                  *journal.Journal
	r                  *journal.Reader
	s                  Sender
	log                *slog.Logger
	sent, errs         *prometheus.CounterVec
	serverUp           *prometheus.GaugeVec   // output, server
	serverActive       *prometheus.GaugeVec   // output, server
	serverFailures     *prometheus.CounterVec // output, server
	servers            ServerReporter         // nil: one receiver
	failures           map[string]uint64      // counted into serverFailures so far

	batch int // most records per Send

	mu     sync.Mutex
	status Status
	// moved is closed (and replaced) whenever status.Position moves.
	moved chan struct{}
}

// Batcher is a Sender that wants batches of a given size (ClickHouse
// prefers tens of thousands of rows per INSERT).
type Batcher interface {
	BatchSize() int
}

// NewRunner opens the output's journal cursor (consumer "output-NAME").
func NewRunner(j *journal.Journal, name, kind, target string, s Sender, reg prometheus.Registerer, log *slog.Logger) (*Runner, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := j.OpenReader("output-" + strings.ToLower(name))
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	ru := &Runner{name: name, kind: kind, target: target, j: j, r: r, s: s, log: log,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_output_records_total",
			Help: "Journal records an output delivered."}, []string{"output"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_output_errors_total",
			Help: "Failed deliveries (retried; the journal keeps the records)."}, []string{"output"}),
	}
	var rerr error
	promreg.Register(reg, &ru.sent, &rerr)
	promreg.Register(reg, &ru.errs, &rerr)
	if sr, ok := s.(ServerReporter); ok {
		ru.servers, ru.failures = sr, map[string]uint64{}
		ru.serverUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_output_server_up",
			Help: "1 when an output's server answered at its last contact (or was not tried yet), 0 when that contact failed."}, []string{"output", "server"})
		ru.serverActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_output_server_active",
			Help: "1 for the server an output writes to, 0 for its other servers."}, []string{"output", "server"})
		ru.serverFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_output_server_failures_total",
			Help: "Contacts with an output's server that failed (the output moved on to its next server)."}, []string{"output", "server"})
		promreg.Register(reg, &ru.serverUp, &rerr)
		promreg.Register(reg, &ru.serverActive, &rerr)
		promreg.Register(reg, &ru.serverFailures, &rerr)
	}
	if rerr != nil {
		r.Close()
		return nil, fmt.Errorf("output %s: register metrics: %w", name, rerr)
	}
	ru.status = Status{Name: name, Kind: kind, Target: target, Position: r.Position()}
	ru.moved = make(chan struct{})
	ru.batch = 1024
	if b, ok := s.(Batcher); ok && b.BatchSize() > 0 {
		ru.batch = b.BatchSize()
	}
	ru.syncServers()
	return ru, nil
}

// syncServers brings the server metrics up to the sender's view.
func (ru *Runner) syncServers() {
	if ru.servers == nil {
		return
	}
	for _, s := range ru.servers.Servers() {
		up, active := 1.0, 0.0
		if s.State == ServerDown {
			up = 0
		}
		if s.State == ServerActive {
			active = 1
		}
		ru.serverUp.WithLabelValues(ru.name, s.Address).Set(up)
		ru.serverActive.WithLabelValues(ru.name, s.Address).Set(active)
		if n := s.Failures - ru.failures[s.Address]; n > 0 {
			ru.serverFailures.WithLabelValues(ru.name, s.Address).Add(float64(n))
			ru.failures[s.Address] = s.Failures
		}
	}
}

// Pipeliner is a Sender that works on two batches at once: Start hands
// recs to the receiver and returns without waiting for it to confirm them
// (a ClickHouse server writes one INSERT's part while Vigil parses the next
// batch), and wait reports whether they were delivered. Start keeps no
// reference to recs after it returns: the journal reader reuses their
// memory. The runner calls every wait it gets, in order, from its goroutine.
type Pipeliner interface {
	Start(ctx context.Context, recs []journal.Record) (wait func() error, err error)
}

// flight is a batch handed to the sender and not yet confirmed.
type flight struct {
	wait func() error
	n    int
	end  uint64 // seq after its last record
}

// Run delivers records until ctx is done, then commits the cursor and
// closes the sender and the reader. A failed batch is read again from the
// journal and retried with backoff (with a Pipeliner, so is the batch sent
// after it).
func (ru *Runner) Run(ctx context.Context) error {
	defer ru.s.Close()
	defer ru.r.Close()
	start := func(ctx context.Context, recs []journal.Record) (func() error, error) {
		return sent, ru.s.Send(ctx, recs)
	}
	if p, ok := ru.s.(Pipeliner); ok {
		start = p.Start
	}
	sentRecs, errs := ru.sent.WithLabelValues(ru.name), ru.errs.WithLabelValues(ru.name)
	var (
		recs     []journal.Record
		inflight []flight
	)
	lastCommit := time.Now()
	delivered := ru.r.Position() // everything before it was delivered
	// confirm waits for the oldest batches in flight until at most keep
	// remain; after a failure it waits for all of them and returns it.
	confirm := func(keep int) error {
		for len(inflight) > keep {
			f := inflight[0]
			inflight = inflight[1:]
			if err := f.wait(); err != nil {
				for _, g := range inflight {
					_ = g.wait() // sent after the failed one: it goes again
				}
				inflight = inflight[:0]
				return err
			}
			delivered = f.end
			sentRecs.Add(float64(f.n))
			ru.mu.Lock()
			ru.status.Sent += uint64(f.n)
			ru.status.Position = delivered
			close(ru.moved)
			ru.moved = make(chan struct{})
			ru.mu.Unlock()
		}
		return nil
	}
	commit := func() {
		if err := ru.r.Commit(delivered); err != nil && !errors.Is(err, journal.ErrClosed) {
			ru.log.Error("output: commit cursor", "output", ru.name, "err", err)
		}
		lastCommit = time.Now()
	}
	defer func() {
		_ = confirm(0)
		commit()
	}()
	delay := 100 * time.Millisecond
	for {
		var err error
		if ru.r.Position() >= ru.j.NextSeq() {
			// Nothing more to read now: confirm what is in flight rather
			// than hold it while waiting for records, and commit, so an
			// output that goes idle does not leave its cursor behind
			// (a crash would send everything since again).
			err = confirm(0)
			if err == nil && delivered != ru.r.Committed() {
				commit()
			}
		}
		if err == nil {
			recs, err = ru.read(ctx, recs)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("output %s: read journal: %w", ru.name, err)
			}
			var wait func() error
			wait, err = start(ctx, recs)
			if err == nil {
				inflight = append(inflight, flight{wait: wait, n: len(recs), end: recs[len(recs)-1].Seq + 1})
				err = confirm(1)
			} else if cerr := confirm(0); cerr != nil {
				err = cerr // the older batch failed first
			}
		}
		ru.syncServers()
		if err == nil {
			delay = 100 * time.Millisecond
			if time.Since(lastCommit) >= time.Second {
				commit()
			}
			continue
		}
		// Not delivered: read it again from the journal after a pause.
		ru.r.Rewind(delivered)
		errs.Inc()
		ru.mu.Lock()
		ru.status.Errors++
		ru.status.LastError, ru.status.LastErrorTime = err.Error(), time.Now()
		ru.mu.Unlock()
		ru.log.Warn("output: delivery failed; retrying, the journal keeps the records", "output", ru.name, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// sent is the wait of a batch a plain Sender has delivered.
func sent() error { return nil }

// read returns the next batch: up to ru.batch records, at least one.
func (ru *Runner) read(ctx context.Context, recs []journal.Record) ([]journal.Record, error) {
	recs, err := ru.r.Next(ctx, recs[:0], ru.batch)
	// A read returns what the reader's buffer holds; for a large batch,
	// keep the records (Next reuses its buffer) and read on while more is
	// there.
	for kept := 0; err == nil && len(recs) < ru.batch && ru.r.Position() < ru.j.NextSeq(); {
		keep(recs[kept:])
		kept = len(recs)
		var more []journal.Record
		more, err = ru.r.Next(ctx, nil, ru.batch-len(recs))
		recs = append(recs, more...)
	}
	return recs, err
}

// keep copies the records' data and origins out of the reader's buffer
// (into one allocation). An origin left there would be overwritten by
// the next read, and with it the event id made from it.
func keep(recs []journal.Record) {
	n := 0
	for i := range recs {
		n += len(recs[i].Data) + len(recs[i].Origin)
	}
	buf := make([]byte, 0, n)
	for i := range recs {
		r := &recs[i]
		start := len(buf)
		buf = append(buf, r.Data...)
		r.Data = buf[start:len(buf):len(buf)]
		if r.Origin != nil {
			start = len(buf)
			buf = append(buf, r.Origin...)
			r.Origin = buf[start:len(buf):len(buf)]
		}
	}
}

// WaitDelivered returns once the receiver confirmed every journal record
// before seq, or ctx.Err() when ctx ends first (safe from any goroutine).
func (ru *Runner) WaitDelivered(ctx context.Context, seq uint64) error {
	for {
		ru.mu.Lock()
		done, moved := ru.status.Position >= seq, ru.moved
		ru.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-moved:
		}
	}
}

// Status returns the output's state (safe from any goroutine).
func (ru *Runner) Status() Status {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	s := ru.status
	if next := ru.j.NextSeq(); next > s.Position {
		s.Lag = next - s.Position
	}
	if ru.servers != nil {
		s.Servers = ru.servers.Servers()
	}
	return s
}
