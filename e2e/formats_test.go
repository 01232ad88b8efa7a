package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFormatsOverSyslog sends each mail-service log format the way its
// shipper does (nxlog's om_tcp with BSD syslog, im_file lines with a tag,
// JSON from im_msvistalog + to_json) and finds the normalized fields by
// search.
func TestFormatsOverSyslog(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{})
	tok := token("u")
	now := time.Now().UTC().Add(-time.Minute)
	bsd := func(host, tag, msg string) string {
		return fmt.Sprintf("<134>%s %s %s: %s", now.Format(time.Stamp), host, tag, msg)
	}
	iisDate := now.Format("2006-01-02 15:04:05")
	iso := now.Format("2006-01-02T15:04:05.000Z")
	cases := []struct {
		name  string
		lines []string
		query string
		want  map[string]string
	}{
		{
			name: "iis activesync 401 with header",
			lines: []string{
				bsd("exch01", "IIS", "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"),
				bsd("exch01", "IIS", iisDate+" 10.0.0.5 POST /Microsoft-Server-ActiveSync/default.eas User="+tok+"&DeviceId=DEV"+tok+"&DeviceType=iPhone&Cmd=Sync 443 CORP\\"+tok+" 203.0.113.7 Apple-iPhone14C2/2006.100 - 401 1 1326 15"),
			},
			query: "event.dataset:iis.access user.name:" + tok,
			want: map[string]string{
				"network.protocol": "activesync", "device.id": "DEV" + tok, "device.type": "iPhone",
				"source.ip": "203.0.113.7", "event.outcome": "failure", "event.category": "authentication",
				"http.response.status_code": "401", "user.domain": "corp",
			},
		},
		{
			name:  "windows 4625 from nxlog json",
			lines: []string{bsd("dc01", "nxlog", `{"EventTime":"`+iso+`","Hostname":"DC01.corp.example","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","EventType":"AUDIT_FAILURE","TargetUserName":"`+strings.ToUpper(tok)+`","TargetDomainName":"CORP","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":"3","IpAddress":"198.51.100.9","IpPort":"51234","AuthenticationPackageName":"NTLM"}`)},
			query: "event.dataset:windows.security event.code:4625 source.ip:198.51.100.9 user.name:" + tok,
			want: map[string]string{
				"event.code": "4625", "event.outcome": "failure", "event.category": "authentication",
				"source.ip": "198.51.100.9", "host.name": "DC01.corp.example", "user.original": "CORP\\" + strings.ToUpper(tok),
			},
		},
		{
			name:  "windows 4740 lockout from nxlog json",
			lines: []string{bsd("dc01", "nxlog", `{"EventTime":"`+iso+`","Hostname":"DC01.corp.example","EventID":4740,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","EventType":"AUDIT_SUCCESS","TargetUserName":"`+tok+`","TargetDomainName":"EXCH01","SubjectUserName":"DC01$","SubjectDomainName":"CORP"}`)},
			query: "event.code:4740 user.name:" + tok,
			want:  map[string]string{"event.action": "account-locked", "event.dataset": "windows.security"},
		},
		{
			name:  "exchange imap login failure",
			lines: []string{bsd("exch01", "IMAP4", iso+`,0000000000ABC123,3,10.0.0.5:993,198.51.100.9:51234,`+tok+`@corp.example,12,40,30,login,,"R=""NO LOGIN failed."""`)},
			query: "event.dataset:exchange.imap user.name:" + tok,
			want:  map[string]string{"network.protocol": "imap", "event.outcome": "failure", "source.ip": "198.51.100.9", "user.domain": "corp.example"},
		},
		{
			name: "exchange admin audit exported by the EAC (XML), shipped line by line",
			lines: []string{
				bsd("exch01", "auditxml", `<SearchResults>`),
				bsd("exch01", "auditxml", `  <Event Caller="corp.example/Users/Administrator" Cmdlet="Set-Mailbox" ObjectModified="corp.example/Users/`+tok+`x" RunDate="`+iso+`" Succeeded="true" Error="None" OriginatingServer="EXCH01 (15.02.1258.012)" ExternalAccess="false">`),
				bsd("exch01", "auditxml", `    <CmdletParameters>`),
				bsd("exch01", "auditxml", `      <Parameter Name="ForwardingSmtpAddress" Value="smtp:`+tok+`@example.org" />`),
				bsd("exch01", "auditxml", `    </CmdletParameters>`),
				bsd("exch01", "auditxml", `  </Event>`),
			},
			query: "event.dataset:exchange.admin_audit exchange.cmdlet:Set-Mailbox user.name:administrator exchange.object:" + tok + "x",
			want:  map[string]string{"event.outcome": "success", "host.name": "EXCH01", "exchange.parameters": `-ForwardingSmtpAddress "smtp:` + tok + `@example.org"`},
		},
		{
			name:  "exchange admin audit from nxlog json",
			lines: []string{bsd("exch01", "nxlog", `{"EventTime":"`+iso+`","Hostname":"EXCH01.corp.example","EventID":1,"SourceName":"MSExchange CmdletLogs","Channel":"MSExchange Management","Message":"Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox \"`+tok+`\" -FilePath \"\\\\srv\\pst\\ceo.pst\"."}`)},
			query: "event.dataset:exchange.admin_audit exchange.object:" + tok,
			want:  map[string]string{"exchange.cmdlet": "New-MailboxExportRequest", "event.outcome": "success", "host.name": "EXCH01.corp.example"},
		},
		{
			name: "windows 4625 as a snare line",
			lines: []string{fmt.Sprintf("<14>%s dc01 MSWinEventLog\t1\tSecurity\t123\t%s\t4625\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tEXCH01.corp.example\tLogon\t\t"+
				"An account failed to log on.    Subject:   Security ID:  S-1-5-18   Account Name:  EXCH01$   Account Domain:  CORP   Logon ID:  0x3E7    Logon Type:   8    "+
				"Account For Which Logon Failed:   Security ID:  S-1-0-0   Account Name:  %s   Account Domain:  CORP    Failure Information:   Failure Reason:  Unknown user name or bad password.   "+
				"Status:   0xC000006D   Sub Status:  0xC000006A    Network Information:   Workstation Name: EXCH01   Source Network Address: 203.0.113.45   Source Port:  49822\t42",
				now.Format(time.Stamp), now.Format("Mon Jan _2 15:04:05 2006"), tok)},
			query: "event.dataset:windows.security event.code:4625 source.ip:203.0.113.45 user.name:" + tok,
			want:  map[string]string{"event.outcome": "failure", "winlog.sub_status": "0xC000006A", "user.domain": "corp"},
		},
		{
			name: "exchange message tracking fail",
			lines: []string{bsd("exch01", "MSGTRK", iso+",,,10.0.0.5,EXCH01,,,ROUTING,FAIL,41355,<b7e2@EXCH01.corp.example>,2e3f4051-cccc-4ddd-8eee-08de1c2a5d6e,"+tok+
				"@corp.example,550 5.1.1 RESOLVER.ADR.RecipNotFound; not found,2210,1,,,hello,lisi@corp.example,lisi@corp.example,,Originating,,,,,Email,11bb22cc-dddd-4eee-8fff-08de1c2a5d6f,15.02.1258.012")},
			query: "event.dataset:exchange.messagetracking event.action:FAIL",
			want:  map[string]string{"event.outcome": "failure", "email.to.address": tok + "@corp.example", "email.from.address": "lisi@corp.example"},
		},
		{
			name:  "nginx combined over syslog",
			lines: []string{bsd("proxy1", "nginx", `203.0.113.9 - `+tok+` [`+now.Format("02/Jan/2006:15:04:05 -0700")+`] "GET /EWS/Exchange.asmx HTTP/1.1" 401 0 "-" "Microsoft Office/16.0"`)},
			query: "event.dataset:nginx.access user.name:" + tok,
			want:  map[string]string{"network.protocol": "ews", "event.outcome": "failure", "source.ip": "203.0.113.9", "http.response.status_code": "401"},
		},
		{
			name:  "key=value",
			lines: []string{bsd("fw01", "fw", `action=deny src=192.0.2.8 dst=10.0.0.5 dport=443 user=`+tok)},
			query: "event.dataset:kv user.name:" + tok,
			want:  map[string]string{"source.ip": "192.0.2.8", "destination.ip": "10.0.0.5"},
		},
	}
	var wire strings.Builder
	for _, c := range cases {
		for _, l := range c.lines {
			wire.WriteString(l + "\n")
		}
	}
	sendTCP(t, v.syslogAddr, []byte(wire.String()))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := v.waitOne(t, c.query)
			checkFields(t, ev, c.want)
			if pe, bad := ev["vigil.parse_error"]; bad {
				t.Errorf("unexpected vigil.parse_error %q", pe)
			}
		})
	}
}

