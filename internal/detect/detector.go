package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
)

// DetectorOptions configure the pipeline's detection stage.
type DetectorOptions struct {
	// Dir holds the checkpoint (state file).
	Dir string
	// Builtin is the built-in rule pack (nil: none); Disable lists rule ids
	// not to run.
	Builtin fs.FS
	Disable []string
	// Enabled are run-time overrides (rule id -> enabled) that win over
	// Disable and the rules' own disabled key; see SetEnabled.
	Enabled map[string]bool
	// RulesDir is the user's rule folder, reloaded when it changes.
	RulesDir string
	// Engine options; Emit and Payloads are set by the detector.
	Engine Options
	// Journal serves payloads of events older than the recent batches,
	// and tells where a replay after a crash ends.
	Journal *journal.Journal
	// Charsets decode those payloads for inputs whose senders do not
	// write UTF-8 (the parser's Charsets).
	Charsets charset.Inputs
	// Alerts is the alert journal. Every alert raised is appended to it
	// (its JSON, see package alert) before the checkpoint moves past the
	// events that raised it; the store, the alert channels and the
	// outputs read alerts from there, each from its own cursor. An alert
	// raised again by a replay after a crash (same alert.id) is not
	// appended again. Nil: alerts are only logged and counted.
	Alerts *journal.Journal
	// AlertLog, when set, records the alerts instead of Alerts (a Kafka
	// topic shared by several nodes).
	AlertLog AlertLog
	// Checkpoints, when set, keeps the checkpoint instead of the state
	// file in Dir.
	Checkpoints Checkpoints
	// InputEnd returns the position after the last event that exists now
	// (default: Journal's next sequence number): a replay after a
	// resume ends there.
	InputEnd func(ctx context.Context) (uint64, error)
	// OnCheckpoint, when set, is called after every checkpoint written
	// with its position (on the detector's goroutine).
	OnCheckpoint func(pos uint64)
	// Filter, when set, is asked about each event of a batch that is not
	// before the checkpoint, in order, with its index in the batch; an
	// event it refuses is not processed (a duplicate). Its own state goes
	// into the checkpoints with the engine's (see Checkpoints).
	Filter func(i int) bool
	// Standby leaves the checkpoint unread: Resume reads it when the
	// detector takes over (one elected detector among several nodes).
	Standby bool
	// CheckpointEvery is the wall-clock interval between checkpoints
	// (default 10 s); ReloadEvery between checks of RulesDir (default 5 s).
	CheckpointEvery, ReloadEvery time.Duration
	Log                          *slog.Logger
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// AlertInput is the input name of the alert journal's records.
const AlertInput = alert.Input

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
	// skewNoted is when the status last got the skewed senders.
	skewNoted time.Time

	// replayed holds the ids of the alerts appended to the alert journal
	// after the checkpoint this detector resumed from: a replay raises
	// them again and they are not appended twice. It is dropped once the
	// replay has passed replayUntil (the journal's end at start).
	replayed    map[string]bool
	replayUntil uint64
	// replayFrom is the alert position of the checkpoint resumed from:
	// while the replay runs, checkpoints keep it, so that a crash during
	// the replay still finds every alert it must not raise twice.
	replayFrom uint64
	// unrecorded is set when alerts could not be appended to the alert
	// journal before a stop: no checkpoint is written after that, so the
	// next start raises them again.
	unrecorded bool
	alertRecs  []journal.Record

	rulesSig  string
	loader    Loader
	pack      atomic.Pointer[Pack]
	overrides atomic.Pointer[map[string]bool] // SetEnabled's
	pending   atomic.Bool                     // overrides changed, not applied yet
	mu        sync.Mutex                      // guards status
	status    Status
	m         detectorMetrics
	alertsBuf []*alert.Alert
}

type detectorMetrics struct {
	checkpoints, checkpointErrs, reloads, ruleErrors prometheus.Counter
	replayed, recordErrs                             prometheus.Counter
	lag                                              prometheus.Gauge
	delay                                            prometheus.Histogram
}

