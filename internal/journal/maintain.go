package journal

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"
)

// errStopped aborts a compression when the journal closes.
var errStopped = errors.New("journal: stopped")

// maintainLoop runs retention and compression at start, every
// Options.maintainEvery and after each seal, until Close.
func (j *Journal) maintainLoop() {
	defer j.wg.Done()
	t := time.NewTicker(j.opts.maintainEvery)
	defer t.Stop()
	for {
		j.maintain()
		select {
		case <-j.done:
			return
		case <-t.C:
		case <-j.maintCh:
		}
	}
}

// maintain applies retention, compresses sealed segments if configured, and
// applies retention again (compression shrinks the journal).
func (j *Journal) maintain() {
	j.maintMu.Lock()
	defer j.maintMu.Unlock()
	j.retain()
	if !j.opts.Compress {
		return
	}
	for {
		s := j.nextToCompress()
		if s == nil {
			break
		}
		if err := j.compress(s); err != nil {
			if !errors.Is(err, errStopped) {
				j.log.Error("journal: compress segment", "segment", segBase(s.first), "err", err)
			}
			return
		}
	}
	j.retain()
}

// nextToCompress returns the oldest sealed uncompressed segment that every
// open durable reader has committed past, or nil. Waiting for the readers
// means a consumer that lags a little (the indexer during a burst) reads
// the plain file instead of paying to decompress what was just compressed.
// Sealed segments wait for that only while they total at most
// Options.maxWaiting bytes: a consumer that stopped (an output whose
// receiver is down) must not keep the whole journal uncompressed, where
// retention (MaxSize) would delete what it has not read ten times sooner.
func (j *Journal) nextToCompress() *segment {
	passed := uint64(math.MaxUint64)
	j.curMu.Lock()
	for name := range j.openNames {
		passed = min(passed, j.cursors[name]) // 0 before a first commit
	}
	j.curMu.Unlock()
	j.pubMu.Lock()
	defer j.pubMu.Unlock()
	var waiting int64
	for _, s := range j.segs {
		if s.sealed && !s.compressed {
			waiting += s.size
		}
	}
	for i, s := range j.segs {
		if !s.sealed || s.compressed {
			continue
		}
		if i+1 < len(j.segs) && j.segs[i+1].first <= passed || waiting > j.opts.maxWaiting {
			return s
		}
		return nil
	}
	return nil
}

