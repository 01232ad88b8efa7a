package journal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// never is a maintenance period long enough that tests drive maintenance themselves.
const never = 1000 * time.Hour

func TestRetentionSize(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[compress], func(t *testing.T) {
			reg := prometheus.NewRegistry()
			dir := t.TempDir()
			maxSize := int64(20 << 10)
			if compress {
				maxSize = 5 << 10
			}
			j := openJ(t, dir, Options{SegmentSize: 4 << 10, MaxSize: maxSize, Compress: compress,
				Registerer: reg, maintainEvery: never})
			want := appendN(t, j, "size", 1000, 10, 300)
			j.maintain()
			st := j.Stats()
			if st.DiskBytes > maxSize {
				t.Fatalf("disk bytes %d > MaxSize %d: %+v", st.DiskBytes, maxSize, st)
			}
			if st.FirstSeq <= 1 || st.NextSeq != 1001 {
				t.Fatalf("stats %+v", st)
			}
			deleted, _ := metricValue(t, reg, "vigil_journal_deleted_segments_total", "reason", "size")
			if deleted < 1 {
				t.Fatalf("deleted segments metric %v", deleted)
			}
			// The disk holds exactly the listed segments.
			files, _ := filepath.Glob(filepath.Join(dir, "*.wal*"))
			if len(files) != st.Segments {
				t.Fatalf("%d segment files, Stats says %d", len(files), st.Segments)
			}
			// An ad-hoc reader below FirstSeq starts at FirstSeq.
			r, _ := j.ReaderAt(1)
			if r.Position() != st.FirstSeq {
				t.Fatalf("reader at %d, FirstSeq %d", r.Position(), st.FirstSeq)
			}
			sameRecords(t, readN(t, r, int(1001-st.FirstSeq)), want[st.FirstSeq-1:])

			// MaxSize below the active segment's size deletes every sealed segment, never the active one.
			j.setMaxSize(1)
			j.maintain()
			if st := j.Stats(); st.Segments != 1 || st.NextSeq != 1001 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestRetentionAge(t *testing.T) {
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: base}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	opts := Options{SegmentSize: 2 << 10, MaxAge: time.Hour, Registerer: reg, now: clk.Now, maintainEvery: never}
	j := openJ(t, dir, opts)
	// 6 hours of records, one per minute, ~6 per segment.
	var recs []Record
	for i := range 360 {
		recs = append(recs, Record{Time: base.Add(time.Duration(i) * time.Minute), Input: "in", Data: payload("age", i, 300)})
	}
	for i := 0; i < len(recs); i += 3 {
		if err := j.Append(recs[i : i+3]); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(base.Add(6 * time.Hour))
	j.maintain()
	check := func(j *Journal) {
		t.Helper()
		first := j.FirstSeq()
		if first < 200 || first > 301 {
			t.Fatalf("FirstSeq %d: want the records older than 5h (seq < ~300) deleted", first)
		}
		// The oldest retained segment holds a record newer than now-MaxAge;
		// the record before FirstSeq is older.
		if rt := recs[first-2].Time; !rt.Before(base.Add(5 * time.Hour)) {
			t.Fatalf("record %d at %v was deleted but is not expired", first-1, rt)
		}
		r, _ := j.ReaderAt(first)
		defer r.Close()
		sameRecords(t, readN(t, r, int(361-first)), recs[first-1:])
	}
	check(j)
	if got, _ := metricValue(t, reg, "vigil_journal_deleted_segments_total", "reason", "age"); got < 10 {
		t.Fatalf("deleted segments by age: %v", got)
	}
	first := j.FirstSeq()
	j.Close()

	// After reopening, sealed segments' ages come from their mtime.
	j = openJ(t, dir, opts)
	j.maintain()
	if j.FirstSeq() != first {
		t.Fatalf("FirstSeq %d after reopen, want %d", j.FirstSeq(), first)
	}
	clk.Set(base.Add(100 * time.Hour))
	j.maintain()
	if st := j.Stats(); st.Segments != 1 {
		t.Fatalf("everything expired but %d segments left", st.Segments)
	}
}

func TestLostRecords(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	opts := Options{SegmentSize: 2 << 10, Registerer: reg, maintainEvery: never}
	j := openJ(t, dir, opts)
	want := appendN(t, j, "lost", 100, 5, 200)
	r, _ := j.OpenReader("slow")
	sameRecords(t, readN(t, r, 3), want[:3])
	if err := r.Commit(r.Position()); err != nil {
		t.Fatal(err)
	}
	r.Close()

	j.setMaxSize(1)
	j.maintain()
	first := j.FirstSeq()
	if first <= 4 {
		t.Fatalf("FirstSeq %d", first)
	}
	want = append(want, appendN(t, j, "more", 5, 5, 10)...)

	r, _ = j.OpenReader("slow")
	if r.Position() != 4 {
		t.Fatalf("position %d", r.Position())
	}
	got := readN(t, r, int(106-first))
	sameRecords(t, got, want[first-1:])
	lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "consumer", "slow")
	if lost != float64(first-4) {
		t.Fatalf("lost records %v, want %d", lost, first-4)
	}
	r.Close()
}

// TestRewind: a rewound reader returns the same records again, from a
// sealed segment too; rewinding below what retention deleted counts the
// deleted records as the consumer's loss.
func TestRewind(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := Options{SegmentSize: 2 << 10, Registerer: reg, maintainEvery: never}
	j := openJ(t, t.TempDir(), opts)
	want := appendN(t, j, "rw", 100, 5, 200)
	r, _ := j.OpenReader("out")
	defer r.Close()
	sameRecords(t, readN(t, r, 60), want[:60])
	r.Rewind(11)
	if r.Position() != 11 {
		t.Fatalf("position after rewind %d, want 11", r.Position())
	}
	sameRecords(t, readN(t, r, 20), want[10:30])
	r.Rewind(40) // ahead of the reader: no change
	if r.Position() != 31 {
		t.Fatalf("position %d, want 31", r.Position())
	}

	j.setMaxSize(1)
	j.maintain()
	first := j.FirstSeq()
	if first <= 11 {
		t.Fatalf("FirstSeq %d", first)
	}
	want = append(want, appendN(t, j, "more", 5, 5, 10)...)
	r.Rewind(11)
	sameRecords(t, readN(t, r, int(106-first)), want[first-1:])
	lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "consumer", "out")
	if lost != float64(first-11) {
		t.Fatalf("lost records %v, want %d", lost, first-11)
	}
}