// Status is the detector's state for the API.
type Status struct {
	Rules      int      `json:"rules"`
	RuleErrors []string `json:"rule_errors,omitempty"`
	// Position is the next journal sequence number to process;
	// CheckpointPosition the one in the last checkpoint (where a crash
	// would resume), written at LastCheckpoint.
	Position           uint64    `json:"position"`
	CheckpointPosition uint64    `json:"checkpoint_position"`
	LastCheckpoint     time.Time `json:"last_checkpoint,omitzero"`
	// NewestEvent is the newest event time seen.
	NewestEvent time.Time `json:"newest_event_time,omitzero"`
	// Alerts counts the alerts raised since start; AlertsReplayed those
	// raised again by the replay after a crash (recorded once before).
	Alerts         uint64 `json:"alerts"`
	AlertsReplayed uint64 `json:"alerts_replayed"`
	// ClockSkew lists the senders whose clock runs ahead (watermark.go).
	ClockSkew []SkewedSource `json:"clock_skew"`
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if opts.AlertLog == nil && opts.Alerts != nil {
		opts.AlertLog = journalAlerts{opts.Alerts}
	}
	if opts.Checkpoints == nil {
		opts.Checkpoints = fileCheckpoints{checkpointPath(opts.Dir)}
	}
	if opts.InputEnd == nil && opts.Journal != nil {
		j := opts.Journal
		opts.InputEnd = func(context.Context) (uint64, error) { return j.NextSeq(), nil }
	}
	d := &Detector{opts: opts, log: opts.Log}
	d.loader.Builtin = opts.Builtin
	if opts.RulesDir != "" {
		d.loader.Paths = []string{opts.RulesDir}
	}
	if opts.Enabled != nil {
		d.overrides.Store(&opts.Enabled)
	}
	d.m = detectorMetrics{
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_checkpoints_total",
			Help: "Detection state checkpoints written."}),
		checkpointErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_checkpoint_errors_total",
			Help: "Detection state checkpoints that failed (the previous one stays)."}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_rule_reloads_total",
			Help: "Reloads of the user's rule folder."}),
		ruleErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_rule_errors_total",
			Help: "Rule files or rules that failed to load (the previous version keeps running)."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_alerts_replayed_total",
			Help: "Alerts raised again by the replay after a crash and not recorded twice (same alert.id)."}),
		recordErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_alert_record_errors_total",
			Help: "Failed appends of alerts to the alert journal (retried)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_position",
			Help: "Next journal sequence number the detector will process."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_detect_alert_delay_seconds",
			Help:    "Time from receiving the oldest record of the batch that raised an alert to recording the alert in the alert journal.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60}}),
	}
	if reg != nil {
		reg.MustRegister(d.m.checkpoints, d.m.checkpointErrs, d.m.reloads, d.m.ruleErrors, d.m.replayed, d.m.recordErrs, d.m.lag, d.m.delay)
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
	if !opts.Standby {
		if err := d.restore(context.Background()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Resume drops the engine's state and loads the latest checkpoint, for a
// detector that takes over from another (DetectorOptions.Standby): the
// events from the checkpoint's position on are then processed again, and
// the alerts recorded after the checkpoint are not recorded twice. Call
// it from the goroutine that calls Process.
func (d *Detector) Resume(ctx context.Context) error {
	d.eng.Reset()
	d.pos, d.loaded, d.dirty, d.unrecorded = 0, 0, false, false
	d.replayed, d.replayUntil, d.replayFrom = nil, 0, 0
	d.lastCheckpoint, d.lastEventWall, d.lastEventTime = time.Time{}, time.Time{}, time.Time{}
	clear(d.alertsBuf)
	d.alertsBuf = d.alertsBuf[:0]
	d.mu.Lock()
	d.status.Position, d.status.CheckpointPosition, d.status.LastCheckpoint = 0, 0, time.Time{}
	d.mu.Unlock()
	return d.restore(ctx)
}

// loadRules reads the built-in pack and the user's folder (a user file
// that fails keeps its last good version), publishes the pack and returns
// the rules to run: without the disabled ones, with the run-time
// overrides applied.
func (d *Detector) loadRules() ([]*Rule, []error) {
	if d.opts.RulesDir != "" {
		d.rulesSig = dirSignature(d.opts.RulesDir)
	}
	all, errs := d.loader.Load()
	var over map[string]bool
	if p := d.overrides.Load(); p != nil {
		over = *p
	}
	pack, run := Decide(all, d.opts.Disable, over)
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	d.pack.Store(&Pack{Rules: pack, Errors: msgs, Loaded: d.opts.Now()})
	return run, errs
}

// SetEnabled turns a rule on or off at run time, overriding its file and
// detect.disable; the change applies within about a second (the
// detector's goroutine reloads the rules). overrides is the complete set
// (rule id -> enabled), e.g. as kept in the state store.
func (d *Detector) SetEnabled(overrides map[string]bool) {
	m := make(map[string]bool, len(overrides))
	for k, v := range overrides {
		m[k] = v
	}
	d.overrides.Store(&m)
	// The pack shows the new states at once; the rules run them from the
	// next reload.
	if p := d.pack.Load(); p != nil {
		rules := make([]*Rule, len(p.Rules))
		for i, r := range p.Rules {
			rules[i] = r.Rule
		}
		pack, _ := Decide(rules, d.opts.Disable, m)
		d.pack.Store(&Pack{Rules: pack, Errors: p.Errors, Loaded: p.Loaded})
	}
	d.pending.Store(true)
}

// Pack returns the rule pack as last loaded (safe from any goroutine):
// every rule with whether it runs, and the loader's problems.
func (d *Detector) Pack() *Pack { return d.pack.Load() }

// RuleStats returns each running rule's counters (safe from any
// goroutine, without stopping detection).
func (d *Detector) RuleStats() map[string]RuleStats { return d.eng.Stats() }

// applyPending reloads the rules when SetEnabled changed them.
func (d *Detector) applyPending() {
	if d.pending.CompareAndSwap(true, false) {
		d.Reload()
	}
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

// restore loads the checkpoint: "POSITION alerts=SEQ\n" then the engine's
// state (an older checkpoint has only the position on its first line).
func (d *Detector) restore(ctx context.Context) error {
	data, written, err := d.opts.Checkpoints.Load(ctx)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if data == nil {
		return nil
	}
	line, rest, ok := bytes.Cut(data, []byte("\n"))
	head := strings.Fields(string(line))
	var pos, alertPos uint64
	var perr error
	hasAlerts := false
	if len(head) > 0 {
		pos, perr = strconv.ParseUint(head[0], 10, 64)
	}
	for _, f := range head[min(1, len(head)):] {
		if v, ok := strings.CutPrefix(f, "alerts="); ok && perr == nil {
			alertPos, perr = strconv.ParseUint(v, 10, 64)
			hasAlerts = true
		}
	}
	if !ok || len(head) == 0 || perr != nil {
		d.log.Error("detect: checkpoint is damaged; starting with empty state", "file", stateFile)
		return nil
	}
	ids, err := d.eng.Restore(bytes.NewReader(rest))
	if err != nil {
		d.log.Error("detect: checkpoint state unreadable; starting with empty state", "err", err)
	}
	d.pos, d.loaded = pos, pos
	if hasAlerts {
		if err := d.loadReplayed(ctx, alertPos); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.status.Position, d.status.CheckpointPosition = pos, pos
	d.status.NewestEvent = time.Unix(0, d.eng.newest).UTC()
	d.status.LastCheckpoint = written
	d.mu.Unlock()
	d.m.lag.Set(float64(pos))
	d.log.Info("detect: resumed from checkpoint", "position", pos, "rules_restored", len(ids), "alerts_after_checkpoint", len(d.replayed))
	return nil
}

// loadReplayed reads the ids of the alerts recorded from alert log
// position from on: those a replay raises again.
func (d *Detector) loadReplayed(ctx context.Context, from uint64) error {
	if d.opts.AlertLog == nil {
		return nil
	}
	// The end of the input first: every alert recorded before it was
	// raised by an event before it.
	var until uint64
	if d.opts.InputEnd != nil {
		end, err := d.opts.InputEnd(ctx)
		if err != nil {
			return fmt.Errorf("detect: end of the replay: %w", err)
		}
		until = end
	}
	replayed := map[string]bool{}
	bad, err := d.opts.AlertLog.Scan(ctx, from, func(a *alert.Alert) { replayed[a.ID] = true })
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if bad > 0 {
		d.log.Warn("detect: unreadable records in the alert log", "records", bad)
	}
	d.replayed, d.replayUntil, d.replayFrom = replayed, until, from
	return nil
}

// Position implements index.Detector.
func (d *Detector) Position() uint64 { return d.loaded }

// Process implements index.Detector.
func (d *Detector) Process(ctx context.Context, b *index.Batch) {
	d.applyPending()
	now := d.opts.Now()
	if d.lastCheckpoint.IsZero() && d.loaded == 0 && len(b.Seqs) > 0 {
		// The first batch ever: record where detection starts before
		// anything else, so a crash before the first periodic checkpoint
		// resumes here instead of wherever the indexer's cursor got to.
		d.pos = b.Seqs[0]
		d.dirty = true
		d.checkpoint(now)
		d.loaded = d.pos
	}
	for i := range b.Rows {
		seq := b.Seqs[i]
		if seq < d.pos {
			continue // before the checkpoint: processed already
		}
		if d.opts.Filter != nil && !d.opts.Filter(i) {
			continue
		}
		row := &b.Rows[i]
		d.ev = Event{Seq: seq, Time: row.Time, Fields: row.Fields, Raw: b.Raw(i)}
		d.eng.Process(&d.ev)
	}
	if n := len(b.Seqs); n > 0 && b.Seqs[n-1] >= d.pos {
		d.pos = b.Seqs[n-1] + 1
		d.dirty = true
	}
	d.ev = Event{} // no reference to the batch after it
	d.lastEventWall, d.lastEventTime = now, time.Unix(0, d.eng.newest)
	d.noteSkew(now)
	if len(d.alertsBuf) > 0 && !b.Received.IsZero() {
		delay := now.Sub(b.Received).Seconds()
		for range d.alertsBuf {
			d.m.delay.Observe(delay)
		}
	}
	d.deliver(ctx)
	if d.replayed != nil && d.pos >= d.replayUntil {
		if len(d.replayed) > 0 {
			d.log.Info("detect: the replay after the crash is over; some alerts recorded before it were not raised again",
				"alerts", len(d.replayed))
		}
		d.replayed = nil
	}
	d.m.lag.Set(float64(d.pos))
	d.mu.Lock()
	d.status.Position = d.pos
	d.status.NewestEvent = time.Unix(0, d.eng.newest).UTC()
	d.mu.Unlock()
	if now := d.opts.Now(); now.Sub(d.lastCheckpoint) >= d.opts.CheckpointEvery {
		d.checkpoint(now)
	}
}

// Idle implements index.Detector: it moves timers on by the wall clock
// when nothing arrives (so a source that fell silent is noticed even when
// every source did), reloads changed rules and checkpoints.
func (d *Detector) Idle(ctx context.Context, now time.Time) {
	d.applyPending()
	if !d.lastEventWall.IsZero() {
		d.eng.Advance(d.lastEventTime.Add(now.Sub(d.lastEventWall)).Add(-d.eng.opts.Lateness))
		if len(d.alertsBuf) > 0 {
			d.dirty = true
		}
		d.deliver(ctx)
	}
	d.noteSkew(now)
	if d.opts.RulesDir != "" && now.Sub(d.lastReload) >= d.opts.ReloadEvery {
		d.lastReload = now
		if sig := dirSignature(d.opts.RulesDir); sig != d.rulesSig {
			d.Reload()
		}
	}
	if d.dirty && now.Sub(d.lastCheckpoint) >= d.opts.CheckpointEvery {
		d.checkpoint(now)
	}
}

// noteSkew copies the senders whose clock runs ahead into the status when
// they changed, at most once a second.
func (d *Detector) noteSkew(now time.Time) {
	if !d.eng.skewChanged() || now.Sub(d.skewNoted) < time.Second {
		return
	}
	d.skewNoted = now
	list := d.eng.SkewedSources()
	d.mu.Lock()
	d.status.ClockSkew = list
	d.mu.Unlock()
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
func (d *Detector) Flush(ctx context.Context) {
	d.deliver(ctx)
	if d.dirty {
		d.checkpoint(d.opts.Now())
	}
}

// deliver records the alerts raised since the last call in the alert
// journal, where the store, the channels and the outputs read them. An
// alert that the replay after a crash raises again (its id was recorded
// after the checkpoint this detector resumed from) is not recorded twice.
// Recording waits, retrying, while the alert journal refuses (a full
// disk): detection pauses rather than lose an alert. If ctx ends first,
// no checkpoint is written any more, so the next start raises the alerts
// again.
func (d *Detector) deliver(ctx context.Context) {
	if len(d.alertsBuf) == 0 {
		return
	}
	recs := d.alertRecs[:0]
	replayed := 0
	now := d.opts.Now()
	for _, a := range d.alertsBuf {
		if d.replayed[a.ID] {
			delete(d.replayed, a.ID)
			replayed++
			continue
		}
		d.log.Info("alert", "rule", a.RuleID, "level", a.Level, "group", a.Group, "count", a.Count, "alert_id", a.ID, "message", a.Message)
		data, err := json.Marshal(a)
		if err != nil {
			d.log.Error("detect: cannot encode alert", "rule", a.RuleID, "err", err)
			continue
		}
		recs = append(recs, journal.Record{Time: now, Input: AlertInput, Data: data})
	}
	if len(recs) > 0 && d.opts.AlertLog != nil && !d.record(ctx, recs) {
		d.unrecorded = true
		d.log.Error("detect: stopped before these alerts were recorded; the next start raises them again", "alerts", len(recs))
	}
	d.m.replayed.Add(float64(replayed))
	d.mu.Lock()
	d.status.Alerts += uint64(len(recs))
	d.status.AlertsReplayed += uint64(replayed)
	d.mu.Unlock()
	clear(recs)
	d.alertRecs = recs[:0]
	clear(d.alertsBuf)
	d.alertsBuf = d.alertsBuf[:0]
}

// record appends recs to the alert journal, retrying until it takes
// them; it reports false if ctx ended first.
func (d *Detector) record(ctx context.Context, recs []journal.Record) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := d.opts.AlertLog.Append(ctx, recs)
		if err == nil {
			return true
		}
		d.m.recordErrs.Inc()
		d.log.Error("detect: cannot record alerts; detection waits and retries", "alerts", len(recs), "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// checkpoint writes the engine's state with its position ("POSITION
// alerts=SEQ\n" + state, SEQ the alert journal's next sequence number):
// first the alert journal is synced, so the alerts raised before the
// checkpoint are as durable as it is; then the state goes to a temp file,
// synced and renamed over the state file. After alerts could not be
// recorded no checkpoint is written.
func (d *Detector) checkpoint(now time.Time) {
	d.lastCheckpoint = now
	if !d.dirty || d.unrecorded {
		return
	}
	var alertPos uint64
	if al := d.opts.AlertLog; al != nil {
		if err := al.Sync(); err != nil {
			d.m.checkpointErrs.Inc()
			d.log.Error("detect: cannot sync the alert log; the previous checkpoint stays", "err", err)
			return
		}
		alertPos = al.NextSeq()
		if d.replayed != nil {
			// Mid-replay: alerts recorded before the resume that the
			// replay has not raised again yet are after this position.
			alertPos = d.replayFrom
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d alerts=%d\n", d.pos, alertPos)
	if err := d.eng.Snapshot(&b); err != nil {
		d.m.checkpointErrs.Inc()
		d.log.Error("detect: snapshot failed; the previous checkpoint stays", "err", err)
		return
	}
	if err := d.opts.Checkpoints.Save(context.Background(), b.Bytes()); err != nil {
		d.m.checkpointErrs.Inc()
		d.log.Error("detect: checkpoint failed; the previous one stays", "err", err)
		return
	}
	d.dirty = false
	d.m.checkpoints.Inc()
	d.mu.Lock()
	d.status.CheckpointPosition, d.status.LastCheckpoint = d.pos, now.UTC()
	d.mu.Unlock()
	if d.opts.OnCheckpoint != nil {
		d.opts.OnCheckpoint(d.pos)
	}
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
	s.ClockSkew = append([]SkewedSource{}, s.ClockSkew...)
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
				out[rec.Seq] = d.opts.Charsets.Text(rec.Input, data)
				delete(want, rec.Seq)
			}
			if rec.Seq >= hi {
				clear(want)
			}
		}
	}
	return out
}
