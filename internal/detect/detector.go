package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/journal"
)

// DetectorOptions configure the pipeline's detection stage.
type DetectorOptions struct {
	// Dir holds the checkpoint (state file).
	Dir string
	// Builtin is the built-in rule pack (nil: none); Disable lists rule ids
	// not to run.
	Builtin fs.FS
	Disable []string
	// RulesDir is the user's rule folder, reloaded when it changes.
	RulesDir string
	// Engine options; Emit and Payloads are set by the detector.
	Engine Options
	// Journal serves payloads of events older than the recent batches.
	Journal *journal.Journal
	// Sinks receive every alert (the store, notification channels).
	Sinks []alert.Sink
	// CheckpointEvery is the wall-clock interval between checkpoints
	// (default 10 s); ReloadEvery between checks of RulesDir (default 5 s).
	CheckpointEvery, ReloadEvery time.Duration
	// CheckpointDelay is how long a state snapshot waits in memory before
	// it is written (default 30 s, the indexer's commit delay): by then the
	// store has the alerts raised before it on disk, so a crash can only
	// make the detector raise alerts again, never lose one.
	CheckpointDelay time.Duration
	Log             *slog.Logger
}

// Detector runs the engine behind the indexer (it implements
// index.Detector): one goroutine feeds it parsed batches in journal order.
// It checkpoints the engine's state together with the journal position, so
// a restart resumes exactly where the state was taken, and reloads the
// user's rules when their files change.
type Detector struct {
	opts   DetectorOptions
	eng    *Engine
	log    *slog.Logger
	pos    uint64 // next seq to process
	loaded uint64 // position read from the checkpoint
	dirty  bool
	ev     Event // the event being processed (the engine keeps no *Event)

	lastCheckpoint, lastReload time.Time
	// wall clock of the last event and the newest event time then (for
	// advancing timers when nothing arrives at all).
	lastEventWall time.Time
	lastEventTime time.Time

	// pending is a snapshot ("position\n" + state) waiting for
	// CheckpointDelay before it is written.
	pending   []byte
	pendingAt time.Time

	rulesSig  string
	good      map[string][]*Rule // user rule file -> last version that loaded
	mu        sync.Mutex         // guards status
	status    Status
	m         detectorMetrics
	alertsBuf []*alert.Alert
}

type detectorMetrics struct {
	checkpoints, checkpointErrs, reloads, ruleErrors prometheus.Counter
	lag                                              prometheus.Gauge
	delay                                            prometheus.Histogram
}

// Status is the detector's state for the API.
type Status struct {
	Rules          int       `json:"rules"`
	RuleErrors     []string  `json:"rule_errors,omitempty"`
	Position       uint64    `json:"position"`
	LastCheckpoint time.Time `json:"last_checkpoint"`
	NewestEvent    time.Time `json:"newest_event_time"`
	Alerts         uint64    `json:"alerts"`
}

// stateFile is the checkpoint's name in DetectorOptions.Dir.
const stateFile = "state"

// NewDetector loads the rules and the checkpoint.
func NewDetector(opts DetectorOptions, reg prometheus.Registerer) (*Detector, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 10 * time.Second
	}
	if opts.ReloadEvery <= 0 {
		opts.ReloadEvery = 5 * time.Second
	}
	if opts.CheckpointDelay <= 0 {
		opts.CheckpointDelay = 30 * time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	d := &Detector{opts: opts, log: opts.Log, good: map[string][]*Rule{}}
	d.m = detectorMetrics{
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_checkpoints_total",
			Help: "Detection state checkpoints written."}),
		checkpointErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_checkpoint_errors_total",
			Help: "Detection state checkpoints that failed (the previous one stays)."}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_rule_reloads_total",
			Help: "Reloads of the user's rule folder."}),
		ruleErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_rule_errors_total",
			Help: "Rule files or rules that failed to load (the previous version keeps running)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_position",
			Help: "Next journal sequence number the detector will process."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_detect_alert_delay_seconds",
			Help:    "Time from receiving the oldest record of the batch that raised an alert to handing the alert to its channels.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60}}),
	}
	if reg != nil {
		reg.MustRegister(d.m.checkpoints, d.m.checkpointErrs, d.m.reloads, d.m.ruleErrors, d.m.lag, d.m.delay)
	}
	eopts := opts.Engine
	eopts.Emit = func(a *alert.Alert) { d.alertsBuf = append(d.alertsBuf, a) }
	eopts.Payloads = d.payloads
	if eopts.Log == nil {
		eopts.Log = opts.Log
	}
	if eopts.Registerer == nil {
		eopts.Registerer = reg
	}
	rules, errs := d.loadRules()
	eng, cerrs := New(rules, eopts)
	d.eng = eng
	d.noteRuleErrors(append(errs, cerrs...))
	if err := d.restore(); err != nil {
		return nil, err
	}
	return d, nil
}

