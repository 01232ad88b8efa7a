// Package config loads and validates Vigil's YAML configuration.
//
// Every key has a default, so Vigil runs with no file at all; docs/configuration.md
// documents each key. A file only names what it changes.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/input"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/notify"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/charset"
)

// Config is Vigil's whole configuration.
type Config struct {
	// DataDir holds the journal, the store and cursors.
	DataDir string `yaml:"data_dir"`
	// MemoryTarget is the Go runtime's soft memory limit while the live
	// heap fits in it (internal/memlimit); 0 leaves the runtime's defaults.
	MemoryTarget ByteSize `yaml:"memory_target"`

	Log     Log     `yaml:"log"`
	HTTP    HTTP    `yaml:"http"`
	Inputs  Inputs  `yaml:"inputs"`
	Journal Journal `yaml:"journal"`
	Store   Store   `yaml:"store"`
	Parse   Parse   `yaml:"parse"`
	// GeoIP places addresses: events get source.geo.* fields, rules
	// country(), region(), ...
	GeoIP  GeoIP  `yaml:"geoip"`
	Detect Detect `yaml:"detect"`
	// Enforce configures enforcement decisions (bans served to bouncers
	// and nginx).
	Enforce Enforce `yaml:"enforce"`
	// Alerts are the channels every alert is sent to besides the store.
	Alerts notify.Config `yaml:"alerts"`
	// Outputs forward journaled messages (docs/outputs.md).
	Outputs Outputs `yaml:"outputs"`
	// Console configures the web console's sessions and defaults.
	Console Console `yaml:"console"`
	// Display sets the zone and language times and texts are shown in.
	Display Display `yaml:"display"`
	// Cluster names this node and the peers searches read (cluster.go).
	Cluster Cluster `yaml:"cluster"`

	// src is where the configuration was read from (nil: the defaults).
	src *source
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
	// GeoIP is the older name of geoip.databases: one database.
	GeoIP string `yaml:"geoip"`
	// Lateness is how late (in event time, behind its sender's newest
	// event) an event may arrive and count.
	Lateness Duration `yaml:"lateness"`
	// MaxClockSkew is how far ahead of its receive time an event's time may
	// be before its sender's clock counts as running ahead: such events
	// are labelled vigil.clock_skew and evaluated near their receive time.
	MaxClockSkew Duration `yaml:"max_clock_skew"`
	// CheckpointInterval is how often the engine's state is saved.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// Mode is "local" (default: every node detects on what it ingests)
	// or "kafka": one node elected through Kafka detects on every node's
	// events (Kafka configures it; docs/architecture.md).
	Mode  string      `yaml:"mode"`
	Kafka DetectKafka `yaml:"kafka"`
}

// minMemoryTarget is the least memory_target other than 0: less is a
// forgotten unit, and would keep the garbage collector busy.
const minMemoryTarget = 64 << 20

// Detection modes (detect.mode).
const (
	DetectModeLocal = "local"
	DetectModeKafka = "kafka"
)

// KafkaMode reports whether one detector elected through Kafka detects
// for every node.
func (d Detect) KafkaMode() bool { return d.On() && d.Mode == DetectModeKafka }

// On reports whether detection runs.
func (d Detect) On() bool { return d.Enabled == nil || *d.Enabled }

// BuiltinOn reports whether the built-in rule pack is loaded.
func (d Detect) BuiltinOn() bool { return d.Builtin == nil || *d.Builtin }

// Enforce configures enforcement decisions (docs/configuration.md#enforce).
type Enforce struct {
	// Enabled turns on the rules' actions: off, they are recorded as dry
	// run. Operators' decisions are enforced either way.
	Enabled bool `yaml:"enabled"`
	// DryRun records every decision, operators' included, without
	// enforcing any.
	DryRun bool `yaml:"dry_run"`
	// MaxActiveBans caps the decisions enforced at once (0: no cap).
	MaxActiveBans int `yaml:"max_active_bans"`
	// OwnNetworks are addresses and CIDR ranges never banned.
	OwnNetworks []string `yaml:"own_networks"`
	// AllowPrivate lets decisions hit private and loopback ranges.
	AllowPrivate bool `yaml:"allow_private"`
	// Devices is the device registry's mode at the proxy: off, learn or
	// registered-only.
	Devices string `yaml:"devices"`
	// HistoryRetention is how long expired and deleted decisions stay in
	// the history.
	HistoryRetention Duration `yaml:"history_retention"`
}

