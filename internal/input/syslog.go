package input

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for SyslogConfig fields left zero.
const (
	DefaultMaxMessageSize           = 65536
	DefaultMaxConnections           = 1000
	DefaultMaxTLSConnections        = 1000
	DefaultMaxConnectionsPerAddress = 100
	DefaultUDPReadBuffer            = 8 << 20
	DefaultIdleTimeout              = 5 * time.Minute
	DefaultMaxBufferMemory          = 256 << 20
)

const (
	maxBatch         = 256              // records per Append
	handshakeTimeout = 30 * time.Second // TLS handshake limit
	logEvery         = 10 * time.Second // rate limit of repeated warnings
	maxNameLen       = 256              // input names (the journal keeps one per record)
	bufWait          = 5 * time.Second  // see bufBudget
)

// SyslogConfig configures a syslog input.
type SyslogConfig struct {
	// Name is the input name recorded in each record, e.g. "syslog".
	// Empty means "syslog".
	Name string
	// Addr is the host:port for plain UDP and TCP ("" = none).
	Addr string
	// UDP and TCP choose which plain transports to open on Addr.
	UDP, TCP bool
	// TLSAddr is the host:port for RFC 5425 syslog over TLS ("" = off).
	TLSAddr string
	// CertFile and KeyFile hold the server's PEM certificate chain and key;
	// they are required when TLSAddr is set.
	CertFile, KeyFile string
	// ClientCAFile, if set, makes the TLS listener require client
	// certificates signed by one of the PEM certificates in this file.
	ClientCAFile string
	// MaxMessageSize is the longest message kept, default 65536, at most
	// MaxOctetCount. Longer messages are cut to it, flagged
	// journal.FlagTruncated and counted; the rest of the frame is discarded.
	MaxMessageSize int
	// MaxConnections limits open plain TCP connections, default 1000, and
	// MaxTLSConnections open TLS connections, default 1000: each transport
	// has its own budget. MaxConnectionsPerAddress limits the connections
	// of one transport from one IP address, default 100. Extra
	// connections are accepted, closed at once and counted.
	MaxConnections, MaxTLSConnections, MaxConnectionsPerAddress int
	// MaxBufferMemory bounds the receive buffer memory of all TCP and TLS
	// connections together (see bufBudget), default 256 MiB; it must hold
	// at least one message of MaxMessageSize.
	MaxBufferMemory int64
	// UDPReadBuffer is the socket receive buffer to request, default 8 MiB.
	UDPReadBuffer int
	// IdleTimeout closes TCP and TLS connections that send nothing for this
	// long. Zero means DefaultIdleTimeout, a negative value never.
	IdleTimeout time.Duration

	// bufWait replaces bufWait (tests).
	bufWait time.Duration
}

// Syslog receives syslog messages over UDP, TCP (RFC 6587) and TLS
// (RFC 5425) and appends them, unparsed, to a Sink. It removes only the
// transport framing: each record holds the message bytes, the receive time,
// the input name and the peer address.
//
// Create it with NewSyslog, bind with Listen, run with Serve.
type Syslog struct {
	cfg     SyslogConfig
	sink    Sink
	log     *slog.Logger
	tlsConf *tls.Config
	m       *metrics
	udpM    *transportMetrics
	tcpM    *transportMetrics
	tlsM    *transportMetrics

	udp   *net.UDPConn
	tcpLn net.Listener
	tlsLn net.Listener

	udpInode atomic.Uint64 // socket inode of udp, for the kernel's drop counter
	tcpLim   *connLimit
	tlsLim   *connLimit
	bufs     *bufBudget
	paused   atomic.Int64 // connections waiting for room in the journal

	mu       sync.Mutex
	listened bool
	served   bool
	closing  bool
	conns    map[net.Conn]struct{}

	wg sync.WaitGroup

	logConnLimit logLimiter
	logSink      logLimiter
	logRead      logLimiter
	logTLS       logLimiter
	logMemory    logLimiter
}

