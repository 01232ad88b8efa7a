package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/service"
)

// Mux is where routes are registered: mux.HandleFunc(pattern, perm, h)
// for pages (signed in, with the permission), mux.Public for the few
// that answer before a login.
type Mux = httpx.Mux

// Permissions, for route lines: mux.HandleFunc("GET /alerts", PermRead, c.alerts).
const (
	PermRead   = service.PermRead
	PermTriage = service.PermTriage
	PermLists  = service.PermLists
	PermRules  = service.PermRules
	PermUsers  = service.PermUsers
	PermAudit  = service.PermAudit
)

// langCookie keeps the language chosen on the login page.
const langCookie = "vigil_lang"

func (c *Console) shellRoutes(mux *Mux) {
	mux.Public("GET /static/{file...}", http.HandlerFunc(c.serveStatic))
	mux.Public("GET /login", http.HandlerFunc(c.loginPage))
	mux.Public("POST /login", http.HandlerFunc(c.login))
	mux.Public("POST /login/lang", http.HandlerFunc(c.loginLang))
	mux.HandleFunc("POST /logout", PermRead, c.logout)
	mux.HandleFunc("POST /settings/lang", PermRead, c.setLang)
}

// home is the overview page until the dashboard registers its own.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "home", c.view(r))
}

// setLang saves the user's language and goes back to the page.
func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	id, _ := identity(r)
	lang := locale.Supported(r.PostFormValue("lang"))
	if lang == "" {
		c.failCode(w, r, http.StatusBadRequest, c.view(r).T("shell.error.lang"))
		return
	}
	if err := c.o.Users.SetSettings(r.Context(), a, lang, id.User.Zone); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setLangCookie(w, lang)
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// loginLang sets the language of the login page (before a session).
func (c *Console) loginLang(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if lang := locale.Supported(r.PostFormValue("lang")); lang != "" {
		c.setLangCookie(w, lang)
	}
	next := localPath(r.PostFormValue("next"))
	if !strings.HasPrefix(next, "/login") {
		next = "/login"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) setLangCookie(w http.ResponseWriter, lang string) {
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// localPath returns next when it is a path on this server ("/alerts?x=1"),
// else "/": a login link must not send the user elsewhere.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
