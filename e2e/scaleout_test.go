package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// TestScaleOut is issue 16's whole picture on one machine: three nodes
// share the three partitions of a raw topic that kcat fills without keys,
// elect one detector through Kafka, write to one ClickHouse and list each
// other as search peers. The attack stream raises exactly the alerts of a
// single reference node reading the whole topic, also when a node is
// killed with SIGKILL in the middle of an attack and the others take its
// partitions over; ClickHouse holds every event sent once the killed node
// is back (distinct event ids); a search through any node finds the
// events another node ingested.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes, a broker and ClickHouse")
	}
	kcat := requireProgram(t, "kcat")
	broker := startKfake(t, "nginx") // three partitions
	var ch clickhouseServer
	ch.start(t)
	ref := startVigil(t, vigilOpts{config: fmt.Sprintf("inputs:\n  kafka:\n    - brokers: [%s]\n      topics: [nginx]\n      group: vigil-reference\n", broker)})
	names := []string{"a", "b", "c"}
	nodes, opts := startClusterWith(t, fmt.Sprintf(`inputs:
  kafka:
    - brokers: [%[1]s]
      topics: [nginx]
      group: vigil-ingest
detect:
  mode: kafka
  checkpoint_interval: 2s
  kafka:
    brokers: [%[1]s]
outputs:
  clickhouse:
    - name: ch
      address: %[2]s
`, broker, ch.addr), names...)

	now := time.Now().UTC().Add(-time.Minute).Format("02/Jan/2006:15:04:05 -0700")
	// ActiveSync requests as the original deployment's proxy logs them:
	// 401 is a failed login of the query's user.
	line := func(ip, user string, status, i int) string {
		q := fmt.Sprintf("User=%s&DeviceId=SCALE%d&DeviceType=iPhone&Cmd=Sync", user, i)
		return fmt.Sprintf(`{"source":"192.168.0.8","ip":"%s","user":"%s@corp.example","time_local":"%s","statuscode":%d,"bytes_sent":328,"http_referer":"","http_user_agent":"Apple-iPhone14C2/2006.100","request_uri":"/Microsoft-Server-ActiveSync?%s","request_time":0.01,"gzip_ration":"","query_string":"%s"}`,
			ip, user, now, status, q, q)
	}
	attack := func(ip string, from, n int, spray bool) []string {
		var out []string
		for i := from; i < from+n; i++ {
			user := "alice"
			if spray {
				user = fmt.Sprintf("user%02d", i)
			}
			out = append(out, line(ip, user, 401, i))
		}
		return out
	}
	sent := 0
	send := func(lines ...[]string) { sent += produceRandom(t, kcat, broker, "nginx", lines...) }
	alive := func() []*vigil {
		var out []*vigil
		for _, n := range names {
			if !nodes[n].exited() {
				out = append(out, nodes[n])
			}
		}
		return out
	}
	// Every node owns a partition before the attacks: benign lines until
	// each has stored some.
	for round := 0; ; round++ {
		var ok []string
		for i := range 9 {
			ok = append(ok, line("198.51.100.9", "bob", 200, round*9+i))
		}
		send(ok)
		deadline := time.Now().Add(5 * time.Second)
		all := func() bool {
			for _, v := range alive() {
				if localCount(t, v, "*") == 0 {
					return false
				}
			}
			return true
		}
		for time.Now().Before(deadline) && !all() {
			time.Sleep(250 * time.Millisecond)
		}
		if all() {
			break
		}
		if round == 30 {
			t.Fatal("the three nodes never all got partitions of the raw topic")
		}
	}
	stored := func() int {
		total := 0
		for _, v := range alive() {
			total += localCount(t, v, "*")
		}
		return total
	}

	// 1. A brute force and a spray, split over the three nodes.
	send(attack("203.0.113.51", 0, 30, false), attack("203.0.113.52", 0, 12, true))
	waitScale(t, "the nodes to ingest everything", func() bool { return stored() == sent })
	for _, n := range names {
		t.Logf("node %s ingested %d of the brute force's 30 failures", n, localCount(t, nodes[n], "source.ip:203.0.113.51"))
	}
	want := waitReference(t, ref, "203.0.113.51", "203.0.113.52")
	for _, n := range names {
		waitScale(t, "node "+n+" to show the reference's alerts", func() bool { return sameAlerts(localAlerts(t, nodes[n]), want) })
	}

	// A search through a finds what b and c ingested (fan-out).
	if got := nodesOfHits(t, nodes["a"], "source.ip:203.0.113.51"); got["b"] == 0 || got["c"] == 0 {
		t.Errorf("a search through node a found the brute force on nodes %v; want b and c too", got)
	}

	// 2. Half of a second attack, then a node that is not the detector
	// dies with its partitions; the rest of the attack goes to the two
	// others once they own them.
	send(attack("203.0.113.61", 0, 15, false), attack("203.0.113.62", 0, 6, true))
	waitScale(t, "the nodes to ingest the first half", func() bool { return stored() == sent })
	list := []*vigil{nodes["a"], nodes["b"], nodes["c"]}
	det := -1
	waitScale(t, "an elected detector", func() bool { det = detector(t, list); return det >= 0 })
	victim := names[(det+1)%3]
	t.Logf("the detector is node %s; killing node %s", names[det], victim)
	nodes[victim].kill(t)
	send(attack("203.0.113.61", 15, 15, false), attack("203.0.113.62", 6, 6, true))
	want = waitReference(t, ref, "203.0.113.51", "203.0.113.52", "203.0.113.61", "203.0.113.62")
	for _, v := range alive() {
		waitScale(t, "the survivors to show the reference's alerts", func() bool { return sameAlerts(localAlerts(t, v), want) })
	}
	checkTopic(t, kcat, broker, want)

	// 3. The killed node comes back: ClickHouse holds every event sent,
	// once by event id (the survivors re-read what it had not
	// committed; the same Kafka record has the same id on every node).
	nodes[victim] = startVigil(t, opts[victim])
	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var distinct, rows uint64
	waitScale(t, "ClickHouse to hold every event", func() bool {
		err := db.QueryRow(context.Background(), "SELECT uniqExact(event_id), count() FROM vigil.events").Scan(&distinct, &rows)
		return err == nil && distinct == uint64(sent)
	})
	t.Logf("ClickHouse: %d events sent, %d distinct event ids, %d rows (duplicates collapse in merges)", sent, distinct, rows)
	if st := nodes[victim].status(t); st == nil {
		t.Error("the restarted node has no status")
	}
}