// Networks returns OwnNetworks as prefixes (an address is a /32 or /128).
func (e Enforce) Networks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range e.OwnNetworks {
		p, err := parsePrefixOrAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR range", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR range", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// GeoIP configures the address databases (docs/configuration.md).
type GeoIP struct {
	// Databases are consulted in order: the first answer wins per field.
	Databases []GeoIPDatabase `yaml:"databases"`
}

// GeoIPDatabase is one database file.
type GeoIPDatabase struct {
	Path string `yaml:"path"`
	// Type is auto (recognised from the content), mmdb or ip2region.
	Type string `yaml:"type"`
	// Language picks the names of an MMDB city database (zh-CN, en, ...;
	// default en).
	Language string `yaml:"language"`
}

// GeoIPSources returns the databases to open, in lookup order:
// geoip.databases, or detect.geoip (its older name) when that is all
// there is. Validate rejects a detect.geoip that geoip.databases does not
// list.
func (c Config) GeoIPSources() []geoip.Source {
	var out []geoip.Source
	for _, d := range c.GeoIP.Databases {
		out = append(out, geoip.Source{Path: d.Path, Type: d.Type, Language: d.Language})
	}
	if len(out) == 0 && c.Detect.GeoIP != "" {
		out = append(out, geoip.Source{Path: c.Detect.GeoIP})
	}
	return out
}

// GeoIPKey returns the configuration key of the i-th of GeoIPSources.
func (c Config) GeoIPKey(i int) string {
	if len(c.GeoIP.Databases) == 0 {
		return "detect.geoip"
	}
	return fmt.Sprintf("geoip.databases[%d].path", i)
}

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
	// SearchTimeout cancels a search that runs longer; 0: no limit.
	SearchTimeout Duration `yaml:"search_timeout"`
	// MaxConcurrentSearches caps the searches that run at once; 0 picks
	// one from the CPUs (search.DefaultMaxConcurrent).
	MaxConcurrentSearches int `yaml:"max_concurrent_searches"`
	// SearchQueueWait is how long a search waits for a free slot; 0:
	// refused at once.
	SearchQueueWait Duration `yaml:"search_queue_wait"`
	// SearchMaxBytes stops a search whose results pass this size; 0: no bound.
	SearchMaxBytes ByteSize `yaml:"search_max_bytes"`
	// AllowedHosts are the Host names requests may carry besides
	// localhost, the machine's addresses and the listen address's host.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Debug serves Go's profiler under /debug/pprof/ (token required).
	Debug bool `yaml:"debug"`
	// ExternalURL is the address people reach the console at (through a
	// proxy, say): chat alerts link to the alert's page under it. Empty:
	// no link.
	ExternalURL string `yaml:"external_url"`
}

// Console configures the web console (docs/console.md).
type Console struct {
	// SessionIdle ends a session unused this long; SessionMax any
	// session this long after its login.
	SessionIdle Duration `yaml:"session_idle"`
	SessionMax  Duration `yaml:"session_max"`
	// Timezone is the older name of Display.Timezone, still accepted.
	Timezone string `yaml:"timezone"`
	// IncidentWindow: alerts about the same user, address or device at
	// most this far apart are one incident (docs/api.md).
	IncidentWindow Duration `yaml:"incident_window"`
	// OverviewBlockMemory bounds the overview's cached blocks
	// (docs/console.md); 0 keeps none.
	OverviewBlockMemory ByteSize `yaml:"overview_block_memory"`
}

// Display sets how times and texts are shown to people (docs/configuration.md).
type Display struct {
	// Timezone is the zone (an IANA name) of the times in alert texts,
	// in the CLI's output and in the console for users who chose none;
	// empty: the machine's.
	Timezone string `yaml:"timezone"`
	// Language is the language of alert texts (messages, mails, chat
	// robots) and of the console for users whose browser asks for none
	// it has: one of locale.Languages.
	Language string `yaml:"language"`
}

