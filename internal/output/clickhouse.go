package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	Address string `yaml:"address"`
	// Addresses are several servers' host:port, instead of Address: the
	// output writes to the first that answers and fails over to the
	// next when it stops answering (docs/outputs.md#several-servers-and-clusters).
	Addresses []string `yaml:"addresses"`
	// Cluster names a cluster of the servers' remote_servers: the tables
	// are created ON CLUSTER as Replicated*MergeTree tables behind a
	// Distributed table of the configured name, which the output writes
	// to (docs/outputs.md#several-servers-and-clusters).
	Cluster  string `yaml:"cluster"`
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
	switch {
	case c.Address != "" && len(c.Addresses) > 0:
		errs = append(errs, errors.New("address and addresses: set one of them (addresses for several servers)"))
	case c.Address == "" && len(c.Addresses) == 0:
		errs = append(errs, errors.New("address is required (or addresses, for several servers)"))
	}
	seen := map[string]bool{}
	for _, a := range c.servers() {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("address %q: %v", a, err))
		} else if seen[a] {
			errs = append(errs, fmt.Errorf("addresses: %s is listed twice", a))
		}
		seen[a] = true
	}
	for what, v := range map[string]string{"database": c.Database, "table": c.Table, "threat_table": c.ThreatTable, "cluster": c.Cluster} {
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

// servers returns the servers' addresses, in the order they are tried.
func (c ClickHouseConfig) servers() []string {
	if len(c.Addresses) > 0 {
		return c.Addresses
	}
	if c.Address == "" {
		return nil
	}
	return []string{c.Address}
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

// localTable is the name of the MergeTree table behind table: with a
// cluster, table is the Distributed table over TABLE_local on every host.
func (c ClickHouseConfig) localTable(table string) string {
	if c.Cluster == "" {
		return table
	}
	return table + "_local"
}

// onCluster is the ON CLUSTER clause of the DDL with a cluster.
func (c ClickHouseConfig) onCluster() string {
	if c.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + c.Cluster
}

// tableSpec is one of the output's two tables.
type tableSpec struct {
	name string // as configured: the table the output inserts into and queries read
	// columns returns the column list for a server version's types;
	// zone "" leaves out the comments that record the zone.
	columns func(low, zstd, zone string) string
	order   string // the ORDER BY: ReplacingMergeTree keeps one row per key
	shardBy string // with a cluster, the column whose hash picks the shard
}

// ddl returns the table's columns and engine on one server for a server
// version; retention > 0 adds a TTL where the server has it. The date
// (and hour) columns record zone in their comments.
func (t tableSpec) ddl(major, minor uint64, retentionDays int, zone string) string {
	low, zstd, ttl := features(major, minor, retentionDays)
	return t.columns(low, zstd, zone) + " ENGINE = ReplacingMergeTree PARTITION BY date ORDER BY (" + t.order + ")" + ttl
}

// eventSpec and threatSpec are the output's tables.
func (c ClickHouseConfig) eventSpec() tableSpec {
	return tableSpec{name: c.Table, columns: eventColumnsDDL, order: eventOrder, shardBy: "event_id"}
}

func (c ClickHouseConfig) threatSpec() tableSpec {
	return tableSpec{name: c.ThreatTable, columns: threatColumnsDDL, order: threatOrder, shardBy: "alert_id"}
}

// createSQL returns the statements that create the database and table t
// for a server version, new tables in zone. The statements put only the
// configuration's identifiers, checked by Validate, into SQL text.
//
// One server: a ReplacingMergeTree table. A cluster: TABLE_local, a
// ReplicatedReplacingMergeTree table on every host, and TABLE, a
// Distributed table over them that shards rows by the hash of their id,
// all created ON CLUSTER. The zone is recorded in the Distributed table's
// comments: ClickHouse 18.16 refuses to create a replicated table with
// column comments ("Table structure in ZooKeeper is too different").
func (c ClickHouseConfig) createSQL(t tableSpec, major, minor uint64, retentionDays int, zone string) []string {
	low, zstd, ttl := features(major, minor, retentionDays)
	key := " PARTITION BY date ORDER BY (" + t.order + ")"
	db := "CREATE DATABASE IF NOT EXISTS " + c.Database + c.onCluster()
	if c.Cluster == "" {
		return []string{db, "CREATE TABLE IF NOT EXISTS " + c.Database + "." + t.name + " " + t.ddl(major, minor, retentionDays, zone)}
	}
	local := c.localTable(t.name)
	return []string{db,
		"CREATE TABLE IF NOT EXISTS " + c.Database + "." + local + c.onCluster() + " " + t.columns(low, zstd, "") +
			" ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/" + c.Database + "/" + local + "', '{replica}')" + key + ttl,
		"CREATE TABLE IF NOT EXISTS " + c.Database + "." + t.name + c.onCluster() + " " + t.columns(low, "", zone) +
			" ENGINE = Distributed(" + c.Cluster + ", " + c.Database + ", " + local + ", sipHash64(" + t.shardBy + "))",
	}
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

// eventOrder is the events table's sorting key. event_id comes last: a
// message delivered twice (the same id, hence the same time, dataset,
// address and user) collapses into one row when ReplacingMergeTree merges
// the parts, and ranges of ts still use the key's prefix.
const eventOrder = "ts, dataset, source_ip, user, event_id"

// eventDDL returns the events table's columns and engine on one server
// (see tableSpec.ddl).
func eventDDL(major, minor uint64, retentionDays int, zone string) string {
	return tableSpec{columns: eventColumnsDDL, order: eventOrder}.ddl(major, minor, retentionDays, zone)
}

// zoneCommentSQL is the COMMENT clause of a date or hour column, none
// without a zone.
func zoneCommentSQL(column, zone string) string {
	if zone == "" {
		return ""
	}
	return " COMMENT '" + zoneComment(column, zone) + "'"
}

// eventColumnsDDL returns the events table's column list with low as the
// type of few-valued columns and zstd as the codec clause of big ones.
func eventColumnsDDL(low, zstd, zone string) string {
	return `(
	event_id String,
	date Date` + zoneCommentSQL("date", zone) + `,
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
)`
}

// ClickHouse inserts normalized events into a ClickHouse table.
type ClickHouse struct {
	cfg          ClickHouseConfig
	zone         *time.Location // of the date (and hour) of the table written
	servers      []*chServer    // in the order they are tried
	cur          int            // the index of the server written to; -1 before one answered
	conn         driver.Conn    // servers[cur]'s
	parser       *parse.Parser
	row          store.Row
	ready        bool // a server answered and the database and table exist on it
	version      string
	major, minor uint64
	pruned       time.Time // last retention check
	scratch      store.Row // the fields without a typed column
	buf          []byte

	mu sync.Mutex // guards the servers' status
}

// chServer is one of the output's servers: its connection pool and status.
type chServer struct {
	conn   driver.Conn
	status ServerStatus // guarded by ClickHouse.mu
}

// NewClickHouse returns a ClickHouse sender. It connects lazily, so a
// server that is down at start only delays delivery.
func NewClickHouse(c ClickHouseConfig, popts parse.Options) (*ClickHouse, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse output %s: %w", c.Name, err)
	}
	c = c.withDefaults()
	ch := &ClickHouse{cfg: c, cur: -1, parser: parse.New(popts)}
	// One connection pool per server, not one over all of them: the
	// output knows which server took each INSERT, shows the one that
	// failed, and stays with the one that answers.
	for _, addr := range c.servers() {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:        []string{addr},
			Auth:        clickhouse.Auth{Username: c.Username, Password: c.Password},
			Protocol:    clickhouse.Native,
			DialTimeout: 10 * time.Second,
		})
		if err != nil {
			ch.Close()
			return nil, fmt.Errorf("clickhouse output %s: %s: %w", c.Name, addr, err)
		}
		ch.servers = append(ch.servers, &chServer{conn: conn, status: ServerStatus{Address: addr, State: ServerStandby}})
	}
	return ch, nil
}

