package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// overview answers the mail-service overview dashboard:
// GET /api/v1/overview?range=24h&end=&tz=
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	v := r.URL.Query()
	var q service.OverviewQuery
	if rg := v.Get("range"); rg != "" {
		d, ok := service.ParseAgo(rg)
		if !ok {
			httpx.Error(w, http.StatusBadRequest, "range: "+rg+" is not a duration like 1h, 24h or 7d")
			return
		}
		q.Range = d
	}
	var err error
	if q.Loc, err = zone(v.Get("tz")); err != nil {
		httpx.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if e := v.Get("end"); e != "" && e != "now" {
		if q.End, err = service.ParseEnd(e, s.opts.Now(), q.Loc); err != nil {
			httpx.Error(w, http.StatusBadRequest, "end: "+err.Error())
			return
		}
	}
	ov, err := s.opts.Dashboards.Overview(r.Context(), a, q)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, ov)
}
