package notify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/units"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sl := func(f func(*SyslogConfig)) Config {
		c := SyslogConfig{Address: "127.0.0.1:514"}
		f(&c)
		return Config{Syslog: []SyslogConfig{c}}
	}
	wh := func(f func(*WebhookConfig)) Config {
		c := WebhookConfig{URL: "https://hooks.example.com/x"}
		f(&c)
		return Config{Webhooks: []WebhookConfig{c}}
	}
	sm := func(f func(*SMTPConfig)) Config {
		c := SMTPConfig{Host: "mail.example.com", From: "vigil@example.com", To: []string{"soc@example.com"}}
		f(&c)
		return Config{SMTP: []SMTPConfig{c}}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"empty", Config{}, ""},
		{"syslog ok", sl(func(*SyslogConfig) {}), ""},
		{"syslog full", sl(func(c *SyslogConfig) {
			c.Transport, c.Format, c.Framing, c.Facility, c.MinLevel = TransportTCP, FormatRFC3164, FramingOctetCounting, "local7", "high"
		}), ""},
		{"syslog no address", sl(func(c *SyslogConfig) { c.Address = "" }), "syslog[0]: address: required"},
		{"syslog no port", sl(func(c *SyslogConfig) { c.Address = "siem" }), "missing port"},
		{"syslog bad port", sl(func(c *SyslogConfig) { c.Address = "siem:99999" }), "port must be a number 1-65535"},
		{"syslog transport", sl(func(c *SyslogConfig) { c.Transport = "sctp" }), `transport "sctp": want udp, tcp or tls`},
		{"syslog format", sl(func(c *SyslogConfig) { c.Format = "cef" }), `format "cef"`},
		{"syslog framing on udp", sl(func(c *SyslogConfig) { c.Framing = FramingNewline }), "applies to tcp and tls only"},
		{"syslog framing", sl(func(c *SyslogConfig) { c.Transport, c.Framing = TransportTCP, "lf" }), `framing "lf"`},
		{"syslog facility", sl(func(c *SyslogConfig) { c.Facility = "local9" }), `facility "local9"`},
		{"syslog level", sl(func(c *SyslogConfig) { c.MinLevel = "severe" }), `min_level "severe"`},
		{"syslog tls without transport", sl(func(c *SyslogConfig) { c.TLS.InsecureSkipVerify = true }), "set transport: tls"},
		{"syslog tls missing ca", sl(func(c *SyslogConfig) { c.Transport, c.TLS.CAFile = TransportTLS, "/nonexistent/ca.pem" }), "no such file"},
		{"syslog tls cert without key", sl(func(c *SyslogConfig) { c.Transport, c.TLS.CertFile = TransportTLS, pw }), "cert_file and key_file go together"},
		{"syslog small max", sl(func(c *SyslogConfig) { c.MaxMessageSize = 100 }), "max_message_size 100"},
		{"syslog negative queue", sl(func(c *SyslogConfig) { c.QueueSize = -1 }), "queue_size -1"},
		{"syslog backoff over max", sl(func(c *SyslogConfig) {
			c.Backoff, c.MaxBackoff = units.Duration(time.Minute), units.Duration(time.Second)
		}), "must not exceed max_backoff"},
		{"webhook ok", wh(func(*WebhookConfig) {}), ""},
		{"webhook no url", wh(func(c *WebhookConfig) { c.URL = "" }), "webhooks[0]: url: required"},
		{"webhook scheme", wh(func(c *WebhookConfig) { c.URL = "ftp://x/y" }), `scheme "ftp"`},
		{"webhook no host", wh(func(c *WebhookConfig) { c.URL = "http:///x" }), "host missing"},
		{"webhook header name", wh(func(c *WebhookConfig) { c.Headers = map[string]string{"Bad Name": "x"} }), "invalid header name"},
		{"webhook header value", wh(func(c *WebhookConfig) { c.Headers = map[string]string{"X-A": "a\r\nb"} }), "CR, LF"},
		{"webhook tls on http", wh(func(c *WebhookConfig) { c.URL, c.TLS.InsecureSkipVerify = "http://x", true }), "https URLs only"},
		{"webhook timeout", wh(func(c *WebhookConfig) { c.Timeout = units.Duration(-time.Second) }), "timeout -1s"},
		{"smtp ok", sm(func(*SMTPConfig) {}), ""},
		{"smtp auth ok", sm(func(c *SMTPConfig) { c.Username, c.PasswordFile, c.Auth = "u", pw, "LOGIN" }), ""},
		{"smtp no to", sm(func(c *SMTPConfig) { c.To = nil }), ""},
		{"smtp no host", sm(func(c *SMTPConfig) { c.Host = "" }), "smtp[0]: host: required"},
		{"smtp host with port", sm(func(c *SMTPConfig) { c.Host = "mail:25" }), "without port"},
		{"smtp no from", sm(func(c *SMTPConfig) { c.From = "" }), "from: required"},
		{"smtp bad from", sm(func(c *SMTPConfig) { c.From = "not an address" }), `from "not an address"`},
		{"smtp bad to", sm(func(c *SMTPConfig) { c.To = []string{"x@"} }), `to "x@"`},
		{"smtp password without user", sm(func(c *SMTPConfig) { c.Password = "p" }), "set username too"},
		{"smtp both passwords", sm(func(c *SMTPConfig) { c.Username, c.Password, c.PasswordFile = "u", "p", pw }), "set one, not both"},
		{"smtp auth mech", sm(func(c *SMTPConfig) { c.Username, c.Auth = "u", "cram-md5" }), `auth "cram-md5"`},
		{"smtp starttls", sm(func(c *SMTPConfig) { c.StartTLS = "maybe" }), `starttls "maybe"`},
		{"smtp required with implicit", sm(func(c *SMTPConfig) { c.StartTLS, c.ImplicitTLS = StartTLSRequired, true }), "does not apply with implicit_tls"},
		{"smtp insecure auth", sm(func(c *SMTPConfig) { c.StartTLS, c.Username, c.Password = StartTLSNone, "u", "p" }), "needs allow_insecure_auth"},
		{"smtp insecure auth allowed", sm(func(c *SMTPConfig) {
			c.StartTLS, c.Username, c.Password, c.AllowInsecureAuth = StartTLSNone, "u", "p", true
		}), ""},
		{"smtp tls without tls", sm(func(c *SMTPConfig) { c.StartTLS, c.TLS.InsecureSkipVerify = StartTLSNone, true }), "tls: does not apply"},
		{"smtp subject syntax", sm(func(c *SMTPConfig) { c.Subject = "{{.Level" }), "subject: template"},
		{"smtp body field", sm(func(c *SMTPConfig) { c.Body = "{{.Nope}}" }), `body: template: body:1:2: executing "body" at <.Nope>`},
		{"smtp template funcs", sm(func(c *SMTPConfig) {
			c.Body = `{{utc .TS}} {{hostport .SrcIP .SrcPort}} {{join .Payloads ", "}} {{.Fields.k}}`
		}), ""},
		{"duplicate names", Config{
			Syslog:   []SyslogConfig{{Name: "out", Address: "127.0.0.1:514"}},
			Webhooks: []WebhookConfig{{Name: "out", URL: "http://x"}},
		}, `webhooks[0]: name "out" is already used by syslog[0]`},
		{"default name taken", Config{
			Syslog: []SyslogConfig{{Address: "127.0.0.1:514"}, {Name: "syslog0", Address: "127.0.0.1:514"}},
		}, `syslog[1]: name "syslog0" is already used by syslog[0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestYAML(t *testing.T) {
	src := `
syslog:
  - name: siem
    address: siem.example.com:6514
    transport: tls
    format: rfc5424
    framing: octet_counting
    facility: local4
    min_level: medium
    tls:
      ca_file: ""
      insecure_skip_verify: true
    queue_size: 500
    max_attempts: 5
    max_age: 1d
    backoff: 2s
    max_backoff: 1m
webhooks:
  - url: https://hooks.example.com/T/B/X
    headers:
      Authorization: Bearer x
    timeout: 5s
smtp:
  - host: mail.example.com
    port: 587
    from: Vigil <vigil@example.com>
    to: [soc@example.com]
    username: vigil
    password: pw
    starttls: required
    subject: "{{.Level}}"
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg.Syslog[0]
	if s.QueueSize != 500 || s.MaxAge.D() != 24*time.Hour || s.Backoff.D() != 2*time.Second || !s.TLS.InsecureSkipVerify || s.Framing != FramingOctetCounting {
		t.Errorf("syslog %+v", s)
	}
	if w := cfg.Webhooks[0]; w.Timeout.D() != 5*time.Second || w.Headers["Authorization"] != "Bearer x" {
		t.Errorf("webhook %+v", w)
	}
	if m := cfg.SMTP[0]; m.StartTLS != StartTLSRequired || m.port() != 587 || m.Subject != "{{.Level}}" {
		t.Errorf("smtp %+v", m)
	}
}

