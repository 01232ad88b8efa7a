package windows_test

import (
	"testing"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/windows"
	"github.com/vigil-soc/vigil/internal/store"
)

// benchParse measures package parse on one record, header to row.
func benchParse(b *testing.B, data string) {
	p := newParser()
	rec := journal.Record{Seq: 1, Time: received, Input: "windows", Data: []byte(data)}
	var row store.Row
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Parse(&rec, &row)
		if i%256 == 0 {
			p.Reset(0) // a batch of rows, as the pipeline does
		}
	}
	if get(row, "event.code") == "" || get(row, "vigil.parse_error") != "" {
		b.Fatalf("not parsed: %v", row.Fields)
	}
}

// BenchmarkParseJSON4625 is the whole path of an nxlog JSON 4625 in a
// syslog message: header, JSON flattening, mapping.
func BenchmarkParseJSON4625(b *testing.B) {
	benchParse(b, "<14>Nov 28 09:00:00 exch01 nxlog: "+fixture(b, "json/4625_bad_password.json"))
}

// BenchmarkParseSnare4625 is the whole path of a Snare 4625 line.
func BenchmarkParseSnare4625(b *testing.B) {
	benchParse(b, "<14>Nov 28 09:00:00 exch01 "+fixture(b, "snare/4625_bad_password.txt"))
}

// BenchmarkMapJSON4625 is the JSON format alone: Match and Map on the
// fields package parse flattened.
func BenchmarkMapJSON4625(b *testing.B) {
	raw := parse.New(parse.Options{JSONs: []format.JSON{}, Texts: []format.Text{}})
	var row store.Row
	raw.Parse(&journal.Record{Time: received, Data: []byte(fixture(b, "json/4625_bad_password.json"))}, &row)
	fields := append([]store.Field(nil), row.Fields...)
	j := windows.JSON()
	src := &format.Source{Location: received.Location()}
	ev := format.Event{Fields: make([]store.Field, 0, len(fields)+32)}
	b.ReportAllocs()
	for b.Loop() {
		ev.Fields = append(ev.Fields[:0], fields...)
		if !j.Match(&ev) {
			b.Fatal("no match")
		}
		if err := j.Map(&ev, src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnare4625 is the Snare format alone: Detect and Parse.
func BenchmarkSnare4625(b *testing.B) {
	line := []byte(fixture(b, "snare/4625_bad_password.txt"))
	s := windows.Snare()
	src := &format.Source{Location: received.Location()}
	// Without Copy the line is copied with string(); in package parse it
	// goes to the parser's arena (no allocation).
	ev := format.Event{Fields: make([]store.Field, 0, 32)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		ev.Fields = ev.Fields[:0]
		if !s.Detect(line, src) {
			b.Fatal("not detected")
		}
		if err := s.Parse(line, src, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
