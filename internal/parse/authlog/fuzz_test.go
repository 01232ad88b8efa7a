package authlog_test

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/authlog"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
	"github.com/vigil-soc/vigil/internal/store"
)

// FuzzText feeds arbitrary messages to the format under each kind of tag,
// directly and through package parse.
func FuzzText(f *testing.F) {
	for _, line := range fixtureLines(f, "testdata/authlog.txt") {
		if i := strings.Index(line, ": "); i >= 0 && strings.HasPrefix(line, "<") {
			f.Add("sshd", []byte(line[i+2:]))
		} else {
			f.Add("", []byte(line))
		}
	}
	f.Add("sshd(pam_unix)", []byte("authentication failure; rhost=::ffff:1.2.3.4 user="))
	f.Add("", []byte("message repeated 2 times: [ ]"))
	f.Add("sshd", []byte("Disconnecting  port 1: x"))
	tf := authlog.Text()
	p := newParser()
	users := &format.Users{}
	f.Fuzz(func(t *testing.T, app string, msg []byte) {
		src := &format.Source{App: app, Users: users}
		detected := tf.Detect(msg, src)
		ev := format.Event{}
		err := tf.Parse(msg, src, &ev)
		if detected && err == nil && ev.Get(format.FieldDataset) == "" {
			t.Fatalf("no event.dataset for %q", msg)
		}
		check(t, msg, ev.Fields)
		rec := journal.Record{Seq: 1, Time: parsetest.Received, Input: "fuzz", Data: msg}
		var row store.Row
		p.Parse(&rec, &row)
		check(t, msg, row.Fields)
	})
}

// fixtureLines returns the input lines of a fixture file.
func fixtureLines(tb testing.TB, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "=== ") && i+1 < len(lines) {
			out = append(out, lines[i+1])
		}
	}
	return out
}

func check(t *testing.T, msg []byte, fields []store.Field) {
	t.Helper()
	for _, fl := range fields {
		if fl.Name == "" || fl.Value == "" && fl.Name != "_msg" {
			t.Fatalf("empty field %q=%q from %q", fl.Name, fl.Value, msg)
		}
		if utf8.Valid(msg) && !utf8.ValidString(fl.Value) {
			t.Fatalf("%s has invalid UTF-8 from valid input %q", fl.Name, msg)
		}
		switch fl.Name {
		case format.FieldOutcome:
			switch fl.Value {
			case format.OutcomeSuccess, format.OutcomeFailure, format.OutcomeUnknown:
			default:
				t.Fatalf("event.outcome %q", fl.Value)
			}
		case format.FieldSourcePort:
			if len(fl.Value) > 5 {
				t.Fatalf("source.port %q", fl.Value)
			}
		}
	}
}
