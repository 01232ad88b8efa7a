package nginx_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
	"github.com/vigil-soc/vigil/internal/parse/nginx"
	"github.com/vigil-soc/vigil/internal/store"
)

func TestNames(t *testing.T) {
	if n := nginx.JSON().Name(); n != "nginx" {
		t.Errorf("JSON().Name() = %q", n)
	}
	if n := nginx.Combined().Name(); n != "nginx-combined" {
		t.Errorf("Combined().Name() = %q", n)
	}
}

// TestMatch checks Match on fields as package parse flattens them.
func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   bool
	}{
		{"original", map[string]string{"ip": "10.1.2.3", "statuscode": "401", "request_uri": "/owa/"}, true},
		{"standard", map[string]string{"remote_addr": "10.1.2.3", "status": "200", "request": "GET / HTTP/1.1"}, true},
		{"uri", map[string]string{"status": "200", "uri": "/"}, true},
		{"time_local instead of a request", map[string]string{"status": "400", "time_local": "27/Nov/2026:23:39:14 +0000"}, true},
		{"camelCase", map[string]string{"statusCode": "302", "requestUri": "/owa/auth.owa"}, true},
		{"nested", map[string]string{"response.status": "200", "request.uri": "/"}, true},
		{"status only", map[string]string{"status": "200", "ip": "10.0.0.1"}, false},
		{"request only", map[string]string{"request_uri": "/owa/"}, false},
		{"status not a number", map[string]string{"status": "ok", "path": "/"}, false},
		{"status out of range", map[string]string{"status": "42", "path": "/"}, false},
		{"NTSTATUS", map[string]string{"Status": "0xC000006D", "path": "/"}, false},
		{"parser's own fields", map[string]string{"vigil.status": "200", "log.syslog.request": "x"}, false},
		{"empty", nil, false},
	}
	j := nginx.JSON()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := format.Event{}
			for k, v := range tt.fields {
				ev.Fields = append(ev.Fields, store.Field{Name: k, Value: v})
			}
			if got := j.Match(&ev); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMapWithoutCopy runs Map on an Event built by hand (Copy nil).
func TestMapWithoutCopy(t *testing.T) {
	ev := format.Event{Fields: []store.Field{
		{Name: "remote_addr", Value: "198.51.100.4"},
		{Name: "status", Value: "401"},
		{Name: "request", Value: "POST /EWS/Exchange.asmx HTTP/1.1"},
		{Name: "time_local", Value: "27/Nov/2026:23:39:14 -0130"},
	}}
	if err := nginx.JSON().Map(&ev, &format.Source{}); err != nil {
		t.Fatal(err)
	}
	if got := ev.Get(format.FieldOutcome); got != format.OutcomeFailure {
		t.Errorf("outcome %q", got)
	}
	if want := time.Date(2026, 11, 28, 1, 9, 14, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time %v, want %v", ev.Time, want)
	}
}

