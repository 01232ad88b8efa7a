package kafka

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Defaults for Config fields left zero.
const (
	DefaultName           = "kafka"
	DefaultGroup          = "vigil"
	DefaultStartOffset    = "earliest"
	DefaultMaxPollRecords = 10000
)

// Start offsets: where a group with no committed offset for a partition
// starts reading it.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// SASL mechanisms.
const (
	MechanismPlain       = "plain"
	MechanismScramSHA256 = "scram-sha-256"
	MechanismScramSHA512 = "scram-sha-512"
)

const (
	maxNameLen        = 256
	maxTopicLen       = 249 // Kafka's own limit
	maxMaxPollRecords = 1_000_000
)

// Config configures a Kafka input.
type Config struct {
	// Name is the input name recorded in each record; default "kafka".
	Name string `yaml:"name"`
	// Format fixes the payload format of every record (see `vigil parse
	// --format`); "" or "auto" detects it per record. Read by the parser,
	// not by the input.
	Format string `yaml:"format"`
	// Charset is the character set of the records (see
	// inputs.syslog[].charset); "" is UTF-8. Read by the parser, not by
	// the input: the journal keeps the bytes as received.
	Charset string `yaml:"charset"`
	// Brokers are the seed brokers, host:port each.
	Brokers []string `yaml:"brokers"`
	// Topics are the topics to consume.
	Topics []string `yaml:"topics"`
	// Group is the consumer group; default "vigil".
	Group string `yaml:"group"`
	// StartOffset is where the group starts on partitions it has no
	// committed offset for: "earliest" (default) or "latest".
	StartOffset string `yaml:"start_offset"`
	// ClientID is sent to the brokers; default "vigil".
	ClientID string `yaml:"client_id"`
	// TLS configures TLS to the brokers.
	TLS TLSConfig `yaml:"tls"`
	// SASL configures SASL authentication.
	SASL SASLConfig `yaml:"sasl"`
	// MaxPollRecords bounds the records taken per poll, that is per
	// journal append and offset commit; default 10000.
	MaxPollRecords int `yaml:"max_poll_records"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on; the other fields need it.
	Enabled bool `yaml:"enabled"`
	// CAFile holds PEM CA certificates to verify brokers with instead of
	// the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile hold a PEM client certificate and key, both or
	// neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables broker certificate verification.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name verified in broker certificates.
	ServerName string `yaml:"server_name"`
}

// SASLConfig configures SASL authentication. An empty Mechanism means no
// SASL.
type SASLConfig struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	// Username is required with a mechanism.
	Username string `yaml:"username"`
	// Password, or PasswordFile (a file whose content, without a trailing
	// newline, is the password): exactly one with a mechanism.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.StartOffset == "" {
		c.StartOffset = DefaultStartOffset
	}
	if c.ClientID == "" {
		c.ClientID = "vigil"
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	c.SASL.Mechanism = strings.ToLower(c.SASL.Mechanism)
	c.StartOffset = strings.ToLower(c.StartOffset)
	return c
}

// Validate reports the first problem in c, with zero fields taken as their
// defaults. It does not read the files named in c.
func (c Config) Validate() error {
	c = c.withDefaults()
	p := "kafka input " + strconv.Quote(c.Name)
	if len(c.Name) > maxNameLen {
		return fmt.Errorf("kafka input: name is %d bytes long, at most %d", len(c.Name), maxNameLen)
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%s: brokers: at least one host:port is required", p)
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("%s: brokers: %q is not host:port: %w", p, b, err)
		}
		if host == "" {
			return fmt.Errorf("%s: brokers: %q has no host", p, b)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%s: brokers: %q: port must be 1 to 65535", p, b)
		}
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("%s: topics: at least one topic is required", p)
	}
	seen := make(map[string]bool, len(c.Topics))
	for _, t := range c.Topics {
		if err := checkTopic(t); err != nil {
			return fmt.Errorf("%s: topics: %w", p, err)
		}
		if seen[t] {
			return fmt.Errorf("%s: topics: %q listed twice", p, t)
		}
		seen[t] = true
	}
	if strings.TrimSpace(c.Group) != c.Group {
		return fmt.Errorf("%s: group %q has leading or trailing spaces", p, c.Group)
	}
	switch c.StartOffset {
	case StartEarliest, StartLatest:
	default:
		return fmt.Errorf("%s: start_offset %q: want %q or %q", p, c.StartOffset, StartEarliest, StartLatest)
	}
	if c.MaxPollRecords < 0 || c.MaxPollRecords > maxMaxPollRecords {
		return fmt.Errorf("%s: max_poll_records %d: want 1 to %d (0: default %d)",
			p, c.MaxPollRecords, maxMaxPollRecords, DefaultMaxPollRecords)
	}
	if err := c.TLS.validate(); err != nil {
		return fmt.Errorf("%s: tls: %w", p, err)
	}
	if err := c.SASL.validate(); err != nil {
		return fmt.Errorf("%s: sasl: %w", p, err)
	}
	return nil
}

// Validate checks the TLS options (exported for the Kafka output).
func (t TLSConfig) Validate() error { return t.validate() }

// Validate checks the SASL options (exported for the Kafka output).
func (s SASLConfig) Validate() error { return s.validate() }

// CheckTopic reports whether t is a legal Kafka topic name.
func CheckTopic(t string) error { return checkTopic(t) }

func (t TLSConfig) validate() error {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify || t.ServerName != "" {
			return errors.New("options set but enabled is false")
		}
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("cert_file and key_file must be set together")
	}
	return nil
}

func (s SASLConfig) validate() error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return errors.New("username or password set but no mechanism")
		}
		return nil
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
	default:
		return fmt.Errorf("mechanism %q: want %q, %q or %q", s.Mechanism,
			MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
	}
	if s.Username == "" {
		return fmt.Errorf("mechanism %s needs a username", s.Mechanism)
	}
	if (s.Password == "") == (s.PasswordFile == "") {
		return errors.New("set exactly one of password and password_file")
	}
	return nil
}

// checkTopic reports whether t is a legal Kafka topic name.
func checkTopic(t string) error {
	if t == "" {
		return errors.New("empty topic name")
	}
	if t == "." || t == ".." {
		return fmt.Errorf("topic %q is not allowed", t)
	}
	if len(t) > maxTopicLen {
		return fmt.Errorf("topic %q is %d bytes long, at most %d", t, len(t), maxTopicLen)
	}
	for i := 0; i < len(t); i++ {
		b := t[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("topic %q: character %q not allowed (letters, digits, '.', '_', '-')", t, b)
		}
	}
	return nil
}
