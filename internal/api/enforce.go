package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/service"
)

// routeEnforce serves nginx's auth_request check (Options.Enforce). It
// takes a bouncer key in X-Api-Key (what nginx should hold: a key sees
// decisions only) or, like every API route, a bearer token or a session
// with read permission.
func (s *Server) routeEnforce() {
	if s.opts.Enforce == nil {
		return
	}
	h := s.opts.Enforce
	guarded := s.guard(service.PermRead, h)
	s.mux.Public("GET /api/v1/enforce/check", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			guarded.ServeHTTP(w, r)
			return
		}
		if s.opts.Bouncers != nil {
			if _, _, ok := s.opts.Bouncers.Authenticate(key); ok {
				h.ServeHTTP(w, r)
				return
			}
		}
		writeError(w, http.StatusUnauthorized, "invalid bouncer key in X-Api-Key (vigil bouncers add NAME prints one)")
	}))
}