// TestDetect checks Combined's Detect on message texts (after the syslog
// header).
func TestDetect(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{`10.1.2.3 - zhangwei [27/Nov/2026:23:39:14 +0000] "POST /owa/auth.owa HTTP/1.1" 302 153 "-" "-"`, true},
		{`::1 - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`10.1.2.3 - a [b [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`10.1.2.3 - - [27/Nov/2026:23:39:14 +0000] GET / 200 1`, false},
		{`10.1.2.3 - - [27/Nov/2026:23:39:14] "GET / HTTP/1.1" 200 1`, false},
		{`host.example - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true}, // HostnameLookups On
		{`mail.corp.example:443 10.1.2.3 - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`mail.corp.example 10.1.2.3 - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`203.0.113.5, 10.0.0.1 10.0.0.2 - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`- 10.0.0.2 - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, true},
		{`some words here - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, false},
		{`-host - - [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, false},
		{`10.1.2.3 [27/Nov/2026:23:39:14 +0000] "GET / HTTP/1.1" 200 1`, false},
		{`user=alice src=10.0.0.1`, false},
		{``, false},
		{`1.2 `, false},
	}
	c := nginx.Combined()
	for _, tt := range tests {
		if got := c.Detect([]byte(tt.msg), nil); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

// TestSamplesNotClaimed reads the real third-party samples of the other
// formats (IIS, Exchange, Windows) when they are present: none may be taken
// for an nginx access log.
func TestSamplesNotClaimed(t *testing.T) {
	dir := formattest.Samples(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) == 0 {
		t.Fatalf("no sample files in %s", dir)
	}
	p := newParser()
	c := nginx.Combined()
	n := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			n++
			if c.Detect([]byte(line), nil) {
				t.Errorf("%s: Combined detects %.80q", name, line)
			}
			row := parseLine(p, "<14>Nov 27 23:39:14 h app: "+line)
			if row.Get(format.FieldDataset) != "" {
				t.Errorf("%s: %.80q mapped as %s", name, line, row.Get(format.FieldDataset))
			}
		}
		f.Close()
	}
	t.Logf("%d sample lines checked", n)
}

// fixtureLines returns the lines of a fixture file's cases.
func fixtureLines(tb testing.TB, path string) []string {
	f, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(f), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "=== ") && i+1 < len(lines) {
			out = append(out, lines[i+1])
		}
	}
	return out
}

// message returns what follows an RFC 3164 header "... tag: ".
func message(line string) string {
	if i := strings.Index(line, ": "); i >= 0 {
		return line[i+2:]
	}
	return line
}

func FuzzCombined(f *testing.F) {
	for _, l := range fixtureLines(f, "testdata/combined.txt") {
		f.Add([]byte(message(l)))
	}
	f.Add([]byte(`1.1 - - [01/Jan/2000:00:00:00 +0000] "`))
	f.Add([]byte(`1.1 - \x [01/Jan/2000:00:00:00 +0000] "\x" 200 1 "\" "\x4" "\\" 1.000 rt=`))
	c := nginx.Combined()
	users := &format.Users{Domains: map[string]string{"CORP": "corp.example"}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		src := &format.Source{Users: users, Location: time.UTC}
		detected := c.Detect(msg, src)
		ev := format.Event{}
		err := c.Parse(msg, src, &ev)
		if detected && err == nil && ev.Get(format.FieldDataset) != "nginx.access" {
			t.Fatalf("no event.dataset for %q", msg)
		}
		checkFields(t, msg, ev.Fields)
	})
}

func FuzzJSON(f *testing.F) {
	for _, l := range fixtureLines(f, "testdata/json.txt") {
		f.Add([]byte(l))
	}
	p := newParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := journal.Record{Seq: 1, Time: received, Data: data}
		var row store.Row
		p.Parse(&rec, &row)
		checkFields(t, data, row.Fields)
		p.Reset(0)
	})
}

// FuzzJSONFields fuzzes the values Map reads, past what JSON parsing lets
// through.
func FuzzJSONFields(f *testing.F) {
	f.Add("10.0.0.5", "1.2.3.4, 203.0.113.9", "CORP\\zhangwei", "27/Nov/2026:23:39:14 +0000",
		"POST /owa/auth.owa?x=1 HTTP/1.1", "/owa/auth.owa", "302", "0.004", "https://x/owa/auth/logon.aspx?reason=2", "mail:443")
	f.Add("", "", "", "1795822767.250", "", "http://", "200", ".", "", "[::1]:8")
	j := nginx.JSON()
	f.Fuzz(func(t *testing.T, peer, xff, user, tm, request, uri, status, rt, loc, host string) {
		ev := format.Event{Fields: []store.Field{
			{Name: "remote_addr", Value: peer}, {Name: "http_x_forwarded_for", Value: xff},
			{Name: "remote_user", Value: user}, {Name: "time_local", Value: tm},
			{Name: "request", Value: request}, {Name: "request_uri", Value: uri},
			{Name: "status", Value: status}, {Name: "request_time", Value: rt},
			{Name: "sent_http_location", Value: loc}, {Name: "host", Value: host},
		}}
		// MatchMap does what Match and then Map do.
		ev2 := format.Event{Fields: slices.Clone(ev.Fields)}
		matched, err2 := j.(format.MatchMapper).MatchMap(&ev2, &format.Source{})
		if j.Match(&ev) != matched {
			t.Fatalf("MatchMap matched %v, Match says otherwise", matched)
		}
		if !matched && !slices.Equal(ev.Fields, ev2.Fields) {
			t.Fatalf("MatchMap changed an event it did not match: %v", ev2.Fields)
		}
		err := j.Map(&ev, &format.Source{})
		if matched && (fmt.Sprint(err) != fmt.Sprint(err2) || !slices.Equal(ev.Fields, ev2.Fields)) {
			t.Fatalf("MatchMap gave %v %v, Map %v %v", err2, ev2.Fields, err, ev.Fields)
		}
		if err != nil {
			return // package parse drops what a failed Map did
		}
		// The mapped keys were replaced by normalized fields: none empty.
		for _, fl := range ev.Fields {
			if fl.Name == "" || fl.Value == "" {
				t.Fatalf("empty field %q=%q", fl.Name, fl.Value)
			}
		}
	})
}

