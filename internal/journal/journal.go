package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
)

// FsyncPolicy says when appended records are fsynced to stable storage.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncInterval (the default): records are written to the OS by the time
	// Append returns, and fsynced every Options.FsyncInterval.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncAlways: Append returns only after its records are fsynced.
	// Concurrent appenders share one write and one fsync (group commit).
	FsyncAlways FsyncPolicy = "always"
	// FsyncNever: records are written to the OS on Append and fsynced only
	// when a segment is sealed and at Close.
	FsyncNever FsyncPolicy = "never"
)

// Errors returned by the journal.
var (
	// ErrClosed is returned by operations on a closed Journal or Reader.
	ErrClosed = errors.New("journal: closed")
	// ErrCorrupt is wrapped by errors about records that fail to decode.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrTooLarge is wrapped by Append's error for a record whose encoding
	// exceeds 16 MiB + 4 KiB (16 MiB of Data fit with up to 4 KiB less 40
	// bytes of Input and Peer).
	ErrTooLarge = errors.New("journal: record too large")

	// errSeqExhausted is returned when seqs would overflow (only possible
	// with a hand-made segment name near 2^64).
	errSeqExhausted = errors.New("journal: sequence numbers exhausted")
)

// Options configures a Journal. The zero value is usable.
type Options struct {
	// SegmentSize is the size at which the active segment is sealed and a new
	// one started. Default 64 MiB.
	SegmentSize int64
	// Fsync is the fsync policy. Default FsyncInterval.
	Fsync FsyncPolicy
	// FsyncInterval is the fsync period under FsyncInterval. Default 1s.
	FsyncInterval time.Duration
	// MaxAge deletes sealed segments whose newest record was received longer
	// ago. 0 keeps segments forever.
	MaxAge time.Duration
	// MaxSize deletes the oldest sealed segments while the journal's size on
	// disk exceeds it. 0 means unlimited.
	MaxSize int64
	// Compress zstd-compresses sealed segments in the background.
	Compress bool
	// CompressLevel is the zstd level of compressed segments. Default
	// CompressFastest.
	CompressLevel CompressLevel
	// MinFreeDisk makes Append refuse records (with an error wrapping
	// ErrFull) while the journal's file system has fewer bytes free, so
	// that the journal never writes the disk full. 0 disables the check;
	// a write that fails with ENOSPC is refused the same way regardless.
	MinFreeDisk int64
	// Logger receives the journal's logs. Nil discards them.
	Logger *slog.Logger
	// Registerer registers the journal's metrics. Nil means no metrics. Close
	// unregisters them, so a journal can be reopened with the same Registerer.
	Registerer prometheus.Registerer

	// now replaces time.Now (tests).
	now func() time.Time
	// maintainEvery is the retention period. Default 1 minute.
	maintainEvery time.Duration
	// maxWaiting is how many bytes of sealed segments may wait
	// uncompressed for consumers to pass them. Default 16 segments.
	maxWaiting int64
	// files does the active segment's writes (tests inject failures).
	files fileOps
	// statfs returns a directory's free bytes (tests fake it); nil on a
	// system without statfs.
	statfs func(dir string) (int64, error)
}

