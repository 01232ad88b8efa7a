package format

import (
	"strings"
	"testing"
)

// TestNormalizedNames checks what IsNormalized relies on: every normalized
// name has a dot after its first byte.
func TestNormalizedNames(t *testing.T) {
	for name := range normalized {
		if strings.IndexByte(name, '.') <= 0 {
			t.Errorf("normalized name %q has no dot after its first byte: IsNormalized would miss it", name)
		}
		if !IsNormalized(name) {
			t.Errorf("IsNormalized(%q) = false", name)
		}
	}
	for _, name := range []string{"", "ip", "user", "status", ".ip", "source.ipx", "json.user.name"} {
		if IsNormalized(name) {
			t.Errorf("IsNormalized(%q) = true", name)
		}
	}
}
