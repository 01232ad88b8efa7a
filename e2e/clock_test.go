package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClockSkew reproduces a sender whose clock runs 30 minutes ahead:
// before event time moved per sender, its lines moved the detector's
// event time on by 30 minutes, and the failed logins another server
// logged afterwards all counted as late and raised nothing, without a
// word in the log. Now the brute force raises its alert, the skewed
// sender's events carry vigil.clock_skew, the status and the log (once)
// name it, and after a restart the status still does while the log stays
// quiet about it.
func TestClockSkew(t *testing.T) {
	dir := t.TempDir()
	syslogPort := freePort(t)
	cfg := fmt.Sprintf("inputs:\n  syslog:\n    - addr: 127.0.0.1:%d\ndetect:\n  checkpoint_interval: 1s\n", syslogPort)
	dataDir := filepath.Join(dir, "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)

	// exch02's clock runs 30 minutes ahead: a few ordinary logins.
	now := time.Now().UTC().Truncate(time.Second)
	fast := func(at time.Time, user string) string {
		return strings.Replace(imapLine(at.Add(30*time.Minute), "10.0.1.5", user, true), " exch01 ", " exch02 ", 1)
	}
	var ahead []string
	for i := range 5 {
		ahead = append(ahead, fast(now.Add(time.Duration(i)*time.Second), fmt.Sprintf("staff%d", i)))
	}
	sendLines(t, addr, ahead)
	v.waitEvents(t, "host.hostname:exch02", len(ahead))

	// Then exch01, in step, logs 25 failed logins from one address within
	// a minute: the built-in brute-force-source rule (20 in 10 minutes).
	var attack []string
	for i := range 25 {
		attack = append(attack, imapLine(now.Add(time.Duration(i)*time.Second), "203.0.113.77", fmt.Sprintf("user%d", i), false))
	}
	sendLines(t, addr, attack)
	a := v.waitAlert(t, `event.dataset:vigil.alert rule.id:"brute-force-source" source.ip:"203.0.113.77"`)
	if a["alert.count"] != "20" {
		t.Errorf("brute force alert: %v", a)
	}

	// exch02's events are labelled with their lead, exch01's are not.
	skewed := v.waitEvents(t, "vigil.clock_skew:*", len(ahead))
	for _, e := range skewed {
		lead, err := time.ParseDuration(strings.TrimPrefix(e["vigil.clock_skew"], "+"))
		if e["host.hostname"] != "exch02" || !strings.HasPrefix(e["vigil.clock_skew"], "+") || err != nil ||
			lead < 29*time.Minute || lead > 31*time.Minute {
			t.Errorf("labelled event %v: want exch02's, led by about 30m", e)
		}
	}
	if len(skewed) != len(ahead) {
		t.Errorf("%d events labelled vigil.clock_skew, want %d (exch02's)", len(skewed), len(ahead))
	}
	m := v.metrics(t)
	if m["vigil_detect_clock_skew_events_total"] != float64(len(ahead)) || m["vigil_detect_late_events_total"] != 0 {
		t.Errorf("clock skew events %v (want %d), late events %v (want 0)",
			m["vigil_detect_clock_skew_events_total"], len(ahead), m["vigil_detect_late_events_total"])
	}

	// The status names exch02, the log names it once.
	waitSkewStatus(t, v, "exch02")
	logged := func(v *vigil) int {
		n := 0
		for _, l := range strings.Split(tail(v.logPath, 1<<20), "\n") {
			if strings.Contains(l, "clock runs ahead") {
				if !strings.Contains(l, "source=exch02") {
					t.Errorf("log names another sender: %s", l)
				}
				n++
			}
		}
		return n
	}
	if n := logged(v); n != 1 {
		t.Errorf("%d log lines about exch02's clock, want 1:\n%s", n, tail(v.logPath, 8<<10))
	}

	// A restart keeps what the detector knows about exch02: it is still
	// listed, and its next line is not logged again.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exited %d", code)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	waitSkewStatus(t, v, "exch02")
	sendLines(t, addr, []string{fast(now.Add(10*time.Second), "staff9")})
	v.waitEvents(t, "vigil.clock_skew:* user.name:staff9", 1)
	v.waitMetric(t, "vigil_detect_clock_skew_events_total", 1)
	if n := logged(v); n != 0 {
		t.Errorf("after the restart, %d log lines about exch02's clock, want none:\n%s", n, tail(v.logPath, 8<<10))
	}
}

// waitSkewStatus polls /api/v1/status until detect.engine.clock_skew
// lists source with a lead and a last-seen time.
func waitSkewStatus(t *testing.T, v *vigil, source string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := v.status(t)
		det, _ := st["detect"].(map[string]any)
		eng, _ := det["engine"].(map[string]any)
		list, _ := eng["clock_skew"].([]any)
		for _, x := range list {
			if s, _ := x.(map[string]any); s["source"] == source && s["skew"] != "" && s["last_seen"] != "" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never listed %s as skewed: %v", source, det)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
