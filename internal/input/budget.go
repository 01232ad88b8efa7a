package input

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// errEvicted ends a connection that was closed to free buffer memory.
	errEvicted = errors.New("closed to free buffer memory for other connections")
	// errStopping ends a connection that waited for memory when the input stopped.
	errStopping = errors.New("input stopping")
)

// bufBudget bounds the memory one input's TCP and TLS connections hold in
// their framers' buffers beyond the first minFramerBuf bytes each: mostly
// the partial frames of long messages, which a sender can leave
// unfinished. A connection whose frame does not fit its buffer waits for
// memory without reading (its sender blocks: TCP flow control). So that
// connections waiting for each other cannot stall for ever, a connection
// that waited longer than wait closes the connection that holds the most
// memory among the others that made no progress for as long; what that one
// had read is kept as a truncated frame. Connections waiting for room in
// the journal are never closed for memory.
//
// A buffer may grow without need (to read more per call) only while less
// than half of the budget is used, so that frames always find room.
type bufBudget struct {
	limit int64
	wait  time.Duration
	bytes prometheus.Gauge   // vigil_input_buffer_bytes
	waits prometheus.Counter // vigil_input_buffer_waits_total

	mu       sync.Mutex
	used     int64
	evicting int64 // held by evicted connections that did not release yet
	holders  map[*bufHolder]struct{}
	wake     chan struct{} // closed and replaced when memory is released
}

func newBufBudget(limit int64, wait time.Duration, m *metrics, input string) *bufBudget {
	return &bufBudget{limit: limit, wait: wait,
		bytes: m.bufBytes.WithLabelValues(input), waits: m.bufWaits.WithLabelValues(input),
		holders: make(map[*bufHolder]struct{}), wake: make(chan struct{})}
}

// bufHolder is one connection's account with a bufBudget. Its methods are
// called from the connection's goroutine; another connection's may evict
// it (bufBudget.evictLocked).
type bufHolder struct {
	b     *bufBudget
	done  <-chan struct{} // the input stops
	close func()          // closes the connection; called once on eviction
	tm    *transportMetrics

	held    int64         // guarded by b.mu
	evicted bool          // guarded by b.mu
	gone    chan struct{} // closed on eviction
	active  atomic.Int64  // Unix ns of the last progress
	waiting atomic.Bool   // waiting for the journal: not stalled
}

// holder opens an account for a connection; close closes the connection.
func (b *bufBudget) holder(done <-chan struct{}, close func(), tm *transportMetrics) *bufHolder {
	h := &bufHolder{b: b, done: done, close: close, tm: tm, gone: make(chan struct{})}
	h.touch()
	b.mu.Lock()
	b.holders[h] = struct{}{}
	b.mu.Unlock()
	return h
}

// touch records that the connection made progress (read bytes).
func (h *bufHolder) touch() { h.active.Store(time.Now().UnixNano()) }

// journalWait marks the connection as waiting for the journal (on) or done
// waiting: that is not its sender's fault, so it is never evicted meanwhile.
func (h *bufHolder) journalWait(on bool) {
	h.waiting.Store(on)
	h.touch()
}

// grow asks for n more bytes. Without need it answers at once; with need
// (the buffer is full with one incomplete frame) it waits until the bytes
// are free, and returns errEvicted if the connection was closed meanwhile,
// errStopping if the input stops.
func (h *bufHolder) grow(n int, need bool) (bool, error) {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if h.evicted {
		return false, errEvicted
	}
	if !need {
		if b.used+int64(n) > b.limit/2 {
			return false, nil
		}
		b.take(h, int64(n))
		return true, nil
	}
	var start time.Time
	for {
		if h.evicted {
			return false, errEvicted
		}
		if b.used+int64(n) <= b.limit {
			b.take(h, int64(n))
			return true, nil
		}
		now := time.Now()
		if start.IsZero() {
			start = now
			b.waits.Inc()
		} else if now.Sub(start) >= b.wait && b.used-b.evicting+int64(n) > b.limit {
			if v := b.stalledLocked(now, h); v != nil {
				b.evictLocked(v)
				continue
			}
		}
		wake := b.wake
		b.mu.Unlock()
		t := time.NewTimer(b.wait / 4)
		select {
		case <-wake:
		case <-h.gone:
		case <-h.done:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
		select {
		case <-h.done:
			return false, errStopping
		default:
		}
	}
}

// take charges n bytes to h; b.mu is held.
func (b *bufBudget) take(h *bufHolder, n int64) {
	h.held += n
	b.used += n
	b.bytes.Add(float64(n))
}

// shrink gives back n bytes.
func (h *bufHolder) shrink(n int) {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.giveLocked(h, int64(n))
}

// release gives back everything and closes the account.
func (h *bufHolder) release() {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.giveLocked(h, h.held)
	delete(b.holders, h)
}

// giveLocked returns n of h's bytes and wakes the waiters; b.mu is held.
func (b *bufBudget) giveLocked(h *bufHolder, n int64) {
	if n == 0 {
		return
	}
	h.held -= n
	b.used -= n
	if h.evicted {
		b.evicting -= n
	}
	b.bytes.Sub(float64(n))
	close(b.wake)
	b.wake = make(chan struct{})
}

// stalledLocked returns the holder with the most memory among those other
// than self that made no progress for b.wait (and do not wait for the
// journal), or nil; b.mu is held.
func (b *bufBudget) stalledLocked(now time.Time, self *bufHolder) *bufHolder {
	var victim *bufHolder
	for h := range b.holders {
		if h == self || h.evicted || h.held == 0 || h.waiting.Load() || now.Sub(time.Unix(0, h.active.Load())) < b.wait {
			continue
		}
		if victim == nil || h.held > victim.held {
			victim = h
		}
	}
	return victim
}

// evictLocked closes v's connection; b.mu is held.
func (b *bufBudget) evictLocked(v *bufHolder) {
	v.evicted = true
	b.evicting += v.held
	close(v.gone)
	v.tm.closedMemory.Inc()
	v.close()
}