// withDefaults returns o with defaults filled in, or an error for invalid values.
func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	switch o.Fsync {
	case "":
		o.Fsync = FsyncInterval
	case FsyncInterval, FsyncAlways, FsyncNever:
	default:
		return o, fmt.Errorf("journal: unknown fsync policy %q", o.Fsync)
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
	if o.CompressLevel == "" {
		o.CompressLevel = CompressFastest
	}
	if _, ok := compressLevels[o.CompressLevel]; !ok {
		return o, fmt.Errorf("journal: unknown compression level %q", o.CompressLevel)
	}
	if o.MaxAge < 0 || o.MaxSize < 0 || o.MinFreeDisk < 0 {
		return o, errors.New("journal: negative MaxAge, MaxSize or MinFreeDisk")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.maintainEvery <= 0 {
		o.maintainEvery = time.Minute
	}
	if o.maxWaiting <= 0 {
		o.maxWaiting = 16 * o.SegmentSize
	}
	if o.files == nil {
		o.files = osFiles{}
	}
	if o.statfs == nil && canStatfs {
		o.statfs = diskFree
	}
	return o, nil
}

// Journal is an append-only, segmented, crash-safe log of Records. Its
// methods are safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	log  *slog.Logger
	m    *metrics
	lock *os.File

	space *spaceGuard // refuses appends while the disk is too full

	// Append state, guarded by mu. Appenders encode into pend; one of them at
	// a time (the leader, flushing == true) takes pend, writes it without
	// holding mu and publishes the result.
	mu          sync.Mutex
	cond        sync.Cond // signalled when a flush ends
	pend        []byte    // encoded records not yet handed to the leader
	spare       []byte    // second buffer, swapped with pend
	pendRecs    int
	pendMaxTime int64
	nextSeq     uint64 // seq of the next record to encode
	written     uint64 // records < written are in the file
	synced      uint64 // records < synced are fsynced
	flushing    bool
	epoch       uint64 // incremented when a flush fails: pending records are dropped
	lastErr     error  // the error of the last failed flush
	broken      error  // sticky: the journal can no longer append
	closed      bool
	nextSeqPub  atomic.Uint64 // copy of nextSeq for lock-free readers

	// act is the active segment. Only the leader uses it.
	act *activeSeg

	// Published state, guarded by pubMu. Lock order: mu before pubMu.
	pubMu   sync.Mutex
	segs    []*segment    // sorted by first; the last one is the active one
	notify  chan struct{} // closed and replaced when readers have something new
	waiting bool          // a reader waits on notify

	closedCh   chan struct{} // closed by Close
	closedFlag atomic.Bool

	// meta is the state in the meta file (see meta.go), guarded by mu;
	// its skips are guarded by pubMu too (readers consult them).
	meta meta
	// cut is the number of bytes cut off the active segment's tail at Open.
	cut int64

	// Consumers, guarded by curMu.
	curMu     sync.Mutex
	cursors   map[string]uint64 // committed cursor per consumer
	openNames map[string]bool   // durable readers currently open
	maintMu   sync.Mutex        // serializes maintenance runs
	maintCh   chan struct{}     // wakes the maintenance goroutine
	done      chan struct{}     // closed by Close to stop goroutines
	wg        sync.WaitGroup
	encoder   *zstd.Encoder // used by maintenance, guarded by maintMu
	closeOnce sync.Once
	closeErr  error
}

// activeSeg is the segment being appended to.
type activeSeg struct {
	f    *os.File
	seg  *segment
	size int64
}

// Open opens the journal in dir, creating dir if needed. It recovers from a
// crash: it scans the active (last) segment, cuts off a torn or corrupt tail
// (saving the bytes under corrupt/, counting and logging them) and continues
// the seq numbering after the last good record. Only one Journal may have dir
// open at a time.
func Open(dir string, opts Options) (*Journal, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, cursorDir), 0o700); err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		dir:       dir,
		opts:      opts,
		log:       opts.Logger,
		lock:      lock,
		notify:    make(chan struct{}),
		closedCh:  make(chan struct{}),
		cursors:   make(map[string]uint64),
		openNames: make(map[string]bool),
		maintCh:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	j.cond.L = &j.mu
	j.m = newMetrics(j)
	j.space = newSpaceGuard(dir, opts)
	fail := func(err error) (*Journal, error) {
		if j.act != nil {
			j.act.f.Close()
		}
		lock.Close()
		return nil, err
	}
	m, haveMeta, err := readMeta(dir)
	if err != nil {
		return fail(err)
	}
	if err := j.recover(); err != nil {
		return fail(err)
	}
	if err := j.resume(m, haveMeta); err != nil {
		return fail(err)
	}
	if err := j.loadCursors(); err != nil {
		return fail(err)
	}
	if err := j.m.register(opts.Registerer, j); err != nil {
		return fail(err)
	}
	if j.act.size >= opts.SegmentSize {
		if err := j.rotate(j.nextSeq); err != nil {
			j.m.unregister()
			return fail(err)
		}
	}
	j.wg.Add(1)
	go j.maintainLoop()
	if opts.Fsync == FsyncInterval {
		j.wg.Add(1)
		go j.syncLoop()
	}
	return j, nil
}

