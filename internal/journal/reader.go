package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
)

// Reader reads the journal's records in seq order. A durable Reader (from
// OpenReader) has a name and a committed cursor that survives restarts; an
// ad-hoc Reader (from ReaderAt) has neither. Next and Close must be called
// from one goroutine at a time (cancel Next's context to stop a blocked Next
// from elsewhere); Position, Commit and Committed may be called from any
// goroutine, e.g. from a periodic committer.
type Reader struct {
	j      *Journal
	name   string // "" for ad-hoc readers
	pos    uint64 // seq of the next record Next returns; owned by Next
	posPub atomic.Uint64
	closed atomic.Bool
	lost   prometheus.Counter // nil for ad-hoc readers

	commitMu  sync.Mutex // serializes Commit
	committed atomic.Uint64

	// The segment being read; seg == nil between segments.
	seg   *segment
	file  *os.File
	zst   bool
	plain fileSrc       // source of an uncompressed segment
	dec   *zstd.Decoder // reused across compressed segments
	exp   expander      // the plain segment from dec
	rb    recBuf
	rec   Record // decode target; keeps Input and Peer strings for reuse
}

// OpenReader opens the durable reader of consumer name ([a-z0-9_-]+). It
// starts at the consumer's committed cursor, or at FirstSeq if it never
// committed. Only one Reader per name may be open at a time.
func (j *Journal) OpenReader(name string) (*Reader, error) {
	if !validName(name) {
		return nil, fmt.Errorf("journal: invalid consumer name %q (want [a-z0-9_-]+, at most %d bytes)", name, maxNameLen)
	}
	if j.isClosed() {
		return nil, ErrClosed
	}
	j.curMu.Lock()
	defer j.curMu.Unlock()
	if j.openNames[name] {
		return nil, fmt.Errorf("journal: consumer %q already has an open reader", name)
	}
	seq, ok, err := readCursor(filepath.Join(j.dir, cursorDir, name))
	if err != nil {
		return nil, err
	}
	r := &Reader{j: j, name: name, lost: j.m.lost.WithLabelValues(name)}
	if ok {
		j.cursors[name] = seq
		r.committed.Store(seq)
		r.pos = seq
		if next := j.NextSeq(); seq > next {
			// Records the consumer had committed were lost (e.g. an unsynced
			// tail cut after a power loss): new records reuse their seqs.
			j.log.Error("journal: consumer cursor is beyond the end of the journal; resuming at the end",
				"consumer", name, "cursor", seq, "next_seq", next)
			r.pos = next
		}
	} else {
		r.pos = j.FirstSeq()
	}
	j.openNames[name] = true
	r.posPub.Store(r.pos)
	return r, nil
}

// ReaderAt returns an ad-hoc reader (no durable cursor) starting at seq, or
// at FirstSeq if seq is below it.
func (j *Journal) ReaderAt(seq uint64) (*Reader, error) {
	if j.isClosed() {
		return nil, ErrClosed
	}
	r := &Reader{j: j, pos: max(seq, j.FirstSeq())}
	r.posPub.Store(r.pos)
	return r, nil
}

