// Package lists holds named allow/block lists of IP addresses and user
// names and the ActiveSync device registry, loaded from a folder of list
// files and consulted by the detection engine.
//
// A Set serves lookups from an immutable snapshot swapped atomically on
// every change, so lookups take no lock. Files are re-read when they
// change (Reload, Watch); a file that fails to parse keeps the previous
// version of its list in service and its error is reported in Status,
// Lists and the vigil_lists_reload_errors_total counter. Entries can also
// be added and removed at run time (Add, Remove) and written back to the
// list's YAML file (Save).
package lists

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors returned by the editing methods, wrapped with context.
var (
	ErrNoList   = errors.New("no such list")
	ErrNotFound = errors.New("no such entry")
)

// ListInfo describes one list.
type ListInfo struct {
	Name        string
	Kind        Kind
	Role        Role
	Description string
	Rules       []string // rule IDs an allow/block list applies to; empty: all
	File        string   // file name in the folder
	Entries     int      // entries, expired ones included
	Active      int      // entries not expired
	// Error is the file's current problem, if any: the list shown is then
	// the last version that loaded.
	Error string
}

// FileStatus is the state of one list file.
type FileStatus struct {
	File  string `json:"file"`
	List  string `json:"list,omitempty"`  // the list it holds; "" if it never loaded
	Error string `json:"error,omitempty"` // "" when the file loaded
}

// Status is the state of a Set's folder.
type Status struct {
	Dir          string       `json:"dir"`
	LastReload   time.Time    `json:"last_reload,omitzero"` // last time a change was applied
	Reloads      uint64       `json:"reloads"`              // changes applied from files
	ReloadErrors uint64       `json:"reload_errors"`        // file versions that failed to load, folder read errors
	DirError     string       `json:"dir_error,omitempty"`  // the folder could not be read at the last check
	Files        []FileStatus `json:"files"`
}

// Option configures a Set.
type Option func(*options)

type options struct {
	reg prometheus.Registerer
	log *slog.Logger
	now func() time.Time
}

// WithRegisterer registers the Set's metrics with reg (default: none).
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

// WithLogger logs reload problems to l (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithClock makes the Set use now for expiry checks and Added times
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Set is the collection of lists from one folder. Lookups are lock-free
// and safe for concurrent use with each other and with reloads and edits.
// A nil *Set has no lists.
type Set struct {
	dir string
	log *slog.Logger
	now func() time.Time
	m   *metrics

	snap atomic.Pointer[snapshot]

	mu         sync.Mutex // serializes reloads and edits; guards the fields below
	files      map[string]*fileState
	dirErr     string
	lastReload time.Time
	reloads    uint64
	reloadErrs uint64
}

// snapshot is one immutable state of all lists.
type snapshot struct {
	lists  map[string]*list
	byRole map[Role][]*list // sorted by name
	// devices maps deviceKey to the device entries of every device list,
	// in list name order.
	devices map[string][]*Entry
}

// list is one immutable list version with its lookup index.
type list struct {
	name        string
	kind        Kind
	role        Role
	description string
	rules       []string
	ruleSet     map[string]struct{}
	file        string
	entries     []Entry

	ips   *ipTable          // kind ip
	users map[string]int64  // kind user: lower-case name -> expiry
	devs  map[string]*Entry // kind device: deviceKey -> entry
}

func newList(l *List, file string) *list {
	x := &list{
		name:        l.Name,
		kind:        l.Kind,
		role:        l.Role,
		description: l.Description,
		rules:       slices.Clone(l.Rules),
		file:        file,
		entries:     l.Entries,
	}
	if len(x.rules) > 0 {
		x.ruleSet = make(map[string]struct{}, len(x.rules))
		for _, r := range x.rules {
			x.ruleSet[r] = struct{}{}
		}
	}
	switch x.kind {
	case KindIP:
		x.ips = newIPTable(x.entries)
	case KindUser:
		x.users = make(map[string]int64, len(x.entries))
		for _, e := range x.entries {
			k := strings.ToLower(e.Value)
			x.users[k] = max(x.users[k], expiryNanos(e.Expires))
		}
	case KindDevice:
		x.devs = make(map[string]*Entry, len(x.entries))
		for i := range x.entries {
			e := &x.entries[i]
			x.devs[deviceKey(e.User, e.Device)] = e
		}
	}
	return x
}

