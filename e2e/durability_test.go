package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// storeCounts returns the rows in the store and the distinct vigil.seq
// among them (crash test events only).
func storeCounts(t *testing.T, v *vigil) (rows, seqs int) {
	t.Helper()
	evs, err := v.search("crashtest | stats count() rows, count_uniq(vigil.seq) seqs", searchParams{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("stats: %v %v", evs, err)
	}
	rows, _ = strconv.Atoi(evs[0]["rows"])
	seqs, _ = strconv.Atoi(evs[0]["seqs"])
	return rows, seqs
}

// TestCrashLoop kills vigil with SIGKILL again and again while a steady
// stream arrives (the store holds part of each stream on disk and part in
// memory, the indexer has not committed its cursor), then checks the store
// row by row: as many rows as distinct vigil.seq, and as many as the
// journal holds. Many rounds make a race in the replay visible.
func TestCrashLoop(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	opts := vigilOpts{dataDir: dataDir, httpPort: freePort(t), syslogPort: freePort(t)}
	const rounds = 6
	skipped := 0.0 // records the replays found stored already
	for r := range rounds {
		v := startVigil(t, opts)
		s := startStream(t, v.syslogAddr, fmt.Sprintf("r%d", r), 100) // 20 000 messages a second
		v.waitEvents(t, fmt.Sprintf(`"crashtest run=r%d "`, r), 1)
		skipped += v.metrics(t)["vigil_index_replay_skipped_total"]
		// Vary where the kill lands in the store's flush cycle.
		time.Sleep(time.Duration(500+300*r) * time.Millisecond)
		v.kill(t)
		s.wait()
	}
	journal := journalCrashRecords(t, dataDir)
	v := startVigil(t, opts)
	waitIndexed(t, v, len(journal))
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	v = startVigil(t, opts)
	defer v.stop(t)
	rows, seqs := storeCounts(t, v)
	t.Logf("%d kills: the journal holds %d messages, the store %d rows with %d distinct vigil.seq; the replays skipped %v stored records",
		rounds, len(journal), rows, seqs, skipped)
	if skipped == 0 {
		t.Error("no replay found records stored already: the kills did not test the replay")
	}
	if rows != seqs || rows != len(journal) {
		t.Errorf("store: %d rows, %d distinct vigil.seq; journal: %d messages (want all three equal)", rows, seqs, len(journal))
	}
}

// activeSegment returns the newest .wal file of a journal directory.
func activeSegment(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) == 0 {
		t.Fatalf("no segment in %s", dir)
	}
	return files[len(files)-1] // names are zero-padded sequence numbers
}

// TestTornTailNumbersNotReused: records the store already holds are cut
// off the journal's tail (a power loss that tore the last write); after
// the restart the journal does not hand their sequence numbers out again,
// so no vigil.seq names two different messages.
func TestTornTailNumbersNotReused(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	opts := vigilOpts{dataDir: dataDir, httpPort: freePort(t), syslogPort: freePort(t)}
	v := startVigil(t, opts)
	var first []string
	for i := range 50 {
		first = append(first, crashMsg("before", i))
	}
	sendLines(t, v.syslogAddr, first)
	v.waitEvents(t, `"crashtest run=before "`, len(first))
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	// Tear the tail: the last records are gone from the journal, but
	// the store has them (with their vigil.seq).
	seg := activeSegment(t, filepath.Join(dataDir, "journal"))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-300); err != nil {
		t.Fatal(err)
	}
	// vigil journal cat reads up to the cut and ends (the numbers after it
	// are a recorded gap with no record; it used to wait there forever).
	// It recovers the journal it opens: give it a copy.
	catDir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(filepath.Join(catDir, "journal"), os.DirFS(filepath.Join(dataDir, "journal"))); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runVigil(t, "journal", "cat", "--data", catDir)
	if n := strings.Count(out, "crashtest run=before "); code != 0 || n == 0 || n >= len(first) {
		t.Fatalf("vigil journal cat after the cut: exit %d, %d of %d messages: %s", code, n, len(first), stderr)
	}

	v = startVigil(t, opts)
	defer v.stop(t)
	var second []string
	for i := range 50 {
		second = append(second, crashMsg("after", i))
	}
	sendLines(t, v.syslogAddr, second)
	v.waitEvents(t, `"crashtest run=after "`, len(second))
	if n := v.metrics(t)["vigil_journal_corrupt_tail_bytes_total"]; n <= 0 {
		t.Fatalf("vigil_journal_corrupt_tail_bytes_total = %v: the tail was not cut", n)
	}
	evs, err := v.search("crashtest | stats by (vigil.seq) count() n | filter n:>1", searchParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) > 0 {
		t.Errorf("%d vigil.seq values name two different messages, e.g. %v", len(evs), evs[0])
	}
	if lost := v.metrics(t)["vigil_journal_consumer_lost_records_total"]; lost != 0 {
		t.Errorf("the skipped numbers were counted as %v lost records", lost)
	}
}

