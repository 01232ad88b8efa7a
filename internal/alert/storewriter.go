package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

// StoreConsumer is the store writer's cursor name in the alert journal.
const StoreConsumer = "store"

// StoreWriterOptions configure a StoreWriter.
type StoreWriterOptions struct {
	// CommitDelay is how long after handing alerts to the store the
	// cursor may move past them (they must be on the store's disk by
	// then); default 30 s, as the indexer's.
	CommitDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// StoreWriter adds the alerts recorded in the alert journal to the store,
// exactly once, the way the indexer stores events: its cursor moves only
// past alerts the store has had long enough to persist, and after a crash
// it asks the store which alerts past the cursor it already holds (by
// alert.id) and adds only the others.
type StoreWriter struct {
	j    *journal.Journal
	r    *journal.Reader
	st   store.Store
	opts StoreWriterOptions
	log  *slog.Logger
	held map[string]bool // replay: alert ids the store held at start
	// heldUntil: held covers the alert journal below it.
	heldUntil uint64
	persisted store.Persisted // handed-over positions not yet committed
	done      atomic.Uint64   // next alert journal seq not yet handed over
	// shown is done as of the last flush: the alerts before it are
	// searchable (Position). Stores without Flush show what they take.
	shown     atomic.Uint64
	lastFlush time.Time

	added, skipped, errs prometheus.Counter
}

// NewStoreWriter opens the store writer's cursor in the alert journal j.
// st is the store's alerts side (vlstore's Alerts, store.Alerts scope),
// which keeps alerts apart from the events they describe.
func NewStoreWriter(j *journal.Journal, st store.Store, opts StoreWriterOptions, reg prometheus.Registerer, log *slog.Logger) (*StoreWriter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CommitDelay <= 0 {
		opts.CommitDelay = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r, err := j.OpenReader(StoreConsumer)
	if err != nil {
		return nil, fmt.Errorf("alert store writer: %w", err)
	}
	w := &StoreWriter{j: j, r: r, st: st, opts: opts, log: log, persisted: store.Persisted{Delay: opts.CommitDelay},
		added: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_alert_store_added_total",
			Help: "Alerts added to the embedded store."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_alert_store_replay_skipped_total",
			Help: "Alerts read again after a crash that the store already held (not stored twice)."}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_alert_store_errors_total",
			Help: "Failed store writes of alerts (retried; the alert journal keeps them)."}),
	}
	w.done.Store(r.Position())
	w.shown.Store(r.Position())
	if reg != nil {
		if err := errors.Join(reg.Register(w.added), reg.Register(w.skipped), reg.Register(w.errs)); err != nil {
			r.Close()
			return nil, fmt.Errorf("alert store writer: %w", err)
		}
	}
	return w, nil
}

// Run adds alerts until ctx is done, then until the alert journal's end
// as of that moment (for at most drain). The caller then closes the store
// and calls Commit.
func (w *StoreWriter) Run(ctx context.Context, drain time.Duration) error {
	if err := w.loadReplay(ctx); err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drain, cancel) })
	defer stop()
	var recs []journal.Record
	var rows []store.Row
	for {
		end := w.j.NextSeq()
		if ctx.Err() != nil && w.r.Position() >= end {
			return nil
		}
		// Wake every second to commit what has waited long enough.
		nctx, ncancel := context.WithTimeout(ctx, time.Second)
		if ctx.Err() != nil {
			nctx, ncancel = context.WithCancel(dctx)
			ncancel() // draining: read what is there, do not wait
		}
		var err error
		recs, err = w.r.Next(nctx, recs[:0], 1000)
		ncancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("alert store writer: read alert journal: %w", err)
		}
		if len(recs) > 0 {
			rows = w.rows(recs, rows[:0])
			if err := w.add(dctx, rows); err != nil {
				w.log.Warn("alert store writer: stopped before the store took these alerts; they are added at next start", "alerts", len(rows))
				return nil
			}
			next := recs[len(recs)-1].Seq + 1
			w.persisted.Handed(next, w.opts.Now())
			w.done.Store(next)
		}
		w.show(w.opts.Now())
		if err := w.commitDelayed(w.opts.Now()); err != nil {
			w.log.Error("alert store writer: commit cursor", "err", err)
		}
		if dctx.Err() != nil {
			return nil
		}
	}
}

