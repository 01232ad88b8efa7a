package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
	vsyslog "github.com/vigil-soc/vigil/internal/syslog"
)

// SyslogConfig configures a syslog output (docs/outputs.md).
type SyslogConfig struct {
	// Name identifies the output (its journal cursor is "output-NAME").
	Name string `yaml:"name"`
	// Address is host:port of the receiver.
	Address string `yaml:"address"`
	// Transport is udp, tcp (default) or tls.
	Transport string `yaml:"transport"`
	// Payload is "original" (default: each message as received; one that
	// already starts with a syslog PRI is forwarded unchanged, others get
	// an RFC 5424 header) or "json" (the normalized event as JSON in an
	// RFC 5424 message).
	Payload string `yaml:"payload"`
	// Framing on tcp/tls: octet_counting (default) or newline.
	Framing string `yaml:"framing"`
	// Format of the headers Vigil writes: rfc5424 (default) or rfc3164
	// (for receivers that only read BSD syslog; no structured data, so
	// the input and seq go first in the message as "input=... seq=...").
	Format string `yaml:"format"`
	// Facility of the headers Vigil writes (default local5).
	Facility int `yaml:"facility"`
	// TLS: CAFile to trust, ServerName to check, InsecureSkipVerify.
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Validate checks the configuration.
func (c SyslogConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %v", c.Address, err))
	}
	errs = append(errs, vsyslog.CheckSender(c.Transport, c.Format, c.Framing)...)
	switch c.Payload {
	case "", "original", "json":
	default:
		errs = append(errs, fmt.Errorf("payload %q: want original or json", c.Payload))
	}
	if c.Facility < 0 || c.Facility > 23 {
		errs = append(errs, fmt.Errorf("facility %d: want 0-23", c.Facility))
	}
	if c.Transport != "tls" && (c.CAFile != "" || c.ServerName != "" || c.InsecureSkipVerify) {
		errs = append(errs, errors.New("ca_file, server_name and insecure_skip_verify need transport: tls"))
	}
	return errors.Join(errs...)
}

// Syslog sends journal records to a syslog receiver.
type Syslog struct {
	cfg    SyslogConfig
	parser *parse.Parser // payload json only
	tls    *tls.Config
	host   string
	conn   net.Conn
	buf    []byte
	row    store.Row
}

// maxUDP is the largest datagram sent; longer messages are cut.
const maxUDP = 65000

// NewSyslog returns a syslog sender. popts configure the parser for
// payload json.
func NewSyslog(c SyslogConfig, popts parse.Options) (*Syslog, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("syslog output %s: %w", c.Name, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Payload == "" {
		c.Payload = "original"
	}
	if c.Framing == "" {
		c.Framing = "octet_counting"
	}
	if c.Facility == 0 {
		c.Facility = 21 // local5
	}
	s := &Syslog{cfg: c}
	s.host, _ = os.Hostname()
	if s.host == "" {
		s.host = "vigil"
	}
	if c.Payload == "json" {
		s.parser = parse.New(popts)
	}
	if c.Transport == "tls" {
		tc := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(c.Address)
		}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("syslog output %s: %w", c.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("syslog output %s: %s holds no PEM certificate", c.Name, c.CAFile)
			}
			tc.RootCAs = pool
		}
		s.tls = tc
	}
	return s, nil
}

// Target is where the output sends, for the status.
func (s *Syslog) Target() string { return s.cfg.Transport + "://" + s.cfg.Address }

