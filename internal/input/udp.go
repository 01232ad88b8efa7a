package input

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/journal"
	promreg "github.com/vigil-soc/vigil/internal/metrics"
)

const (
	udpMaxDatagram = 65536   // read size: larger than any UDP payload
	udpSlab        = 1 << 20 // datagrams are read straight into slabs of this size
	udpQueue       = 1024    // datagrams between the reader and the batcher
	peerCacheMax   = 4096    // peer strings cached by the batcher
)

// datagram is one received UDP message.
type datagram struct {
	data  []byte
	peer  netip.AddrPort
	time  time.Time
	flags uint8
}

// serveUDP starts the reader and the batcher; both end after s.udp is
// closed and the queue is drained.
func (s *Syslog) serveUDP(ctx context.Context) {
	q := make(chan datagram, udpQueue)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(q)
		s.readUDP(ctx, q)
	}()
	go func() {
		defer s.wg.Done()
		s.batchUDP(q)
	}()
}

// readUDP reads datagrams into q until the socket is closed.
func (s *Syslog) readUDP(ctx context.Context, q chan<- datagram) {
	maxMsg := s.cfg.MaxMessageSize
	var (
		slab  []byte
		off   int
		delay time.Duration
	)
	for {
		if len(slab)-off < udpMaxDatagram {
			slab = make([]byte, udpSlab)
			off = 0
		}
		n, peer, err := s.udp.ReadFromUDPAddrPort(slab[off : off+udpMaxDatagram])
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			delay = min(max(2*delay, time.Millisecond), time.Second)
			if k, ok := s.logRead.allow(); ok {
				s.log.Error("syslog: udp read", "err", err, "suppressed", k)
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		now := time.Now()
		d := slab[off : off+n : off+n]
		off += n
		if n > 0 && (d[n-1] == '\n' || d[n-1] == 0) {
			d = d[: n-1 : n-1]
		}
		if len(d) == 0 {
			continue
		}
		var flags uint8
		if len(d) > maxMsg {
			d = d[:maxMsg:maxMsg]
			flags = journal.FlagTruncated
		}
		q <- datagram{data: d, peer: peer, time: now, flags: flags}
	}
}

// batchUDP appends the datagrams from q to the sink, as many per Append as
// are waiting (up to maxBatch), until q is closed.
func (s *Syslog) batchUDP(q <-chan datagram) {
	tm := s.udpM
	recs := make([]journal.Record, 0, maxBatch)
	peers := make(map[netip.AddrPort]string)
	peerString := func(ap netip.AddrPort) string {
		if p, ok := peers[ap]; ok {
			return p
		}
		if len(peers) >= peerCacheMax {
			clear(peers)
		}
		p := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		peers[ap] = p
		return p
	}
	add := func(d datagram) {
		recs = append(recs, journal.Record{
			Time:  d.time,
			Input: s.cfg.Name,
			Peer:  peerString(d.peer),
			Flags: d.flags,
			Data:  d.data,
		})
	}
	fullDrops := 0 // datagrams dropped since the journal became full
	for d := range q {
		add(d)
	drain:
		for len(recs) < maxBatch {
			select {
			case d, ok := <-q:
				if !ok {
					break drain
				}
				add(d)
			default:
				break drain
			}
		}
		var size, trunc int
		for i := range recs {
			size += len(recs[i].Data)
			if recs[i].Flags&journal.FlagTruncated != 0 {
				trunc++
			}
		}
		n := len(recs)
		// Received counts precede the append (what the sink refuses is
		// counted again as dropped), so they never lag behind the journal.
		if trunc > 0 {
			tm.truncated.Add(float64(trunc))
		}
		tm.messages.Add(float64(n))
		tm.bytes.Add(float64(size))
		err := s.sink.Append(recs)
		clear(recs)
		recs = recs[:0]
		switch {
		case errors.Is(err, journal.ErrFull):
			// UDP cannot make the sender wait: count, and log when it
			// starts and ends.
			tm.droppedFull.Add(float64(n))
			if fullDrops == 0 {
				s.log.Warn("syslog: journal full; dropping UDP datagrams until it has room again", "err", err)
			}
			fullDrops += n
		case err != nil:
			tm.dropped.Add(float64(n))
			if k, ok := s.logSink.allow(); ok {
				s.log.Error("syslog: sink failed, udp messages dropped", "dropped", n, "err", err, "suppressed", k)
			}
		case fullDrops > 0:
			s.log.Info("syslog: journal has room again; storing UDP datagrams", "dropped_while_full", fullDrops)
			fullDrops = 0
		}
	}
}

// registerUDPStats registers the kernel's drop counters for the UDP socket.
func (s *Syslog) registerUDPStats(reg prometheus.Registerer) error {
	if reg == nil || !procStatsSupported {
		return nil
	}
	var err error
	drops := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "vigil_input_udp_receive_drops",
		Help:        "Datagrams the kernel dropped for this input's UDP socket (receive buffer full), from /proc/net/udp.",
		ConstLabels: prometheus.Labels{"input": s.cfg.Name, "transport": transportUDP},
	}, func() float64 {
		ino := s.udpInode.Load()
		if ino == 0 {
			return 0
		}
		n, _ := socketDrops(ino)
		return float64(n)
	})
	promreg.Register(reg, &drops, &err)
	if err != nil {
		return fmt.Errorf("input: register metrics: %w", err)
	}
	host := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_input_udp_host_receive_buffer_errors_total",
		Help: "UDP datagrams dropped host-wide because a receive buffer was full (Udp RcvbufErrors in /proc/net/snmp).",
	}, func() float64 {
		n, _ := hostRcvbufErrors()
		return float64(n)
	})
	// Several inputs share this one; a second registration is expected.
	promreg.Register(reg, &host, &err)
	if err != nil {
		return fmt.Errorf("input: register metrics: %w", err)
	}
	return nil
}