// isClosed reports whether Close was called.
func (j *Journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

// Next reads up to max records (at least 1), appending them to dst[:0], and
// returns the extended slice. It blocks until at least one record is
// available, ctx is done (it returns ctx.Err()) or the journal is closed
// (ErrClosed). Records that are available are returned even if ctx is
// already done, so a done ctx makes Next a non-blocking poll. It may return
// fewer than max records even when more are available, e.g. at the end of a
// segment.
//
// The returned records' Data aliases the Reader's internal buffer and is
// valid only until the next call of Next or Close; copy it to keep it. Input
// and Peer are ordinary strings.
//
// Records the reader cannot read because retention deleted them (or, in a
// sealed segment, because they are corrupt) are skipped: the reader logs
// them and, if durable, counts them in
// vigil_journal_consumer_lost_records_total.
func (r *Reader) Next(ctx context.Context, dst []Record, max int) ([]Record, error) {
	dst = dst[:0]
	if r.closed.Load() {
		return dst, ErrClosed
	}
	if max < 1 {
		max = 1
	}
	defer func() { r.posPub.Store(r.pos) }()
	for {
		if r.j.closedFlag.Load() {
			return dst, ErrClosed
		}
		if r.seg == nil {
			if err := r.openSeg(); err != nil {
				return dst, err
			}
		}
		for len(dst) < max {
			n, err := decodeRecord(r.rb.unread(), &r.rec)
			if err != nil {
				if errors.Is(err, errShort) {
					break
				}
				if len(dst) > 0 {
					return dst, nil // report the corruption on the next call
				}
				if err := r.corrupt(err); err != nil {
					return dst, err
				}
				break
			}
			r.rb.r += n
			seq := r.rec.Seq
			if seq < r.pos {
				continue // before the start position
			}
			if seq > r.pos {
				r.lose(seq-r.pos, "gap in segment")
			}
			dst = append(dst, r.rec)
			r.pos = seq + 1
		}
		if len(dst) > 0 {
			// Refilling the buffer would overwrite the records' Data.
			return dst, nil
		}
		if r.seg == nil {
			continue // corrupt() moved on to the next segment
		}
		n, sealed, err := r.fill()
		if n > 0 {
			continue
		}
		if err != nil {
			if r.zst && !errors.Is(err, io.EOF) {
				// A damaged zstd stream.
				if err := r.corrupt(err); err != nil {
					return dst, err
				}
				continue
			}
			if !errors.Is(err, io.EOF) {
				return dst, fmt.Errorf("journal: read segment %s: %w", segBase(r.seg.first), err)
			}
		}
		if err == nil {
			continue
		}
		// At the end of what is readable now.
		if sealed {
			if len(r.rb.unread()) > 0 {
				if err := r.corrupt(corruptf("incomplete record of %d bytes at the end", len(r.rb.unread()))); err != nil {
					return dst, err
				}
				continue
			}
			if err := r.nextSeg(); err != nil {
				return dst, err
			}
			continue
		}
		if err := r.wait(ctx); err != nil {
			return dst, err
		}
	}
}

// fill reads more of the current segment into the buffer. sealed reports
// whether the segment's end is final (so io.EOF means the segment is done).
func (r *Reader) fill() (n int, sealed bool, err error) {
	if r.zst {
		n, err = r.rb.fill(&r.exp)
		return n, true, err
	}
	r.j.pubMu.Lock()
	r.plain.limit = r.seg.end
	sealed = r.seg.sealed
	r.j.pubMu.Unlock()
	n, err = r.rb.fill(&r.plain)
	return n, sealed, err
}

// wait blocks until the active segment being read grows or is sealed.
func (r *Reader) wait(ctx context.Context) error {
	j := r.j
	j.pubMu.Lock()
	if r.seg.sealed || r.seg.end > r.plain.off {
		j.pubMu.Unlock()
		return nil
	}
	j.waiting = true
	ch := j.notify
	j.pubMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-j.closedCh:
		return ErrClosed
	}
}

// openSeg opens the segment holding r.pos, skipping records deleted by
// retention or missing.
func (r *Reader) openSeg() error {
	j := r.j
	for attempt := 0; ; attempt++ {
		j.pubMu.Lock()
		var lost uint64
		if first := j.segs[0].first; r.pos < first {
			if !covers(j.meta.skips, r.pos, first) {
				lost = first - r.pos
			}
			r.pos = first
		}
		s := j.findSegLocked(r.pos)
		compressed, sealed := s.compressed, s.sealed
		next := j.nextSegLocked(s)
		j.pubMu.Unlock()
		r.lose(lost, "deleted by retention")

		path := walPath(j.dir, s.first)
		if compressed {
			path = zstPath(j.dir, s.first)
		}
		f, err := os.Open(path)
		if err != nil {
			if !isNotExist(err) {
				return fmt.Errorf("journal: open segment: %w", err)
			}
			if attempt < 3 {
				continue // compressed or deleted meanwhile: look again
			}
			if !sealed || next == nil {
				return fmt.Errorf("journal: open segment: %w", err)
			}
			j.log.Error("journal: segment file is missing", "segment", segBase(s.first))
			if next.first > r.pos {
				if !j.skipped(r.pos, next.first) {
					r.lose(next.first-r.pos, "segment file missing")
				}
				r.pos = next.first
			}
			attempt = -1
			continue
		}
		r.seg, r.file, r.zst = s, f, compressed
		r.rb.reset()
		if r.rb.b == nil {
			r.rb.b = make([]byte, readBufSize)
		}
		if !compressed {
			r.plain = fileSrc{f: f}
			return nil
		}
		if r.dec == nil {
			r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
			if err != nil {
				r.closeSeg()
				return fmt.Errorf("journal: zstd decoder: %w", err)
			}
		}
		if err := r.dec.Reset(f); err != nil {
			return r.corrupt(err)
		}
		r.exp.reset(r.dec)
		return nil
	}
}

