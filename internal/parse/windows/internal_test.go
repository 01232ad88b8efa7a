package windows

import (
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

func newEvent() *format.Event { return &format.Event{} }

func TestScanLabels(t *testing.T) {
	type kv struct{ key, value string }
	tests := []struct {
		name string
		msg  string
		want []kv
	}{
		{
			name: "sections qualify repeated labels; nested label names do not split",
			msg: "An account was successfully logged on.    Subject:   Security ID:  S-1-5-18   Account Name:  EXCH01$   " +
				"Account Domain:  NT AUTHORITY  Logon ID: 0x3E7  New Logon:   Account Name:  zhang wei   Network Account Name: -   " +
				"Key Length:  0   Source Port: 4242   This event is generated when a logon session is created. Status: 0x1",
			want: []kv{
				{"SubjectUserSid", "S-1-5-18"},
				{"SubjectUserName", "EXCH01$"},
				{"SubjectDomainName", "NT AUTHORITY"},
				{"TargetUserName", "zhang wei"},
				{"IpPort", "4242"},
			},
		},
		{
			name: "colons inside values are not labels; empty values; first word of token keys",
			msg:  "Process Name: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\w3wp.exe Workstation Name: Source Network Address: ::1 trailing words",
			want: []kv{
				{"ProcessName", `C:\Program Files\Microsoft\Exchange Server\V15\Bin\w3wp.exe`},
				{"WorkstationName", ""},
				{"IpAddress", "::1"},
			},
		},
		{
			name: "tabs and line breaks separate too",
			msg:  "Member:\r\n\tSecurity ID:\t\tCORP\\zhangwei\r\n\tAccount Name:\t\tCN=Zhang Wei,OU=Staff,DC=corp,DC=example\r\n\r\nGroup:\r\n\tSecurity ID:\t\tS-1-5-32-544\r\n\tGroup Name:\t\tDomain Admins",
			want: []kv{
				{"MemberSid", `CORP\zhangwei`},
				{"MemberName", "CN=Zhang Wei,OU=Staff,DC=corp,DC=example"},
				{"TargetSid", "S-1-5-32-544"},
				{"TargetUserName", "Domain Admins"},
			},
		},
		{
			name: "a label of another section is not mapped",
			msg:  "Attributes: Account Name: x Account Expires: <never> Logon Type: 3",
			want: []kv{{"LogonType", "3"}},
		},
		{name: "no labels", msg: "The Microsoft Exchange Transport service entered the running state."},
		{name: "label at the very end", msg: "Status:", want: []kv{{"Status", ""}}},
		{name: "unknown label text", msg: "Foo: bar Baz: qux"},
		{name: "colon first", msg: ": Status: 0x1", want: []kv{{"Status", "0x1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []kv
			scanLabels(tc.msg, func(key, value string) { got = append(got, kv{key, value}) })
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("%d: got %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestHexCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code uint32
		norm string
		ok   bool
	}{
		{"0xc000006a", 0xC000006A, "0xC000006A", true},
		{"0xC000006A", 0xC000006A, "0xC000006A", true},
		{"0x0", 0, "0x0", true},
		{"0x00000018", 0x18, "0x18", true},
		{"0X18", 0x18, "0x18", true},
		{"18", 0x18, "0x18", true},
		{"-", 0, "", false},
		{"", 0, "", false},
		{"%%2313", 0, "%%2313", false},
		{"0x1ffffffff", 0, "0x1ffffffff", false},
	} {
		code, norm, ok := hexCode(tc.in)
		if code != tc.code || norm != tc.norm || ok != tc.ok {
			t.Errorf("hexCode(%q) = %#x, %q, %v; want %#x, %q, %v", tc.in, code, norm, ok, tc.code, tc.norm, tc.ok)
		}
	}
}

func TestNTStatusReason(t *testing.T) {
	for _, tc := range []struct{ status, sub, text, want string }{
		{"0xc000006d", "0xc000006a", "%%2313", "bad password (0xC000006A)"},
		{"0xc000006d", "0xc0000064", "", "no such user (0xC0000064)"},
		{"0xc000006e", "0xc0000072", "", "account disabled (0xC0000072)"},
		{"0xc000006e", "0xc000006f", "", "outside logon hours (0xC000006F)"},
		{"0xc000006e", "0xc0000070", "", "workstation restriction (0xC0000070)"},
		{"0xc000006e", "0xc0000071", "", "password expired (0xC0000071)"},
		{"0xc000006e", "0xc0000193", "", "account expired (0xC0000193)"},
		{"0xc0000234", "0x0", "", "account locked out (0xC0000234)"},
		{"0xc0000133", "0x0", "", "clock skew (0xC0000133)"},
		{"0xc0000224", "0x0", "", "must change password (0xC0000224)"},
		{"0xc000015b", "0x0", "", "logon type not granted (0xC000015B)"},
		{"0xc000006d", "0x0", "", "bad user name or password (0xC000006D)"},
		{"0xc000006d", "", "", "bad user name or password (0xC000006D)"},
		{"0xc0000999", "0x0", "Some reason.", "Some reason (0xC0000999)"},
		{"0xc0000999", "0x0", "", "status 0xC0000999"},
		{"", "", "Unknown user name or bad password.", "Unknown user name or bad password"},
		{"", "", "", ""},
	} {
		if got := addNTStatus(newEvent(), tc.status, tc.sub, tc.text); got != tc.want {
			t.Errorf("addNTStatus(%q, %q, %q) = %q, want %q", tc.status, tc.sub, tc.text, got, tc.want)
		}
	}
}

func TestMemberAccount(t *testing.T) {
	for _, tc := range []struct{ name, sid, want string }{
		{"CN=Zhang Wei,OU=Staff,DC=corp,DC=example", "S-1-5-21-1-2-3-1213", "Zhang Wei"},
		{`CN=Liu\, Admin,OU=Admins,DC=corp,DC=example`, "S-1-5-21-1-2-3-1104", "Liu, Admin"},
		{"cn=svc", "S-1-5-21-1-2-3-1300", "svc"},
		{"CN=Zhang Wei,OU=Staff", `CORP\zhangwei`, `CORP\zhangwei`},
		{"-", "S-1-5-21-1-2-3-1213", "S-1-5-21-1-2-3-1213"},
		{"zhangwei", "", "zhangwei"},
		{`CN=trailing\`, "", `trailing\`},
	} {
		if got := memberAccount(tc.name, tc.sid); got != tc.want {
			t.Errorf("memberAccount(%q, %q) = %q, want %q", tc.name, tc.sid, got, tc.want)
		}
	}
}

func TestAuditOutcome(t *testing.T) {
	for _, tc := range []struct{ typ, kw, want string }{
		{"AUDIT_SUCCESS", "", "success"},
		{"AUDIT_FAILURE", "", "failure"},
		{"Success Audit", "", "success"},
		{"Failure Audit", "", "failure"},
		{"", "-9214364837600034816", "success"},
		{"", "-9218868437227405312", "failure"},
		{"", "0x8020000000000000", "success"},
		{"", "0x8010000000000000", "failure"},
		{"INFO", "36028797018963968", ""},
		{"", "junk", ""},
	} {
		if got := auditOutcome(tc.typ, tc.kw); got != tc.want {
			t.Errorf("auditOutcome(%q, %q) = %q, want %q", tc.typ, tc.kw, got, tc.want)
		}
	}
}

func TestProtocolFor(t *testing.T) {
	for _, tc := range []struct{ lt, pkg, lm, want string }{
		{"10", "Negotiate", "-", "rdp"},
		{"12", "Kerberos", "-", "rdp"},
		{"3", "NTLM", "NTLM V2", "ntlm"},
		{"3", "Kerberos", "-", "kerberos"},
		{"3", "Negotiate", "NTLM V1", "ntlm"},
		{"2", "Negotiate", "-", "negotiate"},
		{"3", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "-", "ntlm"},
		{"5", "-", "-", ""},
		{"3", "CloudAP", "-", ""},
	} {
		if got := protocolFor(tc.lt, tc.pkg, tc.lm); got != tc.want {
			t.Errorf("protocolFor(%q, %q, %q) = %q, want %q", tc.lt, tc.pkg, tc.lm, got, tc.want)
		}
	}
}

func TestDataset(t *testing.T) {
	for _, tc := range []struct {
		channel string
		sec     bool
		want    string
	}{
		{"Security", true, "windows.security"},
		{"System", false, "windows.system"},
		{"Microsoft-Windows-Sysmon/Operational", false, "windows.microsoft_windows_sysmon_operational"},
		{"", false, "windows"},
		{"***", false, "windows"},
	} {
		if got := dataset(tc.channel, tc.sec); got != tc.want {
			t.Errorf("dataset(%q) = %q, want %q", tc.channel, got, tc.want)
		}
	}
}

// TestTablesConsistent checks the tables against each other: every Snare
// key is a key the record reads, every labelled key is known.
func TestTablesConsistent(t *testing.T) {
	var r record
	for k, key := range snareKeys {
		if !r.set(key, "x") {
			t.Errorf("snareKeys[%q] = %q, which record does not read", k, key)
		}
		if _, ok := snareLabels[k.label]; !ok {
			t.Errorf("snareKeys label %q is not in snareLabels", k.label)
		}
		if k.section != "" && !snareLabels[k.section] {
			t.Errorf("snareKeys section %q is not a section in snareLabels", k.section)
		}
	}
	for key := range snareTokens {
		if !r.set(key, "x") {
			t.Errorf("snareTokens key %q is not read by record", key)
		}
	}
	for l := range snareLabels {
		if len(l) >= maxLabel || strings.Contains(l, ":") {
			t.Errorf("label %q: longer than maxLabel or has a colon", l)
		}
	}
	for id, d := range events {
		if d.kind == kindOther || d.category == "" || d.typ == "" || d.action == "" || d.title == "" {
			t.Errorf("events[%d] is incomplete: %+v", id, d)
		}
	}
}
