package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is wrapped by Append's error when the journal refuses records for
// lack of disk space: the free space of the journal's file system is below
// Options.MinFreeDisk, or a write failed with ENOSPC or EDQUOT (the partial
// write is cut off, so the journal stays intact). Nothing of the refused
// call was appended. The condition is temporary: Append accepts records
// again as soon as space returns, without a restart. An input that can push
// back (TCP, TLS, Kafka) should stop reading and retry the same records
// with a backoff; one that cannot (UDP) counts what it drops.
var ErrFull = errors.New("journal: disk full")

// Free-space checks: statfs runs before a write when the last check is
// spaceCheckEvery old, when spaceCheckBytes were written since, or when the
// write would cross MinFreeDisk by the last check's count. While full, an
// Append checks again at most every spaceRetryEvery (others fail at once).
const (
	spaceCheckEvery = time.Second
	spaceCheckBytes = 1 << 20
	spaceRetryEvery = 100 * time.Millisecond
)

// fileOps does the active segment's writes. Tests replace it to make
// writes, truncations or fsyncs fail.
type fileOps interface {
	WriteAt(f *os.File, b []byte, off int64) (int, error)
	Truncate(f *os.File, size int64) error
	Sync(f *os.File) error
}

// osFiles is the real fileOps.
type osFiles struct{}

func (osFiles) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
func (osFiles) Truncate(f *os.File, size int64) error                { return f.Truncate(size) }
func (osFiles) Sync(f *os.File) error                                { return f.Sync() }

// spaceGuard refuses appends while the journal's file system has less than
// min bytes free. Only the leader calls reserve; any appender calls admit.
type spaceGuard struct {
	dir    string
	min    int64
	statfs func(dir string) (int64, error) // nil: no checks (unsupported OS)
	now    func() time.Time
	log    *slog.Logger

	full atomic.Bool // refusing appends

	mu      sync.Mutex
	checked time.Time // last statfs
	free    int64     // its result; -1 before the first or after an error
	written int64     // bytes written since
	need    int64     // size of the write that was refused
	since   time.Time // when the journal became full
	refused uint64    // refused appends since then
	errLog  bool      // a statfs error was logged
}

func newSpaceGuard(dir string, o Options) *spaceGuard {
	g := &spaceGuard{dir: dir, min: o.MinFreeDisk, statfs: o.statfs, now: o.now, log: o.Logger, free: -1}
	if g.statfs == nil {
		if g.min > 0 {
			g.log.Warn("journal: free disk space cannot be checked on this system; min_free_disk is ignored")
		}
		return g
	}
	now := g.now()
	g.check(now)
	if g.min > 0 && g.free >= 0 && g.free < g.min {
		g.stop(now, 0, "below min_free_disk", nil)
	}
	return g
}

// admit returns an error wrapping ErrFull while the journal is full. It
// checks the free space again at most every spaceRetryEvery and clears the
// condition once there is room for the write that was refused (at least
// spaceCheckBytes) above the minimum.
func (g *spaceGuard) admit() error {
	if !g.full.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.full.Load() {
		return nil
	}
	now := g.now()
	if now.Sub(g.checked) >= spaceRetryEvery || now.Before(g.checked) {
		g.check(now)
		room := g.free >= g.min+max(g.need, spaceCheckBytes)
		if g.free < 0 {
			// Unknown (no statfs): try a write again now and then.
			room = now.Sub(g.since) >= spaceCheckEvery
		}
		if room {
			g.resume(now)
			return nil
		}
	}
	g.refused++
	return g.errLocked()
}

// reserve is called by the leader before it writes n bytes. It returns an
// error wrapping ErrFull, and marks the journal full, when the write would
// leave less than the minimum free.
func (g *spaceGuard) reserve(n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.statfs == nil || g.min <= 0 {
		return nil
	}
	now := g.now()
	g.written += int64(n)
	due := g.free < 0 || g.written >= spaceCheckBytes || now.Sub(g.checked) >= spaceCheckEvery ||
		now.Before(g.checked) || g.free-g.written < g.min
	if due {
		g.check(now)
		g.written = int64(n)
	}
	if g.free >= 0 && g.free-g.written < g.min {
		g.written -= int64(n)
		g.stop(now, int64(n), "below min_free_disk", nil)
		return g.errLocked()
	}
	return nil
}

// noSpace marks the journal full after a write of n bytes failed with err
// (ENOSPC or EDQUOT) and returns the error to report.
func (g *spaceGuard) noSpace(n int, err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.check(now)
	g.written = 0
	g.stop(now, int64(n), "write failed", err)
	return fmt.Errorf("%w: %w", ErrFull, err)
}

// check runs statfs; g.mu is held.
func (g *spaceGuard) check(now time.Time) {
	g.checked = now
	if g.statfs == nil {
		g.free = -1
		return
	}
	free, err := g.statfs(g.dir)
	if err != nil {
		if !g.errLog {
			g.log.Error("journal: cannot read free disk space; not enforcing min_free_disk", "dir", g.dir, "err", err)
			g.errLog = true
		}
		g.free = -1
		return
	}
	g.errLog = false
	g.free = free
}

// stop marks the journal full and logs it once; g.mu is held.
func (g *spaceGuard) stop(now time.Time, need int64, reason string, err error) {
	g.need = need
	if g.full.Load() {
		return
	}
	g.full.Store(true)
	g.since, g.refused = now, 0
	args := []any{"dir", g.dir, "reason", reason, "free_bytes", g.free, "min_free_disk", g.min}
	if err != nil {
		args = append(args, "err", err)
	}
	g.log.Warn("journal: disk full, refusing appends until free space returns", args...)
}

// resume clears the full condition and logs it once; g.mu is held.
func (g *spaceGuard) resume(now time.Time) {
	g.full.Store(false)
	g.written = 0
	g.log.Info("journal: free disk space is back, accepting appends again",
		"dir", g.dir, "free_bytes", g.free, "min_free_disk", g.min,
		"full_for", now.Sub(g.since).Round(time.Millisecond), "refused_appends", g.refused)
}

// errLocked returns the error of a refused append; g.mu is held.
func (g *spaceGuard) errLocked() error {
	if g.free < 0 {
		return fmt.Errorf("%w: no space left in %s", ErrFull, g.dir)
	}
	return fmt.Errorf("%w: %d bytes free in %s, min_free_disk is %d", ErrFull, g.free, g.dir, g.min)
}

// state returns whether the journal is full and the free space last seen
// (-1 when unknown).
func (g *spaceGuard) state() (full bool, free int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.full.Load(), g.free
}
