package geoip

import (
	"strings"
	"testing"
)

// TestProvinceBorders: the table names the 31 provinces, each border in
// both directions.
func TestProvinceBorders(t *testing.T) {
	if len(provinceBorders) != len(provinces) {
		t.Fatalf("%d provinces in the table, want %d", len(provinceBorders), len(provinces))
	}
	for _, p := range provinces {
		ns, ok := provinceBorders[p]
		if !ok {
			t.Errorf("%s is missing", p)
		}
		for _, n := range strings.Fields(ns) {
			if _, ok := provinceBorders[n]; !ok {
				t.Errorf("%s: neighbour %s is no province", p, n)
			}
			if !Adjacent(n, p) {
				t.Errorf("%s borders %s but not the other way", p, n)
			}
		}
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"广东", "广西", true},
		{"广东省", "广西壮族自治区", true},
		{"北京市", "河北", true},
		{"广东", "广东", false},
		{"广东", "北京", false},
		{"海南", "广东", false},
		{"新疆", "西藏", true},
		{"", "", false},
		{"Guangdong", "Guangxi", false},
	}
	for _, tt := range tests {
		if got := Adjacent(tt.a, tt.b); got != tt.want {
			t.Errorf("Adjacent(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
