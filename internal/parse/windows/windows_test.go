package windows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
	"github.com/vigil-soc/vigil/internal/parse/windows"
	"github.com/vigil-soc/vigil/internal/store"
)

// received is when the test records arrive: just after the fixtures'
// event time (2026-11-28 09:00:00 UTC).
var received = time.Date(2026, 11, 28, 9, 0, 5, 0, time.UTC)

var eventTime = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func newParser() *parse.Parser {
	return parse.New(parse.Options{
		Location: time.UTC,
		JSONs:    []format.JSON{windows.JSON()},
		Texts:    []format.Text{windows.Snare()},
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example", "CORP.EXAMPLE": "corp.example"}},
	})
}

func parseData(p *parse.Parser, data string) store.Row {
	var row store.Row
	p.Parse(&journal.Record{Seq: 7, Time: received, Input: "windows", Peer: "10.9.0.5:50514", Data: []byte(data)}, &row)
	return row
}

// check compares row with want; a want of "" means the field must be
// absent.
func check(t *testing.T, row store.Row, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got := get(row, name); got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	if t.Failed() {
		for _, f := range row.Fields {
			t.Logf("  %s = %q", f.Name, f.Value)
		}
	}
}

// get returns the last value of a field (a format's field comes after a
// raw JSON key of the same name).
func get(row store.Row, name string) string {
	v := ""
	for _, f := range row.Fields {
		if f.Name == name {
			v = f.Value
		}
	}
	return v
}

func fixture(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\n")
}

// common are the fields every Security event fixture has.
func common(code, host string, m map[string]string) map[string]string {
	m["event.dataset"] = "windows.security"
	m["event.code"] = code
	m["host.name"] = host
	m["vigil.parse_error"] = ""
	return m
}

const (
	exch = "EXCH01.corp.example"
	dc   = "DC01.corp.example"
)

