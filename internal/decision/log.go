package decision

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The decision log: one JSON object per line in <Dir>/decisions.log,
// appended and synced before each Add or Delete returns. A compacted log
// starts with a state record. Records:
//
//	{"op":"state","seq":S,"next_id":N}            cursor and next ID at compaction
//	{"op":"add","seq":A,"del_seq":D,"d":{...}}     a decision (D>0: deleted, only after compaction)
//	{"op":"del","seq":S,"id":I,"at":T,"by":"..."}  a deletion
const logName = "decisions.log"

type record struct {
	Op     string    `json:"op"`
	Seq    int64     `json:"seq"`
	DelSeq int64     `json:"del_seq,omitempty"`
	NextID int64     `json:"next_id,omitempty"`
	D      *Decision `json:"d,omitempty"`
	ID     int64     `json:"id,omitempty"`
	At     time.Time `json:"at,omitzero"`
	By     string    `json:"by,omitempty"`
}

// dlog is the open decision log.
type dlog struct {
	dir string
	f   *os.File
}

// openLog opens (creating) the log in dir, replays it into s and leaves
// it open for appending: a torn or unreadable line is skipped and counted,
// and a torn last line is cut off so that appends start on a line of their
// own.
func (s *Store) openLog(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	path := filepath.Join(dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	good, err := s.replay(f)
	if err == nil {
		err = s.cutTail(f, good)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("decision log %s: %w", path, err)
	}
	s.dl = &dlog{dir: dir, f: f}
	return nil
}

// replay applies the log's records and returns the offset after the last
// complete line.
func (s *Store) replay(f *os.File) (int64, error) {
	r := bufio.NewReaderSize(f, 64<<10)
	var off, good int64
	line := 0
	for {
		b, err := r.ReadBytes('\n')
		off += int64(len(b))
		if len(b) > 0 {
			line++
			complete := b[len(b)-1] == '\n'
			if complete {
				good = off
			}
			perr := errors.New("torn: no end of line")
			if complete {
				perr = s.apply(bytes.TrimSpace(b))
			}
			if perr != nil {
				s.m.skipped.Inc()
				s.logger.Warn("decision log: line skipped", "line", line, "torn", !complete, "err", perr)
			}
		}
		if errors.Is(err, io.EOF) {
			return good, nil
		}
		if err != nil {
			return good, err
		}
	}
}

// apply replays one record.
func (s *Store) apply(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	s.seq = max(s.seq, rec.Seq)
	switch rec.Op {
	case "state":
		s.nextID = max(s.nextID, rec.NextID)
	case "add":
		if rec.D == nil || rec.D.ID <= 0 || s.byID[rec.D.ID] != nil || (rec.DelSeq > 0) == rec.D.Deleted.IsZero() {
			return fmt.Errorf("bad or repeated add record")
		}
		if n := len(s.items); n > 0 && s.items[n-1].d.ID > rec.D.ID {
			return fmt.Errorf("add record of id %d after id %d", rec.D.ID, s.items[n-1].d.ID)
		}
		s.nextID = max(s.nextID, rec.D.ID+1)
		s.seq = max(s.seq, rec.DelSeq)
		s.insertLocked(&item{d: *rec.D, addSeq: rec.Seq, delSeq: rec.DelSeq})
	case "del":
		it := s.byID[rec.ID]
		if it == nil || it.delSeq != 0 || rec.At.IsZero() {
			return fmt.Errorf("deletion of unknown decision %d, or without time", rec.ID)
		}
		it.delSeq, it.d.Deleted, it.d.DeletedBy = rec.Seq, rec.At, rec.By
		s.unindexLocked(it)
	default:
		return fmt.Errorf("unknown op %q", rec.Op)
	}
	return nil
}

// cutTail truncates f after the last complete line, when something
// follows it, and positions f at its end.
func (s *Store) cutTail(f *os.File, good int64) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if end > good {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	_, err = f.Seek(good, io.SeekStart)
	return err
}

// appendLocked writes rec and syncs it.
func (s *Store) appendLocked(rec record) error {
	if s.dl == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := s.dl.f.Write(b); err != nil {
		return s.rewindLocked(fmt.Errorf("decision log: write: %w", err))
	}
	if err := s.dl.f.Sync(); err != nil {
		return s.rewindLocked(fmt.Errorf("decision log: sync: %w", err))
	}
	return nil
}

// rewindLocked cuts a failed append off the log, so that the next append
// starts on a line of its own, and returns err.
func (s *Store) rewindLocked(err error) error {
	f := s.dl.f
	info, serr := f.Stat()
	if serr != nil {
		return err
	}
	// Find the end of the last complete line: the failed write added at
	// most one partial line.
	size := info.Size()
	buf := make([]byte, 4096)
	for off := size; off > 0; {
		n := min(off, int64(len(buf)))
		off -= n
		if _, rerr := f.ReadAt(buf[:n], off); rerr != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			size = off + int64(i) + 1
			break
		}
		if off == 0 {
			size = 0
		}
	}
	if terr := f.Truncate(size); terr == nil {
		f.Seek(size, io.SeekStart)
	}
	return err
}

