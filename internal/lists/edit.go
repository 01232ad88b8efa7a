package lists

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ownerLocked returns the named list in service and its file's state.
func (s *Set) ownerLocked(name string) (*fileState, *list, error) {
	l := s.snap.Load().lists[name]
	if l == nil {
		return nil, nil, fmt.Errorf("%q: %w", name, ErrNoList)
	}
	f := s.files[l.file]
	if f == nil || f.list != l {
		return nil, nil, fmt.Errorf("%q: %w", name, ErrNoList)
	}
	return f, l, nil
}

// Entry returns the named list's entry for value (an address or prefix,
// a user name in any case, or "user/DeviceId"), expired or not.
func (s *Set) Entry(name, value string) (Entry, error) {
	if s == nil {
		return Entry{}, fmt.Errorf("lists: %q: %w", name, ErrNoList)
	}
	l := s.snap.Load().lists[name]
	if l == nil {
		return Entry{}, fmt.Errorf("lists: %q: %w", name, ErrNoList)
	}
	ne, err := normEntry(l.kind, Entry{Value: value})
	if err != nil {
		return Entry{}, fmt.Errorf("lists: %q: %w", name, err)
	}
	key := entryKey(l.kind, ne)
	for _, e := range l.entries {
		if entryKey(l.kind, e) == key {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("lists: %q in %q: %w", value, name, ErrNotFound)
}

// Add puts e on the named list, replacing an entry with the same value
// (same prefix, user name in any case, or user and DeviceId in any
// case). A zero e.Added becomes the current time. The change applies to
// lookups at once; it lasts across reloads as long as the list's file is
// not changed on disk, and Save makes it permanent. Each Add rebuilds the
// list's index, so bulk changes belong in the file.
func (s *Set) Add(name string, e Entry) error {
	if s == nil {
		return fmt.Errorf("lists: add to %q: %w", name, ErrNoList)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, l, err := s.ownerLocked(name)
	if err != nil {
		return fmt.Errorf("lists: add to %w", err)
	}
	ne, err := normEntry(l.kind, e)
	if err != nil {
		return fmt.Errorf("lists: add to %q: %w", name, err)
	}
	if ne.Added.IsZero() {
		ne.Added = s.now().UTC().Truncate(time.Second)
	}
	key := entryKey(l.kind, ne)
	entries := slices.Clone(l.entries)
	if i := slices.IndexFunc(entries, func(x Entry) bool { return entryKey(l.kind, x) == key }); i >= 0 {
		entries[i] = ne
	} else {
		entries = append(entries, ne)
	}
	nl := l.toList()
	nl.Entries = entries
	f.list = newList(nl, l.file)
	s.publishLocked()
	return nil
}

// Remove takes value off the named list: an address or prefix (the same
// prefix, not addresses inside it), a user name in any case, or a device
// as "user/DeviceId". Lookups see the change at once (a removed device is
// unregistered for the next lookup); Save makes it permanent.
func (s *Set) Remove(name, value string) error {
	if s == nil {
		return fmt.Errorf("lists: remove from %q: %w", name, ErrNoList)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, l, err := s.ownerLocked(name)
	if err != nil {
		return fmt.Errorf("lists: remove from %w", err)
	}
	ne, err := normEntry(l.kind, Entry{Value: value})
	if err != nil {
		return fmt.Errorf("lists: remove from %q: %w", name, err)
	}
	key := entryKey(l.kind, ne)
	entries := slices.DeleteFunc(slices.Clone(l.entries), func(x Entry) bool { return entryKey(l.kind, x) == key })
	if len(entries) == len(l.entries) {
		return fmt.Errorf("lists: remove %q from %q: %w", value, name, ErrNotFound)
	}
	nl := l.toList()
	nl.Entries = entries
	f.list = newList(nl, l.file)
	s.publishLocked()
	return nil
}

// Save writes the named list, as it is in service, to its YAML file
// (through a temporary file and a rename, so that readers and reloads see
// the old or the new file, never a part). A list read from a .txt file is
// converted: it is written to NAME.yaml and the .txt file is removed.
// Comments of the old file are not kept. Save refuses when the file
// changed on disk since it was read (Reload first) or is broken (fix it
// first), so that it never overwrites an edit it has not seen.
func (s *Set) Save(name string) error {
	if s == nil {
		return fmt.Errorf("lists: save %q: %w", name, ErrNoList)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, l, err := s.ownerLocked(name)
	if err != nil {
		return fmt.Errorf("lists: save %w", err)
	}
	var de *dupError
	if f.err != nil && !errors.As(f.err, &de) {
		return fmt.Errorf("lists: save %q: the file on disk is broken, fix or remove it first: %w", name, f.err)
	}
	path := filepath.Join(s.dir, l.file)
	perm := os.FileMode(0o644)
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if f.changed(fi) {
			return fmt.Errorf("lists: save %q: %s changed on disk since it was read; reload first", name, l.file)
		}
		perm = fi.Mode().Perm()
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("lists: save %q: %w", name, err)
	}
	file := l.file
	convert := !strings.EqualFold(filepath.Ext(file), ".yaml") && !strings.EqualFold(filepath.Ext(file), ".yml")
	if convert {
		file = l.name + ".yaml"
		if _, taken := s.files[file]; taken {
			return fmt.Errorf("lists: save %q: %s already exists", name, file)
		}
		if _, err := os.Lstat(filepath.Join(s.dir, file)); err == nil {
			return fmt.Errorf("lists: save %q: %s already exists", name, file)
		}
	}
	data, err := MarshalList(l.toList())
	if err != nil {
		return fmt.Errorf("lists: save %q: %w", name, err)
	}
	target := filepath.Join(s.dir, file)
	if err := writeFileAtomic(target, data, perm); err != nil {
		return fmt.Errorf("lists: save %q: %w", name, err)
	}
	nfi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("lists: save %q: %w", name, err)
	}
	if !convert {
		f.fi = nfi
		return nil
	}
	// The YAML file takes over from the text file.
	s.files[file] = &fileState{fi: nfi, list: newList(l.toList(), file)}
	delete(s.files, l.file)
	s.publishLocked()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lists: save %q: written to %s, but the old file stays and clashes with it: %w", name, file, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and
// renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Clean(dir)); derr == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// savedList and savedEntry are the written YAML form.
type savedList struct {
	Name        string       `yaml:"name"`
	Kind        Kind         `yaml:"kind"`
	Role        Role         `yaml:"role"`
	Description string       `yaml:"description,omitempty"`
	Rules       []string     `yaml:"rules,omitempty,flow"`
	Entries     []savedEntry `yaml:"entries"`
}

type savedEntry struct {
	Value     string `yaml:"value,omitempty"`
	User      string `yaml:"user,omitempty"`
	Device    string `yaml:"device,omitempty"`
	Model     string `yaml:"model,omitempty"`
	Note      string `yaml:"note,omitempty"`
	Owner     string `yaml:"owner,omitempty"`
	By        string `yaml:"by,omitempty"`
	Added     string `yaml:"added,omitempty"`
	Expires   string `yaml:"expires,omitempty"`
	Revoked   string `yaml:"revoked,omitempty"`
	RevokedBy string `yaml:"revoked_by,omitempty"`
}

// MarshalYAML writes an entry with nothing but a value as that value.
func (e savedEntry) MarshalYAML() (any, error) {
	if e == (savedEntry{Value: e.Value}) {
		return e.Value, nil
	}
	type plain savedEntry
	return plain(e), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// MarshalList returns the YAML form of l, which ParseFile reads back.
func MarshalList(l *List) ([]byte, error) {
	y := savedList{
		Name:        l.Name,
		Kind:        l.Kind,
		Role:        l.Role,
		Description: l.Description,
		Rules:       l.Rules,
		Entries:     make([]savedEntry, 0, len(l.Entries)),
	}
	for _, e := range l.Entries {
		ye := savedEntry{Note: e.Note, Owner: e.Owner, By: e.By, Added: formatTime(e.Added), Expires: formatTime(e.Expires),
			Revoked: formatTime(e.Revoked), RevokedBy: e.RevokedBy}
		if l.Kind == KindDevice {
			ye.User, ye.Device, ye.Model = e.User, e.Device, e.Model
		} else {
			ye.Value = e.Value
		}
		y.Entries = append(y.Entries, ye)
	}
	var buf bytes.Buffer
	buf.WriteString("# Vigil list. Saving it from Vigil rewrites this file without its comments.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&y); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
