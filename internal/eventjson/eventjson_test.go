package eventjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"plain", "quote\"back\\slash", "\x00\x1f\u2028", "\xff\xfe invalid", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", b, s, err)
		}
		var want strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte
			want.WriteRune(r)
		}
		if got != want.String() {
			t.Fatalf("round trip %q -> %q, want %q", s, got, want.String())
		}
	})
}
