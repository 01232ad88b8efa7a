package service

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store"
)

// Searcher searches the store: a *search.Service in front of it, which
// keeps each search within the configured limits.
type Searcher interface {
	Search(ctx context.Context, q store.Query, fn func(store.Row) error) error
}

// AlertsOptions configure the Alerts service.
type AlertsOptions struct {
	// IncidentWindow: alerts about the same entity (user, source address,
	// device) at most this far apart belong to one incident; default 1h
	// (console.incident_window).
	IncidentWindow time.Duration
	// IncidentSpan is the longest time one incident covers; an alert
	// later than that after its first starts a new one. Default 24h.
	IncidentSpan time.Duration
	// MaxScan caps the alerts one listing reads from the store, the
	// newest first; default 10000.
	MaxScan int
	// MaxEvents caps the contributing events of an alert's detail;
	// default 100.
	MaxEvents int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Alerts lists, shows and triages the alerts the detection engine raised
// and the incidents they form. The alerts come from the store's alerts
// side; what people make of them (status, assignee, comments) is kept in
// the state store.
type Alerts struct {
	st   Searcher
	db   *storage.DB
	opts AlertsOptions
}

// NewAlerts returns the alerts service over the store st and the state db.
func NewAlerts(st Searcher, db *storage.DB, opts AlertsOptions) *Alerts {
	if opts.IncidentWindow <= 0 {
		opts.IncidentWindow = time.Hour
	}
	if opts.IncidentSpan <= 0 {
		opts.IncidentSpan = 24 * time.Hour
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = 10000
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Alerts{st: st, db: db, opts: opts}
}

// Paging defaults and bounds of alert and incident listings.
const (
	DefaultAlertPage = 50
	MaxAlertPage     = 500
)

// AlertItem is an alert with its triage state.
type AlertItem struct {
	Alert     *alert.Alert      `json:"alert"`
	Status    string            `json:"status"`
	Assignee  string            `json:"assignee,omitempty"`
	Comments  []storage.Comment `json:"comments,omitempty"`
	Updated   time.Time         `json:"updated,omitzero"`
	UpdatedBy string            `json:"updated_by,omitempty"`
}

func newItem(a *alert.Alert, t storage.Triage) AlertItem {
	return AlertItem{Alert: a, Status: t.Status, Assignee: t.Assignee, Comments: t.Comments, Updated: t.Updated, UpdatedBy: t.UpdatedBy}
}

// AlertFilter selects alerts. Empty fields select everything.
type AlertFilter struct {
	// Status and Level: any of these.
	Status, Level []string
	// Rule (rule.id), User (user.name), Source (source.ip) and Device
	// (device.id) must match exactly.
	Rule, User, Source, Device string
	// Start and End bound the alert time; zero Start is End-24h, zero
	// End is now.
	Start, End time.Time
	// Offset and Limit page the result (Limit: default 50, at most 500).
	Offset, Limit int
}

// Paging tells which part of a listing a page is.
type Paging struct {
	// Total is the number of matching rows of those read.
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// Truncated: the range held more alerts than the service reads
	// (MaxScan); only the newest were read. Narrow the range.
	Truncated bool      `json:"truncated"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

// AlertPage is one page of alerts, sorted by level (highest first), then
// time (newest first).
type AlertPage struct {
	Alerts []AlertItem `json:"alerts"`
	Paging
}

// List returns a page of the alerts f selects.
func (s *Alerts) List(ctx context.Context, actor Actor, f AlertFilter) (*AlertPage, error) {
	if err := actor.Check(PermRead); err != nil {
		return nil, err
	}
	if err := s.checkList(&f.Start, &f.End, &f.Offset, &f.Limit, f.Status, f.Level); err != nil {
		return nil, err
	}
	terms := []string{}
	for _, t := range [][2]string{{"rule.id", f.Rule}, {"user.name", f.User}, {"source.ip", f.Source}, {"device.id", f.Device}} {
		if t[1] != "" {
			terms = append(terms, exact(t[0], t[1]))
		}
	}
	if len(f.Level) > 0 {
		terms = append(terms, in("level", f.Level))
	}
	alerts, truncated, err := s.scan(ctx, terms, f.Start, f.End)
	if err != nil {
		return nil, err
	}
	items, err := s.items(alerts)
	if err != nil {
		return nil, err
	}
	if len(f.Status) > 0 {
		items = slices.DeleteFunc(items, func(it AlertItem) bool { return !slices.Contains(f.Status, it.Status) })
	}
	slices.SortFunc(items, func(a, b AlertItem) int { return byLevelTime(a.Alert, b.Alert) })
	return &AlertPage{Alerts: pageOf(items, f.Offset, f.Limit), Paging: Paging{Total: len(items), Offset: f.Offset, Limit: f.Limit,
		Truncated: truncated, Start: f.Start, End: f.End}}, nil
}

// byLevelTime orders alerts by level, highest first, then newest first.
func byLevelTime(a, b *alert.Alert) int {
	if c := cmp.Compare(alert.Severity(b.Level), alert.Severity(a.Level)); c != 0 {
		return c
	}
	if c := b.TS.Compare(a.TS); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// checkList applies a listing's defaults to its range and page and
// checks them and its statuses and levels.
func (s *Alerts) checkList(start, end *time.Time, offset, limit *int, statuses, levels []string) error {
	if err := checkIn("status", statuses, storage.Statuses); err != nil {
		return err
	}
	for _, l := range levels {
		if alert.Severity(l) < 0 {
			return Invalidf("level: %q is not one of info, low, medium, high, critical", l)
		}
	}
	if end.IsZero() {
		*end = s.opts.Now()
	}
	if start.IsZero() {
		*start = end.Add(-DefaultRange)
	}
	if end.Before(*start) {
		return Invalidf("end is before start")
	}
	if *limit == 0 {
		*limit = DefaultAlertPage
	}
	if *limit < 0 || *limit > MaxAlertPage {
		return Invalidf("limit: must be between 1 and %d", MaxAlertPage)
	}
	if *offset < 0 {
		return Invalidf("offset: must not be negative")
	}
	return nil
}

// pageOf cuts the page [offset, offset+limit) out of all; past the end it
// is empty, never nil (a JSON list, not null).
func pageOf[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return []T{}
	}
	return all[offset:min(offset+limit, len(all))]
}

func checkIn(name string, got, valid []string) error {
	for _, g := range got {
		if !slices.Contains(valid, g) {
			return Invalidf("%s: %q is not one of %s", name, g, strings.Join(valid, ", "))
		}
	}
	return nil
}

// exact is a LogsQL filter for a field's exact value; name and value are
// quoted, so no input can change the query's meaning.
func exact(name, value string) string {
	return strconv.Quote(name) + ":=" + strconv.Quote(value)
}

// in is a LogsQL filter for any of the exact values.
func in(name string, values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	return strconv.Quote(name) + ":in(" + strings.Join(q, ",") + ")"
}

// scan reads the newest alerts (at most MaxScan) in [start, end] that
// match all terms; truncated tells there were more.
func (s *Alerts) scan(ctx context.Context, terms []string, start, end time.Time) ([]*alert.Alert, bool, error) {
	text := strings.Join(append([]string{"event.kind:alert"}, terms...), " ")
	q := store.Query{Text: text, Scope: store.Alerts, Start: start, End: end, Limit: s.opts.MaxScan + 1, Order: store.Newest}
	var out []*alert.Alert
	err := s.st.Search(ctx, q, func(r store.Row) error {
		out = append(out, alert.FromRow(r))
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("alerts: search the store: %w", err)
	}
	truncated := len(out) > s.opts.MaxScan
	if truncated {
		out = out[:s.opts.MaxScan]
	}
	return out, truncated, nil
}

// items joins alerts with their triage records.
func (s *Alerts) items(alerts []*alert.Alert) ([]AlertItem, error) {
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	tr, err := s.db.Triages(ids)
	if err != nil {
		return nil, err
	}
	items := make([]AlertItem, len(alerts))
	for i, a := range alerts {
		items[i] = newItem(a, tr[a.ID])
	}
	return items, nil
}

// validID reports whether id can be an alert id (hex, as alert.MakeID
// makes them), so that anything else is not found without a search.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// find returns the stored alert with the given id.
func (s *Alerts) find(ctx context.Context, id string) (*alert.Alert, error) {
	if !validID(id) {
		return nil, fmt.Errorf("alert %q: %w", id, ErrNotFound)
	}
	var a *alert.Alert
	q := store.Query{Text: "event.kind:alert " + exact(alert.FieldID, id), Scope: store.Alerts, Limit: 1}
	err := s.st.Search(ctx, q, func(r store.Row) error {
		a = alert.FromRow(r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: search the store: %w", err)
	}
	if a == nil {
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// FlatEvent is one stored event whose JSON is a search result's (all
// values strings, _time first), as GET /api/v1/search writes it.
type FlatEvent struct {
	Time   time.Time
	Fields []store.Field
}

// Get returns the value of the named field, or "".
func (e *FlatEvent) Get(name string) string {
	r := store.Row{Time: e.Time, Fields: e.Fields}
	return r.Get(name)
}

// MarshalJSON writes the event as a search result.
func (e FlatEvent) MarshalJSON() ([]byte, error) {
	return eventjson.AppendRow(nil, &store.Row{Time: e.Time, Fields: e.Fields}), nil
}

// SearchLink is a search around an alert, for the console's /search and
// the API's /api/v1/search (q, start, end).
type SearchLink struct {
	Query string    `json:"q"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// AlertDetail is an alert with its triage state, the events behind it and
// where to look further.
type AlertDetail struct {
	AlertItem
	// Events are the contributing events: those of the alert's group
	// (its rule's group_by key, else its user, source address and
	// device) between alert.first and alert.last, oldest first, at most
	// MaxEvents; EventsTruncated tells there were more.
	Events          []FlatEvent `json:"events"`
	EventsTruncated bool        `json:"events_truncated"`
	// Search finds the group's events from 15 minutes before the alert
	// to 15 minutes after.
	Search SearchLink `json:"search"`
	// Incident is the id of the incident the alert belongs to.
	Incident string `json:"incident"`
}

// searchMargin widens an alert's search link on both sides.
const searchMargin = 15 * time.Minute

// Get returns one alert with its contributing events.
func (s *Alerts) Get(ctx context.Context, actor Actor, id string) (*AlertDetail, error) {
	if err := actor.Check(PermRead); err != nil {
		return nil, err
	}
	a, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	var t storage.Triage
	if err := s.db.View(func(tx *storage.Tx) error {
		t, err = tx.Triage(a.ID)
		return err
	}); err != nil {
		return nil, err
	}
	d := &AlertDetail{AlertItem: newItem(a, t), Events: []FlatEvent{}}
	first, last := a.First, a.Last
	if first.IsZero() {
		first = a.TS
	}
	if last.IsZero() || last.Before(first) {
		last = maxTime(a.TS, first)
	}
	filter := groupFilter(a)
	d.Search = SearchLink{Query: filter, Start: first.Add(-searchMargin).UTC(), End: last.Add(searchMargin).UTC()}
	if filter != "*" {
		q := store.Query{Text: filter, Start: first, End: last, Limit: s.opts.MaxEvents + 1, Order: store.Oldest}
		err := s.st.Search(ctx, q, func(r store.Row) error {
			d.Events = append(d.Events, copyEvent(r))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("alert %s: search its events: %w", a.ID, err)
		}
		if len(d.Events) > s.opts.MaxEvents {
			d.Events, d.EventsTruncated = d.Events[:s.opts.MaxEvents], true
		}
	}
	inc, err := s.incidentOf(ctx, a)
	if err != nil {
		return nil, err
	}
	d.Incident = inc.ID
	return d, nil
}

func copyEvent(r store.Row) FlatEvent {
	e := FlatEvent{Time: r.Time, Fields: make([]store.Field, len(r.Fields))}
	for i, f := range r.Fields {
		e.Fields[i] = store.Field{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
	}
	return e
}

// groupFilter is the LogsQL filter for an alert's events: its group key's
// fields, or, for a rule without group_by, its user, source address and
// device. "*" when it has none of them.
func groupFilter(a *alert.Alert) string {
	var terms []string
	for _, kv := range parseGroup(a.Group) {
		if kv[1] != "" {
			terms = append(terms, exact(kv[0], kv[1]))
		}
	}
	if len(terms) == 0 {
		for _, t := range [][2]string{{"user.name", a.User}, {"source.ip", a.SrcIP}, {"device.id", a.DeviceID}} {
			if t[1] != "" {
				terms = append(terms, exact(t[0], t[1]))
			}
		}
	}
	if len(terms) == 0 {
		return "*"
	}
	return strings.Join(terms, " ")
}

// parseGroup splits a group key, "name=value name=value" with values
// that hold spaces, '=' or quotes Go-quoted (detect's groupKey), into
// name, value pairs. It stops at the first malformed pair.
func parseGroup(key string) [][2]string {
	var out [][2]string
	for key = strings.TrimSpace(key); key != ""; key = strings.TrimLeft(key, " ") {
		name, rest, ok := strings.Cut(key, "=")
		if !ok || name == "" {
			return out
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return out
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		out = append(out, [2]string{name, v})
		key = rest
	}
	return out
}

// AlertChange is a triage change: each field set is applied.
type AlertChange struct {
	// Status: new, acknowledged, resolved or false_positive.
	Status *string `json:"status,omitempty"`
	// Assignee: a user name; "" unassigns.
	Assignee *string `json:"assignee,omitempty"`
	// Comment is appended with its author and time.
	Comment string `json:"comment,omitempty"`
}

// Limits of a change's text.
const (
	maxAssigneeLen = 64
	maxCommentLen  = 4000
	// maxComments bounds one alert's comments.
	maxComments = 200
)

// check validates a change.
func (c *AlertChange) check() error {
	if c.Status == nil && c.Assignee == nil && strings.TrimSpace(c.Comment) == "" {
		return Invalidf("nothing to change: give status, assignee or comment")
	}
	if c.Status != nil && !slices.Contains(storage.Statuses, *c.Status) {
		return Invalidf("status: %q is not one of %s", *c.Status, strings.Join(storage.Statuses, ", "))
	}
	if c.Assignee != nil && (len(*c.Assignee) > maxAssigneeLen || !printable(*c.Assignee)) {
		return Invalidf("assignee: at most %d printable characters", maxAssigneeLen)
	}
	if len(c.Comment) > maxCommentLen || !utf8.ValidString(c.Comment) {
		return Invalidf("comment: at most %d bytes of UTF-8 text", maxCommentLen)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// apply applies c to t, by actor at now, and describes it for the audit.
func (c *AlertChange) apply(t *storage.Triage, actor Actor, now time.Time) (string, error) {
	var detail []string
	if c.Status != nil && *c.Status != t.Status {
		detail = append(detail, "status "+t.Status+" -> "+*c.Status)
		t.Status = *c.Status
	}
	if c.Assignee != nil && *c.Assignee != t.Assignee {
		detail = append(detail, fmt.Sprintf("assignee %q -> %q", t.Assignee, *c.Assignee))
		t.Assignee = *c.Assignee
	}
	if text := strings.TrimSpace(c.Comment); text != "" {
		if len(t.Comments) >= maxComments {
			return "", Invalidf("comment: the alert has %d comments, the most it keeps", maxComments)
		}
		t.Comments = append(t.Comments, storage.Comment{Time: now, Author: actor.Name, Text: text})
		detail = append(detail, "comment "+strconv.Quote(text))
	}
	if len(detail) > 0 {
		t.Updated, t.UpdatedBy = now, actor.Name
	}
	return strings.Join(detail, "; "), nil
}

// Update applies a triage change to an alert and records it in the audit
// trail in the same transaction.
func (s *Alerts) Update(ctx context.Context, actor Actor, id string, c AlertChange) (*AlertItem, error) {
	if err := actor.Check(PermTriage); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	a, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	var t storage.Triage
	err = s.db.Update(func(tx *storage.Tx) error {
		var err error
		t, err = s.change(tx, actor, a.ID, c, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	it := newItem(a, t)
	return &it, nil
}

// change applies c to one alert's triage record in tx and audits it; note
// is added to the audit detail. A change that changes nothing is not
// written.
func (s *Alerts) change(tx *storage.Tx, actor Actor, id string, c AlertChange, note string) (storage.Triage, error) {
	t, err := tx.Triage(id)
	if err != nil {
		return t, err
	}
	now := s.opts.Now().UTC()
	detail, err := c.apply(&t, actor, now)
	if err != nil || detail == "" {
		return t, err
	}
	if err := tx.PutTriage(&t); err != nil {
		return t, err
	}
	return t, tx.AppendAudit(&storage.AuditEntry{Time: now, Actor: actor.Name, Role: string(actor.Role), Via: actor.Via,
		Remote: actor.Remote, Action: "alert.update", Target: "alert " + id, Detail: detail + note})
}

// describe says what a change asks for, for the audit trail.
func (c *AlertChange) describe() string {
	var parts []string
	if c.Status != nil {
		parts = append(parts, "status "+*c.Status)
	}
	if c.Assignee != nil {
		parts = append(parts, fmt.Sprintf("assignee %q", *c.Assignee))
	}
	if text := strings.TrimSpace(c.Comment); text != "" {
		parts = append(parts, "comment "+strconv.Quote(text))
	}
	return strings.Join(parts, "; ")
}
