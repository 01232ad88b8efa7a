package console

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// decisionsRoutes serves the enforcement decisions (bans and the like,
// made by rules' actions and by operators) and, for admins, the bouncers
// that pull them.
func (c *Console) decisionsRoutes(mux *Mux) {
	if c.o.Decisions == nil {
		return
	}
	mux.HandleFunc("GET /decisions", PermRead, c.decisionsPage)
	mux.HandleFunc("POST /decisions", PermLists, c.decisionAdd)
	mux.HandleFunc("POST /decisions/{id}/delete", PermLists, c.decisionDelete)
}

// decisionsShown is how many decisions the page lists, newest first.
const decisionsShown = 200

// decisionStates are the state filter's choices; "" is active and dry
// run.
var decisionStates = []string{"", "active", "dry-run", "expired", "deleted", "all"}

// decisionRow is a decision as the page shows it.
type decisionRow struct {
	service.DecisionView
	Rule string // the rule id of a rule's decision
}

type decisionsView struct {
	View
	Decisions []decisionRow
	More      bool // more than decisionsShown matched
	// The filter.
	State, Scope, Value string
	States, Scopes      []string
	Types               []string
	// Enabled and DryRun are enforce.enabled and enforce.dry_run.
	Enabled, DryRun bool
	Form            service.DecisionInput
	Error           string
	// Bouncers are shown to admins (nil: not shown).
	Bouncers      []service.BouncerInfo
	ShowBouncers  bool
	BouncersError string
}

func (c *Console) decisionsPage(w http.ResponseWriter, r *http.Request) {
	c.renderDecisions(w, r, http.StatusOK, decisionsView{Form: service.DecisionInput{Type: "ban", Duration: "4h"}})
}

func (c *Console) renderDecisions(w http.ResponseWriter, r *http.Request, code int, dv decisionsView) {
	a, _ := httpx.Actor(r)
	q := r.URL.Query()
	dv.State, dv.Scope, dv.Value = q.Get("state"), q.Get("scope"), strings.TrimSpace(q.Get("value"))
	dv.States, dv.Scopes, dv.Types = decisionStates, []string{"ip", "range", "user", "device"}, []string{"ban", "captcha", "throttle"}
	dv.Enabled, dv.DryRun = c.o.Decisions.Enforcing()
	dq := service.DecisionQuery{Scope: dv.Scope, Value: dv.Value, Limit: decisionsShown + 1}
	if dv.State != "" {
		dq.States = []string{dv.State}
	}
	// An address without a scope finds its ip decisions and the ranges
	// holding it.
	if dq.Scope == "" && dq.Value != "" {
		if _, err := netip.ParseAddr(dq.Value); err == nil {
			dq.IP, dq.Value = dq.Value, ""
		}
	}
	ds, err := c.o.Decisions.List(r.Context(), a, dq)
	switch {
	case service.IsInvalid(err):
		code, dv.Error = http.StatusBadRequest, err.Error()
	case err != nil:
		c.fail(w, r, err)
		return
	}
	if len(ds) > decisionsShown {
		ds, dv.More = ds[:decisionsShown], true
	}
	for _, d := range ds {
		rule, _ := strings.CutPrefix(d.Origin, "rule:")
		if rule == d.Origin {
			rule = ""
		}
		dv.Decisions = append(dv.Decisions, decisionRow{DecisionView: d, Rule: rule})
	}
	if c.o.Bouncers != nil && a.Role.Can(service.PermUsers) {
		dv.ShowBouncers = true
		if dv.Bouncers, err = c.o.Bouncers.List(r.Context(), a); err != nil {
			dv.BouncersError = err.Error()
		}
	}
	dv.View = c.view(r)
	c.renderStatus(w, r, code, "decisions", dv)
}

func (c *Console) decisionAdd(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	in := service.DecisionInput{Scope: r.PostFormValue("scope"), Value: strings.TrimSpace(r.PostFormValue("value")),
		Type: r.PostFormValue("type"), Duration: strings.TrimSpace(r.PostFormValue("duration")),
		Reason: strings.TrimSpace(r.PostFormValue("reason")), DryRun: r.PostFormValue("dry_run") != ""}
	d, err := c.o.Decisions.Add(r.Context(), a, in)
	if err != nil {
		if service.IsInvalid(err) {
			c.renderDecisions(w, r, http.StatusBadRequest, decisionsView{Form: in, Error: err.Error()})
			return
		}
		c.fail(w, r, err)
		return
	}
	if d.DryRun {
		c.flash(w, "decisions.add.dryrun")
	} else {
		c.flash(w, "decisions.add.done")
	}
	http.Redirect(w, r, "/decisions", http.StatusSeeOther)
}

func (c *Console) decisionDelete(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.fail(w, r, service.Invalidf("decision id %q: want a number", r.PathValue("id")))
		return
	}
	if err := c.o.Decisions.Delete(r.Context(), a, id); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "decisions.delete.done")
	back := "/decisions"
	if next := r.PostFormValue("next"); strings.HasPrefix(next, "/decisions") {
		back = next
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