// Location returns the display zone.
func (d Display) Location() (*time.Location, error) {
	if d.Timezone == "" {
		return time.Local, nil
	}
	return time.LoadLocation(d.Timezone)
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
	// Charset is the character set the senders write in (charset.Names);
	// "" is UTF-8. Records are decoded where they are parsed: the journal
	// keeps the bytes as received.
	Charset string `yaml:"charset"`
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

// Charsets returns the character set of each input that does not take
// UTF-8 (inputs.syslog[].charset, inputs.kafka[].charset).
func (c Config) Charsets() charset.Inputs {
	m := charset.Inputs{}
	add := func(input, name string) {
		if cs, err := charset.Lookup(name); err == nil && cs != charset.UTF8 { // validated by Load
			m[input] = cs
		}
	}
	for _, s := range c.Inputs.Syslog {
		add(s.Name, s.Charset)
	}
	for _, k := range c.Inputs.Kafka {
		add(k.Name, k.Charset)
	}
	return m
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
	// CompressLevel is the zstd level of sealed segments: fastest,
	// default, better or best.
	CompressLevel string `yaml:"compress_level"`
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
		DataDir:      "vigil-data",
		MemoryTarget: 384 << 20,
		Log:          Log{Level: "info", Format: "text"},
		HTTP: HTTP{Addr: "127.0.0.1:8514", MaxSearchLimit: 100000,
			SearchTimeout: Duration(30 * time.Second), SearchQueueWait: Duration(10 * time.Second), SearchMaxBytes: 256 << 20},
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
			CompressLevel: "fastest",
		},
		Store: Store{
			Retention:      Duration(30 * 24 * time.Hour),
			MinFreeDisk:    1 << 30,
			FutureLimit:    Duration(24 * time.Hour),
			FlushBatch:     4096,
			CommitInterval: Duration(time.Second),
		},
		Parse:   Parse{MaxFields: 500},
		Display: Display{Language: "en"},
		Console: Console{SessionIdle: Duration(12 * time.Hour), SessionMax: Duration(7 * 24 * time.Hour), IncidentWindow: Duration(time.Hour),
			OverviewBlockMemory: 64 << 20},
		Detect:  Detect{Lateness: Duration(time.Minute), MaxClockSkew: Duration(5 * time.Minute), CheckpointInterval: Duration(10 * time.Second), Mode: DetectModeLocal},
		Enforce: Enforce{MaxActiveBans: 10000, Devices: "off", HistoryRetention: Duration(30 * 24 * time.Hour)},
		Cluster: Cluster{PeerTimeout: Duration(defaultPeerTimeout)},
	}
}

// Load reads a YAML file over the defaults and validates the result. An
// empty path returns the defaults. When the file is readable YAML, the
// error is a Problems listing everything wrong with it (unknown keys,
// values of the wrong kind, invalid values), and the returned Config holds
// the rest of the file.
func Load(path string) (Config, error) {
	cfg, err := Read(path)
	if _, ok := asProblems(err); err != nil && !ok {
		return cfg, err
	}
	return cfg, joinProblems(err, cfg.Validate())
}

// Read is Load without the validation: it reports what is wrong with the
// file's keys and the kinds of their values (as a Problems) and fills in
// the defaults, so that a caller can change the result before validating
// it.
func Read(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		cfg.fill()
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.decode(path, b)
}

// ParseYAML reads YAML text over the defaults and validates the result,
// like Load.
func ParseYAML(b []byte) (Config, error) {
	cfg := Default()
	err := cfg.decode("", b)
	return cfg, joinProblems(err, cfg.Validate())
}

// decode reads YAML text over c. It checks the text against the
// configuration's keys and value types first, so that every unknown key and
// badly typed value is reported (and left out) before the rest is decoded.
func (c *Config) decode(file string, b []byte) error {
	c.src = &source{file: file, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		c.fill()
		return Problems{syntaxProblem(file, err)}
	}
	ch := checker{file: file, lines: c.src.lines}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		if root := doc.Content[0]; ch.walk(root, reflect.TypeFor[Config](), "") {
			if err := root.Decode(c); err != nil {
				// The check above should have caught it.
				ch.add(root.Line, "", "%v", err)
			}
		}
	}
	c.fill()
	ch.probs.Sort()
	return ch.probs.Err()
}

