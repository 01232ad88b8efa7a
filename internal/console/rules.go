package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// rulesRoutes serves the rule pack.
func (c *Console) rulesRoutes(mux *Mux) {
	if c.o.Rules == nil {
		return
	}
	mux.HandleFunc("GET /rules", PermRead, c.rulesPage)
	mux.HandleFunc("GET /rules/{id}", PermRead, c.rulePage)
	mux.HandleFunc("POST /rules/{id}/enabled", PermRules, c.ruleEnabled)
}

type rulesView struct {
	View
	Pack   service.RulePack
	Rules  []service.RuleView // after the filter
	Filter string
}

func (c *Console) rulesPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	p, err := c.o.Rules.Pack(r.Context(), a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rv := rulesView{View: c.view(r), Pack: p, Filter: strings.TrimSpace(r.URL.Query().Get("filter"))}
	f := strings.ToLower(rv.Filter)
	for _, ru := range p.Rules {
		if f == "" || strings.Contains(ru.ID, f) || titled(ru, f) {
			rv.Rules = append(rv.Rules, localRule(ru, rv.Lang))
		}
	}
	c.render(w, r, "rules", rv)
}

type ruleView struct {
	View
	Rule service.RuleView
	// AlertsURL and SearchURL find the rule's alerts.
	AlertsURL, SearchURL string
}

func (c *Console) rulePage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	ru, err := c.o.Rules.Rule(r.Context(), a, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.view(r)
	c.render(w, r, "rule", ruleView{View: v, Rule: localRule(ru, v.Lang),
		AlertsURL: "/alerts?rule=" + url.QueryEscape(ru.ID),
		SearchURL: "/search?" + url.Values{"q": {"rule.id:" + ru.ID}, "start": {"7d"}}.Encode()})
}

// titled reports whether a title of ru, its own or a translation, has
// the lower-case text f.
func titled(ru service.RuleView, f string) bool {
	if strings.Contains(strings.ToLower(ru.Title), f) {
		return true
	}
	for _, t := range ru.Translations {
		if strings.Contains(strings.ToLower(t.Title), f) {
			return true
		}
	}
	return false
}

// localRule returns ru with its title and description in lang (the
// rule's translation, else its own).
func localRule(ru service.RuleView, lang string) service.RuleView {
	t := ru.In(lang)
	ru.Title, ru.Description = t.Title, t.Description
	return ru
}

func (c *Console) ruleEnabled(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id := r.PathValue("id")
	on := r.PostFormValue("enabled") == "true"
	if _, err := c.o.Rules.SetEnabled(r.Context(), a, id, on); err != nil {
		c.fail(w, r, err)
		return
	}
	if on {
		c.flash(w, "rules.enabled.done")
	} else {
		c.flash(w, "rules.disabled.done")
	}
	back := "/rules/" + url.PathEscape(id)
	if next := r.PostFormValue("next"); strings.HasPrefix(next, "/rules") {
		back = next
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
