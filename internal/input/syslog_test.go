package input

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/vigil-soc/vigil/internal/journal"
)

const waitLimit = 30 * time.Second

// recSink records what it is given. Append can be made to fail or to block.
type recSink struct {
	mu    sync.Mutex
	recs  []journal.Record
	err   error
	block chan struct{} // Append waits for it to be closed, if not nil
}

func (s *recSink) Append(recs []journal.Record) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, r := range recs {
		if r.Seq != 0 || r.Time.IsZero() {
			panic("bad record")
		}
		r.Data = bytes.Clone(r.Data) // neither Data nor the slice is ours to keep
		s.recs = append(s.recs, r)
	}
	return nil
}

func (s *recSink) snapshot() []journal.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]journal.Record(nil), s.recs...)
}

func (s *recSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// msgs returns the recorded messages, optionally only those from peer.
func (s *recSink) msgs(peer string) []msg {
	var out []msg
	for _, r := range s.snapshot() {
		if peer == "" || r.Peer == peer {
			out = append(out, msg{string(r.Data), r.Flags})
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// server is a running Syslog input.
type server struct {
	*Syslog
	sink *recSink
	reg  *prometheus.Registry
	stop func() // cancels Serve and waits for it
}

func startSyslog(t testing.TB, cfg SyslogConfig) *server {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	sink := &recSink{}
	reg := prometheus.NewRegistry()
	s, err := NewSyslog(cfg, sink, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &server{Syslog: s, sink: sink, reg: reg, stop: stop}
}

// metric returns the value of the metric with the given name and labels
// (a subset), or -1 if there is none.
func (s *server) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// sendTCP writes each part in its own Write on one connection and closes it.
// It returns the connection's local address.
func sendTCP(t testing.TB, addr net.Addr, parts ...[]byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range parts {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	return c.LocalAddr().String()
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  SyslogConfig
		ok   bool
	}{
		{"udp", SyslogConfig{Addr: "127.0.0.1:0", UDP: true}, true},
		{"tcp and udp", SyslogConfig{Addr: "127.0.0.1:0", UDP: true, TCP: true}, true},
		{"nothing", SyslogConfig{}, false},
		{"addr without transport", SyslogConfig{Addr: "127.0.0.1:0"}, false},
		{"transport without addr", SyslogConfig{TCP: true}, false},
		{"bad addr", SyslogConfig{Addr: "127.0.0.1", TCP: true}, false},
		{"tls without cert", SyslogConfig{TLSAddr: "127.0.0.1:0"}, false},
		{"tls missing files", SyslogConfig{TLSAddr: "127.0.0.1:0", CertFile: dir + "/no.pem", KeyFile: dir + "/no.key"}, false},
		{"ca without tls", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, ClientCAFile: "ca.pem"}, false},
		{"negative size", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: -1}, false},
		{"huge size", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: MaxOctetCount + 1}, false},
		{"negative conns", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxConnections: -1}, false},
		{"negative buffer", SyslogConfig{Addr: "127.0.0.1:0", UDP: true, UDPReadBuffer: -1}, false},
		{"negative idle: never", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, IdleTimeout: -1}, true},
		{"negative tls conns", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxTLSConnections: -1}, false},
		{"negative per address", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxConnectionsPerAddress: -1}, false},
		{"negative buffer memory", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxBufferMemory: -1}, false},
		{"buffer memory below one message", SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: 1 << 20, MaxBufferMemory: 1 << 20}, false},
		{"long name", SyslogConfig{Name: strings.Repeat("n", maxNameLen+1), Addr: "127.0.0.1:0", TCP: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSyslog(tt.cfg, &recSink{}, prometheus.NewRegistry(), nil)
			if (err == nil) != tt.ok {
				t.Fatalf("NewSyslog: err %v, want ok %v", err, tt.ok)
			}
			if err == nil {
				c := s.cfg
				if c.MaxMessageSize != DefaultMaxMessageSize || c.MaxConnections != DefaultMaxConnections ||
					c.MaxTLSConnections != DefaultMaxTLSConnections || c.MaxConnectionsPerAddress != DefaultMaxConnectionsPerAddress ||
					c.MaxBufferMemory != DefaultMaxBufferMemory || c.UDPReadBuffer != DefaultUDPReadBuffer || c.Name != "syslog" ||
					(c.IdleTimeout != DefaultIdleTimeout && c.IdleTimeout >= 0) {
					t.Fatalf("defaults not applied: %+v", c)
				}
			}
		})
	}
	if _, err := NewSyslog(SyslogConfig{Addr: "127.0.0.1:0", TCP: true}, nil, nil, nil); err == nil {
		t.Fatal("nil sink accepted")
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := NewSyslog(SyslogConfig{Addr: ln.Addr().String(), TCP: true}, &recSink{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil {
		t.Fatal("Listen on a used port succeeded")
	}
}

// TestTwoInputsOneRegistry checks that two inputs can share a registry.
func TestTwoInputsOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		if _, err := NewSyslog(SyslogConfig{Name: name, Addr: "127.0.0.1:0", UDP: true, TCP: true}, &recSink{}, reg, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUDP(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", UDP: true, MaxMessageSize: 62000})
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := bytes.Repeat([]byte("0123456789"), 6144) // 60 KiB
	tooBig := bytes.Repeat([]byte("z"), 63000)
	send := []string{"<13>plain", "<13>lf\n", "<13>nul\x00", "<13>two\n\n", "\n", "", string(big) + "\n", string(tooBig)}
	want := []msg{{"<13>plain", 0}, {"<13>lf", 0}, {"<13>nul", 0}, {"<13>two\n", 0},
		{string(big), 0}, {string(tooBig[:62000]), journal.FlagTruncated}}
	kept := 0
	for _, d := range send {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
		// Wait for each kept datagram so that a burst cannot overflow
		// the socket buffer.
		if strings.TrimSuffix(d, "\n") != "" {
			kept++
			waitFor(t, "datagram", func() bool { return s.sink.len() >= kept })
		}
	}
	waitFor(t, "all datagrams", func() bool { return s.sink.len() >= len(want) })
	if got := s.sink.msgs(""); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, r := range s.sink.snapshot() {
		if r.Peer != c.LocalAddr().String() || r.Input != "test" {
			t.Fatalf("record peer %q input %q, want %q test", r.Peer, r.Input, c.LocalAddr())
		}
	}
	if v := s.metric(t, "vigil_input_messages_total", "transport", "udp"); v != float64(len(want)) {
		t.Fatalf("messages_total %v", v)
	}
	if v := s.metric(t, "vigil_input_truncated_total", "transport", "udp"); v != 1 {
		t.Fatalf("truncated_total %v", v)
	}
	if v := s.metric(t, "vigil_input_udp_receive_buffer_bytes"); v <= 0 {
		t.Fatalf("udp_receive_buffer_bytes %v", v)
	}
	if runtime.GOOS == "linux" {
		if v := s.metric(t, "vigil_input_udp_receive_drops", "input", "test"); v != 0 {
			t.Fatalf("udp_receive_drops %v", v)
		}
		if v := s.metric(t, "vigil_input_udp_host_receive_buffer_errors_total"); v < 0 {
			t.Fatalf("udp_host_receive_buffer_errors_total missing")
		}
	}
}

// TestUDPKernelDrops fills a tiny socket buffer while the sink is stuck and
// checks that the kernel's drops are exported.
func TestUDPKernelDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/udp")
	}
	if _, err := os.Stat("/proc/net/udp"); err != nil {
		t.Skip(err)
	}
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", UDP: true, UDPReadBuffer: 4096})
	block := make(chan struct{})
	s.sink.mu.Lock()
	s.sink.block = block
	s.sink.mu.Unlock()
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := bytes.Repeat([]byte("d"), 1000)
	// The queue, one batch and the socket buffer hold fewer than this.
	for range 5000 {
		c.Write(d)
	}
	waitFor(t, "kernel drops", func() bool { return s.metric(t, "vigil_input_udp_receive_drops", "input", "test") > 0 })
	close(block)
	drops := s.metric(t, "vigil_input_udp_receive_drops", "input", "test")
	waitFor(t, "received", func() bool {
		return s.metric(t, "vigil_input_messages_total", "transport", "udp")+drops >= 5000
	})
	t.Logf("kernel dropped %v of 5000", drops)
}

func TestTCPFraming(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true})
	tests := []struct {
		name string
		in   string
		want []msg
	}{
		{"lf", "<13>a\n<13>b\n", []msg{{"<13>a", 0}, {"<13>b", 0}}},
		{"crlf", "<13>a\r\n<13>b\r\n", []msg{{"<13>a", 0}, {"<13>b", 0}}},
		{"nul", "<13>a\x00<13>b\x00", []msg{{"<13>a", 0}, {"<13>b", 0}}},
		{"octet", "5 <13>a5 <13>b", []msg{{"<13>a", 0}, {"<13>b", 0}}},
		{"mixed", "<13>lf\n7 <13>oct<13>crlf\r\n\n<13>nul\x009 <13>\nmore", []msg{
			{"<13>lf", 0}, {"<13>oct", 0}, {"<13>crlf", 0}, {"<13>nul", 0}, {"<13>\nmore", 0}}},
		{"no final lf", "<13>a\n<13>b", []msg{{"<13>a", 0}, {"<13>b", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := sendTCP(t, s.TCPAddr(), []byte(tt.in))
			waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= len(tt.want) })
			if got := s.sink.msgs(peer); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for _, r := range s.sink.snapshot() {
				if r.Peer == peer && r.Input != "test" {
					t.Fatalf("input %q", r.Input)
				}
			}
		})
	}
	waitFor(t, "connections closed", func() bool { return s.metric(t, "vigil_input_connections", "transport", "tcp") == 0 })
	if v := s.metric(t, "vigil_input_truncated_frames_total", "transport", "tcp"); v != 1 {
		t.Fatalf("truncated_frames_total %v, want 1", v)
	}
}

