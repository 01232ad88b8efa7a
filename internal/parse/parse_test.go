package parse

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

var received = time.Date(2026, 11, 27, 23, 39, 15, 0, time.UTC)

func parseLine(t testing.TB, p *Parser, data string, flags uint8) store.Row {
	t.Helper()
	rec := journal.Record{Seq: 42, Time: received, Input: "syslog", Peer: "127.0.0.1:41616", Flags: flags, Data: []byte(data)}
	var row store.Row
	p.Parse(&rec, &row)
	return row
}

func TestParse(t *testing.T) {
	const nginx = `<190>Nov 27 23:39:14 vm nginx: {"source":"192.168.0.8", "ip":"10.1.2.3","user":"","time_local":"27/Nov/2026:23:39:14 +0000","statuscode":401,"bytes_sent":153,"http_referer":"","http_user_agent":"Mozilla/5.0 (iPhone)","request_uri":"/Microsoft-Server-ActiveSync?Cmd=Sync&User=zhangwei","request_time":0.004,"gzip_ration":"-","query_string":"Cmd=Sync&User=zhangwei"}`
	tests := []struct {
		name  string
		data  string
		flags uint8
		want  map[string]string // "" means the field must be absent
		time  time.Time
	}{
		{
			name: "nginx json over rfc3164",
			data: nginx,
			want: map[string]string{
				// mapped onto normalized fields: the payload keys are replaced
				"source.ip": "10.1.2.3", "http.response.status_code": "401", "http.response.bytes": "153",
				"event.duration": "4000000", "user_agent.original": "Mozilla/5.0 (iPhone)", "host.ip": "192.168.0.8",
				"event.dataset": "nginx.access", "network.protocol": "activesync", "user.name": "zhangwei",
				"event.outcome": "unknown", "url.path": "/Microsoft-Server-ActiveSync", // no Basic user: the challenge
				"statuscode": "", "ip": "", "http_user_agent": "",
				"gzip_ration":   "-", // not mapped: kept
				"host.hostname": "vm", "log.syslog.appname": "nginx", "log.syslog.format": "rfc3164",
				"log.syslog.facility.name": "local7", "log.syslog.severity.name": "info", "log.syslog.priority": "190",
				"vigil.seq": "42", "vigil.input": "syslog", "log.source.address": "127.0.0.1:41616",
				"vigil.parse_error": "",
				"_msg":              "/Microsoft-Server-ActiveSync 401",
			},
			time: time.Date(2026, 11, 27, 23, 39, 14, 0, time.UTC),
		},
		{
			name: "rfc5424 with structured data",
			data: `<37>1 2026-11-27T23:39:24.007406+00:00 vm app - ID47 [timeQuality tzKnown="1" isSynced="0"][meta@32473 src="10.0.0.1"] rfc5424 over udp`,
			want: map[string]string{
				"_msg": "rfc5424 over udp", "log.syslog.msgid": "ID47", "log.syslog.format": "rfc5424",
				"log.syslog.sd.meta@32473.src": "10.0.0.1", "log.syslog.sd.timeQuality.tzKnown": "1",
				"log.syslog.procid": "", "log.syslog.severity.name": "notice", "log.syslog.facility.name": "auth",
			},
			time: time.Date(2026, 11, 27, 23, 39, 24, 7406000, time.UTC),
		},
		{
			name: "nested json flattened, arrays kept, reserved keys renamed, null skipped",
			data: `<14>1 2026-11-27T23:39:58Z h app - - - {"a":{"b":{"c":"deep"}},"list":[1,"x"],"ok":true,"_msg":"evil","vigil.seq":"1","n":null}`,
			want: map[string]string{
				"a.b.c": "deep", "list": `[1,"x"]`, "ok": "true", "json._msg": "evil", "json.vigil.seq": "1",
				"vigil.seq": "42", "n": "",
			},
		},
		{
			name: "json message key becomes _msg",
			data: `<14>1 2026-11-27T23:39:58Z h app - - - {"level":"warn","msg":"disk almost full","pct":97}`,
			want: map[string]string{"_msg": "disk almost full", "msg": "disk almost full", "pct": "97"},
		},
		{
			name: "access log summary with method",
			data: `<14>1 2026-11-27T23:39:58Z h nginx - - - {"request_method":"POST","request_uri":"/owa/auth.owa","status":302}`,
			want: map[string]string{"_msg": "POST /owa/auth.owa 302"},
		},
		{
			name: "access log summary from a request line",
			data: `<14>1 2026-11-27T23:39:58Z h nginx - - - {"request":"GET /ecp/ HTTP/1.1","request_method":"GET","status":200}`,
			want: map[string]string{"_msg": "GET /ecp/ HTTP/1.1 200"},
		},
		{
			name: "json without a message has no _msg",
			data: `<14>1 2026-11-27T23:39:58Z h app - - - {"a":1,"b":"two"}`,
			want: map[string]string{"_msg": "", "a": "1", "b": "two"},
		},
		{
			name: "cee cookie",
			data: `<14>Nov 27 23:39:14 host app: @cee: {"user":"zhangwei"}`,
			want: map[string]string{"user": "zhangwei"},
		},
		{
			name: "plain text stays message",
			data: `<13>Nov 27 23:39:14 mail postfix/smtpd[1234]: connect from unknown[10.0.0.9]`,
			want: map[string]string{
				"_msg": "connect from unknown[10.0.0.9]", "log.syslog.appname": "postfix/smtpd", "log.syslog.procid": "1234",
				"vigil.parse_error": "",
			},
		},
		{
			name: "trailing newline of a line template is stripped",
			data: "<14>1 2026-11-27T23:39:58Z h app - - - hello\r\n",
			want: map[string]string{"_msg": "hello"},
		},
		{
			name: "invalid json kept raw with error",
			data: `<14>Nov 27 23:39:14 host app: {"a":`,
			want: map[string]string{"_msg": `{"a":`, "vigil.parse_error": "invalid JSON"},
		},
		{
			name: "no syslog header",
			data: `just some text`,
			want: map[string]string{"_msg": "just some text", "log.syslog.format": "unknown"},
			time: received,
		},
		{
			name:  "truncated flag",
			data:  `<14>Nov 27 23:39:14 host app: {"a":"b`,
			flags: journal.FlagTruncated,
			want:  map[string]string{"vigil.truncated": "true", "vigil.parse_error": "truncated"},
		},
		{
			name: "the payload's own time wins over a wrong header time",
			data: `<14>1 2029-01-01T00:00:00Z host nginx - - - {"time_local":"27/Nov/2026:23:39:10 +0000","request_uri":"/owa/","status":200}`,
			want: map[string]string{"vigil.time_error": "", "event.dataset": "nginx.access"},
			time: time.Date(2026, 11, 27, 23, 39, 10, 0, time.UTC),
		},
		{
			name: "event time far in the future uses receive time",
			data: `<14>1 2029-01-01T00:00:00Z host app - - - from the future`,
			want: map[string]string{"vigil.time_error": "too far ahead", "vigil.clock_skew": ""},
			time: received,
		},
		{
			name: "a clock 30 minutes ahead keeps its time and is labelled",
			data: `<14>1 2026-11-28T00:09:15.9Z host app - - - ahead`,
			want: map[string]string{"vigil.clock_skew": "+30m0s", "vigil.time_error": ""},
			time: time.Date(2026, 11, 28, 0, 9, 15, 900e6, time.UTC),
		},
		{
			name: "local time read as UTC, 8 hours ahead",
			data: `<14>1 2026-11-28T07:39:20Z host app - - - ahead`,
			want: map[string]string{"vigil.clock_skew": "+8h0m5s"},
			time: time.Date(2026, 11, 28, 7, 39, 20, 0, time.UTC),
		},
		{
			name: "a lead within max_clock_skew is no skew",
			data: `<14>1 2026-11-27T23:44:15Z host app - - - just in tolerance`,
			want: map[string]string{"vigil.clock_skew": ""},
			time: time.Date(2026, 11, 27, 23, 44, 15, 0, time.UTC),
		},
		{
			name: "an event behind its receive time is a delay, no skew",
			data: `<14>1 2026-11-27T15:39:15Z host app - - - old`,
			want: map[string]string{"vigil.clock_skew": ""},
		},
	}
	p := New(Options{Location: time.UTC})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := parseLine(t, p, tt.data, tt.flags)
			for name, want := range tt.want {
				got := row.Get(name)
				switch {
				case want == "" && got != "":
					t.Errorf("%s = %q, want it absent", name, got)
				case name == "vigil.parse_error" || name == "vigil.time_error":
					if !strings.Contains(got, want) {
						t.Errorf("%s = %q, want it to mention %q", name, got, want)
					}
				case want != "" && got != want:
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if !tt.time.IsZero() && !row.Time.Equal(tt.time) {
				t.Errorf("time %v, want %v", row.Time, tt.time)
			}
		})
	}
}

