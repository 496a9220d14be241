package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sluice-gateway/sluice/engine"
)

// ReadyCheck is one condition /readyz waits for beyond the gateway's own
// (configuration loaded, request log writable): in tailnet mode, that the
// node is up. Check returns nil when ready, else why not, in words fit
// for anyone who can reach the gateway (no addresses, no secrets).
type ReadyCheck struct {
	Name  string
	Check func(context.Context) error
}

// readyCheckTimeout bounds one /readyz answer: an orchestrator's probe
// must not hang on a slow check.
const readyCheckTimeout = 2 * time.Second

// routeHealth answers GET /healthz and GET /readyz, for orchestrators
// that probe without an identity. They come before identification: they
// are not recorded as requests, policy does not decide them, and they
// say nothing an anonymous caller may not know.
func (s *Server) routeHealth(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz":
		writeHealth(w, http.StatusOK, healthAnswer{Status: "ok"})
		return true
	case "/readyz":
		s.serveReady(w, r)
		return true
	}
	return false
}

// healthAnswer is the body of /healthz and /readyz.
type healthAnswer struct {
	Status string `json:"status"`
	// NotReady lists, on a 503 from /readyz, each check that failed.
	NotReady []notReady `json:"not_ready,omitempty"`
}

type notReady struct {
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

// serveReady answers 200 when the gateway can serve: a configuration is
// loaded, the request log can keep records, and every extra ReadyCheck
// passes; 503 listing what is not ready otherwise.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	var failed []notReady
	if st := s.state.Load(); st == nil || st.cfg == nil {
		failed = append(failed, notReady{Check: "config", Reason: "no configuration loaded"})
	}
	if err := s.opts.Sink.Healthy(); err != nil {
		failed = append(failed, notReady{Check: "request_log", Reason: err.Error()})
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
	defer cancel()
	for _, c := range s.opts.ReadyChecks {
		if err := c.Check(ctx); err != nil {
			failed = append(failed, notReady{Check: c.Name, Reason: err.Error()})
		}
	}
	if len(failed) > 0 {
		writeHealth(w, http.StatusServiceUnavailable, healthAnswer{Status: "not ready", NotReady: failed})
		return
	}
	writeHealth(w, http.StatusOK, healthAnswer{Status: "ok"})
}

func writeHealth(w http.ResponseWriter, status int, a healthAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// Explain asks the running policy about in, as a request would, without
// caching the answer or writing it to the decision log. The operator's
// tools use it to say what the configuration means, such as the start-up
// warning that every caller is admin.
func (s *Server) Explain(ctx context.Context, in engine.Input) (engine.Explanation, error) {
	return s.state.Load().engine.Explain(ctx, in)
}

// PolicyRevision identifies the running policy, as decisions name it.
func (s *Server) PolicyRevision() string { return s.state.Load().engine.Revision() }

// CachedDecisions is how many policy decisions the running engine has
// memoized; right after a reload, how many of the earlier ones it kept.
func (s *Server) CachedDecisions() int { return s.state.Load().engine.CachedDecisions() }

// HealthHandler answers GET /healthz and /readyz only (404 otherwise),
// for a listener of their own where an orchestrator that is not on the
// tailnet can probe the gateway.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.routeHealth(w, r) {
			http.NotFound(w, r)
		}
	})
}