// recover builds the segment list from the directory and opens the active segment.
func (j *Journal) recover() error {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	type file struct {
		first    uint64
		wal, zst bool
	}
	files := map[uint64]*file{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if base, ok := strings.CutSuffix(name, tmpExt); ok {
			if _, _, ok := parseSegName(base); ok {
				// An unfinished compression.
				if err := os.Remove(filepath.Join(j.dir, name)); err != nil {
					return fmt.Errorf("journal: open: remove temp file: %w", err)
				}
			}
			continue
		}
		first, zst, ok := parseSegName(name)
		if !ok {
			continue
		}
		f := files[first]
		if f == nil {
			f = &file{first: first}
			files[first] = f
		}
		if zst {
			f.zst = true
		} else {
			f.wal = true
		}
	}
	firsts := make([]uint64, 0, len(files))
	for first, f := range files {
		if f.wal && f.zst {
			// Compression finished (the .zst is renamed into place only when
			// complete) but the crash came before the .wal was removed.
			j.log.Info("journal: removing segment already compressed", "segment", segBase(first))
			if err := os.Remove(walPath(j.dir, first)); err != nil {
				return fmt.Errorf("journal: open: %w", err)
			}
			f.wal = false
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)

	for i, first := range firsts {
		if i == len(firsts)-1 {
			break
		}
		s := &segment{first: first, sealed: true, compressed: files[first].zst, end: -1}
		path := walPath(j.dir, first)
		if s.compressed {
			path = zstPath(j.dir, first)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("journal: open: %w", err)
		}
		s.size = fi.Size()
		if !s.compressed {
			s.end = s.size
		}
		s.maxTime = fi.ModTime().UnixNano()
		j.segs = append(j.segs, s)
	}

	next := uint64(1)
	if len(firsts) > 0 {
		last := files[firsts[len(firsts)-1]]
		if !last.zst {
			return j.recoverActive(last.first)
		}
		// The last segment is compressed (only possible after manual changes):
		// keep it sealed and start a new active segment after its records.
		s, err := j.recoverCompressedLast(last.first)
		if err != nil {
			return err
		}
		if s != nil {
			j.segs = append(j.segs, s)
			next = s.next
		} else {
			next = last.first
		}
	}
	return j.createActive(next)
}

// recoverActive opens the last segment for appending after cutting off any
// corrupt tail.
func (j *Journal) recoverActive(first uint64) error {
	path := walPath(j.dir, first)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: open active segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: open active segment: %w", err)
	}
	size := fi.Size()
	res := scanSegment(&fileSrc{f: f, limit: size}, first)
	if res.err != nil && !errors.Is(res.err, ErrCorrupt) && !errors.Is(res.err, errShort) {
		f.Close()
		return fmt.Errorf("journal: scan %s: %w", path, res.err)
	}
	if res.good < size {
		if err := j.cutTail(f, first, res, size); err != nil {
			f.Close()
			return err
		}
		j.cut = size - res.good
	}
	// What the previous process wrote may not have been fsynced yet.
	if err := j.fsync(f); err != nil {
		f.Close()
		return fmt.Errorf("journal: open active segment: %w", err)
	}
	s := &segment{first: first, next: res.next, end: res.good, size: res.good, maxTime: res.maxTime}
	j.segs = append(j.segs, s)
	j.act = &activeSeg{f: f, seg: s, size: res.good}
	j.setNext(res.next)
	return nil
}

// cutTail saves the bytes after res.good to corrupt/ and truncates f there.
func (j *Journal) cutTail(f *os.File, first uint64, res scanResult, size int64) error {
	n := size - res.good
	saved := filepath.Join(j.dir, corruptDir, fmt.Sprintf("%s.%d.tail", segBase(first), res.good))
	if err := j.saveTail(f, res.good, n, saved); err != nil {
		// Not fatal: the journal must open. The bytes are logged as lost.
		j.log.Error("journal: could not save corrupt tail", "file", saved, "err", err)
		saved = ""
	}
	j.log.Warn("journal: cut torn or corrupt tail of active segment",
		"segment", segBase(first), "offset", res.good, "bytes", n,
		"next_seq", res.next, "reason", res.err, "saved_to", saved)
	j.m.corruptTail.Add(float64(n))
	if err := f.Truncate(res.good); err != nil {
		return fmt.Errorf("journal: truncate corrupt tail of %s: %w", f.Name(), err)
	}
	return nil
}

