package store

import (
	"context"
	"time"
)

// AddRetrying adds rows to st, retrying a failure (a read-only store, a
// full disk) after 0.1 s, doubling up to 10 s, until ctx is done; failed
// is told of each failure and the wait before the next try. The caller's
// journal keeps the rows meanwhile.
func AddRetrying(ctx context.Context, st Store, rows []Row, failed func(err error, retryIn time.Duration)) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := st.Add(rows)
		if err == nil {
			return nil
		}
		failed(err, delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Persisted tells when rows handed to a store are on its disk for sure:
// a store keeps what Add took in memory for about a second before it
// writes it, so a consumer of a journal moves its cursor past rows only
// Delay after it handed them over (long after that write), and a crash
// can only make it read rows again, never skip them.
type Persisted struct {
	// Delay is how long after Add rows count as persisted.
	Delay time.Duration
	marks []mark
}

type mark struct {
	pos uint64
	at  time.Time
}

// Handed records that everything before journal position pos was handed
// to the store at time at.
func (p *Persisted) Handed(pos uint64, at time.Time) {
	p.marks = append(p.marks, mark{pos: pos, at: at})
}

// Due returns the newest position handed over at least Delay before now,
// and forgets the positions up to it; ok is false when there is none.
func (p *Persisted) Due(now time.Time) (pos uint64, ok bool) {
	i := 0
	for i < len(p.marks) && now.Sub(p.marks[i].at) >= p.Delay {
		i++
	}
	if i == 0 {
		return 0, false
	}
	pos = p.marks[i-1].pos
	p.marks = append(p.marks[:0], p.marks[i:]...)
	return pos, true
}

// Reset forgets every position: the store was closed (flushed), so all
// were persisted.
func (p *Persisted) Reset() { p.marks = p.marks[:0] }
