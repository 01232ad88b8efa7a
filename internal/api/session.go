package api

import (
	"net/http"

	"github.com/vigil-soc/vigil/internal/httpx"
	"github.com/vigil-soc/vigil/internal/service"
)

func (s *Server) routeSession() {
	s.mux.HandleFunc("GET /api/v1/session", service.PermRead, s.session)
}

// sessionInfo is the body of GET /api/v1/session: who is asking.
type sessionInfo struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Via is "session" for a console session, "token" for a bearer token.
	Via string `json:"via"`
	// Language and Zone are the user's settings ("" when unset: the
	// browser's language and the server's default zone apply).
	Language string `json:"language"`
	Zone     string `json:"zone"`
	// CSRF is the token a change made with the session cookie must send
	// in the X-CSRF-Token header (absent for a bearer token).
	CSRF string `json:"csrf,omitempty"`
}

// session answers GET /api/v1/session.
func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	a, _ := httpx.Actor(r)
	info := sessionInfo{Name: a.Name, Role: string(a.Role), Via: "token"}
	if r.Header.Get("Authorization") == "" {
		if id, err := s.opts.Sessions.Authenticate(r); err == nil {
			info = sessionInfo{Name: id.User.Name, Role: id.User.Role, Via: "session",
				Language: id.User.Lang, Zone: id.User.Zone, CSRF: id.Session.CSRF}
		}
	}
	httpx.JSON(w, http.StatusOK, info)
}
