package exchange_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/exchange"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/store"
)

var received = time.Date(2026, 11, 28, 9, 10, 0, 0, time.UTC)

func newParser() *parse.Parser {
	return parse.New(parse.Options{
		Location: time.UTC,
		Texts:    []format.Text{exchange.Protocol(), exchange.MessageTracking(), exchange.AdminAuditExport()},
		JSONs:    []format.JSON{exchange.AdminAuditJSON()},
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example"}},
	})
}

func parseRecord(p *parse.Parser, data string) store.Row {
	var row store.Row
	p.Parse(&journal.Record{Seq: 1, Time: received, Input: "syslog", Data: []byte(data)}, &row)
	return row
}

// TestAdminAuditJSON runs the NXLog JSON events of testdata/admin_audit.jsonl
// through package parse as a syslog sender delivers them.
func TestAdminAuditJSON(t *testing.T) {
	f, err := os.Open("testdata/admin_audit.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	tests := []struct {
		want map[string]string // "" means absent
		time time.Time
	}{
		{map[string]string{
			"event.dataset": "exchange.admin_audit", "event.code": "1", "event.outcome": "success",
			"exchange.cmdlet": "New-MailboxExportRequest", "event.action": "New-MailboxExportRequest",
			"exchange.parameters": `-Mailbox "ceo" -FilePath "\\fs01\pst$\ceo.pst"`, "exchange.object": "ceo",
			"event.category": "configuration", "event.type": "creation", "host.name": "EXCH01.corp.example",
			"user.name": "", "_msg": `Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox "ceo" -FilePath "\\fs01\pst$\ceo.pst".`,
			"Channel": "MSExchange Management", "vigil.parse_error": "",
		}, time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)},
		{map[string]string{
			"exchange.cmdlet": "Add-MailboxPermission", "event.category": "iam", "event.type": "change", "exchange.object": "ceo",
			"user.target.name": "svc-backup", "event.outcome": "success",
		}, time.Time{}},
		{map[string]string{
			"exchange.cmdlet": "New-InboxRule", "exchange.object": "cfo", "event.category": "configuration",
			"exchange.parameters": `-Mailbox "cfo" -Name "sync" -ForwardTo "drop@fileshare-drop.example" -DeleteMessage "True"`,
		}, time.Time{}},
		{map[string]string{"exchange.cmdlet": "New-TransportRule", "exchange.object": "Archive copy", "event.type": "creation"}, time.Time{}},
		{map[string]string{
			"exchange.cmdlet": "Set-AdminAuditLogConfig", "event.code": "6", "event.outcome": "failure",
			"exchange.parameters": `-AdminAuditLogEnabled "False"`, "exchange.object": "", "event.type": "change",
		}, time.Time{}},
		{map[string]string{
			"exchange.cmdlet": "Set-AdminAuditLogConfig", "event.outcome": "success", "user.name": "admin1",
			"user.domain": "corp.example", "user.original": "corp.example/Users/admin1",
			"exchange.client_application": "Remote-ManagementShell-Unknown", "exchange.parameters": `-AdminAuditLogEnabled "False"`,
		}, time.Date(2026, 11, 28, 8, 4, 30, 123456700, time.UTC)},
		{map[string]string{
			"exchange.cmdlet": "Get-App", "event.code": "8", "event.outcome": "failure",
			"event.reason": "System.InvalidCastException: Unable to cast object of type 'System.Security.Claims.ClaimsIdentity'.",
		}, time.Time{}},
	}
	if len(lines) != len(tests) {
		t.Fatalf("%d lines, %d tests", len(lines), len(tests))
	}
	p := newParser()
	for i, tt := range tests {
		row := parseRecord(p, "<14>Nov 28 09:00:00 exch01 MSExchange: "+lines[i])
		for name, want := range tt.want {
			if got := row.Get(name); got != want {
				t.Errorf("line %d: %s = %q, want %q", i+1, name, got, want)
			}
		}
		if !tt.time.IsZero() && !row.Time.Equal(tt.time) {
			t.Errorf("line %d: time %v, want %v", i+1, row.Time, tt.time)
		}
	}
}

