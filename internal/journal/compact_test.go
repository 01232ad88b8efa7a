package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
)

// compactBytes returns the compact form of the plain segment seg.
func compactBytes(t testing.TB, seg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeCompact(&b, bytes.NewReader(seg), nil); err != nil {
		t.Fatalf("writeCompact: %v", err)
	}
	return b.Bytes()
}

// expand reads src through an expander, p bytes at a time, and returns what
// it gave until the first error (nil at the end).
func expand(src []byte, p int) ([]byte, error) {
	var e expander
	e.reset(bytes.NewReader(src))
	var out []byte
	buf := make([]byte, p)
	for {
		n, err := e.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// plainSegment encodes recs, numbered from first, as a plain segment.
func plainSegment(first uint64, recs []Record) []byte {
	var b []byte
	for i := range recs {
		recs[i].Seq = first + uint64(i)
		b = appendRecord(b, &recs[i])
	}
	return b
}

func TestCompactRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16) // over chunkSize and peekSize
	tests := []struct {
		name  string
		first uint64
		recs  []Record
	}{
		{"golden", 1, goldenRecords()},
		{"one record", 4711, []Record{{Time: time.Unix(1_800_000_000, 1), Input: "syslog", Peer: "127.0.0.1:40000", Data: []byte("x")}}},
		{"empty fields", 1, []Record{{Time: time.Unix(0, 0), Data: []byte{}}, {Time: time.Unix(0, 0), Input: "a"}, {Input: "", Peer: "p"}}},
		{"origin and flags", 9, []Record{
			{Time: time.Unix(5, 0), Input: "kafka", Flags: FlagTruncated, Data: []byte("m"), Origin: []byte("topic/0/17")},
			{Time: time.Unix(5, 0), Input: "kafka", Data: []byte("n")},
			{Time: time.Unix(5, 0), Input: "kafka", Flags: 0x80, Data: []byte("o"), Origin: []byte("topic/0/19")},
		}},
		{"time backwards and extremes", 1, []Record{
			{Time: time.Unix(0, 1<<62), Data: []byte("a")},
			{Time: time.Unix(0, -1<<62), Data: []byte("b")},
			{Time: time.Unix(0, 1<<63-1), Data: []byte("c")},
			{Time: time.Unix(0, -1<<63), Data: []byte("d")},
		}},
		{"inputs and peers change", 1, mkRecs("s", 0, 500, 300)},
		{"records over a chunk", 1, []Record{
			{Time: time.Unix(1, 0), Input: strings.Repeat("i", 4000), Peer: "p", Data: big},
			{Time: time.Unix(2, 0), Input: strings.Repeat("i", 4000), Peer: "p", Data: big[:5]},
			{Time: time.Unix(3, 0), Input: "j", Peer: "p", Data: big},
		}},
		{"empty segment", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := plainSegment(tt.first, tt.recs)
			c := compactBytes(t, seg)
			if len(tt.recs) > 0 && !bytes.HasPrefix(c, compactMagic) {
				t.Fatalf("compact form starts with %q", c[:min(len(c), 4)])
			}
			for _, p := range []int{1, 7, 4096, 1 << 20} {
				got, err := expand(c, p)
				if err != nil {
					t.Fatalf("expand by %d: %v", p, err)
				}
				if !bytes.Equal(got, seg) {
					t.Fatalf("expand by %d: %d bytes differ from the %d of the segment", p, len(got), len(seg))
				}
			}
		})
	}
}

// TestExpandPlain: a compressed segment written before the compact form
// holds the plain segment, which the expander passes through.
func TestExpandPlain(t *testing.T) {
	for _, seg := range [][]byte{plainSegment(1, goldenRecords()), nil, []byte("ab"), []byte("garbage, not a segment")} {
		got, err := expand(seg, 3)
		if err != nil || !bytes.Equal(got, seg) {
			t.Fatalf("expand(%q) = %q, %v", seg, got, err)
		}
	}
}

func TestCompactRefuses(t *testing.T) {
	seg := validSegment(1, 10)
	rec2 := headerSize + len(seg)/10*2 // inside the third record
	flipped := bytes.Clone(seg)
	flipped[rec2+30] ^= 1
	gap := append(validSegment(1, 3), validSegment(5, 3)...)
	tests := []struct {
		name string
		seg  []byte
	}{
		{"checksum mismatch", flipped},
		{"torn tail", seg[:len(seg)-5]},
		{"gap in seqs", gap},
		{"garbage", []byte("not a journal segment at all")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeCompact(io.Discard, bytes.NewReader(tt.seg), nil); !errors.Is(err, errNotCompact) {
				t.Fatalf("writeCompact = %v, want errNotCompact", err)
			}
		})
	}
}

