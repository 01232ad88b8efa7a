package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	walExt    = ".wal"
	zstExt    = ".wal.zst"
	tmpExt    = ".tmp"
	seqDigits = 20
	// corruptDir holds the bytes cut off corrupt tails at Open.
	corruptDir = "corrupt"
	// readBufSize is the initial size of read buffers.
	readBufSize = 256 << 10
)

// segment is one segment file as the journal's list knows it. Its fields are
// guarded by Journal.pubMu (first never changes).
type segment struct {
	first      uint64 // seq of the first record, from the file name
	next       uint64 // seq after the last record; 0 if unknown (sealed at Open)
	end        int64  // uncompressed bytes readers may read; -1 if unknown (.zst at Open)
	size       int64  // bytes on disk
	maxTime    int64  // receive time of the newest record, Unix ns (mtime for segments sealed before Open)
	sealed     bool
	compressed bool
}

// segBase returns the file name of the segment starting at first, without extension.
func segBase(first uint64) string {
	return fmt.Sprintf("%0*d", seqDigits, first)
}

// walPath returns the path of the uncompressed segment starting at first.
func walPath(dir string, first uint64) string {
	return filepath.Join(dir, segBase(first)+walExt)
}

// zstPath returns the path of the compressed segment starting at first.
func zstPath(dir string, first uint64) string {
	return filepath.Join(dir, segBase(first)+zstExt)
}

// parseSegName parses a segment file name. ok is false for any other name.
func parseSegName(name string) (first uint64, compressed, ok bool) {
	var base string
	switch {
	case strings.HasSuffix(name, zstExt):
		base, compressed = strings.TrimSuffix(name, zstExt), true
	case strings.HasSuffix(name, walExt):
		base = strings.TrimSuffix(name, walExt)
	default:
		return 0, false, false
	}
	if len(base) != seqDigits {
		return 0, false, false
	}
	for i := 0; i < len(base); i++ {
		if base[i] < '0' || base[i] > '9' {
			return 0, false, false
		}
	}
	first, err := strconv.ParseUint(base, 10, 64)
	if err != nil || first == 0 {
		return 0, false, false
	}
	return first, compressed, true
}

// fileSrc reads a file sequentially from off up to limit with ReadAt, so the
// limit can grow while the file is written by another descriptor.
type fileSrc struct {
	f     *os.File
	off   int64
	limit int64
}

// Read implements io.Reader. It returns io.EOF at limit.
func (s *fileSrc) Read(p []byte) (int, error) {
	if s.off >= s.limit {
		return 0, io.EOF
	}
	if rest := s.limit - s.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.f.ReadAt(p, s.off)
	s.off += int64(n)
	if errors.Is(err, io.EOF) {
		if n > 0 {
			return n, nil
		}
		return 0, fmt.Errorf("journal: %s is shorter than expected (%d bytes): %w", s.f.Name(), s.limit, io.ErrUnexpectedEOF)
	}
	return n, err
}

// scanResult describes the valid prefix of a segment.
type scanResult struct {
	next    uint64 // seq after the last valid record
	good    int64  // bytes of valid records
	maxTime int64  // newest receive time among valid records, Unix ns
	err     error  // why scanning stopped early: nil at a clean end
}

// scanSegment reads records from src, which holds a segment whose first record
// has seq first, and stops at the end or at the first record that is
// incomplete, corrupt or out of sequence.
func scanSegment(src io.Reader, first uint64) scanResult {
	res := scanResult{next: first}
	rb := recBuf{b: make([]byte, readBufSize)}
	var rec Record
	eof := false
	for {
		n, err := decodeRecord(rb.unread(), &rec)
		switch {
		case err == nil:
			if rec.Seq != res.next {
				res.err = corruptf("seq %d where %d was expected", rec.Seq, res.next)
				return res
			}
			rb.r += n
			res.good += int64(n)
			res.next++
			if t := unixNano(rec.Time); t > res.maxTime {
				res.maxTime = t
			}
			continue
		case !errors.Is(err, errShort):
			res.err = err
			return res
		}
		if eof {
			if len(rb.unread()) > 0 {
				res.err = corruptf("incomplete record of %d bytes at the end", len(rb.unread()))
			}
			return res
		}
		if _, err := rb.fill(src); err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
				return res
			}
			eof = true
		}
	}
}

// syncDir fsyncs a directory so that entries created, renamed or removed in it
// are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: sync dir %s: %w", dir, err)
	}
	return nil
}
