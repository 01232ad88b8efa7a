package output

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/output/outputtest"
	"github.com/vigil-soc/vigil/internal/parse"
)

// startCHCluster starts ZooKeeper and n clickhouse-servers, the replicas
// of cluster "vigil_test".
func startCHCluster(t *testing.T, n int) []*chProcess {
	t.Helper()
	zk := outputtest.StartZooKeeper(t)
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freeTCPPort(t)
	}
	procs := make([]*chProcess, n)
	for i := range procs {
		procs[i] = &chProcess{port: ports[i], config: outputtest.ClusterXML(zk, "vigil_test", ports, "r"+strconv.Itoa(i+1))}
		procs[i].start(t)
	}
	return procs
}

// imapLines returns n journal records of failed IMAP logins, from i on.
func imapLines(from, n int) []journal.Record {
	recs := make([]journal.Record, 0, n)
	for i := from; i < from+n; i++ {
		recs = append(recs, journal.Record{Time: time.Now(), Input: "syslog", Data: fmt.Appendf(nil,
			`<134>Nov 28 10:00:00 exch01 IMAP4: 2026-11-28T10:00:00.000Z,0000000000ABC123,3,10.0.0.5:993,203.0.113.%d:51234,user%d,12,40,30,login,,"R=""NO LOGIN failed."""`, i%5, i)})
	}
	return recs
}

// waitSent waits until ru delivered n records.
func waitSent(t *testing.T, ru *Runner, n uint64) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for ru.Status().Sent < n {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d of %d: %+v", ru.Status().Sent, n, ru.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverStates returns each server's state in st, by address.
func serverStates(st Status) map[string]string {
	m := map[string]string{}
	for _, s := range st.Servers {
		m[s.Address] = s.State
	}
	return m
}

// counts returns count() and uniqExact(event_id) of query's table.
func counts(t *testing.T, conn driver.Conn, table string) (rows, ids uint64) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM "+table).Scan(&rows, &ids); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return rows, ids
}