func TestReaderSurvivesCompression(t *testing.T) {
	dir := t.TempDir()
	j := openJ(t, dir, Options{SegmentSize: 8 << 10, Compress: true, maintainEvery: never})
	// The background maintenance runs once at Open and after seals; take its lock
	// so compression happens exactly when the test says.
	j.maintMu.Lock()
	want := appendN(t, j, "z", 200, 10, 200)
	r, _ := j.ReaderAt(1)
	got := readN(t, r, 5) // r now has segment 1's .wal open
	j.maintMu.Unlock()
	j.maintain()
	if _, err := os.Stat(walPath(dir, 1)); !os.IsNotExist(err) {
		t.Fatalf("segment 1 not compressed: %v", err)
	}
	if _, err := os.Stat(zstPath(dir, 1)); err != nil {
		t.Fatal(err)
	}
	got = append(got, readN(t, r, 195)...)
	sameRecords(t, got, want)
	r.Close()

	// A reader that starts now reads the .zst files, also from the middle of one.
	for _, start := range []uint64{1, 3, 100} {
		r, _ = j.ReaderAt(start)
		sameRecords(t, readN(t, r, int(201-start)), want[start-1:])
		r.Close()
	}
}

func TestReaderSurvivesDeletion(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	j := openJ(t, dir, Options{SegmentSize: 8 << 10, Registerer: reg, maintainEvery: never})
	want := appendN(t, j, "d", 200, 10, 200)
	r, _ := j.OpenReader("c")
	got := readN(t, r, 5) // reading segment 1
	j.setMaxSize(1)
	j.maintain() // deletes all sealed segments, segment 1 included
	if _, err := os.Stat(walPath(dir, 1)); !os.IsNotExist(err) {
		t.Fatal("segment 1 not deleted")
	}
	first := j.FirstSeq()
	want = append(want, appendN(t, j, "more", 5, 5, 10)...)
	// The reader finishes the deleted segment from its open file, then skips
	// to FirstSeq.
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for r.Position() < 206 {
		recs, err := r.Next(ctx, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			rec.Data = append([]byte(nil), rec.Data...)
			got = append(got, rec)
		}
	}
	n := 0
	for got[n].Seq == uint64(n+1) {
		n++
	}
	if n < 10 {
		t.Fatalf("only %d records read before the gap", n)
	}
	sameRecords(t, got[:n], want[:n])
	sameRecords(t, got[n:], want[first-1:])
	lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "consumer", "c")
	if lost != float64(int(first)-1-n) {
		t.Fatalf("lost %v, want %d", lost, int(first)-1-n)
	}
}

