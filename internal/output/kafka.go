package output

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// KafkaConfig configures a Kafka output (docs/outputs.md).
type KafkaConfig struct {
	// Name identifies the output (its journal cursor is "output-NAME").
	Name    string   `yaml:"name"`
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	// Key names the event field whose value keys each record (default
	// source.ip), so one source's events stay in one partition; "" in the
	// event leaves the record unkeyed.
	Key string `yaml:"key"`
	// Payload is "json" (default: the normalized event) or "original".
	Payload string `yaml:"payload"`
	// Compression: none, gzip, snappy, lz4 or zstd (default).
	Compression string           `yaml:"compression"`
	ClientID    string           `yaml:"client_id"`
	TLS         kafka.TLSConfig  `yaml:"tls"`
	SASL        kafka.SASLConfig `yaml:"sasl"`
}

// Validate checks the configuration.
func (c KafkaConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one host:port is required"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("brokers: %q: %v", b, err))
		}
	}
	if err := kafka.CheckTopic(c.Topic); err != nil {
		errs = append(errs, fmt.Errorf("topic: %w", err))
	}
	switch c.Payload {
	case "", "json", "original":
	default:
		errs = append(errs, fmt.Errorf("payload %q: want json or original", c.Payload))
	}
	if _, err := codec(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tls: %w", err))
	}
	if err := c.SASL.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sasl: %w", err))
	}
	return errors.Join(errs...)
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return kgo.ZstdCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// Kafka produces journal records to a topic.
type Kafka struct {
	cfg    KafkaConfig
	client *kgo.Client
	parser *parse.Parser
	row    store.Row
}

// NewKafka returns a Kafka sender. popts configure the parser (payload
// json, and the key field).
func NewKafka(c KafkaConfig, popts parse.Options) (*Kafka, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka output %s: %w", c.Name, err)
	}
	if c.Key == "" {
		c.Key = "source.ip"
	}
	if c.Payload == "" {
		c.Payload = "json"
	}
	if c.ClientID == "" {
		c.ClientID = "vigil"
	}
	cc, _ := codec(c.Compression)
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.ProducerBatchCompression(cc),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// A broker outage surfaces as an error (status, metrics) every
		// 30 s while the runner retries the batch.
		kgo.RecordDeliveryTimeout(30 * time.Second),
	}
	sec, err := kafka.SecurityOpts(c.TLS, c.SASL)
	if err != nil {
		return nil, fmt.Errorf("kafka output %s: %w", c.Name, err)
	}
	client, err := kgo.NewClient(append(opts, sec...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka output %s: %w", c.Name, err)
	}
	return &Kafka{cfg: c, client: client, parser: parse.New(popts)}, nil
}

// Target is where the output sends, for the status.
func (k *Kafka) Target() string {
	return "kafka://" + strings.Join(k.cfg.Brokers, ",") + "/" + k.cfg.Topic
}

// Send produces every record and waits for the brokers to acknowledge
// all of them; any failure fails the whole batch (it is sent again: at
// least once).
func (k *Kafka) Send(ctx context.Context, recs []journal.Record) error {
	out := make([]*kgo.Record, 0, len(recs))
	size := 0
	for i := range recs {
		size += len(recs[i].Data)
	}
	k.parser.Reset(2*size + 64)
	for i := range recs {
		rec := &recs[i]
		k.parser.Parse(rec, &k.row)
		r := &kgo.Record{}
		if key := k.row.Get(k.cfg.Key); key != "" {
			r.Key = []byte(key)
		}
		if k.cfg.Payload == "json" {
			r.Value = api.AppendRowJSON(nil, &k.row)
		} else {
			r.Value = append([]byte(nil), rec.Data...)
		}
		out = append(out, r)
	}
	if err := k.client.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("kafka output %s: %w", k.cfg.Name, err)
	}
	return nil
}

// Close flushes and closes the client.
func (k *Kafka) Close() error {
	k.client.Close()
	return nil
}
