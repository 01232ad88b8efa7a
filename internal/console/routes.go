package console

import "net/http"

// routes registers every page. Each slice adds ONE line here calling its
// own c.<slice>Routes(mux), defined in its own file (see doc.go).
func (c *Console) routes(mux *Mux) {
	c.shellRoutes(mux)
	c.adminRoutes(mux)
	// The slices, one line each (above the fallbacks):
	c.listsRoutes(mux)
	c.rulesRoutes(mux)
	c.alertsRoutes(mux)
	c.dashRoutes(mux)
	c.searchRoutes(mux)
	c.decisionsRoutes(mux)

	// Fallbacks, after the slices: the overview page until one is
	// registered, and a 404 page for any other path (signed in).
	if !mux.Has("GET /{$}") {
		mux.HandleFunc("GET /{$}", PermRead, c.home)
	}
	mux.HandleFunc("/", PermRead, func(w http.ResponseWriter, r *http.Request) {
		c.failCode(w, r, http.StatusNotFound, c.view(r).T("shell.error.nopage", r.URL.Path))
	})
}
