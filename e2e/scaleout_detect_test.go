package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// scaleTimeout bounds the waits of the scale-out test: a node killed with
// SIGKILL keeps its Kafka partitions until the groups' session timeouts
// (10 s for the detection group, 45 s for the Kafka input's) end.
const scaleTimeout = 3 * time.Minute

// TestScaleOutDetection: two nodes share the partitions of a raw topic
// that kcat fills without keys (random partitions), so each node ingests
// part of every attack. With detect.mode kafka, one of them, elected
// through Kafka, detects on both nodes' events: exactly the alerts that a
// single node reading the whole topic raises (same rules and groups,
// none missing, none twice), on both nodes' consoles. Events published
// a second time to the detection topic (with their headers, as a retry
// would) are dropped and counted, and raise no alert. Then the detector
// node is killed with SIGKILL in the middle of a second attack: the other
// node takes detection over from the last checkpoint (written when
// detection began: checkpoint_interval is 1h), replays the events after
// it without raising the first attack's alerts again, and completes the
// windows begun before the kill.
func TestScaleOutDetection(t *testing.T) {
	kcat := requireProgram(t, "kcat")
	broker := startKfake(t, "nginx")
	node := fmt.Sprintf(`inputs:
  kafka:
    - brokers: [%[1]s]
      topics: [nginx]
      group: vigil-ingest
detect:
  mode: kafka
  checkpoint_interval: 1h
  kafka:
    brokers: [%[1]s]
`, broker)
	ref := startVigil(t, vigilOpts{config: fmt.Sprintf("inputs:\n  kafka:\n    - brokers: [%s]\n      topics: [nginx]\n      group: vigil-reference\n", broker)})
	nodes := []*vigil{startVigil(t, vigilOpts{config: node}), startVigil(t, vigilOpts{config: node})}

	now := time.Now().UTC().Add(-time.Minute).Format("02/Jan/2006:15:04:05 -0700")
	line := func(ip, user string, i int) string {
		return fmt.Sprintf(`{"source":"192.168.0.8","ip":"%s","user":"%s@corp.example","time_local":"%s","statuscode":401,"bytes_sent":328,"http_referer":"","http_user_agent":"Apple-iPhone14C2/2006.100","request_uri":"/Microsoft-Server-ActiveSync?User=%s&DeviceId=SCALE%d&DeviceType=iPhone&Cmd=Sync","request_time":0.01,"gzip_ration":"","query_string":"User=%s&DeviceId=SCALE%d&DeviceType=iPhone&Cmd=Sync"}`,
			ip, user, now, user, i, user, i)
	}
	// bruteForce is n failures for one account from ip; spray one
	// failure for each of n accounts.
	bruteForce := func(ip string, from, n int) []string {
		var out []string
		for i := from; i < from+n; i++ {
			out = append(out, line(ip, "alice", i))
		}
		return out
	}
	spray := func(ip string, from, n int) []string {
		var out []string
		for i := from; i < from+n; i++ {
			out = append(out, line(ip, fmt.Sprintf("user%02d", i), i))
		}
		return out
	}
	sent := 0
	send := func(lines ...[]string) { sent += produceRandom(t, kcat, broker, "nginx", lines...) }

	// Both nodes own partitions of the raw topic before the attacks:
	// benign lines until each has stored some.
	for round := 0; ; round++ {
		var ok []string
		for i := range 6 {
			ok = append(ok, strings.Replace(line("198.51.100.9", "bob", round*6+i), `"statuscode":401`, `"statuscode":200`, 1))
		}
		send(ok)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !(stored(nodes[0]) > 0 && stored(nodes[1]) > 0) {
			time.Sleep(250 * time.Millisecond)
		}
		if stored(nodes[0]) > 0 && stored(nodes[1]) > 0 {
			break
		}
		if round == 30 {
			t.Fatal("the two nodes never both got partitions of the raw topic")
		}
	}

	// 1. A brute force (30 failures) and a spray (12 accounts).
	send(bruteForce("203.0.113.31", 0, 30), spray("203.0.113.32", 0, 12))
	waitScale(t, "the reference node to ingest everything", func() bool { n, _ := ref.count("*"); return n == sent })
	waitScale(t, "the nodes to ingest everything", func() bool { return ingested(nodes) == sent })
	for i, v := range nodes {
		n, _ := v.count("source.ip:203.0.113.31")
		t.Logf("node %d ingested %d of the 30 failures of the brute force", i, n)
	}
	want := waitReference(t, ref, "203.0.113.31", "203.0.113.32")
	for i, v := range nodes {
		waitScale(t, fmt.Sprintf("node %d to show the reference's alerts", i), func() bool { return sameAlerts(alertsOf(t, v), want) })
	}
	checkTopic(t, kcat, broker, want)

	// 1b. 12 failures from one address (under the brute force's 20),
	// then the same 12 events published again, with their headers, as a
	// node's output retry or a re-read raw partition would: the detector
	// drops the copies (counted) and raises no alert the reference does
	// not.
	send(bruteForce("203.0.113.51", 0, 12))
	waitScale(t, "the nodes to ingest the 12 failures", func() bool { return ingested(nodes) == sent })
	det0 := -1
	waitScale(t, "the detector to process them", func() bool {
		det0 = detector(t, nodes)
		return det0 >= 0 && detectPosition(t, nodes[det0]) == published(t, nodes)
	})
	copies := republish(t, kcat, broker, "203.0.113.51")
	if copies != 12 {
		t.Fatalf("republished %d events of 203.0.113.51, want 12", copies)
	}
	waitScale(t, "the detector to process the copies", func() bool {
		return detectPosition(t, nodes[det0]) == published(t, nodes)+copies
	})
	if got := nodes[det0].metrics(t)["vigil_detect_kafka_duplicate_events_total"]; got != float64(copies) {
		t.Errorf("vigil_detect_kafka_duplicate_events_total = %v, want %d", got, copies)
	}
	waitScale(t, "the reference node to ingest everything", func() bool { n, _ := ref.count("*"); return n == sent })
	if got := alertsOf(t, nodes[det0]); !sameAlerts(got, want) {
		t.Errorf("after the copies the detector has the alerts %v, want the reference's %v", got, want)
	}

	// 2. Half of a second attack, then the detector dies.
	send(bruteForce("203.0.113.41", 0, 15), spray("203.0.113.42", 0, 6))
	waitScale(t, "the nodes to ingest the first half", func() bool { return ingested(nodes) == sent })
	det := -1
	waitScale(t, "the detector to process the first half", func() bool {
		det = detector(t, nodes)
		return det >= 0 && detectPosition(t, nodes[det]) == published(t, nodes)+copies
	})
	t.Logf("killing node %d, the detector", det)
	nodes[det].kill(t)
	survivor := nodes[1-det]
	send(bruteForce("203.0.113.41", 15, 15), spray("203.0.113.42", 6, 6))
	want = waitReference(t, ref, "203.0.113.31", "203.0.113.32", "203.0.113.41", "203.0.113.42")
	waitScale(t, "the survivor to take detection over and show the reference's alerts", func() bool {
		return sameAlerts(alertsOf(t, survivor), want)
	})
	if st := survivor.status(t); !detectorOf(st) {
		t.Errorf("the survivor is not the detector: %v", st["detect"])
	}
	if got := survivor.metrics(t)["vigil_detect_alerts_replayed_total"]; got < 2 {
		t.Errorf("vigil_detect_alerts_replayed_total = %v: the takeover should have replayed the first attack's alerts (and not recorded them)", got)
	}
	checkTopic(t, kcat, broker, want)
}