// compress replaces the sealed segment s by its zstd-compressed copy:
// write to a temp file, fsync, rename, fsync the directory, then remove the
// .wal. Readers that have the .wal open keep reading it.
func (j *Journal) compress(s *segment) (err error) {
	src := walPath(j.dir, s.first)
	dst := zstPath(j.dir, s.first)
	tmp := dst + tmpExt
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if out != nil {
			out.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if j.encoder == nil {
		j.encoder, err = newEncoder(j.opts.CompressLevel)
		if err != nil {
			return err
		}
	}
	err = encodeSegment(j.encoder, out, in, true, j.done)
	if errors.Is(err, errNotCompact) {
		// A record of the sealed segment is damaged: keep the segment as
		// it is, so that readers meet the damage where it is.
		j.log.Warn("journal: sealed segment has a damaged record; compressing it without the compact form", "segment", segBase(s.first))
		err = rewind(in, out)
		if err == nil {
			err = encodeSegment(j.encoder, out, in, false, j.done)
		}
	}
	if err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	fi, err := out.Stat()
	if err != nil {
		return err
	}
	cerr := out.Close()
	out = nil
	if cerr != nil {
		return cerr
	}
	j.pubMu.Lock()
	maxTime := s.maxTime
	j.pubMu.Unlock()
	if maxTime > 0 {
		t := time.Unix(0, maxTime)
		if err := os.Chtimes(tmp, t, t); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	j.pubMu.Lock()
	s.compressed = true
	old := s.size
	s.size = fi.Size()
	j.pubMu.Unlock()
	if err := os.Remove(src); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove compressed .wal: %w", err)
	}
	j.log.Debug("journal: compressed segment", "segment", segBase(s.first), "bytes", old, "compressed", fi.Size())
	return nil
}

// rewind moves in and out back to their starts and empties out.
func rewind(in, out *os.File) error {
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := out.Truncate(0); err != nil {
		return err
	}
	_, err := out.Seek(0, io.SeekStart)
	return err
}

// retain deletes the oldest sealed segments that are too old (MaxAge) or
// while the journal is too large (MaxSize). The active segment is never
// deleted and deletion stops at the first segment that is kept, so the
// retained seqs stay contiguous.
func (j *Journal) retain() {
	if j.opts.MaxAge <= 0 && j.opts.MaxSize <= 0 {
		return
	}
	cutoff := j.opts.now().Add(-j.opts.MaxAge).UnixNano()
	j.pubMu.Lock()
	var total int64
	for _, s := range j.segs {
		total += s.size
	}
	var del []*segment
	var reasons []string
	for len(j.segs) > 1 && j.segs[0].sealed {
		s := j.segs[0]
		reason := ""
		switch {
		case j.opts.MaxAge > 0 && s.maxTime < cutoff:
			reason = "age"
		case j.opts.MaxSize > 0 && total > j.opts.MaxSize:
			reason = "size"
		}
		if reason == "" {
			break
		}
		j.segs = j.segs[1:]
		total -= s.size
		del = append(del, s)
		reasons = append(reasons, reason)
	}
	if len(del) > 0 {
		j.segs = append([]*segment(nil), j.segs...)
	}
	first := j.segs[0].first
	j.pubMu.Unlock()

	for i, s := range del {
		for _, p := range []string{walPath(j.dir, s.first), zstPath(j.dir, s.first)} {
			if err := os.Remove(p); err != nil && !isNotExist(err) {
				j.log.Error("journal: delete segment", "file", p, "err", err)
			}
		}
		j.m.deleted.WithLabelValues(reasons[i]).Inc()
		j.log.Info("journal: deleted segment", "segment", segBase(s.first), "reason", reasons[i],
			"bytes", s.size, "newest", time.Unix(0, s.maxTime).UTC(), "first_seq", first)
	}
}

// CompressLevel is a zstd level for sealed segments: the higher, the
// smaller and the more CPU (TestCompressCost measures them).
type CompressLevel string

// Compression levels.
const (
	// CompressFastest (the default) costs about as much CPU as writing the
	// segment did.
	CompressFastest CompressLevel = "fastest"
	// CompressDefault is zstd's default level (3).
	CompressDefault CompressLevel = "default"
	// CompressBetter is about zstd's level 7: about 2.5 times the CPU of
	// CompressFastest for a fifth less disk.
	CompressBetter CompressLevel = "better"
	// CompressBest is about zstd's level 11: about 6 times the CPU of
	// CompressFastest for a quarter less disk; it suits a journal that
	// takes few messages.
	CompressBest CompressLevel = "best"
)

// compressLevels maps each CompressLevel to zstd's.
var compressLevels = map[CompressLevel]zstd.EncoderLevel{
	CompressFastest: zstd.SpeedFastest,
	CompressDefault: zstd.SpeedDefault,
	CompressBetter:  zstd.SpeedBetterCompression,
	CompressBest:    zstd.SpeedBestCompression,
}

// newEncoder returns the encoder of sealed segments at level, with zstd's
// window for it (4 MiB for fastest, 8 MiB for the others): larger windows
// saved 1-3% and every reader of a compressed segment would need the
// window's memory.
func newEncoder(level CompressLevel) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(compressLevels[level]))
}

// encodeSegment compresses the plain segment read from in to out as one
// zstd frame with enc: in the compact form (compact.go) if compact is set,
// else as it is. It returns errNotCompact if the segment has no compact
// form, and errStopped as soon as done is closed; out is then incomplete.
func encodeSegment(enc *zstd.Encoder, out io.Writer, in io.Reader, compact bool, done <-chan struct{}) error {
	enc.Reset(out)
	var err error
	if compact {
		err = writeCompact(enc, in, done)
	} else {
		err = copyStopping(enc, in, done)
	}
	if err != nil {
		enc.Reset(nil)
		return err
	}
	return enc.Close()
}

// copyStopping copies in to w until io.EOF, or returns errStopped as soon as
// done is closed.
func copyStopping(w io.Writer, in io.Reader, done <-chan struct{}) error {
	buf := make([]byte, 1<<20)
	for {
		select {
		case <-done:
			return errStopped
		default:
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
