package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/units"
)

// SMTP STARTTLS modes and AUTH mechanisms.
const (
	StartTLSAuto     = "auto"
	StartTLSRequired = "required"
	StartTLSNone     = "none"

	AuthPlain = "plain"
	AuthLogin = "login"
)

// SMTP defaults.
const (
	DefaultSMTPTimeout = 30 * time.Second
	// DefaultSubject is the subject template.
	DefaultSubject = "[vigil] {{.Level}} {{.RuleTitle}}: {{.Group}}"
	// DefaultBody is the body template.
	DefaultBody = `{{.Message}}

Rule:     {{.RuleTitle}} ({{.RuleID}})
Threat:   {{.Threat}}
Level:    {{.Level}}{{if .FollowUp}} (follow-up){{end}}
Type:     {{.Type}}
Group:    {{.Group}}
Count:    {{.Count}}
Fired:    {{local .TS}}
First:    {{local .First}}
Last:     {{local .Last}}
{{- if .SrcIP}}
Source:   {{hostport .SrcIP .SrcPort}}
{{- end}}
{{- if .DstIP}}
Dest:     {{hostport .DstIP .DstPort}}
{{- end}}
{{- if .User}}
User:     {{.User}}
{{- end}}
{{- if .DeviceID}}
Device:   {{.DeviceID}}
{{- end}}
Alert ID: {{.ID}}
{{- if .Fields}}

Fields:
{{- range $k, $v := .Fields}}
  {{$k}}: {{$v}}
{{- end}}
{{- end}}
{{- if .Payloads}}

Events ({{len .Payloads}} shown):
{{- range .Payloads}}
  {{.}}
{{- end}}
{{- end}}
`
)

// maxSubject bounds the subject, in runes, before encoding.
const maxSubject = 250

// SMTPConfig mails alerts through an SMTP server.
type SMTPConfig struct {
	// Name identifies the channel in metrics and status (default smtpN).
	Name string `yaml:"name"`
	// Host and Port of the server. Port defaults to 465 with implicit_tls,
	// else 587 when username is set, else 25.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// HELO is the name Vigil gives in EHLO (default: this machine's name).
	HELO string `yaml:"helo"`
	// From is the sender address, e.g. "Vigil <vigil@example.com>".
	From string `yaml:"from"`
	// To are the recipients of every alert. The rule's notify addresses
	// (alert.Notify) are added per alert; with To empty, only alerts
	// whose rule names recipients are mailed.
	To []string `yaml:"to"`
	// Username and Password (or PasswordFile, whose content is trimmed)
	// enable AUTH. Credentials are only sent over TLS unless
	// AllowInsecureAuth is set.
	Username          string `yaml:"username"`
	Password          string `yaml:"password"`
	PasswordFile      string `yaml:"password_file"`
	AllowInsecureAuth bool   `yaml:"allow_insecure_auth"`
	// Auth picks the mechanism: plain or login. Default: PLAIN when the
	// server offers it, else LOGIN.
	Auth string `yaml:"auth"`
	// StartTLS is auto (default: upgrade when the server offers it),
	// required or none. It does not apply with ImplicitTLS.
	StartTLS string `yaml:"starttls"`
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465).
	ImplicitTLS bool `yaml:"implicit_tls"`
	// TLS configures STARTTLS and implicit TLS.
	TLS TLSConfig `yaml:"tls"`
	// Timeout bounds connecting and each message (default 30s).
	Timeout units.Duration `yaml:"timeout"`
	// Subject and Body are text/template templates over the alert (see
	// DefaultSubject and DefaultBody, DefaultSubjectZH and DefaultBodyZH
	// in Chinese). Functions: local (a time in the display zone with its
	// offset, "2006-01-02 15:04:05 +08:00"), utc (a time as
	// "2006-01-02 15:04:05 UTC"), hostport (an address and port), join
	// (strings.Join) and level (a level's name in Language).
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
	// MinLevel is the lowest alert level mailed (default: all).
	MinLevel string `yaml:"min_level"`
	Delivery `yaml:",inline"`
	// Language picks the default subject and body and the names the
	// level function gives (Config.Language, display.language).
	Language string `yaml:"-"`
}

