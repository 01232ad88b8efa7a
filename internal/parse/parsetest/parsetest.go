// Package parsetest runs table tests of log formats from fixture files:
// each case is a line as received plus the fields the event must (or must
// not) have, so a new case is a few lines of text, not code.
package parsetest

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
)

// Received is the receive time of every fixture line.
var Received = time.Date(2026, 11, 27, 23, 40, 0, 0, time.UTC)

// Fixture is one case of a testdata/*.txt file:
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
type Fixture struct {
	name, line string
	want       []expect
	time       time.Time
}

type expect struct {
	op          byte // '=', '~', '-'
	field, text string
}

// ReadFixtures reads the cases of a fixture file.
func ReadFixtures(t testing.TB, path string) []Fixture {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Fixture
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
			out = append(out, Fixture{name: s[4:], line: sc.Text()})
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

// ParseLine parses one line as a syslog input receives it.
func ParseLine(p *parse.Parser, line string) store.Row {
	rec := journal.Record{Seq: 7, Time: Received, Input: "syslog", Peer: "192.0.2.10:514", Data: []byte(line)}
	var row store.Row
	p.Parse(&rec, &row)
	return row
}

// RunFixtures runs every case of a fixture file through p. Each name in
// once may be set at most once per event.
func RunFixtures(t *testing.T, path string, p *parse.Parser, once []string) {
	cases := ReadFixtures(t, path)
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := ParseLine(p, c.line)
			checkRow(t, &row, c, once)
		})
	}
}

func checkRow(t *testing.T, row *store.Row, c Fixture, once []string) {
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
	for _, name := range once {
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