// TestClickHouseFailover, on two independent servers (no cluster): the
// output writes to the first address while it answers; when it is killed,
// the events journaled afterwards go to the second, the status and
// metrics name the failed server, and every event id arrived once over
// the two servers.
func TestClickHouseFailover(t *testing.T) {
	a, b := &chProcess{}, &chProcess{}
	a.start(t)
	b.start(t)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	snd, err := NewClickHouse(ClickHouseConfig{Name: "ch", Addresses: []string{a.addr(), b.addr()}}, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ru, err := NewRunner(j, "ch", "clickhouse", snd.Target(), snd, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer runInBackground(ru)()
	if err := j.Append(imapLines(0, 500)); err != nil {
		t.Fatal(err)
	}
	waitSent(t, ru, 500)
	if st := serverStates(ru.Status()); st[a.addr()] != ServerActive || st[b.addr()] != ServerStandby {
		t.Errorf("with both up: %v, want the first active", st)
	}
	connA, connB := chConn(t, a.addr()), chConn(t, b.addr())
	if n, ids := counts(t, connA, "vigil.events"); n != 500 || ids != 500 {
		t.Fatalf("first server: %d rows, %d ids; want 500", n, ids)
	}

	a.stop()
	if err := j.Append(imapLines(500, 300)); err != nil {
		t.Fatal(err)
	}
	waitSent(t, ru, 800)
	st := ru.Status()
	var down ServerStatus
	for _, s := range st.Servers {
		if s.Address == a.addr() {
			down = s
		}
	}
	if serverStates(st)[b.addr()] != ServerActive || down.State != ServerDown || down.Failures == 0 || down.LastError == "" {
		t.Errorf("after the first server died: %+v", st.Servers)
	}
	for _, m := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{ru.serverUp.WithLabelValues("ch", a.addr()), 0},
		{ru.serverUp.WithLabelValues("ch", b.addr()), 1},
		{ru.serverActive.WithLabelValues("ch", a.addr()), 0},
		{ru.serverActive.WithLabelValues("ch", b.addr()), 1},
		{ru.serverFailures.WithLabelValues("ch", a.addr()), float64(down.Failures)},
		{ru.serverFailures.WithLabelValues("ch", b.addr()), 0},
	} {
		if got := testutil.ToFloat64(m.c); got != m.want {
			t.Errorf("%s: %v, want %v", m.c.(prometheus.Metric).Desc(), got, m.want)
		}
	}
	// Without a cluster each server holds what it took; nothing is lost.
	if n, ids := counts(t, connB, "vigil.events"); n != 300 || ids != 300 {
		t.Errorf("second server: %d rows, %d ids; want 300", n, ids)
	}
}

// TestClickHouseCluster, on ZooKeeper and two clickhouse-servers that are
// the replicas of one shard of cluster vigil_test: the output creates the
// replicated tables and the Distributed tables ON CLUSTER; events land
// once and replicate; one server is killed while the output writes, and
// the output fails over to the other, which then holds every event id
// (after the killed one is back, so does it).
func TestClickHouseCluster(t *testing.T) {
	procs := startCHCluster(t, 2)
	a, b := procs[0], procs[1]
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cfg := ClickHouseConfig{Name: "ch", Addresses: []string{a.addr(), b.addr()}, Cluster: "vigil_test"}
	snd, err := NewClickHouse(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ru, err := NewRunner(j, "ch", "clickhouse", snd.Target(), snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopRunner := runInBackground(ru)
	defer stopRunner()
	if err := j.Append(imapLines(0, 1000)); err != nil {
		t.Fatal(err)
	}
	waitSent(t, ru, 1000)

	connA, connB := chConn(t, a.addr()), chConn(t, b.addr())
	ctx := context.Background()
	for _, c := range []driver.Conn{connA, connB} {
		rows, err := c.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = 'vigil' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var name, engine string
			if err := rows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			got[name] = engine
		}
		rows.Close()
		if got["events"] != "Distributed" || got["events_local"] != "ReplicatedReplacingMergeTree" {
			t.Errorf("tables: %v", got)
		}
	}
	// Through either server's Distributed table: every event once; the
	// replica that did not take the INSERT fetched the rows.
	waitRows := func(c driver.Conn, table string, want uint64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			n, ids := counts(t, c, table)
			if ids == want {
				t.Logf("%s: %d rows, %d ids", table, n, ids)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rows, %d ids; want %d", table, n, ids, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRows(connA, "vigil.events", 1000)
	waitRows(connB, "vigil.events_local", 1000)

	// Kill the server written to while the output writes.
	const total = 200_000
	if err := j.Append(imapLines(1000, total-1000)); err != nil {
		t.Fatal(err)
	}
	for ru.Status().Sent < 1000+50_000 {
		time.Sleep(10 * time.Millisecond)
	}
	sentBefore := ru.Status().Sent
	a.stop()
	waitSent(t, ru, total)
	st := ru.Status()
	if s := serverStates(st); s[a.addr()] != ServerDown || s[b.addr()] != ServerActive {
		t.Errorf("after the kill: %+v", st.Servers)
	}
	t.Logf("killed at %d sent; errors %d", sentBefore, st.Errors)
	n, ids := counts(t, connB, "vigil.events")
	t.Logf("survivor: %d rows, %d ids of %d", n, ids, total)

	// The killed server comes back with its data: both replicas converge
	// on every event.
	a.start(t)
	connA = chConn(t, a.addr())
	waitRows(connA, "vigil.events_local", total)
	waitRows(connB, "vigil.events_local", total)
	stopRunner()

	// A delivery repeated (a crash before the cursor moved) shows, and
	// goes, as docs/outputs.md says. (Not the first 1000 records as they
	// went the first time: a replicated table drops an INSERT block
	// identical to a recent one.)
	// Counted on a local table, which has every row, as the Distributed
	// table could read a replica before it fetched them.
	checkDuplicates(t, []driver.Conn{connA, connB}, "vigil.events_local", "vigil.events_local", total, 1000,
		func() { resend(t, j, cfg, 500, 1000) })

	// Alerts: the threat table likewise, created ON CLUSTER by the
	// alerts' writer.
	cfg.Name = "ch-alerts"
	if err := writeAlert(t, cfg, time.Now(), "a1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []driver.Conn{connA, connB} {
		var n uint64
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := c.QueryRow(ctx, "SELECT count() FROM vigil.threat_table_local WHERE alert_id = 'a1'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n != 1 {
			t.Errorf("threat table: %d rows of alert a1, want 1 on each replica", n)
		}
	}

	// Retention drops the events' day (2026-11-28, in the lines) ON
	// CLUSTER, on both replicas; the alert's day stays.
	cfg.RetentionDays = 7
	pr, err := NewClickHouse(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if err := pr.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pr.prune(ctx, time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("retention on the cluster: %v", err)
	}
	for _, c := range []driver.Conn{connA, connB} {
		var events, alerts uint64
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := c.QueryRow(ctx, "SELECT (SELECT count() FROM vigil.events_local), (SELECT count() FROM vigil.threat_table_local)").Scan(&events, &alerts); err != nil {
				t.Fatal(err)
			}
			if events == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if events != 0 || alerts != 1 {
			t.Errorf("after retention: %d events, %d alerts; want 0 and 1", events, alerts)
		}
	}
}

// resend sends records from..from+n of j once more, through a new output
// for cfg: what an output does after a crash before its cursor moved.
func resend(t *testing.T, j *journal.Journal, cfg ClickHouseConfig, from, n int) {
	t.Helper()
	r, err := j.OpenReader("resend")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []journal.Record
	for len(recs) < from+n {
		more, err := r.Next(context.Background(), nil, from+n-len(recs))
		if err != nil {
			t.Fatalf("read %d of %d records: %v", len(recs), n, err)
		}
		keep(more)
		recs = append(recs, more...)
	}
	snd, err := NewClickHouse(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	if err := snd.Send(context.Background(), recs[from:]); err != nil {
		t.Fatal(err)
	}
}

// checkDuplicates runs docs/outputs.md's statements on duplicates. The
// table (in place of vigil.events), its MergeTree table local and the
// servers that hold it (conns; the first answers the queries) have want
// events; resend then delivers dups of them a second time. The first
// statement counts the copies, the second counts without them, and the
// OPTIMIZE removes them. Merges wait meanwhile: one could remove the
// copies before they are counted.
func checkDuplicates(t *testing.T, conns []driver.Conn, table, local string, want, dups uint64, resend func()) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		for _, c := range conns {
			if err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	stmts := docBlock(t, "duplicates")
	if len(stmts) != 3 || !strings.HasPrefix(stmts[2], "OPTIMIZE TABLE vigil.events ") {
		t.Fatalf("docs/outputs.md's duplicates: %q, want two queries and an OPTIMIZE", stmts)
	}
	for i := range stmts {
		stmts[i] = strings.ReplaceAll(stmts[i], "vigil.events", map[bool]string{true: local, false: table}[i == 2])
	}
	conn := conns[0]
	// OPTIMIZE on a replica that just came back may meet its replication
	// queue half read from ZooKeeper (ClickHouse answers "Unknown log
	// entry type: 0", code 49); it is retried for a while.
	optimize := func() {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; {
			err := conn.Exec(ctx, stmts[2])
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", stmts[2], err)
			}
			t.Logf("%s: %v; again", stmts[2], err)
			time.Sleep(time.Second)
		}
	}
	optimize() // copies from before
	if n, ids := counts(t, conn, table); n != want || ids != want {
		t.Fatalf("before: %d rows, %d ids; want %d", n, ids, want)
	}
	exec("SYSTEM STOP MERGES " + local)
	resend()
	var extra int64
	var final uint64
	// Polled: with replicas, the copies may reach this one by a fetch.
	for deadline := time.Now().Add(60 * time.Second); ; {
		err := conn.QueryRow(ctx, stmts[0]).Scan(&extra)
		if err == nil && extra == int64(dups) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d (%v), want %d", stmts[0], extra, err, dups)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := conn.QueryRow(ctx, stmts[1]).Scan(&final); err != nil || final != want {
		t.Errorf("%s: %d (%v), want %d", stmts[1], final, err, want)
	}
	exec("SYSTEM START MERGES " + local)
	optimize()
	if n, ids := counts(t, conn, table); n != want || ids != want {
		t.Errorf("after %s: %d rows, %d ids; want %d", stmts[2], n, ids, want)
	}
}

// TestClickHouseDuplicates, on one server: a batch delivered twice shows
// in count() - uniqExact(event_id), not in count() ... FINAL, and OPTIMIZE
// ... FINAL removes it (the table is a ReplacingMergeTree keyed by
// event_id last).
func TestClickHouseDuplicates(t *testing.T) {
	addr, _ := startClickHouse(t, 0)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(imapLines(0, 3000)); err != nil {
		t.Fatal(err)
	}
	cfg := ClickHouseConfig{Name: "ch", Address: addr}
	resend(t, j, cfg, 0, 3000)
	checkDuplicates(t, []driver.Conn{chConn(t, addr)}, "vigil.events", "vigil.events", 3000, 1000,
		func() { resend(t, j, cfg, 0, 1000) })
}

func TestClickHouseConfigServers(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  ClickHouseConfig
		err  string // "" valid
		want []string
	}{
		{"address", ClickHouseConfig{Address: "a:9000"}, "", []string{"a:9000"}},
		{"addresses", ClickHouseConfig{Addresses: []string{"a:9000", "b:9000"}}, "", []string{"a:9000", "b:9000"}},
		{"cluster", ClickHouseConfig{Addresses: []string{"a:9000", "b:9000"}, Cluster: "vigil_2"}, "", []string{"a:9000", "b:9000"}},
		{"neither", ClickHouseConfig{}, "address is required", nil},
		{"both", ClickHouseConfig{Address: "a:9000", Addresses: []string{"b:9000"}}, "set one of them", nil},
		{"no port", ClickHouseConfig{Addresses: []string{"a:9000", "b"}}, `address "b"`, nil},
		{"twice", ClickHouseConfig{Addresses: []string{"a:9000", "a:9000"}}, "listed twice", nil},
		{"bad cluster", ClickHouseConfig{Address: "a:9000", Cluster: "c'; DROP TABLE x"}, "cluster", nil},
	} {
		tt.cfg.Name = "ch"
		err := tt.cfg.Validate()
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
		}
		if tt.err == "" && !slices.Equal(tt.cfg.servers(), tt.want) {
			t.Errorf("%s: servers %v, want %v", tt.name, tt.cfg.servers(), tt.want)
		}
	}
}

// TestClickHouseClusterDDL: with a cluster, every statement runs ON
// CLUSTER, the local table is replicated with the shard and replica
// macros and has no comments (18.16 refuses them on replicated tables),
// the Distributed table records the zone and shards by the row's id.
func TestClickHouseClusterDDL(t *testing.T) {
	cfg := ClickHouseConfig{Name: "ch", Address: "a:9000", Cluster: "c1", RetentionDays: 30}.withDefaults()
	for _, v := range []struct{ major, minor uint64 }{{18, 16}, {23, 8}} {
		for _, spec := range []tableSpec{cfg.eventSpec(), cfg.threatSpec()} {
			stmts := cfg.createSQL(spec, v.major, v.minor, cfg.RetentionDays, "Asia/Shanghai")
			if len(stmts) != 3 {
				t.Fatalf("%d statements", len(stmts))
			}
			for _, q := range stmts {
				if !strings.Contains(q, " ON CLUSTER c1") {
					t.Errorf("not ON CLUSTER: %s", q)
				}
			}
			local, dist := stmts[1], stmts[2]
			for _, want := range []string{"vigil." + spec.name + "_local ON CLUSTER", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/vigil/" + spec.name + "_local', '{replica}')", "ORDER BY (" + spec.order + ")"} {
				if !strings.Contains(local, want) {
					t.Errorf("local table lacks %q: %s", want, local)
				}
			}
			if strings.Contains(local, "COMMENT") || (v.major >= 20) != strings.Contains(local, "TTL") {
				t.Errorf("local table: %s", local)
			}
			for _, want := range []string{"vigil." + spec.name + " ON CLUSTER", "COMMENT 'date of ts in Asia/Shanghai'",
				"ENGINE = Distributed(c1, vigil, " + spec.name + "_local, sipHash64(" + spec.shardBy + "))"} {
				if !strings.Contains(dist, want) {
					t.Errorf("Distributed table lacks %q: %s", want, dist)
				}
			}
			if strings.Contains(dist, "TTL") || strings.Contains(dist, "CODEC") {
				t.Errorf("Distributed table: %s", dist)
			}
		}
	}
	one := ClickHouseConfig{Name: "ch", Address: "a:9000"}.withDefaults()
	for _, q := range one.createSQL(one.eventSpec(), 18, 16, 0, "UTC") {
		if strings.Contains(q, "CLUSTER") || strings.Contains(q, "Replicated") || strings.Contains(q, "Distributed") {
			t.Errorf("one server: %s", q)
		}
	}
}

// BenchmarkClickHouseEngine measures what ReplacingMergeTree (keyed with
// event_id last) costs against the MergeTree of earlier versions on
// Debian's 18.16: the output's rate for b.N nginx lines, the server's CPU
// to take them and merge them into one part (OPTIMIZE ... FINAL), and the
// time of docs/outputs.md's first two analyses, count() and count() FINAL.
func BenchmarkClickHouseEngine(b *testing.B) {
	for _, engine := range []string{"MergeTree", "ReplacingMergeTree"} {
		b.Run(engine, func(b *testing.B) {
			p := &chProcess{}
			p.start(b)
			defer p.stop()
			conn := chConn(b, p.addr())
			ctx := context.Background()
			cfg := ClickHouseConfig{Name: "bench", Address: p.addr()}.withDefaults()
			for _, q := range cfg.createSQL(cfg.eventSpec(), 18, 16, 0, "UTC") {
				if err := conn.Exec(ctx, strings.Replace(q, "ReplacingMergeTree", engine, 1)); err != nil {
					b.Fatal(err)
				}
			}
			snd, err := NewClickHouse(cfg, parse.Options{})
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := procCPU(b, p.cmd.Process.Pid)
			benchRunner(b, "clickhouse", snd.Target(), snd)
			// The server's CPU for taking the rows and merging them into
			// one part (what collapsing the copies costs: the merge).
			if err := conn.Exec(ctx, "OPTIMIZE TABLE vigil.events FINAL"); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(procCPU(b, p.cmd.Process.Pid)-cpu0)/float64(b.N), "server-cpu-ns/op")
			timed := func(unit, q string) {
				start := time.Now()
				rows, err := conn.Query(ctx, q)
				if err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					rows.Close()
				}
				if err != nil {
					b.Fatalf("%s: %v", q, err)
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), unit)
			}
			// The first two analyses, over every row (the lines are not logins).
			for i, q := range outputtest.DocSQL(b, filepath.Join("..", "..", "docs", "outputs.md"))[:2] {
				timed([]string{"hourly-ms", "top-ms"}[i], strings.Replace(q.SQL, "category = 'authentication' AND outcome = 'failure'", "1", 1))
			}
			timed("count-ms", "SELECT count() FROM vigil.events")
			if engine != "MergeTree" {
				timed("count-final-ms", "SELECT count() FROM vigil.events FINAL")
			}
		})
	}
}

// procCPU is the CPU time (user and system) process pid has used, in
// nanoseconds, from /proc/PID/stat.
func procCPU(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the name may hold spaces
	f := strings.Fields(rest)
	if len(f) < 13 {
		tb.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (utime + stime) * int64(time.Second) / 100 // USER_HZ
}
