// Package config loads and validates Vigil's YAML configuration.
//
// Every key has a default, so Vigil runs with no file at all; docs/configuration.md
// documents each key. A file only names what it changes.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/input"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/notify"
	"github.com/vigil-soc/vigil/internal/output"
)

// Config is Vigil's whole configuration.
type Config struct {
	// DataDir holds the journal, the store and cursors.
	DataDir string  `yaml:"data_dir"`
	Log     Log     `yaml:"log"`
	HTTP    HTTP    `yaml:"http"`
	Inputs  Inputs  `yaml:"inputs"`
	Journal Journal `yaml:"journal"`
	Store   Store   `yaml:"store"`
	Parse   Parse   `yaml:"parse"`
	Detect  Detect  `yaml:"detect"`
	// Alerts are the channels every alert is sent to besides the store.
	Alerts notify.Config `yaml:"alerts"`
	// Outputs forward journaled messages (docs/outputs.md).
	Outputs Outputs `yaml:"outputs"`
}

// Outputs lists the outputs.
type Outputs struct {
	Syslog []output.SyslogConfig `yaml:"syslog"`
	Kafka  []output.KafkaConfig  `yaml:"kafka"`
	// ClickHouse writes events (and, with detection, alerts into the
	// threat table).
	ClickHouse []output.ClickHouseConfig `yaml:"clickhouse"`
}

// Detect configures the detection engine (docs/rules.md).
type Detect struct {
	// Enabled runs the engine in the pipeline (default true).
	Enabled *bool `yaml:"enabled"`
	// Builtin loads the built-in rule pack (default true); Disable turns
	// off single rules by id.
	Builtin *bool    `yaml:"builtin"`
	Disable []string `yaml:"disable"`
	// RulesDir holds the user's rule files, reloaded when they change.
	RulesDir string `yaml:"rules_dir"`
	// ListsDir holds black/white lists and the device registry.
	ListsDir string `yaml:"lists_dir"`
	// GeoIP is a MaxMind-format .mmdb country (or city) database.
	GeoIP string `yaml:"geoip"`
	// Lateness is how late (in event time) an event may arrive and count.
	Lateness Duration `yaml:"lateness"`
	// CheckpointInterval is how often the engine's state is saved.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
}

// On reports whether detection runs.
func (d Detect) On() bool { return d.Enabled == nil || *d.Enabled }

// BuiltinOn reports whether the built-in rule pack is loaded.
func (d Detect) BuiltinOn() bool { return d.Builtin == nil || *d.Builtin }

// Log configures Vigil's own log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP configures the API server.
type HTTP struct {
	Addr string `yaml:"addr"`
	// Tokens are accepted bearer tokens for the API. When empty, Vigil
	// generates one into TokenFile on first start.
	Tokens []string `yaml:"tokens"`
	// TokenFile is where the generated token lives; default <data_dir>/api-token.
	TokenFile string `yaml:"token_file"`
	// MetricsAuth requires a token for /metrics too.
	MetricsAuth bool `yaml:"metrics_auth"`
	// TLS serves the API over HTTPS when both files are set.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MaxSearchLimit caps the limit parameter of a search.
	MaxSearchLimit int `yaml:"max_search_limit"`
	// Debug serves Go's profiler under /debug/pprof/ (token required).
	Debug bool `yaml:"debug"`
}

// Inputs lists the network inputs.
type Inputs struct {
	Syslog []Syslog `yaml:"syslog"`
	// Kafka consumes topics as a consumer group (docs/configuration.md).
	Kafka []kafka.Config `yaml:"kafka"`
}

