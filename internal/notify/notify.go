// Package notify delivers alerts to the network channels: syslog
// (RFC5424 or RFC3164 over UDP, TCP or TLS), webhooks (HTTP POST of the
// alert JSON) and mail (SMTP).
//
// Send never blocks the detection engine: every channel has a bounded
// in-memory queue and its own worker goroutine that delivers, retries with
// capped exponential backoff and gives up after max_attempts or max_age.
// When a queue is full the oldest alert is dropped. Every outcome is
// counted in the vigil_notify_* metrics and in Status.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/alert"
)

// Notifier fans alerts out to the configured channels. It implements
// alert.Sink.
type Notifier struct {
	chans  []*channel
	log    *slog.Logger
	cancel context.CancelFunc
	drain  chan struct{} // closed by Close: workers exit once empty
	wg     sync.WaitGroup

	closeMu sync.Mutex // serializes Close
	closed  bool       // senders released
}

var _ alert.Sink = (*Notifier)(nil)

// New validates cfg and starts one worker per channel. A nil reg means no
// metrics, a nil log discards log output. Close stops the workers.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Notifier, error) {
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
	n := &Notifier{log: log, drain: make(chan struct{})}
	add := func(kind string, i int, name, target, minLevel string, d Delivery, s sender) {
		if name == "" {
			name = defaultName(kind, i)
		}
		n.chans = append(n.chans, newChannel(name, kind, target, minLevel, d, s, m.channel(name), log))
	}
	fail := func(err error) (*Notifier, error) {
		for _, c := range n.chans {
			_ = c.s.close()
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
	for i, wc := range cfg.Webhooks {
		s, err := newWebhookSender(wc)
		if err != nil {
			return fail(fmt.Errorf("notify: webhooks[%d]: %w", i, err))
		}
		add(kindWebhook, i, wc.Name, s.target(), wc.MinLevel, wc.Delivery, s)
	}
	for i, mc := range cfg.SMTP {
		name := mc.Name
		if name == "" {
			name = defaultName(kindSMTP, i)
		}
		s, err := newSMTPSender(mc, log.With("channel", name, "kind", kindSMTP))
		if err != nil {
			return fail(fmt.Errorf("notify: smtp[%d]: %w", i, err))
		}
		add(kindSMTP, i, name, s.addr, mc.MinLevel, mc.Delivery, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, c := range n.chans {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
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
			now = time.Now()
		}
		c.offer(item{a: a, at: now})
	}
}

// Status returns the state of every channel, in configuration order
// (syslog, webhooks, smtp).
func (n *Notifier) Status() []ChannelStatus {
	out := make([]ChannelStatus, len(n.chans))
	for i, c := range n.chans {
		out[i] = c.status()
	}
	return out
}

// Close stops taking alerts and delivers what is queued until ctx is done;
// then it cancels the deliveries in progress, counts the alerts left as
// dropped and stops the workers. It returns ctx's error when alerts were
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
	for _, c := range n.chans {
		c.discard()
		if err := c.s.close(); err != nil {
			errs = append(errs, fmt.Errorf("notify: close %s: %w", c.name, err))
		}
	}
	if cut {
		if left := n.dropped() - before; left > 0 {
			errs = append(errs, fmt.Errorf("notify: close: %d undelivered alerts dropped: %w", left, ctx.Err()))
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
