// Package index is the journal consumer that makes events searchable: it
// reads records from its durable journal cursor, parses them and adds them
// to the store.
//
// Exactly once: each stored row carries its journal sequence number
// (vigil.seq) and receive time. The cursor is committed only for records the
// store has had long enough to persist (the store flushes to disk about
// every second; CommitDelay is far longer). After a crash, the indexer asks
// the store which records past the cursor it already holds and skips them,
// so replay adds only what the crash lost.
package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// ConsumerName is the indexer's cursor name in the journal.
const ConsumerName = "index"

// Options configure an Indexer.
type Options struct {
	// Batch is the most records read, parsed and stored at once.
	Batch int
	// CommitInterval is how often the cursor is committed.
	CommitInterval time.Duration
	// CommitDelay is how long after handing records to the store the
	// cursor may move past them (they must be on the store's disk by then).
	CommitDelay time.Duration
	// Workers parse and store parts of each batch in parallel; default
	// GOMAXPROCS.
	Workers int
	// Parse configures the parser.
	Parse parse.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Indexer moves records from the journal into the store.
type Indexer struct {
	j       *journal.Journal
	r       *journal.Reader
	st      store.Store
	workers []*worker
	opts    Options
	log     *slog.Logger
	m       metrics
	seen    map[uint64]string // replay: seq -> receive time already stored
	until   uint64            // replay: seen covers seqs below this
	marks   []mark            // handed-off positions not yet committed
	done    atomic.Uint64     // next seq not yet handed to the store
}

type mark struct {
	pos uint64
	at  time.Time
}

type metrics struct {
	records, skipped, parseErrors, storeErrors prometheus.Counter
	delay                                      prometheus.Histogram
}

// New opens the indexer's journal cursor.
func New(j *journal.Journal, st store.Store, opts Options, reg prometheus.Registerer, log *slog.Logger) (*Indexer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Batch <= 0 {
		opts.Batch = 4096
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	if opts.CommitDelay <= 0 {
		opts.CommitDelay = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	r, err := j.OpenReader(ConsumerName)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	ix := &Indexer{j: j, r: r, st: st, opts: opts, log: log}
	for range opts.Workers {
		ix.workers = append(ix.workers, &worker{p: parse.New(opts.Parse)})
	}
	ix.done.Store(r.Position())
	ix.m = metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_records_total",
			Help: "Journal records parsed and handed to the store."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_replay_skipped_total",
			Help: "Records replayed after a crash that the store already held (not stored twice)."}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_parse_errors_total",
			Help: "Records stored raw with a vigil.parse_error field."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_store_errors_total",
			Help: "Failed store writes (retried; the journal keeps the records)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_index_delay_seconds",
			Help:    "Time from receiving a record to handing it to the store.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
	}
	if reg != nil {
		reg.MustRegister(ix.m.records, ix.m.skipped, ix.m.parseErrors, ix.m.storeErrors, ix.m.delay)
	}
	return ix, nil
}

// Run indexes until ctx is done. Before it returns it indexes what the
// journal already holds (bounded by drain), so a clean stop leaves nothing
// behind; the caller then closes the store and calls Commit.
func (ix *Indexer) Run(ctx context.Context, drain time.Duration) error {
	if err := ix.loadReplay(ctx); err != nil {
		return err
	}
	var (
		recs []journal.Record
		err  error
	)
	lastCommit := ix.opts.Now()
	for {
		recs, err = ix.r.Next(ctx, recs[:0], ix.opts.Batch)
		if err != nil {
			break
		}
		if err := ix.store(ctx, recs); err != nil {
			// Stopped while the store was failing: the batch stays in
			// the journal past the cursor and is indexed at next start.
			return nil
		}
		if now := ix.opts.Now(); now.Sub(lastCommit) >= ix.opts.CommitInterval {
			lastCommit = now
			if err := ix.commitDelayed(now); err != nil {
				ix.log.Error("index: commit cursor", "err", err)
			}
		}
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("index: read journal: %w", err)
	}
	return ix.drain(drain)
}

// drain indexes whatever the journal holds at shutdown.
func (ix *Indexer) drain(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	end := ix.j.NextSeq()
	var recs []journal.Record
	for ix.r.Position() < end {
		var err error
		recs, err = ix.r.Next(ctx, recs[:0], ix.opts.Batch)
		if err != nil {
			ix.log.Warn("index: stopped before the journal's end; the rest is indexed at next start",
				"position", ix.r.Position(), "end", end, "err", err)
			return nil
		}
		if err := ix.store(ctx, recs); err != nil {
			return nil
		}
	}
	return nil
}

// worker parses and stores one share of a batch.
type worker struct {
	p         *parse.Parser
	rows      []store.Row
	parseErrs int
	skipped   int
}

// store parses recs and adds them to the store, split across the workers,
// retrying store errors until ctx is done.
func (ix *Indexer) store(ctx context.Context, recs []journal.Record) error {
	if len(recs) == 0 {
		return nil
	}
	n := len(ix.workers)
	if len(recs) < 256 {
		n = 1 // not worth a goroutine
	}
	share := (len(recs) + n - 1) / n
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		lo, hi := i*share, min((i+1)*share, len(recs))
		if lo >= hi {
			continue
		}
		w := ix.workers[i]
		if i == n-1 {
			errs[i] = ix.work(ctx, w, recs[lo:hi])
			continue
		}
		wg.Go(func() { errs[i] = ix.work(ctx, w, recs[lo:hi]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ix.seen != nil && recs[len(recs)-1].Seq >= ix.until {
		ix.seen = nil // replay is over
	}
	now := ix.opts.Now()
	stored, parseErrs, skipped := 0, 0, 0
	for _, w := range ix.workers[:n] {
		stored += len(w.rows)
		parseErrs += w.parseErrs
		skipped += w.skipped
	}
	ix.m.records.Add(float64(stored))
	ix.m.parseErrors.Add(float64(parseErrs))
	ix.m.skipped.Add(float64(skipped))
	ix.m.delay.Observe(now.Sub(recs[0].Time).Seconds())
	next := recs[len(recs)-1].Seq + 1
	ix.marks = append(ix.marks, mark{pos: next, at: now})
	ix.done.Store(next)
	return nil
}

// work parses recs into w.rows and adds them to the store.
func (ix *Indexer) work(ctx context.Context, w *worker, recs []journal.Record) error {
	rs := w.rows[:0]
	w.parseErrs, w.skipped = 0, 0
	for i := range recs {
		rec := &recs[i]
		if ix.seen != nil && rec.Seq < ix.until {
			if ix.seen[rec.Seq] == rec.Time.UTC().Format(time.RFC3339Nano) {
				w.skipped++
				continue
			}
		}
		if len(rs) < cap(rs) {
			rs = rs[:len(rs)+1]
		} else {
			rs = append(rs, store.Row{})
		}
		row := &rs[len(rs)-1]
		w.p.Parse(rec, row)
		if row.Get(parse.FieldParseError) != "" {
			w.parseErrs++
		}
	}
	w.rows = rs
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := ix.st.Add(rs)
		if err == nil {
			break
		}
		ix.m.storeErrors.Inc()
		ix.log.Error("index: store rows; retrying, the journal keeps them", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	w.p.Reset()
	return nil
}

// commitDelayed commits the newest position handed to the store at least
// CommitDelay ago.
func (ix *Indexer) commitDelayed(now time.Time) error {
	i := 0
	for i < len(ix.marks) && now.Sub(ix.marks[i].at) >= ix.opts.CommitDelay {
		i++
	}
	if i == 0 {
		return nil
	}
	pos := ix.marks[i-1].pos
	ix.marks = append(ix.marks[:0], ix.marks[i:]...)
	return ix.r.Commit(pos)
}

// Commit commits the position of everything handed to the store. Call it
// only after the store was closed (flushed to disk) and Run has returned.
func (ix *Indexer) Commit() error {
	ix.marks = ix.marks[:0]
	return ix.r.Commit(ix.done.Load())
}

// Close releases the journal cursor.
func (ix *Indexer) Close() error { return ix.r.Close() }

// Position is the next journal sequence number to hand to the store;
// everything before it has been. Safe to call from any goroutine.
func (ix *Indexer) Position() uint64 { return ix.done.Load() }

// loadReplay asks the store which records past the cursor it already holds.
func (ix *Indexer) loadReplay(ctx context.Context) error {
	from, end := ix.done.Load(), ix.j.NextSeq()
	if from >= end {
		return nil
	}
	seen := make(map[uint64]string)
	q := store.Query{
		Text:  parse.FieldSeq + ":>=" + strconv.FormatUint(from, 10) + " | fields " + parse.FieldSeq + ", " + parse.FieldReceived,
		Order: store.Unordered,
	}
	err := ix.st.Search(ctx, q, func(r store.Row) error {
		seq, err := strconv.ParseUint(r.Get(parse.FieldSeq), 10, 64)
		if err == nil && seq < end {
			seen[seq] = r.Get(parse.FieldReceived)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: find records stored before restart: %w", err)
	}
	ix.log.Info("index: replaying journal past the cursor", "from", from, "to", end, "already_stored", len(seen))
	if len(seen) > 0 {
		ix.seen, ix.until = seen, end
	}
	return nil
}
