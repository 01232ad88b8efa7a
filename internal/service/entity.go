package service

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/store"
)

// EntityKind is what an entity page is about.
type EntityKind string

// Entity kinds.
const (
	EntityKindUser   EntityKind = "user"   // user.name
	EntityKindIP     EntityKind = "ip"     // source.ip
	EntityKindDevice EntityKind = "device" // device.id
)

// Bounds of an entity page.
const (
	entityTop     = 50 // addresses, devices, users
	entityRecent  = 50 // recent events
	entityAlerts  = 50
	entityFailure = 25 // failure groups
	entityLockout = 20
	maxMessage    = 400 // bytes of an event's message shown
)

// EntityQuery asks for one entity page.
type EntityQuery struct {
	Kind  EntityKind
	Value string
	// Start and End bound the page's events; zero End is now, zero Start
	// is 7 days before End.
	Start, End time.Time
	// Loc is the reader's time zone: day buckets start at its midnight.
	// Nil means UTC.
	Loc *time.Location
}

// EntityPage is what Vigil knows about a user, an address or a device in a
// time range. Lists are bounded (Truncated says which were cut).
type EntityPage struct {
	Kind  EntityKind `json:"kind"`
	Value string     `json:"value"`
	Start time.Time  `json:"start"`
	End   time.Time  `json:"end"`
	// Country is the country of an address (kind ip), when known.
	Country string `json:"country,omitempty"`
	// Timeline is logins and failures over time by protocol.
	Timeline *Timeline `json:"timeline"`
	// Addresses the entity used (not for kind ip), busiest first.
	Addresses []AddressUse `json:"addresses,omitempty"`
	// Countries of those addresses (not for kind ip), busiest first.
	Countries []CountryUse `json:"countries,omitempty"`
	// Devices seen with the entity (not for kind device), with whether
	// each is in the device registry.
	Devices []DeviceUse `json:"devices,omitempty"`
	// Users seen with the entity (not for kind user).
	Users []UserUse `json:"users,omitempty"`
	// Lockouts are the entity's lockout events, newest first.
	Lockouts []EventSummary `json:"lockouts"`
	// Failures groups the failed logons by protocol, address, device and
	// reason, most first: beside the lockouts they tell a phone with an
	// old password (one device, one address, a steady rate) from an
	// attack (many addresses, no device, bursts).
	Failures []FailureGroup `json:"failures"`
	// Hint reads the failures: HintStaleDevice or HintManySources, ""
	// when they say neither; HintDevice is the device of a stale one.
	Hint       string `json:"hint,omitempty"`
	HintDevice string `json:"hint_device,omitempty"`
	// Recent are the newest events, newest first.
	Recent []EventSummary `json:"recent"`
	// Alerts are the alerts about the entity, newest first.
	Alerts []AlertSummary `json:"alerts"`
	// Registry is false when there is no device registry to check
	// devices against.
	Registry bool `json:"registry"`
	// Truncated names the lists that hit their bound.
	Truncated []string `json:"truncated,omitempty"`
	// Errors names the panels whose query failed, with why.
	Errors map[string]string `json:"errors,omitempty"`
}