// TestExpandDamaged: a damaged compact stream gives the chunks before the
// damage and then an error wrapping ErrCorrupt, never a damaged chunk.
func TestExpandDamaged(t *testing.T) {
	recs := mkRecs("d", 0, 2000, 200) // several chunks
	seg := plainSegment(1, recs)
	c := compactBytes(t, seg)
	tests := []struct {
		name string
		at   int // byte to flip, or -n to cut n bytes
	}{
		{"flip in the first chunk", 100},
		{"flip in the middle", len(c) / 2},
		{"flip in the last checksum", len(c) - 1},
		{"cut in the middle", -len(c) / 2},
		{"cut the last byte", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := bytes.Clone(c)
			if tt.at >= 0 {
				d[tt.at] ^= 0x10
			} else {
				d = d[:len(d)+tt.at]
			}
			got, err := expand(d, 4096)
			if err == nil {
				t.Fatalf("no error for a damaged stream (%d of %d bytes)", len(got), len(seg))
			}
			if !errors.Is(err, ErrCorrupt) && !strings.Contains(err.Error(), "varint") {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if !bytes.HasPrefix(seg, got) {
				t.Fatalf("the %d bytes before the error are not the segment's", len(got))
			}
			// Only whole records were handed out.
			if res := scanSegment(bytes.NewReader(got), 1); res.err != nil {
				t.Fatalf("partial record before the damage: %v", res.err)
			}
		})
	}
}