// TestTCPSplitWrites sends a stream split in two writes at every byte
// boundary, each on its own connection, and byte by byte.
func TestTCPSplitWrites(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true})
	in := []byte("<13>lf\n7 <13>oct<13>crlf\r\n<13>nul\x0012x\n")
	want := []msg{{"<13>lf", 0}, {"<13>oct", 0}, {"<13>crlf", 0}, {"<13>nul", 0}, {"12x", 0}}
	var peers []string
	for i := 1; i < len(in); i++ {
		peers = append(peers, sendTCP(t, s.TCPAddr(), in[:i], in[i:]))
	}
	parts := make([][]byte, len(in))
	for i := range in {
		parts[i] = in[i : i+1]
	}
	peers = append(peers, sendTCP(t, s.TCPAddr(), parts...))
	waitFor(t, "messages", func() bool { return s.sink.len() >= len(peers)*len(want) })
	for _, p := range peers {
		if got := s.sink.msgs(p); !reflect.DeepEqual(got, want) {
			t.Fatalf("peer %s: got %v, want %v", p, got, want)
		}
	}
	if v := s.metric(t, "vigil_input_framing_errors_total", "transport", "tcp"); v != float64(len(peers)) {
		t.Fatalf("framing_errors_total %v, want %d", v, len(peers))
	}
}

