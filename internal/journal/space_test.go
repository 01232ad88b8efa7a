package journal

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/testfs"
)

// fakeDisk is a settable free-space count for Options.statfs.
type fakeDisk struct {
	free  atomic.Int64
	calls atomic.Int64
}

func (d *fakeDisk) statfs(string) (int64, error) {
	d.calls.Add(1)
	return d.free.Load(), nil
}

// logBuf collects log lines for checks.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many lines contain s.
func (b *logBuf) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

const (
	logFull = "journal: disk full, refusing appends"
	logBack = "journal: free disk space is back"
)

// TestMinFreeDisk checks the guard: below MinFreeDisk Append refuses with
// ErrFull without writing or using a seq, says so once in the log and in
// the metrics, checks statfs at a bounded rate, and accepts records again
// by itself when space returns.
func TestMinFreeDisk(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(100 << 20)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	var logs logBuf
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	j := openJ(t, dir, Options{MinFreeDisk: 10 << 20, statfs: disk.statfs, now: clock.Now, Logger: logs.logger(), Registerer: reg})
	want := appendN(t, j, "a", 10, 5, 100)

	disk.free.Store(5 << 20) // someone else filled the disk
	// The next statfs is due after spaceCheckEvery.
	clock.Set(clock.Now().Add(spaceCheckEvery))
	recs := mkRecs("b", 0, 3, 100)
	err := j.Append(recs)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append below MinFreeDisk: %v, want ErrFull", err)
	}
	if j.NextSeq() != 11 {
		t.Fatalf("NextSeq %d after a refused Append, want 11", j.NextSeq())
	}
	calls := disk.calls.Load()
	for range 100 {
		if err := j.Append(mkRecs("b", 0, 3, 100)); !errors.Is(err, ErrFull) {
			t.Fatalf("Append while full: %v", err)
		}
	}
	if n := disk.calls.Load() - calls; n != 0 {
		t.Errorf("%d statfs calls for 100 appends within %v, want 0", n, spaceRetryEvery)
	}
	if st := j.Stats(); !st.Full || st.FreeDiskBytes != 5<<20 {
		t.Errorf("Stats while full: Full %v FreeDiskBytes %d", st.Full, st.FreeDiskBytes)
	}
	if v, _ := metricValue(t, reg, "vigil_journal_full"); v != 1 {
		t.Errorf("vigil_journal_full = %v, want 1", v)
	}
	if v, _ := metricValue(t, reg, "vigil_journal_append_refused_total"); v != 101 {
		t.Errorf("vigil_journal_append_refused_total = %v, want 101", v)
	}

	// Still full at the next check; then space returns.
	clock.Set(clock.Now().Add(spaceRetryEvery))
	if err := j.Append(mkRecs("b", 0, 3, 100)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append while still full: %v", err)
	}
	disk.free.Store(50 << 20)
	if err := j.Append(mkRecs("b", 0, 3, 100)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append before the next check is due: %v", err)
	}
	clock.Set(clock.Now().Add(spaceRetryEvery))
	want = append(want, appendN(t, j, "c", 10, 5, 100)...)
	if st := j.Stats(); st.Full {
		t.Error("Stats says full after space returned")
	}
	if v, _ := metricValue(t, reg, "vigil_journal_full"); v != 0 {
		t.Errorf("vigil_journal_full = %v after space returned, want 0", v)
	}
	if n, m := logs.count(logFull), logs.count(logBack); n != 1 || m != 1 {
		t.Errorf("log has %d full and %d back lines, want one each:\n%s", n, m, logs.buf.String())
	}

	r, err := j.ReaderAt(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readN(t, r, len(want))
	for i := range want {
		want[i].Seq = uint64(i + 1)
	}
	sameRecords(t, got, want)
}