// waitOutputIdle polls until the output has delivered everything the
// journal holds and committed its cursor there.
func waitOutputIdle(t *testing.T, v *vigil, cursorFile string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := v.status(t)
		j, _ := st["journal"].(map[string]any)
		next, _ := j["next_seq"].(float64)
		b, _ := os.ReadFile(cursorFile)
		if next > 1 && strings.TrimSpace(string(b)) == strconv.Itoa(int(next)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the output's cursor %q never reached the journal's end %v", b, next)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleOutputNoResend: an output that has delivered everything and
// waits commits its cursor, so a crash afterwards sends nothing again (an
// idle output used to re-send everything since its last busy moment:
// 10,000 duplicate ClickHouse rows, 22,352 Kafka records).
func TestIdleOutputNoResend(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	rcv, rcvAddr := lineCollector(t)
	var ch clickhouseServer
	ch.start(t)
	broker := startKfake(t, "vigil-events")
	dataDir := filepath.Join(t.TempDir(), "data")
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
outputs:
  syslog:
    - name: Forward
      address: %s
      transport: tcp
      framing: newline
  clickhouse:
    - name: ch
      address: %s
  kafka:
    - name: k
      brokers: [%s]
      topic: vigil-events
`, syslogPort, rcvAddr, ch.addr, broker)
	opts := vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg}
	v := startVigil(t, opts)
	var lines []string
	for i := range 10_000 {
		lines = append(lines, crashMsg("idle", i))
	}
	sendLines(t, fmt.Sprintf("127.0.0.1:%d", syslogPort), lines)
	idle := func() {
		for _, name := range []string{"output-forward", "output-ch", "output-k"} {
			waitOutputIdle(t, v, filepath.Join(dataDir, "journal", "cursors", name))
		}
	}
	idle()
	if got := len(rcv.all()); got != len(lines) {
		t.Fatalf("the receiver got %d messages, want %d", got, len(lines))
	}
	v.kill(t)
	v = startVigil(t, opts)
	defer v.stop(t)
	idle()
	// One more message after the restart: once it arrives, anything sent
	// again from before the crash would have arrived before it.
	sendLines(t, fmt.Sprintf("127.0.0.1:%d", syslogPort), []string{crashMsg("idle", len(lines))})
	for deadline := time.Now().Add(waitTimeout); len(rcv.all()) < len(lines)+1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(rcv.all()); got != len(lines)+1 {
		t.Errorf("after kill -9 and restart the receiver has %d messages, want %d: an idle output sent again what it had delivered", got, len(lines)+1)
	}
	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, ids uint64
	for deadline := time.Now().Add(waitTimeout); ; {
		err = db.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM vigil.events").Scan(&rows, &ids)
		if err == nil && ids >= uint64(len(lines)+1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ids != uint64(len(lines)+1) || rows != ids {
		t.Errorf("ClickHouse after kill -9 and restart: %d rows, %d distinct event ids, want %d of each (%v)", rows, ids, len(lines)+1, err)
	}
	var records int
	kids := map[string]bool{}
	for deadline := time.Now().Add(waitTimeout); ; {
		out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-events", "-o", "beginning", "-e", "-q", "-f", "%h\n").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		got := strings.Split(strings.TrimSpace(string(out)), "\n")
		records = len(got)
		for _, h := range got {
			kids[h] = true
		}
		if len(kids) >= len(lines)+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(kids) != len(lines)+1 || records != len(kids) {
		t.Errorf("Kafka after kill -9 and restart: %d records, %d distinct event ids, want %d of each", records, len(kids), len(lines)+1)
	}
}

// TestThreatTableAfterOutage: an alert raised while ClickHouse is down and
// Vigil is then stopped cleanly reaches the threat table once both are
// started again (alerts wait in the alert journal, not in memory), and the
// threat-table writer is counted like any output.
func TestThreatTableAfterOutage(t *testing.T) {
	var ch clickhouseServer
	ch.start(t)
	ch.stop()
	dataDir := filepath.Join(t.TempDir(), "data")
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
outputs:
  clickhouse:
    - name: ch
      address: %s
`, syslogPort, ch.addr)
	opts := vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg}
	v := startVigil(t, opts)
	now := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	var lines []string
	for i := range 30 {
		lines = append(lines, imapLine(now.Add(time.Duration(i)*time.Second), "203.0.113.99", "u"+strconv.Itoa(i), false))
	}
	sendLines(t, fmt.Sprintf("127.0.0.1:%d", syslogPort), lines)
	a := v.waitAlert(t, "event.dataset:vigil.alert rule.id:brute-force-source source.ip:203.0.113.99")
	if m := v.metrics(t); m[`vigil_output_errors_total{output="ch-alerts"}`] == 0 {
		v.waitMetric(t, `vigil_output_errors_total{output="ch-alerts"}`, 1)
	}
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}

	ch.start(t)
	v = startVigil(t, opts)
	defer v.stop(t)
	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n uint64
	for deadline := time.Now().Add(2 * time.Minute); ; {
		err := db.QueryRow(context.Background(), "SELECT count() FROM vigil.threat_table WHERE alert_id = ?", a["alert.id"]).Scan(&n)
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alert raised during the outage never reached the threat table (%d rows, %v)", n, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n != 1 {
		t.Errorf("the alert is in the threat table %d times, want once", n)
	}
	v.waitMetric(t, `vigil_output_records_total{output="ch-alerts"}`, 1)
}

