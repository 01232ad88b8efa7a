package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimezone runs a real vigil whose display.timezone is Asia/Shanghai:
// vigil search prints times with the offset of --timezone, else of the
// config file's display.timezone; --start and --end take local dates, a
// date alone meaning that local day, with events placed (relative to now)
// on both sides of a Shanghai midnight; the alert mail and the rule's
// message show the alert's time in Shanghai's zone.
func TestTimezone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mails := filepath.Join(dir, "mails")
	rulesDir := filepath.Join(dir, "rules")
	for _, d := range []string{mails, rulesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rule := `
id: e2e-tz
title: Login of the zone test
type: match
level: high
match: {user.name: tz-mail}
group_by: [user.name]
message: '{{.Field "user.name"}} logged in at {{local .TS}}'
`
	if err := os.WriteFile(filepath.Join(rulesDir, "tz.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	smtpAddr := startSMTP(t, mails)
	host, port, _ := strings.Cut(smtpAddr, ":")
	syslogPort := freePort(t)
	cfg := fmt.Sprintf(`
display:
  timezone: Asia/Shanghai
inputs:
  syslog:
    - addr: 127.0.0.1:%d
detect:
  builtin: false
  rules_dir: %s
alerts:
  smtp:
    - name: mail
      host: %s
      port: %s
      starttls: none
      from: vigil@corp.example
      to: [soc@corp.example]
`, syslogPort, rulesDir, host, port)
	cfgFile := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	v := startVigil(t, vigilOpts{dataDir: filepath.Join(dir, "data"), syslogPort: -1, config: cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", syslogPort)

	// A Shanghai midnight at least an hour ago; one login half an hour
	// before it (the local day before), one half an hour after.
	local := time.Now().Add(-time.Hour).In(shanghai)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, shanghai)
	before, after := midnight.Add(-30*time.Minute), midnight.Add(30*time.Minute)
	dayBefore, dayAfter := before.In(shanghai).Format(time.DateOnly), after.In(shanghai).Format(time.DateOnly)
	const ip = "198.51.100.77"
	sendLines(t, addr, []string{imapLine(before, ip, "tz-evening", true), imapLine(after, ip, "tz-morning", true)})
	v.waitEvents(t, "source.ip:"+ip, 2)

	// search runs vigil search and returns each line's user and _time.
	search := func(args ...string) map[string]string {
		t.Helper()
		args = append([]string{"search", "--server", v.httpURL, "--token", v.token}, args...)
		out, stderr, code := runVigil(t, append(args, "source.ip:"+ip)...)
		if code != 0 {
			t.Fatalf("vigil %q: exit %d: %s", args, code, stderr)
		}
		got := map[string]string{}
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var e event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("vigil %q: line %q: %v", args, line, err)
			}
			got[e["user.name"]] = e["_time"]
		}
		return got
	}
	in := func(at time.Time, loc *time.Location) string { return at.In(loc).Format(time.RFC3339Nano) }
	both := map[string]string{"tz-evening": in(before, shanghai), "tz-morning": in(after, shanghai)}
	check := func(what string, got, want map[string]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	// --timezone: times with +08:00 (and New York's offset of the day).
	got := search("--timezone", "Asia/Shanghai")
	check("--timezone Asia/Shanghai", got, both)
	for _, tm := range got {
		if !strings.HasSuffix(tm, "+08:00") {
			t.Errorf("--timezone Asia/Shanghai: time %q without +08:00", tm)
		}
	}
	check("--timezone America/New_York", search("--timezone", "America/New_York"),
		map[string]string{"tz-evening": in(before, newYork), "tz-morning": in(after, newYork)})
	// display.timezone of --config is the default.
	check("--config", search("--config", cfgFile), both)
	// A local date selects that local day, on either side of midnight.
	check("--start/--end "+dayAfter, search("--timezone", "Asia/Shanghai", "--start", dayAfter, "--end", dayAfter),
		map[string]string{"tz-morning": in(after, shanghai)})
	check("--start/--end "+dayBefore+" (zone from --config)", search("--config", cfgFile, "--start", dayBefore, "--end", dayBefore),
		map[string]string{"tz-evening": in(before, shanghai)})
	// A local date and time: from the local midnight on.
	check("--start midnight", search("--timezone", "Asia/Shanghai", "--start", dayAfter+" 00:00"),
		map[string]string{"tz-morning": in(after, shanghai)})
	// In UTC both logins are on the earlier date (Shanghai's midnight is
	// 16:00 UTC): the date means another stretch of time there.
	check("--timezone UTC --start/--end "+dayBefore, search("--timezone", "UTC", "--start", dayBefore, "--end", dayBefore),
		map[string]string{"tz-evening": in(before, time.UTC), "tz-morning": in(after, time.UTC)})
	// Bad input: clear words, exit 2, nothing asked of the server.
	for _, args := range [][]string{
		{"--timezone", "Mars/Olympus"},
		{"--timezone", "America/New_York", "--start", "2026-03-08 02:30"},
		{"--start", "yesterday"},
	} {
		out, stderr, code := runVigil(t, append([]string{"search", "--server", v.httpURL, "--token", v.token}, append(args, "*")...)...)
		if code == 0 || out != "" || !strings.Contains(stderr, args[len(args)-2]) {
			t.Errorf("vigil search %q: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}

	// The alert: its message and its mail in Shanghai's zone.
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	sendLines(t, addr, []string{imapLine(at, "198.51.100.78", "tz-mail", true)})
	a := v.waitAlert(t, `rule.id:"e2e-tz"`)
	wantText := at.In(shanghai).Format("2006-01-02 15:04:05") + " +08:00"
	if a["_msg"] != "tz-mail logged in at "+wantText {
		t.Errorf("alert message %q, want the time %s", a["_msg"], wantText)
	}
	out, stderr, code := runVigil(t, "search", "--server", v.httpURL, "--token", v.token, "--config", cfgFile, "--scope", "alerts", `rule.id:"e2e-tz"`)
	if code != 0 || !strings.Contains(out, `"alert.first":"`+in(at, shanghai)+`"`) {
		t.Errorf("vigil search --scope alerts: exit %d, %s %s; want alert.first %s", code, out, stderr, in(at, shanghai))
	}
	body := waitMailIn(t, mails, "a mail about e2e-tz", func(m smtpMail) bool { return strings.Contains(m.Data, "e2e-tz") }).Data
	// The body is quoted-printable: "=" and long lines are encoded, the
	// lines checked here are plain.
	for _, want := range []string{"Fired:    " + wantText, "First:    " + wantText} {
		if !strings.Contains(body, want) {
			t.Errorf("mail lacks %q:\n%s", want, body)
		}
	}
}
