package journal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// metaFile is the journal's small state file: its id, the sequence numbers
// reserved so far and the gaps in the numbering.
const metaFile = "meta"

// reserveBlock is how many sequence numbers one write of the meta file
// reserves: one fsync per million records.
const reserveBlock = 1 << 20

// meta is the content of the meta file.
//
// Sequence numbers are never reused. A record's seq can reach consumers
// (the store keeps it as vigil.seq) before the record is on stable storage,
// so after a power loss or a torn tail the journal cannot know from its
// files alone which numbers were handed out. It therefore reserves numbers
// ahead in this file (fsynced before any number of a new block is
// assigned); when it opens after a torn tail or a reboot that followed an
// unclean stop, it continues after the reservation and records the numbers
// it skipped, so that readers know the gap is not a loss.
type meta struct {
	// id identifies this journal (random, made at creation): event ids are
	// the journal id and the seq, unique across machines.
	id uint64
	// reserved: no seq at or above it was handed out.
	reserved uint64
	// boot is the kernel's boot id when reserved was written ("" unknown).
	boot string
	// clean is set when reserved is exact: written at Close.
	clean bool
	// skips are ranges of sequence numbers that never existed.
	skips []skip
}

// skip is the range [from, to) of sequence numbers that never existed.
type skip struct{ from, to uint64 }

// readMeta reads the meta file; ok is false if there is none.
func readMeta(dir string) (m meta, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if isNotExist(err) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("journal: read %s: %w", metaFile, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		var perr error
		switch key {
		case "":
		case "id":
			m.id, perr = strconv.ParseUint(val, 16, 64)
		case "reserved":
			m.reserved, perr = strconv.ParseUint(val, 10, 64)
		case "boot":
			m.boot = val
		case "clean":
			m.clean = val == "true"
		case "skip":
			from, to, _ := strings.Cut(val, " ")
			var s skip
			if s.from, perr = strconv.ParseUint(from, 10, 64); perr == nil {
				s.to, perr = strconv.ParseUint(to, 10, 64)
			}
			if perr == nil && s.from >= s.to {
				perr = fmt.Errorf("empty range")
			}
			m.skips = append(m.skips, s)
		default:
			// Written by a later version: keep going.
		}
		if perr != nil {
			return m, false, fmt.Errorf("journal: %s line %d: %q: %w", metaFile, n, sc.Text(), perr)
		}
	}
	if m.id == 0 {
		return m, false, fmt.Errorf("journal: %s has no id", metaFile)
	}
	return m, true, nil
}

// writeMeta atomically replaces the meta file: temp file, fsync, rename,
// fsync of the directory.
func writeMeta(dir string, m meta) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "id %016x\nreserved %d\n", m.id, m.reserved)
	if m.boot != "" {
		fmt.Fprintf(&b, "boot %s\n", m.boot)
	}
	if m.clean {
		b.WriteString("clean true\n")
	}
	for _, s := range m.skips {
		fmt.Fprintf(&b, "skip %d %d\n", s.from, s.to)
	}
	final := filepath.Join(dir, metaFile)
	tmp := final + tmpExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: write %s: %w", metaFile, err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: write %s: %w", metaFile, err)
	}
	return syncDir(dir)
}

// newID returns a random non-zero journal id.
func newID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("journal: make id: %w", err)
		}
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// bootID returns the kernel's boot id, or "" where there is none. A
// change of boot id means the machine restarted: whatever the page cache
// held and had not written back may be gone.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// covers reports whether the skips cover [from, to) entirely.
func covers(skips []skip, from, to uint64) bool {
	for from < to {
		found := false
		for _, s := range skips {
			if s.from <= from && from < s.to {
				from, found = s.to, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// resume decides where numbering continues after Open recovered the
// segments, and writes the meta file with a new reservation. Numbering
// jumps past every number that may have been handed out when records may
// have been lost: a torn tail was cut, or the machine restarted after an
// unclean stop (the page cache may not have reached the disk). After a
// kill of the process alone, the files hold every record written, and
// numbering simply continues.
func (j *Journal) resume(m meta, haveMeta bool) error {
	next := j.nextSeq
	boot := bootID()
	jump := next
	switch {
	case haveMeta:
		if m.reserved > next && (m.clean || j.cut > 0 || boot == "" || boot != m.boot) {
			jump = m.reserved
		}
	case j.cut > 0:
		// A journal from before the reservation existed: the cut bytes
		// held at most this many records.
		jump = next + uint64(j.cut)/(headerSize+minBodySize) + 1
	}
	if !haveMeta {
		id, err := newID()
		if err != nil {
			return err
		}
		m = meta{id: id}
	}
	if jump > next {
		if err := j.restartAt(jump); err != nil {
			return err
		}
		m.skips = append(m.skips, skip{next, jump})
		j.log.Warn("journal: numbering continues after the numbers that may have been handed out before an unclean stop",
			"skipped_from", next, "next_seq", jump, "cut_bytes", j.cut)
	}
	m.skips = pruneSkips(m.skips, j.segs[0].first)
	m.reserved, m.boot, m.clean = jump+reserveBlock, boot, false
	if err := writeMeta(j.dir, m); err != nil {
		return err
	}
	j.meta = m
	return nil
}

// restartAt starts a new active segment at seq next after Open; the
// recovered active segment is sealed, or removed if it holds no record.
func (j *Journal) restartAt(next uint64) error {
	a := j.act
	if a.size == 0 {
		if err := a.f.Close(); err != nil {
			return fmt.Errorf("journal: open: %w", err)
		}
		if err := os.Remove(a.f.Name()); err != nil {
			return fmt.Errorf("journal: open: %w", err)
		}
		j.segs = j.segs[:len(j.segs)-1]
		j.act = nil
		return j.createActive(next)
	}
	f, err := createSegment(j.dir, next)
	if err != nil {
		return err
	}
	if err := a.f.Close(); err != nil {
		j.log.Warn("journal: close sealed segment", "segment", segBase(a.seg.first), "err", err)
	}
	a.seg.sealed = true
	s := &segment{first: next, next: next}
	j.segs = append(j.segs, s)
	j.act = &activeSeg{f: f, seg: s}
	j.setNext(next)
	return nil
}

// pruneSkips drops the ranges below first (deleted by retention).
func pruneSkips(skips []skip, first uint64) []skip {
	out := skips[:0]
	for _, s := range skips {
		if s.to > first {
			out = append(out, s)
		}
	}
	return out
}

// reserveLocked reserves sequence numbers up to at least need (one block
// beyond it) before they are handed out. j.mu must be held.
func (j *Journal) reserveLocked(need uint64) error {
	m := j.meta
	m.reserved, m.clean = need+reserveBlock, false
	j.pubMu.Lock()
	m.skips = append([]skip(nil), j.meta.skips...)
	j.pubMu.Unlock()
	if err := writeMeta(j.dir, m); err != nil {
		return err
	}
	j.meta.reserved, j.meta.clean = m.reserved, false
	return nil
}

// skipped reports whether the numbers [from, to) never existed (a gap the
// journal made on purpose, not a loss). Safe from any goroutine.
func (j *Journal) skipped(from, to uint64) bool {
	j.pubMu.Lock()
	defer j.pubMu.Unlock()
	return covers(j.meta.skips, from, to)
}

// ID returns the journal's id: random, made when the journal was created.
// A record is identified across machines by the journal id and its seq.
func (j *Journal) ID() uint64 { return j.meta.id }
