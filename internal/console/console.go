package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/web"
)

// Options configure the console. Each slice of the console adds the one
// field its pages need (its service).
type Options struct {
	// DB is the state store; Sessions signs users in.
	DB       *storage.DB
	Sessions *auth.Sessions
	// Catalog holds the translations; nil loads the embedded ones.
	Catalog *locale.Catalog
	// Zone is the time zone of users who chose none; nil means the
	// machine's.
	Zone *time.Location
	// Lang is the language of users who chose none and whose browser
	// asks for none the console speaks (display.language); "" means
	// English.
	Lang string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LoginLimitUser and LoginLimitAddress are the failed logins allowed
	// per minute for one user name and from one client address
	// (defaults 5 and 20); then the login form answers 429.
	LoginLimitUser, LoginLimitAddress int
	// Users changes users and their settings; Audit reads the audit
	// trail (nil: made over DB).
	Users *service.Users
	Audit *service.Audit
	// Lists views and edits the lists and the device registry.
	Lists *service.Lists
	// Rules shows the rule pack and turns rules on and off.
	Rules *service.Rules
	// Alerts lists and triages alerts and incidents.
	Alerts *service.Alerts
	// Dashboards serves the overview dashboard (/) and the entity pages
	// (/entity/...); nil leaves them out.
	Dashboards *service.Dashboards
	// Searches serves the search page; nil leaves it out.
	Searches *service.Searches
	// Decisions lists, adds and deletes enforcement decisions; Bouncers
	// lists the bouncers pulling them (admins). Nil leaves them out.
	Decisions *service.Decisions
	Bouncers  *service.Bouncers
	// Registerer takes the console's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log is the console's log; nil discards.
	Log *slog.Logger
}

// Console serves the web console: pages, the login, static files.
type Console struct {
	o             Options
	log           *slog.Logger
	mux           *httpx.Mux
	pages         map[string]*template.Template
	static        map[string]staticFile
	byUser        *auth.Limiter
	byAddr        *auth.Limiter
	loginFailures *prometheus.CounterVec
}

type staticFile struct {
	data  []byte
	hash  string
	ctype string
}

// New parses the templates, loads the static files and registers the
// routes. A template that does not parse, a page without "title" or
// "content", or a catalog problem is an error.
func New(o Options) (*Console, error) {
	if o.DB == nil || o.Sessions == nil {
		return nil, errors.New("console: DB and Sessions are required")
	}
	if o.Catalog == nil {
		cat, err := locale.Load()
		if err != nil {
			return nil, err
		}
		o.Catalog = cat
	}
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LoginLimitUser <= 0 {
		o.LoginLimitUser = 5
	}
	if o.LoginLimitAddress <= 0 {
		o.LoginLimitAddress = 20
	}
	if o.Users == nil {
		o.Users = service.NewUsers(o.DB, auth.Passwords{}, o.Now)
	}
	if o.Audit == nil {
		o.Audit = service.NewAudit(o.DB)
	}
	c := &Console{o: o, log: o.Log,
		byUser: auth.NewLimiter(o.LoginLimitUser, time.Minute, o.Now),
		byAddr: auth.NewLimiter(o.LoginLimitAddress, time.Minute, o.Now),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_console_login_failures_total",
			Help: "Refused console logins by reason: bad_credentials (wrong user name or password), rate_limited (too many failures for the user name or the client address), csrf (a login form without its token)."},
			[]string{"reason"}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range []string{"bad_credentials", "rate_limited", "csrf"} {
		c.loginFailures.WithLabelValues(r)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(c.loginFailures); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	if err := c.loadStatic(); err != nil {
		return nil, err
	}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.mux = httpx.NewMux(c.guard)
	c.routes(c.mux)
	return c, nil
}

// Routes returns the console's routes (for the role tests).
func (c *Console) Routes() []httpx.Route { return c.mux.Routes() }

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "+
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) loadStatic() error {
	c.static = map[string]staticFile{}
	return fs.WalkDir(web.FS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := "application/octet-stream"
		switch path.Ext(p) {
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		case ".png":
			ctype = "image/png"
		case ".ico":
			ctype = "image/x-icon"
		}
		c.static[strings.TrimPrefix(p, "static/")] = staticFile{data: b, hash: hex.EncodeToString(sum[:6]), ctype: ctype}
		return nil
	})
}

// staticURL is the template function static: the URL of a static file
// with its content hash, so that it can be cached for a year.
func (c *Console) staticURL(name string) (string, error) {
	f, ok := c.static[name]
	if !ok {
		return "", fmt.Errorf("console: no static file %q in web/static", name)
	}
	return "/static/" + name + "?v=" + f.hash, nil
}

