package output

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// ClickHouseConfig configures the ClickHouse output (docs/outputs.md).
type ClickHouseConfig struct {
	// Name identifies the output (its journal cursor is "output-NAME").
	Name string `yaml:"name"`
	// Address is host:port of the native protocol (default port 9000).
	Address  string `yaml:"address"`
	Database string `yaml:"database"` // default vigil
	Table    string `yaml:"table"`    // default events
	// ThreatTable receives the alerts (default threat_table).
	ThreatTable string `yaml:"threat_table"`
	// RetentionDays drops the day partitions of both tables older than
	// this many days (checked hourly); 0 keeps everything.
	RetentionDays int    `yaml:"retention_days"`
	Username      string `yaml:"username"` // default "default"
	Password      string `yaml:"password"`
	// Timezone is the IANA zone of the date columns of both tables and
	// of the threat table's hour. A table records its zone in the
	// comments of those columns when it is created; one whose recorded
	// zone differs is refused (a table without a record, made before
	// Vigil kept one, is UTC). Empty: the zone a table records, and for a
	// new table DefaultTimezone (docs/outputs.md#time-zone).
	Timezone string `yaml:"timezone"`
	// DefaultTimezone is the zone of new tables when Timezone is empty:
	// the server sets it to display.timezone; empty or "Local" is UTC.
	DefaultTimezone string `yaml:"-"`
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// zoneRE matches the IANA zone names Vigil puts into the DDL's comments.
var zoneRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)

// loadZone returns the zone named name: an IANA name (not "Local") that
// this machine knows and that may stand in SQL text.
func loadZone(name string) (*time.Location, error) {
	if !zoneRE.MatchString(name) || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name like Asia/Shanghai or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone name like Asia/Shanghai or UTC: %v", name, err)
	}
	return loc, nil
}

// Validate checks the configuration. Database and table names are
// identifiers: they are the only names Vigil puts into SQL text.
func (c ClickHouseConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %v", c.Address, err))
	}
	for what, v := range map[string]string{"database": c.Database, "table": c.Table, "threat_table": c.ThreatTable} {
		if v != "" && !identRE.MatchString(v) {
			errs = append(errs, fmt.Errorf("%s %q: want letters, digits and _", what, v))
		}
	}
	if c.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("retention_days %d: want 0 (keep) or more", c.RetentionDays))
	}
	if c.Timezone != "" {
		if _, err := loadZone(c.Timezone); err != nil {
			errs = append(errs, fmt.Errorf("timezone: %v", err))
		}
	}
	return errors.Join(errs...)
}

// newTableZone is the zone a table is created with: Timezone, else
// DefaultTimezone when it is a zone name, else UTC.
func (c ClickHouseConfig) newTableZone() string {
	for _, z := range []string{c.Timezone, c.DefaultTimezone} {
		if _, err := loadZone(z); err == nil {
			return z
		}
	}
	return "UTC"
}

// zoneComment is the comment of a date or hour column (column) that
// records its zone; zoneCommentRE reads it back.
func zoneComment(column, zone string) string { return column + " of ts in " + zone }

var zoneCommentRE = regexp.MustCompile(`^date of ts in (\S+)$`)

// tableZone returns the zone the date column of table is written in: the
// one its comment records, UTC without one (a table made by a Vigil that
// kept no record wrote UTC). Timezone, when set, must be that zone.
func (ch *ClickHouse) tableZone(ctx context.Context, table string) (*time.Location, error) {
	var comment string
	err := ch.conn.QueryRow(ctx, "SELECT comment FROM system.columns WHERE database = ? AND table = ? AND name = 'date'",
		ch.cfg.Database, table).Scan(&comment)
	if err != nil {
		return nil, fmt.Errorf("read the zone of %s.%s: %w", ch.cfg.Database, table, err)
	}
	zone, how := "UTC", "it records no zone: made by an older Vigil, it keeps UTC"
	if m := zoneCommentRE.FindStringSubmatch(comment); m != nil {
		zone, how = m[1], "as its date column's comment records"
	}
	if ch.cfg.Timezone != "" && ch.cfg.Timezone != zone {
		return nil, fmt.Errorf("table %s.%s keeps its dates in %s (%s), not in timezone %s: "+
			"give this output new table names, or migrate the table (docs/outputs.md#time-zone)",
			ch.cfg.Database, table, zone, how, ch.cfg.Timezone)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: the zone of its date column: %w", ch.cfg.Database, table, err)
	}
	return loc, nil
}

