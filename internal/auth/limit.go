package auth

import (
	"sync"
	"time"
)

// Limiter counts failures per key (a client address, a user name) in a
// fixed window and refuses a key that reached its limit until the window
// ends. It holds at most maxKeys keys: beyond, keys whose window ended are
// forgotten, and a new key is not tracked while every slot is in use (so
// memory stays bounded at the price of letting such a key through).
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start time.Time
	fails int
}

const maxKeys = 100000

// NewLimiter returns a limiter allowing limit failures per window; now is
// its clock (nil: time.Now).
func NewLimiter(limit int, per time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, window: per, now: now, keys: map[string]*window{}}
}

// Blocked reports whether key reached its limit, and for how long it stays
// blocked.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w == nil {
		return false, 0
	}
	left := l.window - l.now().Sub(w.start)
	if left <= 0 {
		delete(l.keys, key)
		return false, 0
	}
	return w.fails >= l.limit, left
}

// Fail counts a failure of key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.keys[key]
	if w == nil || now.Sub(w.start) >= l.window {
		if w == nil && len(l.keys) >= maxKeys {
			l.forgetEnded(now)
			if len(l.keys) >= maxKeys {
				return
			}
		}
		w = &window{start: now}
		l.keys[key] = w
	}
	w.fails++
}

// Reset forgets key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

func (l *Limiter) forgetEnded(now time.Time) {
	for k, w := range l.keys {
		if now.Sub(w.start) >= l.window {
			delete(l.keys, k)
		}
	}
}