// TestMinFreeDiskByBytes checks that the guard counts what it writes
// between statfs calls: with time standing still it calls statfs only when
// a write may cross MinFreeDisk, and refuses that write.
func TestMinFreeDiskByBytes(t *testing.T) {
	dir := t.TempDir()
	const capacity, minFree = 1<<20 + 200_000, 1 << 20
	var calls atomic.Int64
	// A disk of capacity bytes that holds only the journal.
	statfs := func(string) (int64, error) {
		calls.Add(1)
		var used int64
		err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err == nil {
				used += fi.Size()
			}
			return err
		})
		return capacity - used, err
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	j := openJ(t, dir, Options{MinFreeDisk: minFree, statfs: statfs, now: clock.Now})
	var appends int
	for ; ; appends++ {
		err := j.Append(mkRecs("a", appends, 1, 1000))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if appends > 1000 {
			t.Fatal("never refused")
		}
	}
	free, _ := statfs(dir)
	if free < minFree || free > minFree+2100 {
		t.Errorf("refused with %d bytes free, want just above MinFreeDisk %d", free, minFree)
	}
	if n := calls.Load() - 1; n > 10 || appends < 150 {
		t.Errorf("%d statfs calls for %d appends", n, appends)
	}
}

// TestFullAtOpen: a journal opened on a disk below MinFreeDisk refuses
// appends from the start.
func TestFullAtOpen(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 20)
	j := openJ(t, t.TempDir(), Options{MinFreeDisk: 2 << 20, statfs: disk.statfs})
	if err := j.Append(mkRecs("a", 0, 1, 10)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append: %v, want ErrFull", err)
	}
}

// failingFiles injects errors into the active segment's writes.
type failingFiles struct {
	mu sync.Mutex
	// Errors returned by the next calls (nil: do the real call).
	write, truncate, sync []error
	// partial makes a failing WriteAt write this many bytes first.
	partial int
}

// fail queues errors for the next calls.
func (f *failingFiles) fail(write, truncate, sync []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write, f.truncate, f.sync = write, truncate, sync
}

func (f *failingFiles) next(q *[]error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(*q) == 0 {
		return nil
	}
	err := (*q)[0]
	*q = (*q)[1:]
	return err
}

func (f *failingFiles) WriteAt(file *os.File, b []byte, off int64) (int, error) {
	if err := f.next(&f.write); err != nil {
		n, _ := file.WriteAt(b[:min(f.partial, len(b))], off)
		return n, err
	}
	return file.WriteAt(b, off)
}

func (f *failingFiles) Truncate(file *os.File, size int64) error {
	if err := f.next(&f.truncate); err != nil {
		return err
	}
	return file.Truncate(size)
}

func (f *failingFiles) Sync(file *os.File) error {
	if err := f.next(&f.sync); err != nil {
		return err
	}
	return file.Sync()
}

// reopenAll closes j, reopens dir and returns every record in it.
func reopenAll(t *testing.T, j *Journal, dir string, n int) []Record {
	t.Helper()
	j.Close()
	j2 := openJ(t, dir, Options{})
	if next := j2.NextSeq(); next != uint64(n+1) {
		t.Fatalf("reopened journal: NextSeq %d, want %d", next, n+1)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptDir)); err == nil {
		t.Error("reopening cut a corrupt tail: the failed write was not cut back")
	}
	r, err := j2.ReaderAt(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return readN(t, r, n)
}