// Syslog is one syslog listener (UDP, TCP and optionally TLS).
type Syslog struct {
	Name           string   `yaml:"name"`
	Addr           string   `yaml:"addr"`
	UDP            *bool    `yaml:"udp"`
	TCP            *bool    `yaml:"tcp"`
	TLS            TLS      `yaml:"tls"`
	MaxMessageSize ByteSize `yaml:"max_message_size"`
	// MaxConnections limits plain TCP connections (TLS.MaxConnections
	// TLS ones); MaxConnectionsPerAddress those of one transport from one
	// IP address.
	MaxConnections           int      `yaml:"max_connections"`
	MaxConnectionsPerAddress int      `yaml:"max_connections_per_address"`
	MaxBufferMemory          ByteSize `yaml:"max_buffer_memory"`
	UDPReadBuffer            ByteSize `yaml:"udp_read_buffer"`
	// IdleTimeout is nil when unset (the default applies); 0 means never.
	IdleTimeout *Duration `yaml:"idle_timeout"`
	// Timezone applies to timestamps that carry no offset (RFC3164).
	Timezone string `yaml:"timezone"`
	// Format names the payload format of every message on this input;
	// "auto" (the default) detects it per message.
	Format string `yaml:"format"`
}

// IdleTimeoutValue returns idle_timeout as input.SyslogConfig takes it:
// 0 (its default) when unset, negative (never) when set to 0.
func (s Syslog) IdleTimeoutValue() time.Duration {
	switch {
	case s.IdleTimeout == nil:
		return 0
	case *s.IdleTimeout == 0:
		return -1
	}
	return s.IdleTimeout.D()
}

// UDPEnabled reports whether the UDP listener is on.
func (s Syslog) UDPEnabled() bool { return s.UDP == nil || *s.UDP }

// TCPEnabled reports whether the plain TCP listener is on.
func (s Syslog) TCPEnabled() bool { return s.TCP == nil || *s.TCP }

// Location returns the timezone for offset-less timestamps.
func (s Syslog) Location() (*time.Location, error) {
	switch s.Timezone {
	case "", "Local", "local":
		return time.Local, nil
	}
	return time.LoadLocation(s.Timezone)
}

// TLS configures RFC5425 syslog over TLS.
type TLS struct {
	Addr           string `yaml:"addr"`
	CertFile       string `yaml:"cert_file"`
	KeyFile        string `yaml:"key_file"`
	ClientCAFile   string `yaml:"client_ca_file"`
	MaxConnections int    `yaml:"max_connections"`
}

// Journal configures the write-ahead journal and raw archive.
type Journal struct {
	SegmentSize   ByteSize `yaml:"segment_size"`
	Fsync         string   `yaml:"fsync"` // interval, always, never
	FsyncInterval Duration `yaml:"fsync_interval"`
	MaxAge        Duration `yaml:"max_age"`
	MaxSize       ByteSize `yaml:"max_size"`
	Compress      *bool    `yaml:"compress"`
	// MinFreeDisk stops appends while the journal's disk has less free.
	MinFreeDisk ByteSize `yaml:"min_free_disk"`
}

// CompressEnabled reports whether sealed segments are compressed.
func (j Journal) CompressEnabled() bool { return j.Compress == nil || *j.Compress }

// Store configures the embedded search store.
type Store struct {
	Retention      Duration `yaml:"retention"`
	MaxDiskSize    ByteSize `yaml:"max_disk_size"`
	MinFreeDisk    ByteSize `yaml:"min_free_disk"`
	CacheSize      ByteSize `yaml:"cache_size"`
	FutureLimit    Duration `yaml:"future_limit"`
	FlushBatch     int      `yaml:"flush_batch"`
	CommitInterval Duration `yaml:"commit_interval"`
}

// Parse configures payload parsing.
type Parse struct {
	// MaxFields caps the fields taken from one JSON payload.
	MaxFields int `yaml:"max_fields"`
	// KeepJSONText keeps a JSON payload's text in _msg next to its fields.
	KeepJSONText bool `yaml:"keep_json_text"`
	// UserDomains maps domains as sources write them (NetBIOS, DNS, UPN
	// suffix) to the canonical user.domain.
	UserDomains map[string]string `yaml:"user_domains"`
	// KeepSourceKeys keeps the JSON keys a format mapped onto normalized
	// fields next to them.
	KeepSourceKeys bool `yaml:"keep_source_keys"`
}

