package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRoundTripSegments(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		n, batch int
		size     int
	}{
		{"one segment", Options{}, 500, 64, 450},
		{"many segments", Options{SegmentSize: 4 << 10}, 2000, 7, 450},
		{"many segments compressed", Options{SegmentSize: 4 << 10, Compress: true}, 2000, 7, 450},
		{"fsync always", Options{SegmentSize: 16 << 10, Fsync: FsyncAlways}, 300, 3, 100},
		{"fsync never compressed", Options{SegmentSize: 8 << 10, Fsync: FsyncNever, Compress: true}, 1000, 50, 300},
		{"records larger than segments", Options{SegmentSize: 100}, 50, 1, 1000},
		{"large records", Options{SegmentSize: 1 << 20, Compress: true}, 20, 2, 300 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openJ(t, dir, tt.opts)
			want := appendN(t, j, "rt", tt.n, tt.batch, tt.size)
			for i, r := range want {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d got seq %d", i, r.Seq)
				}
			}
			if got := j.NextSeq(); got != uint64(tt.n+1) {
				t.Fatalf("NextSeq %d, want %d", got, tt.n+1)
			}
			if tt.opts.Compress {
				j.maintain()
				st := j.Stats()
				if st.CompressedSegments != st.Segments-1 {
					t.Fatalf("%d of %d segments compressed", st.CompressedSegments, st.Segments)
				}
			}
			r, err := j.ReaderAt(0)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, readN(t, r, tt.n), want)
			r.Close()

			// Reading from the middle.
			mid := uint64(tt.n / 3)
			r, _ = j.ReaderAt(mid)
			sameRecords(t, readN(t, r, tt.n-int(mid)+1), want[mid-1:])
			r.Close()

			// After reopening.
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j = openJ(t, dir, tt.opts)
			r, _ = j.ReaderAt(1)
			sameRecords(t, readN(t, r, tt.n), want)
			r.Close()
			if tt.opts.SegmentSize > 0 && tt.opts.SegmentSize < 8<<10 && j.Stats().Segments < 10 {
				t.Fatalf("only %d segments", j.Stats().Segments)
			}
		})
	}
}

func TestReopenContinuesSeq(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 2 << 10}
	var want []Record
	for round := 0; round < 4; round++ {
		j := openJ(t, dir, opts)
		if got := j.NextSeq(); got != uint64(len(want)+1) {
			t.Fatalf("round %d: NextSeq %d, want %d", round, got, len(want)+1)
		}
		recs := mkRecs(fmt.Sprint("round", round), 0, 30, 200)
		if err := j.Append(recs); err != nil {
			t.Fatal(err)
		}
		if recs[0].Seq != uint64(len(want)+1) {
			t.Fatalf("round %d: first seq %d", round, recs[0].Seq)
		}
		want = append(want, recs...)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	j := openJ(t, dir, opts)
	r, _ := j.ReaderAt(1)
	sameRecords(t, readN(t, r, len(want)), want)
	if st := j.Stats(); st.FirstSeq != 1 || st.NextSeq != uint64(len(want)+1) {
		t.Fatalf("stats %+v", st)
	}
}

