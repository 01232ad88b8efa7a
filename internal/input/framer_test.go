package input

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/journal"
)

// msg is a framed message as the tests compare it.
type msg struct {
	Data  string
	Flags uint8
}

func (m msg) String() string {
	d := m.Data
	if len(d) > 40 {
		d = fmt.Sprintf("%s...(%d bytes)", d[:40], len(d))
	}
	return fmt.Sprintf("{%q %d}", d, m.Flags)
}

// chunkReader returns data in chunks of the given sizes (cycled, each >= 1).
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = min(n, max(1, r.sizes[r.i%len(r.sizes)]))
		r.i++
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// frame splits data read in chunks of the given sizes (nil: as large as
// the framer takes) with a Framer.
func frame(t testing.TB, data []byte, maxMsg int, sizes []int) ([]msg, FramerStats) {
	t.Helper()
	f := NewFramer(maxMsg)
	rd := &chunkReader{data: data, sizes: sizes}
	var out []msg
	for range len(data) + 10 {
		_, err := f.Fill(rd)
		for {
			m, fl, ok := f.Next()
			if !ok {
				break
			}
			out = append(out, msg{string(m), fl})
		}
		if err != nil {
			if err != io.EOF {
				t.Fatalf("Fill: %v", err)
			}
			for {
				m, fl, ok := f.End()
				if !ok {
					break
				}
				out = append(out, msg{string(m), fl})
			}
			st := f.TakeStats()
			st.DiscardedBytes = 0
			return out, st
		}
	}
	t.Fatalf("framer made no progress")
	return nil, FramerStats{}
}

