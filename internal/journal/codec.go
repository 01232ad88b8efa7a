package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"
)

const (
	// headerSize is the size of a record's fixed header: body length and CRC.
	headerSize = 8
	// fixedBodySize is the size of seq, time and flags.
	fixedBodySize = 17
	// minBodySize is the smallest valid body: the fixed part and three empty fields.
	minBodySize = fixedBodySize + 3
	// maxBodySize is the largest body accepted by Append and by the decoder:
	// room for 16 MiB of Data (an input's largest message) and 4 KiB for the
	// rest (seq, time, flags, Input, Peer and the length prefixes).
	maxBodySize = 16<<20 + 4<<10
)

// castagnoli is the CRC-32C table. It is computed once and never modified.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errShort reports that a buffer holds only the beginning of a record.
var errShort = errors.New("journal: short record")

// uvarintLen returns the length of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// bodyLen returns the encoded body length of r.
func bodyLen(r *Record) int {
	n := fixedBodySize +
		uvarintLen(uint64(len(r.Input))) + len(r.Input) +
		uvarintLen(uint64(len(r.Peer))) + len(r.Peer) +
		uvarintLen(uint64(len(r.Data))) + len(r.Data)
	if len(r.Origin) > 0 {
		n += uvarintLen(uint64(len(r.Origin))) + len(r.Origin)
	}
	return n
}

// unixNano returns t as Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// appendRecord appends the framed encoding of r (header and body) to dst.
// The caller checks that bodyLen(r) <= maxBodySize.
func appendRecord(dst []byte, r *Record) []byte {
	n := bodyLen(r)
	start := len(dst)
	dst = slices.Grow(dst, headerSize+n)
	dst = dst[:start+headerSize]
	dst = binary.LittleEndian.AppendUint64(dst, r.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixNano(r.Time)))
	flags := r.Flags &^ FlagOrigin
	if len(r.Origin) > 0 {
		flags |= FlagOrigin
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(r.Input)))
	dst = append(dst, r.Input...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Peer)))
	dst = append(dst, r.Peer...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
	dst = append(dst, r.Data...)
	if len(r.Origin) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(r.Origin)))
		dst = append(dst, r.Origin...)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(n))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+headerSize:], castagnoli))
	return dst
}

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// decodeRecord decodes the record at the start of b into rec and returns the
// number of bytes it occupies. It returns errShort if b holds only a prefix of
// a record (the header announces more bytes than b has) and an error wrapping
// ErrCorrupt if the record is invalid: a body length out of range, a CRC
// mismatch, or a body that does not decode exactly.
//
// rec.Data aliases b. rec.Input and rec.Peer are kept when they already hold
// the decoded values (so a caller decoding into the same Record again does not
// allocate for repeated inputs and peers) and replaced by new strings otherwise.
// On error rec may be partly modified.
func decodeRecord(b []byte, rec *Record) (int, error) {
	if len(b) < headerSize {
		return 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < minBodySize || n > maxBodySize {
		return 0, corruptf("body length %d out of range", n)
	}
	total := headerSize + int(n)
	if len(b) < total {
		return 0, errShort
	}
	body := b[headerSize:total]
	if sum := crc32.Checksum(body, castagnoli); sum != binary.LittleEndian.Uint32(b[4:]) {
		return 0, corruptf("checksum mismatch")
	}
	p := body[fixedBodySize:]
	input, p, err := decodeField(p, "input")
	if err != nil {
		return 0, err
	}
	peer, p, err := decodeField(p, "peer")
	if err != nil {
		return 0, err
	}
	data, p, err := decodeField(p, "data")
	if err != nil {
		return 0, err
	}
	var origin []byte
	if body[16]&FlagOrigin != 0 {
		if origin, p, err = decodeField(p, "origin"); err != nil {
			return 0, err
		}
		if len(origin) == 0 {
			return 0, corruptf("empty origin")
		}
	}
	if len(p) != 0 {
		return 0, corruptf("%d trailing bytes in body", len(p))
	}
	rec.Seq = binary.LittleEndian.Uint64(body)
	rec.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(body[8:])))
	rec.Flags = body[16] &^ FlagOrigin
	if string(input) != rec.Input {
		rec.Input = string(input)
	}
	if string(peer) != rec.Peer {
		rec.Peer = string(peer)
	}
	rec.Data = data
	rec.Origin = origin
	return total, nil
}

// decodeField decodes a uvarint-length-prefixed field at the start of p and
// returns it and the rest of p.
func decodeField(p []byte, name string) (field, rest []byte, err error) {
	v, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, nil, corruptf("bad %s length", name)
	}
	if k != uvarintLen(v) {
		return nil, nil, corruptf("non-minimal %s length", name)
	}
	p = p[k:]
	if v > uint64(len(p)) {
		return nil, nil, corruptf("%s length %d exceeds body", name, v)
	}
	return p[:v:v], p[v:], nil
}

// recBuf is a read buffer that records are decoded from in place.
type recBuf struct {
	b    []byte
	r, w int // unread bytes are b[r:w]
}

// unread returns the buffered bytes not yet consumed.
func (rb *recBuf) unread() []byte { return rb.b[rb.r:rb.w] }

// reset drops all buffered bytes.
func (rb *recBuf) reset() { rb.r, rb.w = 0, 0 }

// fill moves the unread bytes to the front of the buffer (growing it if it is
// full) and reads once from src into the free space. It returns what src.Read
// returned. Slices into the buffer handed out earlier become invalid.
func (rb *recBuf) fill(src io.Reader) (int, error) {
	if rb.r > 0 {
		rb.w = copy(rb.b, rb.b[rb.r:rb.w])
		rb.r = 0
	}
	if rb.w == len(rb.b) {
		// The buffer is full with one incomplete record; records are at most
		// headerSize+maxBodySize bytes, so this grows to at most twice that.
		nb := make([]byte, max(2*len(rb.b), 64<<10))
		copy(nb, rb.b[:rb.w])
		rb.b = nb
	}
	n, err := src.Read(rb.b[rb.w:])
	rb.w += n
	return n, err
}
