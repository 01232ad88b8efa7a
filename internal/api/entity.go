package api

import (
	"net/http"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeDashboards registers the entity pages and the overview.
func (s *Server) routeDashboards() {
	if s.opts.Dashboards == nil {
		return
	}
	s.mux.HandleFunc("GET /api/v1/entities/{kind}/{value}", service.PermRead, s.entity)
	s.mux.HandleFunc("GET /api/v1/overview", service.PermRead, s.overview)
	s.mux.HandleFunc("GET /api/v1/devices/proposals", service.PermRead, s.deviceProposals)
}

// deviceProposals answers which ActiveSync devices logged in successfully
// without being registered: GET /api/v1/devices/proposals?start=&end=
func (s *Server) deviceProposals(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	var q service.ProposalQuery
	var err error
	if q.Start, q.End, _, err = timeRange(r.URL.Query(), s.opts.Now()); err != nil {
		httpx.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := s.opts.Dashboards.DeviceProposals(r.Context(), a, q)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

// entity answers what Vigil knows about a user, an address or a device:
// GET /api/v1/entities/{user|ip|device}/{value}?start=&end=&tz=
func (s *Server) entity(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	q := service.EntityQuery{Kind: service.EntityKind(r.PathValue("kind")), Value: r.PathValue("value")}
	v := r.URL.Query()
	var err error
	if q.Start, q.End, q.Loc, err = timeRange(v, s.opts.Now()); err != nil {
		httpx.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	e, err := s.opts.Dashboards.Entity(r.Context(), a, q)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, e)
}

// zone reads the tz parameter: an IANA time zone name; empty is UTC.
func zone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, service.Invalidf("tz: %q is not an IANA time zone name like Asia/Shanghai", name)
	}
	return loc, nil
}