// NewSyslog validates cfg, fills in defaults, loads the TLS files and
// registers the input's metrics with reg (nil: no metrics). log nil
// discards log output.
func NewSyslog(cfg SyslogConfig, sink Sink, reg prometheus.Registerer, log *slog.Logger) (*Syslog, error) {
	if sink == nil {
		return nil, errors.New("input: syslog: nil sink")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "syslog"
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Syslog{
		cfg:          cfg,
		sink:         sink,
		log:          log.With("input", cfg.Name),
		conns:        make(map[net.Conn]struct{}),
		logConnLimit: logLimiter{every: logEvery},
		logSink:      logLimiter{every: logEvery},
		logRead:      logLimiter{every: logEvery},
		logTLS:       logLimiter{every: logEvery},
		logMemory:    logLimiter{every: logEvery},
		tcpLim:       newConnLimit(cfg.MaxConnections, cfg.MaxConnectionsPerAddress),
		tlsLim:       newConnLimit(cfg.MaxTLSConnections, cfg.MaxConnectionsPerAddress),
	}
	if cfg.TLSAddr != "" {
		tc, err := loadTLS(cfg)
		if err != nil {
			return nil, err
		}
		s.tlsConf = tc
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.udpM = m.transport(cfg.Name, transportUDP)
	s.tcpM = m.transport(cfg.Name, transportTCP)
	s.tlsM = m.transport(cfg.Name, transportTLS)
	s.bufs = newBufBudget(cfg.MaxBufferMemory, cfg.bufWait, m, cfg.Name)
	if cfg.UDP {
		if err := s.registerUDPStats(reg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (c *SyslogConfig) validate() error {
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("input: syslog %s: addr: %w", c.Name, err)
		}
		if !c.UDP && !c.TCP {
			return fmt.Errorf("input: syslog %s: addr %q set but neither udp nor tcp enabled", c.Name, c.Addr)
		}
	} else if c.UDP || c.TCP {
		return fmt.Errorf("input: syslog %s: udp or tcp enabled without addr", c.Name)
	}
	if c.TLSAddr != "" {
		if _, _, err := net.SplitHostPort(c.TLSAddr); err != nil {
			return fmt.Errorf("input: syslog %s: tls addr: %w", c.Name, err)
		}
		if c.CertFile == "" || c.KeyFile == "" {
			return fmt.Errorf("input: syslog %s: tls needs a cert file and a key file", c.Name)
		}
	} else if c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "" {
		return fmt.Errorf("input: syslog %s: tls files set without tls addr", c.Name)
	}
	if c.Addr == "" && c.TLSAddr == "" {
		return fmt.Errorf("input: syslog %s: no address to listen on", c.Name)
	}
	switch {
	case len(c.Name) > maxNameLen:
		return fmt.Errorf("input: syslog %.20s...: name longer than %d bytes", c.Name, maxNameLen)
	case c.MaxMessageSize < 0 || c.MaxMessageSize > MaxOctetCount:
		return fmt.Errorf("input: syslog %s: max message size %d out of range 1..%d", c.Name, c.MaxMessageSize, MaxOctetCount)
	case c.MaxConnections < 0 || c.MaxTLSConnections < 0 || c.MaxConnectionsPerAddress < 0:
		return fmt.Errorf("input: syslog %s: negative connection limit", c.Name)
	case c.MaxBufferMemory < 0:
		return fmt.Errorf("input: syslog %s: negative max buffer memory %d", c.Name, c.MaxBufferMemory)
	case c.UDPReadBuffer < 0:
		return fmt.Errorf("input: syslog %s: negative udp read buffer %d", c.Name, c.UDPReadBuffer)
	}
	c.MaxMessageSize = cmp.Or(c.MaxMessageSize, DefaultMaxMessageSize)
	c.MaxConnections = cmp.Or(c.MaxConnections, DefaultMaxConnections)
	c.MaxTLSConnections = cmp.Or(c.MaxTLSConnections, DefaultMaxTLSConnections)
	c.MaxConnectionsPerAddress = cmp.Or(c.MaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress)
	c.MaxBufferMemory = cmp.Or(c.MaxBufferMemory, DefaultMaxBufferMemory)
	c.UDPReadBuffer = cmp.Or(c.UDPReadBuffer, DefaultUDPReadBuffer)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.bufWait = cmp.Or(c.bufWait, bufWait)
	if frame := int64(c.MaxMessageSize + 2*maxHeaderLen); c.MaxBufferMemory < frame {
		return fmt.Errorf("input: syslog %s: max buffer memory %d cannot hold one message of max message size %d", c.Name, c.MaxBufferMemory, c.MaxMessageSize)
	}
	return nil
}

func loadTLS(cfg SyslogConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("input: syslog %s: load tls key pair: %w", cfg.Name, err)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("input: syslog %s: read client ca file: %w", cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("input: syslog %s: client ca file %s: no PEM certificates", cfg.Name, cfg.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Listen binds all configured sockets, so that bind errors show at
// startup. Serve calls it if it was not called.
func (s *Syslog) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listened {
		return fmt.Errorf("input: syslog %s: already listening", s.cfg.Name)
	}
	if err := s.listen(); err != nil {
		s.closeListeners()
		return err
	}
	s.listened = true
	return nil
}

func (s *Syslog) listen() error {
	if s.cfg.UDP {
		pc, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("input: syslog %s: listen udp: %w", s.cfg.Name, err)
		}
		s.udp = pc.(*net.UDPConn)
		granted, err := setReadBuffer(s.udp, s.cfg.UDPReadBuffer)
		if err != nil {
			s.log.Warn("syslog: set udp receive buffer", "requested", s.cfg.UDPReadBuffer, "err", err)
		} else {
			s.m.udpRcvbuf.WithLabelValues(s.cfg.Name).Set(float64(granted))
			if granted < s.cfg.UDPReadBuffer {
				s.log.Warn("syslog: kernel granted a smaller udp receive buffer than requested (raise net.core.rmem_max)",
					"requested", s.cfg.UDPReadBuffer, "granted", granted)
			} else {
				s.log.Info("syslog: udp receive buffer", "requested", s.cfg.UDPReadBuffer, "granted", granted)
			}
		}
		if ino, err := socketInode(s.udp); err == nil {
			s.udpInode.Store(ino)
		}
		s.log.Info("syslog: listening", "transport", transportUDP, "addr", s.udp.LocalAddr().String())
	}
	if s.cfg.TCP {
		ln, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("input: syslog %s: listen tcp: %w", s.cfg.Name, err)
		}
		s.tcpLn = ln
		s.log.Info("syslog: listening", "transport", transportTCP, "addr", ln.Addr().String())
	}
	if s.cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("input: syslog %s: listen tls: %w", s.cfg.Name, err)
		}
		s.tlsLn = ln
		s.log.Info("syslog: listening", "transport", transportTLS, "addr", ln.Addr().String())
	}
	return nil
}

// closeListeners closes the bound sockets; s.mu is held.
func (s *Syslog) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
}