// TestRsyslogIIS ships an Exchange front end's IIS log the way a site
// without nxlog would: rsyslog follows the file (deploy/rsyslog's example,
// with the tag set to IIS) and forwards every line, #Fields header included.
// The header changes in the middle of the file.
func TestRsyslogIIS(t *testing.T) {
	t.Parallel()
	requireProgram(t, "rsyslogd")
	v := startVigil(t, vigilOpts{})
	tok := token("iis")
	ts := time.Now().UTC().Add(-time.Minute).Format("2006-01-02 15:04:05")
	lines := []string{
		"#Software: Microsoft Internet Information Services 10.0",
		"#Version: 1.0",
		"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
		ts + " 10.0.0.5 POST /Microsoft-Server-ActiveSync/default.eas User=" + tok + "&DeviceId=D" + tok + "&DeviceType=iPhone&Cmd=Sync 443 CORP\\" + tok + " 203.0.113.7 Apple-iPhone14C2/2006.100 - 401 1 1326 31",
		ts + " 10.0.0.5 GET /owa/auth/logon.aspx replaceCurrent=1&reason=2&url=https%3a%2f%2fmail.corp.example%2fowa%2f 443 - 203.0.113.8 Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 15",
		// The site adds the client's X-Forwarded-For: a new header from here on.
		"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For",
		ts + " 10.0.0.5 POST /EWS/Exchange.asmx - 443 CORP\\" + tok + " 10.0.0.1 Microsoft+Office/16.0 - 200 0 0 52 198.51.100.4",
	}
	logFile := filepath.Join(t.TempDir(), "u_ex.log")
	if err := os.WriteFile(logFile, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startRsyslog(t, v, logFile, "IIS")

	eas := v.waitOne(t, "event.dataset:iis.access network.protocol:activesync user.name:"+tok)
	checkFields(t, eas, map[string]string{
		"event.outcome": "failure", "source.ip": "203.0.113.7", "device.id": "D" + tok, "device.type": "iPhone",
		"event.action": "Sync", "user.domain": "corp", "http.response.status_code": "401",
	})
	owa := v.waitOne(t, `event.dataset:iis.access url.path:"/owa/auth/logon.aspx" source.ip:203.0.113.8`)
	checkFields(t, owa, map[string]string{"event.category": "authentication", "event.outcome": "failure"})
	// After the header change, the client is the forwarded address and the
	// load balancer is source.nat.ip.
	ews := v.waitOne(t, "event.dataset:iis.access network.protocol:ews user.name:"+tok)
	checkFields(t, ews, map[string]string{"source.ip": "198.51.100.4", "source.nat.ip": "10.0.0.1", "event.outcome": "success"})
	if n, err := v.count("event.kind:state"); err != nil || n != 4 {
		t.Errorf("header lines stored as state: %d (%v), want 4", n, err)
	}
	if n, err := v.count("vigil.parse_error:*"); err != nil || n != 0 {
		t.Errorf("%d events with a parse error (%v), want none", n, err)
	}
}