// joinProblems returns the problems of a and b (each nil or a Problems)
// together, in line order.
func joinProblems(a, b error) error {
	pa, _ := asProblems(a)
	pb, _ := asProblems(b)
	ps := append(pa, pb...)
	ps.Sort()
	return ps.Err()
}

// fill completes per-input defaults.
func (c *Config) fill() {
	def := Default()
	for i := range c.Inputs.Syslog {
		s := &c.Inputs.Syslog[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("syslog%d", i)
			if i == 0 {
				s.Name = "syslog"
			}
		}
		if i == 0 && s.Addr == "" && s.TLS.Addr == "" {
			// The first input listens where the default one does unless
			// it says otherwise (an input with only tls.addr is TLS only).
			s.Addr = def.Inputs.Syslog[0].Addr
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
		if s.IdleTimeout == nil {
			d := Duration(input.DefaultIdleTimeout)
			s.IdleTimeout = &d
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
	if c.Display.Timezone == "" {
		c.Display.Timezone = c.Console.Timezone
	}
	if c.Display.Language == "" {
		c.Display.Language = def.Display.Language
	} else if l := locale.Supported(c.Display.Language); l != "" {
		c.Display.Language = l // "zh", "zh-Hans", ... name zh-CN
	}
}

// Validate checks values that would otherwise fail late or silently. The
// error is a Problems naming the key of each problem.
func (c *Config) Validate() error {
	var ps Problems
	bad := func(path, format string, args ...any) { ps = append(ps, c.Problem(path, format, args...)) }
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.MemoryTarget != 0 && c.MemoryTarget < minMemoryTarget {
		bad("memory_target", "%s is too little: 0 (the Go runtime's defaults) or at least 64MiB (sizes take a unit: 384MiB)", c.MemoryTarget)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if err := checkAddr(c.HTTP.Addr); err != nil {
		bad("http.addr", "%v", err)
	}
	if c.Console.SessionIdle <= 0 {
		bad("console.session_idle", "must be more than 0")
	}
	if c.Console.SessionMax < c.Console.SessionIdle {
		bad("console.session_max", "must be at least console.session_idle (%s)", c.Console.SessionIdle.D())
	}
	if c.Console.IncidentWindow <= 0 || c.Console.IncidentWindow > Duration(24*time.Hour) {
		bad("console.incident_window", "must be more than 0 and at most 24h (the longest an incident lasts)")
	}
	if c.Console.Timezone != "" && c.Console.Timezone != c.Display.Timezone {
		bad("console.timezone", "%q differs from display.timezone %q: console.timezone is the older name of display.timezone; keep one", c.Console.Timezone, c.Display.Timezone)
	}
	if _, err := c.Display.Location(); err != nil {
		bad("display.timezone", "%q is not a time zone name (like Asia/Shanghai or UTC): %v", c.Display.Timezone, err)
	}
	if locale.Supported(c.Display.Language) != c.Display.Language {
		bad("display.language", "%q is not one of %s", c.Display.Language, strings.Join(locale.Languages, ", "))
	}
	for i, tok := range c.HTTP.Tokens {
		if len(tok) < 16 {
			bad(fmt.Sprintf("http.tokens[%d]", i), "a token of %d characters; at least 16 are needed", len(tok))
		}
	}
	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		bad("http", "cert_file and key_file go together")
	}
	if err := checkExternalURL(c.HTTP.ExternalURL); err != nil {
		bad("http.external_url", "%v", err)
	}
	if c.HTTP.MaxConcurrentSearches < 0 {
		bad("http.max_concurrent_searches", "%d is negative (0 picks a number from the CPUs)", c.HTTP.MaxConcurrentSearches)
	}
	names := map[string]bool{}
	for i, s := range c.Inputs.Syslog {
		p := fmt.Sprintf("inputs.syslog[%d]", i)
		if names[s.Name] {
			bad(p+".name", "%q is used twice", s.Name)
		}
		names[s.Name] = true
		if !validName(s.Name) {
			bad(p+".name", "%q must be letters, digits, '-' or '_'", s.Name)
		}
		if s.Addr == "" && s.TLS.Addr == "" {
			bad(p, "needs addr or tls.addr")
		}
		if s.Addr != "" {
			if err := checkAddr(s.Addr); err != nil {
				bad(p+".addr", "%v", err)
			}
		}
		if s.TLS.Addr != "" {
			if err := checkAddr(s.TLS.Addr); err != nil {
				bad(p+".tls.addr", "%v", err)
			}
			if s.TLS.CertFile == "" || s.TLS.KeyFile == "" {
				bad(p+".tls", "cert_file and key_file are required with tls.addr")
			}
		}
		if s.MaxMessageSize < 512 || s.MaxMessageSize > 16<<20 {
			bad(p+".max_message_size", "%s is outside 512B..16MiB", s.MaxMessageSize)
		}
		if s.MaxConnections < 1 || s.TLS.MaxConnections < 1 || s.MaxConnectionsPerAddress < 1 {
			bad(p, "max_connections, tls.max_connections and max_connections_per_address must be at least 1")
		}
		if s.MaxBufferMemory < 2*s.MaxMessageSize {
			bad(p+".max_buffer_memory", "%s is less than twice max_message_size (%s)", s.MaxBufferMemory, s.MaxMessageSize)
		}
		if _, err := s.Location(); err != nil {
			bad(p+".timezone", "%v", err)
		}
		if err := parse.CheckFormat(s.Format); err != nil {
			bad(p+".format", "%v", err)
		}
		if _, err := charset.Lookup(s.Charset); err != nil {
			bad(p+".charset", "%v", err)
		}
	}
	for i, k := range c.Inputs.Kafka {
		p := fmt.Sprintf("inputs.kafka[%d]", i)
		ps = append(ps, c.checkNamed(p, k.Name, names, k.Validate)...)
		if err := parse.CheckFormat(k.Format); err != nil {
			bad(p+".format", "%v", err)
		}
		if _, err := charset.Lookup(k.Charset); err != nil {
			bad(p+".charset", "%v", err)
		}
	}
	outNames := map[string]bool{}
	for i, o := range c.Outputs.Syslog {
		ps = append(ps, c.checkNamed(fmt.Sprintf("outputs.syslog[%d]", i), o.Name, outNames, o.Validate)...)
	}
	for i, o := range c.Outputs.ClickHouse {
		ps = append(ps, c.checkNamed(fmt.Sprintf("outputs.clickhouse[%d]", i), o.Name, outNames, o.Validate)...)
	}
	for i, o := range c.Outputs.Kafka {
		ps = append(ps, c.checkNamed(fmt.Sprintf("outputs.kafka[%d]", i), o.Name, outNames, o.Validate)...)
	}
	switch c.Journal.Fsync {
	case "interval", "always", "never":
	default:
		bad("journal.fsync", "%q is not one of interval, always, never", c.Journal.Fsync)
	}
	switch c.Journal.CompressLevel {
	case "fastest", "default", "better", "best":
	default:
		bad("journal.compress_level", "%q is not one of fastest, default, better, best", c.Journal.CompressLevel)
	}
	if c.Journal.SegmentSize < 1<<20 {
		bad("journal.segment_size", "%s is below 1MiB", c.Journal.SegmentSize)
	}
	if c.Journal.Fsync == "interval" && c.Journal.FsyncInterval <= 0 {
		bad("journal.fsync_interval", "must be positive with fsync: interval")
	}
	if c.Store.Retention < Duration(24*time.Hour) {
		bad("store.retention", "%s is below the store's minimum of 1d", c.Store.Retention)
	}
	if c.Store.FutureLimit < Duration(time.Hour) {
		bad("store.future_limit", "%s is below 1h", c.Store.FutureLimit)
	}
	if c.Detect.Lateness < 0 || c.Detect.Lateness > Duration(24*time.Hour) {
		bad("detect.lateness", "%s is outside 0..1d", c.Detect.Lateness)
	}
	if c.Detect.MaxClockSkew < Duration(time.Second) || c.Detect.MaxClockSkew >= c.Store.FutureLimit {
		bad("detect.max_clock_skew", "%s is outside 1s..store.future_limit (%s)", c.Detect.MaxClockSkew, c.Store.FutureLimit)
	}
	ps = append(ps, c.geoIPProblems()...)
	if c.Detect.CheckpointInterval < Duration(time.Second) {
		bad("detect.checkpoint_interval", "%s is below 1s", c.Detect.CheckpointInterval)
	}
	switch c.Detect.Mode {
	case DetectModeLocal:
	case DetectModeKafka:
		if err := c.Detect.Kafka.Validate(); err != nil {
			bad("detect.kafka", "%v", err)
		}
	default:
		bad("detect.mode", "%q is not local or kafka", c.Detect.Mode)
	}
	if c.Enforce.MaxActiveBans < 0 {
		bad("enforce.max_active_bans", "%d is negative (0: no cap)", c.Enforce.MaxActiveBans)
	}
	for i, n := range c.Enforce.OwnNetworks {
		if _, err := parsePrefixOrAddr(n); err != nil {
			bad(fmt.Sprintf("enforce.own_networks[%d]", i), "%v", err)
		}
	}
	switch c.Enforce.Devices {
	case "off", "learn", "registered-only":
	default:
		bad("enforce.devices", "%q is not one of off, learn, registered-only", c.Enforce.Devices)
	}
	if c.Enforce.HistoryRetention < Duration(time.Hour) {
		bad("enforce.history_retention", "%s is below 1h", c.Enforce.HistoryRetention)
	}
	ps = append(ps, c.alertProblems(c.Alerts.Validate())...)
	ps = append(ps, c.clusterProblems()...)
	ps.Sort()
	return ps.Err()
}

// geoIPProblems checks geoip.databases and its older name detect.geoip.
func (c *Config) geoIPProblems() Problems {
	var ps Problems
	paths := map[string]bool{}
	for i, d := range c.GeoIP.Databases {
		p := fmt.Sprintf("geoip.databases[%d]", i)
		switch {
		case d.Path == "":
			ps = append(ps, c.Problem(p+".path", "is required"))
		case paths[d.Path]:
			ps = append(ps, c.Problem(p+".path", "%s is listed twice", d.Path))
		}
		paths[d.Path] = true
		if err := geoip.CheckType(d.Type); err != nil {
			ps = append(ps, c.Problem(p+".type", "%q is not one of auto, mmdb, ip2region", d.Type))
		}
	}
	if g := c.Detect.GeoIP; g != "" && len(c.GeoIP.Databases) > 0 && !paths[g] {
		ps = append(ps, c.Problem("detect.geoip", "%s is not in geoip.databases: detect.geoip is the older name of geoip.databases; list the file there and drop detect.geoip", g))
	}
	return ps
}

// alertProblems places the alert channels' errors ("notify: syslog[0]:
// ...") under their keys (alerts.syslog[0]).
func (c *Config) alertProblems(err error) Problems {
	ps := c.problemsOf("alerts", err)
	for i, p := range ps {
		msg := strings.TrimPrefix(p.Msg, "notify: ")
		if key, rest, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(key, " .") {
			ps[i] = c.Problem("alerts."+key, "%s", rest)
		} else {
			ps[i].Msg = msg
		}
	}
	return ps
}

// checkNamed checks a named input or output at path p: its name is unique
// in names (which it records) and valid, and validate passes. An empty name
// is left to validate.
func (c *Config) checkNamed(p, name string, names map[string]bool, validate func() error) Problems {
	var ps Problems
	if names[name] {
		ps = append(ps, c.Problem(p+".name", "%q is used twice", name))
	}
	names[name] = true
	if name != "" && !validName(name) {
		ps = append(ps, c.Problem(p+".name", "%q must be letters, digits, '-' or '_'", name))
	}
	return append(ps, c.problemsOf(p, validate())...)
}

// checkExternalURL checks http.external_url: empty, or an absolute http
// or https URL without credentials, query or fragment.
func checkExternalURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an absolute http or https URL, like https://vigil.corp.example", s)
	case u.Host == "":
		return fmt.Errorf("%q: the host is missing", s)
	case u.User != nil:
		return fmt.Errorf("%q: must not hold a user name or password", s)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return fmt.Errorf("%q: must not have a query or fragment", s)
	}
	return nil
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
