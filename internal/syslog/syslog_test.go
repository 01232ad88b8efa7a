package syslog

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// recv is the arrival time used unless a case says otherwise.
var recv = time.Date(2026, 11, 27, 23, 40, 0, 0, time.UTC)

type want struct {
	format                Format
	pri                   int    // -1 when absent
	ts                    string // RFC 3339 with nanoseconds, "" for zero
	host, app, pid, msgid string
	sd                    []SDElement
	msg                   string
	err                   string // substring of Err; "" means no error
}

func check(t *testing.T, in []byte, m *Message, w want) {
	t.Helper()
	if m.Format != w.format {
		t.Errorf("Format = %v, want %v", m.Format, w.format)
	}
	if m.Priority != w.pri {
		t.Errorf("Priority = %d, want %d", m.Priority, w.pri)
	}
	wantFac, wantSev := -1, -1
	if w.pri >= 0 {
		wantFac, wantSev = w.pri>>3, w.pri&7
	}
	if m.Facility != wantFac || m.Severity != wantSev {
		t.Errorf("Facility, Severity = %d, %d, want %d, %d", m.Facility, m.Severity, wantFac, wantSev)
	}
	ts := ""
	if !m.Timestamp.IsZero() {
		ts = m.Timestamp.Format(time.RFC3339Nano)
	}
	if ts != w.ts {
		t.Errorf("Timestamp = %q, want %q", ts, w.ts)
	}
	if m.Hostname != w.host || m.AppName != w.app || m.ProcID != w.pid || m.MsgID != w.msgid {
		t.Errorf("Hostname, AppName, ProcID, MsgID = %q, %q, %q, %q, want %q, %q, %q, %q",
			m.Hostname, m.AppName, m.ProcID, m.MsgID, w.host, w.app, w.pid, w.msgid)
	}
	if len(m.StructuredData) != 0 || len(w.sd) != 0 {
		if !sdEqual(m.StructuredData, w.sd) {
			t.Errorf("StructuredData = %q, want %q", m.StructuredData, w.sd)
		}
	}
	if string(m.Message) != w.msg {
		t.Errorf("Message = %q, want %q", m.Message, w.msg)
	}
	switch {
	case w.err == "" && m.Err != "":
		t.Errorf("Err = %q, want none", m.Err)
	case w.err != "" && !strings.Contains(m.Err, w.err):
		t.Errorf("Err = %q, want it to contain %q", m.Err, w.err)
	}
	checkSuffix(t, in, m)
}

// checkSuffix checks that m.Message is a suffix of in sharing its memory.
func checkSuffix(t testing.TB, in []byte, m *Message) {
	t.Helper()
	if len(m.Message) > len(in) {
		t.Fatalf("Message longer than input")
	}
	if len(m.Message) > 0 && &m.Message[0] != &in[len(in)-len(m.Message)] {
		t.Errorf("Message %q is not a suffix of the input", m.Message)
	}
}

func sd(id string, kv ...string) SDElement {
	e := SDElement{ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Params = append(e.Params, SDParam{Name: kv[i], Value: kv[i+1]})
	}
	return e
}

