package iis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// seed adds every line of the fixtures (and of the samples, when present)
// to the corpus.
func seed(f *testing.F, globs ...string) {
	for _, g := range globs {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b) // the whole file: header changes included
			for _, l := range bytes.Split(b, []byte("\n")) {
				f.Add(l)
			}
		}
	}
}

// fuzzText feeds data, line by line, to t through one source and checks
// that nothing panics and every event is well formed.
func fuzzText(t *testing.T, f format.Text, data []byte) {
	src := &format.Source{Location: time.UTC}
	for _, l := range bytes.Split(data, []byte("\n")) {
		f.Detect(l, src)
		var ev format.Event
		err := f.Parse(l, src, &ev)
		if err != nil {
			if !errors.Is(err, format.ErrSkip) && err.Error() == "" {
				t.Fatalf("empty error for %q", l)
			}
			continue
		}
		for _, fl := range ev.Fields {
			if fl.Name == "" || fl.Value == "" || fl.Value == "-" {
				t.Fatalf("bad field %q=%q for %q", fl.Name, fl.Value, l)
			}
			if utf8.Valid(l) && !utf8.ValidString(fl.Value) {
				t.Fatalf("field %s has invalid UTF-8 %q from valid input %q", fl.Name, fl.Value, l)
			}
		}
	}
}

func FuzzText(f *testing.F) {
	seed(f, "testdata/*.log", filepath.Join(formattest.SamplesDir(), "iis", "*.log"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, Text(), data) })
}

func FuzzHTTPProxy(f *testing.F) {
	seed(f, "testdata/httpproxy*.log", filepath.Join(formattest.SamplesDir(), "exchange", "test-httpproxy.log"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzText(t, HTTPProxy(), data) })
}

func FuzzSplitCSV(f *testing.F) {
	for _, s := range []string{"", "a,b", `"a,b",c`, `"a""b"`, `"open`, `"a"b`, `x,"",""""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		fields, _, err := splitCSV(nil, data, nil)
		if !bytes.Equal(orig, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			return
		}
		// Re-quoting every field must give back a line that splits the
		// same way.
		var b []byte
		for i, f := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, bytes.ReplaceAll(f, []byte(`"`), []byte(`""`))...)
			b = append(b, '"')
		}
		again, _, err := splitCSV(nil, b, nil)
		if err != nil || len(again) != len(fields) {
			t.Fatalf("round trip of %q: %q, %v", data, again, err)
		}
		for i := range fields {
			if !bytes.Equal(again[i], fields[i]) {
				t.Fatalf("round trip of %q: field %d %q != %q", data, i, again[i], fields[i])
			}
		}
	})
}
