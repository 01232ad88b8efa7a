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
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
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
	// Workers add parsed batches to the store in parallel; default
	// GOMAXPROCS.
	Workers int
	// Parse configures the parser.
	Parse parse.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Detector, if set, sees every parsed record in journal order after
	// the store has it (the detection stage shares the indexer's parsing).
	Detector Detector
}

// Detector is the pipeline stage behind the store: it sees every parsed
// record once, in journal order, and keeps its own checkpoint.
type Detector interface {
	// Position is the first journal sequence number the detector has not
	// processed, from its checkpoint; 0 means it has none (it starts where
	// the indexer does). The indexer reads from the older of its own cursor
	// and this position, storing only what the store lacks.
	Position() uint64
	// Process handles one batch. The batch is valid only during the call.
	// ctx ends when the indexer gives up (its drain deadline at a stop):
	// work that waits (recording alerts) stops then.
	Process(ctx context.Context, b *Batch)
	// Idle is called about once a second when no batch is waiting, from
	// the same goroutine as Process (timers, checkpoints, reloads).
	Idle(ctx context.Context, now time.Time)
	// Flush is called once after the last batch, before Run returns.
	Flush(ctx context.Context)
}

// Batch is a run of parsed journal records handed to a Detector.
// NewBatch builds one outside the indexer (tests, replays).
type Batch struct {
	// Seqs are the rows' journal sequence numbers.
	Seqs []uint64
	// Received is when the batch's oldest record was received.
	Received time.Time
	Rows     []store.Row
	raw      []byte
	ends     []int
}

// NewBatch returns a batch of rows with their journal sequence numbers and
// original records (raw may be nil).
func NewBatch(seqs []uint64, rows []store.Row, raw [][]byte, received time.Time) *Batch {
	b := &Batch{Seqs: seqs, Rows: rows, Received: received}
	if raw != nil {
		for _, r := range raw {
			b.raw = append(b.raw, r...)
			b.ends = append(b.ends, len(b.raw))
		}
	}
	return b
}

// Raw returns the original record of row i (nil when the batch carries
// no raw records).
func (b *Batch) Raw(i int) []byte {
	if i < 0 || i >= len(b.ends) {
		return nil
	}
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.raw[start:b.ends[i]]
}

// Indexer moves records from the journal into the store.
type Indexer struct {
	j    *journal.Journal
	r    *journal.Reader
	st   store.Store
	p    *parse.Parser // used by the reading goroutine only
	opts Options
	log  *slog.Logger
	m    metrics
	// seen lists, sorted by seq, the records past the cursor that the
	// store already held at start (replay); nil when there are none.
	seen      []storedRec
	persisted store.Persisted // handed-off positions not yet committed
	done      atomic.Uint64   // next seq not yet handed to the store
	// storeFrom: records below it are in the store already (the reader
	// was rewound for the detector).
	storeFrom uint64
}

// storedRec is a record the store held at start: its journal sequence
// number and receive time (Unix milliseconds, the precision of
// vigil.received).
type storedRec struct {
	seq      uint64
	received int64
}

type metrics struct {
	records, skipped, parseErrors, storeErrors prometheus.Counter
	charsetErrors                              *prometheus.CounterVec
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
	ix := &Indexer{j: j, r: r, st: st, p: parse.New(opts.Parse), opts: opts, log: log,
		persisted: store.Persisted{Delay: opts.CommitDelay}}
	ix.done.Store(r.Position())
	ix.storeFrom = r.Position()
	if d := opts.Detector; d != nil {
		// Records below FirstSeq are gone by retention: not a loss of
		// the indexer's, which stored them before.
		if pos := max(d.Position(), j.FirstSeq()); d.Position() > 0 && pos < r.Position() {
			r.Rewind(pos)
			log.Info("index: reading from the detector's checkpoint", "detector", r.Position(), "index", ix.storeFrom)
		}
	}
	ix.m = metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_records_total",
			Help: "Journal records parsed and handed to the store."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_replay_skipped_total",
			Help: "Records replayed after a crash that the store already held (not stored twice)."}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_parse_errors_total",
			Help: "Records stored raw with a vigil.parse_error field."}),
		charsetErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_index_charset_errors_total",
			Help: "Records with bytes invalid in their input's charset (inputs.*.charset, UTF-8 by default), stored with U+FFFD and their exact bytes in vigil.raw_base64."},
			[]string{"input"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_index_store_errors_total",
			Help: "Failed store writes (retried; the journal keeps the records)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_index_delay_seconds",
			Help:    "Time from receiving a record to handing it to the store.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
	}
	if reg != nil {
		reg.MustRegister(ix.m.records, ix.m.skipped, ix.m.parseErrors, ix.m.charsetErrors, ix.m.storeErrors, ix.m.delay)
	}
	return ix, nil
}

