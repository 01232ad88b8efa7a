package iis_test

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/iis"
	"github.com/vigil-soc/vigil/internal/store"
)

// TestThroughParse sends records through package parse as the inputs
// deliver them: syslog-wrapped as nxlog sends file lines, and raw file
// lines as `vigil parse FILE` does.
func TestThroughParse(t *testing.T) {
	const (
		header   = "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
		easLine  = "2026-11-28 09:00:02 10.0.0.10 POST /Microsoft-Server-ActiveSync/default.eas Cmd=Sync&User=zhangwei&DeviceId=ApplF17XK2ABCD12&DeviceType=iPhone 443 - 198.51.100.23 Apple-iPhone14C2/2006.5 - 401 1 1326 3"
		ewsLine  = `2026-11-28 09:00:03 10.0.0.10 POST /EWS/Exchange.asmx - 443 CORP\lisi 10.20.30.40 Microsoft+Office/16.0 - 200 0 0 46`
		proxLine = `2026-11-28T09:00:03.104Z,5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9,15,2,1544,4,,Ews,mail.example.com,/EWS/Exchange.asmx,,Negotiate,true,CORP\lisi,,Smtp~lisi@example.com,"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",10.20.30.40,EXCH01,200,200,,POST,Proxy,exch02.corp.example.com`
	)
	received := time.Date(2026, 11, 28, 9, 0, 5, 0, time.UTC)
	p := parse.New(parse.Options{Location: time.UTC, Texts: []format.Text{iis.Text(), iis.HTTPProxy()}})
	tests := []struct {
		name  string
		input string
		data  string
		want  map[string]string // "" means absent
		time  time.Time
	}{
		{name: "nxlog header", input: "syslog", data: "<134>Nov 28 09:00:00 exch01 IIS: " + header,
			want: map[string]string{"event.kind": "state", "vigil.parse_error": "", "event.dataset": ""}},
		{name: "nxlog ActiveSync 401", input: "syslog", data: "<134>Nov 28 09:00:02 exch01 IIS: " + easLine,
			want: map[string]string{
				"event.dataset": "iis.access", "host.hostname": "exch01", "log.syslog.appname": "IIS",
				"source.ip": "198.51.100.23", "user.name": "zhangwei", "device.id": "ApplF17XK2ABCD12",
				"event.outcome": "failure", "vigil.parse_error": "", "_msg": easLine,
			},
			time: time.Date(2026, 11, 28, 9, 0, 2, 0, time.UTC)},
		{name: "nxlog EWS 200", input: "syslog", data: "<134>Nov 28 09:00:03 exch01 IIS: " + ewsLine,
			want: map[string]string{"user.name": "lisi", "user.domain": "corp", "event.outcome": "success", "network.protocol": "ews"},
			time: time.Date(2026, 11, 28, 9, 0, 3, 0, time.UTC)},
		{name: "nxlog HttpProxy", input: "syslog", data: "<134>Nov 28 09:00:03 exch01 HttpProxy: " + proxLine,
			want: map[string]string{"event.dataset": "exchange.httpproxy", "user.name": "lisi", "host.name": "EXCH01",
				"destination.domain": "exch02.corp.example.com", "vigil.parse_error": ""},
			time: time.Date(2026, 11, 28, 9, 0, 3, 104e6, time.UTC)},
		{name: "raw header", input: "file", data: header + "\r\n",
			want: map[string]string{"event.kind": "state", "vigil.parse_error": ""}},
		{name: "raw line", input: "file", data: easLine + "\r\n",
			want: map[string]string{"event.dataset": "iis.access", "source.ip": "198.51.100.23", "event.outcome": "failure", "vigil.parse_error": "", "_msg": easLine},
			time: time.Date(2026, 11, 28, 9, 0, 2, 0, time.UTC)},
		{name: "raw line, no header, default order", input: "file2", data: ewsLine,
			want: map[string]string{"event.dataset": "iis.access", "user.name": "lisi", "vigil.parse_error": ""},
			time: time.Date(2026, 11, 28, 9, 0, 3, 0, time.UTC)},
		{name: "raw HttpProxy", input: "file", data: proxLine + "\n",
			want: map[string]string{"event.dataset": "exchange.httpproxy", "source.ip": "10.20.30.40", "vigil.parse_error": "", "_msg": proxLine},
			time: time.Date(2026, 11, 28, 9, 0, 3, 104e6, time.UTC)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := journal.Record{Seq: uint64(i + 1), Time: received, Input: tt.input, Peer: "10.0.0.10:50514", Data: []byte(tt.data)}
			var row store.Row
			p.Parse(&rec, &row)
			for name, want := range tt.want {
				if got := row.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if !tt.time.IsZero() && !row.Time.Equal(tt.time) {
				t.Errorf("row time = %v, want %v", row.Time, tt.time)
			}
			if t.Failed() {
				t.Logf("row: %v", row.Fields)
			}
		})
	}
}