// serveStatic serves web/static: cached for a year when the URL carries
// the file's current hash, revalidated otherwise.
func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	f, ok := c.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", `"`+f.hash+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// parse parses the layout and the partials once, then each page
// (templates/<page>.html) on a copy of them.
func (c *Console) parse() error {
	funcs := template.FuncMap{"static": c.staticURL}
	base, err := template.New("layout").Funcs(funcs).ParseFS(web.FS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return fmt.Errorf("console: templates: %w", err)
	}
	files, err := fs.Glob(web.FS, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(web.FS, f)
		if err != nil {
			return fmt.Errorf("console: page %s: %w", f, err)
		}
		for _, def := range []string{"title", "content"} {
			if t.Lookup(def) == nil {
				return fmt.Errorf("console: page %s defines no %q template", f, def)
			}
		}
		c.pages[name] = t
	}
	return nil
}

// hasBase is implemented by View and so by every page data that embeds it.
type hasBase interface{ base() View }

// render writes page (web/templates/<page>.html) with data, which must
// embed View (or be one), with status 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, page string, data hasBase) {
	c.renderStatus(w, r, http.StatusOK, page, data)
}

// renderStatus is render with another status code.
func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, code int, page string, data hasBase) {
	t, ok := c.pages[page]
	if !ok {
		c.log.Error("console: no such page template", "page", page, "path", r.URL.Path)
		http.Error(w, "internal error: no page "+page, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.log.Error("console: render", "page", page, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error: the page could not be drawn", http.StatusInternalServerError)
		return
	}
	if _, err := r.Cookie(flashCookie); err == nil {
		// Shown once: this page carries it.
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type identityKey struct{}

// identity returns the signed-in user of a request that passed the guard.
func identity(r *http.Request) (auth.Identity, bool) {
	id, ok := r.Context().Value(identityKey{}).(auth.Identity)
	return id, ok
}

// guard lets through requests with a valid session whose user has p, and
// whose changes carry the session's CSRF token. A page request without a
// session is sent to the login page.
func (c *Console) guard(p service.Perm, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := c.o.Sessions.Authenticate(r)
		if errors.Is(err, auth.ErrNoSession) {
			c.toLogin(w, r)
			return
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
		actor := id.Actor("console", httpx.ClientIP(r))
		r = r.WithContext(context.WithValue(httpx.WithActor(r, actor).Context(), identityKey{}, id))
		if auth.Unsafe(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !auth.Equal(auth.CSRFToken(r), id.Session.CSRF) {
				c.failCode(w, r, http.StatusForbidden, c.view(r).T("shell.error.csrf"))
				return
			}
		}
		if err := actor.Check(p); err != nil {
			c.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// toLogin sends a request without a session to the login page, which
// brings the user back to the page asked for.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next = "/"
	}
	http.Redirect(w, r, "/login?next="+urlQueryEscape(next), http.StatusSeeOther)
}

// view returns the View of a request: its user, language and zone.
func (c *Console) view(r *http.Request) View {
	v := View{Path: r.URL.RequestURI(), Now: c.o.Now(), Zone: c.o.Zone}
	lang := ""
	if id, ok := identity(r); ok {
		v.Actor = id.Actor("console", httpx.ClientIP(r))
		v.CSRF = id.Session.CSRF
		lang = id.User.Lang
		if id.User.Zone != "" {
			if loc, err := time.LoadLocation(id.User.Zone); err == nil {
				v.Zone = loc
			}
		}
	}
	if lang == "" {
		if ck, err := r.Cookie(langCookie); err == nil {
			lang = locale.Supported(ck.Value)
		}
	}
	if lang == "" {
		lang = locale.Match(r.Header.Get("Accept-Language"))
	}
	if lang == "" {
		lang = c.o.Lang
	}
	v.p = c.o.Catalog.Printer(lang)
	v.Lang = v.p.Lang()
	v.ruleTitle = c.ruleTitles(v.Actor, v.Lang)
	if ck, err := r.Cookie(flashCookie); err == nil && c.o.Catalog.Has(ck.Value) {
		v.Flash = v.T(ck.Value)
	}
	return v
}

// ruleTitles returns a lookup of the rules' titles in lang, which reads
// the pack when a page first asks (once per page).
func (c *Console) ruleTitles(a service.Actor, lang string) func(string) string {
	if c.o.Rules == nil {
		return nil
	}
	var titles map[string]string
	return func(id string) string {
		if titles == nil {
			titles, _ = c.o.Rules.Titles(a, lang) // nil without a session: no titles
			if titles == nil {
				titles = map[string]string{}
			}
		}
		return titles[id]
	}
}

// flashCookie carries a message (a catalog key) to the next page.
const flashCookie = "vigil_flash"

// flash shows the text of a catalog key on the next page rendered (after
// a redirect).
func (c *Console) flash(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: key, Path: "/", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// errorPage is the data of the error page.
type errorPage struct {
	View
	Code           int
	Title, Message string
}

// fail answers err as an error page: 404, 403 and 400 say why, anything
// else is logged and shown as an internal error.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := httpx.Status(err)
	switch {
	case code >= 500:
		c.log.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = c.view(r).T("shell.error.internal")
	case code == http.StatusForbidden:
		if a, ok := httpx.Actor(r); ok {
			v := c.view(r)
			msg = v.T("shell.error.role", v.T("common.role."+string(a.Role)))
		}
	}
	c.failCode(w, r, code, msg)
}

// failCode shows the error page with code and msg.
func (c *Console) failCode(w http.ResponseWriter, r *http.Request, code int, msg string) {
	v := c.view(r)
	title := http.StatusText(code)
	switch code {
	case http.StatusNotFound:
		title = v.T("shell.error.notfound")
	case http.StatusForbidden:
		title = v.T("shell.error.forbidden")
	case http.StatusBadRequest:
		title = v.T("shell.error.bad")
	}
	c.renderStatus(w, r, code, "error", errorPage{View: v, Code: code, Title: title, Message: msg})
}
