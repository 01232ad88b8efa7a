// Package formattest holds helpers for testing and benchmarking formats.
// It imports only package format, so a format package's own tests can use
// it (parsetest imports package parse, which imports every format).
package formattest

import (
	"bufio"
	"errors"
	"os"
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Bench measures f's Detect and Parse of msg alone, copying into an arena
// the way package parse does. Any header lines must have been given to f
// (through src) before.
func Bench(b *testing.B, f format.Text, src *format.Source, msg []byte) {
	var a format.Arena // package parse's event memory
	ev := &format.Event{Copy: a.Copy}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ev.Fields = ev.Fields[:0]
		if !f.Detect(msg, src) {
			b.Fatal("not detected")
		}
		if err := f.Parse(msg, src, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// ReadLines returns the lines of a file (each at most 1 MiB), or skips the
// test when the file is absent and optional is set (for samples outside
// the repository).
func ReadLines(tb testing.TB, path string, optional bool) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			tb.Skipf("%s not present", path)
		}
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}
