package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// fuzzText feeds each line of data to f as one source sends them and checks
// that nothing panics and that what a successful parse sets is sane.
func fuzzText(t *testing.T, f format.Text, data []byte) {
	src := newSource()
	for _, line := range bytes.Split(data, []byte("\n")) {
		if !f.Detect(line, src) {
			continue
		}
		var ev format.Event
		err := f.Parse(line, src, &ev)
		if err != nil {
			if errors.Is(err, format.ErrSkip) && len(ev.Fields) > 0 {
				t.Fatalf("ErrSkip with fields %+v", ev.Fields)
			}
			continue
		}
		for _, fl := range ev.Fields {
			if fl.Value == "" {
				t.Fatalf("empty %s", fl.Name)
			}
			if utf8.Valid(line) && !utf8.ValidString(fl.Value) {
				t.Fatalf("%s = %q is not UTF-8 from a UTF-8 line", fl.Name, fl.Value)
			}
		}
		switch o := ev.Get(format.FieldOutcome); o {
		case "", format.OutcomeSuccess, format.OutcomeFailure, format.OutcomeUnknown:
		default:
			t.Fatalf("outcome %q", o)
		}
	}
}

func addFileSeeds(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the shared samples may be absent
		}
		f.Add(b)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
}

// samples is the folder of the real Exchange samples ("" when absent).
var samples = filepath.Join(formattest.SamplesDir(), "exchange") + string(filepath.Separator)

func FuzzProtocol(f *testing.F) {
	addFileSeeds(f, "testdata/imap_bruteforce.log", "testdata/pop3_fail.log", samples+"imappop_Imap4.log", samples+"imappop_Pop3.log")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, Protocol(), data) })
}

func FuzzMessageTracking(f *testing.F) {
	addFileSeeds(f, "testdata/messagetracking.log", samples+"test-messagetracking.log")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, MessageTracking(), data) })
}

func FuzzAdminAuditExport(f *testing.F) {
	addFileSeeds(f, "testdata/admin_audit.csv", "testdata/admin_audit_raw.csv")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, AdminAuditExport(), data) })
}

func FuzzAdminAuditJSON(f *testing.F) {
	f.Add("1", `Cmdlet succeeded. Cmdlet New-InboxRule, parameters -Mailbox "cfo" -ForwardTo "x@y" -Name "a -b".`, "", "2026-11-28 09:00:00")
	f.Add("6", `Cmdlet failed. Cmdlet Add-MailboxPermission, parameters -Identity "ceo" -User "CORP\x" -AccessRights "FullAccess".`, "", "")
	f.Add("8", `(PID 1, Thread 2) Task Get-App throwing unhandled exception: System.X: y`, "", "")
	f.Add("1", "", `<EventData><Data>Set-Mailbox</Data><Data>-Identity &quot;x&quot;</Data><Data>corp/Users/a</Data><Data/><Data/><Data>ECP</Data></EventData>`, "2026-11-28T08:04:30.1234567Z")
	f.Fuzz(func(t *testing.T, id, msg, xml, tm string) {
		ev := format.Event{Fields: nil}
		ev.Add("Channel", "MSExchange Management")
		ev.Add("EventID", id)
		ev.Add("Message", msg)
		ev.Add("EventXML", xml)
		ev.Add("EventTime", tm)
		j := AdminAuditJSON()
		if !j.Match(&ev) {
			t.Fatal("no match")
		}
		n := len(ev.Fields)
		if err := j.Map(&ev, newSource()); err != nil {
			return
		}
		for _, fl := range ev.Fields[n:] {
			if fl.Value == "" {
				t.Fatalf("empty %s", fl.Name)
			}
		}
	})
}

func FuzzAdminAuditText(f *testing.F) {
	addFileSeeds(f, "testdata/admin_audit_text.log")
	f.Add([]byte("MSExchange CmdletLogs[1]: Cmdlet failed. Cmdlet A-B, parameters -X \"a -b\"."))
	f.Add([]byte("MSWinEventLog\t1\tMSExchange Management\t1\tSat Nov 28 09:04:00 2026\t6\tMSExchange CmdletLogs\tN/A\tN/A\tError\tEXCH01\tNone\t\tCmdlet failed. Cmdlet X-Y, parameters -Z.\tff"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, AdminAuditText(), data) })
}

func FuzzAdminAuditData(f *testing.F) {
	f.Add(`["Set-Mailbox","-Identity \"x\"","corp/Users/a"]`, "")
	f.Add("Set-Mailbox", `-Identity "x"`)
	f.Add("<string>Set-Mailbox</string><string>-Identity &quot;x&quot;</string>", "")
	f.Fuzz(func(t *testing.T, d1, d2 string) {
		var ev format.Event
		ev.Add("Channel", "MSExchange Management")
		ev.Add("EventID", "6")
		ev.Add("Data", d1)
		ev.Add("Data", d2)
		n := len(ev.Fields)
		if err := AdminAuditJSON().Map(&ev, newSource()); err != nil {
			return
		}
		for _, fl := range ev.Fields[n:] {
			if fl.Value == "" {
				t.Fatalf("empty %s", fl.Name)
			}
		}
	})
}

func FuzzECP(f *testing.F) {
	addFileSeeds(f, "testdata/ecp_server.log", "testdata/ecp_activity.log")
	f.Add([]byte("2026-11-28T09:01:10.500Z,EXCH01,ECP.Request,'S:CMD=Set-X.A=''b''.C=$true';S:EX='x''y'"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, ECP(), data) })
}