func TestInvalidUTF8KeptExactly(t *testing.T) {
	data := "<14>Nov 27 23:39:14 host nginx: {\"user\":\"caf\xe9\",\"statuscode\":200}"
	row := parseLine(t, New(Options{Location: time.UTC}), data, 0)
	if !strings.Contains(row.Get("vigil.parse_error"), "invalid UTF-8 at byte") {
		t.Fatalf("parse error %q", row.Get("vigil.parse_error"))
	}
	raw, err := base64.StdEncoding.DecodeString(row.Get("vigil.raw_base64"))
	if err != nil || string(raw) != data {
		t.Fatalf("raw_base64 does not hold the exact bytes: %q %v", raw, err)
	}
	if row.Get("user") != "caf\uFFFD" || row.Get("statuscode") != "200" {
		t.Fatalf("fields not parsed: user %q statuscode %q", row.Get("user"), row.Get("statuscode"))
	}
}

func TestMaxFields(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<14>Nov 27 23:39:14 host app: {`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('a'+i)) + `":"v"`)
	}
	b.WriteString(`}`)
	row := parseLine(t, New(Options{MaxFields: 5}), b.String(), 0)
	n := 0
	for _, f := range row.Fields {
		if strings.HasPrefix(f.Name, "k") {
			n++
		}
	}
	if n != 5 || !strings.Contains(row.Get("vigil.parse_error"), "more than 5 fields") {
		t.Fatalf("kept %d JSON fields, parse error %q", n, row.Get("vigil.parse_error"))
	}
}