// TestWriteFailure covers the write error path: a failed (partial) write
// is cut back to the last record and returned to the appenders; the
// journal stays usable, with no gap in the seqs. ENOSPC is ErrFull.
func TestWriteFailure(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantFull bool
	}{
		{"EIO", syscall.EIO, false},
		{"ENOSPC", syscall.ENOSPC, true},
		{"EDQUOT", syscall.EDQUOT, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := &failingFiles{partial: 30}
			disk := &fakeDisk{}
			disk.free.Store(100 << 20)
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			var logs logBuf
			j, err := Open(dir, Options{files: files, statfs: disk.statfs, now: clock.Now, Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			want := appendN(t, j, "a", 5, 5, 100)
			files.fail([]error{&os.PathError{Op: "write", Path: "seg", Err: tt.err}}, nil, nil)
			err = j.Append(mkRecs("b", 0, 3, 100))
			if err == nil || !errors.Is(err, tt.err) || errors.Is(err, ErrFull) != tt.wantFull {
				t.Fatalf("Append with a failing write: %v; want %v, ErrFull %v", err, tt.err, tt.wantFull)
			}
			if j.NextSeq() != 6 {
				t.Fatalf("NextSeq %d after a failed write, want 6", j.NextSeq())
			}
			if tt.wantFull {
				if !j.Stats().Full || logs.count(logFull) != 1 {
					t.Fatalf("after ENOSPC: Stats.Full %v, log:\n%s", j.Stats().Full, logs.buf.String())
				}
				if err := j.Append(mkRecs("b", 0, 1, 100)); !errors.Is(err, ErrFull) {
					t.Fatalf("Append right after ENOSPC: %v, want ErrFull", err)
				}
				clock.Set(clock.Now().Add(spaceRetryEvery))
			}
			want = append(want, appendN(t, j, "c", 5, 5, 100)...)
			if tt.wantFull && logs.count(logBack) != 1 {
				t.Errorf("no log line says the journal accepts appends again:\n%s", logs.buf.String())
			}
			for i := range want {
				want[i].Seq = uint64(i + 1)
			}
			sameRecords(t, reopenAll(t, j, dir, len(want)), want)
		})
	}
}

// TestWriteAndTruncateFailure: when the failed write cannot be cut back,
// the journal stops appending for good (the file may hold a torn record)
// and says why; what was appended before stays readable after a restart.
func TestWriteAndTruncateFailure(t *testing.T) {
	dir := t.TempDir()
	files := &failingFiles{partial: 30}
	j, err := Open(dir, Options{files: files})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, j, "a", 5, 5, 100)
	files.fail([]error{syscall.EIO}, []error{syscall.EROFS}, nil)
	if err := j.Append(mkRecs("b", 0, 3, 100)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append: %v, want EIO", err)
	}
	err = j.Append(mkRecs("b", 0, 1, 100))
	if !errors.Is(err, syscall.EROFS) || errors.Is(err, ErrFull) {
		t.Fatalf("Append after a failed truncate: %v, want the sticky truncate error", err)
	}
	if err := j.Close(); err == nil {
		t.Error("Close of a broken journal returned nil")
	}
	// Open cuts the torn bytes of the failed write.
	j2 := openJ(t, dir, Options{})
	r, err := j2.ReaderAt(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sameRecords(t, readN(t, r, 5), want)
	if j2.NextSeq() <= 5 {
		t.Fatalf("NextSeq %d after reopening, want a number after the 5 records", j2.NextSeq())
	}
}

// TestFsyncFailure covers the fsync error path under each policy that
// fsyncs on its own: after a failed fsync the kernel may have dropped the
// written pages, so the journal cannot tell what is on disk and stops
// appending until it is reopened; readers still see what was written.
func TestFsyncFailure(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			files := &failingFiles{}
			j, err := Open(dir, Options{files: files, Fsync: policy, FsyncInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			want := appendN(t, j, "a", 5, 5, 100)
			files.fail(nil, nil, []error{syscall.EIO})
			recs := mkRecs("b", 0, 2, 100)
			err = j.Append(recs)
			if policy == FsyncAlways {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Append with a failing fsync: %v, want EIO", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				if err := j.Sync(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("Sync with a failing fsync: %v, want EIO", err)
				}
			}
			// The records were written before the fsync failed.
			want = append(want, recs...)
			if err := j.Append(mkRecs("c", 0, 1, 100)); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrFull) {
				t.Fatalf("Append after a failed fsync: %v, want the sticky EIO", err)
			}
			r, err := j.ReaderAt(1)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, readN(t, r, len(want)), want)
			r.Close()
			if err := j.Close(); !errors.Is(err, syscall.EIO) {
				t.Errorf("Close: %v, want EIO", err)
			}
			sameRecords(t, reopenAll(t, j, dir, len(want)), want)
		})
	}
}