func TestParseRFC5424(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"logger with SD",
			`<37>1 2026-11-27T23:39:24.007406+00:00 vm app - ID47 [timeQuality tzKnown="1" isSynced="0"][meta@32473 src="10.0.0.1"] rfc5424 over udp`,
			want{format: RFC5424, pri: 37, ts: "2026-11-27T23:39:24.007406Z", host: "vm", app: "app", msgid: "ID47",
				sd:  []SDElement{sd("timeQuality", "tzKnown", "1", "isSynced", "0"), sd("meta@32473", "src", "10.0.0.1")},
				msg: "rfc5424 over udp"}},
		{"rsyslog nginx, NIL fields",
			`<190>1 2026-11-27T23:39:58.280926+00:00 vm nginx-access - - - {"time_local":"..."}`,
			want{format: RFC5424, pri: 190, ts: "2026-11-27T23:39:58.280926Z", host: "vm", app: "nginx-access", msg: `{"time_local":"..."}`}},
		{"all NIL, no MSG",
			`<13>1 - - - - - -`,
			want{format: RFC5424, pri: 13}},
		{"all NIL, empty MSG",
			`<13>1 - - - - - - `,
			want{format: RFC5424, pri: 13}},
		{"procid and negative offset",
			`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
			want{format: RFC5424, pri: 165, ts: "2003-08-24T05:14:15.000003-07:00", host: "192.0.2.1", app: "myproc", pid: "8710",
				msg: "%% It's time to make the do-nuts."}},
		{"BOM removed",
			"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed",
			want{format: RFC5424, pri: 34, ts: "2003-10-11T22:14:15.003Z", host: "mymachine.example.com", app: "su", msgid: "ID47",
				msg: "'su root' failed"}},
		{"BOM only",
			"<34>1 - h a - - - \xEF\xBB\xBF",
			want{format: RFC5424, pri: 34, host: "h", app: "a"}},
		{"SD without MSG",
			`<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][examplePriority@32473 class="high"]`,
			want{format: RFC5424, pri: 165, ts: "2003-10-11T22:14:15.003Z", host: "h", app: "evntslog", msgid: "ID47",
				sd: []SDElement{sd("exampleSDID@32473", "iut", "3", "eventSource", "Application"), sd("examplePriority@32473", "class", "high")}}},
		{"escapes",
			`<13>1 - h a - - [x@1 q="say \"hi\"" b="C:\\dir\\" r="[a\]" o="\n\x" e=""] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a",
				sd:  []SDElement{sd("x@1", "q", `say "hi"`, "b", `C:\dir\`, "r", "[a]", "o", `\n\x`, "e", "")},
				msg: "m"}},
		{"unescaped ] in value, element without params",
			`<13>1 - h a - - [x@1 v="a]b"][y] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", sd: []SDElement{sd("x@1", "v", "a]b"), sd("y")}, msg: "m"}},
		{"UTF-8 and invalid UTF-8 in value",
			"<13>1 - h a - - [x v=\"Grüße \xff\"] m\xfe",
			want{format: RFC5424, pri: 13, host: "h", app: "a", sd: []SDElement{sd("x", "v", "Grüße \xff")}, msg: "m\xfe"}},
		{"offset without colon, lowercase t and z",
			`<13>1 2026-11-27t23:39:24z h a - - - x`,
			want{format: RFC5424, pri: 13, ts: "2026-11-27T23:39:24Z", host: "h", app: "a", msg: "x"}},
		{"nanoseconds, extra digits dropped",
			`<13>1 2026-11-27T23:39:24.123456789123+0530 h a - - - x`,
			want{format: RFC5424, pri: 13, ts: "2026-11-27T23:39:24.123456789+05:30", host: "h", app: "a", msg: "x"}},
		{"no offset is local",
			`<13>1 2026-11-27T23:39:24 h a - - - x`,
			want{format: RFC5424, pri: 13, ts: "2026-11-27T23:39:24Z", host: "h", app: "a", msg: "x"}},
		{"IPv6 host",
			`<13>1 - 2001:db8::1 a - - - x`,
			want{format: RFC5424, pri: 13, host: "2001:db8::1", app: "a", msg: "x"}},
		// Errors.
		{"month 13",
			`<13>1 2026-13-27T23:39:24Z host app - - - msg`,
			want{format: RFC5424, pri: 13, host: "host", app: "app", msg: "msg", err: "rfc5424: invalid timestamp at byte 6: month out of range"}},
		{"date without time",
			`<13>1 2026-11-27 host app - - - msg`,
			want{format: RFC5424, pri: 13, host: "host", app: "app", msg: "msg", err: "rfc5424: invalid timestamp at byte 6: want YYYY"}},
		{"offset out of range",
			`<13>1 2026-11-27T23:39:24+24:00 h a - - - m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: "m", err: "UTC offset out of range"}},
		{"truncated after APP-NAME",
			`<13>1 2026-11-27T23:39:24Z host app`,
			want{format: RFC5424, pri: 13, ts: "2026-11-27T23:39:24Z", host: "host", app: "app", err: "rfc5424: missing PROCID at byte 35"}},
		{"truncated after MSGID",
			`<13>1 - h a p m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", pid: "p", msgid: "m", err: "rfc5424: missing STRUCTURED-DATA at byte 15"}},
		{"empty HOSTNAME",
			`<13>1 -  a - - - m`,
			want{format: RFC5424, pri: 13, msg: " a - - - m", err: "rfc5424: empty HOSTNAME at byte 8"}},
		{"missing ]",
			`<13>1 - h a - - [ok a="1"][id a="1" rest`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", sd: []SDElement{sd("ok", "a", "1")}, msg: `[id a="1" rest`,
				err: `rfc5424: invalid structured data at byte 40: missing '=' after PARAM-NAME`}},
		{"junk after value",
			`<13>1 - h a - - [id a="1"x] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: `[id a="1"x] m`,
				err: `rfc5424: invalid structured data at byte 25: want ' ' or ']', got 'x'`}},
		{"missing ] at end",
			`<13>1 - h a - - [id a="1"`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: `[id a="1"`,
				err: "rfc5424: invalid structured data at byte 25: missing ']'"}},
		{"unquoted value",
			`<13>1 - h a - - [ok][id a=1] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", sd: []SDElement{sd("ok")}, msg: `[id a=1] m`,
				err: `at byte 26: missing '"' before PARAM-VALUE`}},
		{"unterminated value",
			`<13>1 - h a - - [id a="x\"]`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: `[id a="x\"]`, err: "at byte 22: unterminated PARAM-VALUE"}},
		{"empty SD-ID",
			`<13>1 - h a - - [] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: `[] m`, err: "at byte 17: empty SD-ID"}},
		{"missing =",
			`<13>1 - h a - - [id a] m`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: `[id a] m`, err: "at byte 21: missing '=' after PARAM-NAME"}},
		{"no space after SD",
			`<13>1 - h a - - [id]x`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", sd: []SDElement{sd("id")}, msg: "x",
				err: "rfc5424: invalid structured data at byte 20: want space or end after it, got 'x'"}},
		{"VERSION 2",
			`<13>2 2026-11-27T23:39:24Z h a - - - m`,
			want{format: RFC5424, pri: 13, msg: "2 2026-11-27T23:39:24Z h a - - - m", err: "rfc5424: unsupported VERSION 2 at byte 4: only 1 is defined"}},
		{"VERSION 0, NIL timestamp",
			`<13>0 - h a - - - m`,
			want{format: RFC5424, pri: 13, msg: "0 - h a - - - m", err: "rfc5424: unsupported VERSION 0 at byte 4"}},
		{"VERSION 100",
			`<1>100 - host-name - - - -`,
			want{format: RFC5424, pri: 1, msg: "100 - host-name - - - -", err: "rfc5424: unsupported VERSION 100 at byte 3"}},
		{"VERSION 01",
			`<13>01 2026-11-27T23:39:24Z h a - - - m`,
			want{format: RFC5424, pri: 13, msg: "01 2026-11-27T23:39:24Z h a - - - m", err: "unsupported VERSION 01"}},
		{"VERSION 2, NIL timestamp at the end",
			`<13>2 -`,
			want{format: RFC5424, pri: 13, msg: "2 -", err: "unsupported VERSION 2"}},
		{"control character in HOSTNAME",
			"<13>1 - host\nname a - - - m",
			want{format: RFC5424, pri: 13, host: "host\nname", app: "a", msg: "m", err: "rfc5424: control character 0x0a in HOSTNAME at byte 12"}},
		{"tab in APP-NAME",
			"<13>1 - h a\tb - - - m",
			want{format: RFC5424, pri: 13, host: "h", app: "a\tb", msg: "m", err: "rfc5424: control character 0x09 in APP-NAME at byte 11"}},
		{"NUL in PROCID",
			"<13>1 - h a \x00 - - m",
			want{format: RFC5424, pri: 13, host: "h", app: "a", pid: "\x00", msg: "m", err: "rfc5424: control character 0x00 in PROCID at byte 12"}},
		{"DEL in MSGID",
			"<13>1 - h a - ID\x7f - m",
			want{format: RFC5424, pri: 13, host: "h", app: "a", msgid: "ID\x7f", msg: "m", err: "rfc5424: control character 0x7f in MSGID at byte 16"}},
		{"first of several problems is reported",
			"<13>1 2026-13-01T00:00:00Z h\x01 a - - - m",
			want{format: RFC5424, pri: 13, host: "h\x01", app: "a", msg: "m", err: "rfc5424: invalid timestamp at byte 6: month out of range"}},
		{"control character in MSG is fine",
			"<13>1 - h a - - - m\tn\x00",
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: "m\tn\x00"}},
		{"UTF-8 in HOSTNAME is not checked",
			"<13>1 - 主机 a - - - m",
			want{format: RFC5424, pri: 13, host: "主机", app: "a", msg: "m"}},
		{"not SD",
			`<13>1 - h a - - x y`,
			want{format: RFC5424, pri: 13, host: "h", app: "a", msg: "x y", err: "at byte 16: want '[' or '-', got 'x'"}},
	}
	p := &Parser{Location: time.UTC}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			var m Message
			p.Parse(in, recv, &m)
			check(t, in, &m, tt.want)
		})
	}
}

func TestParseRFC3164(t *testing.T) {
	const nginxJSON = `{"time_local":"2026-11-27T23:39:14+00:00","remote_addr":"127.0.0.1","status":404}`
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"nginx",
			`<190>Nov 27 23:39:14 vm nginx: ` + nginxJSON,
			want{format: RFC3164, pri: 190, ts: "2026-11-27T23:39:14Z", host: "vm", app: "nginx", msg: nginxJSON}},
		{"tag with pid",
			`<86>Nov 27 23:39:14 mx1 sshd[31337]: Failed password for root from 198.51.100.23 port 52144 ssh2`,
			want{format: RFC3164, pri: 86, ts: "2026-11-27T23:39:14Z", host: "mx1", app: "sshd", pid: "31337",
				msg: "Failed password for root from 198.51.100.23 port 52144 ssh2"}},
		{"tag with slash",
			`<22>Nov 27 23:40:01 mx1 postfix/smtpd[4242]: NOQUEUE: reject`,
			want{format: RFC3164, pri: 22, ts: "2026-11-27T23:40:01Z", host: "mx1", app: "postfix/smtpd", pid: "4242", msg: "NOQUEUE: reject"}},
		{"space-padded day",
			`<13>Nov  7 03:09:14 host app: x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-07T03:09:14Z", host: "host", app: "app", msg: "x"}},
		{"unpadded day, lowercase month",
			`<13>nov 7 03:09:14 host app: x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-07T03:09:14Z", host: "host", app: "app", msg: "x"}},
		{"no hostname",
			`<13>Nov 27 23:39:14 nginx: msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", app: "nginx", msg: "msg"}},
		{"no hostname, pid",
			`<13>Nov 27 23:39:14 app[12]: msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", app: "app", pid: "12", msg: "msg"}},
		{"no hostname, pid without colon",
			`<13>Nov 27 23:39:14 app[12] msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", app: "app", pid: "12", msg: "msg"}},
		{"RSYSLOG_ForwardFormat",
			`<34>2026-11-27T23:39:14.123+01:00 host app[12]: msg`,
			want{format: RFC3164, pri: 34, ts: "2026-11-27T23:39:14.123+01:00", host: "host", app: "app", pid: "12", msg: "msg"}},
		{"with year",
			`<13>Nov 27 2025 23:39:14 host app: msg`,
			want{format: RFC3164, pri: 13, ts: "2025-11-27T23:39:14Z", host: "host", app: "app", msg: "msg"}},
		{"milliseconds",
			`<13>Nov 27 23:39:14.123 host app: msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14.123Z", host: "host", app: "app", msg: "msg"}},
		{"Cisco counter and *",
			`<189>52: *Nov  1 18:46:11.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up`,
			want{format: RFC3164, pri: 189, ts: "2026-11-01T18:46:11.123Z", app: "%LINK-3-UPDOWN", msg: "Interface Gi0/1, changed state to up"}},
		{"Cisco .",
			`<189>.Nov 27 23:39:14: %SYS-5-CONFIG_I: Configured from console`,
			want{format: RFC3164, pri: 189, ts: "2026-11-27T23:39:14Z", app: "%SYS-5-CONFIG_I", msg: "Configured from console"}},
		{"Cisco ASA",
			`<166>Nov 27 2026 23:39:14: %ASA-6-302013: Built inbound TCP connection`,
			want{format: RFC3164, pri: 166, ts: "2026-11-27T23:39:14Z", app: "%ASA-6-302013", msg: "Built inbound TCP connection"}},
		{"IPv4 host",
			`<13>Nov 27 23:39:14 192.0.2.1 app: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "192.0.2.1", app: "app", msg: "m"}},
		{"IPv6 host",
			`<13>Nov 27 23:39:14 2001:db8::1 app[7]: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "2001:db8::1", app: "app", pid: "7", msg: "m"}},
		{"IPv6 host ending in ::",
			`<13>Nov 27 23:39:14 fe80:: app: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "fe80::", app: "app", msg: "m"}},
		{"bracketed IPv6 host",
			`<13>Nov 27 23:39:14 [2001:db8::1] app: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "[2001:db8::1]", app: "app", msg: "m"}},
		{"NIL hostname",
			`<13>Nov 27 23:39:14 - app: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", app: "app", msg: "m"}},
		{"no tag",
			`<13>Nov 27 23:39:14 host -- message without a tag`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", msg: "-- message without a tag"}},
		{"JSON without tag",
			`<13>Nov 27 23:39:14 host {"a":"b"}`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", msg: `{"a":"b"}`}},
		{"JSON without host or tag",
			`<13>Nov 27 23:39:14 {"a":"b"} x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", msg: `{"a":"b"} x`}},
		{"tag without space",
			`<13>Nov 27 23:39:14 host app:msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", app: "app", msg: "msg"}},
		{"only one space removed",
			`<13>Nov 27 23:39:14 host app:  two`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", app: "app", msg: " two"}},
		{"tag and nothing else",
			`<13>Nov 27 23:39:14 host app:`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", app: "app"}},
		{"single token is the hostname",
			`<13>Nov 27 23:39:14 hello`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "hello"}},
		{"date only",
			`<13>Nov 27 23:39:14`,
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z"}},
		{"invalid UTF-8",
			"<13>Nov 27 23:39:14 host app: \xff\xfe\x00",
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", app: "app", msg: "\xff\xfe\x00"}},
		{"invalid UTF-8 where a tag would be",
			"<13>Nov 27 23:39:14 host \xffapp: m",
			want{format: RFC3164, pri: 13, ts: "2026-11-27T23:39:14Z", host: "host", msg: "\xffapp: m"}},
		{"PRI only",
			`<13>hello`,
			want{format: RFC3164, pri: 13, msg: "hello"}},
		{"PRI and nothing",
			`<0>`,
			want{format: RFC3164, pri: 0}},
		{"highest PRI",
			`<191>x`,
			want{format: RFC3164, pri: 191, msg: "x"}},
		{"leading zero PRI",
			`<013>x`,
			want{format: RFC3164, pri: 13, msg: "x"}},
		{"not a date",
			`<13>Novel idea: x`,
			want{format: RFC3164, pri: 13, msg: "Novel idea: x"}},
		{"date glued to text",
			`<13>Nov 27 23:39:14x host app: m`,
			want{format: RFC3164, pri: 13, msg: "Nov 27 23:39:14x host app: m"}},
		{"digit then a word is not a VERSION",
			`<13>2 apples fell`,
			want{format: RFC3164, pri: 13, msg: "2 apples fell"}},
		{"digits then a number is not a VERSION",
			`<13>10 2026 was a good year`,
			want{format: RFC3164, pri: 13, msg: "10 2026 was a good year"}},
		{"four digits are not a VERSION",
			`<13>1000 - x`,
			want{format: RFC3164, pri: 13, msg: "1000 - x"}},
		{"digit then a dash word is not a VERSION",
			`<13>2 -x`,
			want{format: RFC3164, pri: 13, msg: "2 -x"}},
		{"1 then a word",
			`<13>1 apple`,
			want{format: RFC3164, pri: 13, msg: "1 apple"}},
		// A space after the PRI.
		{"space after PRI",
			`<13> Nov 28 10:00:00 host app: msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "app", msg: "msg"}},
		{"space after PRI, RFC 3339 date",
			`<13> 2026-11-28T10:00:00Z host app[1]: msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "app", pid: "1", msg: "msg"}},
		{"space after PRI, no date",
			`<13> hello world`,
			want{format: RFC3164, pri: 13, msg: " hello world"}},
		{"two spaces after PRI",
			`<13>  Nov 28 10:00:00 host app: msg`,
			want{format: RFC3164, pri: 13, msg: "  Nov 28 10:00:00 host app: msg"}},
		// TAGs without a colon: "tag[pid]", and after a hostname a word of
		// the TAG's shape (RFC 3164, as rsyslog reads it).
		{"tag with pid, no colon, with hostname",
			`<13>Nov 28 10:00:00 host app[123] msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "app", pid: "123", msg: "msg"}},
		{"word without colon after a hostname is the TAG",
			`<13>Nov 28 10:00:00 host app msg`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "app", msg: "msg"}},
		{"rsyslog's tag without colon",
			`<129>Mar 10 01:00:00 172.20.245.8 tag3 msgnum:3`,
			want{format: RFC3164, pri: 129, ts: "2026-03-10T01:00:00Z", host: "172.20.245.8", app: "tag3", msg: "msgnum:3"}},
		{"program name with a slash",
			`<22>Nov 28 10:00:00 mx1 postfix/smtpd connect from unknown[198.51.100.23]`,
			want{format: RFC3164, pri: 22, ts: "2026-11-28T10:00:00Z", host: "mx1", app: "postfix/smtpd", msg: "connect from unknown[198.51.100.23]"}},
		{"access log with a host name client has no TAG",
			`<13>Nov 28 10:00:00 proxy01 localhost - - [28/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "proxy01", msg: `localhost - - [28/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5`}},
		{"a word starting with a digit is no TAG",
			`<13>Nov 28 10:00:00 proxy01 203.0.113.5 - - [28/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "proxy01", msg: `203.0.113.5 - - [28/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5`}},
		{"key=value is no TAG",
			`<13>Nov 28 10:00:00 fw01 devname=fw01 action=deny`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "fw01", msg: "devname=fw01 action=deny"}},
		{"a word longer than 32 bytes is no TAG",
			`<13>Nov 28 10:00:00 host ` + strings.Repeat("x", 33) + ` m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", msg: strings.Repeat("x", 33) + " m"}},
		{"no bare TAG after a TAG with a colon",
			`<13>Nov 28 10:00:00 app: one two`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", app: "app", msg: "one two"}},
		{"MARK",
			`<13>Nov 28 10:00:00 host -- MARK --`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", msg: "-- MARK --"}},
		{"tag with parentheses",
			`<86>Nov 28 10:00:00 host sshd(pam_unix)[12750]: session opened for user alice`,
			want{format: RFC3164, pri: 86, ts: "2026-11-28T10:00:00Z", host: "host", app: "sshd(pam_unix)", pid: "12750", msg: "session opened for user alice"}},
		{"long tag",
			`<38>Nov 28 10:00:00 host ` + strings.Repeat("x", 40) + `: m`,
			want{format: RFC3164, pri: 38, ts: "2026-11-28T10:00:00Z", host: "host", app: strings.Repeat("x", 40), msg: "m"}},
		// The header ends after the hostname.
		{"hostname at the end",
			`<14>Nov 28 10:00:00 host`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "host"}},
		{"hostname and a space at the end",
			`<14>Nov 28 10:00:00 host `,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "host"}},
		{"hostname and a newline at the end",
			"<14>Nov 28 10:00:00 host\r\n",
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "host", msg: "\r\n"}},
		{"IP address at the end",
			`<14>2026-11-28T10:00:00Z 192.0.2.1`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "192.0.2.1"}},
		{"tag at the end",
			`<14>Nov 28 10:00:00 app:`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", app: "app"}},
		{"tag with pid at the end",
			`<14>Nov 28 10:00:00 host app[1]`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "host", app: "app", pid: "1"}},
		// Cisco: a hostname glued to a colon.
		{"Cisco hostname with colon",
			`<189>Nov 28 10:00:00 rtr-01: %SYS-5-CONFIG_I: Configured from console by vty0`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00Z", host: "rtr-01", app: "%SYS-5-CONFIG_I", msg: "Configured from console by vty0"}},
		{"Cisco hostname, space, colon",
			`<189>Nov 28 10:00:00 rtr-01 : %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/1, changed state to up`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00Z", host: "rtr-01", app: "%LINEPROTO-5-UPDOWN",
				msg: "Line protocol on Interface Gi0/1, changed state to up"}},
		{"Cisco IP address with colon",
			`<189>Nov 28 10:00:00 192.0.2.1: %SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: alice]`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00Z", host: "192.0.2.1", app: "%SEC_LOGIN-5-LOGIN_SUCCESS", msg: "Login Success [user: alice]"}},
		{"Cisco two-part facility",
			`<189>Nov 28 10:00:00 rtr-01: %PKT_INFRA-LINK-3-UPDOWN: Interface down`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00Z", host: "rtr-01", app: "%PKT_INFRA-LINK-3-UPDOWN", msg: "Interface down"}},
		{"Cisco origin after the counter",
			`<189>52: rtr-01: *Nov 28 10:00:00.123: %SYS-5-CONFIG_I: Configured from console`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00.123Z", host: "rtr-01", app: "%SYS-5-CONFIG_I", msg: "Configured from console"}},
		{"Cisco IPv6 origin after the counter",
			`<189>52: 2001:db8::1: Nov 28 10:00:00: %SYS-5-CONFIG_I: Configured`,
			want{format: RFC3164, pri: 189, ts: "2026-11-28T10:00:00Z", host: "2001:db8::1", app: "%SYS-5-CONFIG_I", msg: "Configured"}},
		{"word with colon before a percentage is a tag",
			`<13>Nov 28 10:00:00 backup: %d files left`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", app: "backup", msg: "%d files left"}},
		{"word with colon before a non-mnemonic is a tag",
			`<13>Nov 28 10:00:00 disk: %-5-: full`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", app: "disk", msg: "%-5-: full"}},
		{"tag, not a Cisco hostname",
			`<13>Nov 28 10:00:00 app: message`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", app: "app", msg: "message"}},
		{"counter and text, no origin",
			`<13>52: hello: world`,
			want{format: RFC3164, pri: 13, msg: "52: hello: world"}},
		// TAGs with spaces, as nxlog's to_syslog_bsd writes a Windows event's SourceName.
		{"nxlog tag with a space",
			`<14>Nov 28 10:00:00 EXCH01 MSExchange CmdletLogs[1234]: Cmdlet succeeded: Get-Mailbox`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "EXCH01", app: "MSExchange CmdletLogs", pid: "1234",
				msg: "Cmdlet succeeded: Get-Mailbox"}},
		{"nxlog tag with spaces and no pid before JSON",
			`<11>Jun  4 08:41:47 exchange01.corp.example MSExchange CmdletLogs: {"EventID":6}`,
			want{format: RFC3164, pri: 11, ts: "2026-06-04T08:41:47Z", host: "exchange01.corp.example", app: "MSExchange CmdletLogs",
				msg: `{"EventID":6}`}},
		{"words ending with a colon before text are no spaced TAG",
			`<13>Nov 28 10:00:00 host user alice said: {braces}x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "user", msg: "alice said: {braces}x"}},
		{"nxlog tag with two spaces",
			`<14>Nov 28 10:00:00 dc01.corp.example Service Control Manager[600]: The Print Spooler service entered the stopped state.`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "dc01.corp.example", app: "Service Control Manager", pid: "600",
				msg: "The Print Spooler service entered the stopped state."}},
		{"nxlog tag without spaces",
			`<14>Nov 28 10:00:00 DC01 Microsoft-Windows-Security-Auditing[4]: An account failed to log on.`,
			want{format: RFC3164, pri: 14, ts: "2026-11-28T10:00:00Z", host: "DC01", app: "Microsoft-Windows-Security-Auditing", pid: "4",
				msg: "An account failed to log on."}},
		// Words that are not a spaced TAG: the first is a bare TAG.
		{"words ending with a colon are no spaced TAG",
			`<13>Nov 28 10:00:00 host user alice logged in: ok`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "user", msg: "alice logged in: ok"}},
		{"words ending with [pid] without colon are no spaced TAG",
			`<13>Nov 28 10:00:00 host session of user[1000] opened`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "session", msg: "of user[1000] opened"}},
		{"words ending with a non-numeric [pid] are no spaced TAG",
			`<13>Nov 28 10:00:00 host reject from unknown[198.51.100.23]: 554 denied`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "reject", msg: "from unknown[198.51.100.23]: 554 denied"}},
		{"words with a double space are MSG",
			`<13>Nov 28 10:00:00 host Service  Manager[600]: x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", msg: "Service  Manager[600]: x"}},
		{"words with punctuation are no spaced TAG",
			`<13>Nov 28 10:00:00 host login failed, user=bob[7]: x`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "login", msg: "failed, user=bob[7]: x"}},
		{"spaced tag longer than the limit is none",
			`<13>Nov 28 10:00:00 host ` + strings.Repeat("word ", 30) + `x[1]: m`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "word", msg: strings.Repeat("word ", 29) + "x[1]: m"}},
		{"two words: TAG and MSG",
			`<13>Nov 28 10:00:00 host all good`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "host", app: "all", msg: "good"}},
		// rsyslog corpus shapes.
		{"year after the time is a hostname",
			`<6>Aug 10 22:18:24 2009  netips [audit] user=x`,
			want{format: RFC3164, pri: 6, ts: "2026-08-10T22:18:24Z", host: "2009", msg: " netips [audit] user=x"}},
		{"BSD date with a year and Cisco colon",
			`<167>Mar 7 2008 19:06:53: example tag: testmessage`,
			want{format: RFC3164, pri: 167, ts: "2008-03-07T19:06:53Z", host: "example", app: "tag", msg: "testmessage"}},
		{"uppercase month",
			`<167>AUG 10 22:18:24 host tag: x`,
			want{format: RFC3164, pri: 167, ts: "2026-08-10T22:18:24Z", host: "host", app: "tag", msg: "x"}},
		// Errors.
		{"Nov 31",
			`<13>Nov 31 23:39:14 host app: m`,
			want{format: RFC3164, pri: 13, host: "host", app: "app", msg: "m", err: "rfc3164: invalid timestamp at byte 4: day out of range"}},
		{"hour 25",
			`<13>Nov 27 25:39:14 host app: m`,
			want{format: RFC3164, pri: 13, host: "host", app: "app", msg: "m", err: "hour out of range"}},
		{"Feb 30 in RFC 3339",
			`<13>2026-02-30T00:00:00Z host app: m`,
			want{format: RFC3164, pri: 13, host: "host", app: "app", msg: "m", err: "day out of range"}},
	}
	p := &Parser{Location: time.UTC}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			var m Message
			p.Parse(in, recv, &m)
			check(t, in, &m, tt.want)
		})
	}
}

func TestParseUnknown(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ts   string
		err  string
	}{
		{"BSD line without PRI", `Nov 27 23:39:14 host app: msg`, "2026-11-27T23:39:14Z", ""},
		{"RFC 3339 line", `2026-11-27T23:39:14.5Z something happened`, "2026-11-27T23:39:14.5Z", ""},
		{"plain text", `plain text`, "", ""},
		{"empty", ``, "", ""},
		{"PRI out of range", `<999>Nov 27 23:39:14 host app: msg`, "2026-11-27T23:39:14Z", "pri: value 999 out of range 0..191"},
		{"PRI 192", `<192>x`, "", "pri: value 192 out of range"},
		{"PRI too long", `<12345678901234>x`, "", "pri: value 1234567890... out of range"},
		{"PRI letters", `<abc>hello`, "", "pri: invalid character 'a' at byte 1"},
		{"PRI letters, then a date", `<abc>Nov 27 23:39:14 h a: m`, "2026-11-27T23:39:14Z", "pri: invalid character 'a' at byte 1"},
		{"PRI empty", `<>hello`, "", `pri: empty value "<>"`},
		{"PRI binary", "<1\x00>", "", "pri: invalid character 0x00 at byte 2"},
		{"PRI unterminated", `<13`, "", "pri: missing '>' at byte 3"},
		{"lone <", `<`, "", "pri: missing '>' at byte 1"},
		{"HTML", `<html><body>`, "", "pri: invalid character 'h' at byte 1"},
		{"invalid date without PRI", `Nov 31 23:39:14 host app: msg`, "", ""},
	}
	p := &Parser{Location: time.UTC}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			var m Message
			p.Parse(in, recv, &m)
			check(t, in, &m, want{format: Unknown, pri: -1, ts: tt.ts, msg: tt.in, err: tt.err})
			if len(in) > 0 && &m.Message[0] != &in[0] {
				t.Errorf("Message is not the input itself")
			}
		})
	}
}

// TestParseFileLines checks lines of log files, which have no PRI.
func TestParseFileLines(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    want
		assumed bool
	}{
		{"auth.log",
			`Nov 28 10:00:00 mx1 sshd[123]: Failed password for root from 198.51.100.23 port 52144 ssh2`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "mx1", app: "sshd", pid: "123",
				msg: "Failed password for root from 198.51.100.23 port 52144 ssh2"}, true},
		{"space-padded day",
			`Nov  7 03:09:14 mx1 CRON[77]: (root) CMD (true)`,
			want{format: RFC3164, pri: 13, ts: "2026-11-07T03:09:14Z", host: "mx1", app: "CRON", pid: "77", msg: "(root) CMD (true)"}, true},
		{"rsyslog high-precision",
			`2026-11-28T10:00:00.123456+08:00 mx1 sshd[123]: Accepted publickey for alice`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00.123456+08:00", host: "mx1", app: "sshd", pid: "123",
				msg: "Accepted publickey for alice"}, true},
		{"kernel line",
			`Nov 28 10:00:00 mx1 kernel: [12345.678901] UFW BLOCK IN=eth0`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "mx1", app: "kernel", msg: "[12345.678901] UFW BLOCK IN=eth0"}, true},
		{"no tag",
			`Nov 28 10:00:00 mx1 -- MARK --`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "mx1", msg: "-- MARK --"}, true},
		{"hostname only",
			`Nov 28 10:00:00 mx1`,
			want{format: RFC3164, pri: 13, ts: "2026-11-28T10:00:00Z", host: "mx1"}, true},
		{"invalid date",
			`Nov 31 10:00:00 mx1 app: m`,
			want{format: RFC3164, pri: 13, host: "mx1", app: "app", msg: "m", err: "rfc3164: invalid timestamp at byte 0: day out of range"}, true},
		{"with a PRI",
			`<86>Nov 28 10:00:00 mx1 sshd[123]: m`,
			want{format: RFC3164, pri: 86, ts: "2026-11-28T10:00:00Z", host: "mx1", app: "sshd", pid: "123", msg: "m"}, false},
		{"RFC 5424 with a PRI",
			`<13>1 - mx1 app - - - m`,
			want{format: RFC5424, pri: 13, host: "mx1", app: "app", msg: "m"}, false},
		{"no date",
			`Failed password for root`,
			want{format: Unknown, pri: -1, msg: "Failed password for root"}, false},
		{"JSON",
			`{"time":"2026-11-28T10:00:00Z"}`,
			want{format: Unknown, pri: -1, msg: `{"time":"2026-11-28T10:00:00Z"}`}, false},
		{"space before the date",
			` Nov 28 10:00:00 mx1 app: m`,
			want{format: Unknown, pri: -1, msg: ` Nov 28 10:00:00 mx1 app: m`}, false},
		{"malformed PRI",
			`<abc>Nov 28 10:00:00 mx1 app: m`,
			want{format: Unknown, pri: -1, ts: "2026-11-28T10:00:00Z", msg: `<abc>Nov 28 10:00:00 mx1 app: m`, err: "pri: invalid character 'a' at byte 1"}, false},
		{"empty",
			``,
			want{format: Unknown, pri: -1}, false},
	}
	p := &Parser{Location: time.UTC, FileLines: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			var m Message
			p.Parse(in, recv, &m)
			check(t, in, &m, tt.want)
			if m.PriorityAssumed != tt.assumed {
				t.Errorf("PriorityAssumed = %v, want %v", m.PriorityAssumed, tt.assumed)
			}
		})
	}

	// Without FileLines, a line without PRI stays Unknown.
	var m Message
	in := []byte(tests[0].in)
	(&Parser{Location: time.UTC}).Parse(in, recv, &m)
	check(t, in, &m, want{format: Unknown, pri: -1, ts: "2026-11-28T10:00:00Z", msg: tests[0].in})
	if m.PriorityAssumed {
		t.Errorf("PriorityAssumed without FileLines")
	}
}