var jsonCases = []struct {
	file string
	want map[string]string
}{
	{"4624_network_ntlm", common("4624", exch, map[string]string{
		"event.category": "authentication", "event.type": "start", "event.action": "logged-in", "event.outcome": "success",
		"user.name": "zhangwei", "user.domain": "corp.example", "user.original": `CORP\zhangwei`,
		"winlog.logon.type": "3", "network.protocol": "ntlm", "source.ip": "10.9.8.7", "source.port": "51234",
		"source.domain": "WKS-ZW01", "process.name": "", "event.reason": "",
		"_msg": `An account was successfully logged on. user=CORP\zhangwei source=10.9.8.7 workstation=WKS-ZW01 logon_type=3 (network)`,
	})},
	{"4624_rdp", common("4624", exch, map[string]string{
		"event.outcome": "success", "user.name": "admin-liu", "winlog.logon.type": "10", "network.protocol": "rdp",
		"source.ip": "10.9.8.31", "source.port": "", "process.name": "svchost.exe",
		"process.executable": `C:\Windows\System32\svchost.exe`,
	})},
	{"4624_owa_cleartext", common("4624", exch, map[string]string{
		"event.outcome": "success", "user.name": "lisi", "winlog.logon.type": "8", "network.protocol": "negotiate",
		"source.ip": "10.9.8.20", "source.port": "60211", "process.name": "w3wp.exe",
	})},
	{"4625_bad_password", common("4625", exch, map[string]string{
		"event.category": "authentication", "event.type": "start", "event.action": "logon-failed", "event.outcome": "failure",
		"user.name": "zhangwei", "user.domain": "corp.example", "winlog.logon.type": "3", "network.protocol": "ntlm",
		"source.ip": "203.0.113.45", "source.port": "", "source.domain": "kali",
		"winlog.status": "0xC000006D", "winlog.sub_status": "0xC000006A", "event.reason": "bad password (0xC000006A)",
		"_msg": `An account failed to log on. user=CORP\zhangwei source=203.0.113.45 workstation=kali logon_type=3 (network) reason=bad password (0xC000006A)`,
	})},
	{"4625_no_such_user", common("4625", exch, map[string]string{
		"event.outcome": "failure", "user.name": "administrator", "user.domain": "corp.example",
		"winlog.logon.type": "8", "event.reason": "no such user (0xC0000064)",
		"source.ip": "203.0.113.45", "source.port": "49822", "process.name": "w3wp.exe",
	})},
	{"4625_locked_out", common("4625", exch, map[string]string{
		"event.outcome": "failure", "user.name": "wangfang", "winlog.status": "0xC0000234", "winlog.sub_status": "",
		"event.reason": "account locked out (0xC0000234)",
	})},
	{"4625_disabled", common("4625", exch, map[string]string{
		"event.outcome": "failure", "user.name": "olduser", "network.protocol": "kerberos", "source.ip": "", "source.port": "",
		"source.domain": "", "winlog.status": "0xC000006E", "event.reason": "account disabled (0xC0000072)",
	})},
	{"4648_explicit", common("4648", exch, map[string]string{
		"event.category": "authentication", "event.action": "logged-in-explicit", "event.outcome": "unknown",
		"user.name": "svc-backup", "user.domain": "corp.example", "destination.domain": "DC01.corp.example",
		"source.ip": "::1", "source.port": "", "process.name": "runas.exe",
		"process.user.name": "admin-liu", "process.user.domain": "corp.example",
	})},
	{"4740_lockout", common("4740", dc, map[string]string{
		"event.category": "iam", "event.type": "change", "event.action": "account-locked", "event.outcome": "success",
		"user.name": "wangfang", "user.domain": "", "user.target.name": "wangfang", "source.domain": "EXCH01",
		"event.reason": "account locked out",
		"_msg":         "A user account was locked out. user=wangfang workstation=EXCH01",
	})},
	{"4767_unlock", common("4767", dc, map[string]string{
		"event.category": "iam", "event.action": "account-unlocked", "event.outcome": "success",
		"user.name": "admin-liu", "user.target.name": "wangfang", "user.target.domain": "corp.example",
	})},
	{"4768_success", common("4768", dc, map[string]string{
		"event.category": "authentication", "event.action": "kerberos-authentication-ticket-requested",
		"event.outcome": "success", "network.protocol": "kerberos", "user.name": "zhangwei", "user.domain": "corp.example",
		"source.ip": "10.9.8.7", "source.port": "51812", "winlog.status": "0x0", "event.reason": "",
	})},
	{"4768_unknown_user", common("4768", dc, map[string]string{
		"event.outcome": "failure", "user.name": "jdoe", "source.ip": "203.0.113.45", "winlog.status": "0x6",
		"event.reason": "no such user (0x6)",
	})},
	{"4768_revoked", common("4768", dc, map[string]string{
		"event.outcome": "failure", "user.name": "wangfang", "source.ip": "10.9.8.44",
		"event.reason": "account disabled, expired or locked out (0x12)",
	})},
	{"4771_preauth", common("4771", dc, map[string]string{
		"event.category": "authentication", "event.action": "kerberos-preauth-failed", "event.outcome": "failure",
		"network.protocol": "kerberos", "user.name": "zhangwei", "user.domain": "", "source.ip": "10.9.8.7",
		"source.port": "51813", "winlog.status": "0x18", "event.reason": "bad password (0x18)",
	})},
	{"4776_success", common("4776", dc, map[string]string{
		"event.action": "credential-validated", "event.outcome": "success", "network.protocol": "ntlm",
		"user.name": "lisi", "source.domain": "EXCH01", "winlog.status": "0x0", "event.reason": "",
	})},
	{"4776_bad_password", common("4776", dc, map[string]string{
		"event.outcome": "failure", "user.name": "zhangwei", "source.domain": "kali",
		"winlog.status": "0xC000006A", "event.reason": "bad password (0xC000006A)",
	})},
	{"4776_no_such_user", common("4776", dc, map[string]string{
		"event.outcome": "failure", "user.name": "test", "source.domain": "203.0.113.45",
		"event.reason": "no such user (0xC0000064)",
	})},
	{"4720_created", common("4720", dc, map[string]string{
		"event.category": "iam", "event.type": "creation", "event.action": "user-created", "event.outcome": "success",
		"user.name": "admin-liu", "user.domain": "corp.example", "user.target.name": "chenjie", "user.target.domain": "corp.example",
		"_msg": `A user account was created. user=CORP\admin-liu target=CORP\chenjie`,
	})},
	{"4722_enabled", common("4722", dc, map[string]string{
		"event.type": "change", "event.action": "user-enabled", "event.outcome": "success", "user.target.name": "chenjie",
	})},
	{"4723_password_change_failed", common("4723", dc, map[string]string{
		"event.action": "password-changed", "event.outcome": "failure", "user.name": "admin-liu", "user.target.name": "lisi",
	})},
	{"4724_password_reset", common("4724", dc, map[string]string{
		"event.action": "password-reset", "event.outcome": "success", "user.target.name": "wangfang",
	})},
	{"4725_disabled", common("4725", dc, map[string]string{
		"event.action": "user-disabled", "event.type": "change", "user.target.name": "olduser",
	})},
	{"4726_deleted", common("4726", dc, map[string]string{
		"event.action": "user-deleted", "event.type": "deletion", "user.target.name": "olduser",
	})},
	{"4738_changed", common("4738", dc, map[string]string{
		"event.action": "user-changed", "event.type": "change", "user.name": "admin-liu", "user.target.name": "lisi",
	})},
	{"4728_global_group", common("4728", dc, map[string]string{
		"event.category": "iam", "event.type": "change", "event.action": "member-added-to-group", "event.outcome": "success",
		"user.name": "admin-liu", "user.target.name": "zhang wei", "group.name": "Domain Admins", "group.domain": "CORP",
		"_msg": `A member was added to a security-enabled global group. user=CORP\admin-liu target=Zhang Wei group=Domain Admins`,
	})},
	{"4732_local_group", common("4732", dc, map[string]string{
		"event.action": "member-added-to-group", "user.target.name": "liu, admin", "group.name": "Administrators",
		"group.domain": "Builtin",
	})},
	{"4756_universal_group", common("4756", dc, map[string]string{
		"event.action": "member-added-to-group", "user.target.name": "li si", "group.name": "Organization Management",
	})},
}