func TestCursorResume(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	opts := Options{SegmentSize: 4 << 10, Registerer: reg}
	j := openJ(t, dir, opts)
	want := appendN(t, j, "cur", 300, 10, 100)

	r, err := j.OpenReader("indexer")
	if err != nil {
		t.Fatal(err)
	}
	if r.Position() != 1 || r.Committed() != 0 {
		t.Fatalf("new reader at %d, committed %d", r.Position(), r.Committed())
	}
	if _, err := j.OpenReader("indexer"); err == nil {
		t.Fatal("second reader with the same name opened")
	}
	sameRecords(t, readN(t, r, 123), want[:123])
	if err := r.Commit(r.Position()); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(j.NextSeq() + 1); err == nil {
		t.Fatal("commit beyond NextSeq accepted")
	}
	if got, ok := metricValue(t, reg, "vigil_journal_consumer_lag_records", "consumer", "indexer"); !ok || got != 300-123 {
		t.Fatalf("lag %v %v, want %d", got, ok, 300-123)
	}
	readN(t, r, 10) // read but not committed
	r.Close()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = openJ(t, dir, opts)
	if st := j.Stats(); st.Consumers["indexer"] != 124 {
		t.Fatalf("stats consumers %v", st.Consumers)
	}
	r, err = j.OpenReader("indexer")
	if err != nil {
		t.Fatal(err)
	}
	if r.Position() != 124 || r.Committed() != 124 {
		t.Fatalf("reopened reader at %d, committed %d, want 124", r.Position(), r.Committed())
	}
	sameRecords(t, readN(t, r, 300-123), want[123:])
	r.Close()

	// Other consumers are independent; a consumer without a cursor starts at FirstSeq.
	r2, err := j.OpenReader("kafka-out_2")
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, readN(t, r2, 1), want[:1])
	r2.Close()

	for _, bad := range []string{"", "Upper", "a/b", "a.b", "../x", strings.Repeat("a", 200)} {
		if _, err := j.OpenReader(bad); err == nil {
			t.Errorf("OpenReader(%q) accepted", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cursors", "indexer")); err != nil {
		t.Fatal(err)
	}
}

func TestCursorBeyondEnd(t *testing.T) {
	dir := t.TempDir()
	j := openJ(t, dir, Options{})
	appendN(t, j, "x", 5, 5, 10)
	j.Close()
	// A cursor committed before a crash that lost the unsynced tail.
	if err := os.WriteFile(filepath.Join(dir, "cursors", "c"), []byte("99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j = openJ(t, dir, Options{})
	r, err := j.OpenReader("c")
	if err != nil {
		t.Fatal(err)
	}
	if r.Position() != 6 {
		t.Fatalf("position %d, want 6", r.Position())
	}
	if err := os.WriteFile(filepath.Join(dir, "cursors", "bad"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := j.OpenReader("bad"); err == nil {
		t.Fatal("unreadable cursor accepted")
	}
}

func TestTornTail(t *testing.T) {
	validRecord := appendRecord(nil, &Record{Seq: 7, Time: time.Unix(1, 0), Data: []byte("wrong seq")})
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		good   uint64 // records intact after reopening; 20 were appended
	}{
		{"truncated mid-record", func(t *testing.T, path string, size int64) { truncate(t, path, size-10) }, 19},
		{"truncated in header", func(t *testing.T, path string, size int64) {
			truncate(t, path, size-int64(headerSize+bodyLen(&Record{Data: make([]byte, 100), Input: "syslog-torn", Peer: "10.0.0.1:514"}))+3)
		}, 19},
		{"garbage appended", func(t *testing.T, path string, size int64) { appendBytes(t, path, []byte("garbage\x00\xff")) }, 20},
		{"zeros appended", func(t *testing.T, path string, size int64) { appendBytes(t, path, make([]byte, 4096)) }, 20},
		{"record with wrong seq appended", func(t *testing.T, path string, size int64) { appendBytes(t, path, validRecord) }, 20},
		{"last record corrupted", func(t *testing.T, path string, size int64) { flipByte(t, path, size-3) }, 19},
		{"middle record corrupted", func(t *testing.T, path string, size int64) { flipByte(t, path, size/2) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			j := openJ(t, dir, Options{Registerer: reg})
			want := appendN(t, j, "torn", 20, 1, 100)
			j.Close()
			path := walPath(dir, 1)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, path, fi.Size())

			j = openJ(t, dir, Options{Registerer: reg})
			if got, _ := metricValue(t, reg, "vigil_journal_corrupt_tail_bytes_total"); got <= 0 {
				t.Fatalf("corrupt tail bytes %v", got)
			}
			saved, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*.tail"))
			if len(saved) != 1 {
				t.Fatalf("saved tails: %v", saved)
			}
			// Numbering never reuses a number handed out before the
			// damage: the cut records' numbers may be in the store.
			if next := j.NextSeq(); next != 21 {
				t.Fatalf("NextSeq %d, want 21 (20 numbers were handed out)", next)
			}
			// The records before the damage are intact, appending
			// continues, and a consumer reads across the gap without
			// counting a loss.
			more := mkRecs("after", 0, 5, 50)
			if err := j.Append(more); err != nil {
				t.Fatal(err)
			}
			if more[0].Seq != 21 {
				t.Fatalf("appended at %d, want 21", more[0].Seq)
			}
			r, err := j.OpenReader("c")
			if err != nil {
				t.Fatal(err)
			}
			good := tt.good
			if good == 0 {
				good = j.segs[len(j.segs)-2].next - 1
			}
			got := readN(t, r, int(good)+5)
			sameRecords(t, got[:good], want[:good])
			sameRecords(t, got[good:], more)
			r.Close()
			if lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "c"); lost != 0 {
				t.Fatalf("the skipped numbers counted as %v lost records", lost)
			}
			j.Close()
			j = openJ(t, dir, Options{})
			if j.NextSeq() != 26 {
				t.Fatalf("after second reopen NextSeq %d, want 26", j.NextSeq())
			}
		})
	}
}

// TestNumbersNeverReused checks where numbering continues after the
// stops a journal can see: it jumps past the reservation exactly when
// records may have been lost after their numbers were handed out.
func TestNumbersNeverReused(t *testing.T) {
	tests := []struct {
		name     string
		clean    bool
		boot     string // "" the current boot id
		cut      bool
		wantJump bool
	}{
		{"clean stop", true, "", false, false},
		{"process killed", false, "", false, false},
		{"process killed, torn tail", false, "", true, true},
		{"machine restarted after an unclean stop", false, "an-earlier-boot", false, true},
		{"machine restarted after a clean stop", true, "an-earlier-boot", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openJ(t, dir, Options{})
			appendN(t, j, "n", 10, 1, 100)
			id := j.ID()
			j.Close()
			// What the meta file holds after each kind of stop: an
			// unclean one leaves the reservation made at the last Open.
			m, ok, err := readMeta(dir)
			if err != nil || !ok {
				t.Fatalf("meta: %v %v", ok, err)
			}
			if !m.clean || m.reserved != 11 {
				t.Fatalf("after Close: clean %v reserved %d, want true 11", m.clean, m.reserved)
			}
			if !tt.clean {
				m.clean, m.reserved = false, 1+reserveBlock
			}
			if tt.boot != "" {
				m.boot = tt.boot
			}
			if err := writeMeta(dir, m); err != nil {
				t.Fatal(err)
			}
			if tt.cut {
				fi, _ := os.Stat(walPath(dir, 1))
				truncate(t, walPath(dir, 1), fi.Size()-5)
			}
			j = openJ(t, dir, Options{})
			defer j.Close()
			want := uint64(11)
			if tt.cut {
				want = 10
			}
			if tt.wantJump {
				want = m.reserved
			}
			if j.NextSeq() != want {
				t.Fatalf("NextSeq %d, want %d", j.NextSeq(), want)
			}
			if j.ID() != id {
				t.Fatalf("journal id changed from %x to %x", id, j.ID())
			}
			// Appends beyond the reservation reserve again first.
			appendN(t, j, "m", 3, 1, 10)
			m2, _, _ := readMeta(dir)
			if m2.reserved < j.NextSeq() || m2.clean {
				t.Fatalf("reservation %d (clean %v) below NextSeq %d", m2.reserved, m2.clean, j.NextSeq())
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x55
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppendRead(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"interval", Options{SegmentSize: 32 << 10, FsyncInterval: time.Millisecond}},
		{"always compressed", Options{SegmentSize: 32 << 10, Fsync: FsyncAlways, Compress: true}},
		{"never compressed", Options{SegmentSize: 16 << 10, Fsync: FsyncNever, Compress: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := openJ(t, t.TempDir(), tt.opts)
			const writers, appends = 6, 150
			counts := make([]int, writers) // records per writer
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for i := range appends {
						recs := mkRecs(fmt.Sprint("w", w), n, 1+(i*7+w)%13, 60+(i%5)*40)
						if err := j.Append(recs); err != nil {
							t.Errorf("Append: %v", err)
							return
						}
						for k := 1; k < len(recs); k++ {
							if recs[k].Seq != recs[k-1].Seq+1 {
								t.Errorf("seqs within one Append not consecutive: %d %d", recs[k-1].Seq, recs[k].Seq)
							}
						}
						n += len(recs)
					}
					counts[w] = n
				}()
			}
			total := 0
			for w := range writers {
				for i := range appends {
					total += 1 + (i*7+w)%13
				}
			}

			// Two readers concurrently with the writers.
			errc := make(chan error, 2)
			for range 2 {
				go func() {
					r, err := j.ReaderAt(1)
					if err != nil {
						errc <- err
						return
					}
					defer r.Close()
					ctx, cancel := context.WithTimeout(context.Background(), waitLong)
					defer cancel()
					next := make([]int, writers)
					seq := uint64(1)
					var buf []Record
					for int(seq) <= total {
						buf, err = r.Next(ctx, buf, 97)
						if err != nil {
							errc <- fmt.Errorf("Next at seq %d: %w", seq, err)
							return
						}
						for _, rec := range buf {
							if rec.Seq != seq {
								errc <- fmt.Errorf("got seq %d, want %d", rec.Seq, seq)
								return
							}
							seq++
							var w, i int
							if _, err := fmt.Sscanf(string(rec.Data), "w%d/%d|", &w, &i); err != nil || w < 0 || w >= writers {
								errc <- fmt.Errorf("seq %d: bad data %q", rec.Seq, rec.Data)
								return
							}
							if i != next[w] {
								errc <- fmt.Errorf("writer %d: record %d after %d", w, i, next[w]-1)
								return
							}
							next[w]++
						}
					}
					errc <- nil
				}()
			}
			wg.Wait()
			for range 2 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if got := j.NextSeq(); got != uint64(total+1) {
				t.Fatalf("NextSeq %d, want %d", got, total+1)
			}
		})
	}
}

func TestReaderWakes(t *testing.T) {
	tests := []struct {
		name    string
		wake    func(j *Journal, cancel context.CancelFunc)
		wantErr error
	}{
		{"append", func(j *Journal, _ context.CancelFunc) { j.Append(mkRecs("wake", 0, 1, 10)) }, nil},
		{"close", func(j *Journal, _ context.CancelFunc) { j.Close() }, ErrClosed},
		{"ctx cancel", func(_ *Journal, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := openJ(t, t.TempDir(), Options{SegmentSize: 1 << 10})
			appendN(t, j, "pre", 30, 3, 100) // several segments before
			r, _ := j.ReaderAt(1)
			readN(t, r, 30)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				recs []Record
				err  error
			}
			done := make(chan result, 1)
			go func() {
				recs, err := r.Next(ctx, nil, 10)
				done <- result{recs, err}
			}()
			waitFor(t, "the reader to block", j.readerWaiting)
			tt.wake(j, cancel)
			select {
			case res := <-done:
				if !errors.Is(res.err, tt.wantErr) && res.err != tt.wantErr {
					t.Fatalf("Next: %v, want %v", res.err, tt.wantErr)
				}
				if tt.wantErr == nil && (len(res.recs) != 1 || res.recs[0].Seq != 31) {
					t.Fatalf("Next returned %+v", res.recs)
				}
			case <-time.After(waitLong):
				t.Fatal("reader did not wake")
			}
		})
	}
}

func TestClosed(t *testing.T) {
	j := openJ(t, t.TempDir(), Options{})
	r, _ := j.ReaderAt(1)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := j.Append(mkRecs("x", 0, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := j.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
	if _, err := r.Next(context.Background(), nil, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := j.OpenReader("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("OpenReader after Close: %v", err)
	}
}

func TestAppendTooLarge(t *testing.T) {
	j := openJ(t, t.TempDir(), Options{})
	recs := []Record{{Data: []byte("ok")}, {Data: make([]byte, maxBodySize)}}
	if err := j.Append(recs); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append: %v", err)
	}
	if j.NextSeq() != 1 {
		t.Fatalf("NextSeq %d after a rejected Append", j.NextSeq())
	}
	if err := j.Append(nil); err != nil {
		t.Fatal(err)
	}
	// The zero Time is replaced by the receive time.
	recs = []Record{{Data: []byte("now")}}
	before := time.Now()
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	if recs[0].Seq != 1 || recs[0].Time.Before(before) {
		t.Fatalf("record %+v", recs[0])
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openJ(t, dir, Options{})
	if j, err := Open(dir, Options{}); err == nil {
		j.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if _, err := Open(t.TempDir(), Options{Fsync: "sometimes"}); err == nil {
		t.Fatal("unknown fsync policy accepted")
	}
}

func TestSync(t *testing.T) {
	reg := prometheus.NewRegistry()
	j := openJ(t, t.TempDir(), Options{Fsync: FsyncNever, Registerer: reg})
	before, _ := metricValue(t, reg, "vigil_journal_fsyncs_total")
	if err := j.Sync(); err != nil { // nothing to sync
		t.Fatal(err)
	}
	appendN(t, j, "s", 10, 10, 10)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	after, _ := metricValue(t, reg, "vigil_journal_fsyncs_total")
	if after != before+1 {
		t.Fatalf("fsyncs %v -> %v, want one more", before, after)
	}
}

func TestFsyncAlwaysGroupCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	j := openJ(t, t.TempDir(), Options{Fsync: FsyncAlways, Registerer: reg})
	before, _ := metricValue(t, reg, "vigil_journal_fsyncs_total")
	var wg sync.WaitGroup
	const writers, appends = 8, 50
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				if err := j.Append(mkRecs(fmt.Sprint(w), i, 1, 50)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	after, _ := metricValue(t, reg, "vigil_journal_fsyncs_total")
	n := after - before
	if n < 1 || n > writers*appends {
		t.Fatalf("%v fsyncs for %d appends", n, writers*appends)
	}
	t.Logf("%v fsyncs for %d concurrent appends", n, writers*appends)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	j := openJ(t, dir, Options{SegmentSize: 1 << 10, Registerer: reg})
	appendN(t, j, "m", 40, 4, 100)
	r, _ := j.OpenReader("idx")
	readN(t, r, 10)
	r.Commit(r.Position())
	st := j.Stats()
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vigil_journal_appended_records_total", nil, 40},
		{"vigil_journal_segments", nil, float64(st.Segments)},
		{"vigil_journal_disk_bytes", nil, float64(st.DiskBytes)},
		{"vigil_journal_next_seq", nil, 41},
		{"vigil_journal_first_seq", nil, 1},
		{"vigil_journal_consumer_lag_records", []string{"consumer", "idx"}, 30},
		{"vigil_journal_consumer_lost_records_total", []string{"consumer", "idx"}, 0},
	}
	for _, c := range checks {
		got, ok := metricValue(t, reg, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, name := range []string{"vigil_journal_appended_bytes_total", "vigil_journal_fsyncs_total", "vigil_journal_fsync_duration_seconds"} {
		if got, ok := metricValue(t, reg, name); !ok || got <= 0 {
			t.Errorf("%s = %v (found %v)", name, got, ok)
		}
	}
	if st.Segments < 5 || st.DiskBytes < 40*100 {
		t.Errorf("stats %+v", st)
	}
	r.Close()
	// Close unregisters, so the same registry can be used again.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	openJ(t, dir, Options{Registerer: reg})
}

func TestCommitConcurrentWithNext(t *testing.T) {
	dir := t.TempDir()
	j := openJ(t, dir, Options{SegmentSize: 8 << 10})
	r, err := j.OpenReader("c")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	committed := make(chan error, 1)
	go func() { // a periodic committer, as a consumer would run
		var err error
		for {
			select {
			case <-stop:
				committed <- err
				return
			default:
			}
			if e := r.Commit(r.Position()); e != nil && err == nil {
				err = e
			}
			_ = r.Committed()
		}
	}()
	const n = 2000
	go func() {
		for i := 0; i < n; i += 10 {
			if err := j.Append(mkRecs("cc", i, 10, 100)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	readN(t, r, n)
	close(stop)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(r.Position()); err != nil {
		t.Fatal(err)
	}
	if r.Committed() != n+1 {
		t.Fatalf("committed %d", r.Committed())
	}
	r.Close()
	if err := r.Commit(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	adhoc, _ := j.ReaderAt(1)
	if err := adhoc.Commit(1); err == nil {
		t.Fatal("Commit on an ad-hoc reader accepted")
	}
}