func TestParseNil(t *testing.T) {
	var p Parser
	var m Message
	p.Parse(nil, time.Time{}, &m)
	if m.Format != Unknown || m.Priority != -1 || m.Message != nil || m.Err != "" {
		t.Errorf("Parse(nil) = %+v", m)
	}
}

func TestYear(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name     string
		date     string // BSD date
		received string
		want     string
	}{
		{"same day", "Nov 27 23:39:14", "2026-11-27T23:40:00+01:00", "2026-11-27T23:39:14+01:00"},
		{"location applies", "Nov 27 23:39:14", "2026-11-27T23:00:00Z", "2026-11-27T23:39:14+01:00"},
		{"clock skew into the future stays", "Nov 27 23:45:00", "2026-11-27T23:40:00+01:00", "2026-11-27T23:45:00+01:00"},
		{"Dec 31 received Jan 1 is last year", "Dec 31 23:59:59", "2027-01-01T00:00:05+01:00", "2026-12-31T23:59:59+01:00"},
		{"Jan 1 received Dec 31 is next year", "Jan  1 00:00:05", "2026-12-31T23:59:59+01:00", "2027-01-01T00:00:05+01:00"},
		{"Dec 31 received Jan 1 in UTC but not yet in CET", "Dec 31 23:30:00", "2026-12-31T23:45:00Z", "2026-12-31T23:30:00+01:00"},
		{"five months old", "Jun 15 12:00:00", "2026-11-27T12:00:00+01:00", "2026-06-15T12:00:00+01:00"},
		{"nine months old", "Mar  1 00:00:00", "2026-11-27T12:00:00+01:00", "2026-03-01T00:00:00+01:00"},
		{"six months old, nearer next year's date", "Jun  4 08:41:47", "2026-12-06T07:00:00+01:00", "2026-06-04T08:41:47+01:00"},
		{"a month ahead is this year", "Dec 27 12:00:00", "2026-11-27T12:00:00+01:00", "2026-12-27T12:00:00+01:00"},
		{"more than a month ahead is last year", "Dec 29 12:00:00", "2026-11-27T12:00:00+01:00", "2025-12-29T12:00:00+01:00"},
		{"Feb 29 goes to the last leap year", "Feb 29 12:00:00", "2027-01-10T00:00:00+01:00", "2024-02-29T12:00:00+01:00"},
		{"Feb 29 just before a leap day", "Feb 29 12:00:00", "2028-02-20T00:00:00+01:00", "2028-02-29T12:00:00+01:00"},
		{"Feb 29 eight years back", "Feb 29 12:00:00", "2100-12-01T00:00:00+01:00", "2096-02-29T12:00:00+01:00"},
		{"Feb 29 after a leap year", "Feb 29 12:00:00", "2025-03-05T00:00:00+01:00", "2024-02-29T12:00:00+01:00"},
		{"Feb 29 in a leap year", "Feb 29 12:00:00", "2028-03-01T00:00:00+01:00", "2028-02-29T12:00:00+01:00"},
	}
	p := &Parser{Location: cet, Now: func() time.Time { t.Fatal("Now called"); return time.Time{} }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte("<13>" + tt.date + " host app: m")
			var m Message
			p.Parse(in, at(tt.received), &m)
			if m.Err != "" {
				t.Fatalf("Err = %q", m.Err)
			}
			if got := m.Timestamp.Format(time.RFC3339); got != tt.want {
				t.Errorf("Timestamp = %s, want %s", got, tt.want)
			}
		})
	}

	t.Run("zero received uses Now", func(t *testing.T) {
		p := &Parser{Location: time.UTC, Now: func() time.Time { return at("2027-01-01T00:00:05Z") }}
		var m Message
		p.Parse([]byte("<13>Dec 31 23:59:59 host app: m"), time.Time{}, &m)
		if got, want := m.Timestamp.Format(time.RFC3339), "2026-12-31T23:59:59Z"; got != want {
			t.Errorf("Timestamp = %s, want %s", got, want)
		}
	})
}

