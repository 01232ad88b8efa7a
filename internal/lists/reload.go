package lists

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxFileSize bounds a list file; 100k entries take a few MB.
const maxFileSize = 64 << 20

// fileState is what the Set knows about one list file.
type fileState struct {
	fi   os.FileInfo // the version last read (loaded or not)
	list *list       // the list in service from this file; nil if none ever loaded
	err  error       // why the last version read is not in service, or a name clash
}

// changed reports whether fi is another version of the file than f.fi:
// other modification time, size or inode (editors that write a new file
// and rename it).
func (f *fileState) changed(fi os.FileInfo) bool {
	return f.fi == nil || !f.fi.ModTime().Equal(fi.ModTime()) || f.fi.Size() != fi.Size() || !os.SameFile(f.fi, fi)
}

// isListFile reports whether a folder entry name is a list file.
func isListFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".txt":
		return true
	}
	return false
}

// Reload re-reads the files that changed since they were last read
// (modification time, size or inode), drops lists whose files are gone and
// applies the result at once. Unchanged files keep their lists, including
// changes made with Add and Remove and not saved. It returns the error of
// every file that is currently broken (each a *ParseError) or the
// folder's read error; lists whose new version is broken stay in service
// in their previous version.
func (s *Set) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(); err != nil {
		return err
	}
	return s.fileErrorsLocked()
}

// Watch checks the folder for changed files every interval (default 10s)
// and reloads them, until ctx is done. It blocks: run it in a goroutine
// that the caller owns. Problems are logged and counted.
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.reloadLocked() // logged and counted inside
		s.mu.Unlock()
	}
}

// fileErrorsLocked joins the errors of the files currently broken.
func (s *Set) fileErrorsLocked() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.files)) {
		if err := s.files[name].err; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reloadLocked brings the Set up to date with the folder. It returns an
// error only when the folder cannot be read; file problems are recorded
// in s.files.
func (s *Set) reloadLocked() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		err = fmt.Errorf("lists: read folder: %w", err)
		if s.dirErr != err.Error() {
			s.dirErr = err.Error()
			s.reloadErrs++
			s.m.reloadErrors.Inc()
			s.log.Warn("cannot read list folder", "dir", s.dir, "err", err)
		}
		return err
	}
	s.dirErr = ""
	changed := false
	present := make(map[string]bool, len(des))
	for _, de := range des {
		name := de.Name()
		if !isListFile(name) {
			continue
		}
		path := filepath.Join(s.dir, name)
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed while we looked
			}
			// Unreadable for now: keep what we have.
			if f := s.files[name]; f != nil {
				present[name] = true
			}
			continue
		}
		present[name] = true
		f := s.files[name]
		if f != nil && !f.changed(fi) {
			continue
		}
		l, err := readListFile(path, name)
		if fi2, serr := os.Stat(path); serr != nil || (&fileState{fi: fi}).changed(fi2) {
			// Written to while we read it: take it at the next check.
			continue
		}
		changed = true
		if f == nil {
			f = &fileState{}
			s.files[name] = f
		}
		f.fi = fi
		if err != nil {
			f.err = err
			s.reloadErrs++
			s.m.reloadErrors.Inc()
			if f.list != nil {
				s.log.Warn("list file broken, keeping previous version", "file", name, "list", f.list.name, "err", err)
			} else {
				s.log.Warn("list file broken", "file", name, "err", err)
			}
			continue
		}
		f.err = nil
		f.list = newList(l, name)
	}
	for name := range s.files {
		if !present[name] {
			delete(s.files, name)
			changed = true
		}
	}
	if changed {
		s.publishLocked()
		s.lastReload = s.now()
		s.reloads++
		s.m.reloads.Inc()
	}
	return nil
}

// readListFile reads and parses one file.
func readListFile(path, name string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ParseError{File: name, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &ParseError{File: name, Err: err}
	}
	if len(data) > maxFileSize {
		return nil, &ParseError{File: name, Err: fmt.Errorf("file larger than %d MiB", maxFileSize>>20)}
	}
	return ParseFile(name, data)
}

// dupError is a list name clash between files.
type dupError struct {
	name, other string
}

func (e *dupError) Error() string {
	return fmt.Sprintf("duplicate list name %q (already defined in %s)", e.name, e.other)
}

// publishLocked builds a snapshot from s.files and swaps it in. Files are
// taken in name order; a file whose list name an earlier file already
// uses is left out and gets a duplicate-name error.
func (s *Set) publishLocked() {
	sn := &snapshot{
		lists:   make(map[string]*list, len(s.files)),
		byRole:  map[Role][]*list{},
		devices: map[string][]*Entry{},
	}
	for _, name := range slices.Sorted(maps.Keys(s.files)) {
		f := s.files[name]
		var (
			de      *dupError
			prevDup string
		)
		if errors.As(f.err, &de) {
			prevDup = f.err.Error()
			f.err = nil // recomputed below
		}
		if f.list == nil {
			continue
		}
		if other, ok := sn.lists[f.list.name]; ok {
			if f.err == nil {
				f.err = &ParseError{File: name, Err: &dupError{f.list.name, other.file}}
				if f.err.Error() != prevDup { // count a clash once
					s.reloadErrs++
					s.m.reloadErrors.Inc()
					s.log.Warn("list file ignored", "file", name, "err", f.err)
				}
			}
			continue
		}
		sn.lists[f.list.name] = f.list
	}
	names := slices.Sorted(maps.Keys(sn.lists))
	for _, n := range names {
		l := sn.lists[n]
		sn.byRole[l.role] = append(sn.byRole[l.role], l)
		for i := range l.entries {
			if l.kind == KindDevice {
				e := &l.entries[i]
				k := deviceKey(e.User, e.Device)
				sn.devices[k] = append(sn.devices[k], e)
			}
		}
	}
	old := s.snap.Swap(sn)
	for n := range old.lists {
		if _, ok := sn.lists[n]; !ok {
			s.m.entries.DeleteLabelValues(n)
		}
	}
	for n, l := range sn.lists {
		s.m.entries.WithLabelValues(n).Set(float64(len(l.entries)))
	}
}