// batch is the parsed rows of a run of consecutive journal records.
type batch struct {
	// n numbers batches in journal order; results are applied in this
	// order (seqs may jump where retention deleted records unread).
	n           uint64
	first, next uint64 // seqs: the batch covers [first, next)
	received    time.Time
	rows        []store.Row // what the store gets
	// det is every parsed record, for the detector (nil without one);
	// its Rows are rows when nothing was left out of the store.
	det *Batch
	// arena is the parser buffer the rows' strings end in: reused for a
	// later batch once the store and the detector are done with this one.
	arena []byte
}

// result is a worker's report on one batch.
type result struct {
	*batch
	err error
}

// Run indexes until ctx is done. Before it returns it indexes what the
// journal held when ctx ended (for at most drain), so a clean stop leaves
// nothing behind; the caller then closes the store and calls Commit.
//
// One goroutine reads the journal and parses every record in journal order
// (formats such as IIS keep per-sender state); the workers add parsed
// batches to the store in parallel; this goroutine collects their results
// and moves the position forward only over batches that are all stored.
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

	batches := make(chan *batch, ix.opts.Workers)
	results := make(chan result, 2*ix.opts.Workers)
	// Row slices, parser buffers and detector raw-text buffers to reuse:
	// a fresh buffer per batch was most of the pipeline's allocation;
	// reusing them saves the garbage collector about 8% of the CPU.
	keep := 2*ix.opts.Workers + 2 // of each kind
	bufs := reusable{rows: make(chan []store.Row, keep), arenas: make(chan []byte, keep), raws: make(chan []byte, keep)}
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(batches)
		readErr = ix.read(ctx, wctx, batches, bufs)
	})
	var workers sync.WaitGroup
	for range ix.opts.Workers {
		workers.Go(func() {
			for b := range batches {
				results <- result{batch: b, err: ix.add(wctx, b.rows)}
			}
		})
	}
	go func() { workers.Wait(); close(results) }()

	var detCh chan *batch
	var detDone sync.WaitGroup
	if d := ix.opts.Detector; d != nil {
		detCh = make(chan *batch, 1)
		detDone.Go(func() { ix.detect(wctx, d, detCh, bufs) })
	}
	defer func() {
		if detCh != nil {
			close(detCh)
			detDone.Wait()
		}
	}()

	tick := time.NewTicker(ix.opts.CommitInterval)
	defer tick.Stop()
	quietTick := time.NewTicker(quietFlush)
	defer quietTick.Stop()
	pending := make(map[uint64]*batch) // stored, by batch number
	// Caught up with the journal: make what was stored searchable sooner
	// than the store's own periodic flush would. Each flush makes a part
	// that the store merges again later, so while records keep arriving
	// it flushes at most once a second (flushing every 100 ms under a
	// steady 50k events/s took a tenth of the CPU in a profile); once the
	// input has paused for 100 ms (the end of a burst), at once.
	var (
		lastFlush, nextSince time.Time
		lastNext             uint64
	)
	flushed := true // nothing stored since the last flush
	flushIfCaughtUp := func() {
		f, ok := ix.st.(flusher)
		next := ix.j.NextSeq()
		now := ix.opts.Now()
		if next != lastNext {
			lastNext, nextSince = next, now
		}
		if !ok || flushed || ix.done.Load() < next {
			return
		}
		since := now.Sub(lastFlush)
		if since >= busyFlush || since >= quietFlush && now.Sub(nextSince) >= quietFlush {
			f.Flush()
			lastFlush, flushed = now, true
		}
	}
	var expect uint64 // the next batch number to apply
	failed := false
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				break
			}
			if detCh == nil {
				bufs.release(r.rows, r.arena, nil)
			}
			if r.err != nil {
				// Not stored; nothing after it may be committed either.
				// The journal keeps it for the next start.
				failed = true
				continue
			}
			pending[r.n] = r.batch
			flushed = false
			for !failed {
				b, ok := pending[expect]
				if !ok {
					break
				}
				delete(pending, expect)
				expect++
				now := ix.opts.Now()
				ix.m.delay.Observe(now.Sub(b.received).Seconds())
				ix.m.records.Add(float64(len(b.rows)))
				if b.next > ix.storeFrom {
					ix.persisted.Handed(b.next, now)
					ix.done.Store(b.next)
				}
				if detCh != nil {
					detCh <- b
				}
			}
			flushIfCaughtUp()
		case <-quietTick.C:
			flushIfCaughtUp()
		case <-tick.C:
			flushIfCaughtUp()
			if err := ix.commitDelayed(ix.opts.Now()); err != nil {
				ix.log.Error("index: commit cursor", "err", err)
			}
		}
	}
	wg.Wait()
	return readErr
}

