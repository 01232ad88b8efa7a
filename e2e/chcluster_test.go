package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/internal/output/outputtest"
)

// startClickHouseCluster starts ZooKeeper and n clickhouse-servers, the
// replicas of the one shard of ClickHouse cluster name (internal
// replication, macros shard=1 and replica=rN).
func startClickHouseCluster(t *testing.T, name string, n int) []*clickhouseServer {
	t.Helper()
	zk := outputtest.StartZooKeeper(t)
	servers := make([]*clickhouseServer, n)
	ports := make([]int, n)
	for i := range servers {
		servers[i] = &clickhouseServer{port: freePort(t)}
		ports[i] = servers[i].port
	}
	for i, s := range servers {
		s.configXML = outputtest.ClusterXML(zk, name, ports, "r"+strconv.Itoa(i+1))
		s.start(t)
	}
	return servers
}

// TestClickHouseClusterFailover: Vigil writes to a ClickHouse cluster of
// two replicas (ZooKeeper, Distributed over ReplicatedReplacingMergeTree,
// created by Vigil ON CLUSTER); the server it writes to is killed in the
// middle of the stream; it fails over to the other (status and metrics
// name the dead one), and once the dead one is back both replicas hold
// every event id, the threat table the alerts, and the analyses of
// docs/outputs.md run on the Distributed table.
func TestClickHouseClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and two ClickHouse servers")
	}
	chs := startClickHouseCluster(t, "vigil_e2e", 2)
	a, b := chs[0], chs[1]
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
outputs:
  clickhouse:
    - name: ch
      addresses: [%s, %s]
      cluster: vigil_e2e
`, syslogPort, a.addr, b.addr)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})
	in := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	const total = 100_000
	now := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	chunk := imapChunks(total, 2, now)
	sendLines(t, in, chunk(0))
	v.waitMetric(t, `vigil_output_records_total{output="ch"}`, 1)
	a.stop() // while the output writes
	sendLines(t, in, chunk(1))
	v.waitMetric(t, `vigil_output_records_total{output="ch"}`, total)

	// The status and the metrics name the server that died.
	var servers []any
	for _, o := range v.status(t)["outputs"].([]any) {
		if o := o.(map[string]any); o["name"] == "ch" {
			servers, _ = o["servers"].([]any)
		}
	}
	states := map[string]string{}
	for _, s := range servers {
		s := s.(map[string]any)
		states[s["address"].(string)], _ = s["state"].(string)
	}
	if states[a.addr] != "down" || states[b.addr] != "active" {
		t.Errorf("status servers: %v", servers)
	}
	m := v.metrics(t)
	if up := m[fmt.Sprintf(`vigil_output_server_up{output="ch",server="%s"}`, a.addr)]; up != 0 {
		t.Errorf("vigil_output_server_up of the dead server: %v", up)
	}
	if n := m[fmt.Sprintf(`vigil_output_server_failures_total{output="ch",server="%s"}`, a.addr)]; n < 1 {
		t.Errorf("vigil_output_server_failures_total of the dead server: %v", n)
	}

	// Back with its data: both replicas converge on every event, once
	// each (duplicates of the failed-over batches merge away: FINAL).
	a.start(t)
	ctx := context.Background()
	for _, s := range []*clickhouseServer{a, b} {
		db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.addr}, Protocol: clickhouse.Native})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var rows, ids, final uint64
		for deadline := time.Now().Add(2 * time.Minute); ; {
			err := db.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM vigil.events_local").Scan(&rows, &ids)
			if err == nil && ids >= total {
				// The Distributed table may read the other replica, which
				// may still be fetching parts: wait for it too.
				err = db.QueryRow(ctx, "SELECT count() FROM vigil.events FINAL").Scan(&final)
				if err == nil && final >= total {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rows, %d event ids, %d rows FINAL (%v), want %d", s.addr, rows, ids, final, err, total)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if ids != total || final != total {
			t.Errorf("%s: %d event ids, %d rows FINAL, want %d", s.addr, ids, final, total)
		}
		t.Logf("%s: %d rows for %d events", s.addr, rows, total)
		waitThreats(t, db, 2)
		// The analyses read the Distributed tables (no lockouts here).
		runDocAnalyses(t, db, "lockouts per day, and who")
	}
}

// waitThreats waits until the threat table has the brute-force alerts of
// both attackers.
func waitThreats(t *testing.T, db driver.Conn, want uint64) {
	t.Helper()
	var n uint64
	for deadline := time.Now().Add(time.Minute); ; {
		err := db.QueryRow(context.Background(), "SELECT uniqExact(src_ip) FROM vigil.threat_table WHERE rule_id = 'brute-force-source' AND src_ip LIKE '203.0.113.%'").Scan(&n)
		if err == nil && n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threat table: alerts for %d attackers (%v), want %d", n, err, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