// loadRules reads the built-in pack and the user's folder; a user file that
// fails keeps its last good version.
func (d *Detector) loadRules() ([]*Rule, []error) {
	var errs []error
	var builtin []*Rule
	if d.opts.Builtin != nil {
		var e []error
		builtin, e = LoadRules(d.opts.Builtin, ".")
		errs = append(errs, e...)
	}
	var user []*Rule
	if d.opts.RulesDir != "" {
		d.rulesSig = dirSignature(d.opts.RulesDir)
		rs, e := LoadRules(os.DirFS(d.opts.RulesDir), ".")
		byFile := map[string][]*Rule{}
		for _, r := range rs {
			// A rule whose expressions do not compile breaks its file like
			// a YAML error does: the file's previous version stays.
			if err := Compile(r); err != nil {
				e = append(e, &RuleError{File: r.File, ID: r.ID, Err: err})
				continue
			}
			byFile[r.File] = append(byFile[r.File], r)
		}
		for _, err := range e {
			var re *RuleError
			if errors.As(err, &re) {
				delete(byFile, re.File) // all or nothing per file
			}
		}
		for _, err := range e {
			var re *RuleError
			if errors.As(err, &re) {
				if prev, ok := d.good[re.File]; ok {
					byFile[re.File] = prev
					err = fmt.Errorf("%w (the previous version keeps running)", err)
				}
			}
			errs = append(errs, err)
		}
		d.good = byFile
		files := make([]string, 0, len(byFile))
		for f := range byFile {
			files = append(files, f)
		}
		sort.Strings(files)
		for _, f := range files {
			user = append(user, byFile[f]...)
		}
	}
	rules, e := Merge(builtin, user)
	errs = append(errs, e...)
	return Without(rules, d.opts.Disable), errs
}

func (d *Detector) noteRuleErrors(errs []error) {
	var msgs []string
	for _, err := range errs {
		d.log.Error("detect: rule not loaded", "err", err)
		d.m.ruleErrors.Inc()
		msgs = append(msgs, err.Error())
	}
	d.mu.Lock()
	d.status.RuleErrors = msgs
	d.status.Rules = len(d.eng.rules)
	d.mu.Unlock()
}

