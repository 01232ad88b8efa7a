package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/lists"
)

// RegistryList is the device list that registrations go to: the list the
// built-in activesync-unregistered-device rules ask about.
const RegistryList = "devices"

// DeviceQuery selects devices of the registry.
type DeviceQuery struct {
	// User keeps one user's devices (any case); Filter those whose user,
	// id, model, note or author contain it.
	User, Filter string
	// Offset and Limit page the result (Limit 0: 100; at most 1000).
	Offset, Limit int
}

// DevicePage is a page of the registry, sorted by user then device id.
type DevicePage struct {
	Devices []EntryView `json:"devices"`
	Total   int         `json:"total"`
	Offset  int         `json:"offset"`
	// Registry is the list new devices go to; "" when there is none
	// (then registering fails).
	Registry string `json:"registry"`
}

// DeviceInput is a phone or tablet to register.
type DeviceInput struct {
	User   string `json:"user"`
	Device string `json:"device"`
	// Model is its type or model ("iPhone 15"); Note why, Owner who
	// asked.
	Model   string    `json:"model,omitempty"`
	Note    string    `json:"note,omitempty"`
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// deviceLists returns the names of the device lists, by name.
func (s *Lists) deviceLists() []string {
	var out []string
	if s.set == nil {
		return nil
	}
	for _, li := range s.set.Lists() {
		if li.Kind == lists.KindDevice {
			out = append(out, li.Name)
		}
	}
	return out
}

// Devices returns a page of the device registry: the entries of every
// device list, revoked and expired ones included.
func (s *Lists) Devices(_ context.Context, a Actor, q DeviceQuery) (DevicePage, error) {
	if err := a.Check(PermRead); err != nil {
		return DevicePage{}, err
	}
	now := s.now()
	var views []EntryView
	names := s.deviceLists()
	for _, name := range names {
		es, _ := s.set.Entries(name)
		for _, e := range es {
			if q.User != "" && !strings.EqualFold(e.User, q.User) {
				continue
			}
			v := entryView(e, now)
			v.List = name
			if q.Filter != "" && !v.matches(q.Filter) && !strings.Contains(strings.ToLower(v.User), strings.ToLower(q.Filter)) {
				continue
			}
			views = append(views, v)
		}
	}
	slices.SortStableFunc(views, func(x, y EntryView) int {
		if c := strings.Compare(strings.ToLower(x.User), strings.ToLower(y.User)); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(x.Device), strings.ToLower(y.Device))
	})
	page, off := clampPage(views, q.Offset, q.Limit)
	p := DevicePage{Devices: page, Total: len(views), Offset: off}
	if slices.Contains(names, RegistryList) {
		p.Registry = RegistryList
	}
	return p, nil
}

// Register puts a user's device on the registry (the list "devices"),
// replacing an earlier entry of the same user and device id (a revoked
// one included), with who registered it and when.
func (s *Lists) Register(ctx context.Context, a Actor, in DeviceInput) (EntryView, error) {
	if err := a.Check(PermLists); err != nil {
		return EntryView{}, err
	}
	if !slices.Contains(s.deviceLists(), RegistryList) {
		return EntryView{}, Invalidf("there is no device registry: create the list %q (kind: device) in detect.lists_dir", RegistryList)
	}
	in.User, in.Device = strings.TrimSpace(in.User), strings.TrimSpace(in.Device)
	if in.User == "" || in.Device == "" {
		return EntryView{}, Invalidf("user and device id are required")
	}
	now := s.now().UTC().Truncate(time.Second)
	if !in.Expires.IsZero() && !in.Expires.After(now) {
		return EntryView{}, Invalidf("expiry %s is not in the future", in.Expires.Format(time.RFC3339))
	}
	e := lists.Entry{User: in.User, Device: in.Device, Model: in.Model, Note: in.Note, Owner: in.Owner,
		By: a.Name, Added: now, Expires: in.Expires}
	detail := fmt.Sprintf("user=%q device=%q", in.User, in.Device)
	if in.Model != "" {
		detail += fmt.Sprintf(" model=%q", in.Model)
	}
	var out lists.Entry
	err := s.change(a, RegistryList, entryValue(e), "device.register", detail, func(*lists.Entry) (lists.Entry, bool, error) {
		return e, true, nil
	}, &out)
	if err != nil {
		return EntryView{}, err
	}
	v := entryView(out, s.now())
	v.List = RegistryList
	return v, nil
}

// Revoke marks a registered device as revoked (a lost or stolen phone):
// it stops being registered at once, so the unregistered-device rules
// fire on its next sync. The entry stays on its list with who revoked it
// and when; registering the device again replaces it. user may be empty
// when only one user has a device with that id.
func (s *Lists) Revoke(ctx context.Context, a Actor, user, device, reason string) (EntryView, error) {
	if err := a.Check(PermLists); err != nil {
		return EntryView{}, err
	}
	device = strings.TrimSpace(device)
	if device == "" {
		return EntryView{}, Invalidf("device id is required")
	}
	list, e, err := s.findDevice(user, device)
	if err != nil {
		return EntryView{}, err
	}
	detail := fmt.Sprintf("user=%q device=%q", e.User, e.Device)
	if reason != "" {
		detail += fmt.Sprintf(" reason=%q", reason)
	}
	var out lists.Entry
	err = s.change(a, list, entryValue(e), "device.revoke", detail, func(old *lists.Entry) (lists.Entry, bool, error) {
		if old == nil {
			return lists.Entry{}, false, fmt.Errorf("device %s/%s: %w", e.User, e.Device, ErrNotFound)
		}
		if !old.Revoked.IsZero() {
			return lists.Entry{}, false, Invalidf("device %s/%s was revoked already (%s by %s)", old.User, old.Device,
				old.Revoked.UTC().Format(time.RFC3339), old.RevokedBy)
		}
		now := s.now().UTC()
		r := *old
		r.Revoked, r.RevokedBy = now, a.Name
		if r.Expires.IsZero() || r.Expires.After(now) {
			r.Expires = now // what stops it matching
		}
		if reason != "" {
			if r.Note != "" {
				r.Note += "; "
			}
			r.Note += "revoked: " + reason
		}
		return r, true, nil
	}, &out)
	if err != nil {
		return EntryView{}, err
	}
	v := entryView(out, s.now())
	v.List = list
	return v, nil
}

// findDevice returns the device list and entry of user's device (any
// case); without user, the one user's device with that id.
func (s *Lists) findDevice(user, device string) (string, lists.Entry, error) {
	type hit struct {
		list string
		e    lists.Entry
	}
	var hits []hit
	for _, name := range s.deviceLists() {
		es, _ := s.set.Entries(name)
		for _, e := range es {
			if strings.EqualFold(e.Device, device) && (user == "" || strings.EqualFold(e.User, user)) {
				hits = append(hits, hit{name, e})
			}
		}
	}
	switch {
	case len(hits) == 0 && user != "":
		return "", lists.Entry{}, fmt.Errorf("device %s of %s: %w", device, user, ErrNotFound)
	case len(hits) == 0:
		return "", lists.Entry{}, fmt.Errorf("device %s: %w", device, ErrNotFound)
	case len(hits) > 1 && user == "":
		return "", lists.Entry{}, Invalidf("device %s is registered to more than one user: give the user", device)
	}
	return hits[0].list, hits[0].e, nil
}