// checkFields checks what every parse must give: named fields, and valid
// UTF-8 when the input was.
func checkFields(t *testing.T, in []byte, fields []store.Field) {
	t.Helper()
	valid := utf8.Valid(in)
	for _, fl := range fields {
		if fl.Name == "" {
			t.Fatalf("empty field name for %q", in)
		}
		if valid && (!utf8.ValidString(fl.Value) || !utf8.ValidString(fl.Name)) {
			t.Fatalf("invalid UTF-8 in %q=%q from valid input %q", fl.Name, fl.Value, in)
		}
	}
}

const benchJSON = `<190>Nov 27 23:39:14 vm nginx: {"source":"192.168.0.8", "ip":"10.1.2.3","user":"-","time_local":"27/Nov/2026:23:39:14 +0000","statuscode":401,"bytes_sent":153,"http_referer":"https://mail.corp.example/owa/","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","request_uri":"/owa/auth.owa","request_time":0.004,"gzip_ration":"-","query_string":"-"}`

const benchCombined = `<190>Nov 27 23:39:14 vm nginx: 10.0.0.5 - CORP\x5Czhangwei [27/Nov/2026:23:39:14 +0000] "POST /Microsoft-Server-ActiveSync?Cmd=Sync&User=zhangwei&DeviceId=ApplF17XK2ZJQ1&DeviceType=iPhone HTTP/1.1" 200 153 "-" "Apple-iPhone15C2/2104.92" "203.0.113.7" 0.004`

// benchParse measures package parse's whole path for one line, with and
// without this package's formats.
func benchParse(b *testing.B, line string) {
	for _, bc := range []struct {
		name  string
		texts []format.Text
		jsons []format.JSON
	}{
		{"without", []format.Text{}, []format.JSON{}},
		{"with", []format.Text{nginx.Combined()}, []format.JSON{nginx.JSON()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := parse.New(parse.Options{Location: time.UTC, Texts: bc.texts, JSONs: bc.jsons})
			rec := journal.Record{Seq: 1, Time: received, Input: "syslog", Data: []byte(line)}
			var row store.Row
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.Parse(&rec, &row)
				if i%1024 == 0 {
					p.Reset(0)
				}
			}
		})
	}
}

func BenchmarkParseJSON(b *testing.B)     { benchParse(b, benchJSON) }
func BenchmarkParseCombined(b *testing.B) { benchParse(b, benchCombined) }

// BenchmarkMap measures Match and Map alone on flattened fields.
func BenchmarkMap(b *testing.B) {
	p := parse.New(parse.Options{Location: time.UTC, Texts: []format.Text{}, JSONs: []format.JSON{}})
	rec := journal.Record{Seq: 1, Time: received, Data: []byte(benchJSON)}
	var row store.Row
	p.Parse(&rec, &row)
	base := row.Fields
	j := nginx.JSON()
	src := &format.Source{Location: time.UTC}
	ev := format.Event{Fields: make([]store.Field, 0, 2*len(base))}
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

// BenchmarkCombined measures Detect and Parse alone, copying into an arena
// like package parse does.
func BenchmarkCombined(b *testing.B) {
	formattest.Bench(b, nginx.Combined(), &format.Source{Location: time.UTC}, []byte(message(benchCombined)))
}

// BenchmarkMatch measures Match alone on a JSON payload that is not an
// access log (the cost every other JSON event pays).
func BenchmarkMatch(b *testing.B) {
	p := parse.New(parse.Options{Location: time.UTC, Texts: []format.Text{}, JSONs: []format.JSON{}})
	rec := journal.Record{Seq: 1, Time: received, Data: []byte(`<14>Nov 27 23:39:32 dc1 nxlog: {"EventTime":"2026-11-27T23:39:32Z","Hostname":"DC1","EventID":4625,"Status":"0xC000006D","SubStatus":"0xC000006A","TargetUserName":"zhangwei","TargetDomainName":"CORP","IpAddress":"203.0.113.7","IpPort":"51515","LogonType":"3","WorkstationName":"WS1","ProcessName":"-"}`)}
	var row store.Row
	p.Parse(&rec, &row)
	ev := format.Event{Fields: row.Fields}
	j := nginx.JSON()
	b.ReportAllocs()
	for b.Loop() {
		if j.Match(&ev) {
			b.Fatal("match")
		}
	}
}
