package output

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/parse"
)

// threatColumns are the columns of the threat table: the original
// deployment's (date, hour, ts, src_ip, src_port, dst_ip, dst_port, threat,
// level, type, payloads, message) plus the rule, user, device, count and
// alert id.
const threatColumns = `date, hour, ts, src_ip, src_port, dst_ip, dst_port, threat, level, type, payloads, message,
	rule_id, user, device_id, count, alert_id`

// threatDDL returns the threat table's columns and engine for a server
// version (see eventDDL).
func threatDDL(major, minor uint64, retentionDays int) string {
	low, zstd, ttl := features(major, minor, retentionDays)
	return `(
	date Date,
	hour UInt8,
	ts DateTime,
	src_ip String,
	src_port UInt16,
	dst_ip String,
	dst_port UInt16,
	threat ` + low + `,
	level ` + low + `,
	type ` + low + `,
	payloads String` + zstd + `,
	message String,
	rule_id ` + low + `,
	user String,
	device_id String,
	count UInt32,
	alert_id String
) ENGINE = MergeTree PARTITION BY date ORDER BY (ts, threat)` + ttl
}

// ClickHouseAlerts writes alerts into the threat table. It implements
// alert.Sink: Send only queues (a full queue drops the oldest alert and
// counts it); Run inserts in batches and retries a failed batch.
type ClickHouseAlerts struct {
	ch  *ClickHouse
	log *slog.Logger
	q   chan *alert.Alert

	mu                    sync.Mutex
	sent, dropped, errors uint64
	lastErr               string
}

// NewClickHouseAlerts returns the threat-table writer of a ClickHouse output.
func NewClickHouseAlerts(c ClickHouseConfig, log *slog.Logger) (*ClickHouseAlerts, error) {
	ch, err := NewClickHouse(c, parse.Options{})
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ClickHouseAlerts{ch: ch, log: log, q: make(chan *alert.Alert, 10000)}, nil
}

// Send implements alert.Sink.
func (w *ClickHouseAlerts) Send(a *alert.Alert) {
	for {
		select {
		case w.q <- a:
			return
		default:
		}
		select { // full: drop the oldest
		case <-w.q:
			w.mu.Lock()
			w.dropped++
			w.mu.Unlock()
		default:
		}
	}
}

// Run inserts queued alerts until ctx is done (then it tries once more
// for what is queued and closes the connection).
func (w *ClickHouseAlerts) Run(ctx context.Context) {
	defer w.ch.Close()
	var batch []*alert.Alert
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case a := <-w.q:
			batch = append(batch, a)
			if len(batch) < 1000 {
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			for len(w.q) > 0 {
				batch = append(batch, <-w.q)
			}
			if len(batch) > 0 {
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				w.insert(fctx, batch)
				cancel()
			}
			return
		}
		if len(batch) > 0 && w.insert(ctx, batch) {
			batch = batch[:0]
		}
	}
}

func (w *ClickHouseAlerts) insert(ctx context.Context, batch []*alert.Alert) bool {
	err := w.write(ctx, batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errors++
		w.lastErr = err.Error()
		w.ch.ready = false
		w.log.Warn("clickhouse threat table: insert failed; retrying", "err", err)
		return false
	}
	w.sent += uint64(len(batch))
	return true
}

func (w *ClickHouseAlerts) write(ctx context.Context, batch []*alert.Alert) error {
	c := w.ch
	if !c.ready {
		if v, err := c.conn.ServerVersion(); err == nil {
			c.major, c.minor = v.Version.Major, v.Version.Minor
		}
		if err := c.createTable(ctx, c.cfg.ThreatTable, threatDDL(c.major, c.minor, c.cfg.RetentionDays)); err != nil {
			return err
		}
		c.ready = true
	}
	b, err := c.conn.PrepareBatch(ctx, c.cfg.insertSQL(c.cfg.ThreatTable, threatColumns))
	if err != nil {
		return fmt.Errorf("threat table: %w", err)
	}
	for _, a := range batch {
		payloads, _ := json.Marshal(a.Payloads)
		ts := a.TS.UTC()
		if err := b.Append(ts, uint8(ts.Hour()), ts, a.SrcIP, uint16(a.SrcPort), a.DstIP, uint16(a.DstPort),
			a.Threat, a.Level, a.Type, string(payloads), a.Message, a.RuleID, a.User, a.DeviceID, uint32(a.Count), a.ID); err != nil {
			_ = b.Abort()
			return fmt.Errorf("threat table: %w", err)
		}
	}
	return b.Send()
}

// Status reports the threat-table writer's counters.
func (w *ClickHouseAlerts) Status() map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return map[string]any{"target": w.ch.Target() + " (threat table " + w.ch.cfg.ThreatTable + ")", "sent": w.sent,
		"dropped": w.dropped, "errors": w.errors, "queued": len(w.q), "last_error": w.lastErr}
}