// withDefaults returns c with the default database, table names and user
// where they are empty.
func (c ClickHouseConfig) withDefaults() ClickHouseConfig {
	if c.Database == "" {
		c.Database = "vigil"
	}
	if c.Table == "" {
		c.Table = "events"
	}
	if c.ThreatTable == "" {
		c.ThreatTable = "threat_table"
	}
	if c.Username == "" {
		c.Username = "default"
	}
	return c
}

// createDatabaseSQL is the statement that creates the database. The
// statements below put only the configuration's identifiers, checked by
// Validate, into SQL text.
func (c ClickHouseConfig) createDatabaseSQL() string {
	return "CREATE DATABASE IF NOT EXISTS " + c.Database
}

// createTableSQL is the statement that creates table with ddl (eventDDL
// or threatDDL) in the database.
func (c ClickHouseConfig) createTableSQL(table, ddl string) string {
	return "CREATE TABLE IF NOT EXISTS " + c.Database + "." + table + " " + ddl
}

// insertSQL is the start of an INSERT into table naming columns
// (eventColumns or threatColumns); the values follow as data blocks.
func (c ClickHouseConfig) insertSQL(table, columns string) string {
	return "INSERT INTO " + c.Database + "." + table + " (" + columns + ")"
}

// eventColumns are the columns of the events table, in INSERT order. The
// types work on ClickHouse 18.16 (Debian 12's) and later.
const eventColumns = `event_id, date, ts, received, input, dataset, category, action, outcome, reason,
	source_ip, source_port, destination_ip, destination_port, user, user_domain, host, protocol,
	device_id, http_method, http_status, url_path, fields, raw`

// modern reports whether a server version has what Vigil uses when present:
// TTL, LowCardinality without experimental settings, column codecs (all in
// 20.1 and later; Debian 12's 18.16 has none of them).
func modern(major, minor uint64) bool { return major >= 20 }

// features returns the type of few-valued string columns, the codec
// clause of big ones and the TTL clause for a server version.
func features(major, minor uint64, retentionDays int) (low, zstd, ttl string) {
	if !modern(major, minor) {
		return "String", "", ""
	}
	if retentionDays > 0 {
		ttl = " TTL date + INTERVAL " + strconv.Itoa(retentionDays) + " DAY"
	}
	return "LowCardinality(String)", " CODEC(ZSTD(1))", ttl
}

// eventDDL returns the events table's columns and engine for a server
// version; retention > 0 adds a TTL where the server has it. The date
// column (of ts in zone) records zone in its comment.
func eventDDL(major, minor uint64, retentionDays int, zone string) string {
	low, zstd, ttl := features(major, minor, retentionDays)
	return `(
	event_id String,
	date Date COMMENT '` + zoneComment("date", zone) + `',
	ts DateTime,
	received DateTime,
	input ` + low + `,
	dataset ` + low + `,
	category ` + low + `,
	action String,
	outcome ` + low + `,
	reason String,
	source_ip String,
	source_port UInt16,
	destination_ip String,
	destination_port UInt16,
	user String,
	user_domain ` + low + `,
	host ` + low + `,
	protocol ` + low + `,
	device_id String,
	http_method ` + low + `,
	http_status UInt16,
	url_path String,
	fields String` + zstd + `,
	raw String` + zstd + `
) ENGINE = MergeTree PARTITION BY date ORDER BY (ts, dataset, source_ip, user)` + ttl
}

// ClickHouse inserts normalized events into a ClickHouse table.
type ClickHouse struct {
	cfg          ClickHouseConfig
	zone         *time.Location // of the date (and hour) of the table written
	conn         driver.Conn
	parser       *parse.Parser
	row          store.Row
	ready        bool // database and table exist
	version      string
	major, minor uint64
	pruned       time.Time // last retention check
	scratch      store.Row // the fields without a typed column
	buf          []byte
}

