package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/output/outputtest"
)

// chdbEngine is ClickHouse's engine as a library (chDB, from npm) with its
// data in a folder of the test: testdata/chdb.js runs statements on it.
// It stands in for a modern server, which cannot be installed on the test
// machines; it has no native protocol, so the statements are the product's
// but the client is not.
type chdbEngine struct {
	node    string // the node binary
	modules string // node_modules holding chdb
	dir     string // the session's data
}

// chStmt is one statement for testdata/chdb.js: Params are bound by the
// engine to the {name:Type} placeholders of SQL.
type chStmt struct {
	SQL    string         `json:"sql"`
	Params map[string]any `json:"params,omitempty"`
}

// startCHDB returns an empty chDB engine. chDB lives in $VIGIL_CHDB
// (scripts/install-chdb.sh installs it, scripts/test.sh sets the variable);
// without it the test is skipped, or fails when VIGIL_TEST_STRICT is set.
func startCHDB(t *testing.T) *chdbEngine {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatal(msg + "; VIGIL_TEST_STRICT is set")
		}
		t.Skip(msg)
	}
	root := os.Getenv("VIGIL_CHDB")
	if root == "" {
		missing("VIGIL_CHDB is not set (scripts/install-chdb.sh installs chDB, scripts/test.sh sets it)")
	}
	modules := filepath.Join(root, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "chdb", "package.json")); err != nil {
		missing(fmt.Sprintf("chDB is not installed in VIGIL_CHDB=%s (scripts/install-chdb.sh installs it): %v", root, err))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed (scripts/install-test-deps.sh installs it)")
	}
	return &chdbEngine{node: node, modules: modules, dir: t.TempDir()}
}

// run runs stmts in order in one process on the engine's data and returns
// the result rows of each, a JSON array. A failing statement fails the test
// with ClickHouse's message.
func (e *chdbEngine) run(t *testing.T, stmts ...chStmt) []json.RawMessage {
	t.Helper()
	in, err := json.Marshal(stmts)
	if err != nil {
		t.Fatalf("chdb: encode statements: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), e.node, filepath.Join("testdata", "chdb.js"), e.dir)
	// UTC: today(), and the DateTime values passed as text, are UTC dates
	// and times, like the ones the output writes.
	cmd.Env = append(os.Environ(), "NODE_PATH="+e.modules, "TZ=UTC")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chdb: %v\n%s", err, stderr.Bytes())
	}
	var res []json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != len(stmts) {
		t.Fatalf("chdb: %d results for %d statements (%v): %s", len(res), len(stmts), err, stdout.Bytes())
	}
	return res
}

// decodeRows decodes one statement's result rows.
func decodeRows[T any](t *testing.T, raw json.RawMessage) []T {
	t.Helper()
	var rows []T
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("chdb result %s: %v", raw, err)
	}
	return rows
}

