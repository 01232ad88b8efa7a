//go:build !race

package syslog

import (
	"testing"
	"time"
)

func TestAllocs(t *testing.T) {
	p := &Parser{Location: time.UTC, FileLines: true}
	tests := []struct {
		name string
		in   string
		max  float64
	}{
		{benchInputs[0].name, benchInputs[0].in, 1},
		{benchInputs[1].name, benchInputs[1].in, 1},
		{benchInputs[2].name + " (offset not in Location)", benchInputs[2].in, 2},
		{"escaped SD value", `<13>1 - h a - - [x@1 q="say \"hi\""] m`, 1},
		{benchInputs[3].name, benchInputs[3].in, 1},
		{benchInputs[4].name, benchInputs[4].in, 1},
		{benchInputs[5].name + " (FileLines)", benchInputs[5].in, 1},
		{"plain text", `plain text`, 0},
		{"PRI only", `<13>hello`, 0},
	}
	for _, tt := range tests {
		in := []byte(tt.in)
		var m Message
		p.Parse(in, recv, &m) // grow m's slices first
		if n := testing.AllocsPerRun(100, func() { p.Parse(in, recv, &m) }); n > tt.max {
			t.Errorf("%s: %v allocations per Parse, want <= %v", tt.name, n, tt.max)
		}
	}
}
