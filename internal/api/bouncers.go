package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeBouncers serves the bouncer keys (administrators) and mounts the
// CrowdSec bouncer API, which authenticates by its own X-Api-Key.
func (s *Server) routeBouncers() {
	if s.opts.Bouncers != nil {
		s.mux.HandleFunc("GET /api/v1/bouncers", service.PermUsers, s.listBouncers)
		s.mux.HandleFunc("POST /api/v1/bouncers", service.PermUsers, s.addBouncer)
		s.mux.HandleFunc("DELETE /api/v1/bouncers/{name}", service.PermUsers, s.deleteBouncer)
	}
	if s.opts.BouncerAPI != nil {
		for _, p := range s.opts.BouncerPatterns {
			// Public to the mux: no bearer token nor session, the
			// handler checks the bouncer's key.
			s.mux.Public(p, s.opts.BouncerAPI)
		}
	}
}

// GET /api/v1/bouncers: {"bouncers": [...]}
func (s *Server) listBouncers(w http.ResponseWriter, r *http.Request) {
	bs, err := s.opts.Bouncers.List(r.Context(), actor(r))
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"bouncers": bs})
}

// POST /api/v1/bouncers {"name"}: 201 {"name", "key"}; the key is shown
// this once.
func (s *Server) addBouncer(w http.ResponseWriter, r *http.Request) {
	var c struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, &c, false); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	key, err := s.opts.Bouncers.Add(r.Context(), actor(r), c.Name)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, map[string]string{"name": c.Name, "key": key})
}

// DELETE /api/v1/bouncers/{name}: 204; the key stops working at once.
func (s *Server) deleteBouncer(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Bouncers.Delete(r.Context(), actor(r), r.PathValue("name")); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