// toList is x as a List (sharing the entries; callers copy).
func (x *list) toList() *List {
	return &List{Name: x.name, Kind: x.kind, Role: x.role, Description: x.description, Rules: x.rules, Entries: x.entries}
}

// Load reads the list files in dir and returns a Set serving them.
// It fails, returning a nil Set, only when dir cannot be read. When some
// files are broken it returns the Set, holding every list that loaded,
// together with an error describing the others (each a *ParseError);
// the caller decides whether that is fatal.
func Load(dir string, opts ...Option) (*Set, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, err
	}
	s := &Set{dir: dir, log: o.log, now: o.now, m: m, files: map[string]*fileState{}}
	s.snap.Store(&snapshot{lists: map[string]*list{}, byRole: map[Role][]*list{}, devices: map[string][]*Entry{}})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(); err != nil {
		return nil, err
	}
	return s, s.fileErrorsLocked()
}

// now in Unix nanoseconds.
func (s *Set) nowNanos() int64 { return s.now().UnixNano() }

// HasList reports whether a list of that name is loaded.
func (s *Set) HasList(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.snap.Load().lists[name]
	return ok
}

// Kind returns the kind of the named list.
func (s *Set) Kind(name string) (Kind, bool) {
	if s == nil {
		return "", false
	}
	l, ok := s.snap.Load().lists[name]
	if !ok {
		return "", false
	}
	return l.kind, true
}

// Contains reports whether value is on the named list: for an ip list an
// address (parsed) that one of its addresses or prefixes covers, for a
// user list a user name (any case), for a device list "user/DeviceId" or
// "user DeviceId". Expired entries do not count; unknown lists contain
// nothing.
func (s *Set) Contains(name, value string) bool {
	if s == nil {
		return false
	}
	l := s.snap.Load().lists[name]
	if l == nil {
		return false
	}
	switch l.kind {
	case KindIP:
		a, err := netip.ParseAddr(value)
		if err != nil {
			return false
		}
		return l.hasIP(a, s)
	case KindUser:
		return l.hasUser(value, s)
	case KindDevice:
		user, dev, ok := splitDevice(value)
		return ok && l.hasDevice(user, dev, s) != nil
	}
	return false
}

// ContainsIP reports whether ip is covered by an unexpired entry of the
// named ip list. IPv4-mapped IPv6 addresses match IPv4 entries.
func (s *Set) ContainsIP(name string, ip netip.Addr) bool {
	if s == nil {
		return false
	}
	l := s.snap.Load().lists[name]
	if l == nil || l.kind != KindIP {
		return false
	}
	return l.hasIP(ip, s)
}

// Device returns the registry entry of the ActiveSync device id of user,
// looking through every device list (in name order); user and id compare
// case-insensitively. Expired entries are not registered.
func (s *Set) Device(user, id string) (Entry, bool) {
	if s == nil || user == "" || id == "" {
		return Entry{}, false
	}
	var buf [128]byte
	refs := s.snap.Load().devices[string(appendDeviceKey(buf[:0], user, id))]
	for _, e := range refs {
		if x := expiryNanos(e.Expires); x == never || s.nowNanos() < x {
			return *e, true
		}
	}
	return Entry{}, false
}

// Revoked reports whether user's ActiveSync device id was revoked (a
// lost phone) and is not registered again: an entry of a device list
// with a revocation time and none in force.
func (s *Set) Revoked(user, id string) bool {
	if s == nil || user == "" || id == "" {
		return false
	}
	var buf [128]byte
	revoked := false
	for _, e := range s.snap.Load().devices[string(appendDeviceKey(buf[:0], user, id))] {
		if x := expiryNanos(e.Expires); x == never || s.nowNanos() < x {
			return false
		}
		revoked = revoked || !e.Revoked.IsZero()
	}
	return revoked
}

