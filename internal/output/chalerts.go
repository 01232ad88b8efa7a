package output

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
)

// threatColumns are the columns of the threat table: the original
// deployment's (date, hour, ts, src_ip, src_port, dst_ip, dst_port, threat,
// level, type, payloads, message) plus the rule, user, device, count and
// alert id.
const threatColumns = `date, hour, ts, src_ip, src_port, dst_ip, dst_port, threat, level, type, payloads, message,
	rule_id, user, device_id, count, alert_id`

// threatOrder is the threat table's sorting key: an alert delivered
// twice collapses into one row on a merge (see eventOrder).
const threatOrder = "ts, threat, alert_id"

// threatDDL returns the threat table's columns and engine on one server
// (see tableSpec.ddl); date and hour are ts's in zone.
func threatDDL(major, minor uint64, retentionDays int, zone string) string {
	return tableSpec{columns: threatColumnsDDL, order: threatOrder}.ddl(major, minor, retentionDays, zone)
}

// threatColumnsDDL returns the threat table's column list (see
// eventColumnsDDL).
func threatColumnsDDL(low, zstd, zone string) string {
	return `(
	date Date` + zoneCommentSQL("date", zone) + `,
	hour UInt8` + zoneCommentSQL("hour", zone) + `,
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
)`
}

// ClickHouseAlerts writes the alerts of the alert journal into the threat
// table. It is a Sender: a Runner over the alert journal delivers them at
// least once, with the same cursor, retries and metrics as events.
type ClickHouseAlerts struct {
	ch  *ClickHouse
	log *slog.Logger
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
	return &ClickHouseAlerts{ch: ch, log: log}, nil
}

// Target names the server and the table.
func (w *ClickHouseAlerts) Target() string {
	return w.ch.Target() + " (threat table " + w.ch.cfg.ThreatTable + ")"
}

// Close closes the connections.
func (w *ClickHouseAlerts) Close() error { return w.ch.Close() }

// Servers implements ServerReporter.
func (w *ClickHouseAlerts) Servers() []ServerStatus { return w.ch.Servers() }

// Send implements Sender: it inserts the alerts recorded in recs (alert
// journal records) in one INSERT. A record that is not an alert is
// logged and skipped (retrying cannot fix it).
func (w *ClickHouseAlerts) Send(ctx context.Context, recs []journal.Record) error {
	c := w.ch
	if !c.ready {
		if err := c.createTables(ctx, c.cfg.threatSpec()); err != nil {
			c.failed(err)
			return fmt.Errorf("threat table: %w", err)
		}
		zone, err := c.tableZone(ctx, c.cfg.ThreatTable)
		if err != nil {
			c.failed(err)
			return fmt.Errorf("threat table: %w", err)
		}
		c.zone, c.ready = zone, true
	}
	b, err := c.conn.PrepareBatch(c.insertContext(ctx), c.cfg.insertSQL(c.cfg.ThreatTable, threatColumns))
	if err != nil {
		c.failed(err)
		return fmt.Errorf("threat table: %w", err)
	}
	n := 0
	for i := range recs {
		var a alert.Alert
		if err := json.Unmarshal(recs[i].Data, &a); err != nil {
			w.log.Error("clickhouse threat table: unreadable alert record; skipped", "seq", recs[i].Seq, "err", err)
			continue
		}
		payloads, _ := json.Marshal(a.Payloads)
		ts := a.TS.UTC()
		local := ts.In(c.zone) // date and hour in the table's zone
		if err := b.Append(local, uint8(local.Hour()), ts, a.SrcIP, uint16(a.SrcPort), a.DstIP, uint16(a.DstPort),
			a.Threat, a.Level, a.Type, string(payloads), a.Message, a.RuleID, a.User, a.DeviceID, uint32(a.Count), a.ID); err != nil {
			_ = b.Abort()
			return fmt.Errorf("threat table: %w", err)
		}
		n++
	}
	if n == 0 {
		_ = b.Abort()
		return nil
	}
	if err := b.Send(); err != nil {
		c.failed(err)
		return fmt.Errorf("threat table: %w", err)
	}
	return nil
}
