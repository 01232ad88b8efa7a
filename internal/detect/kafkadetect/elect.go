package kafkadetect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigil-soc/vigil/internal/detect"
)

const (
	// sessionTimeout is how long the group waits for a member that
	// stopped answering before another takes its partition over.
	sessionTimeout = 10 * time.Second
	maxPoll        = 4096
	retryEvery     = 2 * time.Second
)

// Elector makes this node a candidate detector: a member of the group on
// the detection topic. While it owns the topic's partition it runs the
// detector over every node's events; otherwise it waits.
type Elector struct {
	cfg   Config
	base  []kgo.Opt
	log   *slog.Logger
	prod  *kgo.Client // checkpoints and alerts
	state *stateStore
	alert *alertLog

	mu       sync.Mutex // held while the detector runs and in the group's callbacks
	det      *detect.Detector
	group    *kgo.Client
	owner    bool // the partition is assigned to this member
	resumed  bool // the detector took over since it was assigned
	rewind   int64
	lastIdle time.Time
	dedupe   *dedupe
	// batch is the batch being processed, for the filter.
	batch *batcher
	m     electMetrics
	// detecting mirrors owner && resumed for Owner (without mu, which
	// the detector holds while it works).
	detecting atomic.Bool
}

type electMetrics struct {
	owner                    prometheus.Gauge
	takeovers, bad, commitEr prometheus.Counter
}

// New checks cfg and returns an elector; Prepare the detector's options
// with it, then Run it.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Elector, error) {
	cfg, base, log, err := setup(cfg, log)
	if err != nil {
		return nil, err
	}
	prod, err := kgo.NewClient(append(append([]kgo.Opt(nil), base...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(30*time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("detect.kafka: %w", err)
	}
	dd := newDedupe()
	e := &Elector{cfg: cfg, base: base, log: log, prod: prod, rewind: -1, dedupe: dd,
		state: &stateStore{base: base, prod: prod, topic: cfg.StateTopic, chunkSize: ChunkSize, log: log, marks: dd},
		alert: &alertLog{base: base, prod: prod, topic: cfg.AlertsTopic},
		m: electMetrics{
			owner: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_kafka_owner",
				Help: "1 while this node is the elected detector (owns the detection topic's partition)."}),
			takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_takeovers_total",
				Help: "Times this node took detection over (loaded the latest checkpoint)."}),
			bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_bad_events_total",
				Help: "Records of the detection topic that are not an event's JSON (skipped)."}),
			commitEr: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_kafka_commit_errors_total",
				Help: "Failed commits of the detection group's offset (the next checkpoint commits again)."}),
		},
	}
	if reg != nil {
		reg.MustRegister(e.m.owner, e.m.takeovers, e.m.bad, e.m.commitEr)
		reg.MustRegister(dd.collectors()...)
	}
	return e, nil
}

// setup checks cfg and returns it with its defaults, the options of its
// clients and a logger (log, or one that discards).
func setup(cfg Config, log *slog.Logger) (Config, []kgo.Opt, *slog.Logger, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, nil, fmt.Errorf("detect.kafka: %w", err)
	}
	base, err := clientOpts(cfg)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("detect.kafka: %w", err)
	}
	if log == nil {
		log = discard
	}
	return cfg, base, log, nil
}

// Prepare sets the detector's options for detection through Kafka: the
// checkpoints and alerts go to their topics, the detector waits for the
// partition (Standby), events published twice are dropped (with the
// high-water marks in the checkpoints), and every checkpoint commits the
// group's offset up to the position it covers.
func (e *Elector) Prepare(o *detect.DetectorOptions) {
	o.Checkpoints = e.state
	o.AlertLog = e.alert
	o.Standby = true
	o.Journal = nil // positions are the detection topic's offsets
	o.InputEnd = e.end
	o.OnCheckpoint = e.commit
	o.Filter = e.accept
}

// accept is the detector's filter: it drops the event at index i of the
// batch being processed if it was published twice.
func (e *Elector) accept(i int) bool {
	b := e.batch
	if b == nil || i >= len(b.srcs) {
		return true
	}
	return e.dedupe.accept(b.srcs[i], b.seqs[i])
}

// end returns the detection topic's next offset.
func (e *Elector) end(ctx context.Context) (uint64, error) {
	_, end, err := offsets(ctx, e.prod, e.cfg.Topic)
	return uint64(end), err
}

// commit commits the group's offset at pos, the position of the
// checkpoint just written: a member that takes over finds the state and
// the offset paired (it reads from the state's position anyway).
func (e *Elector) commit(pos uint64) {
	if e.group == nil || !e.owner {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cerr error
	e.group.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{e.cfg.Topic: {0: {Epoch: -1, Offset: int64(pos)}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if resp == nil {
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
						cerr = err
					}
				}
			}
		})
	if cerr != nil {
		e.m.commitEr.Inc()
		e.log.Warn("detect: cannot commit the detection offset", "offset", pos, "err", cerr)
	}
}