func TestAdminAuditJSONErrors(t *testing.T) {
	p := newParser()
	// An event 1 whose message names no cmdlet: the mapping is rejected
	// and says why; the JSON fields stay.
	row := parseRecord(p, `<14>Nov 28 09:00:00 exch01 MSExchange: {"EventID":1,"Channel":"MSExchange Management","Message":"Das Cmdlet war erfolgreich."}`)
	if e := row.Get("vigil.parse_error"); !strings.Contains(e, "exchange-admin-audit") || row.Get("event.dataset") != "" || row.Get("EventID") != "1" {
		t.Errorf("parse error %q, dataset %q", e, row.Get("event.dataset"))
	}
	// Other channels are not mapped.
	row = parseRecord(p, `<14>Nov 28 09:00:00 dc01 Security: {"EventID":4625,"Channel":"Security","Message":"An account failed to log on."}`)
	if row.Get("event.dataset") != "" || row.Get("vigil.parse_error") != "" {
		t.Errorf("Security event mapped: %+v", row.Fields)
	}
	// Other event IDs of the channel keep what they have.
	row = parseRecord(p, `<14>Nov 28 09:00:00 exch01 MSExchange: {"EventID":4,"SourceName":"MSExchange CmdletLogs","Message":"something else"}`)
	if row.Get("event.dataset") != "exchange.admin_audit" || row.Get("event.outcome") != "" || row.Get("vigil.parse_error") != "" {
		t.Errorf("event 4: %+v", row.Fields)
	}
}

// TestTextThroughParse runs text lines through package parse: the formats
// detect their own lines among each other's.
func TestTextThroughParse(t *testing.T) {
	p := newParser()
	tests := []struct {
		data string
		want map[string]string
	}{
		{`<14>Nov 28 08:00:01 exch01 IMAP4: #Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,puid`,
			map[string]string{"event.kind": "state", "vigil.parse_error": ""}},
		{`<14>Nov 28 08:00:01 exch01 IMAP4: 2026-11-28T08:00:01.950Z,0000000000000A1F,2,10.0.0.5:993,203.0.113.77:51012,,640,38,24,login,zhangwei@corp.example *****,"R=""a2 NO LOGIN failed."";ErrMsg=AuthFailed:LogonDenied",`,
			map[string]string{"event.dataset": "exchange.imap", "event.outcome": "failure", "user.name": "zhangwei", "vigil.parse_error": ""}},
		{`<14>Nov 28 08:00:01 exch01 MSGTRK: 2026-11-28T09:07:40.010Z,,,10.0.0.5,EXCH01,,,ROUTING,FAIL,41355,<b7e2@EXCH01.corp.example>,2e3f4051-cccc-4ddd-8eee-08de1c2a5d6e,nosuchuser@corp.example,550 5.1.1 RESOLVER.ADR.RecipNotFound; not found,2210,1,,,hello,lisi@corp.example,lisi@corp.example,,Originating,,,,,Email,11bb22cc-dddd-4eee-8fff-08de1c2a5d6f,15.02.1258.012`,
			map[string]string{"event.dataset": "exchange.messagetracking", "event.outcome": "failure", "vigil.parse_error": ""}},
		{`<14>Nov 28 08:00:01 exch01 IMAP4: 2026-11-28T08:00:01.950Z,0000000000000A1F,2,10.0.0.5:993,203.0.113.77:51012,,640,38,24,login,"broken`,
			map[string]string{"event.dataset": "", "vigil.parse_error": "exchange-imap-pop: unterminated quoted field"}},
	}
	for _, tt := range tests {
		row := parseRecord(p, tt.data)
		for name, want := range tt.want {
			got := row.Get(name)
			if name == "vigil.parse_error" && want != "" {
				if !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", name, got, want)
				}
				continue
			}
			if got != want {
				t.Errorf("%s = %q, want %q\n%s", name, got, want, tt.data)
			}
		}
	}
}

