package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// validSegment returns a segment of n records starting at first.
func validSegment(first uint64, n int) []byte {
	var b []byte
	for i := range n {
		r := Record{Seq: first + uint64(i), Time: time.Unix(1, int64(i)), Input: "in", Data: payload("g", i, 40)}
		b = appendRecord(b, &r)
	}
	return b
}

func zstdBytes(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// checkOpenSurvives opens dir (which holds whatever files), reads everything
// readable, appends and closes; nothing may panic or hang.
func checkOpenSurvives(t *testing.T, dir string) {
	j, err := Open(dir, Options{SegmentSize: 1 << 10, maintainEvery: never})
	if err != nil {
		return // rejecting is fine; panicking is not
	}
	defer j.Close()
	next := j.NextSeq()
	r, err := j.ReaderAt(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// With a done context Next returns what is available without blocking.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf []Record
	for r.Position() < next {
		pos := r.Position()
		buf, err = r.Next(ctx, buf, 100)
		if errors.Is(err, context.Canceled) && r.Position() >= next {
			break // skipped unreadable records up to the end
		}
		if err != nil {
			t.Fatalf("Next at %d (NextSeq %d): %v", pos, next, err)
		}
	}
	recs := mkRecs("after", 0, 3, 10)
	if err := j.Append(recs); errors.Is(err, errSeqExhausted) {
		return
	} else if err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	if recs[0].Seq != next {
		t.Fatalf("appended at %d, want %d", recs[0].Seq, next)
	}
	j.maintain()
}

func TestOpenGarbage(t *testing.T) {
	seg := validSegment(1, 10)
	compact := compactBytes(t, seg)
	damaged := bytes.Clone(compact)
	damaged[len(damaged)/2] ^= 0x04
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"empty active", map[string][]byte{"00000000000000000001.wal": nil}},
		{"garbage active", map[string][]byte{"00000000000000000001.wal": []byte("not a journal at all")}},
		{"garbage sealed", map[string][]byte{"00000000000000000001.wal": []byte("garbage"), "00000000000000000011.wal": validSegment(11, 3)}},
		{"empty sealed", map[string][]byte{"00000000000000000001.wal": nil, "00000000000000000011.wal": validSegment(11, 3)}},
		{"sealed with torn tail", map[string][]byte{"00000000000000000001.wal": seg[:len(seg)-5], "00000000000000000011.wal": nil}},
		{"sealed shorter than named", map[string][]byte{"00000000000000000001.wal": validSegment(1, 3), "00000000000000000011.wal": validSegment(11, 1)}},
		{"overlapping segments", map[string][]byte{"00000000000000000001.wal": validSegment(1, 20), "00000000000000000011.wal": validSegment(11, 2)}},
		{"wrong seqs in active", map[string][]byte{"00000000000000000005.wal": seg}},
		{"garbage zst sealed", map[string][]byte{"00000000000000000001.wal.zst": []byte("garbage"), "00000000000000000011.wal": nil}},
		{"valid zst sealed", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(seg), "00000000000000000011.wal": nil}},
		{"zst last", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(seg)}},
		{"compact zst sealed", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(compact), "00000000000000000011.wal": nil}},
		{"compact zst last", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(compact)}},
		{"damaged compact zst sealed", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(damaged), "00000000000000000011.wal": nil}},
		{"damaged compact zst last", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(damaged)}},
		{"compact magic only", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes(compactMagic)}},
		{"garbage zst last", map[string][]byte{"00000000000000000001.wal.zst": []byte("garbage")}},
		{"zst of garbage last", map[string][]byte{"00000000000000000001.wal.zst": zstdBytes([]byte("garbage"))}},
		{"wal and zst", map[string][]byte{"00000000000000000001.wal": seg, "00000000000000000001.wal.zst": zstdBytes(seg), "00000000000000000011.wal": nil}},
		{"leftover tmp", map[string][]byte{"00000000000000000001.wal": seg, "00000000000000000001.wal.zst.tmp": []byte("half")}},
		{"unrelated files", map[string][]byte{"README": []byte("x"), "0001.wal": []byte("x"), "00000000000000000000.wal": seg, "99999999999999999999.wal": seg}},
		{"huge seq", map[string][]byte{"18446744073709551615.wal": nil}},
		{"cursor garbage", map[string][]byte{"00000000000000000001.wal": seg, "cursors/x": []byte("garbage"), "cursors/y.tmp": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			checkOpenSurvives(t, dir)
		})
	}
}

func FuzzOpen(f *testing.F) {
	seg := validSegment(1, 5)
	f.Add(seg, validSegment(6, 2), false)
	f.Add(seg[:len(seg)-3], []byte("garbage"), false)
	f.Add(zstdBytes(seg), validSegment(6, 1), true)
	f.Add(zstdBytes(compactBytes(f, seg)), validSegment(6, 1), true)
	f.Add([]byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, sealed, active []byte, compressed bool) {
		dir := t.TempDir()
		name := "00000000000000000001.wal"
		if compressed {
			name += ".zst"
		}
		if err := os.WriteFile(filepath.Join(dir, name), sealed, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000006.wal"), active, 0o644); err != nil {
			t.Fatal(err)
		}
		checkOpenSurvives(t, dir)
		// A second Open after recovery finds a clean active segment.
		before, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*"))
		j, err := Open(dir, Options{maintainEvery: never})
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer j.Close()
		if after, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*")); len(after) != len(before) {
			t.Fatalf("second Open cut another tail: %v -> %v", before, after)
		}
	})
}
