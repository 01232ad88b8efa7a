package units

import (
	"testing"
	"time"
)

func TestUnits(t *testing.T) {
	sizes := map[string]ByteSize{"512": 512, "64KiB": 64 << 10, "1.5GiB": 3 << 29, "10MB": 10e6, "2G": 2 << 30}
	for in, want := range sizes {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	durs := map[string]time.Duration{"90s": 90 * time.Second, "30d": 720 * time.Hour, "2w": 336 * time.Hour, "1h30m": 90 * time.Minute, "0": 0}
	for in, want := range durs {
		if got, err := ParseDuration(in); err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1d", "x", ""} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String = %s", s)
	}
}

func FuzzParseUnits(f *testing.F) {
	for _, s := range []string{"64MiB", "1.5GiB", "30d", "2w", "90s", "-1", "1e400KiB", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := ParseByteSize(s); err == nil && b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, negative", s, b)
		}
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %d, negative", s, d)
		}
	})
}