// NewClickHouse returns a ClickHouse sender. It connects lazily, so a
// server that is down at start only delays delivery.
func NewClickHouse(c ClickHouseConfig, popts parse.Options) (*ClickHouse, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse output %s: %w", c.Name, err)
	}
	c = c.withDefaults()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{c.Address},
		Auth:        clickhouse.Auth{Username: c.Username, Password: c.Password},
		Protocol:    clickhouse.Native,
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse output %s: %w", c.Name, err)
	}
	return &ClickHouse{cfg: c, conn: conn, parser: parse.New(popts)}, nil
}

// Target is where the output sends, for the status.
func (ch *ClickHouse) Target() string {
	return "clickhouse://" + ch.cfg.Address + "/" + ch.cfg.Database + "." + ch.cfg.Table
}

func (ch *ClickHouse) prepare(ctx context.Context) error {
	if ch.ready {
		return nil
	}
	v, err := ch.conn.ServerVersion()
	if err != nil {
		return err
	}
	ch.version = v.String()
	ch.major, ch.minor = v.Version.Major, v.Version.Minor
	if err := ch.createTable(ctx, ch.cfg.Table, eventDDL(ch.major, ch.minor, ch.cfg.RetentionDays, ch.cfg.newTableZone())); err != nil {
		return err
	}
	if ch.zone, err = ch.tableZone(ctx, ch.cfg.Table); err != nil {
		return err
	}
	ch.ready = true
	return nil
}

// createTable creates the database and table with ddl where they are missing.
func (ch *ClickHouse) createTable(ctx context.Context, table, ddl string) error {
	if err := ch.conn.Exec(ctx, ch.cfg.createDatabaseSQL()); err != nil {
		return fmt.Errorf("create database %s: %w", ch.cfg.Database, err)
	}
	if err := ch.conn.Exec(ctx, ch.cfg.createTableSQL(table, ddl)); err != nil {
		return fmt.Errorf("create table %s.%s: %w", ch.cfg.Database, table, err)
	}
	return nil
}

// blockRows is how many rows go to the server in one data block: an
// INSERT of a whole batch sends several as it parses (the server gathers
// them into one part), so memory stays bounded by a block, not a batch.
const blockRows = 10_000

// Send inserts recs as one INSERT and waits for the server to confirm it.
func (ch *ClickHouse) Send(ctx context.Context, recs []journal.Record) error {
	wait, err := ch.Start(ctx, recs)
	if err != nil {
		return err
	}
	return wait()
}

// Start implements Pipeliner: it parses recs into one INSERT (every INSERT
// names its columns: ClickHouse 18.16 needs that with this client), sends
// its blocks, and leaves the server's confirmation to wait, so the server
// writes its part while the runner reads and parses the next batch. One
// INSERT per batch, not per block: each INSERT becomes a part the server
// merges again later, and tens of thousands of rows per part halve the
// server's CPU compared with parts of 10 000 rows.
func (ch *ClickHouse) Start(ctx context.Context, recs []journal.Record) (wait func() error, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("clickhouse output %s: %w", ch.cfg.Name, err)
			ch.ready = false // after a failure, check the table again (a new or wiped server)
		}
	}()
	if err := ch.prepare(ctx); err != nil {
		return nil, err
	}
	if ch.cfg.RetentionDays > 0 && time.Since(ch.pruned) >= time.Hour {
		ch.pruned = time.Now()
		if err := ch.prune(ctx, time.Now()); err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
	}
	b, err := ch.conn.PrepareBatch(ctx, ch.cfg.insertSQL(ch.cfg.Table, eventColumns))
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(recs); start += blockRows {
		end := min(start+blockRows, len(recs))
		if start > 0 {
			// The driver copied the previous block's values: its
			// parsed strings can go.
			if err := b.Flush(); err != nil {
				_ = b.Abort()
				return nil, err
			}
		}
		size := 0
		for i := start; i < end; i++ {
			size += len(recs[i].Data)
		}
		ch.parser.Reset(2*size + 64)
		for i := start; i < end; i++ {
			if err := ch.appendRow(b, &recs[i]); err != nil {
				_ = b.Abort()
				return nil, err
			}
		}
	}
	done := make(chan error, 1)
	go func() { done <- b.Send() }()
	return func() error {
		if err := <-done; err != nil {
			ch.ready = false
			return fmt.Errorf("clickhouse output %s: %w", ch.cfg.Name, err)
		}
		return nil
	}, nil
}

