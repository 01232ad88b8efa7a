package exchange

import (
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
	"github.com/vigil-soc/vigil/internal/store"
)

func benchText(b *testing.B, f format.Text, header []string, line string) {
	src := newSource()
	for _, h := range header {
		var ev format.Event
		if err := f.Parse([]byte(h), src, &ev); err != format.ErrSkip {
			b.Fatal(err)
		}
	}
	formattest.Bench(b, f, src, []byte(line))
}

func BenchmarkProtocolFailedLogin(b *testing.B) {
	benchText(b, Protocol(), []string{"#Log-type: IMAP4 Protocol Log", "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,puid"},
		`2026-11-28T08:00:01.950Z,0000000000000A1F,2,10.0.0.5:993,203.0.113.77:51012,,640,38,24,login,zhangwei@corp.example *****,"R=""a2 NO LOGIN failed."";Msg=""AuthFailed:LogonDenied,User: zhangwei@corp.example"";ErrMsg=AuthFailed:LogonDenied",`)
}

func BenchmarkProtocolSample(b *testing.B) {
	benchText(b, Protocol(), nil,
		`2024-01-24T15:30:19.847Z,00000000000ABC12,2,1.2.3.4:143,10.11.12.13:65468,example123,118,31,34,authenticate,PLAIN,"R=OK;Msg=""Proxy:Host123.domain.tld:1993:SSL;ProxySuccess"";LiveIdAR=OK;ActivityContextData=0cb2fd35-94c0-44de-9860-134d27654078",`)
}

func BenchmarkMessageTracking(b *testing.B) {
	benchText(b, MessageTracking(), nil,
		`2024-01-25T15:16:09.949Z,10.11.12.14,exchange-mail.my.domain.com,10.11.12.14,exchange-mail,08DC1DB12C345BE5;2024-01-25T15:16:09.544Z;0,exchange-mail\Default exchange-mail,SMTP,RECEIVE,70912345566403,<20240123200014.123F425E28@host01.my.domain.com>,1e6eb197-c6b4-1234-1b69-56dc1db88f50,mailuser@my.domain.com,,7229,1,,,vzdump backup status (host01.my.domain.com): backup successful,root@host01.my.domain.com,root@host01.my.domain.com,0cA: ,Incoming,,10.11.12.13,10.11.12.14,S:ProxyHop1=exchange-mail.my.domain.com(10.11.12.14);S:MessageValue=MediumHigh;S:Replication=Failed;S:FirstForestHop=exchange-mail.my.domain.com;S:FromEntity=Internet;S:ProxiedClientIPAddress=10.11.12.13;S:ProxiedClientHostname=host01.my.domain.com;S:DeliveryPriority=Normal;S:AccountForest=my.domain.com,Email,05503123-c5b9-46fe-1234-56dc1db88f8f,15.02.0330.005`)
}

func BenchmarkAdminAuditExport(b *testing.B) {
	benchText(b, AdminAuditExport(), []string{`"RunDate","Caller","CmdletName","CmdletParameters","ObjectModified","Succeeded","Error","OriginatingServer"`},
		`"11/28/2026 9:01:30 AM","corp.example/Users/admin1","Add-MailboxPermission","-Identity ""ceo"" -User ""CORP\svc-backup"" -AccessRights ""FullAccess""","corp.example/Users/CEO","True","","EXCH01 (15.02.1258.012)"`)
}

func BenchmarkAdminAuditJSON(b *testing.B) {
	base := []store.Field{}
	var ev0 format.Event
	ev0.Add("EventTime", "2026-11-28 09:01:30")
	ev0.Add("Hostname", "EXCH01.corp.example")
	ev0.Add("EventID", "1")
	ev0.Add("SourceName", "MSExchange CmdletLogs")
	ev0.Add("Channel", "MSExchange Management")
	ev0.Add("Message", `Cmdlet succeeded. Cmdlet Add-MailboxPermission, parameters -Identity "ceo" -User "CORP\svc-backup" -AccessRights "FullAccess" -InheritanceType "All".`)
	base = append(base, ev0.Fields...)
	j := AdminAuditJSON()
	src := newSource()
	var a format.Arena
	ev := format.Event{Fields: make([]store.Field, 0, 64), Copy: a.Copy}
	b.ReportAllocs()
	for b.Loop() {
		ev.Fields = append(ev.Fields[:0], base...)
		if !j.Match(&ev) {
			b.Fatal("no match")
		}
		if err := j.Map(&ev, src); err != nil {
			b.Fatal(err)
		}
	}
}
