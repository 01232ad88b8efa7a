package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/alert"
	vsyslog "github.com/vigil-soc/vigil/internal/syslog"
	"github.com/vigil-soc/vigil/internal/units"
)

// Syslog transports, formats and framings.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"

	FormatRFC5424 = "rfc5424"
	FormatRFC3164 = "rfc3164"

	FramingOctetCounting = "octet_counting"
	FramingNewline       = "newline"
)

// Syslog defaults.
const (
	DefaultSyslogTimeout = 10 * time.Second
	// DefaultUDPMessageSize keeps a datagram under the IPv4 UDP limit.
	DefaultUDPMessageSize = 65000
	// DefaultStreamMessageSize bounds a message over TCP or TLS.
	DefaultStreamMessageSize = 1 << 20
)

// sdID is the structured-data ID of Vigil's SD element; 32473 is the
// private enterprise number reserved for documentation (RFC 5612).
const sdID = "vigil@32473"

// SyslogConfig forwards alerts to a syslog receiver, one message per alert
// whose MSG is the alert JSON.
type SyslogConfig struct {
	// Name identifies the channel in metrics and status (default syslogN).
	Name string `yaml:"name"`
	// Address is the receiver's host:port.
	Address string `yaml:"address"`
	// Transport is udp (default), tcp or tls.
	Transport string `yaml:"transport"`
	// Format is rfc5424 (default) or rfc3164.
	Format string `yaml:"format"`
	// Framing on tcp and tls is octet_counting (RFC 6587 3.4.1, the
	// default for rfc5424) or newline (the default for rfc3164).
	Framing string `yaml:"framing"`
	// Facility is a name (kern, user, ..., local0-local7) or a number
	// 0-23; default local4.
	Facility string `yaml:"facility"`
	// Hostname is the HOSTNAME field (default: this machine's name).
	Hostname string `yaml:"hostname"`
	// MinLevel is the lowest alert level forwarded (default: all).
	MinLevel string `yaml:"min_level"`
	// Timeout bounds connecting and writing one message (default 10s).
	Timeout units.Duration `yaml:"timeout"`
	// MaxMessageSize bounds one message, header included (default 65000
	// bytes over UDP, 1 MiB over TCP and TLS). Payloads are left out of
	// the JSON of a larger alert until it fits.
	MaxMessageSize int `yaml:"max_message_size"`
	// TLS configures the tls transport.
	TLS      TLSConfig `yaml:"tls"`
	Delivery `yaml:",inline"`
}

// Validate checks the configuration.
func (c SyslogConfig) Validate() error {
	if err := validAddress(c.Address); err != nil {
		return err
	}
	if errs := vsyslog.CheckSender(c.Transport, c.Format, c.Framing); len(errs) > 0 {
		return errs[0]
	}
	if c.Framing != "" && (c.Transport == "" || c.Transport == TransportUDP) {
		return fmt.Errorf("framing %q: applies to tcp and tls only", c.Framing)
	}
	if _, err := parseFacility(c.Facility); err != nil {
		return err
	}
	if err := validLevel(c.MinLevel); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %s: must not be negative", c.Timeout)
	}
	if c.MaxMessageSize < 0 || (c.MaxMessageSize > 0 && c.MaxMessageSize < 480) {
		return fmt.Errorf("max_message_size %d: want at least 480 (RFC 5424 minimum)", c.MaxMessageSize)
	}
	if c.Transport == TransportTLS {
		if err := c.TLS.validate(); err != nil {
			return err
		}
	} else if c.TLS != (TLSConfig{}) {
		return errors.New("tls: set transport: tls to use these settings")
	}
	return c.Delivery.validate()
}