func TestStringsSurviveBufferReuse(t *testing.T) {
	p := New(Options{})
	buf := []byte(`<14>Nov 27 23:39:14 host app: {"user":"alice"}`)
	rec := journal.Record{Time: received, Data: buf}
	var row store.Row
	p.Parse(&rec, &row)
	copy(buf, strings.Repeat("X", len(buf)))
	if row.Get("user") != "alice" || row.Get("host.hostname") != "host" {
		t.Fatalf("row refers to the input buffer: %+v", row.Fields)
	}
}

// TestReceivedAcrossResets: vigil.received follows each record's receive
// time, and a parser buffer reused for a later batch (whose old strings
// are overwritten) does not hand out a stale one.
func TestReceivedAcrossResets(t *testing.T) {
	p := New(Options{})
	p.Reset(0)
	parse := func(at time.Time) string {
		var row store.Row
		p.Parse(&journal.Record{Time: at, Data: []byte("<14>Nov 27 23:39:14 host app: hello")}, &row)
		return row.Get(FieldReceived)
	}
	t1, t2 := received, received.Add(1500*time.Millisecond)
	if a, b, c := parse(t1), parse(t1), parse(t2); a != "2026-11-27T23:39:15.000Z" || b != a || c != "2026-11-27T23:39:16.500Z" {
		t.Fatalf("received %q %q %q", a, b, c)
	}
	parse(t1)
	buf := p.Buffer()
	p.ResetWith(buf, 0)
	clear(buf[:cap(buf)]) // the earlier batch's strings are out of use
	if got := parse(t1); got != "2026-11-27T23:39:15.000Z" {
		t.Fatalf("after the buffer's reuse: received %q", got)
	}
}

// TestSourceSurvivesBufferReuse: the header's strings live in the parser's
// buffer, and the per-source state that outlives a batch keeps its own
// copies of the host and app names.
func TestSourceSurvivesBufferReuse(t *testing.T) {
	p := New(Options{})
	p.Reset(0)
	var row store.Row
	p.Parse(&journal.Record{Time: received, Input: "syslog", Data: []byte("<14>Nov 27 23:39:14 alpha nginx: hello")}, &row)
	if row.Get(FieldHostname) != "alpha" {
		t.Fatalf("host.hostname %q", row.Get(FieldHostname))
	}
	buf := p.Buffer()
	p.ResetWith(buf, 0)
	clear(buf[:cap(buf)]) // the earlier batch's strings are out of use
	p.Parse(&journal.Record{Time: received, Input: "syslog", Data: []byte("<14>Nov 27 23:39:14 bravo nginx: hello")}, &row)
	src := p.sources[sourceKey{"syslog", "alpha", "nginx"}]
	if src == nil || src.Host != "alpha" || src.App != "nginx" {
		t.Fatalf("source of alpha after the buffer's reuse: %+v", src)
	}
}

