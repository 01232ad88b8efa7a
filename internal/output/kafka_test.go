package output

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/benchenv"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
)

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestKafkaOutputOutage: the broker is down when the first records are
// journaled; once it is up every record arrives, keyed by source.ip, as
// normalized JSON.
func TestKafkaOutputOutage(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	port := freeTCPPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ru, stop := startKafkaOutput(t, j, []string{addr})
	defer stop()
	appendEvents(t, j, 0, 300)
	time.Sleep(500 * time.Millisecond) // the output waits for a broker
	if st := ru.Status(); st.Sent != 0 || st.Lag != 300 {
		t.Fatalf("status with the broker down: %+v", st)
	}
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, "vigil-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	partitionOf := map[string]int32{}
	seen := readTopic(t, []string{addr}, "vigil-events", 300, func(r *kgo.Record, ev map[string]string) {
		if string(r.Key) != ev["source.ip"] || ev["http.response.status_code"] != "401" {
			t.Fatalf("record key %q for %v", r.Key, ev)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != EventIDHeader || string(r.Headers[0].Value) != ev["event.id"] || len(ev["event.id"]) != parse.EventIDLen {
			t.Fatalf("record headers %v for event %s", r.Headers, ev["event.id"])
		}
		if p, ok := partitionOf[string(r.Key)]; ok && p != r.Partition {
			t.Errorf("source %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partitionOf[string(r.Key)] = r.Partition
	})
	if len(seen) != 300 {
		t.Fatalf("%d of 300 events arrived", len(seen))
	}
}

// startKafkaOutput runs a Kafka output from j to the topic vigil-events
// until the returned stop is called (before j is closed).
func startKafkaOutput(t *testing.T, j *journal.Journal, brokers []string) (ru *Runner, stop func()) {
	t.Helper()
	cfg := KafkaConfig{Name: "events", Brokers: brokers, Topic: "vigil-events"}
	snd, err := NewKafka(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ru, err = NewRunner(j, cfg.Name, "kafka", snd.Target(), snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ru, runInBackground(ru)
}

// appendEvents journals n nginx JSON events numbered from (field "n"),
// with three source addresses, all of them HTTP 401.
func appendEvents(t *testing.T, j *journal.Journal, from, n int) {
	t.Helper()
	recs := make([]journal.Record, n)
	for i := range recs {
		recs[i] = journal.Record{Time: time.Now(), Input: "syslog",
			Data: []byte(fmt.Sprintf(`{"ip":"203.0.113.%d","statuscode":401,"request_uri":"/owa/auth.owa","n":%d}`, i%3, from+i))}
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkKafkaOutput: normalized events through the runner into a
// broker, per event. The broker is in-process (sharing the CPUs and the Go
// runtime) unless VIGIL_BENCH_KAFKA names one (host:port, such as a
// cmd/vigil-kfake process: scripts/bench-kafka-output.sh); the topic is then
// VIGIL_BENCH_KAFKA_TOPIC, default "bench".
func BenchmarkKafkaOutput(b *testing.B) {
	brokers, topic := []string{os.Getenv("VIGIL_BENCH_KAFKA")}, cmp.Or(os.Getenv("VIGIL_BENCH_KAFKA_TOPIC"), "bench")
	if brokers[0] == "" {
		c, err := kfake.NewCluster(kfake.SeedTopics(3, topic))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		brokers = c.ListenAddrs()
	}
	snd, err := NewKafka(KafkaConfig{Name: "bench", Brokers: brokers, Topic: topic}, parse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchRunner(b, "kafka", snd.Target(), snd)
}

// benchRunner journals b.N nginx access-log lines, then times a runner
// delivering them all through snd.
func benchRunner(b *testing.B, kind, target string, snd Sender) {
	j, err := journal.Open(b.TempDir(), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ru, err := NewRunner(j, "bench", kind, target, snd, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]journal.Record, 0, 1024)
	for i := range b.N {
		recs = append(recs, journal.Record{Time: time.Now(), Input: "syslog", Data: []byte(fmt.Sprintf(
			`<190>Nov 28 10:00:00 proxy1 nginx: {"source":"192.168.0.8", "ip":"203.0.113.%d","user":"user%d@corp.example","time_local":"28/Nov/2026:10:00:00 +0000","statuscode":200,"bytes_sent":512,"http_referer":"","http_user_agent":"Mozilla/5.0","request_uri":"/owa/service.svc?action=GetItem","request_time":0.01,"gzip_ration":"","query_string":"action=GetItem"}`, i%250, i%5000))})
		if len(recs) == cap(recs) || i == b.N-1 {
			if err := j.Append(recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	cpu0 := benchenv.CPUTime()
	b.ResetTimer()
	stop := runInBackground(ru)
	for ru.Status().Sent < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(benchenv.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	stop()
}

// TestKafkaOutputTopicRecreated deletes the output's topic, and creates it
// again or lets the output's client create it: the client fails the old
// topic's records with UNKNOWN_TOPIC_ID until it forgets the old topic, and
// the output then delivers everything journaled since to the new topic.
func TestKafkaOutputTopicRecreated(t *testing.T) {
	for _, recreate := range []bool{true, false} {
		name := "re-created"
		if !recreate {
			name = "deleted"
		}
		t.Run(name, func(t *testing.T) {
			j, err := journal.Open(t.TempDir(), journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "vigil-events"),
				kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(2))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ru, stop := startKafkaOutput(t, j, c.ListenAddrs())
			defer stop()
			appendEvents(t, j, 0, 100)
			if got := readTopic(t, c.ListenAddrs(), "vigil-events", 100, nil); len(got) != 100 {
				t.Fatalf("%d of 100 events in the topic", len(got))
			}

			if err := c.DeleteTopic("vigil-events"); err != nil {
				t.Fatal(err)
			}
			if recreate {
				if err := c.CreateTopic("vigil-events", 2, nil); err != nil {
					t.Fatal(err)
				}
			}
			appendEvents(t, j, 100, 100)
			got := readTopic(t, c.ListenAddrs(), "vigil-events", 100, nil)
			for n := 100; n < 200; n++ {
				if !got[n] {
					t.Fatalf("event %d missing from the new topic (%d of 100 there)", n, len(got))
				}
			}
			if st := ru.Status(); st.Errors == 0 || !strings.Contains(st.LastError, "re-created") {
				t.Errorf("status after the re-creation: errors %d, last error %q", st.Errors, st.LastError)
			}
		})
	}
}

// readTopic reads topic from its start until it has want distinct events
// (their "n") or a generous deadline passed, and returns them. check, if
// not nil, is called with every record and its event.
func readTopic(t *testing.T, brokers []string, topic string, want int, check func(*kgo.Record, map[string]string)) map[int]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int]bool{}
	for deadline := time.Now().Add(60 * time.Second); len(seen) < want && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var ev map[string]string
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("value %q: %v", r.Value, err)
			}
			n, _ := strconv.Atoi(ev["n"])
			seen[n] = true
			if check != nil {
				check(r, ev)
			}
		})
	}
	return seen
}

// TestKafkaOutputRefusedBatches: the broker refuses two produce requests
// (the first and the fourth) while other batches are in flight; the runner sends again from the first
// record not acknowledged, so every event arrives, and the cursor ends past
// them all.
func TestKafkaOutputRefusedBatches(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "vigil-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var produces atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		// The first request is refused whatever the load (records
		// gather into fewer, larger requests on a busy machine), and a
		// later one too when there are enough.
		if n := produces.Add(1); n != 1 && n != 4 {
			return nil, nil, false
		}
		return refuseProduce(req.(*kmsg.ProduceRequest)), nil, true
	})
	cfg := KafkaConfig{Name: "events", Brokers: c.ListenAddrs(), Topic: "vigil-events"}
	snd, err := NewKafka(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*kafkaBatch + 1000 // three batches
	appendEvents(t, j, 0, n)
	ru := runUntilSent(t, j, cfg.Name, snd, n)
	got := readTopic(t, c.ListenAddrs(), "vigil-events", n, nil)
	if len(got) != n {
		t.Fatalf("%d of %d events in the topic", len(got), n)
	}
	if st := ru.Status(); st.Sent != n || st.Position != n+1 || st.Errors == 0 {
		t.Fatalf("status: sent %d position %d errors %d, want %d, %d and some errors", st.Sent, st.Position, st.Errors, n, n+1)
	}
}

// refuseProduce answers a produce request with a non-retriable error for
// every partition.
func refuseProduce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.InvalidRecord.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// TestKafkaAlertsTopic: an output's alerts_topic gets the alert journal's
// alerts as they are (the alert JSON), keyed by alert.id.
func TestKafkaAlertsTopic(t *testing.T) {
	aj, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer aj.Close()
	c, err := kfake.NewCluster(kfake.SeedTopics(1, "vigil-alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]string{}
	var recs []journal.Record
	for i := range 5 {
		a := &alert.Alert{ID: fmt.Sprintf("id%d", i), RuleID: "brute-force-source", Level: alert.LevelHigh, TS: time.Now(), SrcIP: "203.0.113.9"}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, journal.Record{Input: "alert", Data: b})
		want[a.ID] = string(b)
	}
	if err := aj.Append(recs); err != nil {
		t.Fatal(err)
	}
	snd, err := NewKafkaAlerts(KafkaConfig{Name: "k", Brokers: c.ListenAddrs(), Topic: "vigil-events", AlertsTopic: "vigil-alerts"})
	if err != nil {
		t.Fatal(err)
	}
	ru, err := NewRunner(aj, "k-alerts", "kafka", snd.Target(), snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(ru)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("vigil-alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]string{}
	for deadline := time.Now().Add(30 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
		cancel()
	}
	if len(got) != len(want) {
		t.Fatalf("%d of %d alerts arrived", len(got), len(want))
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("alert %s: record %q, want %q", id, got[id], v)
		}
	}
}

// TestKafkaDetectHeaders: a record published for detection carries its
// event id, its original record and its source: the origin of a Kafka
// record, the journal and sequence number of any other.
func TestKafkaDetectHeaders(t *testing.T) {
	k, err := NewKafkaDetect(KafkaConfig{Name: "detect-kafka", Brokers: []string{"127.0.0.1:1"}, Topic: "vigil-detect"},
		parse.Options{JournalID: 0xabc})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	recs := []journal.Record{
		{Seq: 41, Time: time.Now(), Input: "syslog", Data: []byte("<13>Jan  2 03:04:05 host app: one")},
		{Seq: 42, Time: time.Now(), Input: "kafka", Data: []byte("<13>Jan  2 03:04:05 host app: two"),
			Origin: []byte("kafka:raw-logs/2/1234@1700000000000")},
	}
	want := []string{"journal:0000000000000abc/41", "kafka:raw-logs/2/1234@1700000000000"}
	b := k.buffer(len(recs))
	k.encode(b, recs)
	for i, r := range b.recs {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if len(r.Headers) != 3 || h[SourceHeader] != want[i] || h[RawHeader] != string(recs[i].Data) || len(h[EventIDHeader]) != parse.EventIDLen {
			t.Errorf("record %d: headers %q, want source %q", i, h, want[i])
		}
	}
}
