package service

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/storage"
)

// Entity kinds: what an incident is about.
const (
	EntityUser   = "user"   // user.name
	EntityIP     = "ip"     // source.ip
	EntityDevice = "device" // device.id
)

// Entity is a user, a source address or a device an alert names.
type Entity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// EntitiesOf returns the entities an alert is about, user first: those
// of its group key (a per-address rule's alert is about the address, not
// the user of the event that tripped it), or, when its group key names
// none, every user, address and device it names.
func EntitiesOf(a *alert.Alert) []Entity {
	named := []Entity{{EntityUser, a.User}, {EntityIP, a.SrcIP}, {EntityDevice, a.DeviceID}}
	fields := map[string]string{"user.name": EntityUser, "source.ip": EntityIP, "device.id": EntityDevice}
	var grouped []Entity
	for _, kv := range parseGroup(a.Group) {
		if kind, ok := fields[kv[0]]; ok && kv[1] != "" {
			grouped = append(grouped, Entity{kind, kv[1]})
		}
	}
	if len(grouped) > 0 {
		slices.SortStableFunc(grouped, func(a, b Entity) int { return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)) })
		return grouped
	}
	var out []Entity
	for _, e := range named {
		if e.Value != "" {
			out = append(out, e)
		}
	}
	return out
}

// GroupIncidents groups alerts into incidents. Taking the alerts in time
// order (alert time, then id), an alert joins the incident of an entity
// it is about (EntitiesOf: user, source address or device) when it comes at most window
// after that incident's last alert and at most span after its first;
// otherwise it starts an incident. An alert that joins several incidents
// (a user's and an address's) merges them into the earliest. So a
// compromised account that trips five rules from one address within the
// window is one incident, and an alert that names no entity is one of
// its own. A follow-up (alert.follow_up) also joins the incident of its
// rule's alert about the same group within span, after the window too. The result depends only on the set of alerts, not on their
// order: incidents ordered by their first alert, each one's alerts in
// time order.
func GroupIncidents(alerts []*alert.Alert, window, span time.Duration) [][]*alert.Alert {
	sorted := slices.Clone(alerts)
	slices.SortFunc(sorted, byTime)
	type group struct {
		alerts      []*alert.Alert
		first, last time.Time
		into        *group // merged into
	}
	resolve := func(g *group) *group {
		for g.into != nil {
			g = g.into
		}
		return g
	}
	var all []*group
	byEntity := map[Entity]*group{}
	// A follow-up joins the incident of its rule's earlier alert about the
	// same group within span, however long after the window it comes: it
	// reports more of the same attack.
	type ruleGroup struct{ rule, group string }
	byRule := map[ruleGroup]*group{}
	for _, a := range sorted {
		ents := EntitiesOf(a)
		var joined []*group
		rg := ruleGroup{a.RuleID, a.Group}
		if g, ok := byRule[rg]; ok && a.FollowUp {
			if g = resolve(g); a.TS.Sub(g.first) <= span {
				joined = append(joined, g)
			}
		}
		for _, e := range ents {
			g, ok := byEntity[e]
			if !ok {
				continue
			}
			g = resolve(g)
			if a.TS.Sub(g.last) <= window && a.TS.Sub(g.first) <= span && !slices.Contains(joined, g) {
				joined = append(joined, g)
			}
		}
		var g *group
		if len(joined) == 0 {
			g = &group{first: a.TS, last: a.TS}
			all = append(all, g)
		} else {
			slices.SortFunc(joined, func(x, y *group) int { return byTime(x.alerts[0], y.alerts[0]) })
			g = joined[0]
			for _, o := range joined[1:] {
				g.alerts = append(g.alerts, o.alerts...)
				g.first, g.last = minTime(g.first, o.first), maxTime(g.last, o.last)
				o.alerts, o.into = nil, g
			}
		}
		g.alerts = append(g.alerts, a)
		g.last = maxTime(g.last, a.TS)
		for _, e := range ents {
			byEntity[e] = g
		}
		byRule[rg] = g
	}
	var out [][]*alert.Alert
	for _, g := range all {
		if g.into == nil {
			slices.SortFunc(g.alerts, byTime)
			out = append(out, g.alerts)
		}
	}
	return out
}

func byTime(a, b *alert.Alert) int {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// RuleRef is a rule that fired in an incident.
type RuleRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Alerts int    `json:"alerts"`
}

