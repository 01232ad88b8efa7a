// Package kafka is Vigil's Kafka input: it consumes topics as a member of a
// consumer group and appends each record's value, unparsed, to the journal
// as one message. The pipeline parses it like a syslog payload (JSON or
// plain text).
//
// Offsets are committed only after the records are in the journal, so a
// crash makes the group read the uncommitted tail again (duplicates) and
// never skips a record.
//
// A topic that is deleted and created again under the same name is a new
// topic (a new topic id). The input notices (the brokers answer
// UNKNOWN_TOPIC_ID for the old one), subscribes to the topic again and
// reads the new topic from its first record.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vigil-soc/vigil/internal/journal"
)

// MaxMessageSize is the longest record value stored. Longer values are cut
// to it, flagged journal.FlagTruncated and counted. It is 16 MiB less room
// for the journal's record header, the input name and the peer, so that a
// cut record always fits the journal's 16 MiB record limit.
const MaxMessageSize = 16<<20 - 4096

const (
	maxBatchRecords = 1024    // records per Append
	maxBatchBytes   = 4 << 20 // value bytes per Append (at least one record)
	commitTimeout   = 30 * time.Second
	minBackoff      = 100 * time.Millisecond
	maxBackoff      = 5 * time.Second
	logEvery        = 10 * time.Second
	// recheckEvery is how often a topic that fails with UNKNOWN_TOPIC_ID
	// is looked up again while the brokers still report its old id.
	recheckEvery  = time.Second
	lookupTimeout = 10 * time.Second
)

// Appender stores records durably. Append returns after the records are in
// the journal; on error none of them may be assumed stored.
type Appender interface {
	Append(recs []journal.Record) error
}

// Input consumes Kafka topics into an Appender. Create it with New and run
// it with Run.
type Input struct {
	cfg  Config
	app  Appender
	log  *slog.Logger
	m    *metrics
	opts []kgo.Opt

	records   atomic.Uint64
	bytes     atomic.Uint64
	recreated atomic.Uint64
	running   atomic.Bool
	mu        sync.Mutex // guards the fields below
	lastErr   string
	lastErrAt time.Time
	lastLog   time.Time // rate limit of repeated error logs
	lag       map[topicPartition]int64
	// renewed holds the topics subscribed to again after they were
	// deleted or re-created: their partitions without a committed offset
	// start at the first record whatever StartOffset says.
	renewed map[string]bool

	// beforeCommit, when set (tests), runs after a batch was appended and
	// before its offsets are committed.
	beforeCommit func()
}

type topicPartition struct {
	topic     string
	partition int32
}

