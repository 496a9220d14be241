package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Explanation says why a decision came out as it did.
type Explanation struct {
	Decision Decision `json:"decision"`
	Input    Input    `json:"input"`
	// Sources are the src patterns of temp_grants that name the caller
	// ("*", their login, "*@domain", "tag:name", wildcard patterns).
	Sources []string `json:"sources"`
	// Grants are the grants whose src names the caller, in configuration
	// order.
	Grants []GrantMatch `json:"grants"`
	// Denials are the deny rules that fired, each with its message.
	Denials []Denial `json:"denials"`
	// AllowedBy are the grants that allowed the request's model, each
	// with where it comes from; empty when refused.
	AllowedBy []AllowedBy `json:"allowed_by"`
}

// AllowedBy is one grant that allowed a request.
type AllowedBy struct {
	// Grant is the grant's ID, as in Decision.Grants.
	Grant string `json:"grant"`
	// Source is "config" or "tailnet" (the tailnet policy file, through
	// the caller's WhoIs capabilities).
	Source string `json:"source"`
	// Pos is where a config grant is in the configuration file.
	Pos string `json:"pos,omitempty"`
}

// GrantMatch is one grant that names the caller.
type GrantMatch struct {
	// Grant is the grant's place: "temp_grants[i].grants[j]".
	Grant string `json:"grant"`
	// Pos is where the grant is in the configuration file.
	Pos string `json:"pos,omitempty"`
	// Kind is "role", "providers", "hook" or "mcp" for temp_grants, and
	// "grants" for an entry of the grants section.
	Kind string `json:"kind"`
	// Src are the grant's src patterns that name the caller.
	Src []string `json:"src"`
	// Applies is true when the grant bears on this request: a role grant
	// always, a provider grant when it matches provider and model, a hook
	// grant when it is in the decision's hooks.
	Applies bool `json:"applies"`

	// Role, Providers or Hook: what the grant grants.
	Role      string            `json:"role,omitempty"`
	Providers []ProviderPattern `json:"providers,omitempty"`
	Hook      string            `json:"hook,omitempty"`
}

// ProviderPattern is one provider/model pair of a provider grant.
type ProviderPattern struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Denial is one deny rule that fired.
type Denial struct {
	Reason string `json:"reason"`
	// Rule is where the rule is: "file:row:col" (the library's rules are
	// under "sluice/", the user's own under the name they were loaded as).
	Rule string `json:"rule"`
}

// Explain evaluates the policy for in like Decide, bypassing the cache and
// the decision log, and reports which grants named the caller and which deny
// rules fired.
func (e *Engine) Explain(ctx context.Context, in Input) (Explanation, error) {
	x, err := e.cur.Load().explainInput(ctx, in, e.opts.now())
	if err != nil {
		return Explanation{}, err
	}
	x.Decision.ID = e.opts.newID()
	return x, nil
}

// explainInput is Explain on one revision; the decision has no ID.
func (rev *revision) explainInput(ctx context.Context, in Input, now time.Time) (Explanation, error) {
	in = in.canonical()
	tr := &denyTracer{}
	rs, err := rev.explain.Eval(ctx, oparego.EvalParsedInput(in.value()), oparego.EvalTime(now), oparego.EvalQueryTracer(tr))
	if err != nil {
		return Explanation{}, fmt.Errorf("explain for %q: %w", in.User.Login, err)
	}
	if len(rs) == 0 {
		return Explanation{}, fmt.Errorf("explain for %q: %w", in.User.Login, ErrUndefined)
	}
	b := rs[0].Bindings
	d, err := rev.decisionFromBindings(b)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain for %q: %w", in.User.Login, err)
	}
	x := Explanation{Decision: d, Input: in, Sources: strs(b["sources"]), Denials: tr.denials}
	if x.Input.User.Tags == nil {
		x.Input.User.Tags = []string{}
	}
	if x.Denials == nil {
		x.Denials = []Denial{}
	}
	slices.SortFunc(x.Denials, func(a, b Denial) int {
		if a.Reason < b.Reason {
			return -1
		}
		if a.Reason > b.Reason {
			return 1
		}
		return 0
	})

	x.AllowedBy = []AllowedBy{}
	for _, id := range d.Grants {
		a := AllowedBy{Grant: id, Source: "config"}
		switch {
		case strings.HasPrefix(id, "tailnet:"):
			a.Source = "tailnet"
		case rev.caps[id] != nil:
			a.Pos = rev.caps[id].Pos.String()
		case rev.grants[id] != nil:
			a.Pos = rev.grants[id].Pos.String()
		}
		x.AllowedBy = append(x.AllowedBy, a)
	}

	applies := make(map[string]bool)
	for _, id := range strs(b["provider_grants"]) {
		applies[id] = true
	}
	for _, h := range d.Hooks {
		applies[h.Grant] = true
	}
	for id := range applies {
		// A capability that allowed or wired a hook makes its entry of
		// the grants section apply.
		if c := rev.caps[id]; c != nil {
			applies["grants["+strconv.Itoa(c.Grant)+"]"] = true
		}
	}
	byGrant := make(map[string]*GrantMatch)
	matched, _ := b["matched"].([]any)
	for _, m := range matched {
		obj, _ := m.(map[string]any)
		id, src := str(obj["grant"]), str(obj["src"])
		gm := byGrant[id]
		if gm == nil {
			gm = rev.grantMatch(id)
			byGrant[id] = gm
		}
		gm.Src = append(gm.Src, src)
		if gm.Role != "" {
			// A role applies to every request of the caller.
			gm.Applies = true
		} else {
			gm.Applies = applies[id]
		}
	}
	for _, gm := range byGrant {
		slices.Sort(gm.Src)
		x.Grants = append(x.Grants, *gm)
	}
	slices.SortFunc(x.Grants, func(a, b GrantMatch) int { return rev.grantOrder(a.Grant) - rev.grantOrder(b.Grant) })
	if x.Grants == nil {
		x.Grants = []GrantMatch{}
	}
	return x, nil
}

