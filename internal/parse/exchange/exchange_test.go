package exchange

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// result is what a Text format made of one line.
type result struct {
	line     string
	detected bool
	skip     bool
	err      error
	fields   map[string]string
	time     time.Time
}

// runText runs f over lines as one source sends them, in order.
func runText(t testing.TB, f format.Text, src *format.Source, lines []string) []result {
	t.Helper()
	out := make([]result, len(lines))
	for i, l := range lines {
		r := result{line: l}
		if r.detected = f.Detect([]byte(l), src); r.detected {
			var ev format.Event
			err := f.Parse([]byte(l), src, &ev)
			switch {
			case errors.Is(err, format.ErrSkip):
				r.skip = true
			case err != nil:
				r.err = err
			}
			r.fields = make(map[string]string)
			for _, fl := range ev.Fields {
				if _, dup := r.fields[fl.Name]; dup {
					t.Errorf("line %d: field %s set twice", i, fl.Name)
				}
				r.fields[fl.Name] = fl.Value
			}
			r.time = ev.Time
		}
		out[i] = r
	}
	return out
}

// want is what a test expects of one line: "" means the field must be
// absent.
type want map[string]string

func check(t *testing.T, r result, w want) {
	t.Helper()
	if !r.detected {
		t.Fatalf("not detected: %s", r.line)
	}
	if r.err != nil {
		t.Fatalf("parse error %v: %s", r.err, r.line)
	}
	for name, v := range w {
		got, ok := r.fields[name]
		switch {
		case v == "" && ok:
			t.Errorf("%s = %q, want it absent", name, got)
		case v != "" && got != v:
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

func newSource() *format.Source {
	return &format.Source{Location: time.UTC, Users: &format.Users{Domains: map[string]string{"CORP": "corp.example"}}}
}

func TestProtocolIMAPPasswordGuessing(t *testing.T) {
	rs := runText(t, Protocol(), newSource(), formattest.ReadLines(t, "testdata/imap_bruteforce.log", false))
	for i := range 5 {
		if !rs[i].detected || !rs[i].skip {
			t.Fatalf("header line %d: detected %v skip %v err %v", i, rs[i].detected, rs[i].skip, rs[i].err)
		}
	}
	failedLogin := want{
		"event.dataset": "exchange.imap", "network.protocol": "imap", "event.category": "authentication",
		"event.action": "login", "event.outcome": "failure", "event.reason": "NO LOGIN failed. (AuthFailed:LogonDenied)",
		"user.name": "zhangwei", "user.domain": "corp.example",
		"source.ip": "203.0.113.77", "source.port": "51012", "destination.ip": "10.0.0.5", "destination.port": "993",
		"session.id": "0000000000000A1F",
	}
	tests := []struct {
		line int
		want want
		time string
	}{
		{5, want{"event.action": "opensession", "event.type": "start", "event.category": "network", "event.outcome": "",
			"user.name": "", "source.ip": "203.0.113.77", "event.dataset": "exchange.imap"}, "2026-11-28T08:00:01.12Z"},
		{6, want{"event.action": "capability", "event.category": "email", "event.outcome": "success"}, ""},
		{7, failedLogin, "2026-11-28T08:00:01.95Z"},
		{8, failedLogin, ""},
		{9, failedLogin, ""},
		{10, want{"event.action": "login", "event.category": "authentication", "event.outcome": "success", "event.reason": "",
			"user.name": "zhangwei", "event.duration": "118000000"}, "2026-11-28T08:00:09.31Z"},
		{11, want{"event.action": "select", "event.category": "email", "event.outcome": "success", "user.name": "zhangwei"}, ""},
		{12, want{"event.action": "closesession", "event.type": "end", "user.name": "zhangwei"}, ""},
		{14, want{"event.action": "authenticate", "event.category": "authentication", "event.outcome": "failure",
			"event.reason": "NO AUTHENTICATE failed. (AuthFailed:LogonDenied)", "user.name": "lisi", "user.domain": "corp.example",
			"user.target.name": "finance-shared", "user.original": `CORP\lisi\finance-shared`, "source.ip": "198.51.100.23"}, ""},
	}
	for _, tt := range tests {
		r := rs[tt.line]
		check(t, r, tt.want)
		if tt.time != "" {
			if wt, _ := time.Parse(time.RFC3339Nano, tt.time); !r.time.Equal(wt) {
				t.Errorf("line %d: time %v, want %v", tt.line, r.time, wt)
			}
		}
	}
}

func TestProtocolPOP3(t *testing.T) {
	rs := runText(t, Protocol(), newSource(), formattest.ReadLines(t, "testdata/pop3_fail.log", false))
	tests := []struct {
		line int
		want want
	}{
		{0, want{"event.dataset": "exchange.pop3", "network.protocol": "pop3", "event.action": "opensession", "destination.port": "995"}},
		{1, want{"event.action": "user", "event.category": "email", "event.outcome": "success", "user.name": "wangfang", "user.domain": ""}},
		{2, want{"event.action": "pass", "event.category": "authentication", "event.outcome": "failure",
			"event.reason": "-ERR Logon failure: unknown user name or bad password. (AuthFailed:LogonDenied)",
			"user.name":    "wangfang", "source.ip": "192.0.2.44", "event.duration": "610000000"}},
		{3, want{"event.action": "quit", "user.name": "wangfang", "event.outcome": "success"}},
		{5, want{"event.dataset": "exchange.pop3", "destination.port": "1995", "user.name": ""}},
		{6, want{"event.action": "pass", "event.outcome": "success", "user.name": "wangfang", "user.domain": "corp.example",
			"user.original": `CORP\wangfang`, "event.reason": ""}},
		{7, want{"event.action": "retr", "event.category": "email"}},
	}
	for _, tt := range tests {
		check(t, rs[tt.line], tt.want)
	}
}

func TestProtocolDecision(t *testing.T) {
	// Without a header, a non-standard port and an ambiguous command, the
	// session's earlier command decides.
	lines := []string{
		`2026-11-28T08:00:00.000Z,00000000000000C1,0,10.0.0.5:10143,10.1.1.1:5000,,0,0,0,OpenSession,,,`,
		`2026-11-28T08:00:00.100Z,00000000000000C1,1,10.0.0.5:10143,10.1.1.1:5000,,0,0,0,noop,,R=OK,`,
		`2026-11-28T08:00:00.200Z,00000000000000C1,2,10.0.0.5:10143,10.1.1.1:5000,,0,0,0,select,INBOX,R=OK,`,
		`2026-11-28T08:00:00.300Z,00000000000000C1,3,10.0.0.5:10143,10.1.1.1:5000,,0,0,0,noop,,R=OK,`,
	}
	rs := runText(t, Protocol(), newSource(), lines)
	check(t, rs[0], want{"event.dataset": "exchange.imap_pop", "network.protocol": ""})
	check(t, rs[2], want{"event.dataset": "exchange.imap"})
	check(t, rs[3], want{"event.dataset": "exchange.imap"})

	// #Log-type wins over the port.
	lines = []string{
		`#Log-type: POP3 Protocol Log`,
		`2026-11-28T08:00:00.000Z,00000000000000C2,0,10.0.0.5:993,10.1.1.1:5000,,0,0,0,OpenSession,,,`,
	}
	rs = runText(t, Protocol(), newSource(), lines)
	check(t, rs[1], want{"event.dataset": "exchange.pop3"})
}

func TestProtocolRejects(t *testing.T) {
	src := newSource()
	for _, l := range []string{
		`2024-01-24T15:26:47.957Z,3422ea93-768f-4cd4-8b0c-578038deb0b2,15,1,2507,35,,Mapi,mail.domain.tld,/mapi/emsmdb/`,
		`2023-08-30T00:37:33.499Z,EXCH\Default Frontend EXCH,08DB994D2DD18DBF,5,172.16.101.13:25,185.28.39.36:51898,>,220 2.0.0 SMTP server ready,`,
		`#Fields: date-time,client-ip,client-hostname,server-ip`,
		`#Software: Microsoft Internet Information Services 10.0`,
		`not a log line`,
	} {
		if Protocol().Detect([]byte(l), src) {
			t.Errorf("detected %q", l)
		}
	}
	var ev format.Event
	err := Protocol().Parse([]byte(`2026-11-28T08:00:00Z,0A,0,10.0.0.5:993,10.1.1.1:5000,,0,0,0,login,"unterminated`), src, &ev)
	if err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Errorf("unterminated quote: err %v", err)
	}
	err = Protocol().Parse([]byte(`2026-13-28T08:00:00Z,0A,0,10.0.0.5:993,10.1.1.1:5000,,0,0,0,login,,`), src, &ev)
	if err == nil || !strings.Contains(err.Error(), "dateTime") {
		t.Errorf("bad month: err %v", err)
	}
}

func TestParseContext(t *testing.T) {
	tests := []struct {
		name, field string // field as it is between the CSV quotes
		esc         bool
		outcome     string
		reason      string
	}{
		{"ok", `R=OK`, false, "success", ""},
		{"lowercase ok", `R=ok`, false, "success", ""},
		{"proxy ok", `R=OK;Msg=""Proxy:Host123.domain.tld:1993:SSL;ProxySuccess"";LiveIdAR=OK`, true, "success", ""},
		{"authenticate failed", `R=""2 NO AUTHENTICATE failed."";Msg=""AuthFailed:LogonDenied,User: d\u\s"";ErrMsg=AuthFailed:LogonDenied`, true,
			"failure", "NO AUTHENTICATE failed. (AuthFailed:LogonDenied)"},
		{"login failed without ErrMsg", `R=""a2 NO LOGIN failed.""`, true, "failure", "NO LOGIN failed."},
		{"quotes doubled twice", `R=""""a2 NO LOGIN failed.""""`, true, "failure", "NO LOGIN failed."},
		{"pop3 -ERR", `R=""-ERR Logon failure: unknown user name or bad password.""`, true, "failure",
			"-ERR Logon failure: unknown user name or bad password."},
		{"bad", `R=""a4 BAD Command Argument Error. 11""`, true, "failure", "BAD Command Argument Error. 11"},
		{"basic auth blocked", `R=""a1 NO AUTHENTICATE failed."";ErrMsg=AuthFailed:LogonDenied-BasicAuthBlocked`, true, "failure",
			"NO AUTHENTICATE failed. (AuthFailed:LogonDenied-BasicAuthBlocked)"},
		{"msg only", `Msg=AuthFailed:PasswordExpired`, false, "failure", "AuthFailed:PasswordExpired"},
		{"continuation", `R=+`, false, "unknown", ""},
		{"empty", ``, false, "", ""},
		{"unbalanced", `R=""a2 NO LOGIN;x=""`, true, "failure", "NO LOGIN;x="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, r := resultOf(parseContext(csvField{b: []byte(tt.field), esc: tt.esc}))
			if o != tt.outcome || string(r) != tt.reason {
				t.Errorf("got %q %q, want %q %q", o, r, tt.outcome, tt.reason)
			}
		})
	}
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`a,b,,c`, []string{"a", "b", "", "c"}, false},
		{`a,`, []string{"a", ""}, false},
		{`"a,b","c""d",e`, []string{"a,b", `c"d`, "e"}, false},
		{`"",x`, []string{"", "x"}, false},
		{`"a"junk,b`, []string{"a", "b"}, false},
		{`"open`, nil, true},
		{strings.Repeat(",", 70), nil, true},
	}
	for _, tt := range tests {
		var fs [maxFields]csvField
		n, err := splitCSV([]byte(tt.in), &fs)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if tt.err {
			continue
		}
		var got []string
		for _, f := range fs[:n] {
			got = append(got, string(f.value()))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSetUser(t *testing.T) {
	tests := []struct {
		raw                  string
		name, domain, target string
	}{
		{`CORP\ZhangWei`, "zhangwei", "corp.example", ""},
		{`zhangwei@corp.example`, "zhangwei", "corp.example", ""},
		{`CORP\lisi\finance-shared`, "lisi", "corp.example", "finance-shared"},
		{`lisi@corp.example\finance@corp.example`, "lisi", "corp.example", "finance"},
		{`corp.example/Users/admin1`, "admin1", "corp.example", ""},
		{`corp.example/IT/Admins/Jane Doe`, "jane doe", "corp.example", ""},
		{`plain`, "plain", "", ""},
	}
	for _, tt := range tests {
		var ev format.Event
		setUser(&ev, newSource(), tt.raw)
		if ev.Get(format.FieldUserName) != tt.name || ev.Get(format.FieldUserDomain) != tt.domain ||
			ev.Get(format.FieldUserTarget) != tt.target || ev.Get(format.FieldUserOriginal) != tt.raw {
			t.Errorf("%q: got %+v", tt.raw, ev.Fields)
		}
	}
}

func TestMessageTracking(t *testing.T) {
	rs := runText(t, MessageTracking(), newSource(), formattest.ReadLines(t, "testdata/messagetracking.log", false))
	for i := range 5 {
		if !rs[i].skip {
			t.Fatalf("header line %d: detected %v skip %v err %v", i, rs[i].detected, rs[i].skip, rs[i].err)
		}
	}
	tests := []struct {
		line int
		want want
	}{
		{5, want{"event.dataset": "exchange.messagetracking", "event.category": "email", "event.action": "RECEIVE",
			"event.outcome": "success", "network.protocol": "smtp", "exchange.source": "SMTP",
			"email.from.address": "billing@partner.example", "email.to.address": "zhangwei@corp.example;lisi@corp.example",
			"email.subject": "Invoice 2026-11, please pay", "email.message_id": "<CAF1x9Q@mail.partner.example>",
			"email.local_id": "6f1c2d3e-aaaa-4bbb-8ccc-08de1c2a3b4c", "source.ip": "198.51.100.9",
			"source.domain": "mail.partner.example", "destination.ip": "10.0.0.5", "host.name": "EXCH01",
			"network.bytes": "48211", "exchange.recipient_count": "2", "exchange.directionality": "Incoming", "event.reason": ""}},
		{6, want{"event.action": "DELIVER", "event.outcome": "success", "exchange.source": "STOREDRIVER", "network.protocol": "",
			"source.ip": ""}},
		{7, want{"event.action": "SEND", "event.outcome": "success", "email.to.address": "drop@fileshare-drop.example",
			"network.bytes": "15728640", "exchange.original_client_ip": "10.20.30.40", "source.ip": "10.0.0.5",
			"source.domain": "EXCH01", "destination.ip": "203.0.113.25", "host.name": "EXCH01"}},
		{8, want{"event.action": "FAIL", "event.outcome": "failure",
			"event.reason": "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "email.to.address": "nosuchuser@corp.example"}},
		{9, want{"event.action": "DSN", "event.outcome": "failure", "email.from.address": "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example"}},
	}
	for _, tt := range tests {
		check(t, rs[tt.line], tt.want)
	}
	if wt := time.Date(2026, 11, 28, 9, 0, 1, 101e6, time.UTC); !rs[5].time.Equal(wt) {
		t.Errorf("time %v, want %v", rs[5].time, wt)
	}
}

func TestTrackingOutcome(t *testing.T) {
	tests := []struct{ event, status, want string }{
		{"DSN", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "failure"},
		{"DSN", "[{LRT=};{LED=441 4.4.1 Error encountered while communicating with primary target IP address};{FQDN=}]", "unknown"},
		{"DSN", "250 2.0.0 OK", "success"},
		{"DSN", "", "failure"},
		{"HAREDIRECTFAIL", "", "failure"},
		{"DEFER", "451 4.4.0 DNS query failed", ""},
		{"EXPAND", "", ""},
		{"NOSUCHEVENT", "", ""},
	}
	for _, tt := range tests {
		if got := trackingOutcome([]byte(tt.event), []byte(tt.status)); got != tt.want {
			t.Errorf("%s %q: %q, want %q", tt.event, tt.status, got, tt.want)
		}
	}
}

func TestMessageTracking2010(t *testing.T) {
	// A headerless line in Exchange 2010's 26-column order.
	l := `2026-11-28T09:00:01.101Z,198.51.100.9,mail.partner.example,10.0.0.5,EXCH01,08CD1C2A3B4C5D6E;2026-11-28T09:00:00.950Z;0,EXCH01\Default EXCH01,SMTP,RECEIVE,41231,<x@partner.example>,zhangwei@corp.example,,4821,1,,,hello,billing@partner.example,billing@partner.example,,Incoming,,,,`
	rs := runText(t, MessageTracking(), newSource(), []string{l})
	check(t, rs[0], want{"event.action": "RECEIVE", "email.to.address": "zhangwei@corp.example", "email.subject": "hello",
		"network.bytes": "4821", "email.from.address": "billing@partner.example", "email.local_id": ""})
}

func TestAdminAuditExport(t *testing.T) {
	rs := runText(t, AdminAuditExport(), newSource(), formattest.ReadLines(t, "testdata/admin_audit.csv", false))
	if !rs[0].skip || !rs[1].skip {
		t.Fatalf("#TYPE and header: %+v %+v", rs[0], rs[1])
	}
	tests := []struct {
		line int
		want want
		time time.Time
	}{
		{2, want{"event.dataset": "exchange.admin_audit", "exchange.cmdlet": "New-MailboxExportRequest",
			"event.action": "New-MailboxExportRequest", "exchange.parameters": `-Mailbox "ceo" -FilePath "\\fs01\pst$\ceo.pst"`,
			"exchange.object": `corp.example/Users/CEO\ceo-export`, "event.category": "configuration", "event.type": "creation",
			"event.outcome": "success", "user.name": "admin1", "user.domain": "corp.example", "host.name": "EXCH01"},
			time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{3, want{"exchange.cmdlet": "Add-MailboxPermission", "event.category": "iam", "event.type": "change",
			"user.target.name": "svc-backup", "exchange.object": "corp.example/Users/CEO"}, time.Time{}},
		{4, want{"exchange.cmdlet": "Set-AdminAuditLogConfig", "event.outcome": "failure",
			"event.reason":    "Access is denied. The user doesn't have permission to change the audit configuration.",
			"exchange.object": ""}, time.Time{}},
		{5, want{"exchange.cmdlet": "Set-Mailbox", "user.name": "admin2", "user.domain": "corp.example", "exchange.object": "corp.example/Users/CFO",
			"host.name": "EXCH02"}, time.Date(2026, 11, 28, 13, 15, 9, 0, time.UTC)},
	}
	for _, tt := range tests {
		check(t, rs[tt.line], tt.want)
		if !tt.time.IsZero() && !rs[tt.line].time.Equal(tt.time) {
			t.Errorf("line %d: time %v, want %v", tt.line, rs[tt.line].time, tt.time)
		}
	}

	rs = runText(t, AdminAuditExport(), newSource(), formattest.ReadLines(t, "testdata/admin_audit_raw.csv", false))
	check(t, rs[2], want{"exchange.cmdlet": "Add-MailboxPermission", "exchange.parameters": "", "user.target.name": "",
		"exchange.object": "corp.example/Users/CEO", "event.outcome": "success", "user.name": "admin1"})
	if wt := time.Date(2026, 11, 28, 9, 1, 30, 0, time.UTC); !rs[2].time.Equal(wt) {
		t.Errorf("raw export time %v, want %v", rs[2].time, wt)
	}

	// A data line before any header is not claimed.
	if AdminAuditExport().Detect([]byte(`"11/28/2026 9:00:00 AM","a","Set-Mailbox","","","True","",""`), newSource()) {
		t.Error("headerless line detected")
	}
}

func TestParseLocalDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"11/28/2026 9:00:00 AM", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{"11/28/2026 12:30:00 AM", time.Date(2026, 11, 28, 0, 30, 0, 0, time.UTC)},
		{"1/2/2026 1:15:09 PM", time.Date(2026, 1, 2, 13, 15, 9, 0, time.UTC)},
		{"28/11/2026 09:00:00", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{"02/01/2026 13:00:00", time.Date(2026, 1, 2, 13, 0, 0, 0, time.UTC)},
		{"11/28/2026 13:00:00", time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)},
		{"28.11.2026 09:00:00", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{"2026/11/28 9:00:00", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{"2026-11-28 09:00:00", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{"2026-11-28T09:00:00.5+01:00", time.Date(2026, 11, 28, 8, 0, 0, 5e8, time.UTC)},
		{"28.11.2026", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
		{"yesterday", time.Time{}},
		{"13/13/2026 9:00:00 AM", time.Time{}},
		{"11/28/2026 25:00:00", time.Time{}},
		{"11/28/26 9:00:00 AM", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := parseLocalDate(tt.in, time.UTC)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("%q: %v %v, want %v", tt.in, got, ok, tt.want)
		}
	}
}

func TestParseCmdletMessage(t *testing.T) {
	tests := []struct{ msg, name, params, reason string }{
		{`Cmdlet succeeded. Cmdlet Set-Mailbox, parameters -Identity "Administrateur" -DeliverToMailboxAndForward "False" -ForwardingSmtpAddress "smtp:test2@example.com".`,
			"Set-Mailbox", `-Identity "Administrateur" -DeliverToMailboxAndForward "False" -ForwardingSmtpAddress "smtp:test2@example.com"`, ""},
		{`Cmdlet failed. Cmdlet Install-BridgeheadRole, parameters -DomainController "IDC06.main.msa.com" -UpdatesDir $null -LanguagePacksPath "E:\" -StartTransportService "True".`,
			"Install-BridgeheadRole", `-DomainController "IDC06.main.msa.com" -UpdatesDir $null -LanguagePacksPath "E:\" -StartTransportService "True"`, ""},
		{`Cmdlet succeeded. Cmdlet Get-ExchangeServer, parameters .`, "Get-ExchangeServer", "", ""},
		{`Cmdlet erfolgreich. Cmdlet Set-Mailbox, Parameter -Identity "x".`, "Set-Mailbox", `-Identity "x"`, ""},
		{`(PID 12460, Thread 9) Task Test-WebServicesConnectivity throwing unhandled exception: System.InvalidOperationException: Operation is not valid.` + "\r\nat x",
			"Test-WebServicesConnectivity", "", "System.InvalidOperationException: Operation is not valid."},
		{`something else entirely`, "", "", ""},
	}
	for _, tt := range tests {
		n, p, r := parseCmdletMessage(tt.msg)
		if n != tt.name || p != tt.params || r != tt.reason {
			t.Errorf("%q:\n got %q %q %q\nwant %q %q %q", tt.msg, n, p, r, tt.name, tt.params, tt.reason)
		}
	}
}

func TestEachParam(t *testing.T) {
	var got []string
	eachParam(`-Identity "J. -Doe" -Confirm:$false -UpdatesDir $null -AccessRights "FullAccess","ReadPermission" -Force -Name x`, func(n, v string) bool {
		got = append(got, n+"="+v)
		return true
	})
	want := []string{`Identity=J. -Doe`, `Confirm=$false`, `UpdatesDir=`, `AccessRights="FullAccess","ReadPermission"`, `Force=`, `Name=x`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestEventDataValues(t *testing.T) {
	x := `<Event><System><Data>no</Data></System><EventData><Data>Set-Mailbox</Data><Data /><Data Name='x'>a &amp; b &#x41;&#66; &bogus;</Data><Data/><DataX>skip</DataX></EventData></Event>`
	got := eventDataValues(x)
	want := []string{"Set-Mailbox", "", "a & b AB &bogus;", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAdminAuditXML(t *testing.T) {
	rs := runText(t, AdminAuditXML(), newSource(), formattest.ReadLines(t, "testdata/admin_audit.xml", false))
	if rs[0].detected {
		t.Error("the XML declaration is claimed")
	}
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 18} {
		if !rs[i].detected || !rs[i].skip {
			t.Errorf("line %d %q: detected %v skip %v err %v, want a state line", i, rs[i].line, rs[i].detected, rs[i].skip, rs[i].err)
		}
	}
	check(t, rs[10], want{"event.dataset": "exchange.admin_audit", "exchange.cmdlet": "Set-Mailbox", "event.action": "Set-Mailbox",
		"exchange.parameters": `-Identity "zhangwei" -ForwardingSmtpAddress "smtp:drop&box@example.org"`,
		"exchange.object":     "corp.example/Users/ZhangWei", "event.outcome": "success",
		"exchange.modified_properties": "ForwardingSmtpAddress:  -> smtp:drop&box@example.org",
		"user.name":                    "administrator", "user.domain": "corp.example", "host.name": "EXCH01", "exchange.external_access": ""})
	if wt := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC); !rs[10].time.Equal(wt) {
		t.Errorf("RunDate with an offset: %v, want %v", rs[10].time, wt)
	}
	check(t, rs[11], want{"exchange.cmdlet": "New-MailboxExportRequest", "exchange.parameters": `-Mailbox "ceo" -FilePath "\\srv\pst\ceo.pst"`,
		"event.outcome": "failure", "event.reason": "Access denied", "user.name": "exadmin", "host.name": "EXCH02"})
	check(t, rs[19], want{"exchange.cmdlet": "Add-MailboxPermission", "event.category": "iam", "user.target.name": "svc-backup",
		"exchange.object": "corp.example/Users/CEO", "exchange.external_access": "true", "user.name": "admin2"})
	for i, want := range map[int]string{20: "without its <Event>", 21: "not a cmdlet name", 22: "not a date"} {
		if rs[i].err == nil || !strings.Contains(rs[i].err.Error(), want) {
			t.Errorf("line %d: error %v, want one about %q", i, rs[i].err, want)
		}
	}
	// An element of the export is not claimed outside an open <Event>.
	if AdminAuditXML().Detect([]byte(`<Parameter Name="Identity" Value="x" />`), newSource()) {
		t.Error("a lone Parameter line is claimed")
	}
}

func FuzzAdminAuditXML(f *testing.F) {
	for _, l := range formattest.ReadLines(f, "testdata/admin_audit.xml", false) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		src := newSource()
		for range 2 { // twice: state carried from the first pass
			if AdminAuditXML().Detect([]byte(line), src) {
				var ev format.Event
				_ = AdminAuditXML().Parse([]byte(line), src, &ev)
			}
		}
	})
}

// TestProtocolUserFromContext: a refused IMAP AUTHENTICATE or POP3 PASS
// whose user column is empty (and whose session named no user before)
// takes the user from the context's "User: name"; the column wins when it
// is set, and a context without such an item, or with one inside other
// text, names nobody.
func TestProtocolUserFromContext(t *testing.T) {
	rs := runText(t, Protocol(), newSource(), formattest.ReadLines(t, "testdata/imap_pop_context_user.log", false))
	tests := []want{
		{"event.action": "opensession", "user.name": ""},
		{"event.dataset": "exchange.imap", "event.action": "authenticate", "event.outcome": "failure",
			"user.name": "liuyang", "user.domain": "corp.example"},
		{"event.dataset": "exchange.pop3", "event.action": "pass", "event.outcome": "failure",
			"user.name": "zhaolei", "user.domain": "corp.example", "source.ip": "203.0.113.91"},
		{"event.outcome": "success", "user.name": ""},
		{"event.outcome": "failure", "user.name": "sunli", "user.target.name": "shared-box"},
		{"event.action": "select", "user.name": ""},
	}
	if len(rs) != len(tests) {
		t.Fatalf("%d lines, %d tests", len(rs), len(tests))
	}
	for i, w := range tests {
		check(t, rs[i], w)
	}
}

// TestECP reads the ECP server and activity logs: headers are state, each
// request gives the cmdlet (S:CMD, parameters joined by '.', quoted items
// with doubled quotes), the URL, the duration, the outcome from S:EX and,
// in the activity log, the user from S:PSA.
func TestECP(t *testing.T) {
	src := newSource()
	var lines []string
	lines = append(lines, formattest.ReadLines(t, "testdata/ecp_server.log", false)...)
	lines = append(lines, formattest.ReadLines(t, "testdata/ecp_activity.log", false)...)
	rs := runText(t, ECP(), src, lines)
	const ds = "exchange.ecp"
	tests := []want{
		nil, nil, nil, nil, nil, // the first file's headers
		{"event.dataset": ds, "host.name": "EXCH01", "exchange.cmdlet": "Get-InboxRule", "event.type": "access",
			"url.path": "/ecp/RulesEditor/InboxRules.svc/GetList", "url.query": "msExchEcpCanary=Zq3xYw",
			"event.duration": "13000000", "event.outcome": "success", "user.name": ""},
		{"event.dataset": ds, "exchange.cmdlet": "Set-OabVirtualDirectory", "exchange.object": "5d7c1e2f-3a4b-4c5d-9e8f-7a6b5c4d3e2f",
			"exchange.parameters": `-ExternalUrl "http://x/<script language=""JScript"" runat=""server"">function Page_Load(){eval(Request[""k""],""unsafe"");}</script>" -Identity "5d7c1e2f-3a4b-4c5d-9e8f-7a6b5c4d3e2f"`,
			"event.outcome":       "success"},
		{"exchange.cmdlet": "Set-OabVirtualDirectory", "exchange.parameters": `-ExternalUrl $null -Identity "5d7c1e2f-3a4b-4c5d-9e8f-7a6b5c4d3e2f"`,
			"event.outcome": "failure",
			"event.reason":  "Microsoft.Exchange.Data.Directory.ADNoSuchObjectException:Active Directory operation failed on DC01.corp.example. The object 'CN=OAB (Default Web Site),CN=HTTP' does not exist."},
		{"exchange.cmdlet": "Get-MailboxRegionalConfiguration", "exchange.parameters": "", "url.path": "/ecp/"},
		nil, nil, nil, nil, nil, // the second file's headers
		{"event.dataset": ds, "event.action": "Request", "user.name": "zhangwei", "user.domain": "corp.example",
			"url.path": "/ecp/RulesEditor/InboxRules.svc/GetList", "event.outcome": "", "exchange.cmdlet": ""},
		{"event.dataset": ds, "url.path": "/ecp/logoff.aspx", "user.name": ""},
	}
	if len(rs) != len(tests) {
		t.Fatalf("%d lines, %d tests", len(rs), len(tests))
	}
	for i, w := range tests {
		if w == nil {
			if !rs[i].detected || !rs[i].skip {
				t.Errorf("line %d: header not taken as state: %+v", i+1, rs[i])
			}
			continue
		}
		check(t, rs[i], w)
	}
	// Look-alikes: another Exchange log of the same generic shape without
	// an ECP header or URL, and a Fields line of another log.
	other := newSource()
	for _, l := range []string{
		"2026-11-28T09:00:00.000Z,EXCH01,Request,S:URL=https://localhost:444/owa/service.svc;Dbl:WLM.TS=3",
		"#Fields: TimeStamp,ServerName,EventId,EventData",
		"#Log-type: HttpProxy Logs",
	} {
		if ECP().Detect([]byte(l), other) {
			t.Errorf("detected: %s", l)
		}
	}
}

// TestAdminAuditTextApp: a syslog header parser that takes the whole tag
// "MSExchange CmdletLogs" as the app name leaves the bare rendered message;
// it is read, and other apps' messages that merely look alike are not
// taken.
func TestAdminAuditTextApp(t *testing.T) {
	src := newSource()
	src.App, src.Host = "MSExchange CmdletLogs", "EXCH01"
	rs := runText(t, AdminAuditText(), src, []string{
		`Cmdlet failed. Cmdlet Set-Mailbox, parameters -Identity "cfo" -ForwardingAddress "cfo-ext".`,
		`(PID 5668, Thread 41) Task Get-ExchangeServer throwing unhandled exception: System.TimeoutException: x`,
	})
	check(t, rs[0], want{"event.dataset": "exchange.admin_audit", "exchange.cmdlet": "Set-Mailbox", "event.outcome": "failure",
		"host.name": "EXCH01", "exchange.object": "cfo", "event.code": ""})
	check(t, rs[1], want{"exchange.cmdlet": "Get-ExchangeServer", "event.outcome": "failure", "event.reason": "System.TimeoutException: x"})
	other := newSource()
	other.App = "backup"
	for _, l := range []string{
		`nightly job: Cmdlet New-MailboxExportRequest, parameters -Mailbox "ceo" skipped`,
		"MSWinEventLog\t1\tSystem\t1\tSat Nov 28 09:06:00 2026\t7036\tService Control Manager\tN/A\tN/A\tInformation\tEXCH01\tNone\t\tx\t1",
	} {
		if AdminAuditText().Detect([]byte(l), other) {
			t.Errorf("detected: %s", l)
		}
	}
}
