package input

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/journal"
)

// setErr makes the sink's Append fail with err (nil: succeed).
func (s *recSink) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

var errTestFull = fmt.Errorf("%w: test", journal.ErrFull)

// TestJournalFullBackpressure: while the journal is full a TCP connection
// is not read from (nor closed) and nothing it sent is lost; UDP datagrams
// are dropped and counted. Both resume by themselves.
func TestJournalFullBackpressure(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, UDP: true})
	s.sink.setErr(errTestFull)

	const n = 50000
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(c)
		for i := range n {
			fmt.Fprintf(w, "msg %d\n", i)
		}
		sent <- w.Flush()
	}()
	waitFor(t, "the connection to pause", func() bool {
		return s.metric(t, "vigil_input_paused_connections", "transport", "tcp") == 1
	})
	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range 3 {
		fmt.Fprintf(u, "datagram %d", i)
	}
	waitFor(t, "udp drops", func() bool {
		return s.metric(t, "vigil_input_dropped_total", "transport", "udp", "reason", "journal_full") == 3
	})

	s.sink.setErr(nil)
	if err := <-sent; err != nil {
		t.Fatalf("sending: %v (the connection must stay open)", err)
	}
	waitFor(t, "every message", func() bool { return s.sink.len() >= n })
	var next int
	for _, m := range s.sink.msgs(c.LocalAddr().String()) {
		i, err := strconv.Atoi(strings.TrimPrefix(m.Data, "msg "))
		if err != nil || i != next {
			t.Fatalf("got %q where msg %d was due", m.Data, next)
		}
		next++
	}
	if next != n {
		t.Fatalf("got %d messages, want %d", next, n)
	}
	for _, reason := range []string{"journal_full", "sink_error"} {
		if v := s.metric(t, "vigil_input_dropped_total", "transport", "tcp", "reason", reason); v != 0 {
			t.Errorf("tcp dropped{%s} = %v, want 0", reason, v)
		}
	}
	if v := s.metric(t, "vigil_input_paused_connections", "transport", "tcp"); v != 0 {
		t.Errorf("paused connections = %v after the journal has room", v)
	}
	fmt.Fprintf(u, "datagram after")
	waitFor(t, "a datagram stored", func() bool { return len(s.sink.msgs("")) == n+1 })
}

// TestJournalFullShutdown: an input that stops while the journal is full
// returns, and counts what it could not store.
func TestJournalFullShutdown(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true})
	s.sink.setErr(errTestFull)
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("a\nb\n"))
	waitFor(t, "the connection to pause", func() bool {
		return s.metric(t, "vigil_input_paused_connections", "transport", "tcp") == 1
	})
	s.stop()
	if v := s.metric(t, "vigil_input_dropped_total", "transport", "tcp", "reason", "journal_full"); v != 2 {
		t.Errorf("dropped{journal_full} = %v, want 2", v)
	}
}