// Default returns the embedded defaults: everything on loopback, data in ./vigil-data.
func Default() Config {
	return Config{
		DataDir: "vigil-data",
		Log:     Log{Level: "info", Format: "text"},
		HTTP:    HTTP{Addr: "127.0.0.1:8514", MaxSearchLimit: 100000},
		Inputs: Inputs{Syslog: []Syslog{{
			Name: "syslog",
			Addr: "127.0.0.1:5514",
		}}},
		Journal: Journal{
			SegmentSize:   64 << 20,
			Fsync:         "interval",
			FsyncInterval: Duration(time.Second),
			MaxAge:        Duration(30 * 24 * time.Hour),
			MaxSize:       20 << 30,
			MinFreeDisk:   512 << 20,
		},
		Store: Store{
			Retention:      Duration(30 * 24 * time.Hour),
			MinFreeDisk:    1 << 30,
			FutureLimit:    Duration(24 * time.Hour),
			FlushBatch:     4096,
			CommitInterval: Duration(time.Second),
		},
		Parse:  Parse{MaxFields: 500},
		Detect: Detect{Lateness: Duration(time.Minute), CheckpointInterval: Duration(10 * time.Second)},
	}
}

// Load reads a YAML file over the defaults. An empty path returns the defaults.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, cfg.fill()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.decode(b); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseYAML reads YAML text over the defaults.
func ParseYAML(b []byte) (Config, error) {
	cfg := Default()
	if err := cfg.decode(b); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func (c *Config) decode(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return c.fill()
}

// fill completes per-input defaults and validates the result.
func (c *Config) fill() error {
	def := Default()
	for i := range c.Inputs.Syslog {
		s := &c.Inputs.Syslog[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("syslog%d", i)
			if i == 0 {
				s.Name = "syslog"
			}
		}
		if s.MaxMessageSize == 0 {
			s.MaxMessageSize = 64 << 10
		}
		if s.MaxConnections == 0 {
			s.MaxConnections = input.DefaultMaxConnections
		}
		if s.TLS.MaxConnections == 0 {
			s.TLS.MaxConnections = input.DefaultMaxTLSConnections
		}
		if s.MaxConnectionsPerAddress == 0 {
			s.MaxConnectionsPerAddress = input.DefaultMaxConnectionsPerAddress
		}
		if s.MaxBufferMemory == 0 {
			s.MaxBufferMemory = input.DefaultMaxBufferMemory
		}
		if s.UDPReadBuffer == 0 {
			s.UDPReadBuffer = 8 << 20
		}
	}
	for i := range c.Inputs.Kafka {
		k := &c.Inputs.Kafka[i]
		if k.Name == "" {
			k.Name = fmt.Sprintf("kafka%d", i)
			if i == 0 {
				k.Name = kafka.DefaultName
			}
		}
	}
	if c.HTTP.MaxSearchLimit <= 0 {
		c.HTTP.MaxSearchLimit = def.HTTP.MaxSearchLimit
	}
	if c.Store.FlushBatch <= 0 {
		c.Store.FlushBatch = def.Store.FlushBatch
	}
	if c.Store.CommitInterval <= 0 {
		c.Store.CommitInterval = def.Store.CommitInterval
	}
	if c.Parse.MaxFields <= 0 {
		c.Parse.MaxFields = def.Parse.MaxFields
	}
	return c.Validate()
}

// Validate checks values that would otherwise fail late or silently.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if err := checkAddr(c.HTTP.Addr); err != nil {
		errs = append(errs, fmt.Errorf("http.addr: %w", err))
	}
	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		errs = append(errs, errors.New("http: cert_file and key_file go together"))
	}
	names := map[string]bool{}
	for i, s := range c.Inputs.Syslog {
		p := fmt.Sprintf("inputs.syslog[%d]", i)
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", p, s.Name))
		}
		names[s.Name] = true
		if !validName(s.Name) {
			errs = append(errs, fmt.Errorf("%s.name: %q must be letters, digits, '-' or '_'", p, s.Name))
		}
		if s.Addr == "" && s.TLS.Addr == "" {
			errs = append(errs, fmt.Errorf("%s: needs addr or tls.addr", p))
		}
		if s.Addr != "" {
			if err := checkAddr(s.Addr); err != nil {
				errs = append(errs, fmt.Errorf("%s.addr: %w", p, err))
			}
		}
		if s.TLS.Addr != "" {
			if err := checkAddr(s.TLS.Addr); err != nil {
				errs = append(errs, fmt.Errorf("%s.tls.addr: %w", p, err))
			}
			if s.TLS.CertFile == "" || s.TLS.KeyFile == "" {
				errs = append(errs, fmt.Errorf("%s.tls: cert_file and key_file are required with tls.addr", p))
			}
		}
		if s.MaxMessageSize < 512 || s.MaxMessageSize > 16<<20 {
			errs = append(errs, fmt.Errorf("%s.max_message_size: %d is outside 512B..16MiB", p, s.MaxMessageSize))
		}
		if s.MaxConnections < 1 || s.TLS.MaxConnections < 1 || s.MaxConnectionsPerAddress < 1 {
			errs = append(errs, fmt.Errorf("%s: max_connections, tls.max_connections and max_connections_per_address must be at least 1", p))
		}
		if s.MaxBufferMemory < 2*s.MaxMessageSize {
			errs = append(errs, fmt.Errorf("%s.max_buffer_memory: %s is less than twice max_message_size (%s)", p, s.MaxBufferMemory, s.MaxMessageSize))
		}
		if _, err := s.Location(); err != nil {
			errs = append(errs, fmt.Errorf("%s.timezone: %w", p, err))
		}
	}
	for i, k := range c.Inputs.Kafka {
		errs = append(errs, checkNamed(fmt.Sprintf("inputs.kafka[%d]", i), k.Name, names, k.Validate)...)
	}
	outNames := map[string]bool{}
	for i, o := range c.Outputs.Syslog {
		errs = append(errs, checkNamed(fmt.Sprintf("outputs.syslog[%d]", i), o.Name, outNames, o.Validate)...)
	}
	for i, o := range c.Outputs.ClickHouse {
		errs = append(errs, checkNamed(fmt.Sprintf("outputs.clickhouse[%d]", i), o.Name, outNames, o.Validate)...)
	}
	for i, o := range c.Outputs.Kafka {
		errs = append(errs, checkNamed(fmt.Sprintf("outputs.kafka[%d]", i), o.Name, outNames, o.Validate)...)
	}
	switch c.Journal.Fsync {
	case "interval", "always", "never":
	default:
		errs = append(errs, fmt.Errorf("journal.fsync: %q is not one of interval, always, never", c.Journal.Fsync))
	}
	if c.Journal.SegmentSize < 1<<20 {
		errs = append(errs, fmt.Errorf("journal.segment_size: %d is below 1MiB", c.Journal.SegmentSize))
	}
	if c.Journal.Fsync == "interval" && c.Journal.FsyncInterval <= 0 {
		errs = append(errs, errors.New("journal.fsync_interval: must be positive with fsync: interval"))
	}
	if c.Store.Retention < Duration(24*time.Hour) {
		errs = append(errs, fmt.Errorf("store.retention: %s is below the store's minimum of 1d", c.Store.Retention))
	}
	if c.Store.FutureLimit < Duration(time.Hour) {
		errs = append(errs, fmt.Errorf("store.future_limit: %s is below 1h", c.Store.FutureLimit))
	}
	if c.Detect.Lateness < 0 || c.Detect.Lateness > Duration(24*time.Hour) {
		errs = append(errs, fmt.Errorf("detect.lateness: %s is outside 0..1d", c.Detect.Lateness))
	}
	if c.Detect.CheckpointInterval < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("detect.checkpoint_interval: %s is below 1s", c.Detect.CheckpointInterval))
	}
	if err := c.Alerts.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("alerts: %w", err))
	}
	return errors.Join(errs...)
}

// checkNamed checks a named input or output at path p: its name is unique
// in names (which it records) and valid, and validate passes. An empty name
// is left to validate.
func checkNamed(p, name string, names map[string]bool, validate func() error) []error {
	var errs []error
	if names[name] {
		errs = append(errs, fmt.Errorf("%s.name: %q is used twice", p, name))
	}
	names[name] = true
	if name != "" && !validName(name) {
		errs = append(errs, fmt.Errorf("%s.name: %q must be letters, digits, '-' or '_'", p, name))
	}
	if err := validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	return errs
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
