package proxy

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
)

// This file carries out the obligations of a decision that change the
// request itself (rego/lib/obligations.rego is the contract); headers,
// quotas and hooks have their own places.

// captures reports whether the request's and response's bodies are kept
// in its record: database.save_raws, or a full_capture obligation, which
// a zero retention configuration (no request content on disk) overrides.
func (ex *exchange) captures() bool {
	db := &ex.snap.cfg.Database
	return db.SaveRaws || (ex.decision.Allow && ex.decision.FullCapture && !db.ZeroRetention)
}

// forceProvider narrows offers to the provider d's force_provider
// obligation names. It answers the client and reports false when that
// provider cannot serve the request or a second decision named another.
func (ex *exchange) forceProvider(d engine.Decision, offers *[]*policy.Provider) bool {
	j := slices.IndexFunc(*offers, func(p *policy.Provider) bool { return p.ID == d.ForceProvider })
	if j < 0 || len(*offers) == 1 {
		ex.decision = d
		ex.setDecisionID(d.ID)
		msg := fmt.Sprintf("policy sends %s's requests for model %q to provider %q only, which cannot serve it here",
			ex.who.Login, ex.req.Model, d.ForceProvider)
		ex.fail(http.StatusForbidden, compat.KindPermissionDenied, msg, "force_provider: "+msg)
		return false
	}
	*offers = []*policy.Provider{(*offers)[j]}
	return true
}

// forceModel routes the request again to the model d's force_model
// obligation names and chooses its provider anew: the new model is
// decided again, with its own obligations. A second forcing (or one that
// contradicts serve --force-model) refuses the request rather than pick.
func (ex *exchange) forceModel(d engine.Decision) bool {
	if ex.plan.reforced || ex.s.opts.ForceModel != "" {
		ex.decision = d
		ex.setDecisionID(d.ID)
		msg := fmt.Sprintf("policy forces model %q for a request already routed to %q; the request is refused rather than pick one", d.ForceModel, ex.req.Model)
		ex.fail(http.StatusForbidden, compat.KindPermissionDenied, msg, "force_model: "+msg)
		return false
	}
	ex.plan.reforced = true
	if !ex.resolveTo(d.ForceModel) {
		return false
	}
	return ex.choose()
}

// capMaxTokens lowers the request's cap on the answer's length to n (or
// sets it, when the request has none), in the member its format uses; 0
// means no cap. The rewritten body is inspected again, so the upstream is
// sent the model policy judged, capped. A body that cannot be capped is
// not forwarded.
func (ex *exchange) capMaxTokens(n int64) bool {
	if n <= 0 {
		return true
	}
	if cur, ok := compat.MaxOutputTokens(ex.body); ok && cur <= n {
		return true
	}
	body, err := compat.Rewrite(ex.route.Format, ex.body, "", compat.Params{MaxTokens: &n})
	var req compat.Request
	if err == nil {
		req, err = compat.Inspect(ex.route, body)
	}
	if err == nil && req.Model != ex.req.Model {
		err = fmt.Errorf("the capped request names %q, not %q", req.Model, ex.req.Model)
	}
	if err == nil {
		if cur, ok := compat.MaxOutputTokens(body); ok && cur > n {
			err = fmt.Errorf("the request sets another token cap of %d beside the one capped", cur)
		}
	}
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
			fmt.Sprintf("policy caps this request at %d output tokens, and sluice could not set that cap in the request: %v", n, err), "cap_max_tokens: "+err.Error())
		return false
	}
	ex.body, ex.req, ex.parsedBody = body, req, nil
	ex.keepRawRequest()
	return true
}

// obligeHookCalls applies the decision's hook obligations to merged calls:
// a required hook fails closed (its pre_request call must succeed), and
// redacted fields are sent to no hook.
func (ex *exchange) obligeHookCalls(calls []hooks.Call) []hooks.Call {
	d := &ex.decision
	if len(d.RequiredHooks) == 0 && len(d.RedactHookFields) == 0 {
		return calls
	}
	for i, c := range calls {
		if slices.Contains(d.RequiredHooks, c.Hook.Name) && c.Hook.FailPolicy != policy.FailClosed {
			h := *c.Hook
			h.FailPolicy = policy.FailClosed
			calls[i].Hook = &h
		}
		calls[i].Fields = slices.DeleteFunc(calls[i].Fields, func(f string) bool { return slices.Contains(d.RedactHookFields, f) })
	}
	return calls
}