// saveTail copies n bytes at off of f to a new file at path (or path.N if
// path exists).
func (j *Journal) saveTail(f *os.File, off, n int64, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// Never overwrite an earlier tail cut at the same offset.
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	for i := 1; errors.Is(err, fs.ErrExist) && i < 1000; i++ {
		out, err = os.OpenFile(fmt.Sprintf("%s.%d", path, i), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, off, n))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// recoverCompressedLast scans a compressed last segment. It returns nil if
// the segment holds no valid record, after moving it to corrupt/.
func (j *Journal) recoverCompressedLast(first uint64) (*segment, error) {
	path := zstPath(j.dir, first)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	res := scanResult{next: first}
	if res.err = dec.Reset(f); res.err == nil {
		var exp expander
		exp.reset(dec)
		res = scanSegment(&exp, first)
	}
	dec.Close()
	if res.err != nil {
		j.log.Warn("journal: compressed last segment is damaged", "segment", segBase(first), "next_seq", res.next, "err", res.err)
	}
	if res.next == first {
		dst := filepath.Join(j.dir, corruptDir, segBase(first)+zstExt)
		j.log.Error("journal: compressed last segment holds no valid record; moving it aside", "segment", segBase(first), "to", dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, fmt.Errorf("journal: open: %w", err)
		}
		if err := os.Rename(path, dst); err != nil {
			return nil, fmt.Errorf("journal: open: %w", err)
		}
		return nil, nil
	}
	return &segment{
		first: first, next: res.next, end: -1, size: fi.Size(),
		maxTime: fi.ModTime().UnixNano(), sealed: true, compressed: true,
	}, nil
}

// createActive creates a new empty active segment starting at next. Used by
// Open only.
func (j *Journal) createActive(next uint64) error {
	f, err := createSegment(j.dir, next)
	if err != nil {
		return err
	}
	s := &segment{first: next, next: next}
	j.segs = append(j.segs, s)
	j.act = &activeSeg{f: f, seg: s}
	j.setNext(next)
	return nil
}

// createSegment creates the segment file starting at first and fsyncs the directory.
func createSegment(dir string, first uint64) (*os.File, error) {
	f, err := os.OpenFile(walPath(dir, first), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: create segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// setNext sets the next seq at Open, when everything below it is on disk.
func (j *Journal) setNext(next uint64) {
	j.nextSeq, j.written, j.synced = next, next, next
	j.nextSeqPub.Store(next)
}

// Append appends recs to the journal. It assigns recs[i].Seq (consecutive,
// starting at NextSeq) and sets a zero recs[i].Time to the current time.
// It returns after the records were written to the segment file, so a kill of
// the process after Append returned loses nothing, and under FsyncAlways after
// they were fsynced. On error none of the records was appended (except when
// an fsync fails under FsyncAlways, which breaks the journal: the records may
// be in the file). Append returns ErrClosed after Close, and an error
// wrapping ErrFull while the disk is too full (see ErrFull: retry later). It
// is safe for concurrent use; concurrent calls share writes and fsyncs.
func (j *Journal) Append(recs []Record) error {
	err := j.append(recs)
	if err != nil && errors.Is(err, ErrFull) {
		j.m.refused.Inc()
	}
	return err
}

func (j *Journal) append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	size := 0
	for i := range recs {
		n := bodyLen(&recs[i])
		if n > maxBodySize {
			return fmt.Errorf("journal: append: %w: record %d encodes to %d bytes", ErrTooLarge, i, n)
		}
		size += headerSize + n
	}
	if err := j.space.admit(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		if j.closed {
			return ErrClosed
		}
		if j.broken != nil {
			return j.broken
		}
		// While the leader writes, wait rather than pile up more than
		// maxPending encoded bytes for the next write.
		if !j.flushing || len(j.pend) == 0 || len(j.pend)+size <= maxPending {
			break
		}
		j.cond.Wait()
	}
	if j.nextSeq > math.MaxUint64-uint64(len(recs))-reserveBlock {
		return errSeqExhausted
	}
	if end := j.nextSeq + uint64(len(recs)); end > j.meta.reserved {
		if err := j.reserveLocked(end); err != nil {
			if isNoSpace(err) {
				return j.space.noSpace(0, err)
			}
			return fmt.Errorf("journal: append: %w", err)
		}
	}
	var now time.Time
	for i := range recs {
		r := &recs[i]
		if r.Time.IsZero() {
			if now.IsZero() {
				now = j.opts.now()
			}
			r.Time = now
		}
		r.Seq = j.nextSeq
		j.nextSeq++
		j.pend = appendRecord(j.pend, r)
		if t := unixNano(r.Time); t > j.pendMaxTime {
			j.pendMaxTime = t
		}
	}
	j.pendRecs += len(recs)
	j.nextSeqPub.Store(j.nextSeq)
	end, epoch := j.nextSeq, j.epoch
	always := j.opts.Fsync == FsyncAlways
	for {
		if j.written >= end && (!always || j.synced >= end) {
			return nil
		}
		if j.epoch != epoch {
			return j.lastErr
		}
		if !j.flushing {
			j.flushLocked(always)
			continue
		}
		j.cond.Wait()
	}
}

// maxPending bounds the records encoded for the next write while the
// leader writes (one Append call may exceed it alone): without it, many
// appenders of long messages during a slow write hold a copy of all of
// them at once.
const maxPending = 16 << 20

// flushLocked makes the caller the leader: it writes the pending records, and
// fsyncs if sync is set. j.mu must be held and j.flushing false; j.mu is
// released during I/O and held again on return.
func (j *Journal) flushLocked(sync bool) {
	j.flushing = true
	buf, nrec, maxTime, end := j.pend, j.pendRecs, j.pendMaxTime, j.nextSeq
	j.pend, j.spare = j.spare[:0], nil
	j.pendRecs, j.pendMaxTime = 0, 0
	j.mu.Unlock()

	wrote, synced, err := j.writeOut(buf, nrec, maxTime, end, sync)

	j.mu.Lock()
	j.flushing = false
	if cap(buf) <= 16<<20 {
		j.spare = buf[:0]
	}
	if wrote {
		j.written = end
	}
	if synced {
		j.synced = j.written
	}
	if err != nil {
		// Records not written are dropped, with those encoded meanwhile; their
		// appenders (all of the current epoch) get the error.
		j.epoch++
		j.lastErr = err
		j.pend = j.pend[:0]
		j.pendRecs, j.pendMaxTime = 0, 0
		j.nextSeq = j.written
		j.nextSeqPub.Store(j.nextSeq)
	}
	j.cond.Broadcast()
}

// writeOut writes buf (nrec records ending before seq end) to the active
// segment, fsyncs if sync is set, publishes the records to readers and
// rotates the segment if it is full. With sync, readers see the records only
// after the fsync (under FsyncAlways a reader never sees a record that a
// power loss could take back). Only the leader calls it.
func (j *Journal) writeOut(buf []byte, nrec int, maxTime int64, end uint64, sync bool) (wrote, synced bool, err error) {
	a := j.act
	if len(buf) > 0 {
		if err := j.space.reserve(len(buf)); err != nil {
			return false, false, err
		}
		if _, err := j.opts.files.WriteAt(a.f, buf, a.size); err != nil {
			if isNoSpace(err) {
				err = j.space.noSpace(len(buf), err)
			} else {
				err = fmt.Errorf("journal: write %s: %w", a.f.Name(), err)
			}
			// Cut whatever part was written so the next write starts at a
			// record boundary: the journal stays usable.
			if terr := j.opts.files.Truncate(a.f, a.size); terr != nil {
				j.setBroken(fmt.Errorf("%w; truncate after failed write: %w", err, terr))
			}
			return false, false, err
		}
		a.size += int64(len(buf))
		wrote = true
		j.m.appendedRecords.Add(float64(nrec))
		j.m.appendedBytes.Add(float64(len(buf)))
	}
	if sync {
		if err = j.fsync(a.f); err != nil {
			err = fmt.Errorf("journal: fsync %s: %w", a.f.Name(), err)
			j.setBroken(err)
		} else {
			synced = true
		}
	}
	if wrote {
		// Published even if the fsync failed: the bytes are in the file.
		j.pubMu.Lock()
		a.seg.end, a.seg.size, a.seg.next = a.size, a.size, end
		if maxTime > a.seg.maxTime {
			a.seg.maxTime = maxTime
		}
		j.wakeLocked()
		j.pubMu.Unlock()
	}
	if err != nil {
		return wrote, false, err
	}
	if a.size >= j.opts.SegmentSize {
		if err := j.rotate(end); err != nil {
			return wrote, false, err
		}
		// rotate fsynced the sealed segment; the new one is empty.
		return wrote, true, nil
	}
	return wrote, synced, nil
}

// setBroken makes every later Append fail with err.
func (j *Journal) setBroken(err error) {
	j.log.Error("journal: cannot append any more", "err", err)
	j.mu.Lock()
	if j.broken == nil {
		j.broken = err
	}
	j.mu.Unlock()
}

// fsync fsyncs f and records the metrics.
func (j *Journal) fsync(f *os.File) error {
	start := time.Now()
	err := j.opts.files.Sync(f)
	j.m.fsyncs.Inc()
	j.m.fsyncDuration.Observe(time.Since(start).Seconds())
	return err
}

// rotate seals the active segment (fsync, mtime = newest record) and starts
// a new one at next. Only the leader (or Open) calls it. If the new segment
// cannot be created the old one stays active and the error is only logged.
func (j *Journal) rotate(next uint64) error {
	a := j.act
	if err := j.fsync(a.f); err != nil {
		err = fmt.Errorf("journal: fsync %s: %w", a.f.Name(), err)
		j.setBroken(err)
		return err
	}
	nf, err := createSegment(j.dir, next)
	if err != nil {
		j.log.Error("journal: cannot start a new segment; still appending to the old one", "segment", segBase(a.seg.first), "err", err)
		return nil
	}
	if err := a.f.Close(); err != nil {
		j.log.Warn("journal: close sealed segment", "segment", segBase(a.seg.first), "err", err)
	}
	ns := &segment{first: next, next: next}
	j.pubMu.Lock()
	a.seg.sealed = true
	maxTime := a.seg.maxTime
	j.segs = append(j.segs, ns)
	j.wakeLocked()
	j.pubMu.Unlock()
	j.act = &activeSeg{f: nf, seg: ns}
	if maxTime > 0 {
		t := time.Unix(0, maxTime)
		if err := os.Chtimes(walPath(j.dir, a.seg.first), t, t); err != nil {
			j.log.Warn("journal: set mtime of sealed segment", "segment", segBase(a.seg.first), "err", err)
		}
	}
	select {
	case j.maintCh <- struct{}{}:
	default:
	}
	return nil
}

// wakeLocked wakes readers waiting for new data. j.pubMu must be held.
func (j *Journal) wakeLocked() {
	if j.waiting {
		close(j.notify)
		j.notify = make(chan struct{})
		j.waiting = false
	}
}

// Sync fsyncs everything appended so far.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	target, epoch := j.nextSeq, j.epoch
	for {
		if j.closed {
			return ErrClosed
		}
		if j.synced >= target {
			return nil
		}
		if j.epoch != epoch {
			return j.lastErr
		}
		if j.broken != nil {
			return j.broken
		}
		if !j.flushing {
			j.flushLocked(true)
			continue
		}
		j.cond.Wait()
	}
}

// syncLoop fsyncs periodically under FsyncInterval.
func (j *Journal) syncLoop() {
	defer j.wg.Done()
	t := time.NewTicker(j.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-t.C:
			if err := j.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				j.log.Error("journal: periodic fsync", "err", err)
			}
		}
	}
}

