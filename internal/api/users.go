package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

func (s *Server) routeUsers() {
	s.mux.HandleFunc("GET /api/v1/users", service.PermUsers, s.listUsers)
	s.mux.HandleFunc("POST /api/v1/users", service.PermUsers, s.addUser)
	s.mux.HandleFunc("PATCH /api/v1/users/{name}", service.PermUsers, s.changeUser)
	s.mux.HandleFunc("DELETE /api/v1/users/{name}", service.PermUsers, s.deleteUser)
	s.mux.HandleFunc("GET /api/v1/audit", service.PermAudit, s.listAudit)
}

// decodeBody reads a JSON request body of at most 64 KiB into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return service.Invalidf("body: want a JSON object: %v", err)
	}
	return nil
}

// GET /api/v1/users: {"users": [...]}
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	us, err := s.opts.Users.List(r.Context(), a)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if us == nil {
		us = []service.UserInfo{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"users": us})
}

// userChange is the body of POST and PATCH /api/v1/users.
type userChange struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	// OldPassword is needed to change one's own password.
	OldPassword string `json:"old_password"`
}

// POST /api/v1/users {"name", "role", "password"}: 201 with the user.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	var c userChange
	if err := decodeBody(w, r, &c); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	err := s.opts.Users.Add(r.Context(), a, c.Name, service.Role(c.Role), c.Password)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	u, err := s.opts.Users.Get(r.Context(), a, c.Name)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, u)
}

// PATCH /api/v1/users/{name} {"role"} and/or {"password"}: the user.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	name := r.PathValue("name")
	var c userChange
	if err := decodeBody(w, r, &c); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	if c.Role == "" && c.Password == "" {
		httpx.Fail(w, s.log, r, service.Invalidf("body: give role, password or both"))
		return
	}
	if c.Role != "" {
		if err := s.opts.Users.SetRole(r.Context(), a, name, service.Role(c.Role)); err != nil {
			httpx.Fail(w, s.log, r, err)
			return
		}
	}
	if c.Password != "" {
		if err := s.opts.Users.SetPassword(r.Context(), a, name, c.OldPassword, c.Password, ""); err != nil {
			httpx.Fail(w, s.log, r, err)
			return
		}
	}
	u, err := s.opts.Users.Get(r.Context(), a, name)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, u)
}

// DELETE /api/v1/users/{name}: 204.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	if err := s.opts.Users.Delete(r.Context(), a, r.PathValue("name")); err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/v1/audit?before=SEQ&limit=N&actor=NAME&action=ACTION: newest
// first, {"entries": [...], "next": SEQ} (next: the before of the next
// page, absent on the last).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	f, err := auditFilter(r)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	es, err := s.opts.Audit.List(r.Context(), a, f)
	if err != nil {
		httpx.Fail(w, s.log, r, err)
		return
	}
	body := struct {
		Entries []storage.AuditEntry `json:"entries"`
		Next    uint64               `json:"next,omitempty"`
	}{Entries: es}
	if es == nil {
		body.Entries = []storage.AuditEntry{}
	}
	if n := len(es); n > 0 && n == f.Limit && es[n-1].Seq > 1 {
		body.Next = es[n-1].Seq
	}
	httpx.JSON(w, http.StatusOK, body)
}

// auditFilter reads the audit filter of a request's query: before, limit,
// actor, action.
func auditFilter(r *http.Request) (storage.AuditFilter, error) {
	q := r.URL.Query()
	f := storage.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Limit: 100}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			return f, service.Invalidf("before: %q is not a sequence number", b)
		}
		f.Before = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > service.MaxAuditPage {
			return f, service.Invalidf("limit: want 1 to %d", service.MaxAuditPage)
		}
		f.Limit = n
	}
	return f, nil
}