// flusher is a store that can make added rows searchable at once.
type flusher interface{ Flush() }

// The indexer's flushes when it has caught up with the journal: at most
// every busyFlush while records keep arriving, and quietFlush after they
// stop.
const (
	busyFlush  = time.Second
	quietFlush = 100 * time.Millisecond
)

// reusable holds the memory of finished batches for later ones.
type reusable struct {
	rows         chan []store.Row
	arenas, raws chan []byte
}

// release offers a finished batch's row slice, parser buffer and raw-text
// buffer (any may be nil) for later batches.
func (r reusable) release(rows []store.Row, arena, raw []byte) {
	offer(r.rows, recycle(rows))
	offer(r.arenas, arena)
	offer(r.raws, raw)
}

// offer keeps s, emptied, for a later batch (dropped when enough are
// waiting).
func offer[S ~[]E, E any](ch chan<- S, s S) {
	if cap(s) == 0 {
		return
	}
	select {
	case ch <- s[:0]:
	default:
	}
}

// take returns a slice to reuse, or nil.
func take[S any](ch <-chan S) S {
	select {
	case s := <-ch:
		return s
	default:
		var none S
		return none
	}
}

// recycle returns rows emptied for reuse: their fields no longer refer to
// the parser arenas of the batches that filled them (a reused row slice
// would otherwise keep every arena alive whose strings still sit beyond
// its rows' current lengths).
func recycle(rows []store.Row) []store.Row {
	for i := range rows {
		clear(rows[i].Fields[:cap(rows[i].Fields)])
		rows[i].Fields = rows[i].Fields[:0]
	}
	return rows[:0]
}

// detect feeds applied batches to the detector in journal order and
// recycles their rows; between batches it lets the detector run timers.
func (ix *Indexer) detect(ctx context.Context, d Detector, in <-chan *batch, bufs reusable) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-in:
			if !ok {
				d.Flush(ctx)
				return
			}
			if len(b.det.Rows) > 0 {
				d.Process(ctx, b.det)
			}
			// The detector copies what it keeps of an event.
			bufs.release(b.det.Rows, b.arena, b.det.raw)
		case <-tick.C:
			d.Idle(ctx, ix.opts.Now())
		}
	}
}

