package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

// routeLists serves the lists and the device registry (Options.Lists):
// viewers read, analysts change.
func (s *Server) routeLists() {
	if s.opts.Lists == nil {
		return
	}
	s.mux.HandleFunc("GET /api/v1/lists", service.PermRead, s.getLists)
	s.mux.HandleFunc("GET /api/v1/lists/{name}", service.PermRead, s.getList)
	s.mux.HandleFunc("POST /api/v1/lists/{name}/entries", service.PermLists, s.addEntry)
	s.mux.HandleFunc("DELETE /api/v1/lists/{name}/entries/{value...}", service.PermLists, s.removeEntry)
	s.mux.HandleFunc("PATCH /api/v1/lists/{name}/entries/{value...}", service.PermLists, s.expireEntry)
	s.mux.HandleFunc("GET /api/v1/devices", service.PermRead, s.getDevices)
	s.mux.HandleFunc("POST /api/v1/devices", service.PermLists, s.registerDevice)
	s.mux.HandleFunc("POST /api/v1/devices/{id}/revoke", service.PermLists, s.revokeDevice)
}

// actor returns the request's acting user (set by the authentication).
func actor(r *http.Request) service.Actor {
	a, _ := httpx.Actor(r)
	return a
}

// maxBody bounds the JSON body of a change.
const maxBody = 64 << 10

// decodeBody reads r's JSON body into v; unknown fields are refused. An
// empty body leaves v as it is when empty is true.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if empty && errors.Is(err, io.EOF) {
			return nil
		}
		return service.Invalidf("bad JSON body: %v", err)
	}
	return nil
}

// pageParams reads offset and limit.
func pageParams(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		v    *int
	}{{"offset", &offset}, {"limit", &limit}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return 0, 0, service.Invalidf("%s: want a number >= 0, got %q", p.name, s)
			}
			*p.v = n
		}
	}
	return offset, limit, nil
}

func (s *Server) getLists(w http.ResponseWriter, r *http.Request) {
	ls, err := s.opts.Lists.Lists(r.Context(), actor(r))
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"lists": ls})
}

func (s *Server) getList(w http.ResponseWriter, r *http.Request) {
	off, lim, err := pageParams(r)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	p, err := s.opts.Lists.List(r.Context(), actor(r), r.PathValue("name"),
		service.EntryQuery{Filter: r.URL.Query().Get("filter"), Offset: off, Limit: lim})
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	var in service.EntryInput
	if err := decodeBody(w, r, &in, false); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	e, err := s.opts.Lists.AddEntry(r.Context(), actor(r), r.PathValue("name"), in)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, e)
}

func (s *Server) removeEntry(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Lists.RemoveEntry(r.Context(), actor(r), r.PathValue("name"), r.PathValue("value")); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// expireEntry sets an entry's expiry: {"expires": RFC 3339 time}; an
// empty body or {"expires": "now"} ends it now.
func (s *Server) expireEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Expires string `json:"expires"`
	}
	if err := decodeBody(w, r, &in, true); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	var at time.Time
	if in.Expires != "" && in.Expires != "now" {
		var err error
		if at, err = time.Parse(time.RFC3339, in.Expires); err != nil {
			httpx.Fail(w, s.log, r, service.Invalidf("expires: want an RFC 3339 time or \"now\", got %q", in.Expires))
			return
		}
	}
	e, err := s.opts.Lists.ExpireEntry(r.Context(), actor(r), r.PathValue("name"), r.PathValue("value"), at)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, e)
}

func (s *Server) getDevices(w http.ResponseWriter, r *http.Request) {
	off, lim, err := pageParams(r)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	q := r.URL.Query()
	p, err := s.opts.Lists.Devices(r.Context(), actor(r),
		service.DeviceQuery{User: q.Get("user"), Filter: q.Get("filter"), Offset: off, Limit: lim})
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (s *Server) registerDevice(w http.ResponseWriter, r *http.Request) {
	var in service.DeviceInput
	if err := decodeBody(w, r, &in, false); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	e, err := s.opts.Lists.Register(r.Context(), actor(r), in)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, e)
}

// revokeDevice revokes a device: {"user": "...", "reason": "..."}, both
// optional (user is needed when several users have a device of that id).
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User   string `json:"user"`
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &in, true); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	e, err := s.opts.Lists.Revoke(r.Context(), actor(r), strings.TrimSpace(in.User), r.PathValue("id"), in.Reason)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, e)
}
