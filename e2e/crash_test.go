package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash tests check the journal's promise: after kill -9 and a restart,
// every record the journal holds is indexed exactly once, and nothing else.

// streamer sends numbered messages over one TCP connection at a steady rate
// until stopped or until the connection breaks.
type streamer struct {
	run  string
	stop chan struct{}
	wg   sync.WaitGroup
	sent int   // valid after wait
	err  error // the write error that ended it, if any
}

// crashMsg is the text of message n of a run.
func crashMsg(run string, n int) string {
	return rfc5424(14, "crashhost", "crashapp", fmt.Sprintf("crashtest run=%s seq=%d end", run, n))
}

var crashRE = regexp.MustCompile(`crashtest run=(\w+) seq=(\d+) end$`)

// crashKey returns "run/seq" of a whole crash test message. Any other
// record (only the streamer sends to a crash test's server, so it is a
// message cut short when the server closed the connection mid-line at
// shutdown) is keyed by its journal seq as "partial@SEQ".
func crashKey(msg, journalSeq string) string {
	m := crashRE.FindStringSubmatch(msg)
	if m == nil {
		return "partial@" + journalSeq
	}
	return m[1] + "/" + m[2]
}

// startStream starts sending run's messages to addr: batches of batch
// messages every 5 ms (batch*200 messages a second).
func startStream(t *testing.T, addr, run string, batch int) *streamer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	s := &streamer{run: run, stop: make(chan struct{})}
	s.wg.Go(func() {
		defer c.Close()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var buf []byte
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			buf = buf[:0]
			for range batch {
				buf = append(buf, crashMsg(run, s.sent)...)
				buf = append(buf, '\n')
				s.sent++
			}
			if _, err := c.Write(buf); err != nil {
				s.err = err
				return
			}
		}
	})
	return s
}

// wait stops the streamer and returns how many messages it tried to send.
func (s *streamer) wait() int {
	close(s.stop)
	s.wg.Wait()
	return s.sent
}

// journalRecord is one line of `vigil journal cat --json`.
type journalRecord struct {
	Time      string `json:"received"`
	Seq       string `json:"seq"`
	Input     string `json:"input"`
	Peer      string `json:"peer"`
	Truncated string `json:"truncated"`
	Data      string `json:"data"`
}

// journalCrashRecords runs `vigil journal cat --json` on a stopped server's
// data directory and returns the journal seq of each crash test message by
// its key. It fails on a message that is in the journal twice, and checks
// that each run's messages form a gap-free prefix of what was sent (TCP is
// ordered; the input appends in order).
func journalCrashRecords(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	out, stderr, code := runVigil(t, "journal", "cat", "--data", dataDir, "--json")
	if code != 0 {
		t.Fatalf("vigil journal cat: exit %d: %s", code, stderr)
	}
	keys := map[string]string{}
	maxSeq := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r journalRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("journal cat --json line is not JSON: %v: %.300q", err, sc.Bytes())
		}
		k := crashKey(r.Data, r.Seq)
		if strings.HasPrefix(k, "partial@") {
			t.Logf("the journal holds a partial message (seq %s, truncated %s): %q", r.Seq, r.Truncated, r.Data)
			keys[k] = r.Seq
			continue
		}
		if r.Input != "syslog" || r.Truncated != "false" || !strings.HasPrefix(r.Peer, "127.0.0.1:") {
			t.Errorf("journal record %+v: want input syslog, truncated false, a 127.0.0.1 peer", r)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Errorf("journal record received %q: %v", r.Time, err)
		}
		if prev, dup := keys[k]; dup {
			t.Errorf("message %s is in the journal twice (seq %s and %s)", k, prev, r.Seq)
		}
		keys[k] = r.Seq
		run, n, _ := strings.Cut(k, "/")
		i, _ := strconv.Atoi(n)
		maxSeq[run] = max(maxSeq[run], i+1)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for run, n := range maxSeq {
		for i := range n {
			if _, ok := keys[run+"/"+strconv.Itoa(i)]; !ok {
				t.Errorf("journal has run %s up to seq=%d but not seq=%d", run, n-1, i)
			}
		}
	}
	return keys
}