// compactLocked rewrites the log with what the Store holds, after dropping
// the decisions that expired or were deleted more than the retention ago
// (when there is one) and unindexing the expired ones.
func (s *Store) compactLocked(now time.Time) error {
	if ret := s.opts.Retention; ret > 0 {
		cut := now.Add(-ret)
		kept := s.items[:0]
		for _, it := range s.items {
			end := it.d.Until
			if !it.d.Deleted.IsZero() && it.d.Deleted.Before(end) {
				end = it.d.Deleted
			}
			if end.Before(cut) {
				delete(s.byID, it.d.ID)
				if it.d.Alert != "" && s.byAlert[alertKey(&it.d)] == it {
					delete(s.byAlert, alertKey(&it.d))
				}
				if it.delSeq == 0 {
					s.unindexLocked(it)
				}
				s.m.compacted.Inc()
				continue
			}
			kept = append(kept, it)
		}
		clear(s.items[len(kept):])
		s.items = kept
	}
	s.pruneIndexLocked(now)
	s.heldAtCompact = len(s.items)
	if s.dl == nil {
		return nil
	}
	dir := s.dl.dir
	tmp, err := os.CreateTemp(dir, logName+".tmp*")
	if err != nil {
		return fmt.Errorf("decision log: compact: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	err = enc.Encode(record{Op: "state", Seq: s.seq, NextID: s.nextID})
	for _, it := range s.items {
		if err != nil {
			break
		}
		err = enc.Encode(record{Op: "add", Seq: it.addSeq, DelSeq: it.delSeq, D: &it.d})
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, logName))
	}
	if err != nil {
		return fmt.Errorf("decision log: compact: %w", err)
	}
	// From here on appends must go to the new file.
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		// The old file is gone from the directory: appending to it would
		// lose the records. Refuse changes until a restart replays.
		s.closed = true
		s.dl.f.Close()
		return fmt.Errorf("decision log: reopen after compaction (changes refused until restart): %w", err)
	}
	s.dl.f.Close()
	s.dl.f = f
	s.m.compactions.Inc()
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("decision log: compact: %w", err)
	}
	return nil
}

// pruneIndexLocked removes expired decisions from the lookup index (they
// stay in the history).
func (s *Store) pruneIndexLocked(now time.Time) {
	var expired []*item
	s.eachIndexedLocked(func(it *item) {
		if !now.Before(it.d.Until) {
			expired = append(expired, it)
		}
	})
	for _, it := range expired {
		s.unindexLocked(it)
	}
}

// maybeCompactLocked compacts when the Store changed enough since the
// last compaction that the log is about twice what it holds (as many
// changes as decisions held then), and at least minCompact (1024)
// changes.
// A failure is logged and counted; the log stays valid and the next
// attempt comes after as many changes again.
func (s *Store) maybeCompactLocked(now time.Time) {
	s.changes++
	if s.changes < max(s.minCompact, s.heldAtCompact) {
		return
	}
	s.changes = 0
	if err := s.compactLocked(now); err != nil {
		s.m.compactErrors.Inc()
		s.logger.Error("decision log: compaction failed", "err", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
