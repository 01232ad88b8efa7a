package parse_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
	"github.com/vigil-soc/vigil/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden parse output in testdata/golden")

// goldenVariants are the inputs of TestParseGolden, in testdata/golden,
// and the parser options each is parsed with. The inputs:
//
//   - loadgen.log: vigil-loadgen's nginx JSON access logs, the ingest
//     benchmark's input (`vigil-loadgen -gen 200 -attack 10 -seed 17
//     -start 2026-11-27T22:30:00Z -o loadgen.log`);
//   - mixed.log: the line of every case of the parsers' testdata/*.txt
//     fixtures, the Windows and Exchange JSON fixtures and the Exchange and
//     IIS log fixtures, behind a syslog header.
//
// Options that change only what a JSON payload gives are checked on the
// lines of mixed.log that have one.
var goldenVariants = []struct {
	name, input string
	jsonOnly    bool
	opts        func(*parse.Options)
}{
	{"default", "loadgen.log", false, func(*parse.Options) {}},
	{"default", "mixed.log", false, func(*parse.Options) {}},
	{"keep", "mixed.log", true, func(o *parse.Options) { o.KeepSourceKeys, o.KeepJSONText = true, true }},
}

// goldenOptions are the parser's options as the server builds them for
// one syslog input in UTC with a user domain mapping.
func goldenOptions() parse.Options {
	return parse.Options{
		Location: time.UTC,
		Formats:  map[string]string{"syslog": ""},
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example", "corp.example": "corp.example"}},
	}
}

// readLines reads the lines of a testdata/golden input.
func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// goldenRecord returns the journal record of an input's i-th line: one
// syslog input, its receive time moving on every 50 lines.
func goldenRecord(i int, line []byte) journal.Record {
	return journal.Record{
		Seq:   uint64(i + 1),
		Time:  parsetest.Received.Add(time.Duration(i/50) * time.Second),
		Input: "syslog",
		Peer:  "127.0.0.1:40000",
		Data:  line,
	}
}

// TestParseGolden parses every line of the golden inputs and compares each
// event, its time and every field in order, with the output recorded in
// testdata/golden/*.golden (go test -run TestParseGolden -update rewrites
// them). It keeps optimisations of the parser honest: any change of a
// field, its value or its place fails here.
func TestParseGolden(t *testing.T) {
	for _, v := range goldenVariants {
		t.Run(v.input+"/"+v.name, func(t *testing.T) {
			lines := readLines(t, v.input)
			if v.jsonOnly {
				lines = slices.DeleteFunc(lines, func(l []byte) bool { return !bytes.Contains(l, []byte(`{"`)) })
			}
			opts := goldenOptions()
			v.opts(&opts)
			got := formatGolden(parse.New(opts), lines)
			path := filepath.Join("testdata", "golden", strings.TrimSuffix(v.input, ".log")+"."+v.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, got, want)
		})
	}
}

// formatGolden parses lines with p, as the indexer does (one row reused,
// the parser's buffer reused every 32 lines), and prints the events.
func formatGolden(p *parse.Parser, lines [][]byte) []byte {
	var out bytes.Buffer
	var row store.Row
	for i, line := range lines {
		if i%32 == 0 {
			p.ResetWith(p.Buffer(), 64<<10)
		}
		rec := goldenRecord(i, line)
		p.Parse(&rec, &row)
		fmt.Fprintf(&out, "=== %d\n@time %s\n", i+1, row.Time.UTC().Format(time.RFC3339Nano))
		for _, f := range row.Fields {
			fmt.Fprintf(&out, "%s %q\n", f.Name, f.Value)
		}
	}
	return out.Bytes()
}

// compareGolden reports the first events that differ.
func compareGolden(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := splitEvents(got), splitEvents(want)
	if len(g) != len(w) {
		t.Errorf("%d events, want %d", len(g), len(w))
	}
	bad := 0
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Errorf("event %d differs:\ngot:\n%s\nwant:\n%s", i+1, g[i], w[i])
			if bad++; bad == 3 {
				t.Fatal("more differences left out")
			}
		}
	}
}

func splitEvents(b []byte) []string {
	var events []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "=== ") && cur.Len() > 0 {
			events = append(events, cur.String())
			cur.Reset()
		}
		cur.WriteString(sc.Text())
		cur.WriteByte('\n')
	}
	if cur.Len() > 0 {
		events = append(events, cur.String())
	}
	return events
}

// BenchmarkParseIngest parses the lines of testdata/golden/loadgen.log (the
// ingest benchmark's nginx JSON behind a syslog header) the way the
// indexer does; one op is one line.
func BenchmarkParseIngest(b *testing.B) {
	lines := readLines(b, "loadgen.log")
	recs := make([]journal.Record, len(lines))
	size := 0
	for i, line := range lines {
		recs[i] = goldenRecord(i, line)
		size += len(line)
	}
	// The indexer's parser as vigil serve builds it with the default
	// configuration (no user domain mapping; cmd/vigil/serve.go), as the
	// ingest benchmark runs it.
	p := parse.New(parse.Options{
		Location:       time.UTC,
		Locations:      map[string]*time.Location{"syslog": time.UTC},
		Formats:        map[string]string{"syslog": ""},
		Users:          &format.Users{},
		JournalID:      0x5eed,
		OriginEventIDs: true,
	})
	var row store.Row
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(recs) == 0 {
			p.ResetWith(p.Buffer(), 2*size) // a batch, as index.(*Indexer).parse sizes it
		}
		p.Parse(&recs[i%len(recs)], &row)
	}
}