// columns holds one event's values for the typed columns.
type columns struct {
	id                                         string
	dataset, category, action, outcome, reason string
	srcIP, srcPort, dstIP, dstPort             string
	user, domain, host, hostname, protocol     string
	device, method, status, path               string
}

// appendRow parses rec and appends its row to b.
func (ch *ClickHouse) appendRow(b driver.Batch, rec *journal.Record) error {
	ch.parser.Parse(rec, &ch.row)
	r := &ch.row
	// One pass over the fields fills the typed columns and collects the
	// rest for the fields column.
	var c columns
	ch.scratch.Fields = ch.scratch.Fields[:0]
	for _, f := range r.Fields {
		switch f.Name {
		case "_msg", "vigil.received", "vigil.input":
			// the raw, received and input columns
		case "event.id":
			c.id = f.Value
		case "event.dataset":
			c.dataset = f.Value
		case "event.category":
			c.category = f.Value
		case "event.action":
			c.action = f.Value
		case "event.outcome":
			c.outcome = f.Value
		case "event.reason":
			c.reason = f.Value
		case "source.ip":
			c.srcIP = f.Value
		case "source.port":
			c.srcPort = f.Value
		case "destination.ip":
			c.dstIP = f.Value
		case "destination.port":
			c.dstPort = f.Value
		case "user.name":
			c.user = f.Value
		case "user.domain":
			c.domain = f.Value
		case "host.name":
			c.host = f.Value
		case "network.protocol":
			c.protocol = f.Value
		case "device.id":
			c.device = f.Value
		case "http.request.method":
			c.method = f.Value
		case "http.response.status_code":
			c.status = f.Value
		case "url.path":
			c.path = f.Value
		default:
			if f.Name == "host.hostname" {
				c.hostname = f.Value // the host column's fallback; kept in fields too
			}
			ch.scratch.Fields = append(ch.scratch.Fields, f)
		}
	}
	ch.buf = eventjson.AppendRow(ch.buf[:0], &ch.scratch)
	ts := r.Time.UTC()
	return b.Append( // []byte values are copied by the driver; the date is in the table's zone
		c.id, ts.In(ch.zone), ts, rec.Time.UTC(), rec.Input,
		c.dataset, c.category, c.action, c.outcome, c.reason,
		c.srcIP, port(c.srcPort), c.dstIP, port(c.dstPort),
		c.user, c.domain, first(c.host, c.hostname), c.protocol,
		c.device, c.method, port(c.status), c.path,
		ch.buf, rec.Data,
	)
}

// prune drops the day partitions of the events and threat tables older
// than the retention (partition drops work on every server version; TTL
// does not exist on 18.16), in days of the events table's zone. The
// partition names come from system.parts and are dates: nothing from
// events reaches the SQL text.
func (ch *ClickHouse) prune(ctx context.Context, now time.Time) error {
	zone := ch.zone
	if zone == nil {
		zone = time.UTC
	}
	cutoff := now.In(zone).AddDate(0, 0, -ch.cfg.RetentionDays).Format("2006-01-02")
	for _, table := range []string{ch.cfg.Table, ch.cfg.ThreatTable} {
		rows, err := ch.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", ch.cfg.Database, table)
		if err != nil {
			return err
		}
		var old []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return err
			}
			if _, err := time.Parse("2006-01-02", p); err == nil && p < cutoff {
				old = append(old, p)
			}
		}
		rows.Close()
		for _, p := range old {
			if err := ch.conn.Exec(ctx, "ALTER TABLE "+ch.cfg.Database+"."+table+" DROP PARTITION '"+p+"'"); err != nil {
				return err
			}
		}
	}
	return nil
}

func port(s string) uint16 {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// BatchSize implements Batcher: ClickHouse wants large INSERTs.
func (ch *ClickHouse) BatchSize() int { return 50_000 }

// Close closes the connection.
func (ch *ClickHouse) Close() error { return ch.conn.Close() }
