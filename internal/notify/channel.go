package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

// Channel kinds, as ChannelStatus.Kind reports them.
const (
	kindSyslog  = "syslog"
	kindWebhook = "webhook"
	kindSMTP    = "smtp"
)

// dropLogEvery bounds the log lines about a full queue.
const dropLogEvery = 10 * time.Second

// item is one alert to deliver.
type item struct {
	a  *alert.Alert
	at time.Time // when Send queued it, or when it was recorded
}

// sender delivers alerts over one channel's transport. Only the channel's
// worker goroutine calls send and idle.
type sender interface {
	// send delivers one alert. Errors marked with permanent are not
	// retried; a retryAfter error asks for a minimum wait before the next
	// attempt.
	send(ctx context.Context, it item) error
	// idle is called when the queue has run empty after a delivery, so a
	// sender can close a session it keeps open only while busy.
	idle()
	// close releases the transport; the worker has exited.
	close() error
}

// filter is implemented by senders that take only some alerts beyond the
// min_level check.
type filter interface {
	wants(a *alert.Alert) bool
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth retrying.
func permanent(err error) error { return &permanentError{err} }

// retryAfterError carries a server's request to wait before retrying.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// channel is one configured destination: a bounded queue and the worker
// that drains it through a sender.
type channel struct {
	name, kind, target string
	min                int
	d                  Delivery
	s                  sender
	f                  filter // nil: level only
	m                  chanMetrics
	log                *slog.Logger
	wake               chan struct{} // capacity 1: "the queue may have items"
	now                func() time.Time

	// Following the alert journal (r != nil): done is the alert journal
	// position up to which every alert is finished (delivered, given up
	// or not for this channel); only the worker sets it and lastCommit.
	r          *journal.Reader
	done       atomic.Uint64
	lastCommit time.Time

	mu        sync.Mutex
	buf       []item // ring of len d.QueueSize
	head, n   int
	closed    bool // Close has begun: no more items
	sent      uint64
	failed    uint64
	dropped   uint64
	errs      uint64
	lastErr   string
	lastErrAt time.Time
	lastOK    time.Time
	down      bool      // the last attempt failed
	dropLogAt time.Time // last log line about a full queue
	dropQuiet uint64    // drops since that line
}

func newChannel(name, kind, target, minLevel string, d Delivery, s sender, m chanMetrics, log *slog.Logger, now func() time.Time) *channel {
	d = d.withDefaults()
	c := &channel{
		name:   name,
		kind:   kind,
		target: target,
		min:    minRank(minLevel),
		d:      d,
		s:      s,
		m:      m,
		log:    log.With("channel", name, "kind", kind),
		wake:   make(chan struct{}, 1),
		now:    now,
		buf:    make([]item, d.QueueSize),
	}
	if f, ok := s.(filter); ok {
		c.f = f
	}
	return c
}

// accepts reports whether the channel takes a.
func (c *channel) accepts(a *alert.Alert) bool {
	return passes(a.Level, c.min) && (c.f == nil || c.f.wants(a))
}

// offer queues it without blocking, dropping the oldest item when the
// queue is full.
func (c *channel) offer(it item) {
	var logDrop bool
	var quiet uint64
	c.mu.Lock()
	if c.closed {
		c.dropped++
		c.mu.Unlock()
		c.m.dropped.Inc()
		return
	}
	size := len(c.buf)
	if c.n == size {
		c.buf[c.head] = item{}
		c.head = (c.head + 1) % size
		c.n--
		c.dropped++
		c.m.dropped.Inc()
		c.dropQuiet++
		if now := it.at; now.Sub(c.dropLogAt) >= dropLogEvery {
			logDrop, quiet = true, c.dropQuiet
			c.dropLogAt, c.dropQuiet = now, 0
		}
	}
	c.buf[(c.head+c.n)%size] = it
	c.n++
	c.m.queue.Set(float64(c.n))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if logDrop {
		c.log.Warn("notify: queue full, dropping the oldest alerts", "dropped", quiet, "queue_size", size)
	}
}

// pop takes the oldest item.
func (c *channel) pop() (item, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return item{}, false
	}
	it := c.buf[c.head]
	c.buf[c.head] = item{}
	c.head = (c.head + 1) % len(c.buf)
	c.n--
	c.m.queue.Set(float64(c.n))
	return it, true
}

