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

// batch is a run of consecutive journal records, with its own copy of
// their data so that workers can hold it while the reader moves on.
type batch struct {
	// n numbers batches in journal order; results are applied in this
	// order (seqs may jump where retention deleted records unread).
	n    uint64
	recs []journal.Record
	// replay: some records may already be in the store.
	replay bool
}

// result is a worker's report on one batch.
type result struct {
	n           uint64 // the batch's number
	first, next uint64 // seqs: the batch covered [first, next)
	err         error
	received    time.Time // receive time of the batch's first record
}

// Run indexes until ctx is done. Before it returns it indexes what the
// journal held when ctx ended (for at most drain), so a clean stop leaves
// nothing behind; the caller then closes the store and calls Commit.
//
// One goroutine reads batches from the journal while the workers parse and
// store earlier ones; this goroutine collects their results and moves the
// position forward only over batches that are all stored.
func (ix *Indexer) Run(ctx context.Context, drain time.Duration) error {
	if err := ix.loadReplay(ctx); err != nil {
		return err
	}
	// Workers keep retrying a failing store until the drain deadline, so a
	// stop does not abandon a batch that a second retry would store.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(drain, wcancel) })
	defer stopDrain()

	batches := make(chan *batch, len(ix.workers))
	results := make(chan result, 2*len(ix.workers))
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(batches)
		readErr = ix.read(ctx, wctx, batches)
	})
	var workers sync.WaitGroup
	for _, w := range ix.workers {
		workers.Go(func() {
			for b := range batches {
				results <- ix.work(wctx, w, b)
			}
		})
	}
	go func() { workers.Wait(); close(results) }()

	tick := time.NewTicker(ix.opts.CommitInterval)
	defer tick.Stop()
	pending := make(map[uint64]result) // by batch number
	var expect uint64                  // the next batch number to apply
	failed := false
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				break
			}
			if r.err != nil {
				// Not stored; nothing after it may be committed either.
				// The journal keeps it for the next start.
				failed = true
				continue
			}
			pending[r.n] = r
			for !failed {
				r, ok := pending[expect]
				if !ok {
					break
				}
				delete(pending, expect)
				expect++
				now := ix.opts.Now()
				ix.m.delay.Observe(now.Sub(r.received).Seconds())
				ix.marks = append(ix.marks, mark{pos: r.next, at: now})
				ix.done.Store(r.next)
			}
		case <-tick.C:
			if err := ix.commitDelayed(ix.opts.Now()); err != nil {
				ix.log.Error("index: commit cursor", "err", err)
			}
		}
	}
	wg.Wait()
	return readErr
}

// read feeds batches to the workers until ctx is done, then until the
// journal's end as of that moment (or until dctx is done).
func (ix *Indexer) read(ctx, dctx context.Context, out chan<- *batch) error {
	var (
		recs []journal.Record
		n    uint64
	)
	send := func() {
		b := ix.copyBatch(recs)
		b.n = n
		n++
		out <- b
	}
	for {
		var err error
		recs, err = ix.r.Next(ctx, recs[:0], ix.opts.Batch)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return fmt.Errorf("index: read journal: %w", err)
		}
		send()
	}
	end := ix.j.NextSeq()
	for ix.r.Position() < end {
		var err error
		recs, err = ix.r.Next(dctx, recs[:0], ix.opts.Batch)
		if err != nil {
			ix.log.Warn("index: stopped before the journal's end; the rest is indexed at next start",
				"position", ix.r.Position(), "end", end, "err", err)
			return nil
		}
		send()
	}
	return nil
}

// copyBatch copies recs and their data out of the reader's buffers.
func (ix *Indexer) copyBatch(recs []journal.Record) *batch {
	n := 0
	for i := range recs {
		n += len(recs[i].Data)
	}
	slab := make([]byte, 0, n)
	b := &batch{recs: make([]journal.Record, len(recs))}
	for i, r := range recs {
		off := len(slab)
		slab = append(slab, r.Data...)
		r.Data = slab[off:len(slab):len(slab)]
		b.recs[i] = r
	}
	b.replay = ix.seen != nil && recs[0].Seq < ix.until
	return b
}

// worker parses and stores batches; each has its own parser.
type worker struct {
	p    *parse.Parser
	rows []store.Row
}

// work parses b and adds it to the store, retrying store errors until ctx
// is done.
func (ix *Indexer) work(ctx context.Context, w *worker, b *batch) result {
	res := result{n: b.n, first: b.recs[0].Seq, next: b.recs[len(b.recs)-1].Seq + 1, received: b.recs[0].Time}
	rs := w.rows[:0]
	skipped, parseErrs := 0, 0
	for i := range b.recs {
		rec := &b.recs[i]
		if b.replay && rec.Seq < ix.until && ix.seen[rec.Seq] == rec.Time.UTC().Format(parse.ReceivedLayout) {
			skipped++
			continue
		}
		if len(rs) < cap(rs) {
			rs = rs[:len(rs)+1]
		} else {
			rs = append(rs, store.Row{})
		}
		row := &rs[len(rs)-1]
		w.p.Parse(rec, row)
		if row.Get(parse.FieldParseError) != "" {
			parseErrs++
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
			w.p.Reset()
			res.err = ctx.Err()
			return res
		case <-time.After(delay):
		}
	}
	w.p.Reset()
	ix.m.records.Add(float64(len(rs)))
	ix.m.parseErrors.Add(float64(parseErrs))
	ix.m.skipped.Add(float64(skipped))
	return res
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
