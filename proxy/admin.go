package proxy

import (
	"net/http"
	"strings"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/store/api"
)

// who identifies an /api/ caller and asks the policy whether they are an
// admin: admins see every user's rows, anyone else only their own.
func (s *Server) who(r *http.Request) (string, bool, error) {
	id, err := s.opts.Identity.Identify(r)
	if err != nil {
		return "", false, err
	}
	d, err := s.state.Load().engine.Decide(r.Context(), engine.Input{
		User: engine.User{Login: id.Login, NodeID: id.NodeID, Tailnet: id.Tailnet, Tags: id.Tags},
	})
	if err != nil {
		return "", false, err
	}
	return id.Login, d.Admin, nil
}

// routeLocal sends the gateway's own endpoints (metrics, the request-log
// API) to their handlers; it reports false for everything else.
func (s *Server) routeLocal(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
		s.serveMetrics(w)
		return true
	}
	if s.api != nil && (r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")) {
		s.api.ServeHTTP(w, r)
		return true
	}
	return false
}

func (s *Server) buildAPI() {
	if s.opts.Store != nil {
		s.api = api.New(s.opts.Store, s.who)
	}
}
