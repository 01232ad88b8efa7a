package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/service"
)

// Enforcer answers the proxy's questions (*enforce.Checker): ServeHTTP
// the auth_request check, ServeDevices the registered devices.
type Enforcer interface {
	http.Handler
	ServeDevices(http.ResponseWriter, *http.Request)
}

// routeEnforce serves nginx's auth_request check and the device list for
// vigil.lua (Options.Enforce). Both take a bouncer key in X-Api-Key (what
// a proxy should hold: a key sees decisions and registered devices only)
// or, like every API route, a bearer token or a session with read
// permission.
func (s *Server) routeEnforce() {
	if s.opts.Enforce == nil {
		return
	}
	s.mux.Public("GET /api/v1/enforce/check", s.bouncerOrRead(s.opts.Enforce))
	s.mux.Public("GET /api/v1/enforce/devices", s.bouncerOrRead(http.HandlerFunc(s.opts.Enforce.ServeDevices)))
}

// bouncerOrRead serves h to a request with a valid bouncer key in
// X-Api-Key or, without that header, to one with read permission.
func (s *Server) bouncerOrRead(h http.Handler) http.Handler {
	guarded := s.guard(service.PermRead, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	})
}
