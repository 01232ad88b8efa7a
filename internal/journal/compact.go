package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// The compact form of a sealed segment is what a compressed segment holds
// (since the form was introduced; earlier .wal.zst files hold the plain
// segment and are still read). It drops what the plain form repeats or can
// recompute, which zstd cannot squeeze: each record's length, CRC and seq,
// the receive time as a difference, and the input and peer when they equal
// the previous record's. Expanding it gives back the segment byte for byte.
//
//	magic    4 bytes "VJC1" (as a plain record's body length it would be out of range)
//	first    uvarint, the seq of the first record (the others follow one by one)
//	chunk*   until the end:
//	  count    uvarint k >= 1
//	  k records:
//	    time   varint, receive time (Unix ns) minus the previous record's (0 before the first)
//	    flags  1 byte, the body's flags byte (FlagOrigin included)
//	    input  uvarint 0 (same as the previous record's) or len+1, then the bytes
//	    peer   the same
//	    data   uvarint length, bytes
//	    origin uvarint length, bytes (only with FlagOrigin)
//	  crc      4 bytes, CRC-32C (little-endian) of the chunk's records' own CRCs
//	           (the 4 bytes after each one's length, in order)
//
// The expander recomputes each record's CRC from the record it rebuilt and
// checks the chunk's CRC of them before it hands out any of the chunk's
// records: a record that does not come out as it went in fails the check
// as surely as its own CRC would.
var compactMagic = []byte("VJC1")

const (
	// chunkSize is the plain size after which a chunk ends.
	chunkSize = 64 << 10
	// peekSize is the read buffer of the expander.
	peekSize = 64 << 10
)

// errNotCompact means a segment cannot be written in the compact form
// (a record does not decode, or seqs are not consecutive).
var errNotCompact = errors.New("journal: segment not compactable")

// compactor writes a plain segment's records in the compact form.
type compactor struct {
	w       io.Writer
	chunk   []byte // compact encoding of the current chunk's records
	k       int    // records in chunk
	crc     uint32 // CRC-32C of the chunk's records' CRCs
	plain   int    // plain bytes in the chunk
	next    uint64 // the seq the next record must have; 0 before the first
	time    int64
	input   string
	peer    string
	started bool
}

// add appends one record, given decoded (rec) and in its plain bytes. A
// record that decodes encodes to exactly its plain bytes again (see
// FuzzDecodeRecord), so the expander gives back the same bytes.
func (c *compactor) add(rec *Record, plain []byte) error {
	if !c.started {
		hdr := binary.AppendUvarint(append([]byte(nil), compactMagic...), rec.Seq)
		if _, err := c.w.Write(hdr); err != nil {
			return err
		}
		c.started, c.next = true, rec.Seq
	}
	if rec.Seq != c.next {
		return errNotCompact
	}
	c.next++
	t := unixNano(rec.Time)
	c.chunk = binary.AppendVarint(c.chunk, t-c.time)
	c.time = t
	flags := rec.Flags
	if len(rec.Origin) > 0 {
		flags |= FlagOrigin
	}
	c.chunk = append(c.chunk, flags)
	c.chunk = appendRef(c.chunk, rec.Input, &c.input)
	c.chunk = appendRef(c.chunk, rec.Peer, &c.peer)
	c.chunk = binary.AppendUvarint(c.chunk, uint64(len(rec.Data)))
	c.chunk = append(c.chunk, rec.Data...)
	if len(rec.Origin) > 0 {
		c.chunk = binary.AppendUvarint(c.chunk, uint64(len(rec.Origin)))
		c.chunk = append(c.chunk, rec.Origin...)
	}
	c.k++
	c.crc = crc32.Update(c.crc, castagnoli, plain[4:headerSize])
	c.plain += len(plain)
	if c.plain >= chunkSize {
		return c.flush()
	}
	return nil
}

// appendRef appends s as 0 if it equals *prev, else as len+1 and its bytes.
func appendRef(dst []byte, s string, prev *string) []byte {
	if s == *prev {
		return append(dst, 0)
	}
	*prev = s
	dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	return append(dst, s...)
}

// flush writes the current chunk.
func (c *compactor) flush() error {
	if c.k == 0 {
		return nil
	}
	hdr := binary.AppendUvarint(nil, uint64(c.k))
	c.chunk = binary.LittleEndian.AppendUint32(c.chunk, c.crc)
	_, err := c.w.Write(hdr)
	if err == nil {
		_, err = c.w.Write(c.chunk)
	}
	c.chunk, c.k, c.crc, c.plain = c.chunk[:0], 0, 0, 0
	return err
}

// writeCompact reads a plain segment from in and writes its compact form to
// w. It returns errNotCompact if a record does not decode exactly or breaks
// the sequence; w then holds a partial stream. A segment without records
// gives an empty stream. done aborts it with errStopped.
func writeCompact(w io.Writer, in io.Reader, done <-chan struct{}) error {
	c := compactor{w: w}
	rb := recBuf{b: make([]byte, readBufSize)}
	var rec Record
	eof := false
	for {
		n, err := decodeRecord(rb.unread(), &rec)
		if err == nil {
			if err := c.add(&rec, rb.unread()[:n]); err != nil {
				return err
			}
			rb.r += n
			continue
		}
		if !errors.Is(err, errShort) {
			return errNotCompact
		}
		if eof {
			if len(rb.unread()) > 0 {
				return errNotCompact
			}
			return c.flush()
		}
		select {
		case <-done:
			return errStopped
		default:
		}
		if _, err := rb.fill(in); err != nil {
			if !errors.Is(err, io.EOF) {
				return err
			}
			eof = true
		}
	}
}