// TestRealDiskFull fills a small tmpfs with the journal itself: with the
// guard off the write that meets ENOSPC is refused with ErrFull and cut
// back, and with the guard on the journal stops before the disk is full.
// Either way appends resume once space is freed, and nothing is lost.
func TestRealDiskFull(t *testing.T) {
	for _, guard := range []int64{0, 256 << 10} {
		t.Run(map[bool]string{true: "guard", false: "no guard"}[guard > 0], func(t *testing.T) {
			mnt := testfs.Mount(t, 4<<20)
			dir := filepath.Join(mnt, "journal")
			filler := filepath.Join(mnt, "filler")
			if err := os.WriteFile(filler, make([]byte, 2<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs logBuf
			j, err := Open(dir, Options{MinFreeDisk: guard, Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			var want []Record
			var full error
			for i := 0; full == nil; i++ {
				recs := mkRecs("a", i*10, 10, 1000)
				switch err := j.Append(recs); {
				case err == nil:
					want = append(want, recs...)
				case errors.Is(err, ErrFull):
					full = err
				default:
					t.Fatalf("Append after %d records: %v", len(want), err)
				}
				if i > 1000 {
					t.Fatal("a 4 MiB file system never filled up")
				}
			}
			free, err := testfs.Free(mnt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("full after %d records, %d bytes free: %v", len(want), free, full)
			if guard > 0 && (errors.Is(full, syscall.ENOSPC) || free < guard/2) {
				t.Errorf("with min_free_disk %d the journal met ENOSPC or left only %d bytes free: %v", guard, free, full)
			}
			if guard == 0 && !errors.Is(full, syscall.ENOSPC) {
				t.Errorf("refusal without a guard is not ENOSPC: %v", full)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			var more []Record
			waitFor(t, "appends to resume", func() bool {
				recs := mkRecs("b", len(more), 1, 1000)
				err := j.Append(recs)
				if err == nil {
					more = append(more, recs...)
				} else if !errors.Is(err, ErrFull) {
					t.Fatalf("Append after freeing space: %v", err)
				}
				return len(more) >= 100
			})
			want = append(want, more...)
			if logs.count(logFull) != 1 || logs.count(logBack) != 1 {
				t.Errorf("want one full and one back log line:\n%s", logs.buf.String())
			}
			for i := range want {
				want[i].Seq = uint64(i + 1)
			}
			sameRecords(t, reopenAll(t, j, dir, len(want)), want)
		})
	}
}

// blockingFiles holds the first write until release is closed.
type blockingFiles struct {
	osFiles
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (f *blockingFiles) WriteAt(file *os.File, b []byte, off int64) (int, error) {
	f.once.Do(func() {
		close(f.started)
		<-f.release
	})
	return file.WriteAt(b, off)
}

// TestPendingBound: while the leader writes, appenders of long records
// wait instead of encoding more than maxPending bytes for the next write.
func TestPendingBound(t *testing.T) {
	files := &blockingFiles{started: make(chan struct{}), release: make(chan struct{})}
	j := openJ(t, t.TempDir(), Options{files: files})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(files.release) }) }) // before Close
	const size = 4 << 20
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := j.Append(mkRecs("first", 0, 1, 100)); err != nil {
			t.Error(err)
		}
	})
	<-files.started
	for i := range 10 {
		wg.Go(func() {
			if err := j.Append(mkRecs("long", i, 1, size)); err != nil {
				t.Error(err)
			}
		})
	}
	pending := func() (int, int) {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.pendRecs, len(j.pend)
	}
	waitFor(t, "appenders to encode", func() bool { n, _ := pending(); return n >= 3 })
	for range 100 { // a while for the others to pile up, if they could
		if n, b := pending(); b > 16<<20 {
			t.Fatalf("%d records, %d bytes pending, more than 16 MiB", n, b)
		}
		time.Sleep(time.Millisecond)
	}
	release.Do(func() { close(files.release) })
	wg.Wait()
	if j.NextSeq() != 12 {
		t.Fatalf("NextSeq %d, want 12", j.NextSeq())
	}
}
