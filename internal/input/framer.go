package input

import (
	"bytes"
	"errors"
	"io"

	"github.com/vigil-soc/vigil/internal/journal"
)

const (
	// MaxOctetCount is the largest message length accepted in an
	// octet-counted frame header. A larger count is a framing error.
	MaxOctetCount = 16 << 20

	// maxHeaderLen is the longest possible octet-count header: the eight
	// digits of MaxOctetCount and a space.
	maxHeaderLen = 9

	minFramerBuf = 16 << 10
	maxFramerBuf = 256 << 10
)

// errFramerFull is returned by Fill when the caller did not drain Next first.
var errFramerFull = errors.New("input: framer buffer full (Next not drained)")

// bufAccount is asked before a Framer's buffer grows beyond minFramerBuf
// and told when it shrinks. need says the buffer is full with one
// incomplete frame: without growing, Fill cannot read. grow returns false
// to keep the buffer as it is (only without need), or an error that Fill
// returns.
type bufAccount interface {
	grow(n int, need bool) (bool, error)
	shrink(n int)
}

// FramerStats counts the irregular frames a Framer met.
type FramerStats struct {
	// FramingErrors counts frames that started with a digit but had no valid
	// octet count; they were kept as LF-terminated lines.
	FramingErrors uint64
	// Truncated counts messages longer than the size limit; only their first
	// bytes were kept and they carry journal.FlagTruncated.
	Truncated uint64
	// TruncatedFrames counts frames cut short by the end of the stream.
	TruncatedFrames uint64
	// DiscardedBytes counts message bytes dropped beyond the size limit.
	DiscardedBytes uint64
}

// Framer splits a syslog byte stream (TCP or TLS) into messages, detecting
// the framing of each frame on its own as RFC 6587 describes: a frame that
// starts with a non-zero digit is octet-counted ("LEN SP MSG"), any other
// frame is non-transparent and ends at LF or NUL (a CR before the LF is
// removed). Empty lines are skipped. A digit-led frame whose count is not
// followed by a space, or exceeds MaxOctetCount, is counted as a framing
// error and read as a line instead, so no bytes are dropped.
//
// Messages longer than the size limit are cut to it, flagged
// journal.FlagTruncated, and the rest of their frame is discarded.
//
// The usual loop is Fill, then Next until it reports false, then Fill again;
// once Fill returns an error, End until it reports false. Messages returned
// by Next and End share the Framer's buffer and are valid only until the
// next call to Fill. A Framer is not safe for concurrent use.
type Framer struct {
	buf   []byte
	r, w  int // unread bytes are buf[r:w]
	max   int // message size limit
	limit int // largest buffer size

	skip     int  // bytes of an oversized octet-counted frame still to discard
	skipLine bool // discarding the rest of an oversized line
	line     bool // the frame at r is known to be a line (bad octet count)
	grow     bool // the last read filled the buffer: grow it
	stats    FramerStats

	acct bufAccount // nil: no limit
}

// NewFramer returns a Framer that cuts messages longer than maxMsg bytes
// (maxMsg <= 0 means 65536; it is capped at MaxOctetCount).
func NewFramer(maxMsg int) *Framer {
	if maxMsg <= 0 {
		maxMsg = 65536
	}
	maxMsg = min(maxMsg, MaxOctetCount)
	limit := max(maxFramerBuf, maxMsg+2*maxHeaderLen)
	return &Framer{
		buf:   make([]byte, min(minFramerBuf, limit)),
		max:   maxMsg,
		limit: limit,
	}
}

// Fill reads once from rd into the Framer's buffer and returns what Read
// returned. Messages returned earlier by Next become invalid.
//
// The buffer grows when it is full with one incomplete frame (doubling,
// but not beyond what an octet-counted frame needs), and up to 256 KiB
// when the last read filled it; it shrinks back to 256 KiB once a long
// frame is consumed.
func (f *Framer) Fill(rd io.Reader) (int, error) {
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	if err := f.resize(); err != nil {
		return 0, err
	}
	f.grow = false
	if f.w == len(f.buf) {
		return 0, errFramerFull
	}
	n, err := rd.Read(f.buf[f.w:])
	if n < 0 || n > len(f.buf)-f.w {
		return 0, errors.New("input: invalid Read count")
	}
	f.w += n
	f.grow = f.w == len(f.buf)
	return n, err
}

