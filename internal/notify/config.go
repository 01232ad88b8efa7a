package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/units"
)

// Defaults of the Delivery settings.
const (
	DefaultQueueSize   = 1000
	DefaultMaxAttempts = 10
	DefaultMaxAge      = time.Hour
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = time.Minute
)

// Config lists the alert channels. The zero value has none.
type Config struct {
	Syslog   []SyslogConfig  `yaml:"syslog"`
	Webhooks []WebhookConfig `yaml:"webhooks"`
	SMTP     []SMTPConfig    `yaml:"smtp"`

	// Location is the zone of the times in alert texts (display.timezone);
	// nil: UTC.
	Location *time.Location `yaml:"-"`
	// Language is the language of alert texts (display.language, one of
	// locale.Languages); "": English.
	Language string `yaml:"-"`
	// ConsoleURL is the console's address as people reach it
	// (http.external_url); chat messages link to the alert's page there.
	// "": no link.
	ConsoleURL string `yaml:"-"`
}

// Validate checks every channel and that channel names are unique.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[string]string)
	name := func(kind, key string, i int, n string) {
		if n == "" {
			n = defaultName(kind, i)
		}
		where := fmt.Sprintf("%s[%d]", key, i)
		if prev, ok := seen[n]; ok {
			errs = append(errs, fmt.Errorf("notify: %s: name %q is already used by %s", where, n, prev))
			return
		}
		seen[n] = where
	}
	for i, s := range c.Syslog {
		name(kindSyslog, "syslog", i, s.Name)
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("notify: syslog[%d]: %w", i, err))
		}
	}
	for i, w := range c.Webhooks {
		name(kindWebhook, "webhooks", i, w.Name)
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("notify: webhooks[%d]: %w", i, err))
		}
	}
	for i, m := range c.SMTP {
		name(kindSMTP, "smtp", i, m.Name)
		if err := m.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("notify: smtp[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Delivery configures the queue and the retries of one channel. Zero
// values take the defaults.
type Delivery struct {
	// QueueSize bounds the alerts waiting for this channel (default 1000).
	// When it is full, the oldest alert is dropped and counted.
	QueueSize int `yaml:"queue_size"`
	// MaxAttempts bounds the delivery attempts of one alert (default 10).
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge gives up on an alert that has waited this long since Send,
	// queue time included (default 1h).
	MaxAge units.Duration `yaml:"max_age"`
	// Backoff is the wait before the first retry (default 1s); it doubles
	// on every further retry up to MaxBackoff (default 1m).
	Backoff    units.Duration `yaml:"backoff"`
	MaxBackoff units.Duration `yaml:"max_backoff"`
}

func (d Delivery) validate() error {
	switch {
	case d.QueueSize < 0:
		return fmt.Errorf("queue_size %d: must not be negative", d.QueueSize)
	case d.MaxAttempts < 0:
		return fmt.Errorf("max_attempts %d: must not be negative", d.MaxAttempts)
	case d.MaxAge < 0:
		return fmt.Errorf("max_age %s: must not be negative", d.MaxAge)
	case d.Backoff < 0:
		return fmt.Errorf("backoff %s: must not be negative", d.Backoff)
	case d.MaxBackoff < 0:
		return fmt.Errorf("max_backoff %s: must not be negative", d.MaxBackoff)
	case d.Backoff > 0 && d.MaxBackoff > 0 && d.Backoff > d.MaxBackoff:
		return fmt.Errorf("backoff %s: must not exceed max_backoff %s", d.Backoff, d.MaxBackoff)
	}
	return nil
}

func (d Delivery) withDefaults() Delivery {
	if d.QueueSize == 0 {
		d.QueueSize = DefaultQueueSize
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = DefaultMaxAttempts
	}
	if d.MaxAge == 0 {
		d.MaxAge = units.Duration(DefaultMaxAge)
	}
	if d.Backoff == 0 {
		d.Backoff = units.Duration(DefaultBackoff)
	}
	if d.MaxBackoff == 0 {
		d.MaxBackoff = max(units.Duration(DefaultMaxBackoff), d.Backoff)
	}
	return d
}

// TLSConfig configures the client side of a TLS connection.
type TLSConfig struct {
	// CAFile holds PEM certificates of the CAs to trust instead of the
	// system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile hold a client certificate (optional; both or
	// neither).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate
	// (default: the host of the address).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (t TLSConfig) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	for _, f := range []string{t.CAFile, t.CertFile, t.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	return nil
}

// build returns the client configuration for a server named host.
func (t TLSConfig) build(host string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: t.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate found", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// validLevel checks a min_level value; empty means every level.
func validLevel(l string) error {
	if l != "" && alert.Severity(l) < 0 {
		return fmt.Errorf("min_level %q: want one of info, low, medium, high, critical", l)
	}
	return nil
}

// minRank is the lowest alert rank a min_level lets through.
func minRank(l string) int {
	if l == "" {
		return 0
	}
	return alert.Severity(l)
}

// passes reports whether a level meets a channel's minimum rank. An
// unknown level passes every filter: an alert is better delivered than
// hidden by a typo in a rule.
func passes(level string, min int) bool {
	s := alert.Severity(level)
	return s < 0 || s >= min
}

func defaultName(kind string, i int) string { return fmt.Sprintf("%s%d", kind, i) }
