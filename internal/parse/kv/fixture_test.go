package kv_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/kv"
	"github.com/vigil-soc/vigil/internal/store"
)

// received is the receive time of every fixture line.
var received = time.Date(2026, 11, 27, 23, 40, 0, 0, time.UTC)

// fixture is one case of a testdata/*.txt file:
//
//	=== name
//	<the line as received>
//	field: value      the field's (first) value must be exactly value
//	~field: text      the field's value must contain text
//	-field            the field must be absent
//	@time: RFC 3339   the event time
//
// Lines starting with "#" are comments. vigil.parse_error must be absent
// unless a case names it.
type fixture struct {
	name, line string
	want       []expect
	time       time.Time
}

type expect struct {
	op          byte // '=', '~', '-'
	field, text string
}

func readFixtures(t *testing.T, path string) []fixture {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		s := sc.Text()
		switch {
		case strings.HasPrefix(s, "=== "):
			if !sc.Scan() {
				t.Fatalf("%s:%d: case without a line", path, n)
			}
			n++
			out = append(out, fixture{name: s[4:], line: sc.Text()})
			continue
		case strings.TrimSpace(s) == "", strings.HasPrefix(s, "#"):
			continue
		case len(out) == 0:
			t.Fatalf("%s:%d: expectation before the first case", path, n)
		}
		c := &out[len(out)-1]
		switch {
		case s[0] == '-':
			c.want = append(c.want, expect{op: '-', field: s[1:]})
		case strings.HasPrefix(s, "@time: "):
			tm, err := time.Parse(time.RFC3339Nano, s[7:])
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			c.time = tm
		default:
			op := byte('=')
			if s[0] == '~' {
				op, s = '~', s[1:]
			}
			field, text, ok := strings.Cut(s, ": ")
			if !ok {
				t.Fatalf("%s:%d: want `field: value`, got %q", path, n, s)
			}
			c.want = append(c.want, expect{op: op, field: field, text: text})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// newParser builds the parser the way the server does, with this package's
// formats only.
func newParser() *parse.Parser {
	return parse.New(parse.Options{
		Location: time.UTC,
		Texts:    []format.Text{kv.Text()},
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example", "corp.example": "corp.example"}},
	})
}

func parseLine(p *parse.Parser, line string) store.Row {
	rec := journal.Record{Seq: 7, Time: received, Input: "syslog", Peer: "192.0.2.10:514", Data: []byte(line)}
	var row store.Row
	p.Parse(&rec, &row)
	return row
}

// normalized are names a format must set at most once.
var normalized = []string{
	format.FieldDataset, format.FieldSourceIP, format.FieldSourcePort, format.FieldUserName, format.FieldUserDomain,
	format.FieldUserOriginal, format.FieldMethod, format.FieldStatus, format.FieldURLPath, format.FieldURLQuery,
	format.FieldOutcome, format.FieldCategory, format.FieldBytes, format.FieldDuration, format.FieldReferrer,
	format.FieldDestIP, format.FieldDestPort, format.FieldAction,
}

func runFixtures(t *testing.T, path string) {
	cases := readFixtures(t, path)
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	p := newParser()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := parseLine(p, c.line)
			checkRow(t, &row, c)
		})
	}
}

func checkRow(t *testing.T, row *store.Row, c fixture) {
	t.Helper()
	errNamed := false
	for _, w := range c.want {
		got := row.Get(w.field)
		errNamed = errNamed || w.field == parse.FieldParseError
		switch w.op {
		case '-':
			if has(row, w.field) {
				t.Errorf("%s = %q, want it absent", w.field, got)
			}
		case '~':
			if !strings.Contains(got, w.text) {
				t.Errorf("%s = %q, want it to contain %q", w.field, got, w.text)
			}
		default:
			if got != w.text {
				t.Errorf("%s = %q, want %q", w.field, got, w.text)
			}
		}
	}
	if e := row.Get(parse.FieldParseError); !errNamed && e != "" {
		t.Errorf("unexpected %s %q", parse.FieldParseError, e)
	}
	if !c.time.IsZero() && !row.Time.Equal(c.time) {
		t.Errorf("time %v, want %v", row.Time.UTC(), c.time)
	}
	for _, name := range normalized {
		n := 0
		for _, f := range row.Fields {
			if f.Name == name {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s set %d times", name, n)
		}
	}
	if t.Failed() {
		for _, f := range row.Fields {
			t.Logf("  %s = %q", f.Name, f.Value)
		}
	}
}

func has(row *store.Row, name string) bool {
	for _, f := range row.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}
