package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"

	"github.com/sluice-gateway/sluice/policy"
)

// Decision is the policy's answer for one Input. A Decision may be shared
// between callers through the cache: treat its slices as read-only.
type Decision struct {
	// ID identifies this decision in logs and to the caller; it differs on
	// every call, also when the answer came from the cache.
	ID string `json:"decision_id"`
	// Role is "admin", "user" or "none".
	Role  string `json:"role"`
	Admin bool   `json:"admin"`
	// Allow is true when the request may go upstream. It is false whenever
	// Decide returns an error.
	Allow bool `json:"allow"`
	// Reasons are the messages of the deny rules that fired; empty when
	// allowed.
	Reasons []string `json:"reasons"`
	// ReadMetrics is true when the caller may read the gateway's metrics
	// (GET /metrics). It depends on the caller only, not on the request.
	ReadMetrics bool `json:"read_metrics"`
	// Hooks are the hook grants that apply to this caller, provider and
	// model, in configuration order.
	Hooks []HookGrant `json:"hooks"`
	// Revision identifies the policy revision that decided.
	Revision string `json:"revision"`

	// Code says why a request is refused, so that the gateway answers in
	// kind: "" when allowed, CodeNoRole (403), CodeNoModel (404: a role,
	// but no grant for this model) or CodeDenied (a deny rule fired).
	Code string `json:"code,omitempty"`
	// Grants are the grants that allowed the request's provider and model:
	// "temp_grants[i].grants[j]", "grants[i].app.tailscale.com/cap/aperture[j]"
	// or "tailnet:caps[j]" for the tailnet policy file. Sorted.
	Grants []string `json:"grants,omitempty"`
	// Headers are the add_headers of the capabilities that apply, to set
	// on the upstream request; malformed or forbidden ones are dropped.
	Headers []policy.Header `json:"headers,omitempty"`
	// Metrics is true when the caller may read /metrics.
	Metrics bool `json:"metrics"`
	// AppGrants are the custom app capabilities of the config grants that
	// name the caller, by capability name, for hooks that send "grants".
	AppGrants map[string][]any `json:"app_grants,omitempty"`
	// CORS are the set_cors capabilities that apply to the caller, in
	// configuration order (the tailnet policy file's last). They depend
	// on the caller only, so one cached decision serves every path: the
	// gateway matches their paths and origins per request.
	CORS []CORSGrant `json:"cors,omitempty"`
	// Quotas are the configured names of the quota buckets the request is
	// charged in ("daily:<user>" as written; the gateway expands <user>),
	// sorted, each once.
	Quotas []string `json:"quotas,omitempty"`
	// ForceModel is the model a force_model capability or obligation
	// sends the request to; "" when none does (or when several disagree,
	// which denies the request).
	ForceModel string `json:"force_model,omitempty"`

	// The obligations users' modules may add (rego/lib/obligations.rego):
	// MaxTokens caps the answer's length (0: no cap; the smallest cap
	// wins); ForceProvider is the only provider that may serve the
	// request; RequiredHooks are hooks whose pre_request call must
	// succeed; RedactHookFields are payload fields no hook gets;
	// FullCapture keeps the request's and response's bodies in the log.
	MaxTokens        int64    `json:"max_tokens,omitempty"`
	ForceProvider    string   `json:"force_provider,omitempty"`
	RequiredHooks    []string `json:"required_hooks,omitempty"`
	RedactHookFields []string `json:"redact_hook_fields,omitempty"`
	FullCapture      bool     `json:"full_capture,omitempty"`
}

// CORSGrant is one set_cors capability: the URL path globs it covers and
// the Access-Control-Allow-* values it answers with, as written.
type CORSGrant struct {
	Paths   []string `json:"paths"`
	Origin  string   `json:"origin,omitempty"`
	Methods string   `json:"methods,omitempty"`
	Headers string   `json:"headers,omitempty"`
	Grant   string   `json:"grant"`
}

// Refusal codes of a Decision.
const (
	CodeNoRole  = "no_role"
	CodeNoModel = "no_model"
	CodeDenied  = "denied"
)

// Roles a decision may carry.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
	RoleNone  = "none"
)

// denied is the decision returned with an error: it never allows.
func denied(id, revision, reason string) Decision {
	return Decision{ID: id, Role: RoleNone, Reasons: []string{reason}, Revision: revision}
}