// Incident is the alerts about the same entities close in time: one row
// of the queue. Its id is the id of its first alert.
type Incident struct {
	ID string `json:"id"`
	// Level is the highest level of its alerts.
	Level string `json:"level"`
	// Status is derived from its alerts': new while any is new, else
	// acknowledged while any is, else false_positive when all are, else
	// resolved. Changing an incident changes each of its alerts.
	Status string `json:"status"`
	// Assignee is the assignee of its most recently changed alert.
	Assignee string `json:"assignee,omitempty"`
	// Statuses counts its alerts by status.
	Statuses map[string]int `json:"statuses"`
	Entities []Entity       `json:"entities"`
	Rules    []RuleRef      `json:"rules"`
	// First and Last bound its alerts' contributing events
	// (alert.first, alert.last).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Alerts counts its alerts; Events the events behind them
	// (alert.count summed).
	Alerts int `json:"alerts"`
	Events int `json:"events"`
	// Timeline is its alerts in time order (in a single incident's
	// answer only).
	Timeline []AlertItem `json:"timeline,omitempty"`
}

// newIncident summarizes a group of alerts (in time order) with their
// triage states.
func newIncident(items []AlertItem) *Incident {
	in := &Incident{ID: items[0].Alert.ID, Level: items[0].Alert.Level, Statuses: map[string]int{}, Alerts: len(items)}
	seen := map[Entity]int{}
	var updated time.Time
	for _, it := range items {
		a := it.Alert
		if alert.Severity(a.Level) > alert.Severity(in.Level) {
			in.Level = a.Level
		}
		in.Statuses[it.Status]++
		for _, e := range EntitiesOf(a) {
			if seen[e] == 0 {
				in.Entities = append(in.Entities, e)
			}
			seen[e]++
		}
		if i := slices.IndexFunc(in.Rules, func(r RuleRef) bool { return r.ID == a.RuleID }); i >= 0 {
			in.Rules[i].Alerts++
		} else {
			in.Rules = append(in.Rules, RuleRef{ID: a.RuleID, Name: a.RuleTitle, Alerts: 1})
		}
		first, last := a.First, a.Last
		if first.IsZero() {
			first = a.TS
		}
		last = maxTime(last, a.TS)
		if in.First.IsZero() || first.Before(in.First) {
			in.First = first
		}
		in.Last = maxTime(in.Last, last)
		in.Events += a.Count
		if !it.Updated.IsZero() && !it.Updated.Before(updated) {
			updated, in.Assignee = it.Updated, it.Assignee
		}
	}
	// The entities most of its alerts are about first, users first.
	slices.SortStableFunc(in.Entities, func(a, b Entity) int {
		if c := cmp.Compare(seen[b], seen[a]); c != 0 {
			return c
		}
		return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind))
	})
	switch s := in.Statuses; {
	case s[storage.StatusNew] > 0:
		in.Status = storage.StatusNew
	case s[storage.StatusAcknowledged] > 0:
		in.Status = storage.StatusAcknowledged
	case s[storage.StatusFalsePositive] == len(items):
		in.Status = storage.StatusFalsePositive
	default:
		in.Status = storage.StatusResolved
	}
	return in
}

func kindRank(k string) int {
	return slices.Index([]string{EntityUser, EntityIP, EntityDevice}, k)
}

// IncidentFilter selects incidents. Empty fields select everything.
type IncidentFilter struct {
	// Status and Level: the incident's is any of these.
	Status, Level []string
	// User, Source and Device: the incident is about this entity.
	User, Source, Device string
	// Start and End: the incident has an alert in this range; zero Start
	// is End-24h, zero End is now.
	Start, End time.Time
	// Offset and Limit page the result (Limit: default 50, at most 500).
	Offset, Limit int
}

// IncidentPage is one page of incidents, sorted by level (highest first),
// then last activity (newest first).
type IncidentPage struct {
	Incidents []*Incident `json:"incidents"`
	Paging
}

