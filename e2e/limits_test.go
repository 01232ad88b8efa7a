package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address ip
// (all of 127.0.0.0/8 is local on Linux, so each ip is another sender); it
// is closed when the test ends.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startWithInput starts vigil with one syslog input, syslog, on a free
// port, configured further by settings (YAML keys of the input, one per
// line), and sets v.syslogAddr.
func startWithInput(t *testing.T, settings ...string) *vigil {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - name: syslog\n      addr: %q\n", addr)
	for _, kv := range settings {
		cfg += "      " + kv + "\n"
	}
	v := startVigil(t, vigilOpts{syslogPort: -1, config: cfg})
	v.syslogAddr = addr
	return v
}

// closedByPeer waits for the server to close c (a read returns an error
// that is not our own timeout).
func closedByPeer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// TestConnectionLimits checks the connection budgets with real
// connections: idle connections from one address cannot lock another
// address out, TLS still accepts when plain TCP is full, and the
// refusals are counted by reason.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	v := startVigil(t, vigilOpts{config: fmt.Sprintf(`inputs:
  syslog:
    - name: syslog
      max_connections: 6
      max_connections_per_address: 3
      tls:
        addr: %q
        cert_file: %q
        key_file: %q
        max_connections: 2
`, tlsAddr, certFile, keyFile)})
	conns := func() float64 { return v.metrics(t)[`vigil_input_connections{input="syslog",transport="tcp"}`] }

	// Three idle connections take all of 127.0.0.1's slots...
	var idle []net.Conn
	for range 3 {
		idle = append(idle, dialFrom(t, "127.0.0.1", v.syslogAddr))
	}
	waitFor(t, "three connections", func() bool { return conns() == 3 })
	if c := dialFrom(t, "127.0.0.1", v.syslogAddr); !closedByPeer(t, c) {
		t.Fatal("a fourth connection from 127.0.0.1 was not closed")
	}
	// ...but not the others'.
	tok := token("otheraddr")
	for i := range 3 {
		c := dialFrom(t, "127.0.0.2", v.syslogAddr)
		fmt.Fprintf(c, "%s\n", rfc5424(14, "h", "app", fmt.Sprintf("%s %d", tok, i)))
	}
	v.waitEvents(t, tok, 3)

	// Plain TCP is full now (6); a third address is refused, TLS is not.
	if c := dialFrom(t, "127.0.0.3", v.syslogAddr); !closedByPeer(t, c) {
		t.Fatal("a seventh plain connection was not closed")
	}
	tc, err := tls.DialWithDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 10 * time.Second},
		"tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS while plain TCP is full: %v", err)
	}
	defer tc.Close()
	tlsTok := token("tlsfull")
	fmt.Fprintf(tc, "%s\n", rfc5424(14, "h", "app", tlsTok))
	v.waitOne(t, tlsTok)

	// The held connections still work.
	held := token("held")
	fmt.Fprintf(idle[0], "%s\n", rfc5424(14, "h", "app", held))
	v.waitOne(t, held)

	m := v.metrics(t)
	for series, want := range map[string]float64{
		`vigil_input_connections_rejected_total{input="syslog",reason="address_limit",transport="tcp"}`: 1,
		`vigil_input_connections_rejected_total{input="syslog",reason="limit",transport="tcp"}`:         1,
		`vigil_input_connections{input="syslog",transport="tls"}`:                                       1,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	if n := v.logCount(t, "syslog: too many connections"); n < 1 {
		t.Error("the refusals were not logged")
	}
}

// TestIdleTimeout: connections that send nothing for idle_timeout are
// closed (and counted), freeing their slots.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	v := startWithInput(t, "max_connections: 2", "idle_timeout: 1s")
	a := dialFrom(t, "127.0.0.1", v.syslogAddr)
	b := dialFrom(t, "127.0.0.1", v.syslogAddr)
	fmt.Fprintf(a, "%s\n", rfc5424(14, "h", "app", token("beforeidle")))
	for _, c := range []net.Conn{a, b} {
		if !closedByPeer(t, c) {
			t.Fatal("an idle connection was not closed")
		}
	}
	v.waitMetric(t, `vigil_input_connections_closed_total{input="syslog",reason="idle_timeout",transport="tcp"}`, 2)
	tok := token("afteridle")
	sendTCP(t, v.syslogAddr, []byte(rfc5424(14, "h", "app", tok)+"\n"))
	v.waitOne(t, tok)
}

// waitFor polls cond until it holds, failing after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRsyslogReconnects: rsyslog, whose connection Vigil closed for being
// idle, opens a new one for its next message and loses nothing (what
// docs/configuration.md promises for idle_timeout).
func TestRsyslogReconnects(t *testing.T) {
	t.Parallel()
	requireProgram(t, "rsyslogd")
	v := startWithInput(t, "idle_timeout: 1s")
	logFile := filepath.Join(t.TempDir(), "app.log")
	tok := token("reconnect")
	if err := os.WriteFile(logFile, []byte(tok+" line 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startRsyslog(t, v, logFile, "app")
	v.waitOne(t, tok+" line 0")
	v.waitMetric(t, `vigil_input_connections_closed_total{input="syslog",reason="idle_timeout",transport="tcp"}`, 1)
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(f, "%s line %d\n", tok, i)
	}
	v.waitEvents(t, tok, 4)
	if n, err := v.count(tok); err != nil || n != 4 {
		t.Errorf("%d events (%v), want the 4 lines once each", n, err)
	}
}