// AddressUse is one address an entity used.
type AddressUse struct {
	IP       string    `json:"ip"`
	Country  string    `json:"country,omitempty"`
	Events   int64     `json:"events"`
	Failures int64     `json:"failures"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// CountryUse counts the events from one country ("" unknown or private).
type CountryUse struct {
	Country   string `json:"country"`
	Events    int64  `json:"events"`
	Addresses int    `json:"addresses"`
}

// DeviceUse is one ActiveSync device seen with an entity.
type DeviceUse struct {
	ID         string    `json:"id"`
	Type       string    `json:"type,omitempty"`
	User       string    `json:"user,omitempty"`
	Registered bool      `json:"registered"`
	Events     int64     `json:"events"`
	Failures   int64     `json:"failures"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// UserUse is one account seen with an address or a device.
type UserUse struct {
	Name     string    `json:"name"`
	Events   int64     `json:"events"`
	Failures int64     `json:"failures"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// FailureGroup counts failed logons that share protocol, address,
// device and reason.
type FailureGroup struct {
	Protocol   string    `json:"protocol"`
	SourceIP   string    `json:"source_ip,omitempty"`
	Country    string    `json:"country,omitempty"`
	DeviceID   string    `json:"device_id,omitempty"`
	User       string    `json:"user,omitempty"`
	Registered bool      `json:"registered,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Count      int64     `json:"count"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// EventSummary is the part of an event a page lists.
type EventSummary struct {
	Time     time.Time `json:"time"`
	Dataset  string    `json:"dataset,omitempty"`
	Action   string    `json:"action,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
	User     string    `json:"user,omitempty"`
	DeviceID string    `json:"device_id,omitempty"`
	Host     string    `json:"host,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Seq      string    `json:"seq,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// AlertSummary is the part of an alert a page lists.
type AlertSummary struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	RuleID   string    `json:"rule_id"`
	Rule     string    `json:"rule,omitempty"`
	Level    string    `json:"level,omitempty"`
	Message  string    `json:"message,omitempty"`
	User     string    `json:"user,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
	DeviceID string    `json:"device_id,omitempty"`
}

// Hints on an entity's failures.
const (
	// HintStaleDevice: most failures (80% or more) come from one
	// registered device: a phone that keeps an old password, most likely.
	HintStaleDevice = "stale_device"
	// HintManySources: the failures come from 5 or more addresses and
	// mostly without a device: password guessing, most likely.
	HintManySources = "many_sources"
)

// hint reads failure groups (the largest first) for EntityPage.Hint.
func hint(groups []FailureGroup) (string, string) {
	var total, noDevice int64
	byDevice := map[string]int64{}
	addrs := map[string]bool{}
	registered := map[string]bool{}
	for _, g := range groups {
		total += g.Count
		if g.DeviceID == "" {
			noDevice += g.Count
		} else {
			byDevice[g.DeviceID] += g.Count
			registered[g.DeviceID] = registered[g.DeviceID] || g.Registered
		}
		if g.SourceIP != "" {
			addrs[g.SourceIP] = true
		}
	}
	if total == 0 {
		return "", ""
	}
	for id, n := range byDevice {
		if registered[id] && n*5 >= total*4 {
			return HintStaleDevice, id
		}
	}
	if len(addrs) >= 5 && noDevice*2 > total {
		return HintManySources, ""
	}
	return "", ""
}

// ParseEntityKind reads an entity kind: user, ip or device.
func ParseEntityKind(s string) (EntityKind, error) {
	switch k := EntityKind(s); k {
	case EntityKindUser, EntityKindIP, EntityKindDevice:
		return k, nil
	}
	return "", Invalidf("unknown entity kind %q: want user, ip or device", s)
}

// entityField is the field an entity kind is found by.
func (k EntityKind) field() string {
	switch k {
	case EntityKindIP:
		return "source.ip"
	case EntityKindDevice:
		return "device.id"
	}
	return "user.name"
}

// normEntity checks an entity's value and writes it as events store it.
func normEntity(k EntityKind, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", Invalidf("empty %s", k)
	}
	if len(v) > 256 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", Invalidf("%s: not a valid value", k)
	}
	switch k {
	case EntityKindIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return "", Invalidf("%q is not an IP address", v)
		}
		return a.Unmap().WithZone("").String(), nil
	case EntityKindUser:
		return strings.ToLower(v), nil // user.name is lower case (docs/schema.md)
	}
	return v, nil
}

// Entity returns the page of one user, address or device.
func (d *Dashboards) Entity(ctx context.Context, a Actor, q EntityQuery) (*EntityPage, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	kind, err := ParseEntityKind(string(q.Kind))
	if err != nil {
		return nil, err
	}
	v, err := normEntity(kind, q.Value)
	if err != nil {
		return nil, err
	}
	if err := checkRange(&q.Start, &q.End, d.opts.Now(), 7*24*time.Hour); err != nil {
		return nil, err
	}
	if q.Loc == nil {
		q.Loc = time.UTC
	}
	e := &EntityPage{Kind: kind, Value: v, Start: q.Start.UTC(), End: q.End.UTC(), Registry: d.opts.Registered != nil,
		Lockouts: []EventSummary{}, Failures: []FailureGroup{}, Recent: []EventSummary{}, Alerts: []AlertSummary{}}
	if kind == EntityKindIP {
		e.Country = d.country(v)
	}
	f := kind.field() + ":=" + quote(v)
	tl := newTimeline(q.Start, q.End, pickStep(q.Start, q.End, 48), q.Loc)
	e.Timeline = tl
	p := d.panels(ctx)
	trunc := make([]bool, 5)
	p.run("timeline", func(ctx context.Context) error {
		return d.fillTimeline(ctx, tl, f, q.Start, q.End, q.Loc)
	})
	if kind != EntityKindIP {
		p.run("addresses", func(ctx context.Context) error {
			var err error
			e.Addresses, trunc[0], err = d.addresses(ctx, f, q.Start, q.End)
			e.Countries = countries(e.Addresses)
			return err
		})
	}
	if kind != EntityKindDevice {
		p.run("devices", func(ctx context.Context) error {
			var err error
			e.Devices, trunc[1], err = d.devices(ctx, f, q.Start, q.End)
			return err
		})
	}
	if kind != EntityKindUser {
		p.run("users", func(ctx context.Context) error {
			var err error
			e.Users, trunc[2], err = d.users(ctx, f, q.Start, q.End)
			return err
		})
	}
	p.run("lockouts", func(ctx context.Context) error {
		return d.events(ctx, f+" "+lockoutFilter, q.Start, q.End, entityLockout, &e.Lockouts)
	})
	p.run("failures", func(ctx context.Context) error {
		var err error
		e.Failures, trunc[3], err = d.failures(ctx, f, q.Start, q.End)
		return err
	})
	p.run("recent", func(ctx context.Context) error {
		return d.events(ctx, f+" "+notAlerts, q.Start, q.End, entityRecent, &e.Recent)
	})
	p.run("alerts", func(ctx context.Context) error {
		var err error
		e.Alerts, trunc[4], err = d.alerts(ctx, f, q.Start, q.End, entityAlerts)
		return err
	})
	if e.Errors, err = p.wait(); err != nil {
		return nil, err
	}
	e.Hint, e.HintDevice = hint(e.Failures)
	for i, name := range []string{"addresses", "devices", "users", "failures", "alerts"} {
		if trunc[i] {
			e.Truncated = append(e.Truncated, name)
		}
	}
	return e, nil
}

// country returns the country of an address, "" when unknown.
func (d *Dashboards) country(ip string) string {
	if d.opts.Country == nil {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return d.opts.Country(a)
}

// registered reports whether the registry holds the device.
func (d *Dashboards) registered(user, id string) bool {
	return d.opts.Registered != nil && user != "" && id != "" && d.opts.Registered(user, id)
}

// useStats are the stats of the addresses, devices and users lists.
const useStats = ` | stats by (%s) count() n, count() if (event.outcome:failure) failures, min(_time) first, max(_time) last | sort by (n desc) | limit `

// top runs filter | stats by (by) ... and returns its rows up to n and
// whether there were more.
func (d *Dashboards) top(ctx context.Context, filter, by string, start, end time.Time, n int, fn func(*store.Row)) (bool, error) {
	q := filter + " " + notAlerts + " " + strings.Replace(useStats, "%s", by, 1) + strconv.Itoa(n+1)
	seen := 0
	err := d.rows(ctx, q, start, end, func(r *store.Row) {
		if seen++; seen <= n {
			fn(r)
		}
	})
	return seen > n, err
}

func (d *Dashboards) addresses(ctx context.Context, f string, start, end time.Time) ([]AddressUse, bool, error) {
	var out []AddressUse
	more, err := d.top(ctx, f+" source.ip:*", "source.ip", start, end, entityTop, func(r *store.Row) {
		ip := get(r, "source.ip")
		out = append(out, AddressUse{IP: ip, Country: d.country(ip), Events: num(r.Get("n")), Failures: num(r.Get("failures")),
			First: tm(r.Get("first")), Last: tm(r.Get("last"))})
	})
	slices.SortStableFunc(out, func(a, b AddressUse) int { return cmp.Compare(b.Events, a.Events) })
	return out, more, err
}

// countries sums addresses by country, busiest first.
func countries(addrs []AddressUse) []CountryUse {
	at := map[string]int{}
	var out []CountryUse
	for _, a := range addrs {
		i, ok := at[a.Country]
		if !ok {
			i = len(out)
			at[a.Country] = i
			out = append(out, CountryUse{Country: a.Country})
		}
		out[i].Events += a.Events
		out[i].Addresses++
	}
	slices.SortStableFunc(out, func(a, b CountryUse) int { return cmp.Compare(b.Events, a.Events) })
	return out
}

func (d *Dashboards) devices(ctx context.Context, f string, start, end time.Time) ([]DeviceUse, bool, error) {
	var out []DeviceUse
	more, err := d.top(ctx, f+" device.id:*", "device.id, user.name, device.type", start, end, entityTop, func(r *store.Row) {
		dv := DeviceUse{ID: get(r, "device.id"), Type: get(r, "device.type"), User: get(r, "user.name"),
			Events: num(r.Get("n")), Failures: num(r.Get("failures")), First: tm(r.Get("first")), Last: tm(r.Get("last"))}
		dv.Registered = d.registered(dv.User, dv.ID)
		out = append(out, dv)
	})
	slices.SortStableFunc(out, func(a, b DeviceUse) int { return cmp.Compare(b.Events, a.Events) })
	return out, more, err
}

func (d *Dashboards) users(ctx context.Context, f string, start, end time.Time) ([]UserUse, bool, error) {
	var out []UserUse
	more, err := d.top(ctx, f+" user.name:*", "user.name", start, end, entityTop, func(r *store.Row) {
		out = append(out, UserUse{Name: get(r, "user.name"), Events: num(r.Get("n")), Failures: num(r.Get("failures")),
			First: tm(r.Get("first")), Last: tm(r.Get("last"))})
	})
	slices.SortStableFunc(out, func(a, b UserUse) int { return cmp.Compare(b.Events, a.Events) })
	return out, more, err
}

// failures groups an entity's failed logons.
func (d *Dashboards) failures(ctx context.Context, f string, start, end time.Time) ([]FailureGroup, bool, error) {
	q := f + " event.category:authentication event.outcome:failure" +
		" | stats by (network.protocol, event.dataset, source.ip, device.id, user.name, event.reason) count() n, min(_time) first, max(_time) last" +
		" | sort by (n desc) | limit " + strconv.Itoa(entityFailure+1)
	out := []FailureGroup{}
	seen := 0
	err := d.rows(ctx, q, start, end, func(r *store.Row) {
		if seen++; seen > entityFailure {
			return
		}
		g := FailureGroup{Protocol: protocolOf(r.Get("network.protocol"), r.Get("event.dataset")), SourceIP: get(r, "source.ip"),
			DeviceID: get(r, "device.id"), User: get(r, "user.name"), Reason: get(r, "event.reason"),
			Count: num(r.Get("n")), First: tm(r.Get("first")), Last: tm(r.Get("last"))}
		g.Country = d.country(g.SourceIP)
		g.Registered = d.registered(g.User, g.DeviceID)
		out = append(out, g)
	})
	slices.SortStableFunc(out, func(a, b FailureGroup) int { return cmp.Compare(b.Count, a.Count) })
	return out, seen > entityFailure, err
}

// events lists the newest events of filter, up to n.
func (d *Dashboards) events(ctx context.Context, filter string, start, end time.Time, n int, out *[]EventSummary) error {
	return d.st.Search(ctx, store.Query{Text: filter, Start: start, End: end, Limit: n, Order: store.Newest}, func(r store.Row) error {
		*out = append(*out, summarize(&r))
		return nil
	})
}

// summarize copies the listed fields of an event.
func summarize(r *store.Row) EventSummary {
	return EventSummary{Time: r.Time, Dataset: get(r, "event.dataset"), Action: get(r, "event.action"),
		Outcome: get(r, "event.outcome"), Protocol: get(r, "network.protocol"), SourceIP: get(r, "source.ip"),
		User: get(r, "user.name"), DeviceID: get(r, "device.id"), Host: firstOf(r, "host.name", "host.hostname"),
		Reason: get(r, "event.reason"), Seq: get(r, "vigil.seq"), Message: clip(r.Get("_msg"))}
}

func firstOf(r *store.Row, names ...string) string {
	for _, n := range names {
		if v := r.Get(n); v != "" {
			return strings.Clone(v)
		}
	}
	return ""
}

// alerts lists the newest alerts of filter, up to n.
func (d *Dashboards) alerts(ctx context.Context, filter string, start, end time.Time, n int) ([]AlertSummary, bool, error) {
	out := []AlertSummary{}
	q := store.Query{Text: alertFilter + " " + filter, Scope: store.Alerts, Start: start, End: end, Limit: n + 1, Order: store.Newest}
	seen := 0
	err := d.st.Search(ctx, q, func(r store.Row) error {
		if seen++; seen <= n {
			out = append(out, alertSummary(&r))
		}
		return nil
	})
	return out, seen > n, err
}

func alertSummary(r *store.Row) AlertSummary {
	return AlertSummary{ID: get(r, "alert.id"), Time: r.Time, RuleID: get(r, "rule.id"), Rule: get(r, "rule.name"),
		Level: get(r, "level"), Message: clip(r.Get("_msg")), User: get(r, "user.name"), SourceIP: get(r, "source.ip"),
		DeviceID: get(r, "device.id")}
}

// clip returns a copy of an event's message, cut to maxMessage bytes.
func clip(msg string) string {
	if len(msg) > maxMessage {
		return strings.ToValidUTF8(msg[:maxMessage], "") + "…"
	}
	return strings.Clone(msg)
}