func TestOffsetZone(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	p := &Parser{Location: cet}
	tests := []struct {
		in       string
		wantLoc  *time.Location
		wantName string
	}{
		{"<13>1 2026-11-27T23:39:24Z h a - - - m", time.UTC, "UTC"},
		{"<13>1 2026-11-27T23:39:24+00:00 h a - - - m", time.UTC, "UTC"},
		{"<13>1 2026-11-27T23:39:24+01:00 h a - - - m", cet, "CET"},
		{"<13>1 2026-11-27T23:39:24+02:00 h a - - - m", nil, ""},
	}
	for _, tt := range tests {
		var m Message
		p.Parse([]byte(tt.in), recv, &m)
		name, _ := m.Timestamp.Zone()
		if (tt.wantLoc != nil && m.Timestamp.Location() != tt.wantLoc) || name != tt.wantName {
			t.Errorf("%s: zone %q (%p), want %q", tt.in, name, m.Timestamp.Location(), tt.wantName)
		}
		if want := time.Date(2026, 11, 27, 23, 39, 24, 0, time.UTC); m.Timestamp.Sub(want).Abs() > 2*time.Hour {
			t.Errorf("%s: Timestamp = %v", tt.in, m.Timestamp)
		}
	}
}

// TestStringsOwnMemory checks that no string field refers to the input.
func TestStringsOwnMemory(t *testing.T) {
	var p Parser
	for _, in := range []string{
		`<37>1 2026-11-27T23:39:24.007406+00:00 vm app 42 ID47 [timeQuality tzKnown="1" isSynced="0"][meta@32473 src="10.0.0.1" esc="a\"b\\c\]d"] rfc5424`,
		`<13>Nov 27 23:39:14 host sshd[42]: m`,
	} {
		b := []byte(in)
		var m Message
		p.Parse(b, recv, &m)
		before := snapshot(&m)
		for i := range b {
			b[i] = 'X'
		}
		if after := snapshot(&m); after != before {
			t.Errorf("strings changed with the input:\n%s\n%s", before, after)
		}
	}
}

