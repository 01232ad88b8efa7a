package iis

import (
	"strings"
	"testing"
)

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: []string{""}},
		{in: "a", want: []string{"a"}},
		{in: "a,b,,c,", want: []string{"a", "b", "", "c", ""}},
		{in: `"a,b",c`, want: []string{"a,b", "c"}},
		{in: `"say ""hi""",x`, want: []string{`say "hi"`, "x"}},
		{in: `"",""""`, want: []string{"", `"`}},
		{in: `x,"a""b""c,d"`, want: []string{"x", `a"b"c,d`}},
		{in: `a"b,c`, want: []string{`a"b`, "c"}}, // a quote inside an unquoted field is kept
		{in: `"open`, err: "not closed"},
		{in: `"a"b`, err: "after a closing quote"},
		{in: `"a""`, err: "not closed"},
	}
	for _, tt := range tests {
		got, _, err := splitCSV(nil, []byte(tt.in), nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("splitCSV(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("splitCSV(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, f := range got {
			s = append(s, string(f))
		}
		if strings.Join(s, "|") != strings.Join(tt.want, "|") || len(s) != len(tt.want) {
			t.Errorf("splitCSV(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestSplitCSVKeepsEarlierFields(t *testing.T) {
	// Unescaped fields live in buf; growing buf must not change fields
	// handed out before.
	in := []byte(strings.Repeat(`"a""b",`, 50) + "end")
	got, _, err := splitCSV(nil, in, make([]byte, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range got[:50] {
		if string(f) != `a"b` {
			t.Fatalf("field %d = %q", i, f)
		}
	}
	if string(in[:7]) != `"a""b",` {
		t.Fatal("input modified")
	}
}
