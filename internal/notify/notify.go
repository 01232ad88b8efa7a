// Package notify delivers alerts to the network channels: syslog
// (RFC5424 or RFC3164 over UDP, TCP or TLS), webhooks (HTTP POST of the
// alert JSON, or the message of a DingTalk, WeCom or Feishu group robot)
// and mail (SMTP).
//
// In the server every channel follows the alert journal (NewFollowing):
// its worker reads the alerts the detector recorded there from the
// channel's own durable cursor, delivers them in order, retries with
// capped exponential backoff, gives up after max_attempts or max_age, and
// commits its cursor past each alert it finished. A channel that is down
// holds nothing in memory and loses nothing: after a restart or a crash
// it continues where its cursor is, so an alert is sent again only if the
// crash came between its delivery and the commit right after it.
//
// A Notifier made with New takes alerts through Send instead: a bounded
// in-memory queue per channel whose oldest alert is dropped when it is
// full. Every outcome is counted in the vigil_notify_* metrics and in
// Status.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
)

// Notifier fans alerts out to the configured channels. It implements
// alert.Sink.
type Notifier struct {
	chans  []*channel
	j      *journal.Journal // the alert journal followed; nil: Send
	log    *slog.Logger
	cancel context.CancelFunc
	drain  chan struct{} // closed by Close: workers exit once empty
	wg     sync.WaitGroup

	closeMu sync.Mutex // serializes Close
	closed  bool       // senders released
}

var _ alert.Sink = (*Notifier)(nil)

// New validates cfg and starts one worker per channel, fed by Send. A nil
// reg means no metrics, a nil log discards log output. Close stops the
// workers.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Notifier, error) {
	return start(cfg, nil, reg, log, time.Now)
}

// NewFollowing validates cfg and starts one worker per channel that
// follows the alert journal j from the channel's cursor (consumer
// "notify-<name>"). Send is not used.
func NewFollowing(cfg Config, j *journal.Journal, reg prometheus.Registerer, log *slog.Logger) (*Notifier, error) {
	return start(cfg, j, reg, log, time.Now)
}

// start is New and NewFollowing, with the clock that max_age and the
// status go by (tests set it).
func start(cfg Config, j *journal.Journal, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{log: log, drain: make(chan struct{}), j: j}
	add := func(kind string, i int, name, target, minLevel string, d Delivery, s sender) {
		if name == "" {
			name = defaultName(kind, i)
		}
		n.chans = append(n.chans, newChannel(name, kind, target, minLevel, d, s, m.channel(name), log, now))
	}
	fail := func(err error) (*Notifier, error) {
		for _, c := range n.chans {
			_ = c.s.close()
			if c.r != nil {
				c.r.Close()
			}
		}
		return nil, err
	}
	for i, sc := range cfg.Syslog {
		s, err := newSyslogSender(sc)
		if err != nil {
			return fail(fmt.Errorf("notify: syslog[%d]: %w", i, err))
		}
		add(kindSyslog, i, sc.Name, s.target(), sc.MinLevel, sc.Delivery, s)
	}
	var style chatStyle
	for _, wc := range cfg.Webhooks {
		if wc.Format != "" && wc.Format != FormatJSON {
			if style, err = newChatStyle(cfg); err != nil {
				return fail(err)
			}
			break
		}
	}
	for i, wc := range cfg.Webhooks {
		s, err := newWebhookSender(wc, style, now)
		if err != nil {
			return fail(fmt.Errorf("notify: webhooks[%d]: %w", i, err))
		}
		add(kindWebhook, i, wc.Name, s.target(), wc.MinLevel, wc.Delivery, s)
	}
	for i, mc := range cfg.SMTP {
		mc.Language = cfg.Language
		name := mc.Name
		if name == "" {
			name = defaultName(kindSMTP, i)
		}
		s, err := newSMTPSender(mc, cfg.fmtTime, log.With("channel", name, "kind", kindSMTP))
		if err != nil {
			return fail(fmt.Errorf("notify: smtp[%d]: %w", i, err))
		}
		add(kindSMTP, i, name, s.addr, mc.MinLevel, mc.Delivery, s)
	}
	if j != nil {
		for _, c := range n.chans {
			r, err := j.OpenReader(consumerName(c.name))
			if err != nil {
				return fail(fmt.Errorf("notify: %s: %w", c.name, err))
			}
			c.r = r
			c.done.Store(r.Position())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, c := range n.chans {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if c.r != nil {
				c.follow(ctx, j, n.drain)
				return
			}
			c.run(ctx, n.drain)
		}()
	}
	return n, nil
}

// Send queues a for every channel whose min_level it meets. It never
// blocks on the network: a full queue drops its oldest alert. Send keeps a
// until it is delivered, so the caller must not modify it afterwards.
// After Close, alerts are counted as dropped.
func (n *Notifier) Send(a *alert.Alert) {
	if a == nil {
		return
	}
	var now time.Time
	for _, c := range n.chans {
		if !c.accepts(a) {
			continue
		}
		if now.IsZero() {
			now = c.now()
		}
		c.offer(item{a: a, at: now})
	}
}

// consumerName is a channel's cursor name in the alert journal.
func consumerName(channel string) string {
	b := []byte("notify-" + strings.ToLower(channel))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Status returns the state of every channel, in configuration order
// (syslog, webhooks, smtp).
func (n *Notifier) Status() []ChannelStatus {
	out := make([]ChannelStatus, len(n.chans))
	for i, c := range n.chans {
		out[i] = c.status()
		if c.r != nil {
			out[i].Queued = c.pending(n.j)
		}
	}
	return out
}

// Close stops taking alerts and delivers what is queued (or, following
// the alert journal, what it holds) until ctx is done; then it cancels
// the deliveries in progress and stops the workers. Alerts left in a
// queue are counted as dropped; alerts left in the alert journal are
// delivered after the next start. It returns ctx's error when alerts were
// left behind. Further calls return nil.
func (n *Notifier) Close(ctx context.Context) error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	for _, c := range n.chans {
		c.shut()
	}
	close(n.drain)
	before := n.dropped()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	cut := false
	select {
	case <-done:
	case <-ctx.Done():
		cut = true
		n.cancel()
		<-done
	}
	n.cancel()
	n.closed = true
	var errs []error
	pending := 0
	for _, c := range n.chans {
		c.discard()
		if c.r != nil {
			pending += c.pending(n.j)
			c.commit()
			c.r.Close()
		}
		if err := c.s.close(); err != nil {
			errs = append(errs, fmt.Errorf("notify: close %s: %w", c.name, err))
		}
	}
	if cut {
		if left := n.dropped() - before; left > 0 {
			errs = append(errs, fmt.Errorf("notify: close: %d undelivered alerts dropped: %w", left, ctx.Err()))
		}
		if pending > 0 {
			errs = append(errs, fmt.Errorf("notify: close: %d alerts not delivered yet stay in the alert journal for the next start: %w", pending, ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

// dropped sums the channels' dropped counts.
func (n *Notifier) dropped() uint64 {
	var d uint64
	for _, c := range n.chans {
		d += c.status().Dropped
	}
	return d
}