// TestJSON runs each nxlog JSON fixture through package parse, as the MSG
// of a BSD syslog message (nxlog's om_tcp with to_syslog_bsd over the
// JSON) and as a raw JSON record.
func TestJSON(t *testing.T) {
	for _, tc := range jsonCases {
		js := fixture(t, "json/"+tc.file+".json")
		for _, wrap := range []struct{ name, prefix string }{
			{"syslog", "<14>Nov 28 09:00:00 dc01 nxlog: "},
			{"raw", ""},
		} {
			t.Run(tc.file+"/"+wrap.name, func(t *testing.T) {
				p := newParser()
				row := parseData(p, wrap.prefix+js)
				check(t, row, tc.want)
				if !row.Time.Truncate(time.Second).Equal(eventTime) {
					t.Errorf("time = %v, want %v", row.Time, eventTime)
				}
				// The raw EventData keys stay next to the normalized fields.
				if get(row, "EventID") != tc.want["event.code"] {
					t.Errorf("EventID = %q", get(row, "EventID"))
				}
			})
		}
	}
}

// TestJSONNotMatched checks that other JSON payloads are left alone.
func TestJSONNotMatched(t *testing.T) {
	for name, data := range map[string]string{
		"exchange admin audit":          fixture(t, "json/exchange_admin_audit.json"),
		"nginx":                         `<190>Nov 28 09:00:00 vm nginx: {"ip":"10.1.2.3","statuscode":401,"request_uri":"/owa/auth.owa","EventID":"4625"}`,
		"security channel but exchange": `{"EventID":4625,"Channel":"MSExchange Management","SourceName":"Microsoft-Windows-Security-Auditing"}`,
		"no event id":                   `{"Channel":"Security","TargetUserName":"zhangwei"}`,
	} {
		t.Run(name, func(t *testing.T) {
			row := parseData(newParser(), data)
			check(t, row, map[string]string{"event.dataset": "", "event.code": "", "user.name": "", "vigil.parse_error": ""})
		})
	}
}

// TestJSONErrors checks that a matched payload that cannot be mapped says
// why and keeps its raw fields.
func TestJSONErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, err string }{
		{"event id not a number", `{"EventID":"46x","Channel":"Security","TargetUserName":"a"}`, `windows: EventID "46x" is not a number`},
		{"bad time", `{"EventID":4625,"Channel":"Security","EventTime":"yesterday","TargetUserName":"a"}`, `windows: EventTime "yesterday" is not like`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := parseData(newParser(), tc.data)
			if e := get(row, "vigil.parse_error"); !strings.HasPrefix(e, tc.err) {
				t.Errorf("parse error %q, want prefix %q", e, tc.err)
			}
			check(t, row, map[string]string{"event.code": "", "user.name": "", "TargetUserName": "a"})
		})
	}
}

// TestEventTimeForms checks the forms of EventTime nxlog writes.
func TestEventTimeForms(t *testing.T) {
	for in, want := range map[string]time.Time{
		`"2026-11-28 09:00:00"`:          eventTime,
		`"2026-11-28 09:00:00.250"`:      eventTime.Add(250 * time.Millisecond),
		`"2026-11-28T10:00:00+01:00"`:    eventTime,
		`"2026-11-28T09:00:00.3628662Z"`: eventTime.Add(362866200),
		`"2026-11-28T09:00:00"`:          eventTime,
		`"2026-11-28 10:00:00+01:00"`:    eventTime,
		`"2026-11-28 09:00:00Z"`:         eventTime,
		`1795856400000000`:               eventTime, // integer($EventTime): microseconds
		`1795856400`:                     eventTime,
	} {
		row := parseData(newParser(), `{"EventID":4624,"Channel":"Security","EventTime":`+in+`}`)
		if !row.Time.Equal(want) || get(row, "vigil.parse_error") != "" {
			t.Errorf("EventTime %s: time %v (error %q), want %v", in, row.Time, get(row, "vigil.parse_error"), want)
		}
	}
}