// Target is where the output sends, for the status.
func (ch *ClickHouse) Target() string {
	t := "clickhouse://" + strings.Join(ch.cfg.servers(), ",") + "/" + ch.cfg.Database + "." + ch.cfg.Table
	if ch.cfg.Cluster != "" {
		t += " (cluster " + ch.cfg.Cluster + ")"
	}
	return t
}

// Servers implements ServerReporter.
func (ch *ClickHouse) Servers() []ServerStatus {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make([]ServerStatus, len(ch.servers))
	for i, s := range ch.servers {
		out[i] = s.status
	}
	return out
}

// connect makes the first server that answers the one written to. Every
// server that does not answer is marked down.
func (ch *ClickHouse) connect(ctx context.Context) error {
	var errs []error
	for i, s := range ch.servers {
		v, err := serverVersion(ctx, s.conn)
		if err != nil {
			ch.markDown(i, err)
			errs = append(errs, fmt.Errorf("%s: %w", s.status.Address, err))
			continue
		}
		ch.mu.Lock()
		for j, o := range ch.servers {
			switch {
			case j == i:
				o.status.State = ServerActive
			case o.status.State == ServerActive:
				o.status.State = ServerStandby
			}
		}
		ch.mu.Unlock()
		ch.cur, ch.conn = i, s.conn
		ch.version = v.String()
		ch.major, ch.minor = v.Version.Major, v.Version.Minor
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("no server answered: %w", errors.Join(errs...))
}

// serverVersion asks conn's server for its version, over a connection
// that works now (a pooled one may have lost its server).
func serverVersion(ctx context.Context, conn driver.Conn) (*driver.ServerVersion, error) {
	if err := conn.Ping(ctx); err != nil {
		return nil, err
	}
	return conn.ServerVersion()
}

// markDown records that server i failed with err.
func (ch *ClickHouse) markDown(i int, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	s := &ch.servers[i].status
	s.State = ServerDown
	s.Failures++
	s.LastError, s.LastErrorTime = err.Error(), time.Now()
}

// failed handles a failed INSERT or DDL: the tables are checked again
// before the next INSERT (a new or wiped server), and when the connection
// failed (not an error the server answered with), the server is marked
// down and the next INSERT goes to the first server that answers.
func (ch *ClickHouse) failed(err error) {
	ch.ready = false
	if ch.cur < 0 || !connectionFailed(err) {
		return
	}
	ch.markDown(ch.cur, err)
	ch.cur, ch.conn = -1, nil
}

// connectionFailed reports whether err says that a server could not be
// reached or went away, rather than that it refused a statement.
func connectionFailed(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, clickhouse.ErrAcquireConnTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// prepare connects and creates the events table where it is missing.
func (ch *ClickHouse) prepare(ctx context.Context) error {
	if ch.ready {
		return nil
	}
	if err := ch.createTables(ctx, ch.cfg.eventSpec()); err != nil {
		return err
	}
	var err error
	if ch.zone, err = ch.tableZone(ctx, ch.cfg.Table); err != nil {
		return err
	}
	ch.ready = true
	return nil
}

// createTables connects when no server is being written to and creates
// the database and table t (with a cluster: its local tables and the
// Distributed table, on every host) where they are missing.
func (ch *ClickHouse) createTables(ctx context.Context, t tableSpec) error {
	if ch.cur < 0 {
		if err := ch.connect(ctx); err != nil {
			return err
		}
	}
	if ch.cfg.Cluster != "" {
		// DDL ON CLUSTER waits for every host of the cluster: run it
		// only when this host lacks a table, so that an output that
		// fails over while a host is down does not wait for it.
		var n uint64
		err := ch.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN (?, ?)",
			ch.cfg.Database, t.name, ch.cfg.localTable(t.name)).Scan(&n)
		if err != nil {
			return fmt.Errorf("look up table %s.%s: %w", ch.cfg.Database, t.name, err)
		}
		if n == 2 {
			return nil
		}
	}
	for _, q := range ch.cfg.createSQL(t, ch.major, ch.minor, ch.cfg.RetentionDays, ch.cfg.newTableZone()) {
		if err := ch.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("create table %s.%s%s: %w", ch.cfg.Database, t.name, ch.cfg.onCluster(), err)
		}
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
			ch.failed(err)
			err = fmt.Errorf("clickhouse output %s: %w", ch.cfg.Name, err)
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
	b, err := ch.conn.PrepareBatch(ch.insertContext(ctx), ch.cfg.insertSQL(ch.cfg.Table, eventColumns))
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
			ch.failed(err)
			return fmt.Errorf("clickhouse output %s: %w", ch.cfg.Name, err)
		}
		return nil
	}, nil
}

// insertContext returns ctx for an INSERT. With a cluster, the server
// confirms an INSERT into the Distributed table only when every shard's
// table holds its rows (insert_distributed_sync): otherwise it would
// confirm rows waiting in its own queue, which are not in the cluster
// while it is down.
func (ch *ClickHouse) insertContext(ctx context.Context) context.Context {
	if ch.cfg.Cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
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
	// With a cluster: the partitions this host's local tables hold, dropped
	// ON CLUSTER (on every host; other shards' older days wait for a day
	// that this shard has too).
	for _, table := range []string{ch.cfg.localTable(ch.cfg.Table), ch.cfg.localTable(ch.cfg.ThreatTable)} {
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
			if err := ch.conn.Exec(ctx, "ALTER TABLE "+ch.cfg.Database+"."+table+ch.cfg.onCluster()+" DROP PARTITION '"+p+"'"); err != nil {
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

// Close closes the connections.
func (ch *ClickHouse) Close() error {
	var errs []error
	for _, s := range ch.servers {
		errs = append(errs, s.conn.Close())
	}
	return errors.Join(errs...)
}
