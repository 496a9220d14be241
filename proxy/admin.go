package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store/api"
	"github.com/sluice-gateway/sluice/ui"
)

// routeLocal sends the gateway's own endpoints (metrics, the request-log
// API, the dashboard) to their handlers; it reports false for everything else. Their
// callers are identified like every other request's, and policy decides
// what they may read: only callers with read_metrics get /metrics, admins
// see everyone's rows under /api/ and anyone else only their own.
func (s *Server) routeLocal(w http.ResponseWriter, r *http.Request) bool {
	metrics := r.URL.Path == "/metrics" && r.Method == http.MethodGet
	quotas := isQuotaPath(r.URL.Path)
	apiPath := s.api != nil && (r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/"))
	profile := isPprofPath(r.URL.Path)
	// The dashboard: a GET / goes there too (redirected to /ui/); other
	// methods on / are left to the LLM routes, which refuse them.
	dashboard := ui.Owns(r.URL.Path) && (r.URL.Path != "/" || r.Method == http.MethodGet || r.Method == http.MethodHead)
	adminAPI := isAdminAPIPath(r.URL.Path)
	if !metrics && !apiPath && !profile && !quotas && !dashboard && !adminAPI {
		return false
	}
	c, ok := s.localCaller(w, r)
	if !ok {
		return true
	}
	if profile {
		// Profiles show the process's memory: admins only.
		if !c.decision.Admin {
			writeLocalError(w, http.StatusForbidden, c.login+" may not read "+pprofPrefix+": it is for admins")
			return true
		}
		s.pprof.ServeHTTP(w, r)
		return true
	}
	if adminAPI {
		// The configuration, its keys included, and the policy: admins only.
		if !c.decision.Admin {
			writeLocalError(w, http.StatusForbidden, c.login+" may not use "+r.URL.Path+": it is for admins")
			return true
		}
		s.adminAPI.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), localCallerKey{}, c)))
		return true
	}
	if metrics {
		if !c.decision.ReadMetrics {
			writeLocalError(w, http.StatusForbidden, c.login+" may not read /metrics: policy does not give them read_metrics (admins have it)")
			return true
		}
		s.serveMetrics(w, r)
		return true
	}
	if quotas {
		s.serveQuotas(w, r, c)
		return true
	}
	if dashboard {
		s.serveUI(w, r, c)
		return true
	}
	s.api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), localCallerKey{}, c)))
	return true
}

// localCaller is who is calling one of the gateway's own endpoints, and
// what policy says about them.
type localCaller struct {
	login    string
	who      identity.Identity
	decision engine.Decision
}

type localCallerKey struct{}

// localCaller identifies the caller and asks policy about them, answering
// the client itself when either fails: 403 for a caller that cannot be
// identified or sent identity headers it may not send, 503 when the
// tailnet could not be asked, as on every other path; 500 when policy
// could not decide.
func (s *Server) localCaller(w http.ResponseWriter, r *http.Request) (localCaller, bool) {
	id, err := s.opts.Identity.Identify(r)
	switch {
	case errors.Is(err, identity.ErrUnknownCaller), errors.Is(err, identity.ErrUntrustedHeaders):
		s.log.Info("refused a caller that could not be identified", "path", r.URL.Path, "err", err)
		writeLocalError(w, http.StatusForbidden, "sluice could not identify the caller: "+err.Error())
		return localCaller{}, false
	case err != nil:
		s.log.Error("identifying the caller failed", "path", r.URL.Path, "err", err)
		writeLocalError(w, http.StatusServiceUnavailable, "sluice could not ask the tailnet who is calling; try again")
		return localCaller{}, false
	}
	d, err := s.state.Load().engine.Decide(r.Context(), engine.Input{
		User: policyUser(id),
		Caps: id.Caps,
	})
	if err != nil {
		s.log.Error("policy evaluation failed", "path", r.URL.Path, "login", id.Login, "err", err)
		writeLocalError(w, http.StatusInternalServerError, "the policy engine failed to decide")
		return localCaller{}, false
	}
	return localCaller{login: id.Login, who: id, decision: d}, true
}

// who tells the request-log API who is calling: routeLocal identified the
// caller and asked policy before handing the request over. Admins see
// every user's rows, anyone else only their own.
func (s *Server) who(r *http.Request) (string, bool, error) {
	c, ok := r.Context().Value(localCallerKey{}).(localCaller)
	if !ok {
		return "", false, identity.ErrUnknownCaller
	}
	return c.login, c.decision.Admin, nil
}

// writeLocalError answers a request to the gateway's own endpoints with
// the request-log API's error shape, {"error": "message"}.
func writeLocalError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) buildAPI() {
	s.adminAPI = s.buildAdminAPI()
	if s.opts.Store != nil {
		s.api = api.New(s.opts.Store, s.who)
	}
}
