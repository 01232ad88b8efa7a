// Package formattest holds helpers for benchmarking formats. It imports
// only package format, so a format package's own tests can use it
// (parsetest imports package parse, which imports every format).
package formattest

import (
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