// UDPAddr returns the bound UDP address, or nil.
func (s *Syslog) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr returns the bound plain TCP address, or nil.
func (s *Syslog) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// TLSAddr returns the bound TLS address, or nil.
func (s *Syslog) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Serve receives messages until ctx is done. Then it closes the listeners
// and connections, stores what was already read, waits for all its
// goroutines and returns nil. It returns an error only if binding failed.
func (s *Syslog) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return fmt.Errorf("input: syslog %s: Serve called twice", s.cfg.Name)
	}
	s.served = true
	listened := s.listened
	s.mu.Unlock()
	if !listened {
		if err := s.Listen(); err != nil {
			return err
		}
	}

	if s.udp != nil {
		s.serveUDP(ctx)
	}
	if s.tcpLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.acceptLoop(ctx, s.tcpLn, s.tcpM, s.tcpLim)
		}()
	}
	if s.tlsLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.acceptLoop(ctx, s.tlsLn, s.tlsM, s.tlsLim)
		}()
	}

	<-ctx.Done()
	s.mu.Lock()
	s.closing = true
	s.closeListeners()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.log.Info("syslog: stopped")
	return nil
}

// acceptLoop accepts connections on ln until it is closed, within lim.
func (s *Syslog) acceptLoop(ctx context.Context, ln net.Listener, tm *transportMetrics, lim *connLimit) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Most likely out of file descriptors: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if n, ok := s.logRead.allow(); ok {
				s.log.Error("syslog: accept", "transport", tm.name, "err", err, "retry_in", delay, "suppressed", n)
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		delay = 0
		ip := remoteIP(c)
		if reason := lim.acquire(ip); reason != "" {
			// Counted before the close, so whoever sees the close sees
			// the count.
			if reason == reasonLimit {
				tm.rejLimit.Inc()
			} else {
				tm.rejAddr.Inc()
			}
			c.Close()
			if n, ok := s.logConnLimit.allow(); ok {
				s.log.Warn("syslog: too many connections, closed a new one",
					"transport", tm.name, "peer", c.RemoteAddr().String(), "reason", reason,
					"max_connections", lim.max, "max_connections_per_address", lim.perAddr, "suppressed", n)
			}
			continue
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			lim.release(ip)
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		tm.conns.Inc()
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c, tm)
			c.Close()
			tm.conns.Dec()
			lim.release(ip)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// serveConn reads one TCP or TLS connection until it ends.
func (s *Syslog) serveConn(ctx context.Context, c net.Conn, tm *transportMetrics) {
	peer := c.RemoteAddr().String()
	var rd io.Reader = c
	if tm.name == transportTLS {
		tc := tls.Server(c, s.tlsConf)
		limit := handshakeTimeout
		if idle := s.cfg.IdleTimeout; idle > 0 {
			limit = min(limit, idle)
		}
		hctx, cancel := context.WithTimeout(ctx, limit)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			tm.rejTLS.Inc()
			if n, ok := s.logTLS.allow(); ok {
				s.log.Warn("syslog: tls handshake failed", "peer", peer, "err", err, "suppressed", n)
			}
			return
		}
		rd = tc
	}
	s.log.Debug("syslog: connection open", "transport", tm.name, "peer", peer)
	cr := connReader{s: s, c: c, rd: rd, tm: tm, peer: peer}
	buf := s.bufs.holder(ctx.Done(), func() { s.evicted(c, tm, peer) }, tm)
	defer buf.release()
	err := cr.run(ctx, buf)
	s.log.Debug("syslog: connection closed", "transport", tm.name, "peer", peer, "reason", err)
}

// evicted closes c, which bufBudget chose to free memory.
func (s *Syslog) evicted(c net.Conn, tm *transportMetrics, peer string) {
	c.Close()
	if n, ok := s.logMemory.allow(); ok {
		s.log.Warn("syslog: closed a stalled connection holding a partial frame, to free buffer memory for others (max_buffer_memory)",
			"transport", tm.name, "peer", peer, "max_buffer_memory", s.cfg.MaxBufferMemory, "suppressed", n)
	}
}
