package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

func (c *Console) adminRoutes(mux *Mux) {
	mux.HandleFunc("GET /admin/users", PermUsers, c.usersPage)
	mux.HandleFunc("POST /admin/users", PermUsers, c.addUser)
	mux.HandleFunc("POST /admin/users/{name}/role", PermUsers, c.setUserRole)
	mux.HandleFunc("POST /admin/users/{name}/password", PermUsers, c.resetPassword)
	mux.HandleFunc("POST /admin/users/{name}/delete", PermUsers, c.deleteUser)
	mux.HandleFunc("GET /admin/audit", PermAudit, c.auditPage)
	mux.HandleFunc("GET /settings", PermRead, c.settingsPage)
	mux.HandleFunc("POST /settings", PermRead, c.saveSettings)
	mux.HandleFunc("POST /settings/password", PermRead, c.changePassword)
}

// usersView is the data of /admin/users.
type usersView struct {
	View
	Users []service.UserInfo
	Roles []service.Role
	// Error is why the last change was refused; Form what was entered.
	Error    string
	FormName string
	FormRole string
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request) {
	c.showUsers(w, r, http.StatusOK, "", "", "")
}

func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, code int, msg, name, role string) {
	a, _ := httpx.Actor(r)
	us, err := c.o.Users.List(r.Context(), a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if role == "" {
		role = string(service.RoleViewer)
	}
	c.renderStatus(w, r, code, "admin_users", usersView{View: c.view(r), Users: us, Roles: service.Roles,
		Error: msg, FormName: name, FormRole: role})
}

// changed ends a users form: back to the page with flash on success, the
// page with the refusal's words on a request's fault.
func (c *Console) changed(w http.ResponseWriter, r *http.Request, err error, flash, back string, again func(code int, msg string)) {
	switch {
	case err == nil:
		c.flash(w, flash)
		http.Redirect(w, r, back, http.StatusSeeOther)
	case service.IsInvalid(err):
		again(http.StatusBadRequest, err.Error())
	default:
		c.fail(w, r, err)
	}
}

func (c *Console) addUser(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	name, role := r.PostFormValue("name"), r.PostFormValue("role")
	err := c.o.Users.Add(r.Context(), a, name, service.Role(role), r.PostFormValue("password"))
	c.changed(w, r, err, "shell.users.added", "/admin/users", func(code int, msg string) {
		c.showUsers(w, r, code, msg, name, role)
	})
}

func (c *Console) setUserRole(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	err := c.o.Users.SetRole(r.Context(), a, r.PathValue("name"), service.Role(r.PostFormValue("role")))
	c.changed(w, r, err, "common.saved", "/admin/users", func(code int, msg string) { c.showUsers(w, r, code, msg, "", "") })
}

func (c *Console) resetPassword(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	name := r.PathValue("name")
	var err error
	if name == a.Name {
		err = service.Invalidf("change your own password in the settings (it asks for the current one)")
	} else {
		err = c.o.Users.SetPassword(r.Context(), a, name, "", r.PostFormValue("password"), "")
	}
	c.changed(w, r, err, "shell.users.password_set", "/admin/users", func(code int, msg string) { c.showUsers(w, r, code, msg, "", "") })
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	err := c.o.Users.Delete(r.Context(), a, r.PathValue("name"))
	c.changed(w, r, err, "shell.users.deleted", "/admin/users", func(code int, msg string) { c.showUsers(w, r, code, msg, "", "") })
}

// auditView is the data of /admin/audit.
type auditView struct {
	View
	Entries []storage.AuditEntry
	// The filters (View.Actor is the signed-in user).
	FilterActor, FilterAction string
	// Next is the link to older entries ("" on the last page); Newest
	// the link back to the newest.
	Next, Newest string
}

// auditPageSize is the entries of one audit page.
const auditPageSize = 50

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	q := r.URL.Query()
	f := storage.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Limit: auditPageSize}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			c.fail(w, r, service.Invalidf("before: %q is not a sequence number", b))
			return
		}
		f.Before = n
	}
	es, err := c.o.Audit.List(r.Context(), a, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := auditView{View: c.view(r), Entries: es, FilterActor: f.Actor, FilterAction: f.Action}
	link := url.Values{}
	if f.Actor != "" {
		link.Set("actor", f.Actor)
	}
	if f.Action != "" {
		link.Set("action", f.Action)
	}
	if f.Before != 0 {
		v.Newest = "/admin/audit?" + link.Encode()
	}
	if n := len(es); n == auditPageSize && es[n-1].Seq > 1 {
		link.Set("before", strconv.FormatUint(es[n-1].Seq, 10))
		v.Next = "/admin/audit?" + link.Encode()
	}
	c.render(w, r, "admin_audit", v)
}

// settingsView is the data of /settings.
type settingsView struct {
	View
	User service.UserInfo
	// Zones are suggestions for the zone field.
	Zones []string
	// DefaultZone is the configured zone (for "empty: ...").
	DefaultZone string
	Error       string
}

var zoneSuggestions = []string{"Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
	"Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"}

func (c *Console) settingsPage(w http.ResponseWriter, r *http.Request) {
	c.showSettings(w, r, http.StatusOK, "")
}

func (c *Console) showSettings(w http.ResponseWriter, r *http.Request, code int, msg string) {
	a, _ := httpx.Actor(r)
	u, err := c.o.Users.Get(r.Context(), a, a.Name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.view(r)
	c.renderStatus(w, r, code, "settings", settingsView{View: v, User: u, Zones: zoneSuggestions,
		DefaultZone: v.zoneLabel(c.o.Zone), Error: msg})
}

func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	lang := r.PostFormValue("lang")
	err := c.o.Users.SetSettings(r.Context(), a, lang, r.PostFormValue("zone"))
	if err == nil && lang != "" {
		c.setLangCookie(w, lang)
	}
	c.changed(w, r, err, "common.saved", "/settings", func(code int, msg string) { c.showSettings(w, r, code, msg) })
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id, _ := identity(r)
	pw := r.PostFormValue("password")
	var err error
	if pw != r.PostFormValue("password2") {
		err = service.Invalidf("the two new passwords differ")
	} else {
		// The other sessions of the user end; this one stays.
		err = c.o.Users.SetPassword(r.Context(), a, a.Name, r.PostFormValue("old"), pw, id.Session.Key)
	}
	c.changed(w, r, err, "shell.settings.password_changed", "/settings", func(code int, msg string) { c.showSettings(w, r, code, msg) })
}
