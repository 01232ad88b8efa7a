package input

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vigil-soc/vigil/internal/journal"
)

// countSink counts records and nothing else.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Append(recs []journal.Record) error {
	s.n.Add(int64(len(recs)))
	return nil
}

// BenchmarkTCP sends 450-byte lines over one loopback TCP connection, written
// in large buffers, into an input whose sink only counts.
func BenchmarkTCP(b *testing.B) {
	const lineLen = 450
	sink := &countSink{}
	s, err := NewSyslog(SyslogConfig{Addr: "127.0.0.1:0", TCP: true}, sink, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const perBuf = 2000
	buf := lines(perBuf, lineLen)
	b.SetBytes(lineLen)
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; {
		n := min(left, perBuf)
		if _, err := c.Write(buf[:n*lineLen]); err != nil {
			b.Fatal(err)
		}
		left -= n
	}
	for sink.n.Load() < int64(b.N) {
		if ctx.Err() != nil {
			b.Fatal("stopped")
		}
		waitYield()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkUDP sends 450-byte datagrams over loopback, one at a time,
// waiting after each burst so that the socket buffer does not overflow.
func BenchmarkUDP(b *testing.B) {
	sink := &countSink{}
	s, err := NewSyslog(SyslogConfig{Addr: "127.0.0.1:0", UDP: true}, sink, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	line := lines(1, 450)
	b.SetBytes(450)
	b.ReportAllocs()
	b.ResetTimer()
	const burst = 1000
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(line); err != nil {
			b.Fatal(err)
		}
		if i%burst == burst-1 {
			for sink.n.Load() < int64(i+1) {
				waitYield()
			}
		}
	}
	for sink.n.Load() < int64(b.N) {
		waitYield()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func waitYield() { runtime.Gosched() }