func waitScale(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(scaleTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", scaleTimeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stored returns the events a node stored (0 on an error).
func stored(v *vigil) int {
	n, _ := v.count("*")
	return n
}

// ingested returns the events the running nodes stored.
func ingested(nodes []*vigil) int {
	total := 0
	for _, v := range nodes {
		if v.exited() {
			continue
		}
		n, err := v.count("*")
		if err != nil {
			return -1
		}
		total += n
	}
	return total
}

// waitReference waits until the reference node has raised
// brute-force-source or password-spraying for each address and has
// processed everything it stored, and returns its alerts.
func waitReference(t *testing.T, ref *vigil, ips ...string) map[string]int {
	t.Helper()
	var got map[string]int
	waitScale(t, "the reference node's alerts", func() bool {
		got = alertsOf(t, ref)
		for _, ip := range ips {
			if got["brute-force-source source.ip="+ip]+got["password-spraying source.ip="+ip] == 0 {
				return false
			}
		}
		return true
	})
	// Alerts raised together with those (brute-force-account with the
	// second brute force) may not have been searchable yet: read again
	// once the reference's detector and alert store writer have caught up
	// (the writer's position counts searchable alerts only).
	waitDetectorCaughtUp(t, ref)
	got = alertsOf(t, ref)
	t.Logf("reference alerts: %v", got)
	return got
}

// alertsOf counts a node's alerts by rule id and group.
func alertsOf(t *testing.T, v *vigil) map[string]int {
	t.Helper()
	evs, err := v.search("*", searchParams{scope: "alerts", limit: 1000})
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, e := range evs {
		out[e["rule.id"]+" "+e["alert.group"]]++
	}
	return out
}

func sameAlerts(got, want map[string]int) bool { return maps.Equal(got, want) }

// checkTopic reads the detection alerts topic: every alert id once, and
// the rules and groups of the reference.
func checkTopic(t *testing.T, kcat, broker string, want map[string]int) {
	t.Helper()
	out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-detect-alerts", "-e", "-q", "-f", "%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	ids := map[string]bool{}
	got := map[string]int{}
	for l := range strings.Lines(string(out)) {
		var a struct {
			ID    string `json:"alert.id"`
			Rule  string `json:"rule.id"`
			Group string `json:"alert.group"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alerts topic: %v: %q", err, l)
		}
		if ids[a.ID] {
			t.Errorf("alert %s (%s %s) is in the alerts topic twice", a.ID, a.Rule, a.Group)
		}
		ids[a.ID] = true
		got[a.Rule+" "+a.Group]++
	}
	if !maps.Equal(got, want) {
		keys := slices.Sorted(maps.Keys(got))
		t.Errorf("alerts topic holds %v (%v), want the reference's %v", got, keys, want)
	}
}

// republish produces the records of the detection topic whose event has
// source.ip ip again, with their key and headers (vigil-event-id,
// vigil-raw, vigil-source), and returns how many.
func republish(t *testing.T, kcat, broker, ip string) int {
	t.Helper()
	out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "vigil-detect", "-e", "-q", "-J").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	n := 0
	for l := range strings.Lines(string(out)) {
		var r struct {
			Key     *string         `json:"key"`
			Payload string          `json:"payload"`
			Headers json.RawMessage `json:"headers"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("detection topic: %v: %q", err, l)
		}
		var ev map[string]any
		if json.Unmarshal([]byte(r.Payload), &ev) != nil || ev["source.ip"] != ip {
			continue
		}
		// kcat writes the headers as an array of names and values.
		var kv []string
		if err := json.Unmarshal(r.Headers, &kv); err != nil || len(kv)%2 != 0 {
			t.Fatalf("detection topic: headers %s: %v", r.Headers, err)
		}
		args := []string{"-P", "-b", broker, "-t", "vigil-detect"}
		for i := 0; i < len(kv); i += 2 {
			args = append(args, "-H", kv[i]+"="+kv[i+1])
		}
		if r.Key != nil {
			args = append(args, "-K", "\t")
		}
		cmd := exec.Command(kcat, args...)
		in := r.Payload
		if r.Key != nil {
			in = *r.Key + "\t" + in
		}
		cmd.Stdin = strings.NewReader(in + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v: %s", err, out)
		}
		n++
	}
	return n
}

// detector returns the index of the node that is the detector now, or -1.
func detector(t *testing.T, nodes []*vigil) int {
	t.Helper()
	for i, v := range nodes {
		if !v.exited() && detectorOf(v.status(t)) {
			return i
		}
	}
	return -1
}

func detectorOf(st map[string]any) bool {
	d, _ := st["detect"].(map[string]any)
	k, _ := d["kafka"].(map[string]any)
	b, _ := k["detector"].(bool)
	return b
}

// detectPosition is the detector's next offset of the detection topic.
func detectPosition(t *testing.T, v *vigil) int {
	t.Helper()
	d, _ := v.status(t)["detect"].(map[string]any)
	e, _ := d["engine"].(map[string]any)
	p, _ := e["position"].(float64)
	return int(p)
}

// published returns the events the nodes published for detection.
func published(t *testing.T, nodes []*vigil) int {
	t.Helper()
	total := 0
	for _, v := range nodes {
		if !v.exited() {
			total += int(v.metrics(t)[`vigil_output_records_total{output="detect-kafka"}`])
		}
	}
	return total
}
