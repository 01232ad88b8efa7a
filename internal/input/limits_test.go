package input

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address ip (127.0.0.0/8 is
// all local on Linux, so each ip is a different sender).
func dialFrom(t *testing.T, ip string, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read ends with EOF
// or a reset before waitLimit).
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestConnectionsPerAddress: idle connections from one address cannot
// take the slots of the others.
func TestConnectionsPerAddress(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxConnections: 10, MaxConnectionsPerAddress: 3})
	for range 3 {
		dialFrom(t, "127.0.0.1", s.TCPAddr())
	}
	waitFor(t, "three connections", func() bool { return s.metric(t, "vigil_input_connections", "transport", "tcp") == 3 })
	if c := dialFrom(t, "127.0.0.1", s.TCPAddr()); !closedByServer(c) {
		t.Fatal("a fourth connection from the same address was not closed")
	}
	// The refusal is counted after the close the client saw.
	waitFor(t, "rejected{address_limit} = 1", func() bool {
		return s.metric(t, "vigil_input_connections_rejected_total", "transport", "tcp", "reason", "address_limit") == 1
	})
	c := dialFrom(t, "127.0.0.2", s.TCPAddr())
	fmt.Fprintf(c, "from another address\n")
	waitFor(t, "the other address's message", func() bool { return s.sink.len() == 1 })
	if p := s.sink.snapshot()[0].Peer; p != c.LocalAddr().String() {
		t.Errorf("peer %s, want %s", p, c.LocalAddr())
	}
}

// TestTLSOwnBudget: plain TCP and TLS have separate connection budgets, so
// TLS senders still get in when the plain listener is full.
func TestTLSOwnBudget(t *testing.T) {
	_, certFile, keyFile, _, pool := certs(t, t.TempDir())
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxConnections: 2,
		TLSAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
	for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		dialFrom(t, ip, s.TCPAddr())
	}
	waitFor(t, "two connections", func() bool { return s.metric(t, "vigil_input_connections", "transport", "tcp") == 2 })
	if c := dialFrom(t, "127.0.0.5", s.TCPAddr()); !closedByServer(c) {
		t.Fatal("a third plain connection was not closed")
	}
	waitFor(t, "rejected{limit} = 1", func() bool {
		return s.metric(t, "vigil_input_connections_rejected_total", "transport", "tcp", "reason", "limit") == 1
	})
	c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "over tls while tcp is full\n")
	waitFor(t, "the TLS message", func() bool { return s.sink.len() == 1 })
}