// Validate checks the configuration, the templates included (they are run
// on a sample alert).
func (c SMTPConfig) Validate() error {
	if c.Host == "" {
		return errors.New("host: required")
	}
	if strings.ContainsAny(c.Host, " \t\r\n/:") && net.ParseIP(c.Host) == nil {
		return fmt.Errorf("host %q: want a host name or address without port (see port)", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port %d: want 1-65535", c.Port)
	}
	if c.From == "" {
		return errors.New("from: required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("from %q: %w", c.From, err)
	}
	for _, t := range c.To {
		if _, err := mail.ParseAddress(t); err != nil {
			return fmt.Errorf("to %q: %w", t, err)
		}
	}
	if strings.ContainsAny(c.HELO, " \t\r\n") {
		return fmt.Errorf("helo %q: must be one word", c.HELO)
	}
	switch {
	case c.Password != "" && c.PasswordFile != "":
		return errors.New("password and password_file: set one, not both")
	case c.Username == "" && (c.Password != "" || c.PasswordFile != ""):
		return errors.New("password: set username too")
	case c.PasswordFile != "":
		if _, err := os.Stat(c.PasswordFile); err != nil {
			return fmt.Errorf("password_file: %w", err)
		}
	}
	switch strings.ToLower(c.Auth) {
	case "", AuthPlain, AuthLogin:
	default:
		return fmt.Errorf("auth %q: want plain or login", c.Auth)
	}
	switch c.StartTLS {
	case "", StartTLSAuto, StartTLSNone:
	case StartTLSRequired:
		if c.ImplicitTLS {
			return errors.New("starttls: required does not apply with implicit_tls (the session is already TLS)")
		}
	default:
		return fmt.Errorf("starttls %q: want auto, required or none", c.StartTLS)
	}
	plain := c.StartTLS == StartTLSNone && !c.ImplicitTLS
	if c.Username != "" && plain && !c.AllowInsecureAuth {
		return errors.New("username: AUTH over an unencrypted session needs allow_insecure_auth: true (or use starttls or implicit_tls)")
	}
	if plain && c.TLS != (TLSConfig{}) {
		return errors.New("tls: does not apply with starttls: none and no implicit_tls")
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %s: must not be negative", c.Timeout)
	}
	if err := validLevel(c.MinLevel); err != nil {
		return err
	}
	if _, _, err := c.templates(Config{}.fmtTime); err != nil {
		return err
	}
	return c.Delivery.validate()
}

// templates parses the subject and body templates, whose local function
// is local (Config.fmtTime), and runs them on a sample alert, so that a
// misspelt field fails at startup.
func (c SMTPConfig) templates(local func(time.Time) string) (subject, body *template.Template, err error) {
	subj, bod := c.Subject, c.Body
	defSubj, defBody := defaultMail(c.Language)
	if subj == "" {
		subj = defSubj
	}
	if bod == "" {
		bod = defBody
	}
	funcs := template.FuncMap{
		"local":    local,
		"utc":      fmtUTC,
		"hostport": hostPort,
		"join":     strings.Join,
		"level":    levelName(c.Language),
	}
	subject, err = template.New("subject").Funcs(funcs).Option("missingkey=zero").Parse(subj)
	if err != nil {
		return nil, nil, fmt.Errorf("subject: %w", err)
	}
	body, err = template.New("body").Funcs(funcs).Option("missingkey=zero").Parse(bod)
	if err != nil {
		return nil, nil, fmt.Errorf("body: %w", err)
	}
	sample := sampleAlert()
	var b bytes.Buffer
	if err := subject.Execute(&b, sample); err != nil {
		return nil, nil, fmt.Errorf("subject: %w", err)
	}
	if err := body.Execute(&b, sample); err != nil {
		return nil, nil, fmt.Errorf("body: %w", err)
	}
	return subject, body, nil
}

func sampleAlert() *alert.Alert {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &alert.Alert{
		ID: "0123456789abcdef01234567", RuleID: "sample", RuleTitle: "Sample rule",
		Threat: "brute-force", Level: alert.LevelHigh, Type: "threshold",
		First: t, Last: t, TS: t,
		SrcIP: "192.0.2.1", SrcPort: 40000, DstIP: "192.0.2.2", DstPort: 443,
		User: "user@example.com", DeviceID: "device", Group: "source.ip=192.0.2.1",
		Count: 1, Message: "sample", Payloads: []string{"line"},
		Fields: map[string]string{"k": "v"}, Notify: []string{"soc@example.com"},
	}
}

func fmtUTC(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func hostPort(ip string, port int) string {
	if port == 0 {
		return ip
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// port returns the configured or default port.
func (c SMTPConfig) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.ImplicitTLS:
		return 465
	case c.Username != "":
		return 587
	}
	return 25
}

// smtpSender mails alerts, keeping one session open while its queue is
// busy.
type smtpSender struct {
	addr          string // host:port
	host          string
	helo          string
	from          *mail.Address
	to            []*mail.Address
	user, pass    string
	mech          string
	allowInsecure bool
	starttls      string
	implicit      bool
	tls           *tls.Config
	timeout       time.Duration
	subject, body *template.Template
	domain        string // for Message-ID
	log           *slog.Logger

	client *smtp.Client
	conn   net.Conn
}

// newSMTPSender returns the sender of c; the local function of its
// templates is local (Config.fmtTime).
func newSMTPSender(c SMTPConfig, local func(time.Time) string, log *slog.Logger) (*smtpSender, error) {
	subject, body, err := c.templates(local)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	from, _ := mail.ParseAddress(c.From)
	s := &smtpSender{
		addr:          net.JoinHostPort(c.Host, strconv.Itoa(c.port())),
		host:          c.Host,
		helo:          c.HELO,
		from:          from,
		user:          c.Username,
		pass:          c.Password,
		mech:          strings.ToLower(c.Auth),
		allowInsecure: c.AllowInsecureAuth,
		starttls:      c.StartTLS,
		implicit:      c.ImplicitTLS,
		timeout:       c.Timeout.D(),
		subject:       subject,
		body:          body,
		log:           log,
	}
	for _, t := range c.To {
		a, _ := mail.ParseAddress(t)
		s.to = append(s.to, a)
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		s.pass = strings.TrimSpace(string(b))
	}
	if s.helo == "" {
		s.helo, _ = os.Hostname()
		if s.helo == "" || strings.ContainsAny(s.helo, " \t\r\n") {
			s.helo = "localhost"
		}
	}
	if s.starttls == "" {
		s.starttls = StartTLSAuto
	}
	if s.timeout == 0 {
		s.timeout = DefaultSMTPTimeout
	}
	if s.implicit || s.starttls != StartTLSNone {
		if s.tls, err = c.TLS.build(c.Host); err != nil {
			return nil, err
		}
	}
	s.domain = "vigil.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		s.domain = headerField(d, 255)
	}
	return s, nil
}

// wants takes an alert only when it has someone to go to.
func (s *smtpSender) wants(a *alert.Alert) bool { return len(s.to) > 0 || len(a.Notify) > 0 }

// recipients returns the channel's To plus the alert's Notify addresses,
// without duplicates, and the addresses that did not parse.
func (s *smtpSender) recipients(a *alert.Alert) (rcpt []*mail.Address, bad []string) {
	seen := make(map[string]bool)
	add := func(m *mail.Address) {
		k := strings.ToLower(m.Address)
		if !seen[k] {
			seen[k] = true
			rcpt = append(rcpt, m)
		}
	}
	for _, m := range s.to {
		add(m)
	}
	for _, n := range a.Notify {
		m, err := mail.ParseAddress(n)
		if err != nil || strings.ContainsAny(m.Address, "\r\n") {
			bad = append(bad, n)
			continue
		}
		add(m)
	}
	return rcpt, bad
}

func (s *smtpSender) send(ctx context.Context, it item) error {
	rcpt, bad := s.recipients(it.a)
	if len(bad) > 0 {
		s.log.Warn("notify: invalid recipient addresses skipped", "alert_id", it.a.ID, "rule", it.a.RuleID, "addresses", bad)
	}
	if len(rcpt) == 0 {
		return permanent(fmt.Errorf("smtp: no valid recipient (invalid: %q)", bad))
	}
	msg, err := s.message(it, rcpt)
	if err != nil {
		return permanent(err)
	}
	reused := s.client != nil
	err = s.transaction(ctx, it, rcpt, msg)
	if err != nil && reused && ctx.Err() == nil && !isReply(err) {
		// The server may have closed the idle session: try a fresh one.
		err = s.transaction(ctx, it, rcpt, msg)
	}
	return err
}

// transaction sends one message, opening a session when none is open.
func (s *smtpSender) transaction(ctx context.Context, it item, rcpt []*mail.Address, msg []byte) error {
	if s.client == nil {
		if err := s.open(ctx); err != nil {
			s.reset()
			return err
		}
	}
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		s.reset()
		return fmt.Errorf("smtp: %s: %w", s.addr, err)
	}
	if err := s.client.Mail(s.from.Address); err != nil {
		s.reset()
		return s.replyErr("MAIL FROM", err)
	}
	var rejected []string
	var lastRejection error
	accepted := 0
	for _, r := range rcpt {
		err := s.client.Rcpt(r.Address)
		if err == nil {
			accepted++
			continue
		}
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			rejected = append(rejected, r.Address)
			lastRejection = err
			continue
		}
		// A temporary refusal: retry the whole message later rather than
		// mail only some recipients now.
		s.reset()
		return s.replyErr("RCPT TO "+r.Address, err)
	}
	if accepted == 0 {
		s.reset()
		return permanent(fmt.Errorf("smtp: %s: every recipient refused, last: %w", s.addr, lastRejection))
	}
	w, err := s.client.Data()
	if err != nil {
		s.reset()
		return s.replyErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		s.reset()
		return s.replyErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		s.reset()
		return s.replyErr("end of DATA", err)
	}
	if len(rejected) > 0 {
		s.log.Warn("notify: mail recipients refused", "alert_id", it.a.ID, "refused", rejected, "err", lastRejection)
	}
	return nil
}

