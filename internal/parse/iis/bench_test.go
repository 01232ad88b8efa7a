package iis

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

func bench(b *testing.B, f format.Text, header, line string) {
	src := &format.Source{Location: time.UTC}
	if header != "" {
		f.Parse([]byte(header), src, &format.Event{})
	}
	formattest.Bench(b, f, src, []byte(line))
}

const (
	benchHeader = "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
	benchEWS    = `2026-11-28 09:00:03 10.0.0.10 POST /EWS/Exchange.asmx &CorrelationID=<empty>;&cafeReqId=5b2e1d3c-9a8b-4c7d-b6e5-f4a3b2c1d0e9; 443 CORP\lisi 10.20.30.40 Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.17231;+Pro) - 200 0 0 46`
	benchEAS    = "2026-11-28 09:00:02 10.0.0.10 POST /Microsoft-Server-ActiveSync/default.eas Cmd=Sync&User=zhangwei&DeviceId=ApplF17XK2ABCD12&DeviceType=iPhone 443 - 198.51.100.23 Apple-iPhone14C2/2006.5 - 401 1 1326 3"
	benchXFF    = `2023-08-28 08:58:45 exchange02 fe80::d9e3:e981:da2d:427b%3 POST /mapi/emsmdb/ MailboxId=df2fe8fa-492b-0000-a93b-0ce83db65e43@example.com 444 Anonymous fe80::d9e3:e981:da2d:427b%3 Microsoft+Office/16.0+(Windows+NT+6.2;+ucmapi+16.0.5404;+Pro) - 200 0 0 4 10.0.61.69,10.93.4.75 36391`
	benchProxy  = `2024-01-24T15:26:47.957Z,3422ea93-768f-4cd4-8b0c-578038deb0b2,15,1,2507,35,R:{750498CA-0EBD-4E7F-B2F6-377AD1BDD198}:20373;RT:Execute;CI:{FF8D5880-5A7A-4AF7-8DDA-8F662BD6BCB6}:155680117;CID:{FF8D5880-5A7A-4AF7-8DDA-8F662BD6BCB6},Mapi,mail.example.com,/mapi/emsmdb/,,Negotiate,true,CORP\lisi,example.com,MailboxGuid~0aa89cf8-aa07-4103-8a1d-ca9e619f223e,"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16731; Pro)",10.12.13.14,EXCH01,200,200,,POST,Proxy,exch02.corp.example.com,15.01.2507.000,CrossForest,MailboxGuidWithDomain,Database~a6c4dbb1-3265-4fbf-9dc6-754dffd67275~~2024-02-23T15:26:43,,,70,132,,,0,1,,0,,0,,0,0,,0,10,0,0,0,0,3,0,0,0,2,0,10,0,4,7,7,7,10,,?MailboxId=0e36a769-e2a9-4d1d-98df-80be2753326c@example.com,,BeginRequest=2024-01-24T15:26:47.947Z;CorrelationID=<empty>;ProxyState-Run=None;,,,|RoutingDB:0cb2fd35-94c0-44de-9860-134d27654078,,,CafeV1`
)

func BenchmarkTextHeaderEWS(b *testing.B)     { bench(b, Text(), benchHeader, benchEWS) }
func BenchmarkTextHeaderEAS401(b *testing.B)  { bench(b, Text(), benchHeader, benchEAS) }
func BenchmarkTextHeaderless(b *testing.B)    { bench(b, Text(), "", benchEWS) }
func BenchmarkTextHeaderlessXFF(b *testing.B) { bench(b, Text(), "", benchXFF) }
func BenchmarkHTTPProxy(b *testing.B)         { bench(b, HTTPProxy(), "", benchProxy) }

func BenchmarkSplitCSV(b *testing.B) {
	var arr [96][]byte
	var buf [256]byte
	msg := []byte(benchProxy)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := splitCSV(arr[:0], msg, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
