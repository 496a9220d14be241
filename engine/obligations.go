package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/sluice-gateway/sluice/policy"
)

// Obligation actions: what a decision asks the gateway to carry out
// besides letting the request through (rego/lib/obligations.rego is the
// contract). The generated grants produce the first four; users' modules
// may return any of them.
const (
	ActionAddHeader        = "add_header"
	ActionChargeQuota      = "charge_quota"
	ActionSendHook         = "send_hook"
	ActionForceModel       = "force_model"
	ActionRequireHook      = "require_hook"
	ActionRedactHookFields = "redact_hook_fields"
	ActionCapMaxTokens     = "cap_max_tokens"
	ActionForceProvider    = "force_provider"
	ActionFullCapture      = "full_capture"
)

// applyObligations sorts the obligations rule's elements into d by
// action and merges them: headers, quota buckets, hooks and redactions
// add up, the smallest max_tokens cap wins, forced models and providers
// must agree (the library denies otherwise). An action the library does
// not deny yet sluice does not know is an error: the request is never
// served without an obligation it was given.
func (r *revision) applyObligations(d *Decision, obs []any) error {
	var headers, quotas []any
	hooks := make([]any, 0, len(obs))
	var forced, providers []string
	for _, o := range obs {
		m, ok := o.(map[string]any)
		if !ok {
			return fmt.Errorf("data.sluice.authz.obligations holds %v, want objects", o)
		}
		switch action := str(m["action"]); action {
		case ActionAddHeader:
			headers = append(headers, m)
		case ActionChargeQuota:
			quotas = append(quotas, m)
		case ActionSendHook:
			hooks = append(hooks, m)
		case ActionRequireHook:
			name := str(m["hook"])
			if name == "" {
				continue // denied by the library
			}
			if !slices.Contains(d.RequiredHooks, name) {
				d.RequiredHooks = append(d.RequiredHooks, name)
			}
			h := map[string]any{"hook": name, "fields": m["fields"], "events": m["events"], "grant": m["grant"]}
			if len(strs(m["events"])) == 0 {
				h["events"] = []any{policy.EventPreRequest}
			}
			hooks = append(hooks, h)
		case ActionRedactHookFields:
			for _, f := range redactFields(m["fields"]) {
				if !slices.Contains(d.RedactHookFields, f) {
					d.RedactHookFields = append(d.RedactHookFields, f)
				}
			}
		case ActionCapMaxTokens:
			if n, ok := wholeNumber(m["max_tokens"]); ok && n >= 1 && (d.MaxTokens == 0 || n < d.MaxTokens) {
				d.MaxTokens = n
			}
		case ActionForceModel:
			if s := str(m["model"]); s != "" && !slices.Contains(forced, s) {
				forced = append(forced, s)
			}
		case ActionForceProvider:
			if s := str(m["provider"]); s != "" && !slices.Contains(providers, s) {
				providers = append(providers, s)
			}
		case ActionFullCapture:
			d.FullCapture = true
		default:
			if d.Allow {
				return fmt.Errorf("data.sluice.authz.obligations holds the action %q, which sluice does not know", action)
			}
		}
	}
	if len(forced) == 1 {
		d.ForceModel = forced[0]
	}
	if len(providers) == 1 {
		d.ForceProvider = providers[0]
	}
	slices.Sort(d.RedactHookFields)
	d.Headers = r.headers(headers)
	for _, q := range quotas {
		name := str(q.(map[string]any)["bucket"])
		if name == "" {
			return fmt.Errorf("data.sluice.authz.quotas holds %v, want {\"bucket\": NAME, ...}", q)
		}
		if !slices.Contains(d.Quotas, name) {
			d.Quotas = append(d.Quotas, name)
		}
	}
	slices.Sort(d.Quotas)
	d.Hooks = make([]HookGrant, 0, len(hooks))
	for _, h := range hooks {
		hg, err := r.hookGrant(h)
		if err != nil {
			return err
		}
		d.Hooks = append(d.Hooks, hg)
	}
	if d.Allow {
		for _, name := range d.RequiredHooks {
			if h := r.cfg.Hook(name); h == nil || h.Disabled {
				// A hook the policy requires but that cannot be called
				// refuses the request.
				d.Allow, d.Code, d.Grants = false, CodeDenied, nil
				d.Reasons = append(d.Reasons, fmt.Sprintf("policy requires hook %q, which the hooks section does not define or disables; the request is refused rather than sent without it", name))
			}
		}
	}
	return nil
}

// redactFields reads a redact_hook_fields list (or a single name).
func redactFields(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	return strs(v)
}

// wholeNumber reads a Rego number that is a whole number.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || f > math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	case float64:
		if n != math.Trunc(n) || n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}
