// Package httpxtest checks the routes of an httpx.Mux against the roles:
// the console's and the API's role tests use it.
package httpxtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// Roles describes how to send requests as each role.
type Roles struct {
	// Handler serves the routes.
	Handler http.Handler
	// Routes are the routes to check (Mux.Routes).
	Routes []httpx.Route
	// Public lists the patterns that may answer without authentication;
	// any other public route fails the check.
	Public []string
	// Own lists the change routes that only touch the caller's own
	// session or settings (logout, language): they need only PermRead.
	Own []string
	// Anonymous reports whether resp is the refusal of a request without
	// credentials (401 for the API, a redirect to /login for pages).
	Anonymous func(resp *http.Response) bool
	// As adds the credentials of role to req (a fresh session cookie and
	// the CSRF header, or a bearer token).
	As func(t *testing.T, req *http.Request, role service.Role)
}

var paramRE = regexp.MustCompile(`\{[^}]*\}`)

// request returns a request for a route's pattern: its method (GET when
// the pattern has none) and its path with every wildcard a plain value.
func request(pattern string) *http.Request {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = paramRE.ReplaceAllString(path, "x")
	req := httptest.NewRequest(method, path, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:40000"
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// Check proves, for every route: only the listed public routes answer
// without credentials; a route that changes something (a method other
// than GET and HEAD) needs more than PermRead; each role gets 403 exactly
// where it lacks the route's permission, and is not refused elsewhere.
func Check(t *testing.T, rs Roles) {
	t.Helper()
	var public []string
	for _, r := range rs.Routes {
		req := request(r.Pattern)
		if r.Public {
			public = append(public, r.Pattern)
			continue
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead && r.Perm == service.PermRead && !slices.Contains(rs.Own, r.Pattern) {
			t.Errorf("%s changes something but needs only %s: declare the permission of the change", r.Pattern, r.Perm)
		}
		resp := serve(rs.Handler, req)
		if !rs.Anonymous(resp) {
			t.Errorf("%s without credentials: %d %s, want a refusal", r.Pattern, resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, role := range service.Roles {
			req := request(r.Pattern)
			rs.As(t, req, role)
			resp := serve(rs.Handler, req)
			refused := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized ||
				strings.HasPrefix(resp.Header.Get("Location"), "/login?")
			switch {
			case role.Can(r.Perm) && refused:
				t.Errorf("%s as %s: %d %s, want it allowed (%s)", r.Pattern, role, resp.StatusCode, resp.Header.Get("Location"), r.Perm)
			case !role.Can(r.Perm) && resp.StatusCode != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403 (needs %s)", r.Pattern, role, resp.StatusCode, r.Perm)
			}
		}
	}
	sort.Strings(public)
	want := slices.Clone(rs.Public)
	sort.Strings(want)
	if !slices.Equal(public, want) {
		t.Errorf("public routes %q, want only %q", public, want)
	}
}

// serve runs req with a deadline: the check is about refusals, which come
// before a handler runs, and some handlers wait for their client (the
// profiler's 30 seconds) or the deadline.
func serve(h http.Handler, req *http.Request) *http.Response {
	ctx, cancel := context.WithTimeout(req.Context(), time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}
