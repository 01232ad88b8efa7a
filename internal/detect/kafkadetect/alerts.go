package kafkadetect

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/journal"
)

// alertID returns the alert.id of an alert's JSON ("" if it has none).
func alertID(data []byte) string {
	var v struct {
		ID string `json:"alert.id"`
	}
	_ = json.Unmarshal(data, &v)
	return v.ID
}

// alertLog records the detector's alerts in the alerts topic, keyed by
// alert.id (it implements detect.AlertLog). Positions are the topic's
// offsets.
type alertLog struct {
	base  []kgo.Opt
	prod  *kgo.Client
	topic string
	next  uint64 // offset after the last alert known to be recorded
}

// Append produces recs and returns once the brokers have all of them.
func (a *alertLog) Append(ctx context.Context, recs []journal.Record) error {
	out := make([]*kgo.Record, len(recs))
	for i := range recs {
		out[i] = &kgo.Record{Topic: a.topic, Value: append([]byte(nil), recs[i].Data...)}
		if id := alertID(recs[i].Data); id != "" {
			out[i].Key = []byte(id)
		}
	}
	if err := a.prod.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("alerts topic %s: %w", a.topic, err)
	}
	for _, r := range out {
		a.next = max(a.next, uint64(r.Offset)+1)
	}
	return nil
}

// Sync is a no-op: Append returns after the brokers acknowledged.
func (a *alertLog) Sync() error { return nil }

// NextSeq is the offset after the last alert recorded, as far as this
// detector knows (the topic's end when it took over, or its own alerts').
func (a *alertLog) NextSeq() uint64 { return a.next }

// Scan calls fn for every alert from offset from to the topic's end.
func (a *alertLog) Scan(ctx context.Context, from uint64, fn func(*alert.Alert)) (bad int, err error) {
	cl, err := kgo.NewClient(a.base...)
	if err != nil {
		return 0, err
	}
	_, end, err := offsets(ctx, cl, a.topic)
	cl.Close()
	if err != nil {
		return 0, err
	}
	a.next = max(a.next, uint64(end))
	err = readRange(ctx, a.base, a.topic, int64(from), end, func(r *kgo.Record) {
		var al alert.Alert
		if json.Unmarshal(r.Value, &al) != nil {
			bad++
			return
		}
		fn(&al)
	})
	return bad, err
}

// takeOver sets the position of the next alert to the topic's end: the
// alerts before it were raised before this detector took over.
func (a *alertLog) takeOver(ctx context.Context) error {
	cl, err := kgo.NewClient(a.base...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, end, err := offsets(ctx, cl, a.topic)
	if err != nil {
		return err
	}
	a.next = uint64(end)
	return nil
}

// Follower copies the alerts topic into a node's alert journal, so that
// every node's store, console, alert channels and outputs have every
// alert, whichever node raised it. The journal records keep the Kafka
// origin of each alert: a restart goes on after the last one, and an
// alert id already in the journal is not appended again.
type Follower struct {
	cfg    Config
	base   []kgo.Opt
	j      *journal.Journal
	log    *slog.Logger
	copied prometheus.Counter
	dups   prometheus.Counter
}

// NewFollower returns a follower that appends to j.
func NewFollower(cfg Config, j *journal.Journal, reg prometheus.Registerer, log *slog.Logger) (*Follower, error) {
	cfg, base, log, err := setup(cfg, log)
	if err != nil {
		return nil, err
	}
	f := &Follower{cfg: cfg, base: base, j: j, log: log,
		copied: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_alerts_copied_total",
			Help: "Alerts copied from the detection alerts topic into this node's alert journal."}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_alerts_duplicate_total",
			Help: "Alerts of the detection alerts topic not copied because their alert.id is in the alert journal already."}),
	}
	if reg != nil {
		reg.MustRegister(f.copied, f.dups)
	}
	return f, nil
}

// originPrefix is the start of the Origin of alerts copied from topic.
func originPrefix(topic string) string { return "kafka:" + topic + "/0/" }

// resumePoint scans the alert journal for the alerts copied before: the
// offset after the last one, and the ids of all alerts in it.
func (f *Follower) resumePoint(ctx context.Context) (next int64, ids map[string]bool, err error) {
	ids = map[string]bool{}
	end := f.j.NextSeq()
	first := f.j.FirstSeq()
	if first >= end {
		return 0, ids, nil
	}
	r, err := f.j.ReaderAt(first)
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	prefix := originPrefix(f.cfg.AlertsTopic)
	var recs []journal.Record
	for r.Position() < end {
		if recs, err = r.Next(ctx, recs[:0], 1024); err != nil {
			return 0, nil, err
		}
		for i := range recs {
			if id := alertID(recs[i].Data); id != "" {
				ids[id] = true
			}
			rest, ok := strings.CutPrefix(string(recs[i].Origin), prefix)
			if !ok {
				continue
			}
			if at := strings.IndexByte(rest, '@'); at >= 0 {
				rest = rest[:at]
			}
			if off, err := strconv.ParseInt(rest, 10, 64); err == nil {
				next = max(next, off+1)
			}
		}
	}
	return next, ids, nil
}

// Run copies alerts until ctx is done. An append that fails is retried
// (the alerts are not skipped).
func (f *Follower) Run(ctx context.Context) error {
	next, ids, err := f.resumePoint(ctx)
	if err != nil {
		return fmt.Errorf("detect.kafka: alert journal: %w", err)
	}
	admin, err := kgo.NewClient(f.base...)
	if err != nil {
		return fmt.Errorf("detect.kafka: %w", err)
	}
	err = ensure(ctx, admin, f.cfg, f.log)
	admin.Close()
	if err != nil {
		return nil // ctx ended
	}
	opts := append(append([]kgo.Opt(nil), f.base...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.cfg.AlertsTopic: {0: kgo.NewOffset().At(next)}}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("detect.kafka: %w", err)
	}
	defer cl.Close()
	f.log.Info("detect: copying alerts from Kafka", "topic", f.cfg.AlertsTopic, "from_offset", next)
	var recs []journal.Record
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			f.log.Warn("detect: reading the alerts topic failed", "topic", t, "err", err)
		})
		recs = recs[:0]
		fetches.EachRecord(func(r *kgo.Record) {
			id := alertID(r.Value)
			if id != "" && ids[id] {
				f.dups.Inc()
				return
			}
			if id != "" {
				ids[id] = true
			}
			recs = append(recs, journal.Record{Time: time.Now(), Input: alert.Input, Data: r.Value, Origin: kafka.AppendOrigin(nil, r)})
		})
		if len(recs) == 0 {
			continue
		}
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			err := f.j.Append(recs)
			if err == nil {
				break
			}
			f.log.Error("detect: cannot append alerts to the alert journal; retrying", "alerts", len(recs), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
		}
		f.copied.Add(float64(len(recs)))
	}
}
