package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/storage"
)

// ListSet is what the list service needs of the loaded lists: the
// detector's own *lists.Set, so a change applies to the next event.
type ListSet interface {
	Reload() error
	Lists() []lists.ListInfo
	Entries(name string) ([]lists.Entry, bool)
	Entry(name, value string) (lists.Entry, error)
	Add(name string, e lists.Entry) error
	Remove(name, value string) error
	Save(name string) error
}

// Lists views and edits the allow/block lists and the ActiveSync device
// registry (devices.go). The list files are the source of truth: a change
// is applied to the lists the detector consults, written back to the
// list's file (atomically, keeping its mode) and then recorded in the
// audit trail. If the file cannot be written the change is undone; if
// the audit entry cannot be written the file is restored and the change
// undone, so that no change is made without its audit entry.
type Lists struct {
	set ListSet
	db  *storage.DB
	now func() time.Time
	mu  sync.Mutex // one change at a time: apply, save, audit
}

// NewLists returns the list service over set (nil: no lists configured)
// and the state store db; now is its clock (nil: time.Now).
func NewLists(set ListSet, db *storage.DB, now func() time.Time) *Lists {
	if now == nil {
		now = time.Now
	}
	return &Lists{set: set, db: db, now: now}
}

// ListView describes one list.
type ListView struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Role        string   `json:"role"`
	Description string   `json:"description,omitempty"`
	Rules       []string `json:"rules,omitempty"`
	File        string   `json:"file"`
	Entries     int      `json:"entries"`
	Active      int      `json:"active"`
	Error       string   `json:"error,omitempty"`
}

// Entry states.
const (
	EntryActive  = "active"
	EntryExpired = "expired"
	EntryRevoked = "revoked"
)