// open connects, says EHLO, upgrades to TLS and authenticates.
func (s *smtpSender) open(ctx context.Context) error {
	d := &net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", s.addr, err)
	}
	deadline := time.Now().Add(s.timeout)
	_ = conn.SetDeadline(deadline)
	if s.implicit {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp: TLS with %s: %w", s.addr, err)
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return s.replyErr("greeting", err)
	}
	s.client, s.conn = c, conn
	if err := c.Hello(s.helo); err != nil {
		return s.replyErr("EHLO", err)
	}
	_, isTLS := conn.(*tls.Conn)
	if !isTLS && s.starttls != StartTLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return s.replyErr("STARTTLS", err)
			}
			isTLS = true
		} else if s.starttls == StartTLSRequired {
			return permanent(fmt.Errorf("smtp: %s does not offer STARTTLS (starttls: required)", s.addr))
		}
	}
	if s.user == "" {
		return nil
	}
	if !isTLS && !s.allowInsecure {
		return permanent(fmt.Errorf("smtp: %s: refusing to send credentials over an unencrypted session (the server offers no STARTTLS; set allow_insecure_auth to allow it)", s.addr))
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return permanent(fmt.Errorf("smtp: %s offers no AUTH but username is set", s.addr))
	}
	offered := strings.Fields(strings.ToLower(mechs))
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	mech := s.mech
	if mech == "" {
		switch {
		case has(AuthPlain):
			mech = AuthPlain
		case has(AuthLogin):
			mech = AuthLogin
		default:
			return permanent(fmt.Errorf("smtp: %s offers AUTH %s, not PLAIN or LOGIN", s.addr, mechs))
		}
	}
	var a smtp.Auth = &plainAuth{user: s.user, pass: s.pass, insecure: s.allowInsecure}
	if mech == AuthLogin {
		a = &loginAuth{user: s.user, pass: s.pass, insecure: s.allowInsecure}
	}
	if err := c.Auth(a); err != nil {
		return s.replyErr("AUTH "+strings.ToUpper(mech), err)
	}
	return nil
}

