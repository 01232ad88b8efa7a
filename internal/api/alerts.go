package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeAlerts serves the alerts and incidents (docs/api.md, "Alerts and
// incidents"): every role reads them, triage needs PermTriage.
func (s *Server) routeAlerts() {
	if s.opts.Alerts == nil {
		return
	}
	s.mux.HandleFunc("GET /api/v1/alerts", service.PermRead, s.listAlerts)
	s.mux.HandleFunc("GET /api/v1/alerts/{id}", service.PermRead, s.getAlert)
	s.mux.HandleFunc("PATCH /api/v1/alerts/{id}", service.PermTriage, s.patchAlert)
	s.mux.HandleFunc("GET /api/v1/incidents", service.PermRead, s.listIncidents)
	s.mux.HandleFunc("GET /api/v1/incidents/{id}", service.PermRead, s.getIncident)
	s.mux.HandleFunc("PATCH /api/v1/incidents/{id}", service.PermTriage, s.patchIncident)
}

// answer runs fn as the request's actor and answers its result as JSON,
// or its error in the API's error shape.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, fn func(context.Context, service.Actor) (any, error)) {
	a, ok := httpx.Actor(r)
	if !ok {
		httpx.Error(w, http.StatusUnauthorized, "not signed in")
		return
	}
	v, err := fn(r.Context(), a)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

// listParams reads the filters alerts and incidents share.
type listParams struct {
	status, level        []string
	user, source, device string
	start, end           time.Time
	offset, limit        int
}

func (s *Server) parseList(v url.Values) (listParams, error) {
	var p listParams
	var err error
	p.status, p.level = splitList(v["status"]), splitList(v["level"])
	p.user, p.source, p.device = v.Get("user"), v.Get("source"), v.Get("device")
	if p.start, p.end, _, err = timeRange(v, s.opts.Now()); err != nil {
		return p, err
	}
	for _, n := range []struct {
		name string
		to   *int
	}{{"offset", &p.offset}, {"limit", &p.limit}} {
		if s := v.Get(n.name); s != "" {
			if *n.to, err = strconv.Atoi(s); err != nil {
				return p, service.Invalidf("%s: %q is not a number", n.name, s)
			}
		}
	}
	return p, nil
}

// splitList reads a parameter given as repeated values, comma-separated
// values, or both.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// GET /api/v1/alerts?status=&level=&rule=&user=&source=&device=&start=&end=&offset=&limit=
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		p, err := s.parseList(r.URL.Query())
		if err != nil {
			return nil, err
		}
		return s.opts.Alerts.List(ctx, a, service.AlertFilter{Status: p.status, Level: p.level,
			Rule: r.URL.Query().Get("rule"), User: p.user, Source: p.source, Device: p.device,
			Start: p.start, End: p.end, Offset: p.offset, Limit: p.limit})
	})
}

// GET /api/v1/alerts/{id}
func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		return s.opts.Alerts.Get(ctx, a, r.PathValue("id"))
	})
}

// PATCH /api/v1/alerts/{id} {"status":"acknowledged","assignee":"...","comment":"..."}
func (s *Server) patchAlert(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		c, err := readChange(r)
		if err != nil {
			return nil, err
		}
		return s.opts.Alerts.Update(ctx, a, r.PathValue("id"), c)
	})
}

// maxChangeBody bounds the body of a PATCH.
const maxChangeBody = 64 << 10

// readChange reads a triage change: a JSON object with status, assignee
// and comment, nothing else.
func readChange(r *http.Request) (service.AlertChange, error) {
	var c service.AlertChange
	dec := json.NewDecoder(io.LimitReader(r.Body, maxChangeBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return c, service.Invalidf("empty body: want a JSON object with status, assignee or comment")
		}
		return c, service.Invalidf("body: %v (want a JSON object with status, assignee or comment, at most %d bytes)", err, maxChangeBody)
	}
	if dec.More() {
		return c, service.Invalidf("body: one JSON object only")
	}
	return c, nil
}

// GET /api/v1/incidents?status=&level=&user=&source=&device=&start=&end=&offset=&limit=
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		p, err := s.parseList(r.URL.Query())
		if err != nil {
			return nil, err
		}
		return s.opts.Alerts.Incidents(ctx, a, service.IncidentFilter{Status: p.status, Level: p.level,
			User: p.user, Source: p.source, Device: p.device, Start: p.start, End: p.end, Offset: p.offset, Limit: p.limit})
	})
}

// GET /api/v1/incidents/{id}
func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		return s.opts.Alerts.Incident(ctx, a, r.PathValue("id"))
	})
}

// PATCH /api/v1/incidents/{id}: the change applies to each of its alerts.
func (s *Server) patchIncident(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(ctx context.Context, a service.Actor) (any, error) {
		c, err := readChange(r)
		if err != nil {
			return nil, err
		}
		return s.opts.Alerts.UpdateIncident(ctx, a, r.PathValue("id"), c)
	})
}
