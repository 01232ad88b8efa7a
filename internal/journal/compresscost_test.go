//go:build unix

package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/vigil-soc/vigil/internal/benchenv"
)

// TestCompressCost measures what compressing sealed segments costs and
// saves: it appends the first VIGIL_JOURNALZ_LINES lines (default 400000)
// of the log file VIGIL_JOURNALZ_INPUT (e.g. vigil-loadgen -gen output) to
// a journal as the TCP input does (batches of 256 records sharing a receive
// time, input "syslog", one peer), once per segment size in
// VIGIL_JOURNALZ_SEGMENTS (MiB, default "64"), then compresses every segment
// with each candidate setting (plain or compact form, zstd level, window)
// and reads it back as readers do (checking it gives back the segment byte
// for byte), VIGIL_JOURNALZ_ROUNDS times (default 2), candidates
// alternating within a round. It reports the compressed bytes per event and
// the process's CPU (user+system, the minimum over the rounds) per million
// events for compressing and for reading back. VIGIL_JOURNALZ_CANDIDATES
// limits the candidates to those whose names contain one of its
// comma-separated words; VIGIL_JOURNALZ_TEXT=1 adds the same lines as a
// text file (what the records' framing costs). Skipped without
// VIGIL_JOURNALZ_INPUT.
//
//	VIGIL_JOURNALZ_INPUT=/tmp/input.log go test -count=1 -v -timeout 60m -run TestCompressCost ./internal/journal/
func TestCompressCost(t *testing.T) {
	path := os.Getenv("VIGIL_JOURNALZ_INPUT")
	if path == "" {
		t.Skip("VIGIL_JOURNALZ_INPUT is not set")
	}
	lines := benchenv.Int(t, "VIGIL_JOURNALZ_LINES", 400000)
	rounds := benchenv.Int(t, "VIGIL_JOURNALZ_ROUNDS", 2)
	var segSizes []int64
	for _, f := range strings.Split(envStr("VIGIL_JOURNALZ_SEGMENTS", "64"), ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			t.Fatalf("VIGIL_JOURNALZ_SEGMENTS: bad size %q", f)
		}
		segSizes = append(segSizes, int64(n)<<20)
	}
	data := readLines(t, path, lines)

	type candidate struct {
		name    string
		compact bool
		opts    []zstd.EOption
	}
	level := func(l zstd.EncoderLevel, window int) []zstd.EOption {
		o := []zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(l)}
		if window > 0 {
			o = append(o, zstd.WithWindowSize(window))
		}
		return o
	}
	candidates := []candidate{
		{"plain fastest (w4M, before)", false, level(zstd.SpeedFastest, 0)},
		{"plain fastest w16M", false, level(zstd.SpeedFastest, 16<<20)},
		{"plain default (w8M)", false, level(zstd.SpeedDefault, 0)},
		{"plain default w32M", false, level(zstd.SpeedDefault, 32<<20)},
		{"plain better (w8M)", false, level(zstd.SpeedBetterCompression, 0)},
		{"plain better w32M", false, level(zstd.SpeedBetterCompression, 32<<20)},
		{"plain better w1M", false, level(zstd.SpeedBetterCompression, 1<<20)},
		{"plain best (w8M)", false, level(zstd.SpeedBestCompression, 0)},
		{"compact fastest (w4M)", true, level(zstd.SpeedFastest, 0)},
		{"compact fastest w16M", true, level(zstd.SpeedFastest, 16<<20)},
		{"compact default (w8M)", true, level(zstd.SpeedDefault, 0)},
		{"compact default w32M", true, level(zstd.SpeedDefault, 32<<20)},
		{"compact better (w8M)", true, level(zstd.SpeedBetterCompression, 0)},
		{"compact best (w8M)", true, level(zstd.SpeedBestCompression, 0)},
	}
	if only := os.Getenv("VIGIL_JOURNALZ_CANDIDATES"); only != "" {
		candidates = slices.DeleteFunc(candidates, func(c candidate) bool {
			for _, w := range strings.Split(only, ",") {
				if strings.Contains(c.name, w) {
					return false
				}
			}
			return true
		})
	}

	type result struct {
		size         int64
		enc, dec     []time.Duration
		segs, events int
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d lines of %s, %d rounds (CPU: minimum)\n\n", len(data), path, rounds)
	fmt.Fprintf(&sb, "| segment | setting | B/event sealed | compress CPU s/M events | decompress CPU s/M events | compress CPU (rounds) |\n|--:|---|--:|--:|--:|---|\n")
	type segSet struct {
		name   string
		segs   [][]byte
		events int
		text   bool
	}
	var sets []segSet
	for _, segSize := range segSizes {
		segs, plain, events := buildSegments(t, data, segSize)
		t.Logf("segment size %d MiB: %d segments, %.1f B/event uncompressed", segSize>>20, len(segs), float64(plain)/float64(events))
		sets = append(sets, segSet{fmt.Sprintf("%d MiB", segSize>>20), segs, events, false})
		if os.Getenv("VIGIL_JOURNALZ_TEXT") != "" {
			// The same lines as a text file (LF after each), without the
			// records' framing: what the framing costs compressed.
			segs, plain := textChunks(data, segSize)
			t.Logf("text in %d MiB chunks: %.1f B/event", segSize>>20, float64(plain)/float64(events))
			sets = append(sets, segSet{fmt.Sprintf("%d MiB, text only", segSize>>20), segs, events, true})
		}
	}
	for _, set := range sets {
		segs, events := set.segs, set.events
		res := make([]result, len(candidates))
		var out bytes.Buffer
		var exp expander
		back := make([]byte, 0, 128<<20)
		for r := 0; r < rounds; r++ {
			for i, c := range candidates {
				if c.compact && set.text {
					continue
				}
				enc, err := zstd.NewWriter(nil, c.opts...)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
				if err != nil {
					t.Fatal(err)
				}
				var size int64
				var encCPU, decCPU time.Duration
				for _, seg := range segs {
					out.Reset()
					runtime.GC()
					start := benchenv.CPUTime()
					if err := encodeSegment(enc, &out, bytes.NewReader(seg), c.compact, nil); err != nil {
						t.Fatal(err)
					}
					encCPU += benchenv.CPUTime() - start
					size += int64(out.Len())

					runtime.GC()
					start = benchenv.CPUTime()
					if err := dec.Reset(bytes.NewReader(out.Bytes())); err != nil {
						t.Fatal(err)
					}
					exp.reset(dec)
					back = back[:0]
					for {
						n, err := exp.Read(back[len(back):cap(back)])
						back = back[:len(back)+n]
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatalf("%s: decompress: %v", c.name, err)
						}
						if len(back) == cap(back) {
							back = slices.Grow(back, 1<<20)
						}
					}
					decCPU += benchenv.CPUTime() - start
					if !bytes.Equal(back, seg) {
						t.Fatalf("%s: the segment read back differs (%d bytes, want %d)", c.name, len(back), len(seg))
					}
				}
				enc.Close()
				dec.Close()
				res[i].size = size
				res[i].enc = append(res[i].enc, encCPU)
				res[i].dec = append(res[i].dec, decCPU)
				t.Logf("%s round %d %-22s %6.1f B/event  compress %.2f s/M  decompress %.2f s/M", set.name, r+1, c.name,
					float64(size)/float64(events), perM(encCPU, events), perM(decCPU, events))
			}
		}
		for i, c := range candidates {
			if c.compact && set.text {
				continue
			}
			var rs []string
			for _, d := range res[i].enc {
				rs = append(rs, fmt.Sprintf("%.2f", perM(d, events)))
			}
			fmt.Fprintf(&sb, "| %s | %s | %.1f | %.2f | %.2f | %s |\n", set.name, c.name,
				float64(res[i].size)/float64(events), perM(slices.Min(res[i].enc), events), perM(slices.Min(res[i].dec), events), strings.Join(rs, ", "))
		}
	}
	t.Log(sb.String())
}

