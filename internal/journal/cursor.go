package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cursorDir is the directory (inside the journal's) holding consumer cursors.
const cursorDir = "cursors"

// maxNameLen bounds consumer names.
const maxNameLen = 128

// validName reports whether name is a valid consumer name: [a-z0-9_-]+.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// readCursor reads a cursor file. ok is false if it does not exist.
func readCursor(path string) (seq uint64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if isNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("journal: read cursor: %w", err)
	}
	seq, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("journal: cursor file %s: %w", path, err)
	}
	return seq, true, nil
}

// writeCursor atomically replaces the cursor file of name in dir with seq:
// temp file, fsync, rename, fsync of the directory.
func writeCursor(dir, name string, seq uint64) error {
	final := filepath.Join(dir, name)
	tmp := final + tmpExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: commit %s: %w", name, err)
	}
	var buf [24]byte
	_, err = f.Write(append(strconv.AppendUint(buf[:0], seq, 10), '\n'))
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
		return fmt.Errorf("journal: commit %s: %w", name, err)
	}
	return syncDir(dir)
}

// loadCursors reads all committed cursors at Open and removes leftover temp files.
func (j *Journal) loadCursors() error {
	dir := filepath.Join(j.dir, cursorDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, tmpExt); ok && validName(base) {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if !validName(name) || !e.Type().IsRegular() {
			continue
		}
		seq, ok, err := readCursor(filepath.Join(dir, name))
		if err != nil {
			// OpenReader reports it; Stats just lacks the consumer.
			j.log.Error("journal: unreadable cursor", "consumer", name, "err", err)
			continue
		}
		if ok {
			j.cursors[name] = seq
		}
	}
	return nil
}