// EntryView is one list entry.
type EntryView struct {
	// Value is the address or prefix, the user name, or "user/DeviceId".
	Value  string `json:"value"`
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
	Model  string `json:"model,omitempty"`
	Note   string `json:"note,omitempty"`
	Owner  string `json:"owner,omitempty"`
	// By is who added it; Added when.
	By        string    `json:"by,omitempty"`
	Added     time.Time `json:"added,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	// State is active, expired or revoked.
	State string `json:"state"`
	// List is the list the entry is on (devices only).
	List string `json:"list,omitempty"`
}

// ListPage is a list with one page of its entries.
type ListPage struct {
	List    ListView    `json:"list"`
	Entries []EntryView `json:"entries"`
	// Total is the number of entries that match the query.
	Total  int `json:"total"`
	Offset int `json:"offset"`
}

// EntryQuery selects a page of entries.
type EntryQuery struct {
	// Filter keeps entries whose value, note, owner, model or author
	// contain it (any case).
	Filter string
	// Offset and Limit page the result (Limit 0: 100; at most 1000).
	Offset, Limit int
}

// Page limits.
const (
	defaultPage = 100
	maxPage     = 1000
)

// EntryInput is an entry to add.
type EntryInput struct {
	Value   string    `json:"value"`
	Note    string    `json:"note,omitempty"`
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// ExpiresIn is the expiry as a duration from now ("12h", "30d"), an
	// alternative to Expires.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// Lists describes every list, sorted by name.
func (s *Lists) Lists(_ context.Context, a Actor) ([]ListView, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if s.set == nil {
		return []ListView{}, nil
	}
	infos := s.set.Lists()
	out := make([]ListView, 0, len(infos))
	for _, li := range infos {
		out = append(out, listView(li))
	}
	return out, nil
}

func listView(li lists.ListInfo) ListView {
	return ListView{Name: li.Name, Kind: string(li.Kind), Role: string(li.Role), Description: li.Description,
		Rules: li.Rules, File: li.File, Entries: li.Entries, Active: li.Active, Error: li.Error}
}

// info returns the named list's description.
func (s *Lists) info(name string) (lists.ListInfo, error) {
	if s.set != nil {
		for _, li := range s.set.Lists() {
			if li.Name == name {
				return li, nil
			}
		}
	}
	return lists.ListInfo{}, fmt.Errorf("list %q: %w", name, ErrNotFound)
}

// List returns the named list with a page of its entries, in file order.
func (s *Lists) List(_ context.Context, a Actor, name string, q EntryQuery) (ListPage, error) {
	if err := a.Check(PermRead); err != nil {
		return ListPage{}, err
	}
	li, err := s.info(name)
	if err != nil {
		return ListPage{}, err
	}
	es, _ := s.set.Entries(name)
	now := s.now()
	var views []EntryView
	for _, e := range es {
		v := entryView(e, now)
		if q.Filter == "" || v.matches(q.Filter) {
			views = append(views, v)
		}
	}
	page, off := clampPage(views, q.Offset, q.Limit)
	return ListPage{List: listView(li), Entries: page, Total: len(views), Offset: off}, nil
}

// clampPage cuts one page out of vs, bounding offset and limit.
func clampPage[T any](vs []T, offset, limit int) ([]T, int) {
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	offset = min(max(offset, 0), len(vs))
	return pageOf(vs, offset, limit), offset
}

func entryView(e lists.Entry, now time.Time) EntryView {
	v := EntryView{Value: e.Value, User: e.User, Device: e.Device, Model: e.Model, Note: e.Note, Owner: e.Owner,
		By: e.By, Added: e.Added, Expires: e.Expires, Revoked: e.Revoked, RevokedBy: e.RevokedBy, State: EntryActive}
	switch {
	case !e.Revoked.IsZero():
		v.State = EntryRevoked
	case !e.Expires.IsZero() && !now.Before(e.Expires):
		v.State = EntryExpired
	}
	return v
}

func (v *EntryView) matches(filter string) bool {
	f := strings.ToLower(filter)
	for _, s := range [...]string{v.Value, v.Note, v.Owner, v.Model, v.By} {
		if strings.Contains(strings.ToLower(s), f) {
			return true
		}
	}
	return false
}

// AddEntry puts an entry on the named list (replacing one with the same
// value), recording who added it and when.
func (s *Lists) AddEntry(ctx context.Context, a Actor, name string, in EntryInput) (EntryView, error) {
	if err := a.Check(PermLists); err != nil {
		return EntryView{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	if in.ExpiresIn != "" {
		d, ok := ParseAgo(in.ExpiresIn)
		switch {
		case !in.Expires.IsZero():
			return EntryView{}, Invalidf("give expires or expires_in, not both")
		case !ok || d <= 0 || strings.HasPrefix(strings.TrimSpace(in.ExpiresIn), "-"):
			return EntryView{}, Invalidf("expires_in: want a duration like 12h or 30d, got %q", in.ExpiresIn)
		}
		in.Expires = now.Add(d)
	}
	if !in.Expires.IsZero() && !in.Expires.After(now) {
		return EntryView{}, Invalidf("expiry %s is not in the future", in.Expires.Format(time.RFC3339))
	}
	e := lists.Entry{Value: strings.TrimSpace(in.Value), Note: in.Note, Owner: in.Owner, By: a.Name, Added: now, Expires: in.Expires}
	if e.Value == "" {
		return EntryView{}, Invalidf("value is required")
	}
	detail := fmt.Sprintf("value=%q", e.Value)
	if in.Note != "" {
		detail += fmt.Sprintf(" note=%q", in.Note)
	}
	if !in.Expires.IsZero() {
		detail += " expires=" + in.Expires.UTC().Format(time.RFC3339)
	}
	var out lists.Entry
	err := s.change(a, name, e.Value, "list.add", detail, func(*lists.Entry) (lists.Entry, bool, error) {
		return e, true, nil
	}, &out)
	if err != nil {
		return EntryView{}, err
	}
	return entryView(out, s.now()), nil
}

// RemoveEntry takes value off the named list.
func (s *Lists) RemoveEntry(ctx context.Context, a Actor, name, value string) error {
	if err := a.Check(PermLists); err != nil {
		return err
	}
	return s.change(a, name, value, "list.remove", fmt.Sprintf("value=%q", value), func(old *lists.Entry) (lists.Entry, bool, error) {
		if old == nil {
			return lists.Entry{}, false, fmt.Errorf("%q on list %q: %w", value, name, ErrNotFound)
		}
		return lists.Entry{}, false, nil
	}, nil)
}

// ExpireEntry sets when the entry for value stops matching: at (zero:
// now, which ends it at once).
func (s *Lists) ExpireEntry(ctx context.Context, a Actor, name, value string, at time.Time) (EntryView, error) {
	if err := a.Check(PermLists); err != nil {
		return EntryView{}, err
	}
	if at.IsZero() {
		at = s.now().UTC()
	}
	var out lists.Entry
	err := s.change(a, name, value, "list.expire", fmt.Sprintf("value=%q expires=%s", value, at.UTC().Format(time.RFC3339)),
		func(old *lists.Entry) (lists.Entry, bool, error) {
			if old == nil {
				return lists.Entry{}, false, fmt.Errorf("%q on list %q: %w", value, name, ErrNotFound)
			}
			e := *old
			e.Expires = at
			return e, true, nil
		}, &out)
	if err != nil {
		return EntryView{}, err
	}
	return entryView(out, s.now()), nil
}

// change makes one change to the named list's entry for value: edit gets
// the entry as it is (nil: none) and returns the new one and whether to
// keep it (false: remove). The change applies to lookups, is saved to the
// list's file, then audited; a failure of either undoes it. The entry
// written is stored in out when out is not nil.
func (s *Lists) change(a Actor, name, value, action, detail string, edit func(old *lists.Entry) (lists.Entry, bool, error), out *lists.Entry) error {
	if s.set == nil {
		return fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Pick up edits made to the files by hand, so that Save neither
	// refuses nor overwrites them (a broken file is reported by Save).
	_ = s.set.Reload()
	li, err := s.info(name)
	if err != nil {
		return err
	}
	var old *lists.Entry
	if value != "" {
		switch e, err := s.set.Entry(name, value); {
		case err == nil:
			old = &e
		case errors.Is(err, lists.ErrNotFound):
		default:
			return listErr(err)
		}
	}
	e, keep, err := edit(old)
	if err != nil {
		return err
	}
	if keep {
		err = s.set.Add(name, e)
	} else {
		err = s.set.Remove(name, value)
	}
	if err != nil {
		return listErr(err)
	}
	undo := func() {
		if old != nil {
			_ = s.set.Add(name, *old)
		} else if keep {
			_ = s.set.Remove(name, entryValue(e))
		}
	}
	if err := s.set.Save(name); err != nil {
		undo()
		return fmt.Errorf("list %q: not changed: %w", name, err)
	}
	if out != nil {
		if got, err := s.set.Entry(name, entryValue(e)); err == nil {
			*out = got
		} else {
			*out = e
		}
	}
	err = s.db.Update(func(tx *storage.Tx) error {
		return tx.AppendAudit(&storage.AuditEntry{Time: s.now().UTC(), Actor: a.Name, Role: string(a.Role), Via: a.Via,
			Remote: a.Remote, Action: action, Target: "list " + li.Name, Detail: detail})
	})
	if err != nil {
		undo()
		if serr := s.set.Save(name); serr != nil {
			return fmt.Errorf("list %q: the audit entry could not be written (%v) and the file could not be restored either: %w", name, err, serr)
		}
		return fmt.Errorf("list %q: not changed: the audit entry could not be written: %w", name, err)
	}
	return nil
}

// entryValue is the value that names e on its list.
func entryValue(e lists.Entry) string {
	if e.User != "" && e.Device != "" {
		return e.User + "/" + e.Device
	}
	return e.Value
}

// listErr turns the lists package's refusals into the service's errors.
func listErr(err error) error {
	switch {
	case errors.Is(err, lists.ErrNoList), errors.Is(err, lists.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	// What else Add and Remove refuse is the value itself.
	return Invalidf("%v", err)
}
