package outputtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zooKeeperJar is Debian's ZooKeeper server (package zookeeper); its
// manifest names the other jars it needs.
const zooKeeperJar = "/usr/share/java/zookeeper.jar"

// StartZooKeeper runs Debian's ZooKeeper as a plain process on loopback
// with its own data folder, waits until it serves, and returns its
// address. ClickHouse 18.16 keeps the state of replicated tables and the
// queue of ON CLUSTER DDL in it. Without ZooKeeper (or java) the test is
// skipped, or fails when CI or VIGIL_TEST_STRICT is set.
func StartZooKeeper(tb testing.TB) string {
	tb.Helper()
	java, err := exec.LookPath("java")
	if _, serr := os.Stat(zooKeeperJar); err != nil || serr != nil {
		msg := "ZooKeeper is not installed (scripts/install-test-deps.sh installs package zookeeper)"
		if os.Getenv("CI") != "" || os.Getenv("VIGIL_TEST_STRICT") != "" {
			tb.Fatal(msg + "; failing because CI or VIGIL_TEST_STRICT is set")
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf("tickTime=500\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
		filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(java, "-Xmx128m", "-cp", zooKeeperJar, "org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Serving, not only listening: a clickhouse-server 18.16 whose first
	// session failed crashes (SIGSEGV) at its first ON CLUSTER statement.
	for deadline := time.Now().Add(60 * time.Second); !zooKeeperServes(addr); {
		if time.Now().After(deadline) {
			tb.Fatalf("ZooKeeper does not serve on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr
}

// zooKeeperServes asks the server at addr for its state (four-letter
// command srvr).
func zooKeeperServes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: standalone")
}

// ClusterXML is the config.d file of one clickhouse-server of ClickHouse
// cluster name whose one shard has a replica on each of the loopback
// native ports: ZooKeeper at zk, the macros shard (1) and replica, and
// internal_replication (the replicated tables copy the rows, the
// Distributed table writes each row to one replica).
func ClusterXML(zk, name string, ports []int, replica string) string {
	host, port, _ := net.SplitHostPort(zk)
	var replicas strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&replicas, "<replica><host>127.0.0.1</host><port>%d</port></replica>", p)
	}
	return fmt.Sprintf(`<yandex>
  <zookeeper><node><host>%s</host><port>%s</port></node></zookeeper>
  <macros><shard>1</shard><replica>%s</replica></macros>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <remote_servers>
    <%s><shard><internal_replication>true</internal_replication>%s</shard></%s>
  </remote_servers>
</yandex>
`, host, port, replica, name, replicas.String(), name)
}