// refFrame is a plain whole-input implementation of the framing rules, to
// check the incremental Framer against.
func refFrame(in []byte, maxMsg int) ([]msg, FramerStats) {
	var out []msg
	var st FramerStats
	emit := func(m []byte, flags uint8) {
		if len(m) > maxMsg {
			m = m[:maxMsg]
			flags = journal.FlagTruncated
			st.Truncated++
		}
		if len(m) > 0 {
			out = append(out, msg{string(m), flags})
		}
	}
	i := 0
	for i < len(in) {
		c := in[i]
		if c == '\n' || c == 0 {
			i++
			continue
		}
		if c >= '1' && c <= '9' {
			j, n, bad := i, 0, false
			for j < len(in) && in[j] >= '0' && in[j] <= '9' {
				n = n*10 + int(in[j]-'0')
				j++
				if n > MaxOctetCount {
					bad = true
					break
				}
			}
			switch {
			case !bad && j == len(in):
				// The stream ended inside the header: a partial line.
			case !bad && in[j] == ' ':
				body := in[j+1:]
				if len(body) >= n {
					emit(body[:n], 0)
					i = j + 1 + n
					continue
				}
				st.TruncatedFrames++
				if n > maxMsg && len(body) >= maxMsg {
					// Known to be oversized as well as cut short.
					st.Truncated++
					body = body[:maxMsg]
				}
				emit(body, journal.FlagTruncated)
				return out, st
			default:
				st.FramingErrors++
			}
		}
		k := -1
		for x := i; x < len(in); x++ {
			if in[x] == '\n' || in[x] == 0 {
				k = x
				break
			}
		}
		end := k
		if k < 0 {
			end = len(in)
			st.TruncatedFrames++
		}
		line := in[i:end]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		emit(line, 0)
		if k < 0 {
			break
		}
		i = k + 1
	}
	return out, st
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		in     string
		max    int
		want   []msg
		errs   uint64 // framing errors
		trunc  uint64
		frames uint64 // truncated frames
	}{
		{name: "lf", in: "a\nbb\n", want: []msg{{"a", 0}, {"bb", 0}}},
		{name: "crlf", in: "a\r\nbb\r\n", want: []msg{{"a", 0}, {"bb", 0}}},
		{name: "only one cr stripped", in: "a\r\r\n", want: []msg{{"a\r", 0}}},
		{name: "nul", in: "a\x00bb\x00", want: []msg{{"a", 0}, {"bb", 0}}},
		{name: "nul then lf", in: "a\x00\nb\n", want: []msg{{"a", 0}, {"b", 0}}},
		{name: "empty lines skipped", in: "\n\n\r\n\x00a\n\n", want: []msg{{"a", 0}}},
		{name: "octet", in: "3 abc5 hello", want: []msg{{"abc", 0}, {"hello", 0}}},
		{name: "octet keeps lf and nul", in: "5 a\nb\x00c", want: []msg{{"a\nb\x00c", 0}}},
		{name: "octet then lf", in: "3 abc\n3 def\n", want: []msg{{"abc", 0}, {"def", 0}}},
		{name: "mixed", in: "<13>a\n4 <1>b<2>c\r\n2 xy\x00z\n",
			want: []msg{{"<13>a", 0}, {"<1>b", 0}, {"<2>c", 0}, {"xy", 0}, {"z", 0}}},
		{name: "rsyslog octet", in: "24 <190>1 2026-11-27T23:39Z", want: []msg{{"<190>1 2026-11-27T23:39Z", 0}}},
		{name: "zero is a line", in: "0 abc\n", want: []msg{{"0 abc", 0}}},
		{name: "bad count no space", in: "12abc\nnext\n", want: []msg{{"12abc", 0}, {"next", 0}}, errs: 1},
		{name: "bad count timestamp", in: "2026-01-01 x\n", want: []msg{{"2026-01-01 x", 0}}, errs: 1},
		{name: "count too large", in: "99999999999 x\n4 abcd", want: []msg{{"99999999999 x", 0}, {"abcd", 0}}, errs: 1},
		{name: "count at bound", in: "16777217 x\n", want: []msg{{"16777217 x", 0}}, errs: 1},
		{name: "line at eof", in: "a\nbc", want: []msg{{"a", 0}, {"bc", 0}}, frames: 1},
		{name: "cr line at eof", in: "bc\r", want: []msg{{"bc", 0}}, frames: 1},
		{name: "octet cut at eof", in: "3 abc10 hello", want: []msg{{"abc", 0}, {"hello", journal.FlagTruncated}}, frames: 1},
		{name: "octet header only at eof", in: "10 ", frames: 1},
		{name: "digits at eof", in: "123", want: []msg{{"123", 0}}, frames: 1},
		{name: "line at limit", in: long + "\n", max: 100, want: []msg{{long, 0}}},
		{name: "crlf line at limit", in: long + "\r\n", max: 100, want: []msg{{long, 0}}},
		{name: "line over limit by one", in: long + "y\nz\n", max: 100,
			want: []msg{{long, journal.FlagTruncated}, {"z", 0}}, trunc: 1},
		{name: "line over limit", in: long + strings.Repeat("y", 500) + "\r\nz\n", max: 100,
			want: []msg{{long, journal.FlagTruncated}, {"z", 0}}, trunc: 1},
		{name: "long line at eof", in: long + strings.Repeat("y", 500), max: 100,
			want: []msg{{long, journal.FlagTruncated}}, trunc: 1, frames: 1},
		{name: "octet at limit", in: "100 " + long + "1 z", max: 100, want: []msg{{long, 0}, {"z", 0}}},
		{name: "octet over limit", in: "600 " + long + strings.Repeat("\n", 500) + "1 z", max: 100,
			want: []msg{{long, journal.FlagTruncated}, {"z", 0}}, trunc: 1},
		{name: "octet over limit cut at eof", in: "600 " + long + "yy", max: 100,
			want: []msg{{long, journal.FlagTruncated}}, trunc: 1, frames: 1},
		{name: "binary", in: "\xff\xfe\r\x01\n", want: []msg{{"\xff\xfe\r\x01", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 65536
			}
			for _, sizes := range [][]int{nil, {1}, {2, 3}, {7}} {
				got, st := frame(t, []byte(tt.in), max, sizes)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("chunks %v: got %v, want %v", sizes, got, tt.want)
				}
				want := FramerStats{FramingErrors: tt.errs, Truncated: tt.trunc, TruncatedFrames: tt.frames}
				if st != want {
					t.Fatalf("chunks %v: stats %+v, want %+v", sizes, st, want)
				}
			}
			ref, rst := refFrame([]byte(tt.in), max)
			if !reflect.DeepEqual(ref, tt.want) {
				t.Fatalf("reference: got %v, want %v", ref, tt.want)
			}
			if want := (FramerStats{FramingErrors: tt.errs, Truncated: tt.trunc, TruncatedFrames: tt.frames}); rst != want {
				t.Fatalf("reference stats %+v, want %+v", rst, want)
			}
		})
	}
}

// TestFramerSplitEverywhere writes a stream of every framing in two parts,
// split at every byte boundary, and in three parts at every pair of them.
func TestFramerSplitEverywhere(t *testing.T) {
	in := []byte("<13>lf\n4 <1>b<2>crlf\r\n\n12 octet\nwith\x00<3>nul\x0012x bad\n" +
		strings.Repeat("z", 40) + "\n7 toolong\x00" + strings.Repeat("q", 70) + "\r\ntail")
	const maxMsg = 32
	want, wantSt := frame(t, in, maxMsg, nil)
	ref, refSt := refFrame(in, maxMsg)
	if !reflect.DeepEqual(want, ref) || wantSt != refSt {
		t.Fatalf("whole: %v %+v, reference %v %+v", want, wantSt, ref, refSt)
	}
	for i := 1; i < len(in); i++ {
		got, st := frame(t, in, maxMsg, []int{i, len(in)})
		if !reflect.DeepEqual(got, want) || st != wantSt {
			t.Fatalf("split at %d: got %v %+v, want %v %+v", i, got, st, want, wantSt)
		}
		for j := 1; i+j < len(in); j++ {
			got, st := frame(t, in, maxMsg, []int{i, j, len(in)})
			if !reflect.DeepEqual(got, want) || st != wantSt {
				t.Fatalf("split at %d and %d: got %v %+v, want %v %+v", i, i+j, got, st, want, wantSt)
			}
		}
	}
}