// waitIndexed polls until the indexer has reached the journal's end and
// the store holds as many events as the journal. When it holds more (a
// duplicate), it waits for the count to settle and leaves the details to
// checkExactlyOnce.
func waitIndexed(t *testing.T, v *vigil, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last, stable := -1, 0
	for {
		n, err := v.count("*")
		lag := -1.0
		if idx, ok := v.status(t)["index"].(map[string]any); ok {
			lag, _ = idx["lag_records"].(float64)
		}
		if err == nil && lag == 0 {
			if n == want {
				return
			}
			if n > want {
				if n == last {
					stable++
				} else {
					stable = 0
				}
				if stable >= 4 {
					t.Errorf("the store holds %d events, the journal only %d", n, want)
					return
				}
			}
		}
		last = n
		if v.exited() {
			t.Fatalf("vigil exited (%v) while indexing", v.err)
		}
		if time.Now().After(deadline) {
			t.Errorf("after 60s the store holds %d events (err %v), the journal %d; index lag %v", n, err, want, lag)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkExactlyOnce fetches every crash test event and compares them with
// the journal: each journal message found once, with the journal's seq, and
// nothing that is not in the journal.
func checkExactlyOnce(t *testing.T, v *vigil, journal map[string]string) {
	t.Helper()
	n, err := v.count("*")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := v.search("*", searchParams{limit: max(n, len(journal)) + 1000, order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	var dups, extra []string
	for _, ev := range evs {
		k := crashKey(ev["_msg"], ev["vigil.seq"])
		found[k]++
		if found[k] == 2 {
			dups = append(dups, k)
		}
		seq, ok := journal[k]
		if !ok {
			extra = append(extra, k)
			continue
		}
		if ev["vigil.seq"] != seq {
			t.Errorf("%s: vigil.seq %s, the journal has it at %s", k, ev["vigil.seq"], seq)
		}
	}
	var missing []string
	for k := range journal {
		if found[k] == 0 {
			missing = append(missing, k)
		}
	}
	sort.Strings(dups)
	sort.Strings(missing)
	sort.Strings(extra)
	if len(dups)+len(missing)+len(extra) > 0 {
		t.Errorf("store vs journal (%d events, %d journal records): %d duplicated %s, %d missing %s, %d not in the journal %s",
			len(evs), len(journal), len(dups), head(dups), len(missing), head(missing), len(extra), head(extra))
	}
}

func head(s []string) string {
	if len(s) > 10 {
		return fmt.Sprint(s[:10], "...")
	}
	return fmt.Sprint(s)
}

// TestCrashExactlyOnce kills vigil with SIGKILL mid-stream twice (the
// second time right after restart, while the indexer replays the first
// crash's records and new ones arrive) and checks that every journal record
// is searchable exactly once.
func TestCrashExactlyOnce(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir() + "/data"
	httpPort, syslogPort := freePort(t), freePort(t)
	opts := vigilOpts{dataDir: dataDir, httpPort: httpPort, syslogPort: syslogPort}

	// Crash 1: kill -9 after a few seconds of steady streaming, so the
	// store has flushed part of the stream to disk and part not.
	v := startVigil(t, opts)
	s := startStream(t, v.syslogAddr, "a", 50)
	v.waitEvents(t, "crashtest", 1)
	time.Sleep(2 * time.Second)
	v.kill(t)
	sentA := s.wait()
	j1 := journalCrashRecords(t, dataDir)
	t.Logf("crash 1: sent %d (last write error: %v), journal holds %d", sentA, s.err, len(j1))
	if len(j1) == 0 {
		t.Fatal("the journal holds no crash test message")
	}

	// Crash 2: restart, stream again, kill -9 while the indexer replays.
	v = startVigil(t, opts)
	s = startStream(t, v.syslogAddr, "b", 10)
	time.Sleep(100 * time.Millisecond)
	idx, _ := v.status(t)["index"].(map[string]any)
	skipped := v.metrics(t)["vigil_index_replay_skipped_total"]
	v.kill(t)
	sentB := s.wait()
	j2 := journalCrashRecords(t, dataDir)
	t.Logf("crash 2: sent %d (last write error: %v), journal holds %d in all; just before the kill: index %v, replay skipped %v",
		sentB, s.err, len(j2), idx, skipped)
	for k, seq := range j1 {
		if j2[k] != seq {
			t.Errorf("journal record %s (seq %s) changed to %q after the second crash", k, seq, j2[k])
		}
	}

	// Restart: everything in the journal becomes searchable, once.
	v = startVigil(t, opts)
	waitIndexed(t, v, len(j2))
	checkExactlyOnce(t, v, j2)
	if m := v.metrics(t); m["vigil_index_replay_skipped_total"] == 0 {
		t.Logf("note: vigil_index_replay_skipped_total is 0: the store had persisted nothing past the cursor")
	}

	// A clean stop flushes the store; after one more start the check
	// does not depend on when the store makes rows visible.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	v = startVigil(t, opts)
	checkExactlyOnce(t, v, j2)
	if n, err := v.count("*"); err != nil || n != len(j2) {
		t.Errorf("count after clean restart = %d (%v), want %d", n, err, len(j2))
	}
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}

// TestCleanShutdown stops vigil with SIGTERM mid-stream: it must exit 0
// having indexed and committed everything it journaled.
func TestCleanShutdown(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir() + "/data"
	opts := vigilOpts{dataDir: dataDir, httpPort: freePort(t), syslogPort: freePort(t)}
	v := startVigil(t, opts)
	s := startStream(t, v.syslogAddr, "c", 10)
	v.waitEvents(t, "crashtest", 1)
	time.Sleep(1500 * time.Millisecond)
	code := v.stop(t)
	sent := s.wait()
	if code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	j := journalCrashRecords(t, dataDir)
	t.Logf("sent %d (last write error: %v), journal holds %d", sent, s.err, len(j))

	v = startVigil(t, opts)
	// Nothing is left to index: the clean stop drained the journal.
	idx, _ := v.status(t)["index"].(map[string]any)
	if lag, _ := idx["lag_records"].(float64); lag != 0 {
		t.Errorf("index lag right after a clean restart = %v, want 0 (status index: %v)", lag, idx)
	}
	if n, err := v.count("*"); err != nil || n != len(j) {
		t.Errorf("count right after clean restart = %d (%v), want %d", n, err, len(j))
	}
	checkExactlyOnce(t, v, j)
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}
