package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// listsRoutes serves the lists and the device registry.
func (c *Console) listsRoutes(mux *Mux) {
	if c.o.Lists == nil {
		return
	}
	mux.HandleFunc("GET /lists", PermRead, c.listsPage)
	mux.HandleFunc("GET /lists/{name}", PermRead, c.listPage)
	mux.HandleFunc("POST /lists/{name}/add", PermLists, c.listAdd)
	mux.HandleFunc("POST /lists/{name}/entry", PermLists, c.listEntry)
	mux.HandleFunc("GET /devices", PermRead, c.devicesPage)
	mux.HandleFunc("POST /devices", PermLists, c.deviceRegister)
	mux.HandleFunc("POST /devices/revoke", PermLists, c.deviceRevoke)
}

type listsView struct {
	View
	Lists []service.ListView
}

func (c *Console) listsPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	ls, err := c.o.Lists.Lists(r.Context(), a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "lists", listsView{View: c.view(r), Lists: ls})
}

// pager links the pages of a table.
type pager struct {
	Offset, Limit, Total int
	Prev, Next           string // URLs; "" when there is none
}

func newPager(r *http.Request, offset, limit, total int) pager {
	p := pager{Offset: offset, Limit: limit, Total: total}
	link := func(off int) string {
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(off))
		return r.URL.Path + "?" + q.Encode()
	}
	if offset > 0 {
		p.Prev = link(max(offset-limit, 0))
	}
	if offset+limit < total {
		p.Next = link(offset + limit)
	}
	return p
}

// pageSize is the rows of a console table page.
const pageSize = 100

func offsetOf(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	return max(n, 0)
}

type listView struct {
	View
	Page   service.ListPage
	Filter string
	Pager  pager
	// Form holds what was typed when an addition was refused, Error why.
	Form  service.EntryInput
	Error string
	// ExpiresText is the expiry as typed.
	ExpiresText string
}

func (c *Console) listPage(w http.ResponseWriter, r *http.Request) {
	c.renderList(w, r, http.StatusOK, listView{})
}

// renderList shows a list with the form state in lv.
func (c *Console) renderList(w http.ResponseWriter, r *http.Request, code int, lv listView) {
	a, _ := httpx.Actor(r)
	name := r.PathValue("name")
	lv.Filter = r.URL.Query().Get("filter")
	off := offsetOf(r)
	p, err := c.o.Lists.List(r.Context(), a, name, service.EntryQuery{Filter: lv.Filter, Offset: off, Limit: pageSize})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	lv.View, lv.Page = c.view(r), p
	lv.Pager = newPager(r, p.Offset, pageSize, p.Total)
	c.renderStatus(w, r, code, "list", lv)
}

// formTime reads a datetime-local field in the user's zone ("" is zero).
func formTime(s string, zone *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	if zone == nil {
		zone = time.Local
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (c *Console) listAdd(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	name := r.PathValue("name")
	v := c.view(r)
	in := service.EntryInput{Value: r.PostFormValue("value"), Note: strings.TrimSpace(r.PostFormValue("note"))}
	exp := r.PostFormValue("expires")
	t, ok := formTime(exp, v.Zone)
	if !ok {
		c.renderList(w, r, http.StatusBadRequest, listView{Form: in, ExpiresText: exp, Error: v.T("lists.badtime", exp)})
		return
	}
	in.Expires = t
	if _, err := c.o.Lists.AddEntry(r.Context(), a, name, in); err != nil {
		if service.IsInvalid(err) {
			c.renderList(w, r, http.StatusBadRequest, listView{Form: in, ExpiresText: exp, Error: err.Error()})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "lists.add.done")
	http.Redirect(w, r, "/lists/"+url.PathEscape(name), http.StatusSeeOther)
}

// listEntry removes an entry (do=remove) or ends it now (do=expire).
func (c *Console) listEntry(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	name, value := r.PathValue("name"), r.PostFormValue("value")
	var (
		err   error
		flash string
	)
	switch r.PostFormValue("do") {
	case "remove":
		err, flash = c.o.Lists.RemoveEntry(r.Context(), a, name, value), "lists.remove.done"
	case "expire":
		_, err = c.o.Lists.ExpireEntry(r.Context(), a, name, value, time.Time{})
		flash = "lists.expire.done"
	default:
		err = service.Invalidf("do: want remove or expire")
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, flash)
	http.Redirect(w, r, "/lists/"+url.PathEscape(name), http.StatusSeeOther)
}

type devicesView struct {
	View
	Page         service.DevicePage
	User, Filter string
	Pager        pager
	Form         service.DeviceInput
	Error        string
	// Proposals are the devices to propose for registration (nil without
	// the dashboards); ProposalsError says why they are missing.
	Proposals      *service.DeviceProposals
	ProposalsError string
}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request) {
	c.renderDevices(w, r, http.StatusOK, devicesView{})
}

func (c *Console) renderDevices(w http.ResponseWriter, r *http.Request, code int, dv devicesView) {
	a, _ := httpx.Actor(r)
	q := r.URL.Query()
	dv.User, dv.Filter = strings.TrimSpace(q.Get("user")), strings.TrimSpace(q.Get("filter"))
	p, err := c.o.Lists.Devices(r.Context(), a, service.DeviceQuery{User: dv.User, Filter: dv.Filter, Offset: offsetOf(r), Limit: pageSize})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	dv.View, dv.Page = c.view(r), p
	dv.Pager = newPager(r, p.Offset, pageSize, p.Total)
	if c.o.Dashboards != nil && p.Registry != "" {
		// The page stays useful when the search store cannot answer.
		if dv.Proposals, err = c.o.Dashboards.DeviceProposals(r.Context(), a, service.ProposalQuery{}); err != nil {
			c.log.Warn("console: device proposals", "err", err)
			dv.ProposalsError = err.Error()
		}
	}
	c.renderStatus(w, r, code, "devices", dv)
}

func (c *Console) deviceRegister(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	in := service.DeviceInput{User: r.PostFormValue("user"), Device: r.PostFormValue("device"),
		Model: strings.TrimSpace(r.PostFormValue("model")), Note: strings.TrimSpace(r.PostFormValue("note"))}
	if _, err := c.o.Lists.Register(r.Context(), a, in); err != nil {
		if service.IsInvalid(err) {
			c.renderDevices(w, r, http.StatusBadRequest, devicesView{Form: in, Error: err.Error()})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.flash(w, "lists.devices.register.done")
	http.Redirect(w, r, "/devices?user="+url.QueryEscape(strings.TrimSpace(in.User)), http.StatusSeeOther)
}

func (c *Console) deviceRevoke(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	user := r.PostFormValue("user")
	if _, err := c.o.Lists.Revoke(r.Context(), a, user, r.PostFormValue("device"), strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		c.fail(w, r, err)
		return
	}
	c.flash(w, "lists.devices.revoke.done")
	back := "/devices"
	if next := r.PostFormValue("next"); strings.HasPrefix(next, "/devices") {
		back = next
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