// empty reports whether nothing is queued.
func (c *channel) empty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n == 0
}

// shut stops taking items.
func (c *channel) shut() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// discard drops what is left in the queue and returns how many.
func (c *channel) discard() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	for c.n > 0 {
		c.buf[c.head] = item{}
		c.head = (c.head + 1) % len(c.buf)
		c.n--
	}
	c.dropped += uint64(n)
	c.m.dropped.Add(float64(n))
	c.m.queue.Set(0)
	return n
}

// run is the channel's worker. It returns when ctx is done, or when drain
// is closed and the queue is empty.
func (c *channel) run(ctx context.Context, drain <-chan struct{}) {
	for {
		it, ok := c.pop()
		if !ok {
			select {
			case <-c.wake:
				continue
			case <-drain:
				if c.empty() {
					return
				}
				continue
			case <-ctx.Done():
				return
			}
		}
		c.deliver(ctx, it)
		if ctx.Err() != nil {
			return
		}
		if c.empty() {
			c.s.idle()
		}
	}
}

// deliver tries it until it is sent, fails for good or ctx is done.
func (c *channel) deliver(ctx context.Context, it item) {
	deadline := it.at.Add(c.d.MaxAge.D())
	if !c.now().Before(deadline) {
		c.giveUp(it, errors.New("waited in the queue longer than max_age"))
		return
	}
	for attempt := 1; ; attempt++ {
		err := c.s.send(ctx, it)
		if err == nil {
			c.success()
			return
		}
		if ctx.Err() != nil {
			c.abandon()
			return
		}
		c.attemptFailed(err)
		var pe *permanentError
		if errors.As(err, &pe) {
			c.giveUp(it, err)
			return
		}
		if attempt >= c.d.MaxAttempts {
			c.giveUp(it, fmt.Errorf("%w (after %d attempts)", err, attempt))
			return
		}
		wait := c.backoff(attempt)
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > wait {
			wait = ra.after
		}
		if c.now().Add(wait).After(deadline) {
			c.giveUp(it, fmt.Errorf("%w (max_age reached after %d attempts)", err, attempt))
			return
		}
		c.log.Debug("notify: retrying", "alert_id", it.a.ID, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.abandon()
			return
		}
	}
}

// commitEvery bounds how often a channel following the alert journal
// commits its cursor while alerts keep coming; it commits at once when it
// catches up. An alert is sent again after a crash only if the crash came
// between its delivery and that commit.
const commitEvery = 200 * time.Millisecond

// follow is the channel's worker when it follows the alert journal: it
// delivers the alerts from its cursor in order, committing the cursor
// past each one it finished. It returns when ctx is done (the alert being
// delivered then is delivered again after the next start), or when drain
// is closed and it has reached the journal's end.
func (c *channel) follow(ctx context.Context, j *journal.Journal, drain <-chan struct{}) {
	defer c.commit()
	// wait ends when drain is closed: Next then returns what is there
	// and no longer waits for more.
	wait, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // ends with wait, at the latest when follow returns
		select {
		case <-drain:
			stop()
		case <-wait.Done():
		}
	}()
	var recs []journal.Record
	for {
		var err error
		recs, err = c.r.Next(wait, recs[:0], 100)
		if err != nil {
			return // drained, stopped or the journal closed
		}
		for i := range recs {
			rec := &recs[i]
			a := new(alert.Alert)
			if err := json.Unmarshal(rec.Data, a); err != nil {
				c.giveUp(item{a: &alert.Alert{}, at: rec.Time}, fmt.Errorf("unreadable alert record %d: %w", rec.Seq, err))
			} else if c.accepts(a) {
				c.deliver(ctx, item{a: a, at: rec.Time})
				if ctx.Err() != nil {
					return
				}
			}
			c.done.Store(rec.Seq + 1)
			if c.now().Sub(c.lastCommit) >= commitEvery {
				c.commit()
			}
		}
		c.m.queue.Set(float64(c.pending(j)))
		if c.r.Position() >= j.NextSeq() {
			c.commit()
			c.s.idle()
		}
	}
}

