package console

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// alertsRoutes serves the alert queue, an alert, an incident and their
// triage forms (docs/console.md, "Alerts and incidents").
func (c *Console) alertsRoutes(mux *Mux) {
	mux.HandleFunc("GET /alerts", PermRead, c.alertsPage)
	mux.HandleFunc("GET /alerts/{id}", PermRead, c.alertPage)
	mux.HandleFunc("POST /alerts/{id}", PermTriage, c.alertTriage)
	mux.HandleFunc("POST /alerts/bulk", PermTriage, c.alertsBulk)
	mux.HandleFunc("GET /incidents/{id}", PermRead, c.incidentPage)
	mux.HandleFunc("POST /incidents/{id}", PermTriage, c.incidentTriage)
}

// alertRanges are the queue's time ranges.
var alertRanges = []string{"1h", "24h", "7d", "30d"}

// alertsFilter is the queue's filter as the URL carries it.
type alertsFilter struct {
	Mode                                string // "incidents" (default) or "alerts"
	Status, Level, User, Source, Device string
	Range                               string
	Offset                              int
}

// query returns the filter as a URL query, with offset.
func (f alertsFilter) query(offset int) string {
	v := url.Values{}
	for _, kv := range [][2]string{{"view", f.Mode}, {"status", f.Status}, {"level", f.Level}, {"user", f.User},
		{"source", f.Source}, {"device", f.Device}, {"range", f.Range}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	return v.Encode()
}

// alertsView is the data of the queue.
type alertsView struct {
	View
	entityLinks
	Filter     alertsFilter
	Ranges     []string
	Statuses   []string
	Levels     []string
	Incidents  *service.IncidentPage
	Alerts     *service.AlertPage
	Total      int
	Prev, Next string // page links; "" when none
	Back       string // this page, for the forms' return
}

// ModeQuery is the queue's filter in the other mode (incidents: "").
func (v alertsView) ModeQuery(mode string) string {
	f := v.Filter
	f.Mode = mode
	return f.query(0)
}

// IncidentList and AlertList are the rows of the page.
func (v alertsView) IncidentList() []*service.Incident {
	if v.Incidents == nil {
		return nil
	}
	return v.Incidents.Incidents
}

// AlertList is the alerts of the page (alerts mode).
func (v alertsView) AlertList() []service.AlertItem {
	if v.Alerts == nil {
		return nil
	}
	return v.Alerts.Alerts
}

// Shown is the number of rows on the page.
func (v alertsView) Shown() int { return len(v.IncidentList()) + len(v.AlertList()) }

// Truncated tells that the range held more alerts than were read.
func (v alertsView) Truncated() bool {
	return v.Incidents != nil && v.Incidents.Truncated || v.Alerts != nil && v.Alerts.Truncated
}

// Entities returns the entities an alert names.
func (alertsView) Entities(a *alert.Alert) []service.Entity { return service.EntitiesOf(a) }

// levelsFrom returns the levels at least min.
func levelsFrom(min string) []string {
	all := []string{"info", "low", "medium", "high", "critical"}
	for i, l := range all {
		if l == min {
			return all[i:]
		}
	}
	return nil
}

// openStatuses is the queue's default: what still needs someone.
const openStatuses = "open"

func statusesOf(s string) []string {
	switch s {
	case "", "all":
		return nil
	case openStatuses:
		return []string{storage.StatusNew, storage.StatusAcknowledged}
	}
	return []string{s}
}

func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	q := r.URL.Query()
	f := alertsFilter{Mode: q.Get("view"), Status: q.Get("status"), Level: q.Get("level"), User: strings.TrimSpace(q.Get("user")),
		Source: strings.TrimSpace(q.Get("source")), Device: strings.TrimSpace(q.Get("device")), Range: q.Get("range")}
	if f.Mode != "alerts" {
		f.Mode = ""
	}
	if _, ok := q["status"]; !ok {
		f.Status = openStatuses
	}
	if f.Range == "" {
		f.Range = "24h"
	}
	d, ok := parseRange(f.Range)
	if !ok {
		c.failCode(w, r, http.StatusBadRequest, c.view(r).T("alerts.error.range", f.Range))
		return
	}
	f.Offset, _ = strconv.Atoi(q.Get("offset"))
	f.Offset = max(f.Offset, 0)
	v := alertsView{View: c.view(r), Filter: f, Ranges: alertRanges, Statuses: storage.Statuses,
		Levels: []string{"info", "low", "medium", "high", "critical"}}
	end := c.o.Now()
	start := end.Add(-d)
	var err error
	if f.Mode == "alerts" {
		v.Alerts, err = c.o.Alerts.List(r.Context(), a, service.AlertFilter{Status: statusesOf(f.Status), Level: levelsFrom(f.Level),
			User: f.User, Source: f.Source, Device: f.Device, Start: start, End: end, Offset: f.Offset})
		if err == nil {
			v.Total = v.Alerts.Total
		}
	} else {
		v.Incidents, err = c.o.Alerts.Incidents(r.Context(), a, service.IncidentFilter{Status: statusesOf(f.Status), Level: levelsFrom(f.Level),
			User: f.User, Source: f.Source, Device: f.Device, Start: start, End: end, Offset: f.Offset})
		if err == nil {
			v.Total = v.Incidents.Total
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if f.Offset > 0 {
		v.Prev = "/alerts?" + f.query(max(f.Offset-service.DefaultAlertPage, 0))
	}
	if f.Offset+service.DefaultAlertPage < v.Total {
		v.Next = "/alerts?" + f.query(f.Offset+service.DefaultAlertPage)
	}
	v.Back = "/alerts?" + f.query(f.Offset)
	c.render(w, r, "alerts", v)
}

// parseRange reads a range of the queue: 1h, 24h, 7d, 30d.
func parseRange(s string) (time.Duration, bool) {
	for _, r := range alertRanges {
		if r == s {
			if n, ok := strings.CutSuffix(s, "d"); ok {
				days, _ := strconv.Atoi(n)
				return time.Duration(days) * 24 * time.Hour, true
			}
			d, err := time.ParseDuration(s)
			return d, err == nil
		}
	}
	return 0, false
}

// alertView is the data of an alert's page.
type alertView struct {
	View
	entityLinks
	D        *service.AlertDetail
	Statuses []string
	Search   string // the search around the alert
	Fields   [][2]string
	// Decisions are those made for the alert's actions; Enforce says
	// there is a decision service to ask.
	Decisions []service.DecisionView
	Enforce   bool
}

// CommentList is the alert's comments, oldest first.
func (v alertView) CommentList() []storage.Comment { return v.D.Comments }

// TriageAction, TriageStatus and TriageAssignee fill the triage form.
func (v alertView) TriageAction() string { return "/alerts/" + url.PathEscape(v.D.Alert.ID) }

// TriageStatus is the alert's status.
func (v alertView) TriageStatus() string { return v.D.Status }

// TriageAssignee is the alert's assignee.
func (v alertView) TriageAssignee() string { return v.D.Assignee }

// entityLinks gives the alert pages {{$.EntityURL kind value}}.
type entityLinks struct{}

// EntityURL is the console page of an entity: /entity/user/{name},
// /entity/ip/{addr}, /entity/device/{id}.
func (entityLinks) EntityURL(kind, value string) string {
	return "/entity/" + kind + "/" + url.PathEscape(value)
}

func (c *Console) alertPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	d, err := c.o.Alerts.Get(r.Context(), a, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := alertView{View: c.view(r), D: d, Statuses: storage.Statuses, Search: searchURL(d.Search)}
	al := d.Alert
	for _, kv := range [][2]string{{"alert.id", al.ID}, {"rule.id", al.RuleID}, {"threat", al.Threat}, {"type", al.Type},
		{"alert.group", al.Group}, {"alert.count", strconv.Itoa(al.Count)}, {"destination.ip", al.DstIP}} {
		if kv[1] != "" {
			v.Fields = append(v.Fields, kv)
		}
	}
	if al.FollowUp {
		v.Fields = append(v.Fields, [2]string{"alert.follow_up", "true"})
	}
	for _, k := range slices.Sorted(maps.Keys(al.Fields)) {
		v.Fields = append(v.Fields, [2]string{"alert.fields." + k, al.Fields[k]})
	}
	if v.Enforce = c.o.Decisions != nil; v.Enforce && len(al.Actions) > 0 {
		if v.Decisions, err = c.o.Decisions.List(r.Context(), a, service.DecisionQuery{Alert: al.ID, States: []string{"all"}}); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.render(w, r, "alert", v)
}

// searchURL is the console's search page for a search link.
func searchURL(s service.SearchLink) string {
	v := url.Values{"q": {s.Query}, "start": {s.Start.UTC().Format(time.RFC3339)}, "end": {s.End.UTC().Format(time.RFC3339)}}
	return "/search?" + v.Encode()
}

// changeFrom reads a triage form: status, assignee, comment; a field
// left out or (assignee) unchanged changes nothing.
func changeFrom(r *http.Request) service.AlertChange {
	var ch service.AlertChange
	if s := r.PostFormValue("status"); s != "" {
		ch.Status = &s
	}
	if _, ok := r.PostForm["assignee"]; ok {
		as := strings.TrimSpace(r.PostFormValue("assignee"))
		if as != r.PostFormValue("assignee_was") {
			ch.Assignee = &as
		}
	}
	ch.Comment = r.PostFormValue("comment")
	return ch
}

func (c *Console) alertTriage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		c.failCode(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := c.o.Alerts.Update(r.Context(), a, id, changeFrom(r)); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "alerts.saved")
	http.Redirect(w, r, "/alerts/"+url.PathEscape(id), http.StatusSeeOther)
}

// alertsBulk sets the status of the checked alerts or incidents of the
// queue and goes back to it.
func (c *Console) alertsBulk(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	if err := r.ParseForm(); err != nil {
		c.failCode(w, r, http.StatusBadRequest, err.Error())
		return
	}
	status := r.PostFormValue("status")
	ch := service.AlertChange{Status: &status}
	ids := r.PostForm["id"]
	if len(ids) > service.MaxAlertPage {
		c.failCode(w, r, http.StatusBadRequest, c.view(r).T("alerts.error.bulk", service.MaxAlertPage))
		return
	}
	for _, id := range ids {
		var err error
		if r.PostFormValue("kind") == "incident" {
			_, err = c.o.Alerts.UpdateIncident(r.Context(), a, id, ch)
		} else {
			_, err = c.o.Alerts.Update(r.Context(), a, id, ch)
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
	}
	if len(ids) > 0 {
		c.flash(w, "alerts.saved")
	}
	back := localPath(r.PostFormValue("back"))
	if !strings.HasPrefix(back, "/alerts") {
		back = "/alerts"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// incidentView is the data of an incident's page.
type incidentView struct {
	View
	entityLinks
	In       *service.Incident
	Statuses []string
	Search   string
	Comments []storage.Comment // of all its alerts, once each, oldest first
}

// CommentList is the comments of the incident's alerts, oldest first.
func (v incidentView) CommentList() []storage.Comment { return v.Comments }

// TriageAction is where the incident's triage form goes.
func (v incidentView) TriageAction() string { return "/incidents/" + url.PathEscape(v.In.ID) }

// TriageStatus is the incident's status.
func (v incidentView) TriageStatus() string { return v.In.Status }

// TriageAssignee is the incident's assignee.
func (v incidentView) TriageAssignee() string { return v.In.Assignee }

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	in, err := c.o.Alerts.Incident(r.Context(), a, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := incidentView{View: c.view(r), In: in, Statuses: storage.Statuses}
	var terms []string
	for _, e := range in.Entities {
		terms = append(terms, entityTerm(e))
	}
	if len(terms) > 0 {
		v.Search = searchURL(service.SearchLink{Query: strings.Join(terms, " OR "), Start: in.First.Add(-15 * time.Minute), End: in.Last.Add(15 * time.Minute)})
	}
	seen := map[storage.Comment]bool{}
	for _, it := range in.Timeline {
		for _, cm := range it.Comments {
			if !seen[cm] {
				seen[cm] = true
				v.Comments = append(v.Comments, cm)
			}
		}
	}
	slices.SortStableFunc(v.Comments, func(a, b storage.Comment) int { return a.Time.Compare(b.Time) })
	c.render(w, r, "incident", v)
}

// entityTerm is the LogsQL filter of an entity's events.
func entityTerm(e service.Entity) string {
	field := map[string]string{service.EntityUser: "user.name", service.EntityIP: "source.ip", service.EntityDevice: "device.id"}[e.Kind]
	return strconv.Quote(field) + ":=" + strconv.Quote(e.Value)
}

func (c *Console) incidentTriage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		c.failCode(w, r, http.StatusBadRequest, err.Error())
		return
	}
	in, err := c.o.Alerts.UpdateIncident(r.Context(), a, id, changeFrom(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "alerts.saved")
	http.Redirect(w, r, "/incidents/"+url.PathEscape(in.ID), http.StatusSeeOther)
}