// expander reads a decompressed segment in either form and returns the
// plain segment: the compact form expanded, the plain form as it is.
type expander struct {
	br      *bufio.Reader
	compact bool
	started bool
	out     []byte // expanded bytes not yet read are out[off:]
	off     int
	rec     Record
	next    uint64
	time    int64
}

// reset makes e read src from its start.
func (e *expander) reset(src io.Reader) {
	if e.br == nil {
		e.br = bufio.NewReaderSize(src, peekSize)
	} else {
		e.br.Reset(src)
	}
	e.compact, e.started = false, false
	e.out, e.off = e.out[:0], 0
	e.rec = Record{Data: e.rec.Data[:0]}
	e.next, e.time = 0, 0
}

// Read implements io.Reader. A damaged compact stream gives an error wrapping
// ErrCorrupt, and none of the damaged chunk's bytes.
func (e *expander) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		magic, err := e.br.Peek(len(compactMagic))
		if err == nil && bytes.Equal(magic, compactMagic) {
			e.br.Discard(len(compactMagic))
			e.compact = true
			if e.next, err = binary.ReadUvarint(e.br); err != nil {
				return 0, compactErr(err)
			}
		}
	}
	if !e.compact {
		return e.br.Read(p)
	}
	if e.off == len(e.out) {
		if err := e.chunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.out[e.off:])
	e.off += n
	return n, nil
}

// chunk expands the next chunk into e.out. It returns io.EOF at the end.
func (e *expander) chunk() error {
	e.out, e.off = e.out[:0], 0
	k, err := binary.ReadUvarint(e.br)
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return compactErr(err)
	}
	if k == 0 {
		return corruptf("compact segment: empty chunk")
	}
	r := &e.rec
	var crc uint32
	for ; k > 0; k-- {
		d, err := binary.ReadVarint(e.br)
		if err != nil {
			return compactErr(err)
		}
		e.time += d
		flags, err := e.br.ReadByte()
		if err != nil {
			return compactErr(err)
		}
		if err := e.readRef(&r.Input); err != nil {
			return err
		}
		if err := e.readRef(&r.Peer); err != nil {
			return err
		}
		if r.Data, err = e.readField(r.Data); err != nil {
			return err
		}
		r.Origin = r.Origin[:0]
		if flags&FlagOrigin != 0 {
			if r.Origin, err = e.readField(r.Origin); err != nil {
				return err
			}
			if len(r.Origin) == 0 {
				return corruptf("compact segment: empty origin")
			}
		}
		r.Seq, r.Flags = e.next, flags&^FlagOrigin
		r.Time = time.Unix(0, e.time)
		if bodyLen(r) > maxBodySize {
			return corruptf("compact segment: record %d too large", r.Seq)
		}
		e.next++
		start := len(e.out)
		e.out = appendRecord(e.out, r)
		crc = crc32.Update(crc, castagnoli, e.out[start+4:start+headerSize])
		if len(e.out) >= chunkSize && k > 1 {
			// The compactor ends a chunk there: this is no chunk of it.
			return corruptf("compact segment: chunk longer than %d bytes", chunkSize)
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(e.br, sum[:]); err != nil {
		return compactErr(err)
	}
	if crc != binary.LittleEndian.Uint32(sum[:]) {
		e.out = e.out[:0]
		return corruptf("compact segment: chunk checksum mismatch before seq %d", e.next)
	}
	return nil
}

// readRef reads an input or peer: 0 keeps *s, otherwise len+1 and the bytes.
func (e *expander) readRef(s *string) error {
	v, err := binary.ReadUvarint(e.br)
	if err != nil {
		return compactErr(err)
	}
	if v == 0 {
		return nil
	}
	b, err := e.readN(v - 1)
	if err != nil {
		return err
	}
	if string(b) != *s {
		*s = string(b)
	}
	return nil
}

// readField reads a uvarint-prefixed field into buf[:0].
func (e *expander) readField(buf []byte) ([]byte, error) {
	v, err := binary.ReadUvarint(e.br)
	if err != nil {
		return nil, compactErr(err)
	}
	if v > maxBodySize {
		return nil, corruptf("compact segment: field of %d bytes", v)
	}
	if uint64(cap(buf)) < v {
		buf = make([]byte, v)
	}
	buf = buf[:v]
	if _, err := io.ReadFull(e.br, buf); err != nil {
		return nil, compactErr(err)
	}
	return buf, nil
}

// readN returns the next n bytes (at most maxBodySize); they are valid until
// the next read.
func (e *expander) readN(n uint64) ([]byte, error) {
	if n > maxBodySize {
		return nil, corruptf("compact segment: field of %d bytes", n)
	}
	if n <= peekSize {
		b, err := e.br.Peek(int(n))
		if err != nil {
			return nil, compactErr(err)
		}
		e.br.Discard(int(n))
		return b, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(e.br, b); err != nil {
		return nil, compactErr(err)
	}
	return b, nil
}

// compactErr turns a premature end of a compact stream into a corruption
// error; other errors (of the decompressor, a varint overflow) are wrapped.
func compactErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("compact segment: cut short")
	}
	return fmt.Errorf("journal: read compact segment: %w", err)
}
