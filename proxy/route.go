package proxy

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// routePlan is how one request is routed: what the client asked for,
// where it goes, and the attempts made so far.
type routePlan struct {
	target policy.Target
	// rest are the providers after the current one, in the order to try
	// them; next is the one to fail over to, once nextProvider found it.
	rest []*policy.Provider
	next *candidate
	// attempts are the upstream calls made, the last one included.
	attempts []store.Attempt
	// retry is set by an attempt that failed before the first byte
	// reached the client and may move on to the next provider.
	retry bool
	// forced is the model name the request was forced to ("" for none);
	// reforced is set once a force_model obligation routed it again.
	forced   string
	reforced bool
}

// candidate is a provider policy allowed for the request, with the
// decision that allowed it (its grant headers, hooks and quotas).
type candidate struct {
	p *policy.Provider
	d engine.Decision
	// route is the request's route with the format p is called in;
	// body is the request translated into it, when it is not the
	// client's.
	route compat.Route
	body  []byte
}

// resolve applies force_model, model_aliases and inline parameters before
// policy sees the request: the body is rewritten and inspected again, so
// what policy judges is exactly what the upstream receives.
func (ex *exchange) resolve() bool {
	force, ok := ex.forcedModel()
	if !ok {
		return false
	}
	return ex.resolveTo(force)
}

// resolveTo routes the request to force (a model name as a client would
// write it; "" for none) through force_model, model_aliases and inline
// parameters, rewriting the body when the upstream is asked for something
// else than the body names.
func (ex *exchange) resolveTo(force string) bool {
	requested := ex.req.Model
	if ex.plan.target.Requested != "" {
		// Forced again by an obligation: the client asked for the first.
		requested = ex.plan.target.Requested
	}
	t, err := ex.snap.cfg.Resolve(ex.req.Model, force)
	t.Requested = requested
	ex.plan.target, ex.plan.forced = t, force
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest, err.Error(), err.Error())
		return false
	}
	if t.Model == ex.req.Model && t.Params == "" {
		return true
	}
	params, err := compat.ParseParams(t.Params)
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
			fmt.Sprintf("model %q: %v", t.Requested, err), err.Error())
		return false
	}
	route := ex.route.WithModel(t.Model)
	body, err := compat.Rewrite(ex.route.Format, ex.body, t.Model, params)
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
			fmt.Sprintf("model %q: %v", t.Requested, err), err.Error())
		return false
	}
	req, err := compat.Inspect(route, body)
	if err == nil && req.Model != t.Model {
		err = fmt.Errorf("the rewritten request names %q, not %q", req.Model, t.Model)
	}
	if err != nil {
		// A rewrite policy could not judge as sent must not be sent.
		ex.fail(http.StatusInternalServerError, compat.KindInternal,
			"sluice could not rewrite the request for the routed model; it was not forwarded", "rewrite: "+err.Error())
		return false
	}
	ex.route, ex.body, ex.req = route, body, req
	ex.keepRawRequest()
	return true
}

// forcedModel is the model the request is forced to: serve --force-model,
// else one a force_model capability of the caller names (asked of policy
// only when the configuration has such a capability or the caller brings
// capabilities of the tailnet), else "" and force_model applies.
func (ex *exchange) forcedModel() (string, bool) {
	if f := ex.s.opts.ForceModel; f != "" {
		return f, true
	}
	if !ex.snap.cfg.GrantsForceModels() && len(ex.who.Caps) == 0 {
		return "", true
	}
	d, err := ex.decide(ex.input("", ""))
	if err != nil {
		ex.s.log.Error("policy evaluation failed", "request_id", ex.id, "err", err)
		ex.fail(http.StatusInternalServerError, compat.KindInternal, "the policy engine failed to decide; the request was not forwarded", err.Error())
		return "", false
	}
	return d.ForceModel, true
}

// candidates are the providers that may serve the routed model, in the
// order to try them: the one the model names, else those that list it
// (else the default provider), ordered by the load-balancing strategy with
// providers whose circuit is open put out of rotation.
func (ex *exchange) candidates() ([]*policy.Provider, error) {
	cfg, t := ex.snap.cfg, ex.plan.target
	model := ex.req.Model
	if t.Provider != "" {
		p := cfg.Provider(t.Provider)
		if p.Disabled || (!slices.Contains(p.Models, model) && p.ID != cfg.Routing.DefaultProvider) {
			return nil, fmt.Errorf("provider %s does not serve model %q", p.ID, model)
		}
		return []*policy.Provider{p}, nil
	}
	offers := cfg.ProvidersFor(model)
	if len(offers) == 0 && cfg.Routing.DefaultProvider != "" {
		offers = []*policy.Provider{cfg.Provider(cfg.Routing.DefaultProvider)}
	}
	if len(offers) == 0 {
		return nil, fmt.Errorf("model %q is not configured on this gateway; GET /v1/models lists the models you may use", model)
	}
	return ex.s.routes.order(cfg.Routing, offers), nil
}

// nextProvider finds the provider to fail over to: the next one that
// speaks the format, that policy allows, and whose decision binds the
// request as the first one's did. Providers are judged only when a
// failover needs them, so a request that succeeds at once costs one
// decision; a policy error ends the search (no failover, fail closed).
func (ex *exchange) nextProvider() *candidate {
	for len(ex.plan.rest) > 0 {
		p := ex.plan.rest[0]
		ex.plan.rest = ex.plan.rest[1:]
		upstream, ok := upstreamFormat(p, ex.route)
		if !ok {
			continue
		}
		route, err := ex.route.Translated(upstream, ex.req)
		if err != nil {
			continue
		}
		d, err := ex.decide(ex.input(p.ID, upstream))
		if err != nil {
			ex.s.log.Error("policy evaluation failed; no failover", "request_id", ex.id, "provider", p.ID, "err", err)
			ex.plan.rest = nil
			return nil
		}
		if !d.Allow || !sameObligations(d, ex.decision) {
			continue
		}
		// Each fallback gets the client's request translated for it.
		up, err := ex.translateRequest(route)
		if err != nil {
			ex.s.log.Info("no failover to a provider the request does not translate for", "request_id", ex.id, "provider", p.ID, "err", err)
			continue
		}
		return &candidate{p: p, d: d, route: route, body: up}
	}
	return nil
}

// sameObligations reports whether a fallback's decision binds the request
// as the first one did: the same hook grants (its pre_request hooks have
// run, for the first provider), the same quota buckets (reserved
// already) and the same other obligations (the body was capped for the
// first). A provider that policy would hook, charge or cap differently is
// not a silent substitute.
func sameObligations(a, b engine.Decision) bool {
	return slices.Equal(a.Quotas, b.Quotas) && reflect.DeepEqual(a.Hooks, b.Hooks) &&
		a.MaxTokens == b.MaxTokens && a.FullCapture == b.FullCapture && a.ForceProvider == b.ForceProvider &&
		slices.Equal(a.RequiredHooks, b.RequiredHooks) && slices.Equal(a.RedactHookFields, b.RedactHookFields)
}