// resize grows or shrinks the buffer before a read, asking f.acct.
func (f *Framer) resize() error {
	size := len(f.buf)
	need := f.w == size
	switch {
	case need && size < f.limit:
		size = min(f.limit, 2*size)
		if n := f.frameSize(); n > len(f.buf) && n < size {
			size = n
		}
	case f.grow && size < maxFramerBuf:
		// Read more per call from a busy connection; only long frames
		// make the buffer larger than maxFramerBuf.
		size = min(maxFramerBuf, 2*size)
	case size > maxFramerBuf && f.w <= maxFramerBuf/2:
		size = maxFramerBuf
	default:
		return nil
	}
	if f.acct != nil {
		// Only the bytes beyond minFramerBuf are accounted for.
		old, nw := max(len(f.buf), minFramerBuf), max(size, minFramerBuf)
		if nw < old {
			f.acct.shrink(old - nw)
		} else if nw > old {
			ok, err := f.acct.grow(nw-old, need)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
	}
	nb := make([]byte, size)
	copy(nb, f.buf[:f.w])
	f.buf = nb
	return nil
}

// frameSize returns the buffer size the octet-counted frame at the start
// of the buffer needs (header and message, or its first max bytes), or 0
// when the frame is not octet-counted or its header is incomplete.
func (f *Framer) frameSize() int {
	if f.r != 0 || f.skip > 0 || f.skipLine || f.line || f.w == 0 || f.buf[0] < '1' || f.buf[0] > '9' {
		return 0
	}
	n, hdr, st := parseCount(f.buf[:f.w])
	if st != countOK {
		return 0
	}
	return hdr + min(n, f.max)
}

// Buffered returns the number of unread bytes in the buffer.
func (f *Framer) Buffered() int { return f.w - f.r }

// TakeStats returns the counts gathered since the last call and resets them.
func (f *Framer) TakeStats() FramerStats {
	s := f.stats
	f.stats = FramerStats{}
	return s
}

// Next returns the next complete message in the buffer and its journal
// flags, or ok == false when more input is needed.
func (f *Framer) Next() (msg []byte, flags uint8, ok bool) {
	for {
		if f.skip > 0 {
			n := min(f.skip, f.w-f.r)
			f.r += n
			f.skip -= n
			f.stats.DiscardedBytes += uint64(n)
			if f.skip > 0 {
				return nil, 0, false
			}
		}
		if f.skipLine {
			i := indexTerm(f.buf[f.r:f.w])
			if i < 0 {
				f.stats.DiscardedBytes += uint64(f.w - f.r)
				f.r = f.w
				return nil, 0, false
			}
			f.stats.DiscardedBytes += uint64(i)
			f.r += i + 1
			f.skipLine = false
		}
		if f.r == f.w {
			return nil, 0, false
		}
		c := f.buf[f.r]
		if c == '\n' || c == 0 {
			f.r++ // empty line
			continue
		}
		if c >= '1' && c <= '9' && !f.line {
			n, hdr, st := parseCount(f.buf[f.r:f.w])
			switch st {
			case countMore:
				return nil, 0, false
			case countOK:
				body := f.buf[f.r+hdr : f.w]
				if n <= f.max {
					if len(body) < n {
						return nil, 0, false
					}
					f.r += hdr + n
					return body[:n:n], 0, true
				}
				if len(body) < f.max {
					return nil, 0, false
				}
				f.r += hdr + f.max
				f.skip = n - f.max
				f.stats.Truncated++
				return body[:f.max:f.max], journal.FlagTruncated, true
			default:
				f.stats.FramingErrors++
				f.line = true
			}
		}
		win := f.buf[f.r:min(f.w, f.r+f.max+2)]
		i := indexTerm(win)
		if i < 0 {
			if len(win) < f.max+2 {
				return nil, 0, false
			}
			// Longer than the limit and still no terminator: keep the
			// first bytes and discard up to the end of the line.
			f.r += len(win)
			f.line = false
			f.skipLine = true
			f.stats.Truncated++
			f.stats.DiscardedBytes += uint64(len(win) - f.max)
			return win[:f.max:f.max], journal.FlagTruncated, true
		}
		f.r += i + 1
		f.line = false
		msg = win[:i:i]
		if i > 0 && msg[i-1] == '\r' {
			msg = msg[: i-1 : i-1]
		}
		if len(msg) == 0 {
			continue
		}
		if len(msg) > f.max {
			f.stats.Truncated++
			f.stats.DiscardedBytes += uint64(len(msg) - f.max)
			return msg[:f.max:f.max], journal.FlagTruncated, true
		}
		return msg, 0, true
	}
}

// End is Next for a stream that has ended: once no complete message is
// left, it returns the partial frame still in the buffer (an octet-counted
// frame cut short is flagged journal.FlagTruncated; both kinds, and an
// oversized line without its end, are counted in TruncatedFrames), then
// reports false.
func (f *Framer) End() (msg []byte, flags uint8, ok bool) {
	if msg, flags, ok = f.Next(); ok {
		return msg, flags, ok
	}
	if f.skip > 0 {
		f.skip = 0
		f.stats.TruncatedFrames++
		return nil, 0, false
	}
	if f.skipLine {
		// An oversized line whose end never came.
		f.skipLine = false
		f.stats.TruncatedFrames++
		return nil, 0, false
	}
	if f.r == f.w {
		f.line = false
		return nil, 0, false
	}
	data := f.buf[f.r:f.w]
	f.r = f.w
	f.stats.TruncatedFrames++
	if !f.line && data[0] >= '1' && data[0] <= '9' {
		if _, hdr, st := parseCount(data); st == countOK {
			// Next would have returned the frame had it been complete.
			body := data[hdr:]
			if len(body) == 0 {
				return nil, 0, false
			}
			return body[:len(body):len(body)], journal.FlagTruncated, true
		}
	}
	f.line = false
	if n := len(data); data[n-1] == '\r' {
		data = data[: n-1 : n-1]
	}
	if len(data) == 0 {
		return nil, 0, false
	}
	if len(data) > f.max {
		f.stats.Truncated++
		f.stats.DiscardedBytes += uint64(len(data) - f.max)
		return data[:f.max:f.max], journal.FlagTruncated, true
	}
	return data, 0, true
}

// Results of parseCount.
const (
	countOK   = iota // a valid "LEN SP" header
	countMore        // only digits so far: need more input
	countBad         // not an octet count: read the frame as a line
)

// parseCount parses the octet-count header at the start of b, which starts
// with a non-zero digit. It returns the count and the header's length.
func parseCount(b []byte) (n, hdr, st int) {
	for i, c := range b {
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
			if n > MaxOctetCount {
				return 0, 0, countBad
			}
			continue
		}
		if c == ' ' {
			return n, i + 1, countOK
		}
		return 0, 0, countBad
	}
	return 0, 0, countMore
}

// indexTerm returns the index of the first LF or NUL in b, or -1.
func indexTerm(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, 0)
	}
	if j := bytes.IndexByte(b[:i], 0); j >= 0 {
		return j
	}
	return i
}