// read parses batches for the workers until ctx is done, then until the
// journal's end as of that moment (or until dctx is done).
func (ix *Indexer) read(ctx, dctx context.Context, out chan<- *batch, bufs reusable) error {
	var (
		recs []journal.Record
		n    uint64
	)
	send := func() {
		b := ix.parse(recs, take(bufs.rows), bufs)
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

// parse turns recs into rows (reusing rs), skipping records a replay finds
// already stored. Strings in the rows live in a parser buffer of the
// batch's own (a finished batch's, reused), so the batch stays valid while
// the reader moves on.
func (ix *Indexer) parse(recs []journal.Record, rs []store.Row, bufs reusable) *batch {
	b := &batch{first: recs[0].Seq, next: recs[len(recs)-1].Seq + 1, received: recs[0].Time}
	size := 0
	for i := range recs {
		size += len(recs[i].Data)
	}
	// Parsed text is at most about twice the raw text (fields plus the
	// normalized names' values).
	ix.p.ResetWith(take(bufs.arenas), 2*size)
	rs = rs[:0]
	skipped, parseErrs := 0, 0
	var det *Batch
	var stored []store.Row // rows the store lacks, when some are left out
	var slab []store.Field // fields for new rows
	if ix.opts.Detector != nil {
		raw := take(bufs.raws)
		if cap(raw) < size {
			raw = make([]byte, 0, size)
		}
		det = &Batch{Seqs: make([]uint64, 0, len(recs)), raw: raw, ends: make([]int, 0, len(recs)), Received: recs[0].Time}
	}
	for i := range recs {
		rec := &recs[i]
		inStore := rec.Seq < ix.storeFrom || ix.stored(rec)
		if inStore {
			skipped++
			if det == nil {
				continue
			}
			if stored == nil {
				stored = append(make([]store.Row, 0, len(recs)), rs...)
			}
		}
		if len(rs) < cap(rs) {
			rs = rs[:len(rs)+1]
		} else {
			rs = append(rs, store.Row{})
		}
		row := &rs[len(rs)-1]
		if cap(row.Fields) == 0 {
			// A new row: its fields come from one allocation for the
			// rest of the batch instead of growing field by field.
			if len(slab) < rowFields {
				slab = make([]store.Field, rowFields*(len(recs)-i))
			}
			row.Fields, slab = slab[:0:rowFields], slab[rowFields:]
		}
		ix.p.Parse(rec, row)
		if row.Get(parse.FieldParseError) != "" && !inStore {
			parseErrs++
			if ix.p.InvalidText() {
				ix.m.charsetErrors.WithLabelValues(rec.Input).Inc()
			}
		}
		if det != nil {
			det.Seqs = append(det.Seqs, rec.Seq)
			// The text the rules' payloads show: decoded to UTF-8 for
			// an input with a charset.
			det.raw = append(det.raw, ix.p.Text()...)
			det.ends = append(det.ends, len(det.raw))
			if stored != nil && !inStore {
				stored = append(stored, *row)
			}
		}
	}
	if n := len(ix.seen); n > 0 && b.next > ix.seen[n-1].seq {
		ix.seen = nil // replay is over
	}
	ix.m.parseErrors.Add(float64(parseErrs))
	if b.first < ix.storeFrom {
		skipped = 0 // read again for the detector, not a replay
	}
	ix.m.skipped.Add(float64(skipped))
	b.rows = rs
	b.arena = ix.p.Buffer()
	if det != nil {
		det.Rows = rs
		b.det = det
		if stored != nil {
			b.rows = stored
		}
	}
	return b
}

// rowFields is the room for fields a new row gets: a JSON access log line
// has about 40 while it is mapped (its own keys, then the normalized
// fields that replace them); a row with more grows on its own.
const rowFields = 48

// add stores rows, retrying store errors until ctx is done.
func (ix *Indexer) add(ctx context.Context, rows []store.Row) error {
	return store.AddRetrying(ctx, ix.st, rows, func(err error, retryIn time.Duration) {
		ix.m.storeErrors.Inc()
		ix.log.Error("index: store rows; retrying, the journal keeps them", "err", err, "retry_in", retryIn)
	})
}

// commitDelayed commits the newest position handed to the store at least
// CommitDelay ago.
func (ix *Indexer) commitDelayed(now time.Time) error {
	if pos, ok := ix.persisted.Due(now); ok {
		return ix.r.Commit(pos)
	}
	return nil
}

// Commit commits the position of everything handed to the store. Call it
// only after the store was closed (flushed to disk) and Run has returned.
func (ix *Indexer) Commit() error {
	ix.persisted.Reset()
	return ix.r.Commit(ix.done.Load())
}

// Close releases the journal cursor.
func (ix *Indexer) Close() error { return ix.r.Close() }

// Position is the next journal sequence number to hand to the store;
// everything before it has been. Safe to call from any goroutine.
func (ix *Indexer) Position() uint64 { return ix.done.Load() }

// stored reports whether the store held rec at start (replay).
func (ix *Indexer) stored(rec *journal.Record) bool {
	if len(ix.seen) == 0 {
		return false
	}
	i, ok := slices.BinarySearchFunc(ix.seen, rec.Seq, func(s storedRec, seq uint64) int { return cmp.Compare(s.seq, seq) })
	return ok && ix.seen[i].received == rec.Time.UnixMilli()
}

// loadReplay asks the store which records past the cursor it already
// holds. The search callback's strings point into the store's buffers,
// which it reuses: each row is turned into numbers at once.
func (ix *Indexer) loadReplay(ctx context.Context) error {
	from, end := ix.done.Load(), ix.j.NextSeq()
	if from >= end {
		return nil
	}
	var seen []storedRec
	bad := 0
	q := store.Query{
		Text:  parse.FieldSeq + ":>=" + strconv.FormatUint(from, 10) + " | fields " + parse.FieldSeq + ", " + parse.FieldReceived,
		Order: store.Unordered,
	}
	err := ix.st.Search(ctx, q, func(r store.Row) error {
		seq, err := strconv.ParseUint(r.Get(parse.FieldSeq), 10, 64)
		if err != nil || seq >= end {
			return nil
		}
		t, err := time.Parse(parse.ReceivedLayout, r.Get(parse.FieldReceived))
		if err != nil {
			bad++
			return nil
		}
		seen = append(seen, storedRec{seq: seq, received: t.UnixMilli()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: find records stored before restart: %w", err)
	}
	slices.SortFunc(seen, func(a, b storedRec) int { return cmp.Compare(a.seq, b.seq) })
	ix.log.Info("index: replaying journal past the cursor", "from", from, "to", end, "already_stored", len(seen))
	if bad > 0 {
		ix.log.Warn("index: stored events with an unreadable vigil.received; they are stored again", "events", bad)
	}
	if len(seen) > 0 {
		ix.seen = seen
	}
	return nil
}
