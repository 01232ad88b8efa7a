package output

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
	cfg := KafkaConfig{Name: "events", Brokers: []string{addr}, Topic: "vigil-events"}
	snd, err := NewKafka(cfg, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ru, err := NewRunner(j, cfg.Name, "kafka", snd.Target(), snd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer runInBackground(ru)()

	var recs []journal.Record
	for i := range 300 {
		recs = append(recs, journal.Record{Time: time.Now(), Input: "syslog",
			Data: []byte(fmt.Sprintf(`{"ip":"203.0.113.%d","statuscode":401,"request_uri":"/owa/auth.owa","n":%d}`, i%3, i))})
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the output waits for a broker
	if st := ru.Status(); st.Sent != 0 || st.Lag != 300 {
		t.Fatalf("status with the broker down: %+v", st)
	}
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, "vigil-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("vigil-events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int]bool{}
	partitionOf := map[string]int32{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 300 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			var ev map[string]string
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("value %q: %v", r.Value, err)
			}
			n, _ := strconv.Atoi(ev["n"])
			seen[n] = true
			if string(r.Key) != ev["source.ip"] || ev["http.response.status_code"] != "401" {
				t.Fatalf("record key %q for %v", r.Key, ev)
			}
			if p, ok := partitionOf[string(r.Key)]; ok && p != r.Partition {
				t.Errorf("source %s in partitions %d and %d", r.Key, p, r.Partition)
			}
			partitionOf[string(r.Key)] = r.Partition
		})
	}
	if len(seen) != 300 {
		t.Fatalf("%d of 300 events arrived", len(seen))
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
	cpu0 := cpuTime(b)
	b.ResetTimer()
	stop := runInBackground(ru)
	for ru.Status().Sent < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	stop()
}

// cpuTime is the CPU time the process has used (user and system), in
// nanoseconds: the runner's, the client's and an in-process broker's.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
