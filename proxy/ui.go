package proxy

import (
	"context"
	"math"
	"net/http"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/ui"
)

// buildUI makes the dashboard, which reads the request log (when there is
// one) and asks the gateway for the caller's models and quotas.
func (s *Server) buildUI() {
	opts := ui.Options{
		Who:    s.uiCaller,
		Models: s.uiModels,
		Quotas: s.uiQuotas,
		Policy: uiPolicy{s},
		Logger: s.log,
	}
	if s.opts.Store != nil {
		opts.Log = s.opts.Store
	}
	s.ui = ui.New(opts)
}

// uiCaller tells the dashboard who is calling: routeLocal identified the
// caller and asked policy before handing the request over.
func (s *Server) uiCaller(r *http.Request) (ui.Caller, error) {
	c, ok := r.Context().Value(localCallerKey{}).(localCaller)
	if !ok {
		return ui.Caller{}, identity.ErrUnknownCaller
	}
	return ui.Caller{Login: c.login, Admin: c.decision.Admin}, nil
}

// uiModels lists the models the caller may use, as GET /v1/models does.
func (s *Server) uiModels(r *http.Request) ([]ui.Model, error) {
	id, err := s.opts.Identity.Identify(r)
	if err != nil {
		return nil, err
	}
	models, err := modelsAllowed(r.Context(), s.state.Load(), func(provider, model string) engine.Input {
		return engine.Input{
			User:    policyUser(id),
			Caps:    id.Caps,
			Request: engine.Request{Provider: provider, Model: model},
		}
	}, nil)
	if err != nil {
		return nil, err
	}
	cfg := s.state.Load().cfg
	out := make([]ui.Model, len(models))
	for i, m := range models {
		out[i] = ui.Model{ID: m.ID, Provider: m.Provider, ContextWindow: m.ContextWindow}
		if p, ok := cfg.PriceOn(m.Provider, m.ID); ok {
			out[i].Priced = true
			out[i].Input, out[i].Output, out[i].CacheRead, out[i].CacheWrite = p.Input, p.Output, p.CacheRead, p.CacheWrite
		}
	}
	return out, nil
}

// uiQuotas lists the caller's own quota buckets (an admin's too: the
// Models page shows what the viewer is charged in).
func (s *Server) uiQuotas(r *http.Request) ([]ui.Quota, error) {
	c, ok := r.Context().Value(localCallerKey{}).(localCaller)
	if !ok {
		return nil, identity.ErrUnknownCaller
	}
	c.decision.Admin = false
	list, err := s.quotaStatuses(r, c)
	if err == errNoQuotaStore {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]ui.Quota, len(list))
	for i, q := range list {
		out[i] = ui.Quota{Bucket: q.Bucket, Balance: q.Balance, Capacity: q.Capacity.String(), Rate: q.Rate, Updated: q.Updated}
		if q.Capacity > 0 {
			out[i].Fraction = math.Max(0, math.Min(1, float64(q.Current)/float64(q.Capacity)))
		}
	}
	return out, nil
}

// serveUI hands a dashboard request to the ui package with its caller.
func (s *Server) serveUI(w http.ResponseWriter, r *http.Request, c localCaller) {
	s.ui.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), localCallerKey{}, c)))
}