// dirSignature identifies the state of a folder's rule files.
func dirSignature(dir string) string {
	var b bytes.Buffer
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

func (d *Detector) restore() error {
	data, err := os.ReadFile(filepath.Join(d.opts.Dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detect: read checkpoint: %w", err)
	}
	line, rest, ok := bytes.Cut(data, []byte("\n"))
	pos, perr := strconv.ParseUint(string(line), 10, 64)
	if !ok || perr != nil {
		d.log.Error("detect: checkpoint is damaged; starting with empty state", "file", stateFile)
		return nil
	}
	ids, err := d.eng.Restore(bytes.NewReader(rest))
	if err != nil {
		d.log.Error("detect: checkpoint state unreadable; starting with empty state", "err", err)
	}
	d.pos, d.loaded = pos, pos
	d.log.Info("detect: resumed from checkpoint", "position", pos, "rules_restored", len(ids))
	return nil
}

// Position implements index.Detector.
func (d *Detector) Position() uint64 { return d.loaded }

// Process implements index.Detector.
func (d *Detector) Process(b *index.Batch) {
	if d.lastCheckpoint.IsZero() && d.loaded == 0 && len(b.Seqs) > 0 {
		// The first batch ever: record where detection starts before
		// anything else, so a crash before the first periodic checkpoint
		// resumes here instead of wherever the indexer's cursor got to.
		d.pos = b.Seqs[0]
		d.checkpoint(time.Now(), true)
		d.loaded = d.pos
	}
	for i := range b.Rows {
		seq := b.Seqs[i]
		if seq < d.pos {
			continue // before the checkpoint: processed already
		}
		row := &b.Rows[i]
		d.ev = Event{Seq: seq, Time: row.Time, Fields: row.Fields, Raw: b.Raw(i)}
		d.eng.Process(&d.ev)
	}
	if n := len(b.Seqs); n > 0 && b.Seqs[n-1] >= d.pos {
		d.pos = b.Seqs[n-1] + 1
		d.dirty = true
	}
	now := time.Now()
	d.ev = Event{} // no reference to the batch after it
	d.lastEventWall, d.lastEventTime = now, time.Unix(0, d.eng.newest)
	if len(d.alertsBuf) > 0 && !b.Received.IsZero() {
		delay := now.Sub(b.Received).Seconds()
		for range d.alertsBuf {
			d.m.delay.Observe(delay)
		}
	}
	d.deliver()
	d.m.lag.Set(float64(d.pos))
	if now.Sub(d.lastCheckpoint) >= d.opts.CheckpointEvery {
		d.checkpoint(now, false)
	}
}

// Idle implements index.Detector: it moves timers on by the wall clock
// when nothing arrives (so a source that fell silent is noticed even when
// every source did), reloads changed rules and checkpoints.
func (d *Detector) Idle(now time.Time) {
	if !d.lastEventWall.IsZero() {
		d.eng.Advance(d.lastEventTime.Add(now.Sub(d.lastEventWall)).Add(-d.eng.opts.Lateness))
		d.deliver()
	}
	if d.opts.RulesDir != "" && now.Sub(d.lastReload) >= d.opts.ReloadEvery {
		d.lastReload = now
		if sig := dirSignature(d.opts.RulesDir); sig != d.rulesSig {
			d.Reload()
		}
	}
	if (d.dirty || d.pending != nil) && now.Sub(d.lastCheckpoint) >= d.opts.CheckpointEvery {
		d.checkpoint(now, false)
	}
}

// Reload reloads the rules now. A rule file that fails keeps its previous
// version; unchanged rules keep their state.
func (d *Detector) Reload() {
	rules, errs := d.loadRules()
	errs = append(errs, d.eng.SetRules(rules)...)
	d.m.reloads.Inc()
	d.noteRuleErrors(errs)
	d.log.Info("detect: rules reloaded", "rules", len(d.eng.rules), "errors", len(errs))
}

// Flush implements index.Detector: it writes the final checkpoint.
func (d *Detector) Flush() {
	d.deliver()
	if d.dirty || d.pending != nil {
		// The store is closed (flushed) after this: nothing to wait for.
		d.checkpoint(time.Now(), true)
	}
}

func (d *Detector) deliver() {
	if len(d.alertsBuf) == 0 {
		return
	}
	for _, a := range d.alertsBuf {
		d.log.Info("alert", "rule", a.RuleID, "level", a.Level, "group", a.Group, "count", a.Count, "message", a.Message)
		for _, s := range d.opts.Sinks {
			s.Send(a)
		}
	}
	d.mu.Lock()
	d.status.Alerts += uint64(len(d.alertsBuf))
	d.mu.Unlock()
	clear(d.alertsBuf)
	d.alertsBuf = d.alertsBuf[:0]
}

// checkpoint takes a snapshot ("position\n" + engine state). Unless now
// is set, the snapshot waits in memory for CheckpointDelay and an older
// waiting one that has served its delay is written instead: the alerts
// raised before a snapshot must be on the store's disk before the
// checkpoint moves past them. Writing goes to a temp file, synced and
// renamed over the state file.
func (d *Detector) checkpoint(now time.Time, direct bool) {
	d.lastCheckpoint = now
	if direct {
		d.pending = nil
	}
	if d.pending != nil && now.Sub(d.pendingAt) >= d.opts.CheckpointDelay {
		d.write(d.pending, now)
		d.pending = nil
	}
	if !direct && (d.pending != nil || !d.dirty) {
		return
	}
	var b bytes.Buffer
	b.WriteString(strconv.FormatUint(d.pos, 10))
	b.WriteByte('\n')
	if err := d.eng.Snapshot(&b); err != nil {
		d.m.checkpointErrs.Inc()
		d.log.Error("detect: snapshot failed; the previous checkpoint stays", "err", err)
		return
	}
	d.dirty = false
	if direct {
		d.write(b.Bytes(), now)
		return
	}
	d.pending, d.pendingAt = b.Bytes(), now
}

func (d *Detector) write(snap []byte, now time.Time) {
	if err := writeFileSync(filepath.Join(d.opts.Dir, stateFile), snap); err != nil {
		d.m.checkpointErrs.Inc()
		d.log.Error("detect: checkpoint failed; the previous one stays", "err", err)
		return
	}
	pos, _ := strconv.ParseUint(string(snap[:bytes.IndexByte(snap, '\n')]), 10, 64)
	d.m.checkpoints.Inc()
	d.mu.Lock()
	d.status.Position, d.status.LastCheckpoint = pos, now
	d.status.NewestEvent = time.Unix(0, d.eng.newest).UTC()
	d.mu.Unlock()
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// Status returns the detector's state (safe from any goroutine).
func (d *Detector) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.RuleErrors = append([]string(nil), s.RuleErrors...)
	return s
}

// payloads reads the original text of events from the journal. The
// engine captures contributing events' text as they arrive, so this runs
// only for events from before a restart or beyond the engine's payload
// memory; the scan is bounded (it reads forward from the oldest wanted
// record, at most 50 000 records).
func (d *Detector) payloads(seqs []uint64) map[uint64]string {
	out := make(map[uint64]string, len(seqs))
	if len(seqs) == 0 || d.opts.Journal == nil {
		return out
	}
	lo, hi := seqs[0], seqs[0]
	want := make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		lo, hi = min(lo, s), max(hi, s)
		want[s] = true
	}
	r, err := d.opts.Journal.ReaderAt(lo)
	if err != nil {
		return out
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next becomes a non-blocking poll
	var recs []journal.Record
	for scanned := 0; len(want) > 0 && scanned < 50_000; {
		recs, err = r.Next(ctx, recs[:0], 1024)
		if err != nil || len(recs) == 0 {
			break
		}
		scanned += len(recs)
		for _, rec := range recs {
			if want[rec.Seq] {
				data := rec.Data
				if len(data) > maxPayload {
					data = data[:maxPayload]
				}
				out[rec.Seq] = string(data)
				delete(want, rec.Seq)
			}
			if rec.Seq >= hi {
				clear(want)
			}
		}
	}
	return out
}