// readLines returns up to n lines of the file at path, without their newlines.
func readLines(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for len(out) < n && sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildSegments appends data to a new journal as the TCP input would (256
// records per Append, one receive time per batch, 100k events/s) and
// returns the contents of its segment files (the active one included), their
// total size and the number of records.
func buildSegments(t *testing.T, data [][]byte, segSize int64) (segs [][]byte, size int64, events int) {
	t.Helper()
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	j, err := Open(dir, Options{SegmentSize: segSize, Fsync: FsyncNever, now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, 0, 256)
	for i := 0; i < len(data); i += 256 {
		recs = recs[:0]
		for _, d := range data[i:min(i+256, len(data))] {
			recs = append(recs, Record{Input: "syslog", Peer: "127.0.0.1:40000", Data: d})
		}
		if err := j.Append(recs); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2560 * time.Microsecond)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+walExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			segs = append(segs, b)
			size += int64(len(b))
		}
	}
	return segs, size, len(data)
}

// textChunks returns data as text (an LF after each line) cut into chunks
// of at most size bytes at line ends, and the text's size.
func textChunks(data [][]byte, size int64) (chunks [][]byte, total int64) {
	var cur []byte
	for _, d := range data {
		if len(cur) > 0 && int64(len(cur)+len(d)+1) > size {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = append(append(cur, d...), '\n')
		total += int64(len(d)) + 1
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, total
}

// perM returns d in seconds per million of n events.
func perM(d time.Duration, n int) float64 { return d.Seconds() * 1e6 / float64(n) }

// envStr returns the environment variable name, or def if it is empty.
func envStr(name, def string) string {
	if s := os.Getenv(name); s != "" {
		return s
	}
	return def
}