// nextSeg moves past the exhausted sealed segment being read.
func (r *Reader) nextSeg() error {
	r.j.pubMu.Lock()
	next := r.j.nextSegLocked(r.seg)
	r.j.pubMu.Unlock()
	if next == nil {
		return fmt.Errorf("journal: sealed segment %s has no successor", segBase(r.seg.first))
	}
	if next.first > r.pos {
		if !r.j.skipped(r.pos, next.first) {
			r.lose(next.first-r.pos, "missing from sealed segment")
		}
		r.pos = next.first
	}
	r.closeSeg()
	return nil
}

// corrupt handles unreadable data in the current segment: in a sealed
// segment it logs, counts the records skipped as lost and moves to the next
// segment; in the active segment it returns an error.
func (r *Reader) corrupt(cause error) error {
	r.j.pubMu.Lock()
	sealed := r.seg.sealed || r.zst
	next := r.j.nextSegLocked(r.seg)
	r.j.pubMu.Unlock()
	if !sealed || next == nil {
		return fmt.Errorf("journal: read segment %s at seq %d: %w", segBase(r.seg.first), r.pos, cause)
	}
	r.j.log.Error("journal: corrupt sealed segment; skipping the rest of it",
		"segment", segBase(r.seg.first), "seq", r.pos, "consumer", r.name, "err", cause)
	if next.first > r.pos {
		r.lose(next.first-r.pos, "corrupt segment")
		r.pos = next.first
	}
	r.closeSeg()
	return nil
}

// lose accounts for n records the reader skipped.
func (r *Reader) lose(n uint64, why string) {
	if n == 0 {
		return
	}
	if r.lost == nil {
		r.j.log.Warn("journal: reader skipped records", "records", n, "reason", why, "next_seq", r.pos+n)
		return
	}
	r.j.log.Error("journal: consumer lost records", "consumer", r.name, "records", n, "reason", why)
	r.lost.Add(float64(n))
}

// closeSeg closes the current segment file.
func (r *Reader) closeSeg() {
	if r.file != nil {
		r.file.Close()
	}
	r.seg, r.file, r.zst = nil, nil, false
	r.rb.reset()
}

// Rewind moves the reader back to seq so that Next reads records again;
// its committed cursor is unchanged. A consumer that feeds a later stage
// with its own checkpoint (the detector behind the indexer) uses it to
// start at the older of the two positions; an output, to send a failed
// batch again. Records below FirstSeq are gone: the next Next counts them
// as lost by retention. Call it from the goroutine that calls Next.
func (r *Reader) Rewind(seq uint64) {
	if seq >= r.pos {
		return
	}
	r.closeSeg()
	r.pos = seq
	r.posPub.Store(seq)
}

// Position returns the seq of the next record Next will return.
func (r *Reader) Position() uint64 { return r.posPub.Load() }

// Commit durably records that all records below seq are processed: the
// consumer resumes at seq after a restart. It writes a temp file, fsyncs it,
// renames it over cursors/<name> and fsyncs the directory, so it costs a few
// milliseconds: call it about once per second, not per record. Committing
// the current value again is free. seq must not exceed NextSeq.
func (r *Reader) Commit(seq uint64) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if r.name == "" {
		return errors.New("journal: commit on an ad-hoc reader")
	}
	if next := r.j.NextSeq(); seq > next {
		return fmt.Errorf("journal: commit %s: seq %d is beyond the next seq %d", r.name, seq, next)
	}
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if seq == r.committed.Load() {
		return nil
	}
	if err := writeCursor(filepath.Join(r.j.dir, cursorDir), r.name, seq); err != nil {
		return err
	}
	r.committed.Store(seq)
	r.j.curMu.Lock()
	r.j.cursors[r.name] = seq
	r.j.curMu.Unlock()
	return nil
}

// Committed returns the last committed cursor, 0 if the consumer never committed.
func (r *Reader) Committed() uint64 { return r.committed.Load() }

// Close releases the reader's files. It does not commit.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.closeSeg()
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
	if r.name != "" {
		r.j.curMu.Lock()
		delete(r.j.openNames, r.name)
		r.j.curMu.Unlock()
	}
	return nil
}