// Status is a snapshot of an input's state for the operator.
type Status struct {
	Name    string   `json:"name"`
	Brokers []string `json:"brokers"`
	Topics  []string `json:"topics"`
	Group   string   `json:"group"`
	// Running is true while Run is consuming.
	Running bool `json:"running"`
	// Records and Bytes count the values appended to the journal.
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
	// Lag is the number of records behind the partitions' high watermarks
	// as of the latest fetches, summed over assigned partitions.
	Lag int64 `json:"lag"`
	// Recreated counts the times a topic was found deleted or re-created
	// (a new topic id) and subscribed to again.
	Recreated uint64 `json:"topics_recreated"`
	// LastError is the latest error (append, commit, fetch), empty if none.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// New checks cfg, reads the TLS and password files it names, registers the
// metrics with reg (nil: none) and returns an Input that appends to app.
// A nil log discards log output.
func New(cfg Config, app Appender, reg prometheus.Registerer, log *slog.Logger) (*Input, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if app == nil {
		return nil, errors.New("kafka input: nil appender")
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("input", cfg.Name)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	in := &Input{
		cfg:     cfg,
		app:     app,
		log:     log,
		m:       m,
		lag:     make(map[topicPartition]int64),
		renewed: make(map[string]bool),
	}
	opts, err := in.clientOpts()
	if err != nil {
		return nil, fmt.Errorf("kafka input %q: %w", cfg.Name, err)
	}
	in.opts = opts
	return in, nil
}

// clientOpts builds the franz-go options for cfg.
func (in *Input) clientOpts() ([]kgo.Opt, error) {
	cfg := in.cfg
	start := kgo.NewOffset().AtStart()
	if cfg.StartOffset == StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(start),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(in.dropLag),
		kgo.OnPartitionsLost(in.dropLag),
		kgo.AdjustFetchOffsetsFn(in.adjustOffsets),
		kgo.WithLogger(kgoLogger{in}),
	}
	sec, err := SecurityOpts(cfg.TLS, cfg.SASL)
	if err != nil {
		return nil, err
	}
	return append(opts, sec...), nil
}

// SecurityOpts returns the franz-go options for TLS and SASL (none when
// both are off); the Kafka output shares them.
func SecurityOpts(t TLSConfig, s SASLConfig) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if t.Enabled {
		tc, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.Mechanism != "" {
		mech, err := saslMechanism(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func tlsConfig(c TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify,
		ServerName:         c.ServerName,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load cert_file and key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func saslMechanism(c SASLConfig) (sasl.Mechanism, error) {
	pass := c.Password
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sasl: read password_file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
		if pass == "" {
			return nil, fmt.Errorf("sasl: password_file %s is empty", c.PasswordFile)
		}
	}
	switch c.Mechanism {
	case MechanismPlain:
		return plain.Auth{User: c.Username, Pass: pass}.AsMechanism(), nil
	case MechanismScramSHA256:
		return scram.Auth{User: c.Username, Pass: pass}.AsSha256Mechanism(), nil
	case MechanismScramSHA512:
		return scram.Auth{User: c.Username, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl: unknown mechanism %q", c.Mechanism)
}

// Run consumes until ctx is done or the client fails for good. Each poll's
// records are appended to the journal, and only then their offsets are
// committed and the group is allowed to rebalance. An append error is
// logged and retried with backoff on the same records, which are never
// skipped. A topic deleted or re-created meanwhile is subscribed to again
// (see renew). When ctx is done, Run commits what it appended, leaves the
// group and returns nil.
func (in *Input) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(in.opts...)
	if err != nil {
		return fmt.Errorf("kafka input %q: new client: %w", in.cfg.Name, err)
	}
	in.running.Store(true)
	defer in.running.Store(false)
	defer cl.Close()
	in.log.Info("kafka: consuming", "brokers", in.cfg.Brokers, "topics", in.cfg.Topics, "group", in.cfg.Group)
	b := newBatcher(in)
	w := newWatcher()
	for {
		fetches := cl.PollRecords(ctx, in.cfg.MaxPollRecords)
		if fetches.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		// Topics failing with UNKNOWN_TOPIC_ID: the client fails a
		// topic's fetches and commits with it once the topic has a new
		// id (deleted, maybe re-created), and never reads it again.
		var unknown []string
		suspect := func(topic string) {
			if !slices.Contains(unknown, topic) {
				unknown = append(unknown, topic)
			}
		}
		fetches.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if errors.Is(err, kerr.UnknownTopicID) {
				suspect(topic)
			}
			in.noteErr("fetch", fmt.Errorf("topic %s partition %d: %w", topic, part, err))
		})
		w.saw(fetches)
		in.updateLag(fetches)
		recs := fetches.Records()
		if len(recs) > 0 {
			done := b.store(ctx, recs)
			if done > 0 {
				if err := in.commit(cl, recs[:done]); errors.Is(err, kerr.UnknownTopicID) {
					for _, r := range recs[:done] {
						suspect(r.Topic)
					}
				}
			}
		}
		for _, topic := range unknown {
			if ctx.Err() == nil {
				in.check(ctx, cl, w, topic)
			}
		}
		cl.AllowRebalance()
		if ctx.Err() != nil {
			in.log.Info("kafka: stopped", "records", in.records.Load())
			return nil
		}
	}
}

// watcher keeps what Run knows of the topics' ids.
type watcher struct {
	ids     map[string][16]byte  // id of each topic as last fetched
	checked map[string]time.Time // last lookup of a failing topic
}

func newWatcher() *watcher {
	return &watcher{ids: make(map[string][16]byte), checked: make(map[string]time.Time)}
}

// saw notes the ids of the topics that records came from (brokers from
// Kafka 3.1 send them).
func (w *watcher) saw(fetches kgo.Fetches) {
	fetches.EachTopic(func(t kgo.FetchTopic) {
		if t.TopicID != ([16]byte{}) {
			w.ids[t.Topic] = t.TopicID
		}
	})
}

// check looks up topic, whose fetches fail with UNKNOWN_TOPIC_ID, and
// subscribes to it again if it is gone or has a new id. While the brokers
// still report the id it was read under, the error is a broker lagging
// behind and the client retries by itself; the lookup is then repeated at
// most once per recheckEvery.
func (in *Input) check(ctx context.Context, cl *kgo.Client, w *watcher, topic string) {
	now := time.Now()
	if now.Sub(w.checked[topic]) < recheckEvery {
		return
	}
	w.checked[topic] = now
	id, exists, err := lookupTopic(ctx, cl, topic)
	if err != nil {
		in.noteErr("metadata", fmt.Errorf("topic %s: %w", topic, err))
		return
	}
	old, known := w.ids[topic]
	if exists && known && id == old {
		return
	}
	in.renew(cl, topic, old, id, exists)
	delete(w.ids, topic)
	delete(w.checked, topic)
}

// renew drops everything the client holds of a topic that was deleted or
// re-created and subscribes to it again, as franz-go documents for a topic
// re-creation: the client never moves a topic to a new id by itself, and
// fails the old one with UNKNOWN_TOPIC_ID until then. The brokers dropped
// the group's offsets with the old topic, so the new topic's partitions
// have none and start at their first record (adjustOffsets), even with
// start_offset latest: they hold only what was written since the
// re-creation. Records of the old topic that were not read yet went with
// it.
func (in *Input) renew(cl *kgo.Client, topic string, old, id [16]byte, exists bool) {
	in.mu.Lock()
	in.renewed[topic] = true
	in.mu.Unlock()
	cl.PurgeTopicsFromClient(topic)
	in.dropTopicLag(topic)
	cl.AddConsumeTopics(topic)
	in.recreated.Add(1)
	in.m.recreated.WithLabelValues(in.cfg.Name, strings.ToValidUTF8(topic, "\uFFFD")).Inc()
	now := "none (deleted; waiting for it to be created)"
	if exists {
		now = hex.EncodeToString(id[:])
	}
	was := "unknown"
	if old != ([16]byte{}) {
		was = hex.EncodeToString(old[:])
	}
	in.log.Warn("kafka: topic was deleted or re-created; subscribed again, reading the new topic from its start",
		"topic", topic, "old_id", was, "new_id", now)
}

// lookupTopic asks the brokers for topic's id; exists is false when they
// do not know the topic.
func lookupTopic(ctx context.Context, cl *kgo.Client, topic string) (id [16]byte, exists bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return id, false, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return id, false, nil
		case err != nil:
			return id, false, err
		}
		return t.TopicID, true, nil
	}
	return id, false, nil
}

// adjustOffsets starts the partitions of renewed topics that have no
// committed offset at their first record.
func (in *Input) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for topic, parts := range offsets {
		if !in.renewed[topic] {
			continue
		}
		for p, o := range parts {
			if o.EpochOffset().Offset < 0 { // no commit: the reset offset
				parts[p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return offsets, nil
}

// commit commits the offsets of recs, which are in the journal. A failure
// is counted, logged and returned: the records may be read again after a
// restart or a rebalance, and a later commit covers them.
func (in *Input) commit(cl *kgo.Client, recs []*kgo.Record) error {
	if in.beforeCommit != nil {
		in.beforeCommit()
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	err := cl.CommitRecords(ctx, recs...)
	if err != nil {
		in.m.commitErrors.WithLabelValues(in.cfg.Name).Inc()
		in.noteErr("commit", err)
	}
	return err
}

// setErr records err as the latest error.
func (in *Input) setErr(what string, err error) {
	in.mu.Lock()
	in.lastErr = what + ": " + err.Error()
	in.lastErrAt = time.Now()
	in.mu.Unlock()
}

// noteErr records err as the latest error and logs it, at most once per
// logEvery.
func (in *Input) noteErr(what string, err error) {
	now := time.Now()
	in.mu.Lock()
	in.lastErr = what + ": " + err.Error()
	in.lastErrAt = now
	logIt := now.Sub(in.lastLog) >= logEvery
	if logIt {
		in.lastLog = now
	}
	in.mu.Unlock()
	if logIt {
		in.log.Warn("kafka: "+what+" failed", "err", err)
	}
}

// updateLag records, for every partition in fetches, how far the last
// record returned is behind the partition's high watermark.
func (in *Input) updateLag(fetches kgo.Fetches) {
	in.mu.Lock()
	defer in.mu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 || p.Err != nil {
			return
		}
		last := p.Records[len(p.Records)-1].Offset
		lag := max(p.HighWatermark-last-1, 0)
		in.lag[topicPartition{p.Topic, p.Partition}] = lag
		in.m.lag.WithLabelValues(in.cfg.Name, strings.ToValidUTF8(p.Topic, "\uFFFD"), strconv.Itoa(int(p.Partition))).Set(float64(lag))
	})
}

// dropLag forgets the lag of partitions that this member no longer owns.
func (in *Input) dropLag(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(in.lag, topicPartition{topic, p})
			in.m.lag.DeleteLabelValues(in.cfg.Name, strings.ToValidUTF8(topic, "\uFFFD"), strconv.Itoa(int(p)))
		}
	}
}

// dropTopicLag forgets the lag of all partitions of topic.
func (in *Input) dropTopicLag(topic string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for tp := range in.lag {
		if tp.topic == topic {
			delete(in.lag, tp)
			in.m.lag.DeleteLabelValues(in.cfg.Name, strings.ToValidUTF8(topic, "\uFFFD"), strconv.Itoa(int(tp.partition)))
		}
	}
}

// Status returns a snapshot of the input's state. It is safe to call
// concurrently with Run.
func (in *Input) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	var lag int64
	for _, l := range in.lag {
		lag += l
	}
	return Status{
		Name:          in.cfg.Name,
		Brokers:       append([]string(nil), in.cfg.Brokers...),
		Topics:        append([]string(nil), in.cfg.Topics...),
		Group:         in.cfg.Group,
		Running:       in.running.Load(),
		Records:       in.records.Load(),
		Bytes:         in.bytes.Load(),
		Lag:           lag,
		Recreated:     in.recreated.Load(),
		LastError:     in.lastErr,
		LastErrorTime: in.lastErrAt,
	}
}

