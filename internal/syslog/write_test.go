package syslog

import "testing"

func TestAppendParamValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{`a]b`, `a\]b`},
		{"[x]", `[x\]`},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	}
	for _, tc := range tests {
		if got := string(AppendParamValue(nil, tc.in)); got != tc.want {
			t.Errorf("AppendParamValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