// validAddress checks a host:port.
func validAddress(addr string) error {
	if addr == "" {
		return errors.New("address: required (host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: host missing", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be a number 1-65535", addr)
	}
	return nil
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"ntp": 12, "security": 13, "audit": 13, "console": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// parseFacility parses a facility name or number; empty is local4.
func parseFacility(s string) (int, error) {
	if s == "" {
		return facilities["local4"], nil
	}
	if f, ok := facilities[strings.ToLower(s)]; ok {
		return f, nil
	}
	if f, err := strconv.Atoi(s); err == nil && f >= 0 && f <= 23 {
		return f, nil
	}
	return 0, fmt.Errorf("facility %q: want a name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, clock, local0-local7) or 0-23", s)
}

// severity maps an alert level to a syslog severity. Unknown levels are
// notice.
func severity(level string) int {
	switch level {
	case alert.LevelCritical:
		return 2
	case alert.LevelHigh:
		return 3
	case alert.LevelMedium:
		return 4
	case alert.LevelLow:
		return 5
	case alert.LevelInfo:
		return 6
	}
	return 5
}

// syslogSender writes alerts to one receiver, reconnecting after errors.
type syslogSender struct {
	addr      string
	transport string
	rfc3164   bool
	octets    bool // octet-counting framing on a stream
	facility  int
	hostname  string
	pid       string
	timeout   time.Duration
	maxSize   int
	tls       *tls.Config

	conn net.Conn
	buf  []byte
}

func newSyslogSender(c SyslogConfig) (*syslogSender, error) {
	s := &syslogSender{
		addr:      c.Address,
		transport: c.Transport,
		rfc3164:   c.Format == FormatRFC3164,
		pid:       strconv.Itoa(os.Getpid()),
		timeout:   c.Timeout.D(),
		maxSize:   c.MaxMessageSize,
	}
	if s.transport == "" {
		s.transport = TransportUDP
	}
	s.facility, _ = parseFacility(c.Facility)
	switch c.Framing {
	case FramingOctetCounting:
		s.octets = true
	case "":
		s.octets = !s.rfc3164
	}
	if s.timeout == 0 {
		s.timeout = DefaultSyslogTimeout
	}
	if s.maxSize == 0 {
		s.maxSize = DefaultStreamMessageSize
		if s.transport == TransportUDP {
			s.maxSize = DefaultUDPMessageSize
		}
	}
	host := c.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	s.hostname = headerField(host, 255)
	if s.transport == TransportTLS {
		h, _, _ := net.SplitHostPort(c.Address)
		cfg, err := c.TLS.build(h)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	return s, nil
}

func (s *syslogSender) target() string { return s.transport + "://" + s.addr }

func (s *syslogSender) send(ctx context.Context, it item) error {
	msg, err := s.format(s.buf[:0], it.a)
	if err != nil {
		return permanent(fmt.Errorf("syslog: encode alert: %w", err))
	}
	s.buf = msg
	if s.conn != nil && s.transport != TransportUDP && !alive(s.conn) {
		s.drop()
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		s.drop()
		return fmt.Errorf("syslog: %s: %w", s.target(), err)
	}
	if _, err := s.conn.Write(msg); err != nil {
		s.drop()
		return fmt.Errorf("syslog: write to %s: %w", s.target(), err)
	}
	return nil
}

func (s *syslogSender) dial(ctx context.Context) error {
	d := &net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}
	var (
		c   net.Conn
		err error
	)
	switch s.transport {
	case TransportTLS:
		c, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	default:
		c, err = d.DialContext(ctx, s.transport, s.addr)
	}
	if err != nil {
		return fmt.Errorf("syslog: connect to %s: %w", s.target(), err)
	}
	s.conn = c
	return nil
}

func (s *syslogSender) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

func (s *syslogSender) idle() {}

func (s *syslogSender) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// format appends the framed message for a to buf.
func (s *syslogSender) format(buf []byte, a *alert.Alert) ([]byte, error) {
	pri := s.facility*8 + severity(a.Level)
	ts := a.TS
	if ts.IsZero() {
		ts = time.Now()
	}
	var hdr []byte
	if s.rfc3164 {
		hdr = fmt.Appendf(nil, "<%d>%s %s vigil[%s]: ", pri, ts.Local().Format(time.Stamp), s.hostname, s.pid)
	} else {
		hdr = fmt.Appendf(nil, "<%d>1 %s %s vigil %s alert ", pri, ts.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), s.hostname, s.pid)
		hdr = appendSD(hdr, a)
		hdr = append(hdr, ' ')
	}
	body, err := fitJSON(a, s.maxSize-len(hdr))
	if err != nil {
		return nil, err
	}
	n := len(hdr) + len(body)
	switch {
	case s.transport == TransportUDP:
	case s.octets:
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, ' ')
	}
	buf = append(buf, hdr...)
	buf = append(buf, body...)
	if s.transport != TransportUDP && !s.octets {
		buf = append(buf, '\n')
	}
	return buf, nil
}

// appendSD appends [vigil@32473 rule.id="..." level="..." alert.id="..."]:
// the alert's own field names.
func appendSD(b []byte, a *alert.Alert) []byte {
	b = append(b, '[')
	b = append(b, sdID...)
	for _, p := range [...]struct{ k, v string }{{alert.FieldRuleID, a.RuleID}, {"level", a.Level}, {alert.FieldID, a.ID}} {
		b = append(b, ' ')
		b = append(b, p.k...)
		b = append(b, '=', '"')
		b = vsyslog.AppendParamValue(b, p.v)
		b = append(b, '"')
	}
	return append(b, ']')
}

// headerField makes s a valid HOSTNAME-like header field: printable
// US-ASCII without spaces, at most n bytes, "-" when empty.
func headerField(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r > ' ' && r < utf8.RuneSelf && r != 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// fitJSON marshals a, leaving payloads out until the JSON fits in limit
// bytes. Without payloads it is cut to limit as a last resort.
func fitJSON(a *alert.Alert, limit int) ([]byte, error) {
	body, err := a.MarshalJSON()
	if err != nil || len(body) <= limit {
		return body, err
	}
	c := *a
	for len(body) > limit && len(c.Payloads) > 0 {
		c.Payloads = c.Payloads[:len(c.Payloads)/2]
		if body, err = c.MarshalJSON(); err != nil {
			return nil, err
		}
	}
	if len(body) > limit {
		body = body[:max(limit, 0)]
	}
	return body, nil
}
