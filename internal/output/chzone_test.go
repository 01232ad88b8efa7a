package output

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
)

// zoneTest starts a clickhouse-server and returns its address, a
// connection, the latest 17:30 UTC before now (the tests' times follow the
// clock, never a fixed date) and its date in Asia/Shanghai, the next day.
func zoneTest(t *testing.T) (addr string, conn driver.Conn, at time.Time, localDay string) {
	t.Helper()
	addr, _ = startClickHouse(t, 0)
	conn = chConn(t, addr)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	at = time.Date(now.Year(), now.Month(), now.Day(), 17, 30, 0, 0, time.UTC)
	if at.After(now) {
		at = at.AddDate(0, 0, -1)
	}
	return addr, conn, at, at.In(shanghai).Format(time.DateOnly)
}

// createOldTables creates the database db with the tables of a Vigil that
// recorded no zone (no comments).
func createOldTables(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	for _, q := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".events " + strings.ReplaceAll(eventDDL(18, 16, 0, "X"), " COMMENT 'date of ts in X'", ""),
		"CREATE TABLE " + db + ".threat_table " + strings.NewReplacer(" COMMENT 'date of ts in X'", "", " COMMENT 'hour of ts in X'", "").Replace(threatDDL(18, 16, 0, "X")),
	} {
		if err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// writeBoth sends one event and one alert at `at` through a ClickHouse
// output's two writers for cfg, and returns the writers' errors.
func writeBoth(t *testing.T, cfg ClickHouseConfig, at time.Time, id string) (evErr, alErr error) {
	t.Helper()
	ctx := context.Background()
	ev, err := NewClickHouse(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	evErr = ev.Send(ctx, []journal.Record{{Seq: 1, Time: at, Input: "syslog",
		Data: []byte(fmt.Sprintf("<134>%s host app: event %s", at.Format(time.RFC3339), id))}})
	return evErr, writeAlert(t, cfg, at, id)
}

// writeAlert sends one alert at `at` through a ClickHouse output's
// threat-table writer for cfg and returns its error.
func writeAlert(t *testing.T, cfg ClickHouseConfig, at time.Time, id string) error {
	t.Helper()
	al, err := NewClickHouseAlerts(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	a := &alert.Alert{ID: id, RuleID: "r", RuleTitle: "R", Threat: "t", Level: alert.LevelHigh, Type: "match",
		TS: at, First: at, Last: at, Count: 1, Message: "m"}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return al.Send(context.Background(), []journal.Record{{Seq: 1, Time: at, Data: data}})
}

// TestClickHouseTimezone, on Debian's clickhouse-server: an event and an
// alert at 17:30 UTC land in Asia/Shanghai's next day, hour 1, when the
// output's timezone is Asia/Shanghai; a table records its zone and keeps
// it when display.timezone (the default zone) changes; a table made before
// Vigil recorded zones stays UTC, and a timezone that contradicts a
// table's is refused with words that say what to do, until the table is
// marked with the new zone.
func TestClickHouseTimezone(t *testing.T) {
	addr, conn, at, localDay := zoneTest(t)
	ctx := context.Background()
	utcDay := at.Format(time.DateOnly)
	if localDay == utcDay {
		t.Fatalf("%s: Shanghai's date should be the next day", at)
	}
	// rows returns the date (and hour) the rows with id landed on.
	rows := func(db string, id string) (event, threat string) {
		t.Helper()
		var d string
		var h uint8
		if err := conn.QueryRow(ctx, "SELECT toString(date) FROM "+db+".events WHERE raw LIKE ?", "%event "+id).Scan(&d); err != nil {
			t.Fatalf("%s events %s: %v", db, id, err)
		}
		event = d
		if err := conn.QueryRow(ctx, "SELECT toString(date), hour FROM "+db+".threat_table WHERE alert_id = ?", id).Scan(&d, &h); err != nil {
			t.Fatalf("%s threat_table %s: %v", db, id, err)
		}
		return event, fmt.Sprintf("%s %02d", d, h)
	}

	// An explicit zone, new tables.
	cfg := ClickHouseConfig{Name: "ch", Address: addr, Database: "tz", Timezone: "Asia/Shanghai"}
	if e, a := writeBoth(t, cfg, at, "a1"); e != nil || a != nil {
		t.Fatalf("Asia/Shanghai: %v, %v", e, a)
	}
	if ev, th := rows("tz", "a1"); ev != localDay || th != localDay+" 01" {
		t.Errorf("Asia/Shanghai: event on %s, alert on %s; want %s and %s 01", ev, th, localDay, localDay)
	}
	// The tables record it; without timezone they keep it, even when
	// display.timezone now says otherwise.
	var comment string
	if err := conn.QueryRow(ctx, "SELECT comment FROM system.columns WHERE database = 'tz' AND table = 'threat_table' AND name = 'hour'").Scan(&comment); err != nil || comment != "hour of ts in Asia/Shanghai" {
		t.Errorf("hour's comment %q (%v)", comment, err)
	}
	cfg.Timezone, cfg.DefaultTimezone = "", "UTC"
	if e, a := writeBoth(t, cfg, at, "a2"); e != nil || a != nil {
		t.Fatalf("default UTC on Shanghai's tables: %v, %v", e, a)
	}
	if ev, th := rows("tz", "a2"); ev != localDay || th != localDay+" 01" {
		t.Errorf("kept zone: event on %s, alert on %s; want %s and %s 01", ev, th, localDay, localDay)
	}

	// New tables without timezone take display.timezone.
	cfg = ClickHouseConfig{Name: "ch", Address: addr, Database: "disp", DefaultTimezone: "Asia/Shanghai"}
	if e, a := writeBoth(t, cfg, at, "b1"); e != nil || a != nil {
		t.Fatalf("display zone: %v, %v", e, a)
	}
	if ev, th := rows("disp", "b1"); ev != localDay || th != localDay+" 01" {
		t.Errorf("display zone: event on %s, alert on %s; want %s and %s 01", ev, th, localDay, localDay)
	}

	// Tables of an older Vigil (no comments): UTC, whatever the display.
	createOldTables(t, conn, "old")
	cfg = ClickHouseConfig{Name: "ch", Address: addr, Database: "old", DefaultTimezone: "Asia/Shanghai"}
	if e, a := writeBoth(t, cfg, at, "c1"); e != nil || a != nil {
		t.Fatalf("old tables: %v, %v", e, a)
	}
	if ev, th := rows("old", "c1"); ev != utcDay || th != utcDay+" 17" {
		t.Errorf("old tables: event on %s, alert on %s; want %s and %s 17 (UTC)", ev, th, utcDay, utcDay)
	}
	// Asking them for Asia/Shanghai is refused, and says why.
	cfg.Timezone = "Asia/Shanghai"
	e, a := writeBoth(t, cfg, at, "c2")
	for _, err := range []error{e, a} {
		if err == nil || !strings.Contains(err.Error(), "keeps its dates in UTC") || !strings.Contains(err.Error(), "not in timezone Asia/Shanghai") ||
			!strings.Contains(err.Error(), "docs/outputs.md#time-zone") {
			t.Errorf("old tables with timezone Asia/Shanghai: %v", err)
		}
	}
	// Marked by hand (docs/outputs.md), they take it.
	for _, q := range []string{
		"ALTER TABLE old.events COMMENT COLUMN date 'date of ts in Asia/Shanghai'",
		"ALTER TABLE old.threat_table COMMENT COLUMN date 'date of ts in Asia/Shanghai'",
		"ALTER TABLE old.threat_table COMMENT COLUMN hour 'hour of ts in Asia/Shanghai'",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if e, a := writeBoth(t, cfg, at, "c3"); e != nil || a != nil {
		t.Fatalf("marked old tables: %v, %v", e, a)
	}
	if ev, th := rows("old", "c3"); ev != localDay || th != localDay+" 01" {
		t.Errorf("marked old tables: event on %s, alert on %s; want %s and %s 01", ev, th, localDay, localDay)
	}
}

func TestClickHouseTimezoneConfig(t *testing.T) {
	for _, tt := range []struct {
		zone string
		ok   bool
	}{{"", true}, {"UTC", true}, {"Asia/Shanghai", true}, {"America/Argentina/Buenos_Aires", true}, {"Etc/GMT+8", true},
		{"Local", false}, {"Mars/Olympus", false}, {"Asia/Shanghai'; DROP TABLE x", false}, {"../etc/passwd", false}} {
		err := ClickHouseConfig{Name: "ch", Address: "127.0.0.1:9000", Timezone: tt.zone}.Validate()
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "timezone:")) {
			t.Errorf("timezone %q: %v", tt.zone, err)
		}
	}
	for _, tt := range []struct{ tz, def, want string }{
		{"", "", "UTC"}, {"", "Asia/Shanghai", "Asia/Shanghai"}, {"UTC", "Asia/Shanghai", "UTC"}, {"", "Local", "UTC"},
	} {
		if got := (ClickHouseConfig{Timezone: tt.tz, DefaultTimezone: tt.def}).newTableZone(); got != tt.want {
			t.Errorf("newTableZone(%q, %q) = %q, want %q", tt.tz, tt.def, got, tt.want)
		}
	}
}

// chConn opens a native connection to addr, closed at cleanup.
func chConn(t testing.TB, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// migrationSQL returns the statements of docs/outputs.md's "```sql
// migration" block, which moves a threat table to another zone.
func migrationSQL(t *testing.T) []string { return docBlock(t, "migration") }

// docBlock returns the statements of docs/outputs.md's "```sql name" block.
func docBlock(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "outputs.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```sql "+name+"\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/outputs.md has no ```sql %s block", name)
	}
	var stmts []string
	var cur []string
	for line := range strings.SplitSeq(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		cur = append(cur, line)
		if strings.HasSuffix(line, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.Join(cur, " "), ";"))
			cur = nil
		}
	}
	return stmts
}