// TestFramerLarge checks buffer growth: a 1 MiB line with a 64 KiB limit,
// and a 1 MiB octet frame with a 2 MiB limit.
func TestFramerLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	in := append(append([]byte{}, big...), "\nnext\n"...)
	got, st := frame(t, in, 65536, []int{1000, 70000, 3})
	want := []msg{{string(big[:65536]), journal.FlagTruncated}, {"next", 0}}
	if !reflect.DeepEqual(got, want) || st.Truncated != 1 {
		t.Fatalf("got %v %+v", got, st)
	}
	in = fmt.Appendf(nil, "%d %s3 end", len(big), big)
	got, st = frame(t, in, 2<<20, []int{100000})
	want = []msg{{string(big), 0}, {"end", 0}}
	if !reflect.DeepEqual(got, want) || st != (FramerStats{}) {
		t.Fatalf("got %v %+v", got, st)
	}
}

// TestFramerRandom compares the Framer with the reference on random
// streams built from syslog-like pieces and junk.
func TestFramerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"\n", "\r\n", "\x00", "\r", " ", "1", "9", "0", "12 ", "3 ", "<13>", "abc", "99999999", "x"}
	for iter := range 3000 {
		var b []byte
		for range rng.IntN(40) {
			if rng.IntN(4) == 0 {
				b = append(b, byte(rng.UintN(256)))
			} else {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
		}
		maxMsg := 1 + rng.IntN(20)
		ref, refSt := refFrame(b, maxMsg)
		sizes := []int{1 + rng.IntN(5), 1 + rng.IntN(30)}
		got, st := frame(t, b, maxMsg, sizes)
		if !reflect.DeepEqual(got, ref) || st != refSt {
			t.Fatalf("iter %d input %q max %d chunks %v:\ngot  %v %+v\nwant %v %+v", iter, b, maxMsg, sizes, got, st, ref, refSt)
		}
	}
}

func FuzzFramer(f *testing.F) {
	seeds := []string{
		"<13>a\n4 <1>b<2>c\r\n2 xy\x00z\n",
		"12abc\n99999999999 x\n",
		"600 " + strings.Repeat("y", 100),
		"3 abc10 hello",
		"\n\r\n\x00",
		"16777216 a",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, chunk uint8) {
		m := int(maxMsg)%300 + 1
		if maxMsg >= 60000 {
			m = 65536
		}
		whole, wst := frame(t, data, m, nil)
		sizes := []int{int(chunk%17) + 1, int(chunk/17) + 1, 1}
		got, st := frame(t, data, m, sizes)
		if !reflect.DeepEqual(got, whole) || st != wst {
			t.Fatalf("chunks %v: got %v %+v, whole %v %+v", sizes, got, st, whole, wst)
		}
		ref, rst := refFrame(data, m)
		if !reflect.DeepEqual(whole, ref) || wst != rst {
			t.Fatalf("got %v %+v, reference %v %+v", whole, wst, ref, rst)
		}
		var n int
		for _, x := range whole {
			if len(x.Data) == 0 || len(x.Data) > m {
				t.Fatalf("message of %d bytes, limit %d", len(x.Data), m)
			}
			n += len(x.Data)
		}
		if n > len(data) {
			t.Fatalf("%d message bytes from %d input bytes", n, len(data))
		}
	})
}

// lines returns count syslog lines of about size bytes each.
func lines(count, size int) []byte {
	line := []byte("<190>Nov 27 23:39:14 vm nginx: ")
	for len(line) < size-1 {
		line = append(line, "{\"status\":404,\"request_uri\":\"/login\"} "[len(line)%38])
	}
	line = append(line, '\n')
	return bytes.Repeat(line, count)
}

// loopReader returns its data again and again.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkFramer(b *testing.B) {
	data := lines(1000, 450)
	f := NewFramer(65536)
	rd := &loopReader{data: data}
	b.SetBytes(450)
	b.ReportAllocs()
	n := 0
	for n < b.N {
		if _, err := f.Fill(rd); err != nil {
			b.Fatal(err)
		}
		for {
			_, _, ok := f.Next()
			if !ok {
				break
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
