package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/store"
)

// hookVars is what CEL hook conditions see for this request. The request
// body is parsed only when some grant has a condition that may read it.
func (ex *exchange) hookVars(event string) engine.HookVars {
	v := engine.HookVars{
		User:  policyUser(ex.who),
		Event: event,
		Request: engine.HookRequest{
			Format:         ex.route.Format,
			UpstreamFormat: ex.route.UpstreamFormat,
			Model:          ex.req.Model,
			Path:           ex.r.URL.Path,
		},
	}
	if ex.provider != nil {
		v.Request.Provider = ex.provider.ID
	}
	for _, g := range ex.decision.Hooks {
		if g.Condition != "" {
			if ex.parsedBody == nil {
				var body any
				if json.Unmarshal(ex.body, &body) == nil {
					ex.parsedBody = body
				} else {
					ex.parsedBody = map[string]any{}
				}
			}
			v.Request.Body = ex.parsedBody
			break
		}
	}
	if ex.recorder != nil {
		res := ex.result()
		v.Response.Status = ex.w.status
		for _, tc := range res.ToolCalls {
			var args any
			json.Unmarshal(tc.Arguments, &args)
			v.Response.Tools = append(v.Response.Tools, engine.ToolCall{ID: tc.ID, Name: tc.Name, Arguments: args})
		}
		v.Response.Usage = engine.UsageOf(res.Usage)
	}
	return v
}

// hookCalls returns the hooks to call for event: the decision's hook
// grants that want the event and whose match and condition hold.
func (ex *exchange) hookCalls(event string) []hooks.Call {
	var calls []hooks.Call
	var vars *engine.HookVars
	for _, g := range ex.decision.Hooks {
		if !g.Wants(event) {
			continue
		}
		if vars == nil {
			v := ex.hookVars(event)
			vars = &v
		}
		fires, err := g.Fires(*vars)
		if err != nil {
			ex.s.log.Warn("hook condition failed; hook not called", "request_id", ex.id, "grant", g.Grant, "hook", g.Hook, "err", err)
			continue
		}
		if !fires {
			continue
		}
		if h := ex.snap.cfg.Hook(g.Hook); h != nil {
			calls = append(calls, hooks.Call{Hook: h, Fields: g.Fields})
		}
	}
	return ex.obligeHookCalls(hooks.Merge(calls))
}

// wantsResponse reports what the recorder must keep for the hooks that may
// fire after the response: the reconstructed body, the raw messages.
func (ex *exchange) wantsResponse() (body, raw bool) {
	for _, g := range ex.decision.Hooks {
		if !g.Wants(policy.EventEntireRequest) && !g.Wants(policy.EventToolCallEntireRequest) {
			continue
		}
		for _, f := range g.Fields {
			if slices.Contains(ex.decision.RedactHookFields, f) {
				continue
			}
			body = body || f == policy.FieldResponseBody
			raw = raw || f == policy.FieldRawResponses
		}
	}
	return body, raw
}

func (ex *exchange) metadata() hooks.Metadata {
	m := hooks.RequestMetadata(ex.r)
	m.LoginName = ex.who.Login
	m.Model = ex.req.Model
	m.TailnetName = ex.who.Tailnet
	m.StableNodeID = ex.who.NodeID
	m.RequestID = ex.id
	m.SessionID = ex.session
	if ex.provider != nil {
		m.Provider = ex.provider.ID
	}
	m.Grants = appGrants(ex.decision.AppGrants, ex.who.AppCaps)
	m.Quotas = ex.quotaBalances()
	return m
}

