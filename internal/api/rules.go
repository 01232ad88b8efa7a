package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeRules serves the rule pack (Options.Rules): viewers read, admins
// turn rules on and off.
func (s *Server) routeRules() {
	if s.opts.Rules == nil {
		return
	}
	s.mux.HandleFunc("GET /api/v1/rules", service.PermRead, s.getRules)
	s.mux.HandleFunc("GET /api/v1/rules/{id}", service.PermRead, s.getRule)
	s.mux.HandleFunc("PATCH /api/v1/rules/{id}", service.PermRules, s.patchRule)
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	p, err := s.opts.Rules.Pack(r.Context(), actor(r))
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	v, err := s.opts.Rules.Rule(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

// patchRule turns a rule on or off: {"enabled": false}.
func (s *Server) patchRule(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeBody(w, r, &in, false); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if in.Enabled == nil {
		httpx.Fail(w, s.log, r, service.Invalidf(`want {"enabled": true|false}`))
		return
	}
	v, err := s.opts.Rules.SetEnabled(r.Context(), actor(r), r.PathValue("id"), *in.Enabled)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}
