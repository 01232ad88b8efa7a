package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// detectRules is the user rule of TestDetection: five failed logins from
// one address within ten minutes.
const detectRules = `
id: e2e-brute-force
title: E2E brute force
type: threshold
level: medium
match: {event.category: authentication, event.outcome: failure}
group_by: [source.ip]
window: 10m
threshold: 5
suppress: 1h
message: '{{.Count}} failures from {{.Field "source.ip"}}'
`

// collector gathers what alert channels deliver to the test.
type collector struct {
	mu    sync.Mutex
	items []string
}

func (c *collector) add(s string) {
	c.mu.Lock()
	c.items = append(c.items, s)
	c.mu.Unlock()
}

func (c *collector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.items...)
}

func (c *collector) wait(t *testing.T, what string, pred func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, s := range c.all() {
			if pred(s) {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: nothing delivered matched; got %q", what, c.all())
	return ""
}

// imapLine is an Exchange IMAP4 failed (or successful) login as nxlog
// forwards it over syslog.
func imapLine(at time.Time, ip, user string, ok bool) string {
	res := `"R=""NO LOGIN failed."""`
	if ok {
		res = "R=OK"
	}
	return fmt.Sprintf("<134>%s exch01 IMAP4: %s,0000000000ABC123,3,10.0.0.5:993,%s:51234,%s,12,40,30,login,,%s",
		at.UTC().Format(time.Stamp), at.UTC().Format("2006-01-02T15:04:05.000Z"), ip, user, res)
}

// TestDetection runs a user rule in the server: an allow-listed monitoring
// probe raises nothing, a brute force raises one alert that is searchable,
// posted to a webhook and forwarded as RFC5424 syslog; a broken rule file
// keeps the previous version running; the state survives a restart; and
// `vigil rules test` over the same lines raises the same alerts.
func TestDetection(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	listsDir := filepath.Join(dir, "lists")
	for _, d := range []string{rulesDir, listsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "brute.yaml"), []byte(detectRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(listsDir, "monitoring.txt"), []byte("# kind: ip\n# role: allow\n10.20.0.0/24  # zabbix probes\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	hooks, syslogs, hookURL, syslogAddr := alertCollectors(t)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  builtin: false
  rules_dir: %s
  lists_dir: %s
  checkpoint_interval: 1s
alerts:
  webhooks:
    - url: %s
  syslog:
    - address: %s
      transport: tcp
      framing: newline
`, syslogPort, rulesDir, listsDir, hookURL, syslogAddr)
	dataDir := filepath.Join(dir, "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)

	now := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	var lines []string
	for i := range 6 {
		lines = append(lines, imapLine(now.Add(time.Duration(i)*time.Second), "10.20.0.5", "probe", false))
	}
	for i := range 6 {
		lines = append(lines, imapLine(now.Add(time.Duration(10+i)*time.Second), "203.0.113.7", fmt.Sprintf("user%d", i), false))
	}
	sendLines(t, addr, lines)

	got := v.waitAlerts(t, "event.dataset:vigil.alert", 1)
	a := got[0]
	if a["rule.id"] != "e2e-brute-force" || a["source.ip"] != "203.0.113.7" || a["alert.count"] != "5" || a["level"] != "medium" {
		t.Fatalf("alert in the store: %v", a)
	}
	if !strings.Contains(a["alert.payloads"], "user0") {
		t.Errorf("alert payloads lack the first contributing line: %q", a["alert.payloads"])
	}
	// Alerts are kept apart: an event search or count of the attacking
	// address sees its 6 events only.
	if n, err := v.count("source.ip:203.0.113.7"); n != 6 || err != nil {
		t.Errorf("events of 203.0.113.7: %d (%v), want 6 (the alert kept apart)", n, err)
	}
	hooks.wait(t, "webhook", func(s string) bool {
		var m map[string]any
		return json.Unmarshal([]byte(s), &m) == nil && m["rule.id"] == "e2e-brute-force" && m["source.ip"] == "203.0.113.7"
	})
	syslogs.wait(t, "syslog forward", func(s string) bool {
		return strings.Contains(s, " vigil ") && strings.Contains(s, `"rule.id":"e2e-brute-force"`)
	})

	// A broken rule file: reported, and the running rules stay.
	if err := os.WriteFile(filepath.Join(rulesDir, "broken.yaml"), []byte("id: broken\ntitle: x\ntype: threshold\nwhen: 'source.ip =='\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		_, body, err := v.get("/api/v1/status", true)
		if err == nil && strings.Contains(string(body), "broken.yaml") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reported the broken rule file: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Three failures before a restart and two after reach the threshold:
	// the window survived the restart.
	var more []string
	for i := range 3 {
		more = append(more, imapLine(now.Add(time.Duration(30+i)*time.Second), "198.51.100.77", "zhangwei", false))
	}
	sendLines(t, addr, more)
	v.waitEvents(t, "source.ip:198.51.100.77 event.dataset:exchange.imap", 3)
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exited %d", code)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	var rest []string
	for i := range 2 {
		rest = append(rest, imapLine(now.Add(time.Duration(40+i)*time.Second), "198.51.100.77", "zhangwei", false))
	}
	sendLines(t, addr, rest)
	got = v.waitAlerts(t, "event.dataset:vigil.alert source.ip:198.51.100.77", 1)
	if got[0]["alert.count"] != "5" {
		t.Errorf("alert after restart: %v", got[0])
	}
	if n, _ := v.countAlerts("event.dataset:vigil.alert"); n != 2 {
		t.Errorf("%d alerts in the store, want 2", n)
	}

	// The same lines offline give the same alerts.
	all := append(append(append([]string(nil), lines...), more...), rest...)
	logFile := filepath.Join(dir, "sample.log")
	if err := os.WriteFile(logFile, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "offline.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("detect:\n  builtin: false\n  rules_dir: %s\n  lists_dir: %s\n", filepath.Join(dir, "offline-rules"), listsDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(dir, "offline-rules"), 0o755)
	out, err := exec.Command(vigilBin, "rules", "test", "--config", cfgFile, "--no-builtin", "--rules", filepath.Join(rulesDir, "brute.yaml"), logFile).Output()
	if err != nil {
		t.Fatalf("vigil rules test: %v", err)
	}
	var offline []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("rules test output %q: %v", l, err)
		}
		offline = append(offline, m)
	}
	if len(offline) != 2 || offline[0]["source.ip"] != "203.0.113.7" || offline[1]["source.ip"] != "198.51.100.77" {
		t.Fatalf("offline alerts: %v", offline)
	}
	for _, m := range offline {
		live := v.waitAlert(t, "event.dataset:vigil.alert source.ip:"+m["source.ip"].(string))
		if live["alert.first"] != m["alert.first"] || live["alert.count"] != fmt.Sprint(m["alert.count"]) {
			t.Errorf("live alert %v differs from offline %v", live, m)
		}
	}
}

// sendLines writes lines over one TCP connection, newline-framed.
func sendLines(t *testing.T, addr string, lines []string) {
	t.Helper()
	sendTCP(t, addr, []byte(strings.Join(lines, "\n")+"\n"))
}

// alertCollectors starts a webhook receiver and a syslog (TCP, newline
// framing) receiver for alert channels; it returns their addresses.
func alertCollectors(t *testing.T) (hooks, syslogs *collector, hookURL, syslogAddr string) {
	t.Helper()
	hooks = &collector{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks.add(string(b))
	}))
	t.Cleanup(hook.Close)
	syslogs, syslogAddr = lineCollector(t)
	return hooks, syslogs, hook.URL, syslogAddr
}

// lineCollector listens on a loopback TCP port and collects the lines
// (newline framing) of every connection; it returns the port's address.
func lineCollector(t *testing.T) (*collector, string) {
	t.Helper()
	c := &collector{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					c.add(sc.Text())
				}
			}()
		}
	}()
	return c, ln.Addr().String()
}

// alertIDs counts the alert ids in what a channel delivered (webhook
// bodies, or syslog lines whose message is the alert JSON).
func alertIDs(t *testing.T, items []string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, s := range items {
		if i := strings.IndexByte(s, '{'); i >= 0 {
			s = s[i:]
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("delivered %q is not an alert: %v", s, err)
		}
		id, _ := m["alert.id"].(string)
		ids[id]++
	}
	return ids
}

// waitCursorsAt polls until every alert channel's cursor in the alert
// journal is committed at the journal's end.
func waitCursorsAt(t *testing.T, v *vigil, dataDir string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := v.status(t)
		det, _ := st["detect"].(map[string]any)
		al, _ := det["alerts"].(map[string]any)
		j, _ := al["journal"].(map[string]any)
		next, _ := j["next_seq"].(float64)
		files, _ := filepath.Glob(filepath.Join(dataDir, "alerts", "cursors", "notify-*"))
		done := len(files) == 2 && next > 1
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.TrimSpace(string(b)) != fmt.Sprint(int64(next)) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert channel cursors %v never reached the alert journal's end %v", files, next)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDetectionCrash kills the server (kill -9) after half of a stream of
// attacks was indexed and its alerts delivered, before the detector wrote
// any checkpoint beyond its first. After the restart the detector replays
// the first half and raises its alerts again with the same ids; they are
// neither stored nor sent a second time. With the second half, the alerts
// in the store, at the webhook and at the syslog receiver are each exactly
// those `vigil rules test` raises offline from the same lines, once: 500
// alerts (before the alert journal, a crash like this left 1,082 stored
// alert rows for 500 alerts and 1,172 syslog messages).
func TestDetectionCrash(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rule := strings.Replace(detectRules, "suppress: 1h\n", "", 1) // an alert per 5 failures
	if err := os.WriteFile(filepath.Join(rulesDir, "brute.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	hooks, syslogs, hookURL, syslogAddr := alertCollectors(t)
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  builtin: false
  rules_dir: %s
  checkpoint_interval: 1h
alerts:
  webhooks:
    - url: %s
  syslog:
    - address: %s
      transport: tcp
      framing: newline
`, syslogPort, rulesDir, hookURL, syslogAddr)
	dataDir := filepath.Join(dir, "data")
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)

	// 100 sources, 25 failures each, interleaved, 200 ms apart in event time.
	start := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	var lines []string
	for i := range 2500 {
		ip := fmt.Sprintf("198.51.100.%d", 10+i%100)
		lines = append(lines, imapLine(start.Add(time.Duration(i)*200*time.Millisecond), ip, fmt.Sprintf("u%d", i%7), false))
	}
	half := 1000 // 10 failures per source: two alerts each

	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	sendLines(t, addr, lines[:half])
	waitCount(t, v, "event.dataset:exchange.imap", half)
	waitAlertCount(t, v, "event.dataset:vigil.alert", 200)
	waitCursorsAt(t, v, dataDir)
	v.kill(t)

	v = startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	// Right after the restart the status shows where detection resumes,
	// not zero and the year 1.
	det, _ := v.status(t)["detect"].(map[string]any)
	eng, _ := det["engine"].(map[string]any)
	if pos, _ := eng["position"].(float64); pos < 1 || eng["checkpoint_position"] != eng["position"] {
		t.Errorf("detector status after restart: %v", eng)
	}
	if ts, _ := eng["last_checkpoint"].(string); !strings.HasPrefix(ts, strconv.Itoa(time.Now().Year())) &&
		!strings.HasPrefix(ts, strconv.Itoa(time.Now().Year()-1)) {
		t.Errorf("detector status after restart: last_checkpoint %q", ts)
	}
	sendLines(t, addr, lines[half:])
	waitCount(t, v, "event.dataset:exchange.imap", len(lines))

	logFile := filepath.Join(dir, "all.log")
	if err := os.WriteFile(logFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(vigilBin, "rules", "test", "--no-builtin", "--in-order", "--rules", filepath.Join(rulesDir, "brute.yaml"), logFile).Output()
	if err != nil {
		t.Fatalf("vigil rules test: %v", err)
	}
	want := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("rules test output %q: %v", l, err)
		}
		want[m["alert.id"].(string)] = true
	}
	if len(want) != 500 { // 100 sources x 25 failures / 5 = 5 alerts each
		t.Fatalf("offline run raised %d distinct alerts, want 500", len(want))
	}
	waitAlertCount(t, v, "event.dataset:vigil.alert", len(want))
	waitCursorsAt(t, v, dataDir)
	if n := v.metrics(t)["vigil_detect_alerts_replayed_total"]; n != 200 {
		t.Errorf("vigil_detect_alerts_replayed_total = %v after the crash, want 200 (the first part's alerts, raised again)", n)
	}
	// The store's rows are settled once a clean stop has flushed it.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exit code after SIGTERM = %d, want 0", code)
	}
	v = startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfg})
	evs, err := v.search("event.dataset:vigil.alert", searchParams{limit: 1000, scope: "alerts"})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, e := range evs {
		stored[e["alert.id"]]++
	}
	for what, got := range map[string]map[string]int{
		"store": stored, "webhook": alertIDs(t, hooks.all()), "syslog channel": alertIDs(t, syslogs.all()),
	} {
		for id := range want {
			if got[id] != 1 {
				t.Errorf("%s: alert %s of the offline run is there %d times, want once", what, id, got[id])
			}
		}
		for id := range got {
			if !want[id] {
				t.Errorf("%s: alert %s is not one the offline run raised", what, id)
			}
		}
	}
	if !strings.Contains(tail(v.logPath, 1<<20), "detect: resumed from checkpoint") {
		t.Errorf("the restarted server did not resume detection from its checkpoint:\n%s", tail(v.logPath, 4<<10))
	}
	if n := v.metrics(t)["vigil_detect_alerts_replayed_total"]; n != 0 {
		t.Errorf("after a clean restart %v alerts were replayed", n)
	}
}