func snapshot(m *Message) string {
	var sb strings.Builder
	sb.WriteString(m.Hostname + "|" + m.AppName + "|" + m.ProcID + "|" + m.MsgID)
	for _, e := range m.StructuredData {
		sb.WriteString("|[" + e.ID)
		for _, p := range e.Params {
			sb.WriteString(" " + p.Name + "=" + p.Value)
		}
		sb.WriteString("]")
	}
	return sb.String()
}

// TestReuse checks that parsing into a used Message gives the same result
// as parsing into a new one.
func TestReuse(t *testing.T) {
	ins := []string{
		`<37>1 - vm app - ID47 [a x="1" y="2"][b z="3"] m1`,
		`<13>Nov 27 23:39:14 host sshd[42]: m2`,
		`<37>1 - vm app - - [c w="4"] m3`,
		`<37>1 - vm app - - [d v="5"][e u="6"][f] m4`,
		`<37>1 - vm app - - [ok a="1"][bad m5`,
		`<14>Nov 28 10:00:00 EXCH01 MSExchange CmdletLogs[1234]: m6`,
		`<13>2 - h a - - - m7`,
		`<189>52: rtr-01: *Nov 28 10:00:00.123: %SYS-5-CONFIG_I: m8`,
		`plain`,
	}
	var p Parser
	var reused Message
	for _, in := range ins {
		var fresh Message
		p.Parse([]byte(in), recv, &fresh)
		p.Parse([]byte(in), recv, &reused)
		if !equal(&fresh, &reused) {
			t.Errorf("%s:\nfresh  %+v\nreused %+v", in, fresh, reused)
		}
	}
}