func TestTCPLongMessages(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: 65536})
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	stream := append(append([]byte{}, big...), "\nnext line\n"...)
	stream = fmt.Appendf(stream, "%d %s10 next octet", len(big), big)
	peer := sendTCP(t, s.TCPAddr(), stream)
	want := []msg{{string(big[:65536]), journal.FlagTruncated}, {"next line", 0},
		{string(big[:65536]), journal.FlagTruncated}, {"next octet", 0}}
	waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= len(want) })
	if got := s.sink.msgs(peer); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if v := s.metric(t, "vigil_input_truncated_total", "transport", "tcp"); v != 2 {
		t.Fatalf("truncated_total %v", v)
	}
}

func TestTCPCutAtEOF(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true})
	peer := sendTCP(t, s.TCPAddr(), []byte("5 hello20 short"))
	want := []msg{{"hello", 0}, {"short", journal.FlagTruncated}}
	waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= len(want) })
	if got := s.sink.msgs(peer); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	waitFor(t, "truncated frame count", func() bool {
		return s.metric(t, "vigil_input_truncated_frames_total", "transport", "tcp") == 1
	})
}

func TestTCPBadOctetCounts(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true})
	peer := sendTCP(t, s.TCPAddr(), []byte("12abc\n99999999999 x\n2026-01-01 text\n5 hello"))
	want := []msg{{"12abc", 0}, {"99999999999 x", 0}, {"2026-01-01 text", 0}, {"hello", 0}}
	waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= len(want) })
	if got := s.sink.msgs(peer); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Counters are added after the batch reached the sink: wait for them.
	waitFor(t, "framing errors counted", func() bool {
		return s.metric(t, "vigil_input_framing_errors_total", "transport", "tcp") >= 3
	})
	if v := s.metric(t, "vigil_input_framing_errors_total", "transport", "tcp"); v != 3 {
		t.Fatalf("framing_errors_total %v", v)
	}
}