// produceRandom produces lines to topic with kcat, without keys and
// without sticky batches: each line to a random partition. It returns
// how many lines it produced.
func produceRandom(t *testing.T, kcat, broker, topic string, lines ...[]string) int {
	t.Helper()
	var b bytes.Buffer
	n := 0
	for _, ls := range lines {
		for _, l := range ls {
			b.WriteString(l + "\n")
			n++
		}
	}
	cmd := exec.Command(kcat, "-P", "-b", broker, "-t", topic, "-X", "sticky.partitioning.linger.ms=0")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	return n
}

// localGet sends GET path to v as a peer would (the Vigil-Peer header):
// v answers from its own store only.
func localGet(t *testing.T, v *vigil, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	req.Header.Set("Vigil-Peer", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return b
}

// localCount counts the events of q in v's own store (-1 on an error).
func localCount(t *testing.T, v *vigil, q string) int {
	t.Helper()
	evs, err := parseEvents(localGet(t, v, "/api/v1/search?"+url.Values{"q": {q + " | stats count() as n"}}.Encode()))
	if err != nil || len(evs) != 1 {
		return -1
	}
	n, err := strconv.Atoi(evs[0]["n"])
	if err != nil {
		return -1
	}
	return n
}

// localAlerts counts v's own alerts by rule id and group.
func localAlerts(t *testing.T, v *vigil) map[string]int {
	t.Helper()
	evs, err := parseEvents(localGet(t, v, "/api/v1/search?"+url.Values{"q": {"*"}, "scope": {"alerts"}, "limit": {"1000"}}.Encode()))
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, e := range evs {
		out[e["rule.id"]+" "+e["alert.group"]]++
	}
	return out
}

// nodesOfHits counts the events of q by the node that holds them, as a
// search through v finds them.
func nodesOfHits(t *testing.T, v *vigil, q string) map[string]int {
	t.Helper()
	evs, err := v.search(q, searchParams{limit: 1000})
	if err != nil {
		t.Fatalf("search %q through %s: %v", q, v.httpURL, err)
	}
	out := map[string]int{}
	for _, e := range evs {
		out[e["vigil.node"]]++
	}
	return out
}
