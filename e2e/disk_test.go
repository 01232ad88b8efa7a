package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/testfs"
)

// logCount returns how many lines of vigil's log contain s.
func (v *vigil) logCount(t *testing.T, s string) int {
	t.Helper()
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), s)
}

// waitMetricIs polls /metrics until the named value equals want.
func (v *vigil) waitMetricIs(t *testing.T, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := v.metrics(t)[name]
		if got == want {
			return
		}
		if v.exited() {
			t.Fatalf("vigil exited (%v) while waiting for %s = %v", v.err, name, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %v, want %v within 60s", name, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDiskFull runs vigil on a small file system, fills it while a TCP
// sender streams numbered messages, and checks the promise of
// docs/durability.md: the store turns read-only and the journal refuses
// appends before the disk is full, the input stops reading (the sender
// waits, its connection stays open), search keeps answering, the process
// stays up, each state change is logged once; once space returns
// everything the sender sent arrives exactly once.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	mnt := testfs.Mount(t, 128<<20)
	dataDir := filepath.Join(mnt, "data")
	opts := vigilOpts{dataDir: dataDir, httpPort: freePort(t), syslogPort: freePort(t), config: `
journal:
  segment_size: 1MiB
  min_free_disk: 8MiB
store:
  min_free_disk: 16MiB
http:
  max_search_limit: 1000
`}
	v := startVigil(t, opts)
	warm := token("warm")
	sendTCP(t, v.syslogAddr, []byte(rfc5424(14, "h", "app", warm)+"\n"))
	v.waitOne(t, warm)

	// Leave 4 MiB: below both minimums.
	filler := filepath.Join(mnt, "filler")
	size := testfs.Fill(t, filler, 4<<20)
	t.Logf("filler of %d bytes leaves 4 MiB free", size)
	run := token("df")
	s := startStream(t, v.syslogAddr, run, 100)
	v.waitMetricIs(t, "vigil_journal_full", 1)
	v.waitMetricIs(t, "vigil_input_paused_connections", 1)
	v.waitMetricIs(t, "vigil_store_read_only", 1)
	// Some seconds of retries: long enough for a store flush or the
	// periodic fsync to fail, had they met a full disk.
	v.waitMetric(t, "vigil_journal_append_refused_total", 10)

	m := v.metrics(t)
	if m[`vigil_input_connections{input="syslog",transport="tcp"}`] != 1 {
		t.Errorf("open TCP connections = %v while full, want 1 (the sender's)", m[`vigil_input_connections{input="syslog",transport="tcp"}`])
	}
	if m["vigil_input_dropped_total"] != 0 {
		t.Errorf("vigil_input_dropped_total = %v while full, want 0", m["vigil_input_dropped_total"])
	}
	if code, body, err := v.get("/healthz", false); err != nil || code != http.StatusOK {
		t.Errorf("/healthz while full: %d %v %s", code, err, body)
	}
	if evs, err := v.search(warm, searchParams{}); err != nil || len(evs) != 1 {
		t.Errorf("search while full: %d events, %v; want the one sent before", len(evs), err)
	}
	if j, _ := v.status(t)["journal"].(map[string]any); j["full"] != true {
		t.Errorf("status journal while full: %v", j)
	}
	free, err := testfs.Free(mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("while full: %v bytes free, journal next seq %v, %v appends refused", free, m["vigil_journal_next_seq"], m["vigil_journal_append_refused_total"])
	if free < 2<<20 {
		t.Errorf("only %d bytes free while full: something kept writing", free)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	v.waitMetricIs(t, "vigil_journal_full", 0)
	v.waitMetricIs(t, "vigil_input_paused_connections", 0)
	// Let the stream go on for a while after the resume.
	next := v.metrics(t)["vigil_journal_next_seq"]
	v.waitMetric(t, "vigil_journal_next_seq", next+2000)
	sent := s.wait()
	if s.err != nil {
		t.Fatalf("the sender's connection failed: %v", s.err)
	}
	for _, line := range []string{
		"journal: disk full, refusing appends",
		"journal: free disk space is back",
		"syslog: journal full; not reading from TCP and TLS senders",
		"syslog: journal has room again",
	} {
		if n := v.logCount(t, line); n != 1 {
			t.Errorf("the log has %d lines with %q, want 1", n, line)
		}
	}

	// Every message sent is stored once.
	q := fmt.Sprintf(`%s | extract "seq=<n> end" | stats count() as c, count_uniq(n) as u`, run)
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs, err := v.search(q, searchParams{})
		if err == nil && len(evs) == 1 && evs[0]["c"] == strconv.Itoa(sent) {
			if evs[0]["u"] != strconv.Itoa(sent) {
				t.Errorf("stored %s events of %s distinct numbers, sent %d", evs[0]["c"], evs[0]["u"], sent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the store answers %v (%v) for %d messages sent", evs, err, sent)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("sent %d messages, stored %d, lost 0", sent, sent)
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	// The journal holds them once each, in order (journalCrashRecords
	// checks for duplicates and gaps).
	recs := journalCrashRecords(t, dataDir)
	n := 0
	for k := range recs {
		if strings.HasPrefix(k, run+"/") {
			n++
		}
	}
	if n != sent {
		t.Errorf("the journal holds %d of the %d messages sent", n, sent)
	}
}
