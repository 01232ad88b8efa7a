package kafkadetect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/store"
)

// t0 is an event time relative to now (no test depends on the calendar).
var t0 = time.Now().Add(-time.Hour).Truncate(time.Second)

// newCluster starts a kfake broker whose auto-created topics have three
// partitions (the detector must create its own with one).
func newCluster(t *testing.T) Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := Config{Brokers: c.ListenAddrs()}.WithDefaults()
	cl := client(t, cfg)
	if err := ensure(context.Background(), cl, cfg, nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func client(t *testing.T, cfg Config, more ...kgo.Opt) *kgo.Client {
	t.Helper()
	base, err := clientOpts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(base, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newStore(t *testing.T, cfg Config, chunk int) *stateStore {
	base, _ := clientOpts(cfg)
	return &stateStore{base: base, prod: client(t, cfg), topic: cfg.StateTopic, chunkSize: chunk, log: discard}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		n, size int
		want    []int
	}{
		{0, 4, []int{0}},
		{3, 4, []int{3}},
		{4, 4, []int{4}},
		{9, 4, []int{4, 4, 1}},
	} {
		var got []int
		data := bytes.Repeat([]byte("x"), tc.n)
		for _, p := range split(data, tc.size) {
			got = append(got, len(p))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("split(%d bytes, %d) = %v, want %v", tc.n, tc.size, got, tc.want)
		}
	}
}

// TestStateChunks: checkpoints larger than a record are written in
// chunks and read back whole; the last complete one wins over a later
// one whose head never came, and a damaged one counts as none.
func TestStateChunks(t *testing.T) {
	ctx := context.Background()
	cfg := newCluster(t)
	s := newStore(t, cfg, 7)
	if data, _, err := s.Load(ctx); err != nil || data != nil || s.found {
		t.Fatalf("empty topic: %q %v", data, err)
	}
	var last []byte
	for i := range 5 {
		last = []byte(strings.Repeat(fmt.Sprintf("gen%d;", i), 10+i))
		if err := s.Save(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh reader (another node) finds the last one.
	r := newStore(t, cfg, 7)
	data, at, err := r.Load(ctx)
	if err != nil || !bytes.Equal(data, last) || !r.found || at.IsZero() {
		t.Fatalf("load: %q %v (found %v), want %q", data, err, r.found, last)
	}
	// Chunks of a checkpoint whose head was never written (a crash).
	prod := client(t, cfg)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: cfg.StateTopic, Key: []byte(chunkKey(r.gen+1, 0)), Value: []byte("partial")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if data, _, err := newStore(t, cfg, 7).Load(ctx); err != nil || !bytes.Equal(data, last) {
		t.Fatalf("after a half-written checkpoint: %q %v", data, err)
	}
	// The next checkpoint after a load is a new generation.
	next := []byte(strings.Repeat("after-load;", 20))
	if err := r.Save(ctx, next); err != nil {
		t.Fatal(err)
	}
	if data, _, err := newStore(t, cfg, 7).Load(ctx); err != nil || !bytes.Equal(data, next) {
		t.Fatalf("after a load and a save: %q %v", data, err)
	}
	// A head whose checksum does not match: no checkpoint.
	bad, _ := json.Marshal(head{Gen: r.gen, Chunks: r.chunks, Size: len(next), SHA256: "00", First: 0})
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: cfg.StateTopic, Key: []byte(headKey), Value: bad}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	d := newStore(t, cfg, 7)
	if data, _, err := d.Load(ctx); err != nil || data != nil || d.found {
		t.Fatalf("damaged checkpoint: %q %v", data, err)
	}
}

const rule = "id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 2\n"

// failures are n failed logins from ip at offsets first.., one second apart.
func failures(first uint64, n int, ip string) *index.Batch {
	var seqs []uint64
	var rows []store.Row
	var raw [][]byte
	for i := range n {
		seqs = append(seqs, first+uint64(i))
		rows = append(rows, store.Row{Time: t0.Add(time.Duration(first+uint64(i)) * time.Second), Fields: []store.Field{
			{Name: "event.outcome", Value: "failure"}, {Name: "source.ip", Value: ip}}})
		raw = append(raw, []byte(fmt.Sprintf("line %d from %s", first+uint64(i), ip)))
	}
	return index.NewBatch(seqs, rows, raw, t0)
}

// detector returns a standby detector with its checkpoints and alerts in
// cfg's topics; the detection topic's end is end.
func detector(t *testing.T, cfg Config, end uint64) (*detect.Detector, *Elector) {
	t.Helper()
	e, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.prod.Close)
	opts := detect.DetectorOptions{Dir: t.TempDir(), Builtin: fstest.MapFS{"r.yaml": {Data: []byte(rule)}}, CheckpointEvery: time.Hour}
	e.Prepare(&opts)
	opts.InputEnd = func(context.Context) (uint64, error) { return end, nil }
	d, err := detect.NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, e
}

// alertsIn returns the alerts in the alerts topic.
func alertsIn(t *testing.T, cfg Config) []*alert.Alert {
	t.Helper()
	var out []*alert.Alert
	e, _ := New(cfg, nil, nil)
	defer e.prod.Close()
	if _, err := e.alert.Scan(context.Background(), 0, func(a *alert.Alert) { out = append(out, a) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(as []*alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Group+"@"+a.ID)
	}
	return out
}

// TestTakeOverRaisesNoAlertTwice: a detector that takes over loads the
// latest checkpoint, processes the events after it again and does not
// record the alerts its predecessor recorded after the checkpoint; a
// checkpoint it writes before its replay is over keeps the predecessor's
// alert position, so a third detector does not raise them either.
func TestTakeOverRaisesNoAlertTwice(t *testing.T) {
	ctx := context.Background()
	cfg := newCluster(t)

	a, ea := detector(t, cfg, 0)
	if err := ea.alert.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	a.Process(ctx, failures(0, 2, "192.0.2.1")) // checkpoint at 0 first, then an alert
	a.Process(ctx, failures(2, 2, "192.0.2.2")) // an alert after the checkpoint
	a.Process(ctx, failures(4, 1, "192.0.2.3")) // half a window
	if got := alertsIn(t, cfg); len(got) != 2 {
		t.Fatalf("first detector recorded %v", ids(got))
	}
	// a dies here without a checkpoint since the first one.

	b, eb := detector(t, cfg, 5)
	if err := eb.alert.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if !eb.state.found || b.Position() != 0 {
		t.Fatalf("takeover: checkpoint found %v at %d, want 0", eb.state.found, b.Position())
	}
	b.Process(ctx, failures(0, 2, "192.0.2.1"))
	b.Flush(ctx) // a checkpoint mid-replay (position 2)
	// b dies too.

	c, ec := detector(t, cfg, 5)
	if err := ec.alert.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Position() != 2 {
		t.Fatalf("third detector resumed at %d, want 2", c.Position())
	}
	c.Process(ctx, failures(2, 2, "192.0.2.2")) // raised again, not recorded
	c.Process(ctx, failures(4, 1, "192.0.2.3"))
	c.Process(ctx, failures(5, 1, "192.0.2.3")) // new
	got := alertsIn(t, cfg)
	seen := map[string]bool{}
	for _, al := range got {
		if seen[al.ID] {
			t.Errorf("alert %s recorded twice", al.ID)
		}
		seen[al.ID] = true
	}
	if len(got) != 3 {
		t.Fatalf("alerts %v, want one per address", ids(got))
	}
	if st := c.Status(); st.AlertsReplayed != 1 {
		t.Errorf("third detector replayed %d alerts, want 1", st.AlertsReplayed)
	}
}

// publish writes events (one failed login from ip each) to the detection
// topic as the Kafka output's json payload.
func publish(t *testing.T, cfg Config, ip string, from, n int) {
	t.Helper()
	cl := client(t, cfg)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		row := store.Row{Time: t0.Add(time.Duration(i) * time.Second), Fields: []store.Field{
			{Name: "event.outcome", Value: "failure"}, {Name: "source.ip", Value: ip}, {Name: "event.id", Value: fmt.Sprint(ip, i)}}}
		recs = append(recs, &kgo.Record{Topic: cfg.Topic, Value: eventjson.AppendRow(nil, &row),
			Headers: []kgo.RecordHeader{{Key: "vigil-raw", Value: []byte("raw line")}}})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed returns the detection group's committed offset (-1: none).
func committed(t *testing.T, cfg Config) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = cfg.Group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = cfg.Topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), client(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			return p.Offset
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runElector runs a candidate detector on cfg until the returned cancel
// is called; its Run's error comes on the channel.
func runElector(t *testing.T, cfg Config) (*detect.Detector, *Elector, context.CancelFunc, chan error) {
	t.Helper()
	e, err := New(cfg, nil, discard)
	if err != nil {
		t.Fatal(err)
	}
	opts := detect.DetectorOptions{Dir: t.TempDir(), Builtin: fstest.MapFS{"r.yaml": {Data: []byte(rule)}}, CheckpointEvery: time.Hour}
	e.Prepare(&opts)
	d, err := detect.NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, d) }()
	return d, e, cancel, done
}

// TestElectorHandsOver: the group member that owns the partition runs
// detection; when it stops it writes a checkpoint and commits the group's
// offset at the checkpoint's position, and the member that takes over
// goes on from there with the windows begun before.
func TestElectorHandsOver(t *testing.T) {
	cfg := newCluster(t)
	publish(t, cfg, "198.51.100.7", 0, 1)
	publish(t, cfg, "198.51.100.8", 1, 2) // an alert

	d1, e1, stop1, done1 := runElector(t, cfg)
	waitFor(t, "the first member to detect", func() bool { return e1.Owner() && d1.Status().Position == 3 })
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if got := committed(t, cfg); got != 3 {
		t.Fatalf("committed offset %d, want 3 (the checkpoint's position)", got)
	}
	s := newStore(t, cfg, ChunkSize)
	data, _, err := s.Load(context.Background())
	if err != nil || !bytes.HasPrefix(data, []byte("3 alerts=1\n")) {
		t.Fatalf("checkpoint %.20q %v, want position 3 with the alerts topic at 1", data, err)
	}

	publish(t, cfg, "198.51.100.7", 3, 1) // completes the first window
	d2, e2, stop2, done2 := runElector(t, cfg)
	defer func() { stop2(); <-done2 }()
	waitFor(t, "the second member to detect", func() bool { return e2.Owner() && d2.Status().Position == 4 })
	waitFor(t, "two alerts", func() bool { return len(alertsIn(t, cfg)) >= 2 })
	if got := alertsIn(t, cfg); len(got) != 2 || got[0].Group == got[1].Group {
		t.Fatalf("alerts %v, want one per address", ids(got))
	}
}
