package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.wal")

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"empty", Record{Seq: 1, Time: time.Unix(0, 1)}},
		{"typical", Record{Seq: 42, Time: time.Unix(1_764_286_754, 7406), Input: "syslog-udp", Peer: "127.0.0.1:41616",
			Data: []byte(`<190>Nov 27 23:39:14 vm nginx: {"status":404}`)}},
		{"truncated flag", Record{Seq: 1 << 40, Time: time.Unix(1, 0), Flags: FlagTruncated, Data: bytes.Repeat([]byte{0xff}, 70000)}},
		{"binary and unicode", Record{Seq: ^uint64(0), Time: time.Unix(-5, 0), Input: "é", Peer: "[::1]:5", Data: []byte{0, 1, 2, 0x80}}},
		{"long fields", Record{Seq: 7, Time: time.Unix(9, 9), Input: strings.Repeat("i", 300), Peer: strings.Repeat("p", 128), Data: []byte("x")}},
		{"origin", Record{Seq: 8, Time: time.Unix(9, 9), Input: "kafka", Peer: "kafka://t/0", Flags: FlagTruncated,
			Data: []byte("x"), Origin: []byte("t\x000\x0012345")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendRecord([]byte("prefix"), &tt.rec)
			b = b[len("prefix"):]
			if len(b) != headerSize+bodyLen(&tt.rec) {
				t.Fatalf("encoded %d bytes, bodyLen says %d", len(b), headerSize+bodyLen(&tt.rec))
			}
			var got Record
			n, err := decodeRecord(append(b, "trailing"...), &got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(b) {
				t.Fatalf("decode consumed %d, want %d", n, len(b))
			}
			sameRecords(t, []Record{got}, []Record{tt.rec})
			for cut := 0; cut < len(b); cut += 1 + len(b)/50 {
				if _, err := decodeRecord(b[:cut], &got); !errors.Is(err, errShort) {
					t.Fatalf("decode of %d/%d bytes: %v, want errShort", cut, len(b), err)
				}
			}
		})
	}
}

// frame builds a record from a raw body with a correct header.
func frame(body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

// rawBody builds a body with the given field bytes after seq, time and flags.
func rawBody(fields ...byte) []byte {
	b := make([]byte, fixedBodySize)
	b[0] = 1
	return append(b, fields...)
}

func TestDecodeRecordCorrupt(t *testing.T) {
	good := appendRecord(nil, &Record{Seq: 1, Time: time.Unix(1, 0), Input: "in", Data: []byte("hello")})
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"length too small", append(binary.LittleEndian.AppendUint32(nil, minBodySize-1), 0, 0, 0, 0)},
		{"length too large", append(binary.LittleEndian.AppendUint32(nil, maxBodySize+1), 0, 0, 0, 0)},
		{"crc mismatch", flip(5)},
		{"body bit flip", flip(len(good) - 1)},
		{"trailing bytes", frame(rawBody(0, 0, 0, 'x'))},
		{"field overruns body", frame(rawBody(0, 0, 5, 'x'))},
		{"non-minimal uvarint", frame(rawBody(0x80, 0x00, 0, 0))},
		{"uvarint overflow", frame(rawBody(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0))},
		{"truncated uvarint", frame(rawBody(0, 0, 0x80))},
		{"origin flag without origin", frame(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FlagOrigin}, 0, 0, 0))},
		{"empty origin", frame(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FlagOrigin}, 0, 0, 0, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec Record
			_, err := decodeRecord(tt.b, &rec)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeReusesStrings(t *testing.T) {
	b := appendRecord(nil, &Record{Seq: 1, Time: time.Unix(1, 0), Input: "in", Peer: "peer", Data: []byte("d")})
	var rec Record
	if _, err := decodeRecord(b, &rec); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeRecord(b, &rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decode of a repeated input and peer allocates %v times", allocs)
	}
}

// goldenRecords are the records of testdata/golden.wal, which pins the on-disk format.
func goldenRecords() []Record {
	return []Record{
		{Seq: 1, Time: time.Unix(1_764_286_754, 7406000), Input: "syslog-udp", Peer: "127.0.0.1:41616",
			Data: []byte(`<190>Nov 27 23:39:14 vm nginx: {"time_local":"2026-11-27T23:39:14+00:00","status":404}`)},
		{Seq: 2, Time: time.Unix(1_764_286_764, 0), Input: "syslog-tcp", Peer: "",
			Data: []byte(`<37>1 2026-11-27T23:39:24.007406+00:00 vm app - ID47 - rfc5424`)},
		{Seq: 3, Time: time.Unix(1_764_286_798, 280926000), Input: "kafka", Flags: FlagTruncated, Data: []byte("549 <190>1 ...")},
	}
}

func TestGoldenSegment(t *testing.T) {
	var enc []byte
	for _, r := range goldenRecords() {
		enc = appendRecord(enc, &r)
	}
	path := filepath.Join("testdata", "golden.wal")
	if *update {
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding differs from %s: the on-disk format changed", path)
	}
	// The first record's header and fixed body fields, byte by byte.
	if got := binary.LittleEndian.Uint32(want[0:]); int(got) != bodyLen(&goldenRecords()[0]) {
		t.Fatalf("body length %d", got)
	}
	if got := binary.LittleEndian.Uint64(want[8:]); got != 1 {
		t.Fatalf("seq %d", got)
	}
	if got := int64(binary.LittleEndian.Uint64(want[16:])); got != 1_764_286_754_007_406_000 {
		t.Fatalf("time %d", got)
	}
	res := scanSegment(bytes.NewReader(want), 1)
	if res.err != nil || res.next != 4 || res.good != int64(len(want)) {
		t.Fatalf("scan: %+v", res)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range goldenRecords() {
		f.Add(appendRecord(nil, &r))
	}
	f.Add(frame(rawBody(0, 0, 0)))
	f.Add(frame(rawBody(0x80, 0x00, 0, 0)))
	f.Add(appendRecord(nil, &Record{Seq: 3, Input: "k", Data: []byte("v"), Origin: []byte("o")}))
	f.Add([]byte{})
	f.Add(make([]byte, 30))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec Record
		n, err := decodeRecord(b, &rec)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, errShort) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if n < headerSize+minBodySize || n > len(b) {
			t.Fatalf("n=%d out of range for %d bytes", n, len(b))
		}
		// A record that decodes re-encodes to exactly the same bytes.
		if enc := appendRecord(nil, &rec); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, b[:n])
		}
	})
}

func TestChecksumIsCastagnoli(t *testing.T) {
	// The CRC-32C check value from RFC 3720, B.4.
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xe3069283 {
		t.Fatalf("checksum %#x, want CRC-32C check value 0xe3069283", got)
	}
}