var snareCases = []struct {
	file string
	want map[string]string
}{
	{"4625_bad_password", common("4625", exch, map[string]string{
		"event.category": "authentication", "event.action": "logon-failed", "event.outcome": "failure",
		"user.name": "zhangwei", "user.domain": "corp.example", "user.original": `CORP\zhangwei`,
		"winlog.logon.type": "8", "network.protocol": "negotiate", "source.ip": "203.0.113.45", "source.port": "49822",
		"source.domain": "EXCH01", "winlog.status": "0xC000006D", "winlog.sub_status": "0xC000006A",
		"event.reason": "bad password (0xC000006A)", "process.name": "w3wp.exe",
		"process.executable": `C:\Windows\System32\inetsrv\w3wp.exe`,
	})},
	{"4625_single_spaces", common("4625", dc, map[string]string{
		"event.outcome": "failure", "user.name": "lisi", "user.original": `CORP\lisi`, "winlog.logon.type": "3",
		"network.protocol": "ntlm", "source.ip": "10.9.8.7", "source.port": "51234", "source.domain": "WKS-LS03",
		"event.reason": "no such user (0xC0000064)", "process.name": "",
	})},
	{"4624_network", common("4624", exch, map[string]string{
		"event.action": "logged-in", "event.outcome": "success", "user.name": "zhangwei", "user.original": `CORP\zhangwei`,
		"winlog.logon.type": "3", "network.protocol": "ntlm", "source.ip": "10.9.8.7", "source.port": "51234",
		"source.domain": "WKS-ZW01", "process.name": "",
	})},
	{"4740_lockout", common("4740", dc, map[string]string{
		"event.category": "iam", "event.action": "account-locked", "event.outcome": "success",
		"user.name": "wangfang", "user.target.name": "wangfang", "source.domain": "EXCH01",
	})},
	{"4776_bad_password", common("4776", dc, map[string]string{
		"event.action": "credential-validated", "event.outcome": "failure", "network.protocol": "ntlm",
		"user.name": "zhangwei", "source.domain": "kali", "event.reason": "bad password (0xC000006A)",
	})},
	{"4728_member_added", common("4728", dc, map[string]string{
		"event.action": "member-added-to-group", "user.name": "admin-liu", "user.domain": "corp.example",
		"user.target.name": "zhangwei", "user.target.domain": "corp.example",
		"group.name": "Domain Admins", "group.domain": "CORP",
	})},
	{"4771_preauth", common("4771", dc, map[string]string{
		"event.action": "kerberos-preauth-failed", "event.outcome": "failure", "user.name": "zhangwei",
		"source.ip": "10.9.8.7", "source.port": "51813", "winlog.status": "0x18", "event.reason": "bad password (0x18)",
	})},
	{"7036_system", map[string]string{
		"event.dataset": "windows.system", "event.code": "7036", "host.name": exch, "event.outcome": "",
		"event.category": "", "vigil.parse_error": "",
	}},
}

// TestSnare runs each Snare fixture through package parse, with the BSD
// syslog header nxlog and Snare agents put before it, and without one.
func TestSnare(t *testing.T) {
	for _, tc := range snareCases {
		line := fixture(t, "snare/"+tc.file+".txt")
		for _, wrap := range []struct{ name, prefix string }{
			{"syslog", "<14>Nov 28 09:00:00 dc01 "},
			{"syslog-no-host", "<14>Nov 28 09:00:00 "},
			{"raw", ""},
			{"snare-hostname", "DC01\t"},
		} {
			t.Run(tc.file+"/"+wrap.name, func(t *testing.T) {
				row := parseData(newParser(), wrap.prefix+line)
				check(t, row, tc.want)
				if !row.Time.Equal(eventTime) {
					t.Errorf("time = %v, want %v", row.Time, eventTime)
				}
				if get(row, "_msg") == "" {
					t.Error("_msg is empty")
				}
			})
		}
	}
}