// TestClickHouseZoneMigration runs docs/outputs.md's migration on Debian's
// clickhouse-server: an older Vigil's UTC threat table gets its rows in
// Asia/Shanghai and its mark, and the output then writes it in that zone.
func TestClickHouseZoneMigration(t *testing.T) {
	addr, conn, at, localDay := zoneTest(t)
	ctx := context.Background()
	createOldTables(t, conn, "vigil")
	cfg := ClickHouseConfig{Name: "ch", Address: addr}
	if e, a := writeBoth(t, cfg, at, "old"); e != nil || a != nil {
		t.Fatalf("older Vigil's tables: %v, %v", e, a)
	}
	for _, q := range migrationSQL(t) {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("docs/outputs.md's migration: %s: %v", q, err)
		}
	}
	cfg.Timezone = "Asia/Shanghai"
	if e, a := writeBoth(t, cfg, at, "new"); e != nil || a != nil {
		t.Fatalf("after the migration: %v, %v", e, a)
	}
	for _, id := range []string{"old", "new"} {
		var d string
		var h uint8
		if err := conn.QueryRow(ctx, "SELECT toString(date), hour FROM vigil.threat_table WHERE alert_id = ?", id).Scan(&d, &h); err != nil || d != localDay || h != 1 {
			t.Errorf("alert %s: %s %d (%v), want %s 1", id, d, h, err, localDay)
		}
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM vigil.threat_table_utc").Scan(&n); err != nil || n != 1 {
		t.Errorf("the UTC table kept %d rows (%v), want 1", n, err)
	}
}