func TestNoChannels(t *testing.T) {
	n, err := New(Config{}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Send(testAlert(1))
	n.Send(nil)
	if st := n.Status(); len(st) != 0 {
		t.Errorf("status %+v", st)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestNewInvalid(t *testing.T) {
	_, err := New(Config{Webhooks: []WebhookConfig{{URL: "gopher://x"}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "webhooks[0]") {
		t.Errorf("err %v", err)
	}
}

func TestNamesAndKinds(t *testing.T) {
	n, err := New(Config{
		Syslog:   []SyslogConfig{{Address: "127.0.0.1:9"}, {Name: "siem", Address: "127.0.0.1:9"}},
		Webhooks: []WebhookConfig{{URL: "http://127.0.0.1:9/x"}},
		SMTP:     []SMTPConfig{{Host: "127.0.0.1", From: "v@example.com", To: []string{"a@example.com"}}},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	var got []string
	for _, s := range n.Status() {
		got = append(got, s.Kind+":"+s.Name+":"+s.Target)
	}
	want := "syslog:syslog0:udp://127.0.0.1:9 syslog:siem:udp://127.0.0.1:9 webhook:webhook0:http://127.0.0.1:9 smtp:smtp0:127.0.0.1:25"
	if strings.Join(got, " ") != want {
		t.Errorf("channels\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	b, err := json.Marshal(n.Status()[0])
	if err != nil || !strings.Contains(string(b), `"kind":"syslog"`) || strings.Contains(string(b), "last_error_time") {
		t.Errorf("status JSON %s, %v", b, err)
	}
}

func TestMinLevelFilter(t *testing.T) {
	h := newHookServer(t)
	n, _ := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: h.URL, MinLevel: alert.LevelMedium})
	levels := []string{alert.LevelInfo, alert.LevelLow, alert.LevelMedium, alert.LevelHigh, alert.LevelCritical, "bogus"}
	for i, l := range levels {
		a := testAlert(i)
		a.Level = l
		n.Send(a)
	}
	waitFor(t, "sent", func() bool { return statusOf(t, n, "hook").Sent == 4 })
	var got []string
	h.mu.Lock()
	for _, b := range h.bodies {
		var a alert.Alert
		_ = json.Unmarshal(b, &a)
		got = append(got, a.Level)
	}
	h.mu.Unlock()
	if strings.Join(got, ",") != "medium,high,critical,bogus" {
		t.Errorf("delivered levels %v", got)
	}
}

func TestCloseFlushes(t *testing.T) {
	h := newHookServer(t, 500, 200) // the first alert needs a retry
	reg := prometheus.NewRegistry()
	n, err := New(Config{Webhooks: []WebhookConfig{{Name: "hook", URL: h.URL, Delivery: fastRetry(100, 5)}}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		n.Send(testAlert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, n, "hook")
	if st.Sent != 20 || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("status after Close %+v", st)
	}
	// After Close, alerts are counted, not queued.
	n.Send(testAlert(99))
	if st := statusOf(t, n, "hook"); st.Dropped != 1 || st.Queued != 0 {
		t.Errorf("Send after Close: %+v", st)
	}
	if err := n.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseDeadline(t *testing.T) {
	h := newHookServer(t)
	release := make(chan struct{})
	defer close(release)
	h.block = release
	reg := prometheus.NewRegistry()
	n, err := New(Config{Webhooks: []WebhookConfig{{Name: "hook", URL: h.URL}}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		n.Send(testAlert(i))
	}
	waitFor(t, "first request", func() bool { return h.count() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = n.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "5 undelivered alerts dropped") {
		t.Errorf("Close error %v", err)
	}
	st := statusOf(t, n, "hook")
	if st.Dropped != 5 || st.Queued != 0 || st.Sent != 0 {
		t.Errorf("status %+v, want the in-flight and the 4 queued alerts dropped", st)
	}
	if v := metricValue(t, reg, "vigil_notify_dropped_total", "hook"); v != 5 {
		t.Errorf("dropped_total %v", v)
	}
}

func TestMaxAge(t *testing.T) {
	h := newHookServer(t, 503)
	n, _ := newWebhookNotifier(t, WebhookConfig{Name: "hook", URL: h.URL, Delivery: Delivery{
		MaxAttempts: 1000, MaxAge: units.Duration(50 * time.Millisecond), Backoff: units.Duration(20 * time.Millisecond), MaxBackoff: units.Duration(20 * time.Millisecond),
	}})
	n.Send(testAlert(1))
	waitFor(t, "failure", func() bool { return statusOf(t, n, "hook").Failed == 1 })
	if st := statusOf(t, n, "hook"); !strings.Contains(st.LastError, "max_age") {
		t.Errorf("status %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	c := &channel{d: Delivery{Backoff: units.Duration(100 * time.Millisecond), MaxBackoff: units.Duration(time.Second)}}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		for range 20 {
			got := c.backoff(attempt)
			if got > want || got < want*4/5 {
				t.Errorf("backoff(%d) = %v, want %v less up to 20%%", attempt, got, want)
			}
		}
	}
}

func TestMetricsSharedRegistry(t *testing.T) {
	// Two Notifiers on one registry (a reload) share the collectors.
	reg := prometheus.NewRegistry()
	cfg := Config{Webhooks: []WebhookConfig{{Name: "hook", URL: "http://127.0.0.1:9"}}}
	for range 2 {
		n, err := New(cfg, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		n.Close(context.Background())
	}
}