// waitCount polls until a query counts at least n events.
func waitCount(t *testing.T, v *vigil, q string, n int) {
	t.Helper()
	waitCountOf(t, v.count, q, n)
}

// waitAlertCount polls until a query of the alerts counts at least n.
func waitAlertCount(t *testing.T, v *vigil, q string, n int) {
	t.Helper()
	waitCountOf(t, v.countAlerts, q, n)
}

func waitCountOf(t *testing.T, count func(string) (int, error), q string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, err := count(q)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q counts %d events (%v), want %d", q, got, err, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEventIDsAcrossNodes: two Vigil nodes write to one ClickHouse events
// table; every event has its own event_id (the journal's sequence number
// alone collided between nodes).
func TestEventIDsAcrossNodes(t *testing.T) {
	var ch clickhouseServer
	ch.start(t)
	const perNode = 2000
	for node := range 2 {
		syslogPort := freePort(t)
		cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  enabled: false
outputs:
  clickhouse:
    - name: ch
      address: %s
`, syslogPort, ch.addr)
		v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
		var lines []string
		for i := range perNode {
			lines = append(lines, crashMsg(fmt.Sprintf("node%d", node), i))
		}
		sendLines(t, fmt.Sprintf("127.0.0.1:%d", syslogPort), lines)
		waitCount(t, v, fmt.Sprintf(`"crashtest run=node%d "`, node), perNode)
		defer v.stop(t)
	}
	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, ids uint64
	for deadline := time.Now().Add(2 * time.Minute); ; {
		err := db.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM vigil.events").Scan(&rows, &ids)
		if err == nil && rows >= 2*perNode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse has %d rows (%v), want %d", rows, err, 2*perNode)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if ids != rows {
		t.Errorf("%d rows from two nodes carry only %d distinct event ids", rows, ids)
	}
}

// TestKafkaCrash: Vigil is killed (SIGKILL) while it consumes 50,000
// records from Kafka. After the restart every record is in the store; a
// record read a second time (appended before the kill, its offset not yet
// committed) keeps its event.id, so duplicates are recognised. Alerts go
// to the output's alerts_topic, where kcat reads them. (Before: 89,997 rows
// for 50,000 records, each duplicate with an id of its own.)
func TestKafkaCrash(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	broker := startKfake(t, "mail,vigil-events,vigil-alerts")
	const total = 50_000
	start := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	var b strings.Builder
	for i := range total {
		// A failed IMAP login each: the same address throughout, so the
		// built-in brute-force rule raises alerts.
		b.WriteString(imapLine(start.Add(time.Duration(i)*10*time.Millisecond), "203.0.113.77", fmt.Sprintf("k%d", i), false))
		b.WriteByte('\n')
	}
	produce := exec.Command(kcat, "-P", "-b", broker, "-t", "mail")
	produce.Stdin = strings.NewReader(b.String())
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}
	cfg := fmt.Sprintf(`
inputs:
  kafka:
    - brokers: [%s]
      topics: [mail]
outputs:
  kafka:
    - name: k
      brokers: [%s]
      topic: vigil-events
      alerts_topic: vigil-alerts
`, broker, broker)
	opts := vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), config: cfg}
	v := startVigil(t, opts)
	waitCount(t, v, "event.dataset:exchange.imap", total/5)
	v.kill(t)
	v = startVigil(t, opts)
	defer v.stop(t)
	q := "event.dataset:exchange.imap | stats count() rows, count_uniq(event.id) ids, count_uniq(user.name) users"
	var rows, ids, users int
	for deadline := time.Now().Add(2 * time.Minute); ; {
		evs, err := v.search(q, searchParams{})
		if err == nil && len(evs) == 1 {
			rows, _ = strconv.Atoi(evs[0]["rows"])
			ids, _ = strconv.Atoi(evs[0]["ids"])
			users, _ = strconv.Atoi(evs[0]["users"])
			if users == total {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d rows, %d event ids, %d of %d records (%v)", rows, ids, users, total, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("kill -9 while consuming %d Kafka records: %d rows, %d distinct event ids (%d read twice)", total, rows, ids, rows-ids)
	if ids != total {
		t.Errorf("%d distinct event ids for %d records: a record read twice must keep its id", ids, total)
	}

	out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-alerts", "-o", "beginning", "-e", "-q", "-f", "%k %s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		key, value, _ := strings.Cut(l, " ")
		var a map[string]any
		if json.Unmarshal([]byte(value), &a) == nil && a["rule.id"] == "brute-force-source" && a["alert.id"] == key {
			found = true
		}
	}
	if !found {
		t.Errorf("no brute-force alert, keyed by its alert.id, in the alerts topic: %.500q", out)
	}
}