func TestSnareErrors(t *testing.T) {
	for _, tc := range []struct{ name, line, err string }{
		{"too few fields", "MSWinEventLog\t1\tSecurity\t1\tThu Nov 28 09:00:00 2026\t4625", "windows-snare: 6 tab-separated fields, want at least 11"},
		{"bad date", "MSWinEventLog\t1\tSecurity\t1\t2026-11-28\t4625\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tDC01", `windows-snare: date "2026-11-28" is not like`},
		{"bad event id", "MSWinEventLog\t1\tSecurity\t1\tThu Nov 28 09:00:00 2026\tx\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tDC01", `windows-snare: EventID "x" is not a number`},
		{"snare json", "MSWinEventLog\t0\t{\"EventID\":4625}\t1\t2\t3\t4\t5\t6\t7\t8", "windows-snare: Snare JSON records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := parseData(newParser(), "<14>Nov 28 09:00:00 dc01 "+tc.line)
			if e := get(row, "vigil.parse_error"); !strings.HasPrefix(e, tc.err) {
				t.Errorf("parse error %q, want prefix %q", e, tc.err)
			}
			check(t, row, map[string]string{"event.code": "", "host.name": ""})
		})
	}
}

func TestSnareNotDetected(t *testing.T) {
	for _, msg := range []string{
		"<14>Nov 28 09:00:00 dc01 app: MSWinEventLog is a word here",
		"two words MSWinEventLog\t1\tSecurity",
		"MSWinEventLog",
	} {
		if windows.Snare().Detect([]byte(strings.TrimPrefix(msg, "<14>Nov 28 09:00:00 dc01 app: ")), nil) {
			t.Errorf("Detect(%q) = true", msg)
		}
	}
}

// TestSamples parses the real nxlog samples (third-party, not in the
// repository).
func TestSamples(t *testing.T) {
	dir := formattest.Samples(t, "windows-nxlog")
	files, _ := filepath.Glob(filepath.Join(dir, "*.nxlog.json"))
	if len(files) == 0 {
		t.Fatal("no samples in", dir)
	}
	want := map[string]map[string]string{
		"event_4624.nxlog.json": {
			"event.code": "4624", "event.outcome": "success", "event.action": "logged-in", "winlog.logon.type": "2",
			"network.protocol": "negotiate", "process.name": "svchost.exe", "event.reason": "",
		},
		"event_4625.nxlog.json": {
			"event.code": "4625", "event.outcome": "failure", "event.action": "logon-failed", "winlog.logon.type": "2",
			"winlog.status": "0xC000006D", "winlog.sub_status": "0xC000006A", "event.reason": "bad password (0xC000006A)",
		},
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			for _, prefix := range []string{"<14>Mar 14 13:54:20 WKS10001 nxlog: ", ""} {
				var row store.Row
				p := parse.New(parse.Options{Location: time.UTC, JSONs: []format.JSON{windows.JSON()}, Texts: []format.Text{windows.Snare()}})
				p.Parse(&journal.Record{Seq: 1, Time: time.Date(2024, 3, 14, 13, 54, 20, 0, time.UTC), Input: "w", Data: []byte(prefix + line)}, &row)
				t.Logf("%s:%d %q", filepath.Base(file), i+1, get(row, "_msg"))
				m := map[string]string{
					"vigil.parse_error": "", "event.dataset": "windows.security", "event.category": "authentication",
					"host.name": "WKS10001", "user.name": "user", "user.domain": "wks10001", "user.original": `WKS10001\user`,
					"source.ip": "127.0.0.1", "source.port": "", "source.domain": "WKS10001",
				}
				for k, v := range want[filepath.Base(file)] {
					m[k] = v
				}
				check(t, row, m)
				if row.Time.Year() != 2024 || row.Time.Month() != 3 || row.Time.Day() != 14 {
					t.Errorf("%s: time %v", file, row.Time)
				}
			}
		}
	}
}

// TestJSONEventDataObject checks a payload whose EventData is an object
// rather than top-level keys (im_msvistalog records reshaped by a
// processor), and one with ProviderName instead of Channel.
func TestJSONEventDataObject(t *testing.T) {
	row := parseData(newParser(), `{"EventTime":"2026-11-28T09:00:00Z","Hostname":"EXCH01","EventID":4625,"ProviderName":"Microsoft-Windows-Security-Auditing","EventData":{"TargetUserName":"zhangwei","TargetDomainName":"CORP","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":"3","IpAddress":"203.0.113.45","IpPort":"0"}}`)
	check(t, row, map[string]string{
		"event.code": "4625", "event.outcome": "failure", "user.name": "zhangwei", "source.ip": "203.0.113.45",
		"event.reason": "bad password (0xC000006A)", "vigil.parse_error": "", "event.dataset": "windows.security",
	})
}