// TestTCPJunk sends random bytes and checks that every message the
// reference framing finds arrives and every irregular frame is counted.
func TestTCPJunk(t *testing.T) {
	const maxMsg = 100
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: maxMsg})
	rng := mrand.New(mrand.NewPCG(3, 4))
	junk := make([]byte, 1<<20)
	for i := range junk {
		switch rng.IntN(50) {
		case 0:
			junk[i] = '\n'
		case 1:
			junk[i] = ' '
		case 2:
			junk[i] = byte('1' + rng.IntN(9))
		default:
			junk[i] = byte(rng.UintN(256))
		}
	}
	want, st := refFrame(junk, maxMsg)
	var parts [][]byte
	for b := junk; len(b) > 0; {
		n := min(len(b), 1+rng.IntN(5000))
		parts = append(parts, b[:n])
		b = b[n:]
	}
	peer := sendTCP(t, s.TCPAddr(), parts...)
	waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= len(want) })
	waitFor(t, "connection end", func() bool { return s.metric(t, "vigil_input_connections", "transport", "tcp") == 0 })
	if got := s.sink.msgs(peer); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for name, v := range map[string]uint64{
		"vigil_input_framing_errors_total":   st.FramingErrors,
		"vigil_input_truncated_total":        st.Truncated,
		"vigil_input_truncated_frames_total": st.TruncatedFrames,
		"vigil_input_messages_total":         uint64(len(want)),
	} {
		if got := s.metric(t, name, "transport", "tcp"); got != float64(v) {
			t.Errorf("%s = %v, want %d", name, got, v)
		}
	}
	t.Logf("%d messages, %+v", len(want), st)
}

func TestMaxConnections(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxConnections: 2})
	var conns []net.Conn
	for i := range 2 {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "conn %d\n", i)
		conns = append(conns, c)
	}
	waitFor(t, "two connections", func() bool { return s.sink.len() == 2 })
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection not closed")
	}
	if v := s.metric(t, "vigil_input_connections_rejected_total", "transport", "tcp", "reason", "limit"); v != 1 {
		t.Fatalf("connections_rejected_total %v", v)
	}
	if v := s.metric(t, "vigil_input_connections", "transport", "tcp"); v != 2 {
		t.Fatalf("connections %v", v)
	}
	conns[0].Close()
	waitFor(t, "a free slot", func() bool { return s.metric(t, "vigil_input_connections", "transport", "tcp") == 1 })
	sendTCP(t, s.TCPAddr(), []byte("after\n"))
	waitFor(t, "message on a new connection", func() bool { return s.sink.len() == 3 })
}

func TestIdleTimeout(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, IdleTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("whole\npartial"))
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read from idle connection: %v, want EOF", err)
	}
	want := []msg{{"whole", 0}, {"partial", 0}}
	if got := s.sink.msgs(""); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if v := s.metric(t, "vigil_input_connections_closed_total", "transport", "tcp", "reason", "idle_timeout"); v != 1 {
		t.Errorf("closed{idle_timeout} = %v, want 1", v)
	}
}