// batcher turns polled records into journal records and appends them.
type batcher struct {
	in   *Input
	recs []journal.Record
	// origins holds the queued records' Origin bytes (the journal copies
	// them at Append).
	origins []byte
	tm      map[string]*topicMetrics
	peer    map[topicPartition]string
}

func newBatcher(in *Input) *batcher {
	return &batcher{
		in:   in,
		recs: make([]journal.Record, 0, maxBatchRecords),
		tm:   make(map[string]*topicMetrics),
		peer: make(map[topicPartition]string),
	}
}

// store appends the values of recs in batches, retrying a failed batch
// until it is stored or ctx is done. It returns how many leading records of
// recs are in the journal (or were skipped as empty): all of them unless
// ctx ended during a retry.
func (b *batcher) store(ctx context.Context, recs []*kgo.Record) int {
	now := time.Now()
	start, size := 0, 0
	for i, r := range recs {
		b.add(r, now)
		size += len(r.Value)
		if len(b.recs) < maxBatchRecords && size < maxBatchBytes && i+1 < len(recs) {
			continue
		}
		if !b.flush(ctx) {
			return start
		}
		start, size = i+1, 0
	}
	return len(recs)
}

// add queues r as a journal record, or counts it if it is empty.
func (b *batcher) add(r *kgo.Record, now time.Time) {
	tm := b.topic(r.Topic)
	if len(r.Value) == 0 {
		tm.empty.Inc()
		return
	}
	data, flags := r.Value, uint8(0)
	if len(data) > MaxMessageSize {
		data, flags = data[:MaxMessageSize:MaxMessageSize], journal.FlagTruncated
		tm.truncated.Inc()
	}
	start := len(b.origins)
	b.origins = AppendOrigin(b.origins, r)
	b.recs = append(b.recs, journal.Record{
		Time:   now,
		Input:  b.in.cfg.Name,
		Peer:   b.peerOf(r.Topic, r.Partition),
		Flags:  flags,
		Data:   data,
		Origin: b.origins[start:len(b.origins):len(b.origins)],
	})
}