// lockoutLine is a Windows 4740 (account locked out) as nxlog sends it.
func lockoutLine(at time.Time, user string) string {
	return fmt.Sprintf(`<134>%s dc01 nxlog: {"EventTime":"%s","Hostname":"DC01.corp.example","EventID":4740,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","EventType":"AUDIT_SUCCESS","TargetUserName":"%s","TargetDomainName":"EXCH01","SubjectUserName":"DC01$","SubjectDomainName":"CORP"}`,
		at.UTC().Format(time.Stamp), at.UTC().Format("2006-01-02T15:04:05.000Z"), user)
}

// startSMTP runs the aiosmtpd test server of internal/notify (a real SMTP
// server process) writing messages into dir; it returns its address.
func startSMTP(t *testing.T, dir string) string {
	t.Helper()
	py := os.Getenv("VIGIL_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			t.Fatalf("%s cannot import aiosmtpd (scripts/install-test-deps.sh installs it): %v", py, err)
		}
		t.Skipf("%s cannot import aiosmtpd: %v", py, err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return startReady(t, exec.Command(py, filepath.Join(root, "internal", "notify", "testdata", "smtpd.py"), "--port", "0", "--outdir", dir), "smtpd.py")
}

// smtpMail is a message as smtpd.py stores it.
type smtpMail struct {
	RcptTos []string `json:"rcpt_tos"`
	Data    string   `json:"data"`
}

// waitMailIn waits for a message in dir (startSMTP's folder) whose data
// contains s and returns it.
func waitMailIn(t *testing.T, dir, s string) smtpMail {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "msg-*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var m smtpMail
			if json.Unmarshal(b, &m) == nil && strings.Contains(m.Data, s) {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no mail with %q arrived", s)
	return smtpMail{}
}

// TestAlertChannels: a lockout rule mails the locked-out user and the
// helpdesk through a real SMTP server, while a webhook whose receiver is
// down fails, is retried and reported in the status, and holds nothing
// up: the next lockout is mailed too.
func TestAlertChannels(t *testing.T) {
	dir := t.TempDir()
	mails := filepath.Join(dir, "mails")
	rulesDir := filepath.Join(dir, "rules")
	for _, d := range []string{mails, rulesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	smtpAddr := startSMTP(t, mails)
	host, port, _ := net.SplitHostPort(smtpAddr)
	rule := `
id: e2e-lockout
title: Account locked out
type: match
level: high
match: {event.action: account-locked}
group_by: [user.name]
suppress: 1h
notify: ['{{.Field "user.name"}}@corp.example', 'helpdesk@corp.example']
message: 'account {{.Field "user.name"}} locked out on {{.Field "host.name"}}'
`
	if err := os.WriteFile(filepath.Join(rulesDir, "lockout.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	dead := freePort(t) // nothing listens there
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  builtin: false
  rules_dir: %s
alerts:
  webhooks:
    - name: down
      url: http://127.0.0.1:%d/hook
      timeout: 1s
      backoff: 100ms
      max_backoff: 200ms
      max_attempts: 3
  smtp:
    - name: mail
      host: %s
      port: %s
      starttls: none
      from: vigil@corp.example
      to: [soc@corp.example]
`, syslogPort, rulesDir, dead, host, port)
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(dir, "data"), syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)
	now := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	sendLines(t, addr, []string{lockoutLine(now, "zhangwei")})

	waitMail := func(user string) smtpMail { return waitMailIn(t, mails, "account "+user+" locked out") }
	m := waitMail("zhangwei")
	rcpt := strings.Join(m.RcptTos, ",")
	for _, want := range []string{"soc@corp.example", "zhangwei@corp.example", "helpdesk@corp.example"} {
		if !strings.Contains(rcpt, want) {
			t.Errorf("mail recipients %q lack %s", rcpt, want)
		}
	}
	if !strings.Contains(m.Data, "Subject:") || !strings.Contains(m.Data, "e2e-lockout") {
		t.Errorf("mail lacks the subject or the rule: %.400s", m.Data)
	}

	// The dead webhook is reported as failing ...
	deadline := time.Now().Add(waitTimeout)
	for {
		_, body, err := v.get("/api/v1/status", true)
		var st struct {
			Detect struct {
				Channels []struct {
					Name      string `json:"name"`
					Errors    uint64 `json:"errors"`
					LastError string `json:"last_error"`
					Sent      uint64 `json:"sent"`
				} `json:"alert_channels"`
			} `json:"detect"`
		}
		if err == nil && json.Unmarshal(body, &st) == nil {
			var down, sent bool
			for _, c := range st.Detect.Channels {
				down = down || c.Name == "down" && c.Errors > 0 && c.LastError != ""
				sent = sent || c.Name == "mail" && c.Sent >= 1
			}
			if down && sent {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the failing webhook and the sent mail: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ... and holds nothing up.
	sendLines(t, addr, []string{lockoutLine(now.Add(time.Second), "liwei")})
	waitMail("liwei")
	v.waitAlerts(t, `event.dataset:vigil.alert rule.id:"e2e-lockout"`, 2)
	if n, _ := v.countAlerts(`event.dataset:vigil.alert rule.id:"e2e-lockout"`); n != 2 {
		t.Errorf("%d lockout alerts stored, want 2", n)
	}
}