func (r *revision) grantMatch(id string) *GrantMatch {
	gm := &GrantMatch{Grant: id}
	for _, ag := range r.cfg.Grants {
		if ag.Source() == id {
			gm.Kind, gm.Pos = "grants", ag.Pos.String()
			for _, c := range ag.Caps {
				if c.Role != "" && gm.Role != RoleAdmin {
					gm.Role = c.Role
				}
			}
			return gm
		}
	}
	g := r.grants[id]
	if g == nil {
		return gm
	}
	gm.Pos = g.Pos.String()
	switch {
	case g.Role != "":
		gm.Kind, gm.Role = "role", g.Role
	case g.Providers != nil:
		gm.Kind = "providers"
		for _, p := range g.Providers {
			gm.Providers = append(gm.Providers, ProviderPattern{Provider: p.Provider, Model: p.Model})
		}
	case g.Hook != nil:
		gm.Kind, gm.Hook = "hook", g.Hook.Hook
	case g.MCP != nil:
		gm.Kind = "mcp"
	}
	return gm
}

var (
	authzPath = ast.MustParseRef("data.sluice.authz")
	denyVar   = ast.Var("deny")
)

// denyTracer records the deny rules of package sluice.authz whose body
// succeeded, with the message each produced.
type denyTracer struct {
	denials []Denial
}

func (t *denyTracer) Enabled() bool { return true }

func (t *denyTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (t *denyTracer) TraceEvent(evt topdown.Event) {
	if evt.Op != topdown.ExitOp {
		return
	}
	rule, ok := evt.Node.(*ast.Rule)
	if !ok || rule.Module == nil || rule.Head.Key == nil || !rule.Module.Package.Path.Equal(authzPath) {
		return
	}
	if ref := rule.Head.Ref(); len(ref) != 1 || ref[0].Value.Compare(denyVar) != 0 {
		return
	}
	msg, ok := evt.Plug(rule.Head.Key).Value.(ast.String)
	if !ok {
		return
	}
	d := Denial{Reason: string(msg)}
	if l := rule.Location; l != nil {
		d.Rule = fmt.Sprintf("%s:%d:%d", l.File, l.Row, l.Col)
	}
	for _, have := range t.denials {
		if have == d {
			return
		}
	}
	t.denials = append(t.denials, d)
}

// ErrNoProvider reports a request whose model no enabled provider serves
// (in its API format, when one is given): routing would refuse it before
// asking policy.
var ErrNoProvider = errors.New("no provider serves this model")

// ExplainRoute explains in as the gateway would decide it. With
// in.Request.Provider set it is Explain. Without, it tries the providers
// serving the model in declaration order (those that can serve the format,
// natively or by translating, when one is given), as routing does, and
// explains the first that allows, or the first when none does; candidates
// are the providers it tried, in order. A model no provider serves is
// ErrNoProvider.
//
// When in names a format and no upstream format, each provider is asked
// in the format the gateway would call it in (see
// policy.Provider.UpstreamFormat), so a policy that forbids translation
// is explained as it decides.
func (e *Engine) ExplainRoute(ctx context.Context, in Input) (x Explanation, candidates []string, err error) {
	cfg := e.Config()
	if in.Request.Provider != "" {
		if p := cfg.Provider(in.Request.Provider); p != nil && in.Request.UpstreamFormat == "" && in.Request.Format != "" {
			in.Request.UpstreamFormat, _ = p.UpstreamFormat(in.Request.Format)
		}
		x, err = e.Explain(ctx, in)
		return x, nil, err
	}
	var upstream []string
	for _, p := range cfg.ProvidersFor(in.Request.Model) {
		up := in.Request.UpstreamFormat
		if in.Request.Format != "" {
			chosen, ok := p.UpstreamFormat(in.Request.Format)
			if !ok {
				continue
			}
			if up == "" {
				up = chosen
			}
		}
		candidates = append(candidates, p.ID)
		upstream = append(upstream, up)
	}
	if len(candidates) == 0 {
		return Explanation{}, nil, fmt.Errorf("model %q: %w", in.Request.Model, ErrNoProvider)
	}
	for i, p := range candidates {
		in.Request.Provider, in.Request.UpstreamFormat = p, upstream[i]
		got, err := e.Explain(ctx, in)
		if err != nil {
			return Explanation{}, nil, err
		}
		if i == 0 || got.Decision.Allow {
			x = got
		}
		if got.Decision.Allow {
			break
		}
	}
	return x, candidates, nil
}