// AppendOrigin appends the origin of a Kafka record to dst:
// "kafka:TOPIC/PARTITION/OFFSET@TIMESTAMP" (Unix milliseconds). A record
// read twice, by one node or by two, has the same origin; its event id
// is made from it (parse.AppendEventID). The timestamp tells a topic
// deleted and re-created, whose offsets start again, from the old one.
func AppendOrigin(dst []byte, r *kgo.Record) []byte {
	dst = append(dst, "kafka:"...)
	dst = append(dst, r.Topic...)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, '@')
	return strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
}

// flush appends the queued records, retrying with backoff until the
// journal takes them. It reports false if ctx ended first.
func (b *batcher) flush(ctx context.Context) bool {
	if len(b.recs) == 0 {
		return true
	}
	in := b.in
	backoff := minBackoff
	for {
		err := in.app.Append(b.recs)
		if err == nil {
			break
		}
		in.m.appendErrors.WithLabelValues(in.cfg.Name).Inc()
		in.noteErr("journal append", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			clear(b.recs)
			b.recs, b.origins = b.recs[:0], b.origins[:0]
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
	var n, size uint64
	for i := range b.recs {
		r := &b.recs[i]
		tm := b.topic(topicOf(r.Peer))
		tm.records.Inc()
		tm.bytes.Add(float64(len(r.Data)))
		n++
		size += uint64(len(r.Data))
	}
	in.records.Add(n)
	in.bytes.Add(size)
	clear(b.recs)
	b.recs, b.origins = b.recs[:0], b.origins[:0]
	return true
}

// topic returns the metric children of one topic.
func (b *batcher) topic(name string) *topicMetrics {
	tm := b.tm[name]
	if tm == nil {
		// Topic names come from the broker; a label must be valid UTF-8.
		tm = b.in.m.topic(b.in.cfg.Name, strings.ToValidUTF8(name, "\uFFFD"))
		b.tm[name] = tm
	}
	return tm
}

// peerOf returns the Peer of records from one partition:
// "kafka://topic/partition".
func (b *batcher) peerOf(topic string, part int32) string {
	k := topicPartition{topic, part}
	p, ok := b.peer[k]
	if !ok {
		p = "kafka://" + topic + "/" + strconv.Itoa(int(part))
		b.peer[k] = p
	}
	return p
}

// topicOf returns the topic of a peer made by peerOf.
func topicOf(peer string) string {
	s := strings.TrimPrefix(peer, "kafka://")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// kgoLogger passes franz-go's warnings and errors to slog, and keeps the
// latest error for Status: a broker that cannot be reached or a TLS or SASL
// failure shows only there, as the client retries internally.
type kgoLogger struct{ in *Input }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == "err" {
			if err, ok := kv[i+1].(error); ok && err != nil {
				l.in.setErr("client: "+msg, err)
			}
		}
	}
	l.in.log.Log(context.Background(), lv, "kafka client: "+msg, kv...)
}