// ensure creates the three topics, retrying until it works or ctx ends.
func ensure(ctx context.Context, cl *kgo.Client, cfg Config, log *slog.Logger) error {
	for {
		err := ensureTopics(ctx, cl, []topicSpec{{cfg.Topic, false}, {cfg.StateTopic, true}, {cfg.AlertsTopic, false}})
		if err == nil {
			return nil
		}
		log.Warn("detect: the Kafka topics are not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

// Run takes part in the election until ctx is done: while this node owns
// the partition, it runs d over the detection topic. At the end it
// writes a last checkpoint (if it owns the partition) and leaves the
// group, so another member takes over at once.
func (e *Elector) Run(ctx context.Context, d *detect.Detector) error {
	defer e.prod.Close()
	if err := ensure(ctx, e.prod, e.cfg, e.log); err != nil {
		return nil // ctx ended
	}
	e.det = d
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), e.base...),
		kgo.ConsumerGroup(e.cfg.Group),
		kgo.ConsumeTopics(e.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(time.Second),
		kgo.OnPartitionsAssigned(e.assigned),
		kgo.OnPartitionsRevoked(e.revoked),
		kgo.OnPartitionsLost(e.lost),
	)...)
	if err != nil {
		return fmt.Errorf("detect.kafka: %w", err)
	}
	e.mu.Lock()
	e.group = cl
	e.mu.Unlock()
	defer cl.Close() // leaves the group, revoking (and checkpointing) first
	e.log.Info("detect: candidate detector", "topic", e.cfg.Topic, "group", e.cfg.Group)
	b := newBatcher()
	e.batch = b
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollRecords(pctx, maxPoll)
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			e.stop()
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				e.log.Warn("detect: reading the detection topic failed", "topic", t, "err", err)
			}
		})
		recs := fetches.Records()
		e.mu.Lock()
		switch {
		case !e.owner:
		case !e.resumed:
			e.takeOver(ctx, recs)
		case len(recs) > 0:
			batch, bad := b.batch(recs)
			e.m.bad.Add(float64(bad))
			d.Process(ctx, batch)
		default:
			if now := time.Now(); now.Sub(e.lastIdle) >= time.Second {
				e.lastIdle = now
				d.Idle(ctx, now)
			}
		}
		e.mu.Unlock()
		cl.AllowRebalance()
	}
}

// takeOver loads the latest checkpoint after the partition was assigned
// and moves the group's fetch position to the checkpoint's: the records
// polled before are dropped (read again from there). If the load fails
// it is tried again at the next poll, and the first record dropped meanwhile
// is where reading goes on.
func (e *Elector) takeOver(ctx context.Context, dropped []*kgo.Record) {
	if len(dropped) > 0 && e.rewind < 0 {
		e.rewind = dropped[0].Offset
	}
	err := e.alert.takeOver(ctx)
	if err == nil {
		err = e.det.Resume(ctx)
	}
	if err != nil {
		e.log.Error("detect: cannot take detection over; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(retryEvery):
		}
		return
	}
	at := e.rewind
	if e.state.found {
		at = int64(e.det.Position())
	}
	if at >= 0 {
		e.group.SetOffsets(map[string]map[int32]kgo.EpochOffset{e.cfg.Topic: {0: {Epoch: -1, Offset: at}}})
	}
	e.resumed, e.rewind = true, -1
	e.detecting.Store(true)
	e.m.takeovers.Inc()
	e.log.Info("detect: this node is the detector now", "checkpoint", e.state.found, "from_offset", at,
		"checkpoint_time", e.det.Status().LastCheckpoint)
}

func (e *Elector) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts[e.cfg.Topic]) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owner, e.resumed, e.rewind = true, false, -1
	e.detecting.Store(false)
	e.m.owner.Set(1)
	e.log.Info("detect: the detection partition is assigned to this node", "group", e.cfg.Group)
}

// revoked writes a last checkpoint (committing its offset) before the
// partition goes to another member.
func (e *Elector) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts[e.cfg.Topic]) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flush()
	e.giveUp("revoked")
}

// stop writes the last checkpoint at a stop, before the client leaves
// the group.
func (e *Elector) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flush()
	e.giveUp("stopping")
}

// flush writes a checkpoint of what was processed (and commits its
// offset) if this node is the detector.
func (e *Elector) flush() {
	if !e.owner || !e.resumed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.det.Flush(ctx)
}

// lost gives the partition up without a checkpoint: another member may
// own it already.
func (e *Elector) lost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts[e.cfg.Topic]) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.giveUp("lost")
}

func (e *Elector) giveUp(why string) {
	if e.owner {
		e.log.Info("detect: the detection partition left this node", "why", why)
	}
	e.owner, e.resumed = false, false
	e.detecting.Store(false)
	e.m.owner.Set(0)
}

// Owner reports whether this node is the detector now.
func (e *Elector) Owner() bool { return e.detecting.Load() }

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

// Status is the election's state for the API.
type Status struct {
	Topic string `json:"topic"`
	Group string `json:"group"`
	// Detector is true while this node is the elected detector.
	Detector bool `json:"detector"`
}

// Status returns the election's state (safe from any goroutine).
func (e *Elector) Status() Status {
	return Status{Topic: e.cfg.Topic, Group: e.cfg.Group, Detector: e.Owner()}
}