// ActiveDevices returns the registered ActiveSync devices of every device
// list (in list name order): the entries that are neither expired nor
// revoked.
func (s *Set) ActiveDevices() []Entry {
	if s == nil {
		return nil
	}
	sn := s.snap.Load()
	names := make([]string, 0, len(sn.lists))
	for name, l := range sn.lists {
		if l.kind == KindDevice {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	now := s.nowNanos()
	var out []Entry
	for _, name := range names {
		for _, e := range sn.lists[name].entries {
			if x := expiryNanos(e.Expires); x == never || now < x {
				out = append(out, e)
			}
		}
	}
	return out
}

// Match reports whether an event's source ip, user or device (deviceUser
// plus deviceID) is on a list of the given role that applies to ruleID
// (lists without rules apply to all), and which list it is (the first by
// name). Empty arguments are not looked up.
func (s *Set) Match(ruleID string, role Role, ip, user, deviceUser, deviceID string) (listName string, ok bool) {
	if s == nil {
		return "", false
	}
	var (
		addr   netip.Addr
		parsed bool
	)
	for _, l := range s.snap.Load().byRole[role] {
		if l.ruleSet != nil {
			if _, ok := l.ruleSet[ruleID]; !ok {
				continue
			}
		}
		switch l.kind {
		case KindIP:
			if ip == "" {
				continue
			}
			if !parsed {
				addr, _ = netip.ParseAddr(ip)
				parsed = true
			}
			if addr.IsValid() && l.hasIP(addr, s) {
				return l.name, true
			}
		case KindUser:
			if user != "" && l.hasUser(user, s) {
				return l.name, true
			}
		case KindDevice:
			if deviceUser != "" && deviceID != "" && l.hasDevice(deviceUser, deviceID, s) != nil {
				return l.name, true
			}
		}
	}
	return "", false
}

// Lists describes every list, sorted by name.
func (s *Set) Lists() []ListInfo {
	if s == nil {
		return nil
	}
	sn := s.snap.Load()
	s.mu.Lock()
	errs := make(map[string]string, len(s.files))
	for name, f := range s.files {
		if f.err != nil {
			errs[name] = f.err.Error()
		}
	}
	s.mu.Unlock()
	now := s.nowNanos()
	out := make([]ListInfo, 0, len(sn.lists))
	for _, l := range sn.lists {
		active := 0
		for _, e := range l.entries {
			if x := expiryNanos(e.Expires); x == never || now < x {
				active++
			}
		}
		out = append(out, ListInfo{
			Name:        l.name,
			Kind:        l.kind,
			Role:        l.role,
			Description: l.description,
			Rules:       slices.Clone(l.rules),
			File:        l.file,
			Entries:     len(l.entries),
			Active:      active,
			Error:       errs[l.file],
		})
	}
	slices.SortFunc(out, func(a, b ListInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Entries returns a copy of the named list's entries, expired ones
// included.
func (s *Set) Entries(name string) ([]Entry, bool) {
	if s == nil {
		return nil, false
	}
	l := s.snap.Load().lists[name]
	if l == nil {
		return nil, false
	}
	return slices.Clone(l.entries), true
}

// Status reports the folder's state.
func (s *Set) Status() Status {
	if s == nil {
		return Status{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Dir:          s.dir,
		LastReload:   s.lastReload,
		Reloads:      s.reloads,
		ReloadErrors: s.reloadErrs,
		DirError:     s.dirErr,
	}
	for name, f := range s.files {
		fs := FileStatus{File: name}
		if f.list != nil {
			fs.List = f.list.name
		}
		if f.err != nil {
			fs.Error = f.err.Error()
		}
		st.Files = append(st.Files, fs)
	}
	slices.SortFunc(st.Files, func(a, b FileStatus) int { return strings.Compare(a.File, b.File) })
	return st
}

func (l *list) hasIP(a netip.Addr, s *Set) bool {
	x, ok := l.ips.lookup(a)
	return ok && (x == never || s.nowNanos() < x)
}

func (l *list) hasUser(name string, s *Set) bool {
	var buf [64]byte
	x, ok := l.users[string(appendLower(buf[:0], name))]
	return ok && (x == never || s.nowNanos() < x)
}

func (l *list) hasDevice(user, dev string, s *Set) *Entry {
	var buf [128]byte
	e := l.devs[string(appendDeviceKey(buf[:0], user, dev))]
	if e == nil {
		return nil
	}
	if x := expiryNanos(e.Expires); x != never && s.nowNanos() >= x {
		return nil
	}
	return e
}

// appendLower appends s in lower case (as strings.ToLower would) without
// allocating for ASCII input that fits b.
func appendLower(b []byte, s string) []byte {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := range len(s) {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// appendDeviceKey appends deviceKey(user, dev).
func appendDeviceKey(b []byte, user, dev string) []byte {
	b = appendLower(b, user)
	b = append(b, 0)
	return appendLower(b, dev)
}
