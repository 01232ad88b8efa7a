package output

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
)

// startClickHouse runs Debian's clickhouse-server as a plain process on
// loopback with its own data folder (scripts/install-test-deps.sh installs
// it) and returns its native address and a function that stops it.
func startClickHouse(t testing.TB, port int) (string, func()) {
	t.Helper()
	p := &chProcess{port: port}
	p.start(t)
	return p.addr(), p.stop
}

// chProcess is a clickhouse-server process with its own data folder, and
// with config, when set, as a file of its config.d (a copy of Debian's
// configuration then reads it).
type chProcess struct {
	port   int    // native; 0: a free one
	config string // XML for config.d/vigil.xml
	dir    string
	cmd    *exec.Cmd
}

func (p *chProcess) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// start starts the server, again on the same data after stop.
func (p *chProcess) start(t testing.TB) {
	t.Helper()
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatal("clickhouse-server is not installed (scripts/install-test-deps.sh installs it)")
		}
		t.Skip("clickhouse-server is not installed")
	}
	config := "/etc/clickhouse-server/config.xml"
	if p.dir == "" {
		p.dir = t.TempDir()
		for _, d := range []string{"tmp", "uf", "fs", "etc/config.d"} {
			os.MkdirAll(filepath.Join(p.dir, d), 0o755)
		}
		if p.port == 0 {
			p.port = freeTCPPort(t)
		}
		if p.config != "" {
			// config.d sits next to the configuration file, users.xml too.
			for _, f := range []string{"config.xml", "users.xml"} {
				b, err := os.ReadFile(filepath.Join("/etc/clickhouse-server", f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(p.dir, "etc", f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(p.dir, "etc", "config.d", "vigil.xml"), []byte(p.config), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p.config != "" {
		config = filepath.Join(p.dir, "etc", "config.xml")
	}
	dir := p.dir
	p.cmd = exec.Command(bin, "--config-file="+config, "--",
		"--path="+dir+"/", "--tmp_path="+dir+"/tmp/", "--user_files_path="+dir+"/uf/", "--format_schema_path="+dir+"/fs/",
		"--logger.log="+dir+"/s.log", "--logger.errorlog="+dir+"/e.log", "--listen_host=127.0.0.1",
		"--http_port="+strconv.Itoa(freeTCPPort(t)), "--tcp_port="+strconv.Itoa(p.port), "--interserver_http_port="+strconv.Itoa(freeTCPPort(t)))
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() { // what the server said, for the failure's cause
			if b, err := os.ReadFile(filepath.Join(dir, "e.log")); err == nil && len(b) > 0 {
				t.Logf("%s e.log (end):\n%s", p.addr(), b[max(0, len(b)-3000):])
			}
		}
	})
	waitListen(t, p.addr(), "clickhouse-server")
}

// stop kills the server (SIGKILL: as a crash).
func (p *chProcess) stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// waitListen waits until addr accepts connections.
func waitListen(t testing.TB, addr, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s", what, addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClickHouseOutput: events land in the table the output creates, with
// typed columns; events journaled while the server is down arrive after it
// is back; every event id once (duplicates would show in uniqExact).
func TestClickHouseOutput(t *testing.T) {
	port := freeTCPPort(t)
	addr, stop := startClickHouse(t, port)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	snd, err := NewClickHouse(ClickHouseConfig{Name: "ch", Address: addr}, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ru, err := NewRunner(j, "ch", "clickhouse", snd.Target(), snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer runInBackground(ru)()
	add := func(from, n int) {
		if err := j.Append(imapLines(from, n)); err != nil {
			t.Fatal(err)
		}
	}
	add(0, 500)
	waitSent(t, ru, 500)
	stop()
	add(500, 300) // the server is down
	time.Sleep(500 * time.Millisecond)
	addr2, _ := startClickHouse(t, port) // a new server on the same port: the table is created again
	_ = addr2
	waitSent(t, ru, 800)

	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.Native})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, ids uint64
	var failures uint64
	if err := db.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id), countIf(outcome = 'failure' AND dataset = 'exchange.imap' AND source_port = 51234) FROM vigil.events").Scan(&n, &ids, &failures); err != nil {
		t.Fatal(err)
	}
	// The second server started empty: it holds what arrived after the outage.
	if n != 300 || ids != 300 || failures != 300 {
		t.Errorf("rows %d, distinct ids %d, typed failures %d; want 300 each", n, ids, failures)
	}
}

// BenchmarkClickHouseOutput: nginx lines from the journal, parsed and
// inserted by the runner into a real clickhouse-server on the same
// machine, per event (b.N events).
func BenchmarkClickHouseOutput(b *testing.B) {
	addr, stop := startClickHouse(b, 0)
	defer stop()
	snd, err := NewClickHouse(ClickHouseConfig{Name: "bench", Address: addr}, parse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchRunner(b, "clickhouse", snd.Target(), snd)
}

// TestClickHouseRetention: day partitions older than retention_days go;
// newer ones stay.
func TestClickHouseRetention(t *testing.T) {
	addr, _ := startClickHouse(t, 0)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	snd, err := NewClickHouse(ClickHouseConfig{Name: "ch", Address: addr, RetentionDays: 7}, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	now := time.Now().UTC()
	var recs []journal.Record
	for i, age := range []int{30, 10, 8, 6, 1, 0} {
		at := now.AddDate(0, 0, -age)
		recs = append(recs, journal.Record{Seq: uint64(i + 1), Time: at, Input: "syslog", Data: []byte(fmt.Sprintf(
			`<134>%s host app: event of day -%d`, at.Format(time.RFC3339), age))})
	}
	ctx := context.Background()
	snd.pruned = now // no check during Send
	if err := snd.Send(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := snd.prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := snd.conn.QueryRow(ctx, "SELECT count() FROM vigil.events").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows left (err %v), want the 3 of the last 7 days", n, err)
	}
}
