package iis

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// result is what parsing one line gave.
type result struct {
	text     string
	detected bool
	err      error
	ev       format.Event
}

// skipped reports whether the line only updated state.
func (r result) skipped() bool { return errors.Is(r.err, format.ErrSkip) }

// run parses lines in order through one source, as package parse does for
// one stream, calling Parse whether or not Detect took the line (as a
// forced format is).
func run(f format.Text, lines []string) []result {
	src := &format.Source{Location: time.UTC}
	out := make([]result, len(lines))
	for i, l := range lines {
		var ev format.Event
		msg := []byte(l)
		r := result{text: l, detected: f.Detect(msg, src)}
		r.err = f.Parse(msg, src, &ev)
		r.ev = ev
		out[i] = r
	}
	return out
}

// check compares an event with want: a value of "" means the field must be
// absent; the keys "_time" (RFC 3339), "_err" (a substring of the error),
// "_skip" ("true": the line only updates state) and "_detect" ("false":
// Detect must not take it) check the rest.
func check(t *testing.T, r result, want map[string]string) {
	t.Helper()
	wantDetect := want["_detect"] != "false"
	if r.detected != wantDetect {
		t.Errorf("Detect = %v, want %v", r.detected, wantDetect)
	}
	if want["_skip"] == "true" {
		if !r.skipped() {
			t.Errorf("Parse error = %v, want ErrSkip", r.err)
		}
		return
	}
	if e, ok := want["_err"]; ok {
		if r.err == nil || !strings.Contains(r.err.Error(), e) {
			t.Errorf("Parse error = %v, want one containing %q", r.err, e)
		}
		return
	}
	if r.err != nil {
		t.Fatalf("Parse: %v", r.err)
	}
	if ts, ok := want["_time"]; ok {
		wt, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		if !r.ev.Time.Equal(wt) {
			t.Errorf("Time = %v, want %v", r.ev.Time, wt)
		}
	}
	seen := map[string]int{}
	for _, f := range r.ev.Fields {
		seen[f.Name]++
		if f.Value == "" || f.Value == "-" {
			t.Errorf("field %s has the empty value %q", f.Name, f.Value)
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("field %s set %d times", name, n)
		}
	}
	for name, v := range want {
		if strings.HasPrefix(name, "_") {
			continue
		}
		if got := r.ev.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if t.Failed() {
		t.Logf("fields: %v", r.ev.Fields)
	}
}

// fileCase is the expectations for one fixture file, by line number
// (1-based); lines without an entry must parse without error.
type fileCase struct {
	file  string
	lines map[int]map[string]string
}

func testFiles(t *testing.T, f format.Text, cases []fileCase) {
	for _, c := range cases {
		lines := formattest.ReadLines(t, filepath.Join("testdata", c.file), false)
		res := run(f, lines)
		for n := range c.lines {
			if n < 1 || n > len(res) {
				t.Fatalf("%s has no line %d", c.file, n)
			}
		}
		for i, r := range res {
			want := c.lines[i+1]
			if want == nil {
				want = map[string]string{}
				if strings.HasPrefix(r.text, "#") {
					want["_skip"] = "true"
				}
			}
			t.Run(c.file+":"+itoa(i+1), func(t *testing.T) { check(t, r, want) })
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

func TestText(t *testing.T) {
	testFiles(t, Text(), []fileCase{
		{file: "exchange-fe.log", lines: map[int]map[string]string{
			5: { // OWA forms logon: 302 either way, outcome shown by the next request
				"_time": "2026-11-28T09:00:01Z", "event.dataset": "iis.access",
				"source.ip": "203.0.113.50", "destination.ip": "10.0.0.10", "destination.port": "443",
				"http.request.method": "POST", "url.path": "/owa/auth.owa", "network.protocol": "owa",
				"url.query": "&CorrelationID=<empty>;&cafeReqId=0c3e6b0a-1b7f-4c1e-9d3c-5f8e2a7b9c01;&encoding=;",
				"user.name": "zhangwei", "user.domain": "corp", "user.original": `CORP\zhangwei`,
				"event.category": "authentication", "event.outcome": "unknown",
				"http.response.status_code": "302", "event.duration": "31000000",
				"iis.sub_status": "0", "iis.win32_status": "0", "user_agent.original": chromeUA,
				"http.request.referrer": "https://mail.example.com/owa/auth/logon.aspx?url=https%3a%2f%2fmail.example.com%2fowa%2f&reason=0",
				"source.port":           "", "host.name": "",
			},
			6: { // the logon page again with reason=2: the logon failed
				"url.path": "/owa/auth/logon.aspx", "event.category": "authentication", "event.outcome": "failure",
				"event.reason": "OWA logon page shown with reason=2 (bad user name or password)",
				"user.name":    "", "source.ip": "203.0.113.50",
			},
			7: { // ActiveSync Basic logon with a bad password
				"network.protocol": "activesync", "device.id": "ApplF17XK2ABCD12", "device.type": "iPhone",
				"event.action": "Sync", "user.name": "zhangwei", "user.domain": "",
				"http.response.status_code": "401", "event.category": "authentication", "event.outcome": "failure",
				"event.reason":   "bad user name or password (401.1, win32 1326 ERROR_LOGON_FAILURE)",
				"iis.sub_status": "1", "iis.win32_status": "1326", "user_agent.original": "Apple-iPhone14C2/2006.5",
				"source.ip": "198.51.100.23", "event.duration": "3000000",
			},
			8: { // ActiveSync against a locked account
				"user.name": "lisi", "user.domain": "corp", "device.id": "SEC1A2B3C4D5E6F7", "event.action": "Ping",
				"event.outcome": "failure", "event.reason": "account locked out (401.1, win32 1909 ERROR_ACCOUNT_LOCKED_OUT)",
			},
			9: { // EWS with Windows authentication
				"network.protocol": "ews", "user.name": "lisi", "user.domain": "corp",
				"event.category": "authentication", "event.outcome": "success", "event.reason": "",
				"http.response.status_code": "200", "source.ip": "10.20.30.40",
				"user_agent.original": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
			},
			10: { // the anonymous first request of the Negotiate handshake
				"network.protocol": "ews", "event.category": "authentication", "event.outcome": "unknown",
				"event.reason": "HTTP 401.2: request without credentials (the anonymous first leg of an authentication challenge)",
			},
			11: { // NTLM challenge leg
				"event.outcome":    "unknown",
				"event.reason":     "HTTP 401.1 SEC_E_NO_CREDENTIALS (0x8009030E): NTLM/Negotiate handshake in progress",
				"iis.win32_status": "2148074254",
			},
			12: { // autodiscover password spraying
				"network.protocol": "autodiscover", "user.name": "administrator", "user.domain": "example.com",
				"event.outcome":       "failure",
				"user_agent.original": "python-requests/2.31.0", "source.ip": "192.0.2.77",
			},
			13: { // ProxyShell probe: the query is kept as written
				"url.path":         "/autodiscover/autodiscover.json",
				"url.query":        "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com&CorrelationID=<empty>;&cafeReqId=aa11bb22-cc33-4d44-8e55-ff6677889900;",
				"network.protocol": "autodiscover", "event.category": "web", "event.outcome": "",
				"user.name": "", "http.response.status_code": "200",
			},
			14: { // RPC over HTTP, IPv6 with a zone on the server side
				"destination.ip": "fe80::5efe:a00:a", "source.ip": "2001:db8:25::17",
				"http.request.method": "RPC_IN_DATA", "network.protocol": "rpc", "user.name": "wangfang",
				"event.outcome": "success", "event.duration": "60515000000",
			},
			19: { // after a #Fields change: more columns, another order, behind a proxy
				"_time": "2026-11-28T09:10:00Z", "host.name": "EXCH01", "iis.site_name": "W3SVC1",
				"destination.ip": "10.0.0.10", "http.version": "1.1", "url.domain": "mail.example.com",
				"http.response.bytes": "5120", "http.request.bytes": "812", "event.duration": "78000000",
				"source.ip": "203.0.113.9", "source.nat.ip": "10.0.5.5",
				"http.request.forwarded_for": "203.0.113.9, 10.0.5.5",
				"network.protocol":           "owa", "user.name": "wangfang", "event.category": "web", "event.outcome": "",
				"user_agent.original": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
			},
			20: { // ECP, direct from the internet, no X-Forwarded-For
				"source.ip": "203.0.113.66", "source.nat.ip": "", "http.request.forwarded_for": "",
				"network.protocol": "ecp", "http.response.status_code": "440", "event.category": "web",
				"url.query": "msExchEcpCanary=X7pQ&schema=VirtualDirectory",
			},
		}},
		{file: "headerless.log", lines: map[int]map[string]string{
			1: { // the default Exchange/IIS order
				"_time": "2026-11-28T09:20:00Z", "source.ip": "203.0.113.50", "destination.ip": "10.0.0.10",
				"destination.port": "443", "user.name": "zhangwei", "http.request.referrer": "https://mail.example.com/owa/",
				"http.response.status_code": "200", "event.duration": "62000000", "user_agent.original": "Mozilla/5.0 (Windows NT 10.0)",
			},
			2: { // no cs(Referer)
				"network.protocol": "activesync", "device.id": "ApplF17XK2ABCD12", "event.action": "FolderSync",
				"event.outcome": "success", "user.name": "zhangwei", "event.duration": "18000000",
				"http.request.referrer": "",
			},
			3: { // s-computername, X-Forwarded-For and client port appended; all hops internal
				"host.name": "EXCH02", "destination.ip": "10.0.0.11", "source.ip": "10.30.1.2",
				"source.nat.ip": "10.0.9.1", "source.nat.port": "51234", "source.port": "",
				"http.request.forwarded_for": "10.30.1.2,10.0.9.1", "network.protocol": "mapi",
				"event.outcome": "success", "event.duration": "15000000",
			},
			4: { // s-sitename s-computername ... cs-version, cookie, referrer, host, bytes
				"iis.site_name": "W3SVC1", "host.name": "EXCH02", "http.version": "1.1",
				"http.request.referrer": "https://mail.example.com/owa/", "url.domain": "mail.example.com",
				"http.response.bytes": "2048", "http.request.bytes": "410", "event.duration": "9000000",
				"network.protocol": "oab",
			},
			5: { // IPv6
				"destination.ip": "2001:db8::10", "source.ip": "2001:db8:ffff::9", "event.duration": "0",
				"network.protocol": "ecp", "http.response.status_code": "302",
			},
		}},
	})
}

func TestTextErrors(t *testing.T) {
	tests := []struct {
		name   string
		header string // a #Fields line first, if any
		line   string
		detect bool
		err    string // "" means no error
	}{
		{name: "bad date", line: "2026-02-30 09:00:00 10.0.0.1 GET / - 443 - 10.0.0.2 - - 200 0 0 1", detect: true, err: "invalid date"},
		{name: "too few fields", line: "2026-11-28 09:00:00 10.0.0.1 GET / - 443", detect: true, err: "no known IIS layout"},
		{name: "header does not fit, no layout fits", header: "#Fields: date time c-ip sc-status",
			line: "2026-11-28 09:00:00 10.0.0.1 GET / -", detect: true, err: "its #Fields header 4"},
		{name: "header fits", header: "#Fields: date time c-ip cs-username sc-status",
			line: "2026-11-28 09:00:00 192.0.2.1 CORP\\x 401", detect: true},
		{name: "not a number where the header says sc-status", header: "#Fields: date time c-ip sc-status",
			line: "2026-11-28 09:00:00 192.0.2.1 abc", detect: true, err: "no known IIS layout"},
		{name: "other log with the same timestamp", line: "2026-11-28 09:00:00 INFO service started on port 443", detect: false, err: "no known IIS layout"},
		{name: "Exchange #Fields is not IIS", line: "#Fields: dateTime,sessionId,seqNumber", detect: false, err: "ErrSkip"},
		{name: "empty #Fields", line: "#Fields:", detect: true, err: "names no fields"},
		{name: "other directive", line: "#Remark: hello", detect: false, err: "ErrSkip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &format.Source{Location: time.UTC}
			f := Text()
			if tt.header != "" {
				if err := f.Parse([]byte(tt.header), src, &format.Event{}); !errors.Is(err, format.ErrSkip) {
					t.Fatalf("header: %v", err)
				}
			}
			if got := f.Detect([]byte(tt.line), src); got != tt.detect {
				t.Errorf("Detect = %v, want %v", got, tt.detect)
			}
			var ev format.Event
			err := f.Parse([]byte(tt.line), src, &ev)
			switch {
			case tt.err == "ErrSkip":
				if !errors.Is(err, format.ErrSkip) {
					t.Errorf("Parse error = %v, want ErrSkip", err)
				}
			case tt.err == "":
				if err != nil {
					t.Errorf("Parse error = %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.err):
				t.Errorf("Parse error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestForwardedClient(t *testing.T) {
	tests := []struct{ xff, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"203.0.113.9,+10.0.5.5", "203.0.113.9"},
		{"198.51.100.7, 203.0.113.5", "203.0.113.5"}, // the client wrote the first one
		{"10.1.1.1,10.2.2.2", "10.1.1.1"},
		{"unknown,10.2.2.2", "10.2.2.2"},
		{"203.0.113.9:51515", "203.0.113.9"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"garbage", ""},
	}
	for _, tt := range tests {
		a, ok := forwardedClient([]byte(tt.xff))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("forwardedClient(%q) = %q, want %q", tt.xff, got, tt.want)
		}
	}
}

func TestClientTrust(t *testing.T) {
	// A client connecting directly from the internet may send any
	// X-Forwarded-For: it must not become source.ip.
	line := "2026-11-28 09:00:00 10.0.0.10 POST /EWS/Exchange.asmx - 443 - 198.51.100.77 curl/8.0 - 401 1 1326 1 10.9.9.9"
	var ev format.Event
	if err := Text().Parse([]byte(line), &format.Source{}, &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev.Get("source.ip"); got != "198.51.100.77" {
		t.Errorf("source.ip = %q, want the connecting address", got)
	}
	if got := ev.Get("http.request.forwarded_for"); got != "10.9.9.9" {
		t.Errorf("http.request.forwarded_for = %q", got)
	}
}