// rows turns alert records into store rows, leaving out those the store
// held at start.
func (w *StoreWriter) rows(recs []journal.Record, rows []store.Row) []store.Row {
	for i := range recs {
		var a Alert
		if err := json.Unmarshal(recs[i].Data, &a); err != nil {
			w.log.Error("alert store writer: unreadable alert record; skipped", "seq", recs[i].Seq, "err", err)
			continue
		}
		if w.held[a.ID] {
			w.skipped.Inc()
			continue
		}
		rows = append(rows, a.Row())
	}
	if w.held != nil && recs[len(recs)-1].Seq+1 >= w.heldUntil {
		w.held = nil // replay is over
	}
	return rows
}

// add stores rows, retrying store errors until ctx is done.
func (w *StoreWriter) add(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	err := store.AddRetrying(ctx, w.st, rows, func(err error, retryIn time.Duration) {
		w.errs.Inc()
		w.log.Error("alert store writer: store alerts; retrying, the alert journal keeps them", "err", err, "retry_in", retryIn)
	})
	if err == nil {
		w.added.Add(float64(len(rows)))
	}
	return err
}

// commitDelayed commits the newest position handed to the store at least
// CommitDelay ago.
func (w *StoreWriter) commitDelayed(now time.Time) error {
	if pos, ok := w.persisted.Due(now); ok {
		return w.r.Commit(pos)
	}
	return nil
}

// Commit commits the position of everything handed to the store. Call
// it only after the store was closed (flushed to disk) and Run returned.
func (w *StoreWriter) Commit() error {
	w.persisted.Reset()
	return w.r.Commit(w.done.Load())
}

// Close releases the cursor.
func (w *StoreWriter) Close() error { return w.r.Close() }

// Position is the next alert journal sequence number whose alert is not
// yet searchable in the store. Safe from any goroutine.
func (w *StoreWriter) Position() uint64 { return w.shown.Load() }

// Alerts handed to the store become searchable when it flushes: by itself
// within about a second, or when the writer asks. The writer asks once it
// has caught up with the alert journal (at the end of a burst), at most
// every showQuiet, and every showBusy while alerts keep coming, as the
// indexer does for events.
const (
	showQuiet = 100 * time.Millisecond
	showBusy  = time.Second
)

// show flushes the store if alerts handed over are not searchable yet and
// it is time to, then moves Position.
func (w *StoreWriter) show(now time.Time) {
	done := w.done.Load()
	if w.shown.Load() >= done {
		return
	}
	f, ok := w.st.(interface{ Flush() })
	if !ok {
		w.shown.Store(done)
		return
	}
	since := now.Sub(w.lastFlush)
	if since >= showBusy || since >= showQuiet && w.r.Position() >= w.j.NextSeq() {
		f.Flush()
		w.lastFlush = now
		w.shown.Store(done)
	}
}

// loadReplay asks the store which of the alerts past the cursor it holds
// already. The search callback's strings point into the store's reused
// buffers: the ids are copied.
func (w *StoreWriter) loadReplay(ctx context.Context) error {
	from, end := w.r.Position(), w.j.NextSeq()
	if from >= end {
		return nil
	}
	var first, last time.Time
	_, err := ScanJournal(w.j, from, func(a *Alert) {
		if first.IsZero() || a.TS.Before(first) {
			first = a.TS
		}
		if a.TS.After(last) {
			last = a.TS
		}
	})
	if err != nil {
		return fmt.Errorf("alert store writer: %w", err)
	}
	if first.IsZero() {
		return nil
	}
	held := map[string]bool{}
	q := store.Query{Text: "event.dataset:" + Dataset + " | fields " + FieldID, Scope: store.Alerts,
		Start: first.Add(-time.Second), End: last.Add(time.Second), Order: store.Unordered}
	err = w.st.Search(ctx, q, func(row store.Row) error {
		if id := row.Get(FieldID); id != "" {
			held[strings.Clone(id)] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alert store writer: find alerts stored before restart: %w", err)
	}
	w.log.Info("alert store writer: replaying the alert journal past the cursor", "from", from, "to", end, "already_stored", len(held))
	if len(held) > 0 {
		w.held, w.heldUntil = held, end
	}
	return nil
}
