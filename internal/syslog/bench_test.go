package syslog

import (
	"testing"
	"time"
)

// benchInputs are typical messages: nginx's JSON access log as nginx sends
// it (RFC 3164, about 450 bytes), logger's RFC 5424 with structured data,
// and rsyslog's RSYSLOG_ForwardFormat.
var benchInputs = []struct {
	name string
	in   string
}{
	{"rfc3164-nginx", `<190>Nov 27 23:39:14 vm nginx: {"time_local":"2026-11-27T23:39:14+00:00","remote_addr":"127.0.0.1","remote_port":"41616","server_addr":"127.0.0.1","server_port":"18080","host":"127.0.0.1","request_method":"POST","request_uri":"/login","status":404,"body_bytes_sent":153,"request_time":0.000,"http_referer":"","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","http_x_forwarded_for":"","request_body":""}`},
	{"rfc5424-sd", `<37>1 2026-11-27T23:39:24.007406+00:00 vm app - ID47 [timeQuality tzKnown="1" isSynced="0"][meta@32473 src="10.0.0.1"] rfc5424 over udp`},
	{"rfc3164-rfc3339", `<34>2026-11-27T23:39:14.123+01:00 host app[12]: msg as RSYSLOG_ForwardFormat sends it`},
	{"rfc3164-nxlog", `<14>Nov 28 10:00:00 EXCH01 MSExchange CmdletLogs[1234]: Cmdlet succeeded: Get-Mailbox -Identity alice`},
	{"rfc3164-notag", `<13>Nov 28 10:00:00 host user alice logged in from 198.51.100.23 with a token: ok`},
	{"file-line", `Nov 28 10:00:00 mx1 sshd[31337]: Failed password for invalid user admin from 198.51.100.23 port 52144 ssh2`},
}

func BenchmarkParse(b *testing.B) {
	p := &Parser{Location: time.UTC, FileLines: true}
	for _, bi := range benchInputs {
		b.Run(bi.name, func(b *testing.B) {
			in := []byte(bi.in)
			var m Message
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				p.Parse(in, recv, &m)
			}
			if m.Err != "" {
				b.Fatal(m.Err)
			}
		})
	}
}
