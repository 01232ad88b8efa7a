package iis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

func TestHTTPProxy(t *testing.T) {
	directive := map[string]string{"_skip": "true", "_detect": "false"}
	testFiles(t, HTTPProxy(), []fileCase{
		{file: "httpproxy.log", lines: map[int]map[string]string{
			1: directive, // #Software: Microsoft Exchange Server: every Exchange log has it
			2: directive,
			4: directive,
			6: { // EWS, Windows authentication, proxied to a mailbox server
				"_time": "2026-11-28T09:00:03.104Z", "event.dataset": "exchange.httpproxy",
				"http.request.id": "5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9", "host.name": "EXCH01",
				"source.ip": "10.20.30.40", "url.domain": "mail.example.com", "http.request.method": "POST",
				"url.path": "/EWS/Exchange.asmx", "url.query": "", "http.response.status_code": "200",
				"user_agent.original": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
				"network.protocol":    "ews", "user.name": "lisi", "user.domain": "corp", "user.original": `CORP\lisi`,
				"event.category": "authentication", "event.outcome": "success", "event.reason": "",
				"exchange.authentication_type": "Negotiate", "exchange.anchor_mailbox": "Smtp~lisi@example.com",
				"destination.domain": "exch02.corp.example.com", "http.request.bytes": "1304",
				"http.response.bytes": "2731", "event.duration": "46000000",
			},
			7: { // ActiveSync 401: Basic credentials rejected
				"network.protocol": "activesync", "device.id": "ApplF17XK2ABCD12", "device.type": "iPhone",
				"event.action": "Sync", "user.name": "zhangwei", "event.outcome": "failure",
				"url.query":          "Cmd=Sync&User=zhangwei&DeviceId=ApplF17XK2ABCD12&DeviceType=iPhone",
				"destination.domain": "",
			},
			8: { // MAPI 401 without authentication: maybe only the challenge
				"network.protocol": "mapi", "event.category": "authentication", "event.outcome": "unknown",
				"user.name": "",
			},
			9: { // OWA logon page with reason=2
				"network.protocol": "owa", "event.outcome": "failure", "http.request.method": "GET",
				"user_agent.original": chromeUA,
			},
			10: { // ProxyShell: unauthenticated autodiscover.json routed to /mapi/nspi
				"url.path":                "/autodiscover/autodiscover.json",
				"url.query":               "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
				"exchange.anchor_mailbox": "ServerInfo~a]@exch02.corp.example.com:444/mapi/nspi/?",
				"network.protocol":        "autodiscover", "event.category": "web", "event.outcome": "", "user.name": "",
			},
			11: { // authenticated, back end failed: still a successful logon
				"user.name": "svc-scanner", "user.domain": "example.com", "http.response.status_code": "500",
				"event.outcome": "success", "event.reason": "ServerBusy", "exchange.authentication_type": "Basic",
				"event.duration": "2012000000",
			},
			12: {
				"network.protocol": "rpc", "http.request.method": "RPC_IN_DATA", "source.ip": "2001:db8:25::17",
				"url.query": "exch02.corp.example.com:6001", "event.outcome": "success",
			},
		}},
		{file: "httpproxy-headerless.log", lines: map[int]map[string]string{
			1: {"network.protocol": "ews", "user.name": "lisi", "event.outcome": "success"},
			3: {"_time": "2026-11-28T09:00:03.104Z", "user.name": "lisi", "event.duration": "46000000"}, // an older build: fewer columns
		}},
	})
}

func TestHTTPProxyErrors(t *testing.T) {
	const good = `2026-11-28T09:00:03.104Z,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9,15,2,1544,4,,Ews,mail.example.com,/EWS/Exchange.asmx,,Negotiate,true,CORP\lisi,,,UA,10.0.0.1,EXCH01,200,200,,POST`
	tests := []struct {
		name   string
		header string
		line   string
		detect bool
		err    string
	}{
		{name: "minimal line", line: good, detect: true},
		{name: "too few columns", line: `2026-11-28T09:00:03.104Z,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9,15,2,1544,4`, detect: true, err: "at least 23"},
		{name: "unterminated quote", line: good + `,"abc`, detect: true, err: "not closed"},
		{name: "junk after quote", line: good + `,"abc"x,`, detect: true, err: "after a closing quote"},
		{name: "bad time", line: strings.Replace(good, "09:00:03", "29:00:03", 1), detect: true, err: "not a valid time"},
		{name: "bad status", line: strings.Replace(good, ",200,200,", ",2x0,200,", 1), detect: true, err: "HttpStatus"},
		{name: "header count mismatch", header: "#Fields: DateTime,RequestId,MajorVersion,MinorVersion", line: good, detect: true, err: "its #Fields header 4"},
		{name: "header order", header: "#Fields: DateTime,RequestId,MajorVersion,MinorVersion,HttpStatus,AuthenticatedUser",
			line: `2026-11-28T09:00:03Z,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9,15,2,200,CORP\lisi`, detect: true},
		{name: "header without DateTime", header: "", line: "#Fields: RequestId,HttpStatus", detect: false, err: "no DateTime"},
		{name: "IMAP log line", line: `2026-11-28T09:00:03.104Z,00000000000A1B2C,0,10.0.0.1:993,10.0.0.2:50000,,1,0,0,capability,,R=ok`, detect: false, err: ""},
		{name: "not a GUID", line: `2026-11-28T09:00:03.104Z,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0eZ,15,2,1544`, detect: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &format.Source{Location: time.UTC}
			f := HTTPProxy()
			if tt.header != "" {
				if err := f.Parse([]byte(tt.header), src, &format.Event{}); !errors.Is(err, format.ErrSkip) {
					t.Fatalf("header: %v", err)
				}
			}
			if got := f.Detect([]byte(tt.line), src); got != tt.detect {
				t.Errorf("Detect = %v, want %v", got, tt.detect)
			}
			if !tt.detect && tt.err == "" {
				return
			}
			var ev format.Event
			err := f.Parse([]byte(tt.line), src, &ev)
			if tt.err == "" {
				if err != nil {
					t.Errorf("Parse error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestHTTPProxyHeaderOrder(t *testing.T) {
	src := &format.Source{Location: time.UTC}
	f := HTTPProxy()
	lines := []string{
		"#Fields: DateTime,RequestId,MajorVersion,MinorVersion,HttpStatus,AuthenticatedUser,Protocol,IsAuthenticated,UrlStem",
		`2026-11-28T09:00:03+08:00,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9,15,2,200,CORP\lisi,Ews,True,/EWS/Exchange.asmx`,
	}
	var ev format.Event
	for _, l := range lines {
		ev = format.Event{}
		if err := f.Parse([]byte(l), src, &ev); err != nil && !errors.Is(err, format.ErrSkip) {
			t.Fatal(err)
		}
	}
	if want := time.Date(2026, 11, 28, 1, 0, 3, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", ev.Time, want)
	}
	for name, want := range map[string]string{"user.name": "lisi", "http.response.status_code": "200", "network.protocol": "ews", "event.outcome": "success"} {
		if got := ev.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}
