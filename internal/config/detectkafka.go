package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vigil-soc/vigil/internal/input/kafka"
)

// Defaults of DetectKafka's zero fields.
const (
	DefaultDetectTopic       = "vigil-detect"
	DefaultDetectAlertsTopic = "vigil-detect-alerts"
	DefaultDetectGroup       = "vigil-detect"
	detectStateSuffix        = "-state"
)

// DetectKafka configures detection through Kafka (detect.kafka; package
// kafkadetect).
type DetectKafka struct {
	// Brokers are the seed brokers, host:port each.
	Brokers []string `yaml:"brokers"`
	// Topic receives every node's parsed events; it must have one
	// partition (created so when absent). Default vigil-detect.
	Topic string `yaml:"topic"`
	// StateTopic keeps the detector's checkpoints (compacted; created so
	// when absent). Default: Topic + "-state".
	StateTopic string `yaml:"state_topic"`
	// AlertsTopic receives the alerts, keyed by alert.id; every node
	// copies them into its alert journal. One partition. Default
	// vigil-detect-alerts.
	AlertsTopic string `yaml:"alerts_topic"`
	// Group is the consumer group whose member owning the partition of
	// Topic is the detector. Default vigil-detect.
	Group string `yaml:"group"`
	// ClientID is sent to the brokers; default "vigil".
	ClientID string           `yaml:"client_id"`
	TLS      kafka.TLSConfig  `yaml:"tls"`
	SASL     kafka.SASLConfig `yaml:"sasl"`
}

// WithDefaults returns c with its zero fields set.
func (c DetectKafka) WithDefaults() DetectKafka {
	if c.Topic == "" {
		c.Topic = DefaultDetectTopic
	}
	if c.StateTopic == "" {
		c.StateTopic = c.Topic + detectStateSuffix
	}
	if c.AlertsTopic == "" {
		c.AlertsTopic = DefaultDetectAlertsTopic
	}
	if c.Group == "" {
		c.Group = DefaultDetectGroup
	}
	if c.ClientID == "" {
		c.ClientID = "vigil"
	}
	c.SASL.Mechanism = strings.ToLower(c.SASL.Mechanism)
	return c
}

// Validate reports every problem of c, its zero fields taken as their
// defaults. It does not read the files named in c.
func (c DetectKafka) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one host:port is required"))
	}
	for _, b := range c.Brokers {
		if host, _, err := net.SplitHostPort(b); err != nil || host == "" {
			errs = append(errs, fmt.Errorf("brokers: %q is not host:port", b))
		}
	}
	topics := map[string]string{}
	for _, t := range []struct{ key, name string }{{"topic", c.Topic}, {"state_topic", c.StateTopic}, {"alerts_topic", c.AlertsTopic}} {
		if err := kafka.CheckTopic(t.name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.key, err))
		}
		if other, ok := topics[t.name]; ok {
			errs = append(errs, fmt.Errorf("%s: %q is also %s", t.key, t.name, other))
		}
		topics[t.name] = t.key
	}
	if strings.TrimSpace(c.Group) != c.Group {
		errs = append(errs, fmt.Errorf("group %q has leading or trailing spaces", c.Group))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tls: %w", err))
	}
	if err := c.SASL.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sasl: %w", err))
	}
	return errors.Join(errs...)
}
