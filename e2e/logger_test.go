package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestLogger sends with util-linux logger in both syslog formats over UDP
// and TCP (with and without octet counting) and checks the parsed fields.
func TestLogger(t *testing.T) {
	t.Parallel()
	logger := requireProgram(t, "logger")
	v := startVigil(t, vigilOpts{})
	host, _ := os.Hostname()
	_, port, _ := strings.Cut(v.syslogAddr, ":")

	tests := []struct {
		name   string
		args   []string
		format string
		want   map[string]string
	}{
		{
			name:   "rfc3164 udp",
			args:   []string{"--rfc3164", "-d"},
			format: "RFC3164",
		},
		{
			name:   "rfc5424 udp with structured data",
			args:   []string{"--rfc5424", "-d", "--msgid", "ID47", "--sd-id", "meta@32473", "--sd-param", `src="10.0.0.1"`},
			format: "RFC5424",
			want: map[string]string{
				"log.syslog.msgid":                  "ID47",
				"log.syslog.sd.meta@32473.src":      "10.0.0.1",
				"log.syslog.sd.timeQuality.tzKnown": "1",
			},
		},
		{
			name:   "rfc5424 tcp",
			args:   []string{"--rfc5424", "-T"},
			format: "RFC5424",
		},
		{
			name:   "rfc5424 tcp octet-counted",
			args:   []string{"--rfc5424", "-T", "--octet-count"},
			format: "RFC5424",
		},
		{
			name:   "rfc3164 tcp octet-counted",
			args:   []string{"--rfc3164", "-T", "--octet-count"},
			format: "RFC3164",
		},
	}
	toks := make([]string, len(tests))
	for i, tc := range tests {
		toks[i] = token("logger")
		args := append([]string{"-n", "127.0.0.1", "-P", port, "-p", "local7.info", "-t", "e2eapp" + strconv.Itoa(i), "--id=4242"}, tc.args...)
		args = append(args, "hello from "+tc.name+" "+toks[i])
		if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: logger %v: %v\n%s", tc.name, args, err, out)
		}
	}
	for i, tc := range tests {
		tok, tag := toks[i], "e2eapp"+strconv.Itoa(i)
		ev := v.waitOne(t, tok)
		checkCommon(t, ev, "syslog")
		checkFormat(t, ev, tc.format)
		want := map[string]string{
			"_msg":                     "hello from " + tc.name + " " + tok,
			"log.syslog.appname":       tag,
			"log.syslog.procid":        "4242",
			"log.syslog.priority":      "190",
			"log.syslog.facility.name": "local7",
			"log.syslog.severity.name": "info",
		}
		for k, val := range tc.want {
			want[k] = val
		}
		checkFields(t, ev, want)
		// logger sends the short host name in RFC 3164, possibly the full one in RFC 5424.
		if h := ev["host.hostname"]; h == "" || !strings.HasPrefix(host, strings.SplitN(h, ".", 2)[0]) {
			t.Errorf("%s: host.hostname = %q, want this host (%q)", tc.name, h, host)
		}
		if _, bad := ev["vigil.parse_error"]; bad {
			t.Errorf("%s: unexpected vigil.parse_error %q", tc.name, ev["vigil.parse_error"])
		}
		// Field queries find it too.
		v.waitOne(t, "log.syslog.appname:"+tag+" "+tok)
	}
	// A field name with '@' (an SD-ID with an enterprise number) must be
	// quoted in LogsQL.
	v.waitOne(t, `"log.syslog.sd.meta@32473.src":"10.0.0.1"`)
	if n, err := v.count("log.syslog.facility.name:local7 log.syslog.severity.name:info"); err != nil || n != len(tests) {
		t.Errorf("count of local7.info events = %d (%v), want %d", n, err, len(tests))
	}

	m := v.metrics(t)
	if m[`vigil_input_messages_total{input="syslog",transport="udp"}`] < 2 ||
		m[`vigil_input_messages_total{input="syslog",transport="tcp"}`] < 3 {
		t.Errorf("vigil_input_messages_total by transport: udp %v, tcp %v; want >= 2 and >= 3",
			m[`vigil_input_messages_total{input="syslog",transport="udp"}`], m[`vigil_input_messages_total{input="syslog",transport="tcp"}`])
	}
	if m["vigil_journal_appended_records_total"] < float64(len(tests)) || m["vigil_index_records_total"] < float64(len(tests)) {
		t.Errorf("journal appended %v, indexed %v records; want >= %d", m["vigil_journal_appended_records_total"], m["vigil_index_records_total"], len(tests))
	}
	if code := v.stop(t); code != 0 {
		t.Errorf("vigil exit code after SIGTERM = %d, want 0", code)
	}
}
