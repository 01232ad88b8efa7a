// Package console serves Vigil's web console: server-rendered pages
// (html/template, embedded from web/), the login, sessions with CSRF
// tokens, roles, English and Simplified Chinese, times in the user's zone.
//
// # How a request gets here
//
// The API server (internal/api) is the HTTP handler: it checks the Host
// header, puts Go's http.CrossOriginProtection in front of everything,
// serves /api/, /healthz, /metrics and hands every other path to the
// Console. The Console sets the security headers (CSP with
// script-src 'self': no inline scripts, no inline event handlers;
// frame-ancestors 'none'; nosniff; no-store on pages) and routes.
//
// Every route is registered on an httpx.Mux with the permission it needs.
// Its guard signs the request in from the vigil_session cookie (else: a
// GET goes to /login?next=<the page>, other methods to /login), refuses a
// change (any method but GET/HEAD) whose CSRF token is missing or wrong
// (403 page), checks the permission (403 page), then calls the handler
// with httpx.Actor(r) set. Handlers never check sessions or CSRF
// themselves. Only the login, the static files and the login page's
// language switch are public.
//
// # Adding a page (example: the alerts slice)
//
// 1. The handler file internal/console/alerts.go, with the slice's routes
// and handlers. The route function is the ONE line you add to routes.go
// (c.alertsRoutes(mux)):
//
//	func (c *Console) alertsRoutes(mux *Mux) {
//		mux.HandleFunc("GET /alerts", PermRead, c.alertsPage)
//		mux.HandleFunc("GET /alerts/{id}", PermRead, c.alertPage)
//		mux.HandleFunc("POST /alerts/{id}/status", PermTriage, c.alertStatus)
//	}
//
// Declare the permission of what the handler does (PermRead for pages,
// PermTriage, PermLists, PermRules, PermUsers, PermAudit for changes):
// the role test (TestRoutesRoles) walks every route of the mux, so it
// covers yours without an edit: no route but the public ones answers
// without a session, a change route must not be PermRead, and each role
// gets 403 exactly where its permission is missing.
//
// 2. The service: add ONE field to Options (Alerts *service.Alerts) and
// set it in cmd/vigil/serve.go's openConsole; the handler stays thin over
// the same service the JSON API uses, passing httpx.Actor(r):
//
//	func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request) {
//		a, _ := httpx.Actor(r)
//		list, err := c.o.Alerts.List(r.Context(), a, filterFrom(r))
//		if err != nil {
//			c.fail(w, r, err) // 404/403/400 with the error's words, 500 logged
//			return
//		}
//		c.render(w, r, "alerts", alertsView{View: c.view(r), Alerts: list})
//	}
//
// 3. The view data: a struct embedding View (render refuses anything else
// at compile time). View carries the user (Actor), the CSRF token, the
// language, the zone, the path and a flash message; its methods are
// usable in the template:
//
//	type alertsView struct {
//		View
//		Alerts []service.Alert
//	}
//
// 4. The template web/templates/alerts.html (the page's name is the file
// name; every file there is a page and must define "title" and "content";
// shared pieces go in web/templates/partials/). Parsed once at start: a
// template error fails the start (and the console tests).
//
//	{{define "title"}}{{.T "alerts.title"}}{{end}}
//	{{define "content"}}
//	<h1>{{.T "alerts.title"}}</h1>
//	{{if not .Alerts}}{{template "empty" (.T "alerts.none")}}{{end}}
//	<table>
//	  <thead><tr><th>{{.T "common.time"}}</th><th class="num">{{.T "common.count"}}</th><th></th></tr></thead>
//	  <tbody>{{range .Alerts}}
//	  <tr><td class="nowrap">{{template "time" ($.TimeOf .Time)}}</td>
//	      <td class="num">{{$.Num .Count}}</td>
//	      <td class="actions">{{if $.Can "triage"}}
//	        <form method="post" action="/alerts/{{.ID}}/status">{{template "csrf" $}}
//	          <button name="status" value="acknowledged">{{$.T "alerts.ack"}}</button></form>{{end}}</td></tr>
//	  {{end}}</tbody>
//	</table>
//	{{end}}
//
// View methods: .T "key" args... (translate, fmt verbs), .Time t
// ("2026-12-06 08:15:02 CST": the user's zone, named), .Ago t ("5 min
// ago"), .TimeOf t (for the "time" partial: zone-named text, relative
// time on hover, RFC3339 datetime), .Num n (1,234,567), .Can "perm"
// (read, triage, lists, rules, users, audit; a typo is a render error),
// .SignedIn, .Active "/path", .ZoneName. Inside range/with use $ (the
// page): {{$.T "key"}}. Partials: "csrf" (the hidden field; pass the
// page: {{template "csrf" $}}), "empty" (an empty state, pass the text),
// "time" (pass $.TimeOf t). The template function static "file" gives a
// web/static URL with its content hash.
//
// 5. The texts: internal/locale/catalog/alerts.en.json and
// alerts.zh-CN.json, flat JSON, every key prefixed "alerts." and present,
// non-empty, with the same fmt verbs in both (the locale test and the
// start fail otherwise). common.* (buttons, column names, roles,
// durations) and shell.* belong to the shell: use them, ask for more in
// your report. A test checks that every {{.T "key"}} / {{$.T "key"}} with
// a literal key in web/templates exists in the catalogs.
//
// 6. A form that changes something: method="post", {{template "csrf" $}}
// inside, and after the change redirect (303) back to a page, with a
// flash message (a catalog key) when useful:
//
//	c.flash(w, "alerts.acked")
//	http.Redirect(w, r, "/alerts/"+id, http.StatusSeeOther)
//
// Destructive buttons: <form ... data-confirm="{{$.T "common.confirm.delete"}}">
// (app.js asks). JavaScript that changes something through the JSON API
// uses vigil.fetch(url, {method: "PATCH", ...}) from app.js, which adds
// the X-CSRF-Token header. Page scripts go in web/static/<slice>.js, loaded
// with {{define "head"}}<script src="{{static "alerts.js"}}" defer></script>{{end}};
// no inline <script> and no on*= attributes (the CSP refuses them); inline
// style attributes are allowed but prefer classes of app.css.
//
// 7. Tests: handler tests with newTestConsole (console_test.go: a real
// state file, users of each role, logged-in clients), and a browser test
// in e2e/console_<slice>_test.go with e2e/browser_test.go's harness
// (startBrowser, login, visit, screenshot, switchLanguage).
//
// # JSON API routes
//
// In internal/api, register with the permission too:
// s.mux.HandleFunc("GET /api/v1/alerts", service.PermRead, s.listAlerts).
// A bearer token acts as admin; a session cookie works as well, and then
// a change needs the X-CSRF-Token header (GET /api/v1/session gives the
// token). The API's role test walks those routes the same way.
package console