func TestSinkError(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, UDP: true})
	s.sink.mu.Lock()
	s.sink.err = errors.New("disk full")
	s.sink.mu.Unlock()

	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("a\nb\n"))
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection not closed after a sink error")
	}
	if v := s.metric(t, "vigil_input_dropped_total", "transport", "tcp", "reason", "sink_error"); v != 2 {
		t.Fatalf("tcp dropped_total %v", v)
	}

	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("x"))
	waitFor(t, "udp drop", func() bool {
		return s.metric(t, "vigil_input_dropped_total", "transport", "udp", "reason", "sink_error") == 1
	})
	// Received, then dropped: both counted.
	if v := s.metric(t, "vigil_input_messages_total", "transport", "tcp"); v != 2 {
		t.Fatalf("messages_total %v", v)
	}
}

// TestShutdown checks that Serve returns after cancel with its
// connections closed, what was read stored and its goroutines gone.
func TestShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, UDP: true})
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("one\ntwo\npartial"))
	waitFor(t, "messages", func() bool { return s.sink.len() == 2 })
	waitFor(t, "partial read", func() bool { return s.metric(t, "vigil_input_bytes_total", "transport", "tcp") == 6 })
	s.stop()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Serve returned")
	}
	c.Close()
	// "partial" was in the buffer when the connection was closed; it is
	// stored, as at the end of any stream (unless the close won the race
	// with the read, in which case it is lost with the connection).
	t.Logf("after shutdown: %v", s.sink.msgs(""))
	if _, err := net.Dial("tcp", s.TCPAddr().String()); err == nil {
		t.Fatal("listener still open")
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestShutdownIdle checks that Serve returns at once when nothing happened.
func TestShutdownIdle(t *testing.T) {
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, UDP: true})
	s.stop()
}

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM, into dir.
func certs(t *testing.T, dir string) (caFile, certFile, keyFile string, client tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "127.0.0.1"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	certFile = writePEM("server.pem", "CERTIFICATE", srvDER)
	keyFile = writePEM("server.key", "EC PRIVATE KEY", keyDER(srvKey))
	client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caFile, certFile, keyFile, client, pool
}

func TestTLS(t *testing.T) {
	caFile, certFile, keyFile, clientCert, pool := certs(t, t.TempDir())

	t.Run("server only", func(t *testing.T) {
		s := startSyslog(t, SyslogConfig{TLSAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
		c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		peer := c.LocalAddr().String()
		c.Write([]byte("12 <13>over tls<13>line\n"))
		c.Close()
		want := []msg{{"<13>over tls", 0}, {"<13>line", 0}}
		waitFor(t, "messages", func() bool { return len(s.sink.msgs(peer)) >= 2 })
		if got := s.sink.msgs(peer); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if v := s.metric(t, "vigil_input_messages_total", "transport", "tls"); v != 2 {
			t.Fatalf("messages_total %v", v)
		}
		// TLS 1.1 is refused.
		if c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
			c.Close()
			t.Fatal("TLS 1.1 accepted")
		}
		waitFor(t, "handshake failure count", func() bool {
			return s.metric(t, "vigil_input_connections_rejected_total", "transport", "tls", "reason", "tls_handshake") == 1
		})
	})

	t.Run("client cert required", func(t *testing.T) {
		s := startSyslog(t, SyslogConfig{TLSAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile})
		// Without a certificate: the server ends the handshake.
		c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
		if err == nil {
			c.Write([]byte("<13>anonymous\n"))
			c.SetReadDeadline(time.Now().Add(waitLimit))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection without client cert: %v", err)
		}
		waitFor(t, "handshake failure count", func() bool {
			return s.metric(t, "vigil_input_connections_rejected_total", "transport", "tls", "reason", "tls_handshake") == 1
		})
		// With one.
		c, err = tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("<13>authenticated\n"))
		c.Close()
		waitFor(t, "message", func() bool { return s.sink.len() >= 1 })
		if got, want := s.sink.msgs(""), []msg{{"<13>authenticated", 0}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