// isReply reports whether err is an SMTP reply from the server, as
// opposed to a broken connection.
func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te)
}

// replyErr wraps err from an SMTP step; a 5xx reply is permanent.
func (s *smtpSender) replyErr(step string, err error) error {
	err = fmt.Errorf("smtp: %s: %s: %w", s.addr, step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent(err)
	}
	return err
}

// reset drops the session without QUIT.
func (s *smtpSender) reset() {
	if s.client != nil {
		_ = s.client.Close()
	} else if s.conn != nil {
		_ = s.conn.Close()
	}
	s.client, s.conn = nil, nil
}

// quit ends the session politely.
func (s *smtpSender) quit() {
	if s.client == nil {
		return
	}
	_ = s.conn.SetDeadline(time.Now().Add(min(s.timeout, 5*time.Second)))
	_ = s.client.Quit()
	s.reset()
}

func (s *smtpSender) idle() { s.quit() }

func (s *smtpSender) close() error {
	s.quit()
	return nil
}

// message renders the mail for it: headers, a blank line and the
// quoted-printable body, lines ending in CRLF.
func (s *smtpSender) message(it item, rcpt []*mail.Address) ([]byte, error) {
	a := it.a
	var sb strings.Builder
	if err := s.subject.Execute(&sb, a); err != nil {
		return nil, fmt.Errorf("smtp: subject template: %w", err)
	}
	subject := oneLine(sb.String(), maxSubject)
	var body bytes.Buffer
	if err := s.body.Execute(&body, a); err != nil {
		return nil, fmt.Errorf("smtp: body template: %w", err)
	}

	var m bytes.Buffer
	hdr := func(k, v string) {
		m.WriteString(k)
		m.WriteString(": ")
		m.WriteString(v)
		m.WriteString("\r\n")
	}
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("From", s.from.String())
	to := make([]string, len(rcpt))
	for i, r := range rcpt {
		to[i] = r.String()
	}
	hdr("To", strings.Join(to, ",\r\n "))
	hdr("Subject", foldWords(mime.QEncoding.Encode("utf-8", subject)))
	hdr("Message-ID", s.messageID(it))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Vigil-Alert-ID", headerField(a.ID, 200))
	hdr("X-Vigil-Rule", headerField(a.RuleID, 200))
	hdr("X-Vigil-Level", headerField(a.Level, 50))
	m.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&m)
	text := strings.ToValidUTF8(body.String(), "\uFFFD")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("smtp: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("smtp: encode body: %w", err)
	}
	m.WriteString("\r\n")
	return m.Bytes(), nil
}

// messageID is stable across the retries of one queued alert.
func (s *smtpSender) messageID(it item) string {
	id := headerField(it.a.ID, 64)
	if id == "-" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	id = strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '@' {
			return '_'
		}
		return r
	}, id)
	return fmt.Sprintf("<vigil.%s.%d@%s>", id, it.at.UnixNano(), s.domain)
}

// oneLine makes s a single line of at most n runes for a header.
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n])
	}
	return s
}

// plainAuth is SASL PLAIN (RFC 4616) that refuses an unencrypted session
// unless allowed (net/smtp's own allows only localhost).
type plainAuth struct {
	user, pass string
	insecure   bool
}

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.insecure {
		return "", nil, errors.New("refusing PLAIN over an unencrypted session")
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism: the server asks for the user name,
// then the password.
type loginAuth struct {
	user, pass string
	insecure   bool
	step       int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.insecure {
		return "", nil, errors.New("refusing LOGIN over an unencrypted session")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	c := strings.ToLower(string(challenge))
	switch {
	case strings.HasPrefix(c, "user"):
		return []byte(a.user), nil
	case strings.HasPrefix(c, "pass"):
		return []byte(a.pass), nil
	case a.step == 1:
		return []byte(a.user), nil
	case a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", challenge)
}
