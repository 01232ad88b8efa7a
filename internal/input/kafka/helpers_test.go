package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/vigil-soc/vigil/internal/journal"
)

// newCluster starts a one-broker kfake cluster with the given topics, each
// with parts partitions, and returns its address.
func newCluster(tb testing.TB, parts int32, topics ...string) (*kfake.Cluster, string) {
	tb.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(parts)),
		kfake.SeedTopics(parts, topics...),
	)
	if err != nil {
		tb.Fatalf("start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// produce writes values to topic, spread over its partitions, and waits
// until the broker has them all.
func produce(tb testing.TB, addr, topic string, values [][]byte) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	const chunk = 5000
	for len(values) > 0 {
		n := min(chunk, len(values))
		recs := make([]*kgo.Record, n)
		for i, v := range values[:n] {
			recs[i] = &kgo.Record{Topic: topic, Value: v}
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			tb.Fatalf("produce: %v", err)
		}
		values = values[n:]
	}
}

// lines returns n distinct values "prefix-i".
func lines(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(prefix + "-" + strconv.Itoa(i))
	}
	return out
}

// memAppender keeps appended records in memory. Fail, if set, is called
// before each append (without the lock held) with the call number and the
// records stored so far, and may make the append fail or hold it up.
type memAppender struct {
	mu    sync.Mutex
	recs  []journal.Record
	calls int
	fail  func(call, stored int) error
}

func (a *memAppender) Append(recs []journal.Record) error {
	a.mu.Lock()
	a.calls++
	call, n := a.calls, len(a.recs)
	a.mu.Unlock()
	if a.fail != nil {
		if err := a.fail(call, n); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range recs {
		r.Data = append([]byte(nil), r.Data...)
		r.Origin = append([]byte(nil), r.Origin...) // the input reuses its memory
		r.Seq = uint64(len(a.recs))
		a.recs = append(a.recs, r)
	}
	return nil
}

func (a *memAppender) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.recs)
}

// counts returns how often each value was appended.
func (a *memAppender) counts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.recs))
	for _, r := range a.recs {
		m[string(r.Data)]++
	}
	return m
}

// waitFor polls cond every 10 ms until it holds or a generous deadline
// passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runInput starts in.Run and returns a function that stops it and returns
// Run's error.
func runInput(tb testing.TB, in *Input) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- in.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				err = errors.New("Run did not return within 60s of cancel")
			}
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// committed returns the group's committed offsets of topic, by partition.
func committed(tb testing.TB, addr, group, topic string) map[int32]int64 {
	tb.Helper()
	// OffsetFetch v8+ changes shape; stay on the v0-v7 one.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int32]int64{}
	err = offsetFetch(ctx, cl, group, topic, out)
	if err != nil {
		tb.Fatalf("offset fetch: %v", err)
	}
	return out
}

// sum adds the offsets of m.
func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		if v > 0 {
			s += v
		}
	}
	return s
}

// describe lists what a value-count map lacks or has twice, for messages.
func describe(want [][]byte, got map[string]int) string {
	var missing, dup []string
	for _, v := range want {
		switch n := got[string(v)]; {
		case n == 0:
			missing = append(missing, string(v))
		case n > 1:
			dup = append(dup, fmt.Sprintf("%s x%d", v, n))
		}
	}
	cut := func(s []string) string {
		if len(s) > 10 {
			return strings.Join(s[:10], ", ") + fmt.Sprintf(" ... (%d)", len(s))
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("missing [%s], duplicated [%s]", cut(missing), cut(dup))
}

// offsetFetch reads the committed offsets of group for topic into out.
// The client must speak OffsetFetch v7 at most (see committed).
func offsetFetch(ctx context.Context, cl *kgo.Client, group, topic string, out map[int32]int64) error {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.Topics = nil // all topics
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, t := range resp.Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
			out[p.Partition] = p.Offset
		}
	}
	return nil
}
