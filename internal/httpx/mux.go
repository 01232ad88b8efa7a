package httpx

import (
	"net/http"
	"slices"

	"github.com/vigil-soc/vigil/internal/service"
)

// Route is one registered pattern and what it needs.
type Route struct {
	// Pattern is the http.ServeMux pattern ("GET /alerts/{id}").
	Pattern string
	// Perm is the permission the route needs (when not Public).
	Perm service.Perm
	// Public routes answer without authentication.
	Public bool
}

// Mux is an http.ServeMux that requires a permission of every route it
// registers (except the few public ones) and remembers the routes, so that
// a test can walk them all: the console's and the API's role tests do.
type Mux struct {
	mux    *http.ServeMux
	guard  func(service.Perm, http.Handler) http.Handler
	routes []Route
}

// NewMux returns a Mux whose routes are wrapped by guard: it must
// authenticate the request and check the permission.
func NewMux(guard func(service.Perm, http.Handler) http.Handler) *Mux {
	return &Mux{mux: http.NewServeMux(), guard: guard}
}

// Handle registers h for pattern; the request must be authenticated and
// its actor must have p.
func (m *Mux) Handle(pattern string, p service.Perm, h http.Handler) {
	m.mux.Handle(pattern, m.guard(p, h))
	m.routes = append(m.routes, Route{Pattern: pattern, Perm: p})
}

// HandleFunc is Handle for a function.
func (m *Mux) HandleFunc(pattern string, p service.Perm, h http.HandlerFunc) {
	m.Handle(pattern, p, h)
}

// Public registers h for pattern without authentication. Keep it for what
// must answer before a login: health, the login page, static files.
func (m *Mux) Public(pattern string, h http.Handler) {
	m.mux.Handle(pattern, h)
	m.routes = append(m.routes, Route{Pattern: pattern, Public: true})
}

// Has reports whether pattern is registered.
func (m *Mux) Has(pattern string) bool {
	return slices.ContainsFunc(m.routes, func(r Route) bool { return r.Pattern == pattern })
}

// Routes returns the registered routes in registration order.
func (m *Mux) Routes() []Route { return slices.Clone(m.routes) }

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }
