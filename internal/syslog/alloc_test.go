//go:build !race

package syslog

import (
	"testing"
	"time"
	"unsafe"
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

// TestAllocFunc: with Parser.Alloc, a message's strings are made in the
// memory it returns, and Parse allocates nothing.
func TestAllocFunc(t *testing.T) {
	var arena []byte
	p := &Parser{Location: time.UTC, Alloc: func(n int) []byte {
		arena = append(arena[:0], make([]byte, n)...)
		return arena
	}}
	arena = make([]byte, 0, 1024)
	in := []byte(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"lication"] msg`)
	var want, got Message
	(&Parser{Location: time.UTC}).Parse(in, recv, &want)
	p.Parse(in, recv, &got)
	if got.Hostname != want.Hostname || got.AppName != want.AppName || got.MsgID != want.MsgID ||
		len(got.StructuredData) != 1 || got.StructuredData[0].Params[1].Value != `App"lication` {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if !within(arena, got.Hostname) || !within(arena, got.StructuredData[0].Params[1].Value) {
		t.Fatalf("hostname not in the Alloc memory")
	}
	if n := testing.AllocsPerRun(100, func() { p.Parse(in, recv, &got) }); n > 0 {
		t.Errorf("%v allocations per Parse with Alloc, want 0", n)
	}
}

// within reports whether s lies in b's memory.
func within(b []byte, s string) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(cap(b))
}
