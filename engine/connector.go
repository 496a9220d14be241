package engine

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"
)

// Categories of a connector request (input.request.mcp.kind), as
// connectors grant patterns name them ("<id>/<kind>/<item>").
const (
	KindTools     = "tools"
	KindResources = "resources"
	KindTemplates = "templates"
	KindPrompts   = "prompts"
	KindProxy     = "proxy"
)

// ConnectorRequest is what a caller asks of a connector. It becomes
// input.request.mcp: {"server", "kind", "tool", "labels"}.
type ConnectorRequest struct {
	// Server is the connector ID.
	Server string
	// Kind is one of KindTools, KindResources, KindTemplates, KindPrompts
	// or KindProxy.
	Kind string
	// Tool is the item asked for: the tool or prompt name as the upstream
	// names it, the resource URI or URI template, or the HTTP path without
	// its leading "/".
	Tool string
	// Labels are the connector's configured labels, which "label:"
	// grants select.
	Labels []string
}

const connectorQuery = `allow := data.sluice.authz.mcp`

var (
	keyMCP    = ast.StringTerm("mcp")
	keyServer = ast.StringTerm("server")
	keyKind   = ast.StringTerm("kind")
	keyTool   = ast.StringTerm("tool")
	keyLabels = ast.StringTerm("labels")
)

// DecideConnector reports whether the caller of in (its User and Caps; its
// Request is ignored) may use req, by the policy's data.sluice.authz.mcp.
// An error never allows. Decisions are memoized per policy revision like
// model decisions (a tool list asks once per tool).
func (e *Engine) DecideConnector(ctx context.Context, in Input, req ConnectorRequest) (bool, error) {
	rev := e.cur.Load()
	in.Request = Request{}
	in = in.canonical()
	var key string
	if rev.connectorCache != nil {
		b := in.appendCacheKey(nil, rev.key)
		for _, s := range append([]string{req.Server, req.Kind, req.Tool}, req.Labels...) {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		key = string(b)
		if d, ok := rev.connectorCache.get(b); ok {
			return d.Allow, nil
		}
	}
	q, err := rev.connectorQuery()
	if err != nil {
		return false, fmt.Errorf("prepare connector query: %w", err)
	}
	doc := in.value().(ast.Object)
	labels := make([]*ast.Term, len(req.Labels))
	for i, l := range req.Labels {
		labels[i] = ast.StringTerm(l)
	}
	mcp := ast.NewObject(
		[2]*ast.Term{keyServer, ast.StringTerm(req.Server)},
		[2]*ast.Term{keyKind, ast.StringTerm(req.Kind)},
		[2]*ast.Term{keyTool, ast.StringTerm(req.Tool)},
		[2]*ast.Term{keyLabels, ast.ArrayTerm(labels...)},
	)
	doc.Get(keyRequest).Value.(ast.Object).Insert(keyMCP, ast.NewTerm(mcp))
	rs, err := q.Eval(ctx, oparego.EvalParsedInput(doc), oparego.EvalTime(e.opts.now()))
	if err != nil {
		return false, fmt.Errorf("decide connector %s for %q: %w", req.Server, in.User.Login, err)
	}
	if len(rs) == 0 {
		return false, ErrUndefined
	}
	allow, ok := rs[0].Bindings["allow"].(bool)
	if !ok {
		return false, fmt.Errorf("data.sluice.authz.mcp is %T, want a boolean", rs[0].Bindings["allow"])
	}
	if key != "" {
		rev.connectorCache.put(key, Decision{Allow: allow})
	}
	return allow, nil
}