// decisionFromBindings converts the decision query's bindings.
func (r *revision) decisionFromBindings(b map[string]any) (Decision, error) {
	d := Decision{Revision: r.id}
	var ok bool
	if d.Role, ok = b["role"].(string); !ok {
		return Decision{}, fmt.Errorf("data.sluice.authz.role is %T, want a string", b["role"])
	}
	switch d.Role {
	case RoleAdmin, RoleUser, RoleNone:
	default:
		return Decision{}, fmt.Errorf("data.sluice.authz.role is %q, want \"admin\", \"user\" or \"none\"", d.Role)
	}
	if d.Admin, ok = b["admin"].(bool); !ok {
		return Decision{}, fmt.Errorf("data.sluice.authz.admin is %T, want a boolean", b["admin"])
	}
	if d.Allow, ok = b["allow"].(bool); !ok {
		return Decision{}, fmt.Errorf("data.sluice.authz.allow is %T, want a boolean", b["allow"])
	}
	if d.ReadMetrics, ok = b["read_metrics"].(bool); !ok {
		return Decision{}, fmt.Errorf("data.sluice.authz.read_metrics is %T, want a boolean", b["read_metrics"])
	}
	deny, ok := b["deny"].([]any)
	if !ok {
		return Decision{}, fmt.Errorf("data.sluice.authz.deny is %T, want a set", b["deny"])
	}
	d.Reasons = make([]string, 0, len(deny))
	for _, m := range deny {
		d.Reasons = append(d.Reasons, fmt.Sprint(m))
	}
	d.Allow = verdict(d.Role, d.Allow, len(d.Reasons))
	granted, _ := b["granted"].(bool)
	switch {
	case d.Allow:
	case d.Role == RoleNone:
		d.Code = CodeNoRole
	case !granted:
		d.Code = CodeNoModel
	default:
		d.Code = CodeDenied
	}
	if d.Allow {
		d.Grants = strs(b["provider_grants"])
		slices.Sort(d.Grants)
	}
	d.Metrics, _ = b["metrics"].(bool)
	d.CORS = r.cors(b["cors"])
	if apps, _ := b["app_grants"].([]any); len(apps) > 0 {
		d.AppGrants = make(map[string][]any)
		for _, a := range apps {
			m, _ := a.(map[string]any)
			if name := str(m["name"]); name != "" {
				d.AppGrants[name] = append(d.AppGrants[name], m["value"])
			}
		}
	}
	obs, ok := b["obligations"].([]any)
	if !ok {
		// Fail closed: a request whose obligations (quotas, hooks) cannot
		// be told is never served without them.
		return Decision{}, fmt.Errorf("data.sluice.authz.obligations is %T, want a set", b["obligations"])
	}
	if err := r.applyObligations(&d, obs); err != nil {
		return Decision{}, err
	}
	slices.SortStableFunc(d.Hooks, func(a, b HookGrant) int { return r.grantOrder(a.Grant) - r.grantOrder(b.Grant) })
	d.Hooks = mergeCapHooks(d.Hooks)
	return d, nil
}

// verdict is whether a request goes upstream, from the rules role, allow
// and deny: any deny blocks, and no role means no access, whatever a
// module made of allow: modules narrow access, never widen it.
func verdict(role string, allow bool, denials int) bool {
	return allow && denials == 0 && role != RoleNone
}

// mergeCapHooks merges the send_hooks of capabilities (grants section and
// tailnet policy file) that wire one hook: as documented for grants, the
// hook is called once, with the union of their events and fields. The
// merged grant keeps the first one's place. temp_grants hook grants stay
// apart: each has its own match and condition.
func mergeCapHooks(hs []HookGrant) []HookGrant {
	out := hs[:0]
	for _, h := range hs {
		if !isCapGrant(h.Grant) || h.Condition != "" {
			out = append(out, h)
			continue
		}
		i := slices.IndexFunc(out, func(o HookGrant) bool { return o.Hook == h.Hook && isCapGrant(o.Grant) && o.Condition == "" })
		if i < 0 {
			h.Events, h.Fields = slices.Clone(h.Events), slices.Clone(h.Fields)
			out = append(out, h)
			continue
		}
		for _, e := range h.Events {
			if !slices.Contains(out[i].Events, e) {
				out[i].Events = append(out[i].Events, e)
			}
		}
		for _, f := range h.Fields {
			if !slices.Contains(out[i].Fields, f) {
				out[i].Fields = append(out[i].Fields, f)
			}
		}
	}
	return out
}

// isCapGrant reports whether a grant ID names a capability rather than a
// temp_grants grant.
func isCapGrant(id string) bool {
	return strings.HasPrefix(id, "grants[") || strings.HasPrefix(id, "tailnet:")
}