// Incidents returns a page of the incidents f selects.
func (s *Alerts) Incidents(ctx context.Context, actor Actor, f IncidentFilter) (*IncidentPage, error) {
	if err := actor.Check(PermRead); err != nil {
		return nil, err
	}
	if err := s.checkList(&f.Start, &f.End, &f.Offset, &f.Limit, f.Status, f.Level); err != nil {
		return nil, err
	}
	// Incidents that reach into the range may have started a span before.
	groups, truncated, err := s.groups(ctx, f.Start.Add(-s.opts.IncidentSpan), f.End)
	if err != nil {
		return nil, err
	}
	var out []*Incident
	for _, g := range groups {
		if g[len(g)-1].Alert.TS.Before(f.Start) {
			continue
		}
		in := newIncident(g)
		if (len(f.Status) > 0 && !slices.Contains(f.Status, in.Status)) ||
			(len(f.Level) > 0 && !slices.Contains(f.Level, in.Level)) ||
			(f.User != "" && !slices.Contains(in.Entities, Entity{EntityUser, f.User})) ||
			(f.Source != "" && !slices.Contains(in.Entities, Entity{EntityIP, f.Source})) ||
			(f.Device != "" && !slices.Contains(in.Entities, Entity{EntityDevice, f.Device})) {
			continue
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *Incident) int {
		if c := cmp.Compare(alert.Severity(b.Level), alert.Severity(a.Level)); c != 0 {
			return c
		}
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return &IncidentPage{Incidents: pageOf(out, f.Offset, f.Limit), Paging: Paging{Total: len(out), Offset: f.Offset, Limit: f.Limit,
		Truncated: truncated, Start: f.Start, End: f.End}}, nil
}

// groups reads the alerts in [start, end] and groups them into incidents
// of alert items.
func (s *Alerts) groups(ctx context.Context, start, end time.Time) ([][]AlertItem, bool, error) {
	alerts, truncated, err := s.scan(ctx, nil, start, end)
	if err != nil {
		return nil, false, err
	}
	items, err := s.items(alerts)
	if err != nil {
		return nil, false, err
	}
	byID := make(map[string]AlertItem, len(items))
	for _, it := range items {
		byID[it.Alert.ID] = it
	}
	var out [][]AlertItem
	for _, g := range GroupIncidents(alerts, s.opts.IncidentWindow, s.opts.IncidentSpan) {
		its := make([]AlertItem, len(g))
		for i, a := range g {
			its[i] = byID[a.ID]
		}
		out = append(out, its)
	}
	return out, truncated, nil
}

// incidentItems returns the alert items of the incident an alert belongs
// to, reading the alerts a span around it.
func (s *Alerts) incidentItems(ctx context.Context, a *alert.Alert) ([]AlertItem, error) {
	groups, _, err := s.groups(ctx, a.TS.Add(-s.opts.IncidentSpan), a.TS.Add(s.opts.IncidentSpan))
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if slices.ContainsFunc(g, func(it AlertItem) bool { return it.Alert.ID == a.ID }) {
			return g, nil
		}
	}
	// The alert fell out of the read (more than MaxScan alerts around it).
	tr, err := s.db.Triages([]string{a.ID})
	if err != nil {
		return nil, err
	}
	return []AlertItem{newItem(a, tr[a.ID])}, nil
}

// incidentOf returns the summary of the incident an alert belongs to.
func (s *Alerts) incidentOf(ctx context.Context, a *alert.Alert) (*Incident, error) {
	items, err := s.incidentItems(ctx, a)
	if err != nil {
		return nil, err
	}
	return newIncident(items), nil
}

// Incident returns the incident of an alert id (an incident's id is its
// first alert's), with its timeline.
func (s *Alerts) Incident(ctx context.Context, actor Actor, id string) (*Incident, error) {
	if err := actor.Check(PermRead); err != nil {
		return nil, err
	}
	a, err := s.find(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	items, err := s.incidentItems(ctx, a)
	if err != nil {
		return nil, err
	}
	in := newIncident(items)
	in.Timeline = items
	return in, nil
}

// UpdateIncident applies a triage change to every alert of an incident,
// in one transaction, auditing each alert's change and the incident's.
func (s *Alerts) UpdateIncident(ctx context.Context, actor Actor, id string, c AlertChange) (*Incident, error) {
	if err := actor.Check(PermTriage); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	in, err := s.Incident(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	err = s.db.Update(func(tx *storage.Tx) error {
		var changed []string
		for i := range in.Timeline {
			it := &in.Timeline[i]
			t, err := s.change(tx, actor, it.Alert.ID, c, " (incident "+in.ID+")")
			if err != nil {
				return err
			}
			if !t.Updated.Equal(it.Updated) {
				changed = append(changed, it.Alert.ID)
			}
			it.Status, it.Assignee, it.Comments, it.Updated, it.UpdatedBy = t.Status, t.Assignee, t.Comments, t.Updated, t.UpdatedBy
		}
		if len(changed) == 0 {
			return nil
		}
		return tx.AppendAudit(&storage.AuditEntry{Time: s.opts.Now().UTC(), Actor: actor.Name, Role: string(actor.Role),
			Via: actor.Via, Remote: actor.Remote, Action: "incident.update", Target: "incident " + in.ID,
			Detail: fmt.Sprintf("%s; alerts changed: %s", c.describe(), strings.Join(changed, ","))})
	})
	if err != nil {
		return nil, err
	}
	out := newIncident(in.Timeline)
	out.Timeline = in.Timeline
	return out, nil
}