func TestKeepJSONText(t *testing.T) {
	const data = `<14>Nov 27 23:39:14 host nginx: {"request_uri":"/owa/","statuscode":200}`
	row := parseLine(t, New(Options{KeepJSONText: true}), data, 0)
	if row.Get("_msg") != `{"request_uri":"/owa/","statuscode":200}` || row.Get("http.response.status_code") != "200" {
		t.Fatalf("_msg %q status %q: want the JSON text and the fields", row.Get("_msg"), row.Get("http.response.status_code"))
	}
	row = parseLine(t, New(Options{KeepSourceKeys: true}), data, 0)
	if row.Get("statuscode") != "200" || row.Get("http.response.status_code") != "200" {
		t.Fatalf("KeepSourceKeys: statuscode %q, normalized %q: want both", row.Get("statuscode"), row.Get("http.response.status_code"))
	}
	buf := []byte(data)
	rec := journal.Record{Time: received, Data: buf}
	p := New(Options{KeepJSONText: true})
	p.Parse(&rec, &row)
	copy(buf, strings.Repeat("X", len(buf)))
	if !strings.Contains(row.Get("_msg"), "/owa/") {
		t.Fatalf("_msg refers to the input buffer: %q", row.Get("_msg"))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<190>Nov 27 23:39:14 vm nginx: {"ip":"1.2.3.4","statuscode":401}`,
		`<37>1 2026-11-27T23:39:24Z vm app - ID47 [a b="c"] {"x":{"y":[1,2]}}`,
		`{"a":`, "\xff\xfe{\"a\":\"\xff\"}", `<14>x: @cee: {"":""}`, "",
	} {
		f.Add([]byte(s), uint8(0), false)
	}
	f.Add([]byte("Nov 27 23:39:14 mx1 sshd[1]: Failed password for root"), uint8(0), true)
	// Input "file" is read as a log file's lines (lines without <PRI>).
	p := New(Options{MaxFields: 50, FileInputs: map[string]bool{"file": true}})
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, file bool) {
		rec := journal.Record{Seq: 1, Time: received, Data: data, Flags: flags}
		if file {
			rec.Input = "file"
		}
		var row store.Row
		p.Parse(&rec, &row)
		if row.Time.IsZero() {
			t.Fatal("zero event time")
		}
		for _, f := range row.Fields {
			if f.Name == "" {
				t.Fatalf("empty field name in %q", data)
			}
			if !utf8Valid(f.Name) || !utf8Valid(f.Value) {
				t.Fatalf("invalid UTF-8 in field %q=%q", f.Name, f.Value)
			}
		}
		if row.Get("vigil.seq") != "1" {
			t.Fatalf("vigil.seq missing or wrong for %q", data)
		}
		if a := row.Get(FieldPriorityAssumed); a != "" && (!file || a != "true" || row.Get(FieldPriority) != "13" || len(data) > 0 && data[0] == '<') {
			t.Fatalf("%s %q (priority %q) for %q", FieldPriorityAssumed, a, row.Get(FieldPriority), data)
		}
		p.Reset(0)
	})
}

func BenchmarkParseNginxJSON(b *testing.B) {
	data := []byte(`<190>Nov 27 23:39:14 vm nginx: {"source":"192.168.0.8", "ip":"10.1.2.3","user":"-","time_local":"27/Nov/2026:23:39:14 +0000","statuscode":401,"bytes_sent":153,"http_referer":"https://mail.corp.example/owa/","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","request_uri":"/owa/auth.owa","request_time":0.004,"gzip_ration":"-","query_string":"-"}`)
	benchParse(b, New(Options{Location: time.UTC}), "syslog", data)
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// TestLocationPerInput: each input reads offset-less times in its own zone
// (inputs.syslog[].timezone), in the header and in the payload.
func TestLocationPerInput(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	p := New(Options{Location: time.UTC, Locations: map[string]*time.Location{"east": shanghai}})
	received := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		input, line string
		want        time.Time
	}{
		{"east", "<134>Nov 28 10:00:00 host app: plain", time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)},
		{"west", "<134>Nov 28 10:00:00 host app: plain", time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
	}
	for i, tc := range tests {
		var row store.Row
		p.Parse(&journal.Record{Seq: uint64(i + 1), Time: received, Input: tc.input, Data: []byte(tc.line)}, &row)
		if !row.Time.Equal(tc.want) {
			t.Errorf("%s: %s, want %s", tc.input, row.Time.UTC(), tc.want)
		}
	}
}

// TestReserved: the JSON keys renamed with JSONConflictPrefix.
func TestReserved(t *testing.T) {
	for name, want := range map[string]bool{
		"": false, "_msg": true, "_x": true, "vigil.seq": true, "vigil.anything": true, "log.syslog.x": true,
		"host.hostname": true, "log.source.address": true, "source.ip": true, "user.name": true,
		"event.dataset": true, "user": false, "ip": false, "vigil": false, "log.level.x": false, "x.y": false,
		"hostname": false, "json.user": false,
	} {
		if got := reserved([]byte(name)); got != want {
			t.Errorf("reserved(%q) = %v, want %v", name, got, want)
		}
	}
}