func (r *revision) hookGrant(v any) (HookGrant, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return HookGrant{}, fmt.Errorf("data.sluice.authz.hooks holds %T, want objects", v)
	}
	hg := HookGrant{
		Hook:      str(m["hook"]),
		Fields:    strs(m["fields"]),
		Events:    strs(m["events"]),
		Providers: strs(m["providers"]),
		Models:    strs(m["models"]),
		Grant:     str(m["grant"]),
		Condition: str(m["condition"]),
	}
	if hg.Hook == "" {
		return HookGrant{}, fmt.Errorf("data.sluice.authz.hooks holds an element without \"hook\"")
	}
	if p := r.hooks[hg.Grant]; p != nil && p.condition == hg.Condition {
		hg.prog = p
	}
	return hg, nil
}

// headers converts the headers rule: parsed and checked again (grants of
// the tailnet policy file were never loaded), in grant order, duplicates
// dropped.
func (r *revision) headers(v any) []policy.Header {
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil
	}
	type ranked struct {
		h     policy.Header
		order int
	}
	var out []ranked
	for _, x := range list {
		m, _ := x.(map[string]any)
		h, bad := policy.ParseHeader(str(m["header"]))
		if bad != "" {
			continue
		}
		out = append(out, ranked{h, r.grantOrder(str(m["grant"]))})
	}
	slices.SortStableFunc(out, func(a, b ranked) int {
		if a.order != b.order {
			return a.order - b.order
		}
		return strings.Compare(a.h.Name+":"+a.h.Value, b.h.Name+":"+b.h.Value)
	})
	hs := make([]policy.Header, 0, len(out))
	for _, x := range out {
		if !slices.Contains(hs, x.h) {
			hs = append(hs, x.h)
		}
	}
	return hs
}

// cors converts the cors rule, in grant order (ties, such as several
// capabilities of the tailnet policy file, by grant ID).
func (r *revision) cors(v any) []CORSGrant {
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil
	}
	out := make([]CORSGrant, 0, len(list))
	for _, x := range list {
		m, _ := x.(map[string]any)
		out = append(out, CORSGrant{
			Paths:   strs(m["paths"]),
			Origin:  str(m["origin"]),
			Methods: str(m["methods"]),
			Headers: str(m["headers"]),
			Grant:   str(m["grant"]),
		})
	}
	slices.SortStableFunc(out, func(a, b CORSGrant) int {
		if oa, ob := r.grantOrder(a.Grant), r.grantOrder(b.Grant); oa != ob {
			return oa - ob
		}
		return strings.Compare(a.Grant, b.Grant)
	})
	return out
}

// grantOrder ranks a grant ID by configuration order; unknown IDs (from
// users' own modules) go last.
func (r *revision) grantOrder(id string) int {
	if n, ok := r.order[id]; ok {
		return n
	}
	return len(r.order)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Values decisionJSON hands out for the commonest results, so that
// converting them allocates nothing. Readers must not modify them.
var (
	jsonRoles     = map[string]any{RoleAdmin: RoleAdmin, RoleUser: RoleUser, RoleNone: RoleNone}
	jsonEmpty any = []any{}
)

// decisionArrayJSON converts the decision query's one result, the array
// of the values of decisionRules, to what decisionFromBindings reads: a map
// from rule name to value, each value converted by decisionJSON.
func decisionArrayJSON(t *ast.Term, _ *oparego.EvalContext) (any, error) {
	a, ok := t.Value.(*ast.Array)
	if !ok || a.Len() != len(decisionRules) {
		return nil, fmt.Errorf("decision query answered %v, want an array of %d values", t, len(decisionRules))
	}
	m := make(map[string]any, len(decisionRules))
	for i, name := range decisionRules {
		v, err := decisionJSON(a.Elem(i))
		if err != nil {
			return nil, err
		}
		m[name] = v
	}
	return m, nil
}

// decisionJSON converts a rule's value to Go values as OPA does, except
// that booleans, role names and empty sets, most of a decision's eleven
// values, come without an allocation.
func decisionJSON(t *ast.Term) (any, error) {
	switch v := t.Value.(type) {
	case ast.Boolean:
		return bool(v), nil
	case ast.String:
		if s, ok := jsonRoles[string(v)]; ok {
			return s, nil
		}
	case ast.Set:
		if v.Len() == 0 {
			return jsonEmpty, nil
		}
	}
	return ast.JSON(t.Value)
}
