package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/eventjson"
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
	// AlertsTopic, when set, receives every alert (its JSON, keyed by
	// alert.id) from the alert journal, through a runner of its own
	// ("NAME-alerts").
	AlertsTopic string `yaml:"alerts_topic"`
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
	if c.AlertsTopic != "" {
		if err := kafka.CheckTopic(c.AlertsTopic); err != nil {
			errs = append(errs, fmt.Errorf("alerts_topic: %w", err))
		}
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

// Kafka produces journal records to a topic. It is a Pipeliner: Start
// hands a batch to a worker goroutine, which encodes it (on several CPUs)
// and produces it while the runner reads the next batch and the client
// sends the one before.
type Kafka struct {
	cfg    KafkaConfig
	topic  string // where the records go
	client *kgo.Client
	encs   []*encoder     // one per CPU, up to maxEncoders
	free   []*kafkaBuffer // buffers of acknowledged batches, for reuse
	jobs   chan kafkaJob  // batches for the worker, in order; nil until the first Start
	worker sync.WaitGroup // the worker: runs from the first Start to Close
}

// kafkaJob is a batch for the worker to encode and produce.
type kafkaJob struct {
	ctx context.Context
	b   *kafkaBuffer
	p   *produced
}

const (
	// kafkaBatch is the most records the runner hands over at once; two
	// batches are in flight at most.
	kafkaBatch = 4096
	// maxEncoders bounds the goroutines that encode one batch, and
	// minChunk is the fewest records worth a goroutine of its own.
	maxEncoders = 4
	minChunk    = 512
)

// EventIDHeader is the Kafka record header that carries an event's
// event.id, so a consumer recognises a record produced twice.
const EventIDHeader = "vigil-event-id"

// RawHeader is the Kafka record header that carries the original record
// of an event published for detection (NewKafkaDetect), for the alerts'
// payloads.
const RawHeader = "vigil-raw"

// SourceHeader is the Kafka record header that names where an event
// published for detection (NewKafkaDetect) came from, as
// "SOURCE/POSITION": for a record of a Kafka input its origin,
// "kafka:TOPIC/PARTITION/OFFSET@TIMESTAMP"; for any other its node's
// journal and sequence number, "journal:ID/SEQ" (ID in 16 hex digits).
// The position only grows within a source, so the elected detector
// recognises an event published twice (docs/architecture.md, "Scale-out
// detection").
const SourceHeader = "vigil-source"

// AppendSource appends the SourceHeader value of rec, read from the
// journal with id journalID, to b.
func AppendSource(b []byte, journalID uint64, rec *journal.Record) []byte {
	if len(rec.Origin) > 0 {
		return append(b, rec.Origin...)
	}
	b = append(b, "journal:"...)
	b = fmt.Appendf(b, "%016x/", journalID)
	return strconv.AppendUint(b, rec.Seq, 10)
}

// NewKafka returns a Kafka sender. popts configure the parser (payload
// json, and the key field).
func NewKafka(c KafkaConfig, popts parse.Options) (*Kafka, error) {
	return newKafka(c, c.Topic, false, popts)
}

// NewKafkaDetect returns the Kafka sender that publishes every event for
// the elected detector (detect.mode kafka): payload json, each record
// with the event's original record in the header RawHeader besides its
// event id.
func NewKafkaDetect(c KafkaConfig, popts parse.Options) (*Kafka, error) {
	c.Payload = "json"
	k, err := newKafka(c, c.Topic, false, popts)
	if err != nil {
		return nil, err
	}
	for _, e := range k.encs {
		e.raw, e.journal = true, popts.JournalID
	}
	return k, nil
}

// NewKafkaAlerts returns the Kafka sender of an output's alerts_topic: it
// produces the records of the alert journal (each an alert's JSON) as
// they are, keyed by alert.id.
func NewKafkaAlerts(c KafkaConfig) (*Kafka, error) {
	if c.AlertsTopic == "" {
		return nil, fmt.Errorf("kafka output %s: no alerts_topic", c.Name)
	}
	return newKafka(c, c.AlertsTopic, true, parse.Options{})
}

func newKafka(c KafkaConfig, topic string, alerts bool, popts parse.Options) (*Kafka, error) {
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
		kgo.ProducerBatchCompression(cc),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// A batch is handed over whole: send at once rather than
		// linger (10 ms by default) for records that come only with
		// the next batch. Records gather into larger requests while
		// earlier ones are in flight.
		kgo.ProducerLinger(0),
		// Room for both batches in flight, so that handing over the
		// second does not wait for the first.
		kgo.MaxBufferedRecords(3 * kafkaBatch),
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
	k := &Kafka{cfg: c, topic: topic, client: client}
	for range min(runtime.GOMAXPROCS(0), maxEncoders) {
		k.encs = append(k.encs, &encoder{parser: parse.New(popts), key: c.Key, json: c.Payload == "json", alerts: alerts, grow: 2})
	}
	return k, nil
}

// Target is where the output sends, for the status.
func (k *Kafka) Target() string {
	return "kafka://" + strings.Join(k.cfg.Brokers, ",") + "/" + k.topic
}

// BatchSize implements Batcher.
func (k *Kafka) BatchSize() int { return kafkaBatch }

// Send produces every record and waits for the brokers to acknowledge
// all of them; any failure fails the whole batch (it is sent again: at
// least once).
func (k *Kafka) Send(ctx context.Context, recs []journal.Record) error {
	wait, err := k.Start(ctx, recs)
	if err != nil {
		return err
	}
	return wait()
}

// Start implements Pipeliner: it copies recs and hands them to the
// worker, which encodes them and hands them to the client; wait reports
// whether the brokers acknowledged every one of them (acks=all). Any
// failure fails the whole batch; the runner sends it again (at least
// once). Start and the waits run on the runner's goroutine, one at a time.
func (k *Kafka) Start(ctx context.Context, recs []journal.Record) (wait func() error, err error) {
	if k.jobs == nil {
		k.jobs = make(chan kafkaJob, 2) // the runner keeps two batches in flight
		k.worker.Go(k.work)
	}
	b := k.buffer(len(recs))
	b.hold(recs)
	p := &produced{done: make(chan struct{})}
	p.left.Store(int64(len(recs)))
	if len(recs) == 0 {
		close(p.done)
	} else {
		k.jobs <- kafkaJob{ctx: ctx, b: b, p: p}
	}
	return func() error {
		<-p.done
		k.free = append(k.free, b) // the client is done with its records
		return k.failed(p.err)
	}, nil
}

// work encodes and produces the batches Start hands over, in order.
func (k *Kafka) work() {
	for j := range k.jobs {
		k.encode(j.b, j.b.in)
		for i := range j.b.recs {
			k.client.Produce(j.ctx, &j.b.recs[i], j.p.promise)
		}
	}
}

// kafkaBuffer holds one batch: a copy of its journal records, and the
// Kafka records with the bytes of their keys and values (one slab per
// encoder). It is reused once the batch is acknowledged.
type kafkaBuffer struct {
	in    []journal.Record // a copy of the batch
	data  []byte           // the data of in
	recs  []kgo.Record
	hdrs  []kgo.RecordHeader // three per record: its event id, original record and source
	slabs [][]byte
}

// hold copies recs and their data into b.
func (b *kafkaBuffer) hold(recs []journal.Record) {
	n := 0
	for i := range recs {
		n += len(recs[i].Data)
	}
	if cap(b.data) < n {
		b.data = make([]byte, 0, n+n/8)
	}
	data := b.data[:0]
	b.in = append(b.in[:0], recs...)
	for i := range b.in {
		start := len(data)
		data = append(data, b.in[i].Data...)
		b.in[i].Data = data[start:len(data):len(data)]
	}
	b.data = data
}

// buffer returns a buffer for n records, reused if one is free.
func (k *Kafka) buffer(n int) *kafkaBuffer {
	var b *kafkaBuffer
	if i := len(k.free) - 1; i >= 0 {
		b, k.free = k.free[i], k.free[:i]
	} else {
		b = &kafkaBuffer{slabs: make([][]byte, len(k.encs))}
	}
	if cap(b.recs) < n {
		b.recs = make([]kgo.Record, n)
		b.hdrs = make([]kgo.RecordHeader, 3*n)
	}
	b.recs, b.hdrs = b.recs[:n], b.hdrs[:3*n]
	return b
}

// encode fills b.recs from recs, in chunks encoded in parallel.
func (k *Kafka) encode(b *kafkaBuffer, recs []journal.Record) {
	n := min(len(k.encs), max(len(recs)/minChunk, 1))
	chunk := (len(recs) + n - 1) / n
	var wg sync.WaitGroup
	for w := range n {
		lo, hi := w*chunk, min((w+1)*chunk, len(recs))
		wg.Go(func() {
			b.slabs[w] = k.encs[w].encode(recs[lo:hi], b.recs[lo:hi], b.hdrs[3*lo:3*hi], k.topic, b.slabs[w])
		})
	}
	wg.Wait()
}

// encoder turns journal records into Kafka records, on one goroutine at a
// time.
type encoder struct {
	parser *parse.Parser
	row    store.Row
	key    string // the field that keys records
	json   bool   // payload json: the normalized event
	raw    bool   // the original record and its source go in headers too
	// journal is the id of the journal the records come from (for the
	// SourceHeader of records without an origin).
	journal uint64
	alerts  bool    // the records are alerts: sent as they are, keyed by alert.id
	grow    float64 // bytes out per byte in, from the last chunk
}

// encode sets out[i] from recs[i], with the keys and values in slab
// (reused from its start), and returns the slab. An event's record gets
// the header hdrs[3i] with its event id (and hdrs[3i+1] with its original
// record and hdrs[3i+2] with its source, SourceHeader, when e.raw).
func (e *encoder) encode(recs []journal.Record, out []kgo.Record, hdrs []kgo.RecordHeader, topic string, slab []byte) []byte {
	if e.alerts {
		return encodeAlerts(recs, out, topic, slab)
	}
	size := 0
	for i := range recs {
		size += len(recs[i].Data)
	}
	if e.raw {
		size *= 2
	}
	// The parsed strings are copied into the slab: the parser's arena
	// is reused from one chunk to the next.
	e.parser.ResetWith(e.parser.Buffer(), 2*size+64)
	if want := int(float64(size)*e.grow) + 64; cap(slab) < want {
		slab = make([]byte, 0, want+want/8)
	}
	buf := slab[:0]
	for i := range recs {
		rec := &recs[i]
		e.parser.Parse(rec, &e.row)
		r := kgo.Record{Topic: topic}
		start := len(buf)
		if key := e.row.Get(e.key); key != "" {
			buf = append(buf, key...)
			r.Key = buf[start:len(buf):len(buf)]
			start = len(buf)
		}
		if e.json {
			buf = eventjson.AppendRow(buf, &e.row)
		} else {
			buf = append(buf, rec.Data...)
		}
		// If buf grew, it moved: r.Value is in the new array, earlier
		// records keep the old one.
		r.Value = buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = append(buf, e.row.Get(parse.FieldEventID)...)
		hdrs[3*i] = kgo.RecordHeader{Key: EventIDHeader, Value: buf[start:len(buf):len(buf)]}
		r.Headers = hdrs[3*i : 3*i+1 : 3*i+1]
		if e.raw {
			start = len(buf)
			buf = append(buf, rec.Data...)
			hdrs[3*i+1] = kgo.RecordHeader{Key: RawHeader, Value: buf[start:len(buf):len(buf)]}
			start = len(buf)
			buf = AppendSource(buf, e.journal, rec)
			hdrs[3*i+2] = kgo.RecordHeader{Key: SourceHeader, Value: buf[start:len(buf):len(buf)]}
			r.Headers = hdrs[3*i : 3*i+3 : 3*i+3]
		}
		out[i] = r
	}
	if size > 0 {
		e.grow = float64(len(buf)) / float64(size)
	}
	return buf
}

// encodeAlerts sets out[i] to the alert JSON of recs[i], keyed by its
// alert.id, with the bytes in slab.
func encodeAlerts(recs []journal.Record, out []kgo.Record, topic string, slab []byte) []byte {
	buf := slab[:0]
	for i := range recs {
		var id struct {
			ID string `json:"alert.id"`
		}
		_ = json.Unmarshal(recs[i].Data, &id) // a record without an id goes unkeyed
		start := len(buf)
		buf = append(buf, id.ID...)
		key := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = append(buf, recs[i].Data...)
		out[i] = kgo.Record{Topic: topic, Key: key, Value: buf[start:len(buf):len(buf)]}
		if len(key) == 0 {
			out[i].Key = nil
		}
	}
	return buf
}

// failed wraps a produce error. UNKNOWN_TOPIC_ID means the topic was
// deleted and created again: the client keeps failing records for it until
// it forgets the old topic, and produces to the new one after that (the
// runner sends the batch again from its first record not acknowledged).
func (k *Kafka) failed(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, kerr.UnknownTopicID) {
		k.client.PurgeTopicsFromProducing(k.topic)
		return fmt.Errorf("kafka output %s: topic %s was deleted or re-created; producing to the new topic from the first record not acknowledged: %w", k.cfg.Name, k.topic, err)
	}
	return fmt.Errorf("kafka output %s: %w", k.cfg.Name, err)
}

// produced tracks the acknowledgements of one batch.
type produced struct {
	left atomic.Int64
	once sync.Once
	err  error // the first failure, set before done is closed
	done chan struct{}
}

func (p *produced) promise(_ *kgo.Record, err error) {
	if err != nil {
		p.once.Do(func() { p.err = err })
	}
	if p.left.Add(-1) == 0 {
		close(p.done)
	}
}

// Close stops the worker and closes the client. No Start may follow.
func (k *Kafka) Close() error {
	if k.jobs != nil {
		close(k.jobs)
		k.worker.Wait()
	}
	k.client.Close()
	return nil
}