// NextSeq returns the seq the next appended record will get.
func (j *Journal) NextSeq() uint64 { return j.nextSeqPub.Load() }

// FirstSeq returns the oldest seq still retained (NextSeq if the journal is empty).
func (j *Journal) FirstSeq() uint64 {
	j.pubMu.Lock()
	defer j.pubMu.Unlock()
	return j.segs[0].first
}

// Stats describes a journal's state.
type Stats struct {
	// Segments is the number of segment files, the active one included.
	Segments int `json:"segments"`
	// CompressedSegments is the number of zstd-compressed segments.
	CompressedSegments int `json:"compressed_segments"`
	// DiskBytes is the size of all segment files.
	DiskBytes int64 `json:"disk_bytes"`
	// FirstSeq is the oldest seq retained; NextSeq the seq of the next record.
	FirstSeq uint64 `json:"first_seq"`
	NextSeq  uint64 `json:"next_seq"`
	// Consumers maps each durable consumer to its committed cursor.
	Consumers map[string]uint64 `json:"consumers"`
	// Full is true while Append refuses records for lack of disk space.
	Full bool `json:"full"`
	// FreeDiskBytes is the free space last seen on the journal's file
	// system, -1 if unknown.
	FreeDiskBytes int64 `json:"free_disk_bytes"`
}

