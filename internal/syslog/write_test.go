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

func TestCheckSender(t *testing.T) {
	if errs := CheckSender("", "", ""); errs != nil {
		t.Fatalf("defaults: %v", errs)
	}
	if errs := CheckSender("tls", "rfc3164", "newline"); errs != nil {
		t.Fatalf("valid options: %v", errs)
	}
	errs := CheckSender("sctp", "cef", "lf")
	want := []string{`transport "sctp": want udp, tcp or tls`, `format "cef": want rfc5424 or rfc3164`, `framing "lf": want octet_counting or newline`}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, errs[i], want[i])
		}
	}
}
