package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/internal/output/outputtest"
)

// clickhouseServer is Debian's clickhouse-server run as a plain process on
// loopback with its own data folder; with configXML, a copy of Debian's
// configuration reads it as its config.d/vigil.xml.
type clickhouseServer struct {
	dir, addr string
	port      int
	configXML string
	cmd       *exec.Cmd
}

func (c *clickhouseServer) start(t *testing.T) {
	t.Helper()
	bin := requireProgram(t, "clickhouse-server")
	if c.dir == "" {
		c.dir = t.TempDir()
		if c.port == 0 {
			c.port = freePort(t)
		}
		c.addr = "127.0.0.1:" + strconv.Itoa(c.port)
		for _, d := range []string{"tmp", "uf", "fs", "etc/config.d"} {
			os.MkdirAll(filepath.Join(c.dir, d), 0o755)
		}
	}
	d := c.dir
	config := "/etc/clickhouse-server/config.xml"
	if c.configXML != "" {
		// config.d and users.xml are read next to the configuration file.
		for _, f := range []string{"config.xml", "users.xml"} {
			b, err := os.ReadFile(filepath.Join("/etc/clickhouse-server", f))
			if err == nil {
				err = os.WriteFile(filepath.Join(d, "etc", f), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, "etc", "config.d", "vigil.xml"), []byte(c.configXML), 0o644); err != nil {
			t.Fatal(err)
		}
		config = filepath.Join(d, "etc", "config.xml")
	}
	c.cmd = exec.Command(bin, "--config-file="+config, "--",
		"--path="+d+"/", "--tmp_path="+d+"/tmp/", "--user_files_path="+d+"/uf/", "--format_schema_path="+d+"/fs/",
		"--logger.log="+d+"/s.log", "--logger.errorlog="+d+"/e.log", "--listen_host=127.0.0.1", "--timezone=UTC",
		"--http_port="+strconv.Itoa(freePort(t)), "--tcp_port="+strconv.Itoa(c.port), "--interserver_http_port="+strconv.Itoa(freePort(t)))
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := c.cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clickhouse-server did not listen on %s: %s", c.addr, tail(filepath.Join(d, "e.log"), 2048))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// imapChunks returns the k-th of parts chunks of total IMAP login lines
// from now on, a millisecond apart: 198.51.100.x mostly succeeding, and in
// every chunk k a brute force of 30 failures from 203.0.113.(200+k).
func imapChunks(total, parts int, now time.Time) func(k int) []string {
	return func(k int) []string {
		var lines []string
		for i := k * total / parts; i < (k+1)*total/parts; i++ {
			ip, ok := "198.51.100."+strconv.Itoa(1+i%200), i%10 != 0
			if i%5000 < 30 {
				ip, ok = "203.0.113."+strconv.Itoa(200+k), false
			}
			lines = append(lines, imapLine(now.Add(time.Duration(i)*time.Millisecond), ip, "u"+strconv.Itoa(i%3000), ok))
		}
		return lines
	}
}

func (c *clickhouseServer) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// TestClickHouseOutput: events and alerts reach ClickHouse (events table
// and threat_table, created by Vigil) while ClickHouse is killed and
// restarted in the middle; every event id arrives, and the example SQL of
// docs/outputs.md runs against the data and finds rows (the same SQL runs
// on ClickHouse 26.7's engine in internal/output's TestClickHouseModernDDL).
func TestClickHouseOutput(t *testing.T) {
	var ch clickhouseServer
	ch.start(t)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\noutputs:\n  clickhouse:\n    - name: ch\n      address: %s\n", syslogPort, ch.addr)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
	in := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	// Today's events (UTC, the server's zone), for the docs' query of
	// today's alerts.
	now := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	if midnight := time.Now().UTC().Truncate(24 * time.Hour); now.Before(midnight) {
		now = midnight
	}
	batch := func(from, n int) []string {
		var lines []string
		for i := from; i < from+n; i++ {
			lines = append(lines, imapLine(now.Add(time.Duration(i)*time.Millisecond), "198.51.100."+strconv.Itoa(1+i%50), fmt.Sprintf("user%d", i%300), i%10 != 0))
		}
		return lines
	}
	sendLines(t, in, batch(0, 1000))
	v.waitEvents(t, "source.ip:198.51.100.1 user.name:user0", 1)
	ch.stop() // ClickHouse goes down in the middle
	attack := make([]string, 0, 25)
	for i := range 25 {
		attack = append(attack, imapLine(now.Add(time.Duration(i)*time.Second), "203.0.113.200", fmt.Sprintf("victim%d", i), false))
	}
	sendLines(t, in, append(batch(1000, 1000), append(attack, lockoutLine(now, "zhangwei"))...))
	v.waitEvents(t, "source.ip:203.0.113.200", 25)
	time.Sleep(time.Second)
	ch.start(t) // the same data folder

	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var rows, ids uint64
	for {
		err := db.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM vigil.events").Scan(&rows, &ids)
		if err == nil && ids >= 2026 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse has %d rows, %d distinct event ids (err %v), want 2026", rows, ids, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ids != 2026 {
		t.Errorf("%d distinct event ids, want 2026", ids)
	}
	// The brute force raised an alert; it reached the threat table.
	var threat, level, src string
	for {
		err := db.QueryRow(ctx, "SELECT threat, level, src_ip FROM vigil.threat_table WHERE rule_id = 'brute-force-source' AND src_ip = '203.0.113.200' LIMIT 1").Scan(&threat, &level, &src)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no brute-force alert in threat_table: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if src != "203.0.113.200" || threat == "" || level == "" {
		t.Errorf("threat_table row: threat %q level %q src_ip %q", threat, level, src)
	}
	runDocAnalyses(t, db, "")
}

// runDocAnalyses runs the example analyses of docs/outputs.md on db: each
// must run and find rows, except the one named noRows.
func runDocAnalyses(t *testing.T, db driver.Conn, noRows string) {
	t.Helper()
	for _, q := range outputtest.DocSQL(t, filepath.Join("..", "docs", "outputs.md")) {
		r, err := db.Query(context.Background(), q.SQL)
		if err != nil {
			t.Errorf("%s: %v", q.Name, err)
			continue
		}
		n := 0
		for r.Next() {
			n++
		}
		r.Close()
		if n == 0 && q.Name != noRows {
			t.Errorf("%s: no rows", q.Name)
		}
	}
}

// TestOutputsOutage is the scale-out path under failure: 200k events in
// over syslog, out to ClickHouse and to a Kafka topic, while ClickHouse is
// down for 30 s and the Kafka broker is restarted in the middle. Every
// event id must reach both (distinct ids equal events sent), and the
// threat table must receive the alerts the built-in rules raise.
func TestOutputsOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	kcat := requireProgram(t, "kcat")
	var ch clickhouseServer
	ch.start(t)
	broker := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kdata := t.TempDir()
	var kf *exec.Cmd
	startBroker := func() {
		kf = exec.Command(kfakeBin, "-addr", broker, "-topics", "vigil-events", "-data", kdata)
		if err := kf.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(waitTimeout); ; {
			if c, err := net.DialTimeout("tcp", broker, 200*time.Millisecond); err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("vigil-kfake did not listen")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	startBroker()
	t.Cleanup(func() { _ = kf.Process.Kill(); _ = kf.Wait() })

	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
outputs:
  clickhouse:
    - name: ch
      address: %s
  kafka:
    - name: events
      brokers: [%s]
      topic: vigil-events
`, syslogPort, ch.addr, broker)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
	in := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	const total = 200_000
	now := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	chunk := imapChunks(total, 4, now)
	sendLines(t, in, chunk(0))
	v.waitEvents(t, "source.ip:203.0.113.200", 30)
	ch.stop()
	down := time.Now()
	sendLines(t, in, chunk(1))
	_ = kf.Process.Kill() // the broker restarts in the middle
	_ = kf.Wait()
	sendLines(t, in, chunk(2))
	time.Sleep(2 * time.Second)
	startBroker()
	sendLines(t, in, chunk(3))
	v.waitEvents(t, "source.ip:203.0.113.203", 30)
	time.Sleep(time.Until(down.Add(30 * time.Second)))
	ch.start(t)

	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var rows, ids uint64
	for deadline := time.Now().Add(3 * time.Minute); ; {
		err := db.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM vigil.events").Scan(&rows, &ids)
		if err == nil && ids >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse: %d rows, %d distinct event ids (err %v), want %d", rows, ids, err, total)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ids != total {
		t.Errorf("ClickHouse: %d distinct event ids, want %d", ids, total)
	}
	t.Logf("ClickHouse: %d rows for %d events (%d sent again after the outage)", rows, total, rows-ids)
	var alerts uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM vigil.threat_table WHERE rule_id = 'brute-force-source' AND src_ip LIKE '203.0.113.%'").Scan(&alerts); err != nil || alerts < 4 {
		t.Errorf("threat_table has %d brute-force alerts (err %v), want one per attacker (4)", alerts, err)
	}

	seqs := map[string]bool{}
	for deadline := time.Now().Add(3 * time.Minute); len(seqs) < total; {
		out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-events", "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
		if err != nil {
			t.Logf("kcat: %v", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.Index(l, `"vigil.seq":"`); i >= 0 {
				rest := l[i+len(`"vigil.seq":"`):]
				if j := strings.IndexByte(rest, '"'); j > 0 {
					seqs[rest[:j]] = true
				}
			}
		}
		if len(seqs) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(seqs) != total {
		t.Errorf("Kafka topic: %d distinct event ids, want %d", len(seqs), total)
	}
}