// TestAdminAuditTransports reads cmdlet events however they arrive: BSD
// syslog with the "MSExchange CmdletLogs" tag whether or not the header
// parser split it off, the bare rendered message, Snare lines, and nxlog
// JSON without a rendered Message whose unnamed Data strings are repeated
// keys, an array, or a "<string>" list. The built-in formats run in their
// server order, so Snare lines of other channels stay windows-snare's.
func TestAdminAuditTransports(t *testing.T) {
	texts, jsons := parse.DefaultFormats()
	p := parse.New(parse.Options{Location: time.UTC, Texts: texts, JSONs: jsons,
		Users: &format.Users{Domains: map[string]string{"CORP": "corp.example"}}})
	var lines []string
	for _, name := range []string{"testdata/admin_audit_text.log", "testdata/admin_audit_data.jsonl"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		for sc := bufio.NewScanner(f); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	const ds = "exchange.admin_audit"
	tests := []map[string]string{
		{"event.dataset": ds, "exchange.cmdlet": "New-MailboxExportRequest", "exchange.object": "ceo", "event.outcome": "success",
			"host.name": "EXCH01", "event.code": "", "user.name": ""},
		{"event.dataset": ds, "exchange.cmdlet": "Add-MailboxPermission", "event.outcome": "failure", "user.target.name": "mallory",
			"exchange.parameters": `-Identity "cfo" -User "CORP\mallory" -AccessRights "FullAccess"`},
		{"event.dataset": ds, "exchange.cmdlet": "Set-Mailbox", "event.outcome": "success",
			"exchange.parameters": `-Identity "cfo" -ForwardingSmtpAddress "smtp:cfo.home@mail.example"`},
		{"event.dataset": ds, "exchange.cmdlet": "Get-ExchangeServer", "event.outcome": "failure",
			"event.reason": "System.NullReferenceException: Object reference not set to an instance of an object."},
		{"event.dataset": ds, "exchange.cmdlet": "Install-TransportAgent", "event.code": "1", "event.outcome": "success",
			"host.name": "EXCH01.corp.example", "exchange.object": "Content Helper",
			"exchange.parameters": `-Name "Content Helper" -TransportAgentFactory "Helper.Factory" -AssemblyPath "C:\Windows\Temp\helper.dll"`},
		{"event.dataset": ds, "exchange.cmdlet": "New-ManagementRoleAssignment", "event.code": "6", "event.outcome": "failure",
			"event.category": "iam"},
		{"event.dataset": "windows.system", "event.code": "7036"},
		{"event.dataset": "", "exchange.cmdlet": ""},
		{"event.dataset": ds, "exchange.cmdlet": "New-InboxRule", "event.code": "1", "event.outcome": "success", "user.name": "mallory",
			"exchange.client_application": "Remote-ManagementShell-Unknown", "exchange.object": "ceo",
			"_msg": `Cmdlet New-InboxRule -Mailbox "ceo" -Name "." -ForwardTo "invoices@mail.example" -MarkAsRead "True"`},
		{"event.dataset": ds, "exchange.cmdlet": "Install-TransportAgent", "event.code": "6", "event.outcome": "failure", "user.name": "exadmin",
			"event.reason": `System.ArgumentException: The Transport Agent assembly file ".\helper.dll" doesn't exist.`},
		{"event.dataset": ds, "exchange.cmdlet": "Get-Mailbox", "user.name": "helpdesk1", "event.type": "access"},
		{"event.dataset": ds, "exchange.cmdlet": "Set-Mailbox", "user.name": "exadmin",
			"exchange.parameters": `-Identity "cfo" -DeliverToMailboxAndForward "True" -ForwardingAddress "cfo-ext"`},
	}
	if len(lines) != len(tests) {
		t.Fatalf("%d lines, %d tests", len(lines), len(tests))
	}
	for i, want := range tests {
		row := parseRecord(p, lines[i])
		if e := row.Get("vigil.parse_error"); e != "" {
			t.Errorf("line %d: parse error %s", i+1, e)
		}
		for name, w := range want {
			if got := row.Get(name); got != w {
				t.Errorf("line %d: %s = %q, want %q", i+1, name, got, w)
			}
		}
	}
}