// sdEqual compares structured data, not telling nil from empty.
func sdEqual(a, b []SDElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || len(a[i].Params) != len(b[i].Params) {
			return false
		}
		for k := range a[i].Params {
			if a[i].Params[k] != b[i].Params[k] {
				return false
			}
		}
	}
	return true
}

func equal(a, b *Message) bool {
	return sdEqual(a.StructuredData, b.StructuredData) && a.Format == b.Format && a.Priority == b.Priority && a.Facility == b.Facility &&
		a.Severity == b.Severity && a.Timestamp.Equal(b.Timestamp) && a.Hostname == b.Hostname &&
		a.AppName == b.AppName && a.ProcID == b.ProcID && a.MsgID == b.MsgID &&
		bytes.Equal(a.Message, b.Message) && a.Err == b.Err && a.PriorityAssumed == b.PriorityAssumed
}

// readFixture returns the non-comment lines of a testdata file.
func readFixture(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Bytes(); len(l) > 0 && l[0] != '#' {
			lines = append(lines, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestFixtures(t *testing.T) {
	var p Parser
	for _, in := range readFixture(t, "valid.txt") {
		var m Message
		p.Parse(in, recv, &m)
		if m.Err != "" || m.Format == Unknown {
			t.Errorf("%q: Format %v, Err %q", in, m.Format, m.Err)
		}
		if m.Format == RFC3164 && len(in) > 30 && m.Timestamp.IsZero() {
			t.Errorf("%q: no Timestamp", in)
		}
	}
	for _, in := range readFixture(t, "malformed.txt") {
		var m Message
		p.Parse(in, recv, &m)
		if m.Err == "" {
			t.Errorf("%q: no Err", in)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{FacilityName(0), "kern"},
		{FacilityName(4), "auth"},
		{FacilityName(10), "authpriv"},
		{FacilityName(16), "local0"},
		{FacilityName(23), "local7"},
		{FacilityName(24), ""},
		{FacilityName(-1), ""},
		{SeverityName(0), "emerg"},
		{SeverityName(3), "err"},
		{SeverityName(7), "debug"},
		{SeverityName(8), ""},
		{SeverityName(-1), ""},
		{Unknown.String(), "unknown"},
		{RFC3164.String(), "rfc3164"},
		{RFC5424.String(), "rfc5424"},
		{Format(9).String(), "Format(9)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
