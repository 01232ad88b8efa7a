package store

import (
	"testing"
	"time"
)

// TestPersisted: a position is due only Delay after it was handed over,
// the newest due one wins, and each is due once.
func TestPersisted(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	p := Persisted{Delay: 30 * time.Second}
	p.Handed(10, t0)
	p.Handed(20, t0.Add(10*time.Second))
	p.Handed(30, t0.Add(40*time.Second))
	steps := []struct {
		at   time.Duration
		pos  uint64
		want bool
	}{
		{29 * time.Second, 0, false},
		{30 * time.Second, 10, true},
		{30 * time.Second, 0, false},
		{time.Minute, 20, true},
		{2 * time.Minute, 30, true},
		{3 * time.Minute, 0, false},
	}
	for _, s := range steps {
		pos, ok := p.Due(t0.Add(s.at))
		if pos != s.pos || ok != s.want {
			t.Fatalf("at +%s: Due = %d %v, want %d %v", s.at, pos, ok, s.pos, s.want)
		}
	}
	p.Handed(40, t0)
	p.Reset()
	if _, ok := p.Due(t0.Add(time.Hour)); ok {
		t.Fatal("a position is due after Reset")
	}
}
