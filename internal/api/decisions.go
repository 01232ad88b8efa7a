package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeDecisions serves the enforcement decisions (Options.Decisions):
// viewers read, analysts add and delete, as with lists.
func (s *Server) routeDecisions() {
	if s.opts.Decisions == nil {
		return
	}
	s.mux.HandleFunc("GET /api/v1/decisions", service.PermRead, s.getDecisions)
	s.mux.HandleFunc("POST /api/v1/decisions", service.PermLists, s.addDecision)
	s.mux.HandleFunc("DELETE /api/v1/decisions/{id}", service.PermLists, s.deleteDecision)
}

// getDecisions lists decisions: ?scope=&value=&ip=&origin=&alert=&state=&limit=
// (state: active, dry-run, expired, deleted, all; comma-separated or
// repeated).
func (s *Server) getDecisions(w http.ResponseWriter, r *http.Request) {
	_, lim, err := pageParams(r)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	q := r.URL.Query()
	dq := service.DecisionQuery{Scope: q.Get("scope"), Value: q.Get("value"), IP: q.Get("ip"), Origin: q.Get("origin"), Alert: q.Get("alert"), Limit: lim}
	for _, v := range q["state"] {
		for st := range strings.SplitSeq(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				dq.States = append(dq.States, st)
			}
		}
	}
	ds, err := s.opts.Decisions.List(r.Context(), actor(r), dq)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if ds == nil {
		ds = []service.DecisionView{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"decisions": ds})
}

func (s *Server) addDecision(w http.ResponseWriter, r *http.Request) {
	var in service.DecisionInput
	if err := decodeBody(w, r, &in, false); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	d, err := s.opts.Decisions.Add(r.Context(), actor(r), in)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, d)
}

func (s *Server) deleteDecision(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpx.Fail(w, s.log, r, service.Invalidf("decision id: want a number, got %q", r.PathValue("id")))
		return
	}
	if err := s.opts.Decisions.Delete(r.Context(), actor(r), id); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