// chColumn is a row of system.columns.
type chColumn struct {
	Table   string `json:"table"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Codec   string `json:"compression_codec"`
	Comment string `json:"comment"`
}

// columnNames splits a column list (eventColumns, threatColumns).
func columnNames(list string) []string {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// TestClickHouseModernDDL runs the DDL the output sends to a modern server
// (20.1 and later) on ClickHouse 26.7's engine through chDB: the tables
// are created by the product's statements, have their LowCardinality
// columns, ZSTD codecs and TTL, take rows with the product's column lists,
// drop rows older than the retention on a merge, and answer the example
// analyses of docs/outputs.md. (Debian's 18.16 server, the plain DDL and
// the native protocol are tested by TestClickHouseOutput.)
func TestClickHouseModernDDL(t *testing.T) {
	e := startCHDB(t)
	cfg := ClickHouseConfig{Name: "ch", Address: "127.0.0.1:9000", RetentionDays: 30}.withDefaults()
	events := cfg.Database + "." + cfg.Table
	threats := cfg.Database + "." + cfg.ThreatTable

	// The DDL for the version the engine reports, as the output picks it
	// from the server's.
	info := decodeRows[struct {
		Version string `json:"version"`
		Today   string `json:"today"`
	}](t, e.run(t, chStmt{SQL: "SELECT version() AS version, today() AS today"})[0])
	if len(info) != 1 {
		t.Fatalf("version: %d rows", len(info))
	}
	var major, minor uint64
	if _, err := fmt.Sscanf(info[0].Version, "%d.%d.", &major, &minor); err != nil {
		t.Fatalf("version %q: %v", info[0].Version, err)
	}
	if !modern(major, minor) {
		t.Fatalf("chDB's ClickHouse %s is not modern: the test needs 20.1 or later", info[0].Version)
	}
	t.Logf("chDB: ClickHouse %s", info[0].Version)
	today, err := time.Parse(time.DateOnly, info[0].Today)
	if err != nil {
		t.Fatalf("today(): %v", err)
	}
	day, old := today.Format(time.DateOnly), today.AddDate(0, 0, -40).Format(time.DateOnly)

	var create []chStmt
	for _, t := range []tableSpec{cfg.eventSpec(), cfg.threatSpec()} {
		for _, q := range cfg.createSQL(t, major, minor, cfg.RetentionDays, "Asia/Shanghai") {
			create = append(create, chStmt{SQL: q})
		}
	}
	res := e.run(t, slices.Concat(create, []chStmt{
		{SQL: "SHOW CREATE TABLE " + events},
		{SQL: "SHOW CREATE TABLE " + threats},
		{SQL: "SELECT table, name, type, compression_codec, comment FROM system.columns WHERE database = {db:String} ORDER BY table, position",
			Params: map[string]any{"db": cfg.Database}},
	})...)

	// The engine kept the TTL, the LowCardinality types and the codecs.
	for i, table := range []string{events, threats} {
		show := decodeRows[struct {
			Statement string `json:"statement"`
		}](t, res[len(create)+i])
		const ttl = "TTL date + toIntervalDay(30)"
		if len(show) != 1 || !strings.Contains(show[0].Statement, ttl) {
			t.Errorf("SHOW CREATE TABLE %s: no %s in %+v", table, ttl, show)
		}
	}
	tables := map[string]struct{ low, zstd []string }{
		cfg.Table:       {[]string{"input", "dataset", "category", "outcome", "user_domain", "host", "protocol", "http_method"}, []string{"fields", "raw"}},
		cfg.ThreatTable: {[]string{"threat", "level", "type", "rule_id"}, []string{"payloads"}},
	}
	types := map[string]map[string]string{} // table, column: type
	for _, c := range decodeRows[chColumn](t, res[len(create)+2]) {
		if types[c.Table] == nil {
			types[c.Table] = map[string]string{}
		}
		types[c.Table][c.Name] = c.Type
		want, ok := tables[c.Table]
		if !ok {
			t.Errorf("unexpected table %s", c.Table)
			continue
		}
		if low := slices.Contains(want.low, c.Name); low != (c.Type == "LowCardinality(String)") {
			t.Errorf("%s.%s: type %s (LowCardinality wanted: %v)", c.Table, c.Name, c.Type, low)
		}
		wantCodec := ""
		if slices.Contains(want.zstd, c.Name) {
			wantCodec = "CODEC(ZSTD(1))"
		}
		if c.Codec != wantCodec {
			t.Errorf("%s.%s: codec %q, want %q", c.Table, c.Name, c.Codec, wantCodec)
		}
		// The zone of date and hour is recorded in their comments.
		wantComment := ""
		if c.Name == "date" || c.Name == "hour" {
			wantComment = c.Name + " of ts in Asia/Shanghai"
		}
		if c.Comment != wantComment {
			t.Errorf("%s.%s: comment %q, want %q", c.Table, c.Name, c.Comment, wantComment)
		}
	}

	// INSERTs name the columns as the output does (the lists must cover
	// the tables), with the values bound to typed placeholders named after
	// the columns.
	insert := func(table, list string, rows ...map[string]any) []chStmt {
		names := columnNames(list)
		ph := make([]string, len(names))
		for i, n := range names {
			typ, ok := types[table][n]
			if !ok {
				t.Fatalf("column %s of the INSERT is not in table %s", n, table)
			}
			ph[i] = "{" + n + ":" + typ + "}"
		}
		if len(names) != len(types[table]) {
			t.Fatalf("INSERT into %s names %d columns, the table has %d", table, len(names), len(types[table]))
		}
		sql := cfg.insertSQL(table, list) + " VALUES (" + strings.Join(ph, ", ") + ")"
		var stmts []chStmt
		for _, r := range rows {
			params := map[string]any{}
			for _, n := range names {
				params[n] = ""
				if strings.HasPrefix(types[table][n], "UInt") {
					params[n] = 0
				}
			}
			maps.Copy(params, r)
			stmts = append(stmts, chStmt{SQL: sql, Params: params})
		}
		return stmts
	}
	seq := 0
	event := func(date, at string, f map[string]any) map[string]any {
		seq++
		r := map[string]any{"event_id": strconv.Itoa(seq), "date": date, "ts": date + " " + at, "received": date + " " + at,
			"input": "syslog", "host": "exch01", "fields": `{"host.hostname":"exch01"}`, "raw": "message " + strconv.Itoa(seq)}
		maps.Copy(r, f)
		return r
	}
	logon := func(date, at, ip, user, outcome string) map[string]any {
		return event(date, at, map[string]any{"dataset": "exchange.imap", "category": "authentication", "action": "logon",
			"outcome": outcome, "source_ip": ip, "source_port": 51234, "destination_ip": "10.0.0.5", "destination_port": 993,
			"user": user, "protocol": "imap"})
	}
	lockout := func(date, at, user string) map[string]any {
		return event(date, at, map[string]any{"dataset": "windows.security", "category": "iam", "action": "account-locked",
			"outcome": "success", "user": user, "user_domain": "CORP"})
	}
	alert := func(date, at, threat, level, rule, ip string) map[string]any {
		seq++
		hour, _ := strconv.Atoi(at[:2])
		return map[string]any{"date": date, "hour": hour, "ts": date + " " + at, "src_ip": ip, "threat": threat, "level": level,
			"type": "threshold", "payloads": `["raw line"]`, "message": threat + " from " + ip, "rule_id": rule, "count": 20,
			"alert_id": "a" + strconv.Itoa(seq)}
	}
	// The CREATE statements run again (the output runs them again after
	// every failure); TTL merges wait until the inserted rows are counted.
	stmts := slices.Concat(create, []chStmt{{SQL: "SYSTEM STOP TTL MERGES " + events}, {SQL: "SYSTEM STOP TTL MERGES " + threats}})
	stmts = append(stmts, insert(cfg.Table, eventColumns,
		logon(day, "01:05:00", "203.0.113.7", "alice", "failure"),
		logon(day, "01:20:00", "203.0.113.7", "bob", "failure"),
		logon(day, "01:40:00", "203.0.113.7", "carol", "failure"),
		logon(day, "02:10:00", "198.51.100.9", "dave", "failure"),
		logon(day, "02:15:00", "198.51.100.9", "dave", "success"),
		lockout(day, "03:00:00", "zhangwei"),
		logon(old, "05:00:00", "192.0.2.66", "erin", "failure"), // older than the retention
		lockout(old, "05:01:00", "erin"),
	)...)
	stmts = append(stmts, insert(cfg.ThreatTable, threatColumns,
		alert(day, "01:40:00", "brute-force", "high", "brute-force-source", "203.0.113.7"),
		alert(day, "02:10:00", "brute-force", "high", "brute-force-account", "198.51.100.9"),
		alert(day, "03:00:00", "account-lockout", "medium", "account-locked-out", ""),
		alert(old, "05:00:00", "brute-force", "high", "brute-force-source", "192.0.2.66"), // older than the retention
	)...)
	count := "SELECT (SELECT count() FROM " + events + ") AS events, (SELECT count() FROM " + threats + ") AS threats, " +
		"(SELECT min(date) FROM " + events + ") AS oldest"
	countBefore := len(stmts)
	stmts = append(stmts, chStmt{SQL: count},
		chStmt{SQL: "SYSTEM START TTL MERGES " + events}, chStmt{SQL: "SYSTEM START TTL MERGES " + threats},
		chStmt{SQL: "OPTIMIZE TABLE " + events + " FINAL"}, chStmt{SQL: "OPTIMIZE TABLE " + threats + " FINAL"},
		chStmt{SQL: count})
	res = e.run(t, stmts...)
	type counts struct {
		Events  int    `json:"events"`
		Threats int    `json:"threats"`
		Oldest  string `json:"oldest"`
	}
	before, after := decodeRows[counts](t, res[countBefore]), decodeRows[counts](t, res[len(res)-1])
	if len(before) != 1 || before[0].Events != 8 || before[0].Threats != 4 || before[0].Oldest != old {
		t.Fatalf("after the INSERTs: %+v, want 8 events and 4 alerts, the oldest of %s", before, old)
	}
	// The TTL dropped the rows of 40 days ago on the merge, kept today's.
	if len(after) != 1 || after[0].Events != 6 || after[0].Threats != 3 || after[0].Oldest != day {
		t.Errorf("after OPTIMIZE FINAL: %+v, want 6 events and 3 alerts, the oldest of %s", after, day)
	}

	// docs/outputs.md's analyses, on the rows left.
	want := map[string][]map[string]any{
		"failed logins per hour": {
			{"hour": day + " 01:00:00", "failures": 3},
			{"hour": day + " 02:00:00", "failures": 1},
		},
		"top attacking addresses, and how many accounts each tried": {
			{"source_ip": "203.0.113.7", "failures": 3, "users": 3},
			{"source_ip": "198.51.100.9", "failures": 1, "users": 1},
		},
		"lockouts per day, and who": {
			{"date": day, "lockouts": 1, "users": []string{"zhangwei"}},
		},
		"alerts per threat and level today": {
			{"threat": "account-lockout", "level": "medium", "count()": 1},
			{"threat": "brute-force", "level": "high", "count()": 2},
		},
	}
	queries := outputtest.DocSQL(t, filepath.Join("..", "..", "docs", "outputs.md"))
	stmts = nil
	for _, q := range queries {
		stmts = append(stmts, chStmt{SQL: q.SQL})
	}
	res = e.run(t, stmts...)
	for i, q := range queries {
		w, ok := want[q.Name]
		if !ok {
			t.Errorf("docs/outputs.md's %q: the test has no expected rows for it", q.Name)
			continue
		}
		delete(want, q.Name)
		// Without ORDER BY the order of the rows is the engine's.
		got, exp := canonRows(t, res[i]), canonRows(t, mustJSON(t, w))
		if !strings.Contains(q.SQL, "ORDER BY") {
			slices.Sort(got)
			slices.Sort(exp)
		}
		if !slices.Equal(got, exp) {
			t.Errorf("%s:\n%s\ngot  %s\nwant %s", q.Name, q.SQL, got, exp)
		}
	}
	for name := range want {
		t.Errorf("docs/outputs.md has no query %q any more", name)
	}
}

// canonRows returns each row of a JSON array of objects as canonical JSON
// (sorted keys, numbers as Go formats them).
func canonRows(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, r := range decodeRows[map[string]any](t, raw) {
		out = append(out, string(mustJSON(t, r)))
	}
	return out
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
