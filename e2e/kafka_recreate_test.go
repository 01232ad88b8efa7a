package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaTopicRecreated: the topics of the Kafka input and of the Kafka
// output are deleted and created again under the same names (new topic
// ids) while Vigil runs. Without a restart, the input reads what kcat
// writes into the new input topic, and the output delivers those events to
// the new output topic; the input counts the re-creation once.
func TestKafkaTopicRecreated(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	broker := startKfake(t, "nginx,vigil-events")
	cfg := fmt.Sprintf(`inputs:
  kafka:
    - brokers: [%s]
      topics: [nginx]
detect:
  enabled: false
outputs:
  kafka:
    - name: events
      brokers: [%s]
      topic: vigil-events
`, broker, broker)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(t.TempDir(), "data"), syslogPort: -1, config: cfg})

	now := time.Now().UTC().Add(-time.Minute)
	ship := func(ip, user string, n int) {
		t.Helper()
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{"ip":"%s","user":"%s%d@corp.example","time_local":"%s","statuscode":200,"bytes_sent":512,"http_user_agent":"Mozilla/5.0","request_uri":"/owa/","request_time":0.01}`+"\n",
				ip, user, i, now.Format("02/Jan/2006:15:04:05 -0700"))
		}
		p := exec.Command(kcat, "-P", "-b", broker, "-t", "nginx")
		p.Stdin = strings.NewReader(b.String())
		if out, err := p.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v: %s", err, out)
		}
	}
	ship("203.0.113.120", "before", 100)
	v.waitEvents(t, "vigil.input:kafka source.ip:203.0.113.120", 100)
	waitTopicUsers(t, kcat, broker, "vigil-events", "before", 100)

	recreateTopics(t, broker, 3, "nginx", "vigil-events")
	ship("203.0.113.121", "after", 100)
	// The input notices a re-created topic it is idle on after the
	// client's own retries (about 12 s).
	deadline := time.Now().Add(4 * waitTimeout)
	for {
		n, err := v.count("vigil.input:kafka source.ip:203.0.113.121")
		if err == nil && n == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 100 events written to the re-created topic are searchable (err %v)", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitTopicUsers(t, kcat, broker, "vigil-events", "after", 100)

	st := v.status(t)
	ins, _ := st["kafka"].([]any)
	if len(ins) != 1 {
		t.Fatalf("status lists %d Kafka inputs: %v", len(ins), st["kafka"])
	}
	if in, _ := ins[0].(map[string]any); in["topics_recreated"] != 1.0 {
		t.Errorf("status of the Kafka input: %v, want topics_recreated 1", in)
	}
	if m := v.metrics(t); m["vigil_input_kafka_topic_recreated_total"] != 1 {
		t.Errorf("vigil_input_kafka_topic_recreated_total = %v, want 1", m["vigil_input_kafka_topic_recreated_total"])
	}
	if n, err := v.count("vigil.input:kafka"); err != nil || n != 200 {
		t.Errorf("%d events from Kafka (err %v), want 200", n, err)
	}
}

// recreateTopics deletes topics and creates them again with parts
// partitions each, as an operator would with kafka-topics.sh.
func recreateTopics(t *testing.T, broker string, parts int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	del := kmsg.NewPtrDeleteTopicsRequest()
	for _, topic := range topics {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		del.Topics = append(del.Topics, rt)
		del.TopicNames = append(del.TopicNames, topic) // before v6
	}
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	for _, rt := range dresp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			t.Fatalf("delete topic %v: %v", rt.Topic, err)
		}
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	for _, topic := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, 1
		create.Topics = append(create.Topics, rt)
	}
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, rt := range cresp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			t.Fatalf("create topic %s: %v", rt.Topic, err)
		}
	}
}

// waitTopicUsers reads topic with kcat -C until it holds the events of n
// users named prefix0 to prefixN-1.
func waitTopicUsers(t *testing.T, kcat, broker, topic, prefix string, n int) {
	t.Helper()
	seen := map[string]bool{}
	for deadline := time.Now().Add(4 * waitTimeout); len(seen) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s holds %d of the %d %s... events", topic, len(seen), n, prefix)
		}
		time.Sleep(200 * time.Millisecond)
		out, _ := exec.Command(kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q").Output()
		for l := range strings.SplitSeq(string(out), "\n") {
			var ev map[string]string
			if json.Unmarshal([]byte(l), &ev) == nil && strings.HasPrefix(ev["user.name"], prefix) {
				seen[ev["user.name"]] = true
			}
		}
	}
}