// TestCompressionWaitsForConsumers: a sealed segment is compressed only once
// every open durable reader has committed past it, so a lagging consumer
// never decompresses what was just compressed.
func TestCompressionWaitsForConsumers(t *testing.T) {
	dir := t.TempDir()
	j := openJ(t, dir, Options{SegmentSize: 8 << 10, Compress: true, maintainEvery: never})
	r, err := j.OpenReader("idx")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	j.maintMu.Lock()
	appendN(t, j, "c", 200, 10, 200)
	j.maintMu.Unlock()
	j.maintain()
	if st := j.Stats(); st.CompressedSegments != 0 {
		t.Fatalf("%d segments compressed before the consumer committed", st.CompressedSegments)
	}
	readN(t, r, 200)
	second := j.segs[1].first // a record in the second segment
	if err := r.Commit(second); err != nil {
		t.Fatal(err)
	}
	j.maintain()
	if st := j.Stats(); st.CompressedSegments != 1 {
		t.Fatalf("%d segments compressed after a commit past the first, want 1", st.CompressedSegments)
	}
	if err := r.Commit(r.Position()); err != nil {
		t.Fatal(err)
	}
	j.maintain()
	if st := j.Stats(); st.CompressedSegments != st.Segments-1 {
		t.Fatalf("%d of %d segments compressed after a full commit", st.CompressedSegments, st.Segments)
	}
}

// TestCompressionBoundForStalledConsumer: a consumer that never commits
// (an output whose receiver is down) holds back the compression of at most
// Options.maxWaiting bytes of sealed segments; it still reads everything.
func TestCompressionBoundForStalledConsumer(t *testing.T) {
	dir := t.TempDir()
	const segSize = 8 << 10
	j := openJ(t, dir, Options{SegmentSize: segSize, Compress: true, maintainEvery: never, maxWaiting: 3 * segSize})
	r, err := j.OpenReader("out")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	j.maintMu.Lock()
	want := appendN(t, j, "s", 400, 10, 200)
	j.maintMu.Unlock()
	j.maintain()
	var waiting int64
	j.pubMu.Lock()
	segs := append([]*segment(nil), j.segs...)
	for i, s := range segs[:len(segs)-1] {
		if !s.compressed {
			waiting += s.size
		} else if i > 0 && !segs[i-1].compressed {
			t.Errorf("segment %d compressed after an uncompressed one", s.first)
		}
	}
	j.pubMu.Unlock()
	if st := j.Stats(); st.CompressedSegments == 0 || waiting > 3*segSize || waiting <= 2*segSize {
		t.Fatalf("%d of %d segments compressed, %d bytes of sealed segments wait uncompressed (bound %d)",
			st.CompressedSegments, st.Segments, waiting, 3*segSize)
	}
	sameRecords(t, readN(t, r, 400), want)
}