// pending is the number of alert journal records a channel following it
// has not finished.
func (c *channel) pending(j *journal.Journal) int {
	return int(j.NextSeq() - c.done.Load())
}

// commit commits the cursor of a channel following the alert journal up
// to what it finished.
func (c *channel) commit() {
	done := c.done.Load()
	if c.r == nil || done == c.r.Committed() {
		return
	}
	if err := c.r.Commit(done); err != nil && !errors.Is(err, journal.ErrClosed) {
		c.log.Error("notify: commit cursor", "err", err)
	}
	c.lastCommit = c.now()
}

// backoff is the wait after the given failed attempt: Backoff doubled per
// attempt, capped at MaxBackoff, less up to a fifth of random jitter.
func (c *channel) backoff(attempt int) time.Duration {
	d := c.d.Backoff.D()
	for i := 1; i < attempt && d < c.d.MaxBackoff.D(); i++ {
		d *= 2
	}
	d = min(d, c.d.MaxBackoff.D())
	if j := int64(d / 5); j > 0 {
		d -= time.Duration(rand.Int64N(j))
	}
	return d
}

func (c *channel) success() {
	c.mu.Lock()
	c.sent++
	c.lastOK = c.now()
	wasDown := c.down
	c.down = false
	c.mu.Unlock()
	c.m.sent.Inc()
	if wasDown {
		c.log.Info("notify: channel recovered")
	}
}

func (c *channel) attemptFailed(err error) {
	c.mu.Lock()
	c.errs++
	c.lastErr = err.Error()
	c.lastErrAt = c.now()
	wasDown := c.down
	c.down = true
	c.mu.Unlock()
	c.m.errors.Inc()
	if !wasDown {
		c.log.Warn("notify: delivery failed", "err", err)
	}
}

// giveUp counts an alert that will not be delivered.
func (c *channel) giveUp(it item, err error) {
	c.mu.Lock()
	c.failed++
	c.lastErr = err.Error()
	c.lastErrAt = c.now()
	c.mu.Unlock()
	c.m.failed.Inc()
	c.log.Warn("notify: alert not delivered", "alert_id", it.a.ID, "rule", it.a.RuleID, "err", err)
}

// abandon counts the in-flight alert cut short by shutdown as dropped
// (following the alert journal, it stays there for the next start).
func (c *channel) abandon() {
	if c.r != nil {
		return
	}
	c.mu.Lock()
	c.dropped++
	c.mu.Unlock()
	c.m.dropped.Inc()
}

// ChannelStatus is the state of one channel for the status API.
type ChannelStatus struct {
	Name string `json:"name"`
	// Kind is syslog, webhook or smtp.
	Kind string `json:"kind"`
	// Target is where the channel delivers, without credentials or URL
	// path: host:port for syslog and SMTP, scheme://host for a webhook.
	Target string `json:"target"`
	// Sent counts delivered alerts.
	Sent uint64 `json:"sent"`
	// Failed counts alerts given up on (permanent error, max_attempts or
	// max_age).
	Failed uint64 `json:"failed"`
	// Dropped counts alerts pushed out of a full queue or left at shutdown.
	Dropped uint64 `json:"dropped"`
	// Errors counts failed attempts, retried ones included.
	Errors uint64 `json:"errors"`
	// Queued is the number of alerts waiting now.
	Queued int `json:"queued"`
	// LastError is the text of the last failed attempt and LastErrorTime
	// its time (zero when none yet).
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LastSuccessTime is the time of the last delivery (zero when none).
	LastSuccessTime time.Time `json:"last_success_time,omitzero"`
}

func (c *channel) status() ChannelStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ChannelStatus{
		Name:            c.name,
		Kind:            c.kind,
		Target:          c.target,
		Sent:            c.sent,
		Failed:          c.failed,
		Dropped:         c.dropped,
		Errors:          c.errs,
		Queued:          c.n,
		LastError:       c.lastErr,
		LastErrorTime:   c.lastErrAt,
		LastSuccessTime: c.lastOK,
	}
}