// TestOldCompressedSegment: a segment compressed before the compact form
// (testdata/golden.wal.zst, the zstd stream of golden.wal at SpeedFastest,
// as maintain.go wrote it) still reads, as a sealed segment and as the
// last one.
func TestOldCompressedSegment(t *testing.T) {
	golden := filepath.Join("testdata", "golden.wal.zst")
	if *update {
		plain, err := os.ReadFile(filepath.Join("testdata", "golden.wal"))
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err := os.WriteFile(golden, enc.EncodeAll(plain, nil), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zst, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenRecords()
	for _, last := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.WriteFile(zstPath(dir, 1), zst, 0o600); err != nil {
			t.Fatal(err)
		}
		if !last {
			if err := os.WriteFile(walPath(dir, 4), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		j := openJ(t, dir, Options{maintainEvery: never})
		if n := j.NextSeq(); n != 4 {
			t.Fatalf("last=%v: NextSeq %d, want 4", last, n)
		}
		more := appendN(t, j, "new", 2, 2, 10)
		r, err := j.ReaderAt(1)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, readN(t, r, 5), append(append([]Record(nil), want...), more...))
		r.Close()
		j.Close()
	}
}

// TestCompressDamagedSegment: a sealed segment with a damaged record is
// compressed as it is, and readers then lose from the damaged record on, as
// they would reading the .wal.
func TestCompressDamagedSegment(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		reg := prometheus.NewRegistry()
		j := openJ(t, dir, Options{SegmentSize: 8 << 10, Registerer: reg, Compress: compress, maintainEvery: never})
		j.maintMu.Lock() // no compression before the damage
		want := appendN(t, j, "x", 100, 10, 200)
		// Damage record 10 (in segment 1) in the file.
		f, err := os.OpenFile(walPath(dir, 1), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(9*(headerSize+bodyLen(&want[0])) + 50)
		if _, err := f.WriteAt([]byte{'#'}, off); err != nil {
			t.Fatal(err)
		}
		f.Close()
		j.maintMu.Unlock()
		if compress {
			j.maintain()
			if _, err := os.Stat(zstPath(dir, 1)); err != nil {
				t.Fatalf("segment 1 not compressed: %v", err)
			}
		}
		r, err := j.OpenReader("c")
		if err != nil {
			t.Fatal(err)
		}
		j.pubMu.Lock()
		second := j.segs[1].first
		j.pubMu.Unlock()
		got := readN(t, r, 9+int(101-second))
		sameRecords(t, got[:9], want[:9])
		sameRecords(t, got[9:], want[second-1:])
		lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "consumer", "c")
		if lost != float64(second-10) {
			t.Fatalf("compress=%v: lost %v, want %d", compress, lost, second-10)
		}
		r.Close()
		j.Close()
	}
}

// TestReadDamagedCompact: a reader meeting a damaged chunk of a compact
// segment hands out no record of it, counts the rest of the segment as lost
// and goes on with the next segment.
func TestReadDamagedCompact(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	j := openJ(t, dir, Options{SegmentSize: 256 << 10, Registerer: reg, Compress: true, maintainEvery: never})
	want := appendN(t, j, "y", 3000, 100, 200)
	j.maintain()
	j.pubMu.Lock()
	second, compressed := j.segs[1].first, j.segs[0].compressed
	j.pubMu.Unlock()
	if !compressed {
		t.Fatal("segment 1 not compressed")
	}
	// Rewrite segment 1 with a byte of its second chunk flipped.
	zst, err := os.ReadFile(zstPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	c, err := dec.DecodeAll(zst, nil)
	dec.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The first chunk holds the records up to chunkSize plain bytes.
	perRec := headerSize + bodyLen(&want[0])
	inFirst := (chunkSize + perRec - 1) / perRec
	c[len(c)/2] ^= 0x01 // well past the first chunk: the segment is 256 KiB
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(zstPath(dir, 1), enc.EncodeAll(c, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	enc.Close()

	r, err := j.OpenReader("c")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var got []Record
	for r.Position() < 3001 {
		recs, err := r.Next(ctx, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			rec.Data = bytes.Clone(rec.Data)
			got = append(got, rec)
		}
	}
	n := 0
	for n < len(got) && got[n].Seq < second {
		n++
	}
	if n < inFirst || n%inFirst != 0 {
		t.Fatalf("%d records read from the damaged segment, want whole chunks of %d", n, inFirst)
	}
	sameRecords(t, got[:n], want[:n])
	sameRecords(t, got[n:], want[second-1:])
	lost, _ := metricValue(t, reg, "vigil_journal_consumer_lost_records_total", "consumer", "c")
	if lost != float64(int(second)-1-n) {
		t.Fatalf("lost %v, want %d", lost, int(second)-1-n)
	}
}

// FuzzExpand: any stream expands without a panic, hands out only whole
// records, and what expands without error compacts back to the same form.
func FuzzExpand(f *testing.F) {
	f.Add(compactBytes(f, plainSegment(1, goldenRecords())))
	f.Add(compactBytes(f, plainSegment(7, mkRecs("f", 0, 3, 20))))
	f.Add(append(bytes.Clone(compactMagic), 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(plainSegment(1, goldenRecords()))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := expand(b, 4096)
		if !bytes.HasPrefix(b, compactMagic) {
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("a plain stream did not pass through: %v", err)
			}
			return
		}
		// The expansion is whole records numbered from the header's seq.
		first, _ := binary.Uvarint(b[len(compactMagic):])
		if res := scanSegment(bytes.NewReader(got), first); res.err != nil || res.good != int64(len(got)) {
			t.Fatalf("expanded bytes are not whole records: %+v", res)
		}
		if err == nil && len(got) > 0 {
			if again := compactBytes(t, got); !bytes.Equal(mustExpand(t, again), got) {
				t.Fatal("expanding the compact form of the expansion differs")
			}
		}
	})
}

// mustExpand expands b or fails the test.
func mustExpand(t *testing.T, b []byte) []byte {
	t.Helper()
	got, err := expand(b, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCompactIsSmaller: on syslog lines the compact form compresses to
// clearly less than the plain one (TestCompressCost measures how much on
// real input: 56 -> 43 B per record at SpeedFastest).
func TestCompactIsSmaller(t *testing.T) {
	recs := make([]Record, 5000)
	now := time.Unix(1_800_000_000, 0)
	for i := range recs {
		if i%256 == 0 {
			now = now.Add(2560 * time.Microsecond)
		}
		recs[i] = Record{Time: now, Input: "syslog", Peer: "127.0.0.1:40000", Data: fmt.Appendf(nil,
			`<190>Dec  6 09:00:%02d proxy2 nginx: {"ip":"10.%d.%d.%d","statuscode":%d,"bytes_sent":%d,"request_uri":"/owa/%d"}`,
			i%60, i%7, i*13%251, i*7%253, 200+i%3*100, i*37%9000, i%17)}
	}
	seg := plainSegment(1, recs)
	enc, err := newEncoder(CompressFastest)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	size := map[bool]int{}
	for _, compact := range []bool{false, true} {
		var b bytes.Buffer
		if err := encodeSegment(enc, &b, bytes.NewReader(seg), compact, nil); err != nil {
			t.Fatal(err)
		}
		size[compact] = b.Len()
	}
	t.Logf("%d records: plain %.1f B, compact %.1f B per record", len(recs), float64(size[false])/5000, float64(size[true])/5000)
	if size[true] > size[false]*85/100 {
		t.Fatalf("compact form %d bytes, plain %d: less than 15%% saved", size[true], size[false])
	}
}

// TestCompressLevels: every level writes segments that read back, and an
// unknown level is refused at Open.
func TestCompressLevels(t *testing.T) {
	for level := range compressLevels {
		t.Run(string(level), func(t *testing.T) {
			j := openJ(t, t.TempDir(), Options{SegmentSize: 8 << 10, Compress: true, CompressLevel: level, maintainEvery: never})
			want := appendN(t, j, "l", 200, 10, 200)
			j.maintain()
			if st := j.Stats(); st.CompressedSegments != st.Segments-1 {
				t.Fatalf("%d of %d segments compressed", st.CompressedSegments, st.Segments)
			}
			r, _ := j.ReaderAt(1)
			defer r.Close()
			sameRecords(t, readN(t, r, 200), want)
		})
	}
	if _, err := Open(t.TempDir(), Options{CompressLevel: "max"}); err == nil || !strings.Contains(err.Error(), `unknown compression level "max"`) {
		t.Fatalf("Open with level max: %v", err)
	}
}