// Stats returns the journal's current state.
func (j *Journal) Stats() Stats {
	st := Stats{NextSeq: j.NextSeq(), Consumers: map[string]uint64{}}
	st.Full, st.FreeDiskBytes = j.space.state()
	j.pubMu.Lock()
	st.Segments = len(j.segs)
	st.FirstSeq = j.segs[0].first
	for _, s := range j.segs {
		st.DiskBytes += s.size
		if s.compressed {
			st.CompressedSegments++
		}
	}
	j.pubMu.Unlock()
	j.curMu.Lock()
	for name, c := range j.cursors {
		st.Consumers[name] = c
	}
	j.curMu.Unlock()
	return st
}

// findSegLocked returns the segment holding seq (the last one whose first
// seq is <= seq), or nil if seq < FirstSeq. j.pubMu must be held.
func (j *Journal) findSegLocked(seq uint64) *segment {
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].first > seq })
	if i == 0 {
		return nil
	}
	return j.segs[i-1]
}

// nextSegLocked returns the segment after s, or nil. j.pubMu must be held.
func (j *Journal) nextSegLocked(s *segment) *segment {
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].first > s.first })
	if i == len(j.segs) {
		return nil
	}
	return j.segs[i]
}

// Close writes and fsyncs everything appended, stops the background
// goroutines and wakes blocked readers, which return ErrClosed. Appends after
// Close return ErrClosed. Calling Close again returns the first call's result.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() { j.closeErr = j.close() })
	return j.closeErr
}

