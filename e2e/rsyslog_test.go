package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRsyslog runs a private rsyslogd with deploy/rsyslog/vigil-forward.conf:
// it follows a file of nginx JSON lines and forwards them to vigil over TCP
// with octet-counted framing.
func TestRsyslog(t *testing.T) {
	t.Parallel()
	requireProgram(t, "rsyslogd")
	v := startVigil(t, vigilOpts{})
	logFile := filepath.Join(t.TempDir(), "access.json")
	tok := token("rs")
	line := func(i int, status int) string {
		b, _ := json.Marshal(map[string]any{
			"source": "192.168.0.8", "ip": fmt.Sprintf("10.1.2.%d", i), "user": "user" + strconv.Itoa(i),
			"time_local": time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"), "statuscode": status, "bytes_sent": 100 + i,
			"http_referer": "", "http_user_agent": "Mozilla/5.0 " + tok, "request_uri": "/owa/auth.owa",
			"request_time": 0.25, "gzip_ration": "", "query_string": "",
		})
		return string(b)
	}
	// Lines written before rsyslog starts and while it runs.
	var lines []string
	for i := range 3 {
		lines = append(lines, line(i, 401))
	}
	if err := os.WriteFile(logFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	rs := startRsyslog(t, v, logFile, "nginx-access")

	v.waitEvents(t, "*:"+tok, 3)
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 6; i++ {
		l := line(i, 200)
		lines = append(lines, l)
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	evs := v.waitEvents(t, "*:"+tok, len(lines))
	if len(evs) != len(lines) {
		t.Fatalf("found %d events, want %d", len(evs), len(lines))
	}
	for i, l := range lines {
		ev := v.waitOne(t, fmt.Sprintf(`source.ip:"10.1.2.%d" *:%s`, i, tok))
		checkCommon(t, ev, "syslog")
		checkFormat(t, ev, "RFC5424")
		status := "401"
		if i >= 3 {
			status = "200"
		}
		checkFields(t, ev, map[string]string{
			"log.syslog.appname":        "nginx-access",
			"log.syslog.facility.name":  "local7",
			"log.syslog.severity.name":  "info",
			"user.name":                 "user" + strconv.Itoa(i),
			"http.response.status_code": status,
			"http.response.bytes":       strconv.Itoa(100 + i),
			"event.duration":            "250000000",
			"url.path":                  "/owa/auth.owa",
			"event.dataset":             "nginx.access",
		})
		if want := "/owa/auth.owa " + status; ev["_msg"] != want {
			t.Errorf("_msg = %q, want %q", ev["_msg"], want)
		}
		// The journal holds what rsyslog sent, its line inside.
		if rec := v.raw(t, ev["vigil.seq"]); !strings.Contains(rec["data"], l) {
			t.Errorf("journal data %q does not contain the file's line %q", rec["data"], l)
		}
		if _, bad := ev["vigil.parse_error"]; bad {
			t.Errorf("unexpected vigil.parse_error %q", ev["vigil.parse_error"])
		}
	}
	if n, err := v.count("http.response.status_code:401 *:" + tok); err != nil || n != 3 {
		t.Errorf("count statuscode:401 = %d (%v), want 3", n, err)
	}
	m := v.metrics(t)
	if got := m[`vigil_input_messages_total{input="syslog",transport="tcp"}`]; got < float64(len(lines)) {
		t.Errorf("tcp messages = %v, want >= %d", got, len(lines))
	}
	if got := m["vigil_input_framing_errors_total"]; got != 0 {
		t.Errorf("vigil_input_framing_errors_total = %v, want 0 for octet-counted frames", got)
	}
	if code := rs.stop(t); code != 0 {
		t.Logf("rsyslogd exit code %d", code)
	}
}

// startRsyslog runs a private rsyslogd with deploy/rsyslog/vigil-forward.conf,
// following file under tag and forwarding it to v, as the example tells a
// user to (only File=, port= and Tag= replaced).
func startRsyslog(t *testing.T, v *vigil, file, tag string) *proc {
	t.Helper()
	rsyslogd := requireProgram(t, "rsyslogd")
	_, port, _ := strings.Cut(v.syslogAddr, ":")
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	forward := templateFile(t, deployFile(t, "rsyslog/vigil-forward.conf"),
		`File="/var/log/nginx/access.json"`, `File="`+file+`"`,
		`port="5514"`, `port="`+port+`"`,
		`Tag="nginx-access"`, `Tag="`+tag+`"`)
	conf := fmt.Sprintf("global(workDirectory=%q)\n%s", work, forward)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return startProc(t, "rsyslogd", filepath.Join(dir, "rsyslogd.out"),
		rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
}