// preRequest runs the pre_request hooks. It reports false when a hook
// blocked the request (the client has been answered).
func (ex *exchange) preRequest() bool {
	calls := ex.hookCalls(policy.EventPreRequest)
	if len(calls) == 0 {
		return true
	}
	um, _ := compat.UserMessage(ex.route.Format, ex.body)
	ctx, done := ex.waitCtx()
	defer done()
	verdict, err := ex.s.hooks.CallPreRequest(ctx, calls, hooks.PreRequest{
		Metadata:    ex.metadata(),
		RequestBody: ex.body,
		UserMessage: um,
		UserMessageOf: func(body json.RawMessage) string {
			s, _ := compat.UserMessage(ex.route.Format, body)
			return s
		},
	})
	switch {
	case err != nil:
		ex.status, ex.err = statusClientClosed, "client closed the connection during pre_request hooks"
		ex.w.status = statusClientClosed
		return false
	case verdict.Refused:
		ex.fail(http.StatusServiceUnavailable, compat.KindUnavailable, verdict.Message, "pre_request hook failed: "+verdict.DecidedBy)
		return false
	case verdict.Blocked:
		ex.fail(verdict.StatusCode, compat.KindGuardrailBlocked, verdict.Message, "blocked by pre_request hook "+verdict.DecidedBy)
		return false
	case verdict.Modified:
		return ex.useModifiedBody(verdict.RequestBody, verdict.DecidedBy)
	}
	return true
}

// useModifiedBody replaces the request body with a hook's. A body that
// names another model goes through routing and policy again, so a hook
// cannot lead a caller to a model they may not use.
func (ex *exchange) useModifiedBody(body json.RawMessage, hook string) bool {
	req, err := compat.Inspect(ex.route, body)
	if err != nil {
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError, "pre_request hook "+hook+" returned a request body this API cannot take: "+err.Error(), err.Error())
		return false
	}
	model := ex.req.Model
	ex.body, ex.req, ex.parsedBody = body, req, nil
	ex.keepRawRequest()
	if req.Model != model {
		return ex.choose()
	}
	// A hook's body is held to the policy's cap as the client's was, and
	// then translated again for the upstream.
	return ex.capMaxTokens(ex.decision.MaxTokens) && ex.retranslate()
}

// afterResponse enqueues the after-response hooks; delivery happens in the
// background and never touches the client's answer.
func (ex *exchange) afterResponse() {
	if ex.recorder == nil || len(ex.decision.Hooks) == 0 {
		return
	}
	res := ex.result()
	events := []string{policy.EventEntireRequest}
	if len(res.ToolCalls) > 0 {
		events = append(events, policy.EventToolCallEntireRequest)
	}
	for _, event := range events {
		calls := ex.hookCalls(event)
		if len(calls) == 0 {
			continue
		}
		um, _ := compat.UserMessage(ex.route.Format, ex.body)
		data := hooks.Data{RequestBody: ex.body, UserMessage: um, ResponseBody: ex.clientResponseBody(res.Body), RawResponses: res.Raw,
			EstimatedCost: ex.estimatedCost(), Truncated: res.Truncated}
		for _, tc := range res.ToolCalls {
			data.ToolCalls = append(data.ToolCalls, hooks.ToolCall{ID: tc.ID, Name: tc.Name, Params: tc.Arguments})
		}
		meta := ex.metadata()
		for _, c := range calls {
			p := hooks.NewPayload(event, c.Fields, meta, data)
			ex.kept.retain()
			p.OnDone = ex.kept.release
			ex.s.hooks.Enqueue(c.Hook, p)
		}
	}
}

// estimatedCost prices the answer the way the request's log row does: the
// reported usage at the serving provider's cost_basis prices. It is nil
// when the model has no price.
func (ex *exchange) estimatedCost() *hooks.EstimatedCost {
	if ex.provider == nil || ex.recorder == nil {
		return nil
	}
	rec := store.Record{Provider: ex.provider.ID, Model: ex.req.Model, Usage: ex.result().Usage}
	rec.SetCost(ex.snap.cfg)
	if !rec.CostKnown {
		return nil
	}
	return &hooks.EstimatedCost{
		Dollars:   rec.CostUSD,
		CostBasis: ex.provider.Basis() + "/" + ex.req.Model,
		Usage: hooks.CostUsage{
			InputTokens:              rec.Usage.Input.Value(),
			OutputTokens:             rec.Usage.Output.Value(),
			CachedTokens:             rec.Usage.CacheRead.Value(),
			CacheCreationInputTokens: rec.Usage.CacheWrite.Value(),
			ReasoningTokens:          rec.Usage.Reasoning.Value(),
		},
	}
}

// shutdownHooks drains queued hook deliveries.
func (s *Server) shutdownHooks(ctx context.Context) error { return s.hooks.Shutdown(ctx) }