func (j *Journal) close() error {
	j.mu.Lock()
	j.closed = true
	for j.flushing {
		j.cond.Wait()
	}
	var err error
	if j.broken == nil {
		epoch := j.epoch
		j.flushLocked(true)
		if j.epoch != epoch {
			err = j.lastErr
		}
	}
	// Keep the leader role forever: nobody touches the active file any more.
	j.flushing = true
	if err == nil && j.broken == nil {
		// Every number handed out is on disk: the next Open continues
		// exactly here, whatever happens to the machine meanwhile.
		m := j.meta
		m.reserved, m.clean = j.nextSeq, true
		j.pubMu.Lock()
		m.skips = append([]skip(nil), j.meta.skips...)
		j.pubMu.Unlock()
		if werr := writeMeta(j.dir, m); werr != nil {
			j.log.Warn("journal: close: could not record the clean stop", "err", werr)
		}
	}
	j.mu.Unlock()
	if cerr := j.act.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("journal: close: %w", cerr)
	}

	close(j.done)
	j.wg.Wait()
	j.closedFlag.Store(true)
	close(j.closedCh)
	j.maintMu.Lock()
	if j.encoder != nil {
		j.encoder.Close()
		j.encoder = nil
	}
	j.maintMu.Unlock()
	j.m.unregister()
	if cerr := j.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("journal: close: %w", cerr)
	}
	if err == nil && j.broken != nil {
		err = j.broken
	}
	return err
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