// Send writes every record; on a write error it drops the connection (the
// next Send dials again) and returns the error.
func (s *Syslog) Send(ctx context.Context, recs []journal.Record) error {
	if s.conn != nil && s.cfg.Transport != "udp" && !alive(s.conn) {
		// The receiver closed the connection (a restart): writing into it
		// would "succeed" and lose the records.
		s.drop()
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	stream := s.cfg.Transport != "udp"
	s.buf = s.buf[:0]
	for i := range recs {
		msg := s.message(&recs[i])
		if !stream {
			if len(msg) > maxUDP {
				msg = msg[:maxUDP]
			}
			if _, err := s.conn.Write(msg); err != nil {
				s.drop()
				return fmt.Errorf("syslog output %s: %w", s.cfg.Name, err)
			}
			continue
		}
		if s.cfg.Framing == "newline" {
			s.buf = append(s.buf, bytes.ReplaceAll(msg, []byte{'\n'}, []byte{' '})...)
			s.buf = append(s.buf, '\n')
		} else {
			s.buf = strconv.AppendInt(s.buf, int64(len(msg)), 10)
			s.buf = append(s.buf, ' ')
			s.buf = append(s.buf, msg...)
		}
	}
	if stream {
		_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := s.conn.Write(s.buf); err != nil {
			s.drop()
			return fmt.Errorf("syslog output %s: %w", s.cfg.Name, err)
		}
	}
	return nil
}

// message returns the syslog message for rec (valid until the next call).
func (s *Syslog) message(rec *journal.Record) []byte {
	if s.cfg.Payload == "original" && isSyslog(rec.Data) {
		return rec.Data
	}
	var body []byte
	msgid := "-"
	if s.parser != nil {
		s.parser.Reset(2*len(rec.Data) + 64)
		s.parser.Parse(rec, &s.row)
		body = eventjson.AppendRow(nil, &s.row)
		msgid = "event"
	} else {
		body = rec.Data
	}
	b := make([]byte, 0, len(body)+160)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.cfg.Facility*8+6), 10) // severity info
	if s.cfg.Format == "rfc3164" {
		// <PRI>Mmm dd hh:mm:ss HOST vigil: input=... seq=... MSG
		b = append(b, '>')
		b = rec.Time.UTC().AppendFormat(b, time.Stamp)
		b = append(b, ' ')
		b = append(b, s.host...)
		b = append(b, " vigil: input="...)
		b = append(b, strconv.Quote(rec.Input)...)
		b = append(b, " seq="...)
		b = strconv.AppendUint(b, rec.Seq, 10)
		b = append(b, ' ')
		return append(b, body...)
	}
	// <PRI>1 TIMESTAMP HOST APP - MSGID [vigil@32473 input="..." seq="..."] MSG
	b = append(b, ">1 "...)
	b = rec.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, s.host...)
	b = append(b, " vigil - "...)
	b = append(b, msgid...)
	b = append(b, ` [vigil@32473 input="`...)
	b = vsyslog.AppendParamValue(b, rec.Input)
	b = append(b, `" seq="`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `"] `...)
	return append(b, body...)
}

// isSyslog reports whether data starts with a syslog PRI ("<0>" to "<191>").
func isSyslog(data []byte) bool {
	if len(data) < 3 || data[0] != '<' {
		return false
	}
	i := 1
	for i < len(data) && i <= 4 && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(data) || data[i] != '>' {
		return false
	}
	n, err := strconv.Atoi(string(data[1:i]))
	return err == nil && n <= 191
}

func (s *Syslog) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	var err error
	switch s.cfg.Transport {
	case "udp":
		s.conn, err = d.DialContext(ctx, "udp", s.cfg.Address)
	case "tls":
		td := tls.Dialer{NetDialer: &d, Config: s.tls}
		s.conn, err = td.DialContext(ctx, "tcp", s.cfg.Address)
	default:
		s.conn, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	}
	if err != nil {
		s.conn = nil
		return fmt.Errorf("syslog output %s: %w", s.cfg.Name, err)
	}
	return nil
}

// alive reports whether the peer has not closed c. A syslog receiver never
// writes, so a read that does not time out at once means it is gone.
func alive(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return err == nil || errors.As(err, &ne) && ne.Timeout()
}

func (s *Syslog) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.drop()
	return nil
}
