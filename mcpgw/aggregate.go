package mcpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/store"
)

// Separators between a connector ID and an item's own name: connector IDs
// hold neither.
const (
	nameSep = "_" // tools and prompts
	uriSep  = "-" // resources and templates
)

// middleware answers the list, call, read and get methods for caller c
// from the connectors; every other method is the SDK's.
func (g *Gateway) middleware(c Caller) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "tools/list":
				if p, ok := req.GetParams().(*mcp.ListToolsParams); ok && p != nil && p.Cursor != "" {
					return &mcp.ListToolsResult{Tools: []*mcp.Tool{}}, nil
				}
				return g.listTools(ctx, c)
			case "tools/call":
				return g.callTool(ctx, c, req.(*mcp.CallToolRequest))
			case "resources/list":
				if p, ok := req.GetParams().(*mcp.ListResourcesParams); ok && p != nil && p.Cursor != "" {
					return &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}, nil
				}
				return g.listResources(ctx, c)
			case "resources/templates/list":
				if p, ok := req.GetParams().(*mcp.ListResourceTemplatesParams); ok && p != nil && p.Cursor != "" {
					return &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}}, nil
				}
				return g.listTemplates(ctx, c)
			case "resources/read":
				return g.readResource(ctx, c, req.(*mcp.ReadResourceRequest).Params.URI)
			case "prompts/list":
				if p, ok := req.GetParams().(*mcp.ListPromptsParams); ok && p != nil && p.Cursor != "" {
					return &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}}, nil
				}
				return g.listPrompts(ctx, c)
			case "prompts/get":
				return g.getPrompt(ctx, c, req.(*mcp.GetPromptRequest).Params)
			}
			return next(ctx, method, req)
		}
	}
}

// mcpConnectors are the configured MCP connectors, in file order.
func (g *Gateway) mcpConnectors() (*policy.Config, *engine.Engine, []*policy.Connector) {
	cfg, eng := g.opts.State()
	var out []*policy.Connector
	for _, k := range cfg.Connectors {
		if k.Protocol == policy.ConnectorMCP {
			out = append(out, k)
		}
	}
	return cfg, eng, out
}

// allowed asks policy whether c may use item of kind on k. A policy that
// cannot decide denies.
func (g *Gateway) allowed(ctx context.Context, eng *engine.Engine, c Caller, k *policy.Connector, kind, item string) bool {
	ok, err := eng.DecideConnector(ctx, c.input(), engine.ConnectorRequest{Server: k.ID, Kind: kind, Tool: item, Labels: k.Labels})
	if err != nil {
		g.log.Error("connector policy evaluation failed; denied", "connector", k.ID, "kind", kind, "login", c.User.Login, "err", err)
		return false
	}
	return ok
}

// gather runs fn on every MCP connector that advertises what has wants,
// in parallel and each bounded by ConnectTimeout, and returns the
// results in configuration order. A connector that fails is left out
// with a warning and its session dropped.
func gather[T any](g *Gateway, ctx context.Context, c Caller, what string, has func(*mcp.ServerCapabilities) bool,
	fn func(ctx context.Context, eng *engine.Engine, k *policy.Connector, cs *mcp.ClientSession) ([]T, error)) []T {
	_, eng, ks := g.mcpConnectors()
	results := make([][]T, len(ks))
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, g.opts.ConnectTimeout)
			defer cancel()
			cs, err := g.pool.session(cctx, c.User.Login, k)
			if err != nil {
				g.log.Warn("connector unavailable; its "+what+" are left out", "connector", k.ID, "err", err)
				return
			}
			if init := cs.InitializeResult(); init == nil || init.Capabilities == nil || !has(init.Capabilities) {
				return
			}
			items, err := fn(cctx, eng, k, cs)
			if err != nil {
				g.log.Warn("listing a connector failed; its "+what+" are left out", "connector", k.ID, "err", err)
				if !isRPCError(err) {
					g.pool.dropSession(c.User.Login, k.ID, cs)
				}
				return
			}
			results[i] = items
		})
	}
	wg.Wait()
	var out []T
	for _, r := range results {
		out = append(out, r...)
	}
	if out == nil {
		out = []T{}
	}
	return out
}

func isRPCError(err error) bool {
	var re *jsonrpc.Error
	return errors.As(err, &re)
}

func (g *Gateway) listTools(ctx context.Context, c Caller) (*mcp.ListToolsResult, error) {
	tools := gather(g, ctx, c, "tools", func(s *mcp.ServerCapabilities) bool { return s.Tools != nil },
		func(ctx context.Context, eng *engine.Engine, k *policy.Connector, cs *mcp.ClientSession) ([]*mcp.Tool, error) {
			var out []*mcp.Tool
			for t, err := range cs.Tools(ctx, nil) {
				if err != nil {
					return nil, err
				}
				if g.allowed(ctx, eng, c, k, engine.KindTools, t.Name) {
					nt := *t
					nt.Name = k.ID + nameSep + t.Name
					out = append(out, &nt)
				}
			}
			return out, nil
		})
	return &mcp.ListToolsResult{Tools: tools}, nil
}

func (g *Gateway) listResources(ctx context.Context, c Caller) (*mcp.ListResourcesResult, error) {
	rs := gather(g, ctx, c, "resources", func(s *mcp.ServerCapabilities) bool { return s.Resources != nil },
		func(ctx context.Context, eng *engine.Engine, k *policy.Connector, cs *mcp.ClientSession) ([]*mcp.Resource, error) {
			var out []*mcp.Resource
			for r, err := range cs.Resources(ctx, nil) {
				if err != nil {
					return nil, err
				}
				if g.allowed(ctx, eng, c, k, engine.KindResources, r.URI) {
					nr := *r
					nr.URI = k.ID + uriSep + r.URI
					out = append(out, &nr)
				}
			}
			return out, nil
		})
	return &mcp.ListResourcesResult{Resources: rs}, nil
}

func (g *Gateway) listTemplates(ctx context.Context, c Caller) (*mcp.ListResourceTemplatesResult, error) {
	ts := gather(g, ctx, c, "resource templates", func(s *mcp.ServerCapabilities) bool { return s.Resources != nil },
		func(ctx context.Context, eng *engine.Engine, k *policy.Connector, cs *mcp.ClientSession) ([]*mcp.ResourceTemplate, error) {
			var out []*mcp.ResourceTemplate
			for t, err := range cs.ResourceTemplates(ctx, nil) {
				if err != nil {
					return nil, err
				}
				if g.allowed(ctx, eng, c, k, engine.KindTemplates, t.URITemplate) {
					nt := *t
					nt.URITemplate = k.ID + uriSep + t.URITemplate
					out = append(out, &nt)
				}
			}
			return out, nil
		})
	return &mcp.ListResourceTemplatesResult{ResourceTemplates: ts}, nil
}

func (g *Gateway) listPrompts(ctx context.Context, c Caller) (*mcp.ListPromptsResult, error) {
	ps := gather(g, ctx, c, "prompts", func(s *mcp.ServerCapabilities) bool { return s.Prompts != nil },
		func(ctx context.Context, eng *engine.Engine, k *policy.Connector, cs *mcp.ClientSession) ([]*mcp.Prompt, error) {
			var out []*mcp.Prompt
			for p, err := range cs.Prompts(ctx, nil) {
				if err != nil {
					return nil, err
				}
				if g.allowed(ctx, eng, c, k, engine.KindPrompts, p.Name) {
					np := *p
					np.Name = k.ID + nameSep + p.Name
					out = append(out, &np)
				}
			}
			return out, nil
		})
	return &mcp.ListPromptsResult{Prompts: ps}, nil
}

// resolve finds the MCP connector an aggregated name starts with and the
// item's own name. ok is false for a name of no configured connector.
func (g *Gateway) resolve(name, sep string) (*engine.Engine, *policy.Config, *policy.Connector, string, bool) {
	cfg, eng, ks := g.mcpConnectors()
	id, item, found := strings.Cut(name, sep)
	if !found {
		return eng, cfg, nil, "", false
	}
	for _, k := range ks {
		if k.ID == id {
			return eng, cfg, k, item, true
		}
	}
	return eng, cfg, nil, "", false
}

func unknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
}

// toolError is a call's answer when sluice, not the tool, failed it: an
// error result the model can read, not a protocol error.
func toolError(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

func (g *Gateway) callTool(ctx context.Context, c Caller, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	start := time.Now()
	name := req.Params.Name
	args := req.Params.Arguments
	rec := store.ToolCall{ID: store.NewID(start), Time: start, Login: c.User.Login, Tool: name, ArgsBytes: int64(len(args))}
	if req.Session != nil {
		rec.Session = req.Session.ID()
	}
	finish := func(outcome, errText string) {
		rec.Outcome, rec.Error, rec.Latency = outcome, errText, time.Since(start)
		g.record(rec)
	}

	eng, cfg, k, tool, ok := g.resolve(name, nameSep)
	if ok {
		rec.Connector, rec.Tool = k.ID, tool
	}
	if !ok || !g.allowed(ctx, eng, c, k, engine.KindTools, tool) {
		// Denied and missing tools look alike: the caller learns nothing
		// about tools it may not use.
		finish(store.ToolDenied, "no grant for this tool, or no such tool")
		return nil, unknownTool(name)
	}

	verdict, err := g.preCall(ctx, cfg, eng, c, k, tool, name, rec.ID, rec.Session, args)
	switch {
	case err != nil:
		finish(store.ToolFailed, "client left during tool_call hooks")
		return nil, err
	case verdict.Blocked:
		finish(store.ToolBlocked, verdict.Message)
		return toolError(verdict.Message), nil
	case verdict.Modified:
		var body struct {
			Arguments json.RawMessage `json:"arguments"`
		}
		if json.Unmarshal(verdict.RequestBody, &body) != nil {
			msg := fmt.Sprintf("tool_call hook %s returned a body without valid arguments", verdict.DecidedBy)
			finish(store.ToolBlocked, msg)
			return toolError(msg), nil
		}
		args = body.Arguments
	}

	cs, err := g.pool.session(ctx, c.User.Login, k)
	if err != nil {
		g.log.Warn("connector unavailable for a tool call", "connector", k.ID, "tool", tool, "err", err)
		msg := fmt.Sprintf("connector %s is unavailable; try again later", k.ID)
		finish(store.ToolFailed, err.Error())
		return toolError(msg), nil
	}
	cctx, cancel := context.WithTimeout(ctx, g.opts.CallTimeout)
	defer cancel()
	var arguments any
	if len(args) > 0 {
		arguments = args
	}
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: tool, Arguments: arguments})
	switch {
	case err != nil && isRPCError(err):
		// The connector refused the call itself (unknown tool, bad
		// arguments): pass its error on.
		var re *jsonrpc.Error
		errors.As(err, &re)
		finish(store.ToolError, re.Message)
		return nil, re
	case err != nil:
		g.pool.dropSession(c.User.Login, k.ID, cs)
		g.log.Warn("tool call failed at the connector", "connector", k.ID, "tool", tool, "err", err)
		finish(store.ToolFailed, err.Error())
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return toolError(fmt.Sprintf("connector %s failed during the call: it went away or broke off; try again later", k.ID)), nil
	case res.IsError:
		finish(store.ToolError, "")
	default:
		finish(store.ToolOK, "")
	}
	return res, nil
}

// preCall runs the tool_call hooks that apply to the call.
func (g *Gateway) preCall(ctx context.Context, cfg *policy.Config, eng *engine.Engine, c Caller, k *policy.Connector, tool, name, id, session string, args json.RawMessage) (hooks.Verdict, error) {
	if g.opts.Hooks == nil {
		return hooks.Verdict{}, nil
	}
	d, err := eng.Decide(ctx, c.input())
	if err != nil {
		// No hook grant can be known: refuse rather than skip a guardrail.
		return hooks.Verdict{Blocked: true, Message: "the policy engine failed to decide which hooks apply"}, nil
	}
	var parsed any
	if len(args) > 0 {
		_ = json.Unmarshal(args, &parsed)
	}
	vars := engine.HookVars{User: c.User, Event: policy.EventToolCall,
		Request: engine.HookRequest{Path: MCPPath, Connector: k.ID, Tool: tool, Body: parsed}}
	var calls []hooks.Call
	for _, hg := range d.Hooks {
		if !hg.Wants(policy.EventToolCall) {
			continue
		}
		fires, err := hg.Fires(vars)
		if err != nil {
			g.log.Warn("hook condition failed; hook not called", "grant", hg.Grant, "hook", hg.Hook, "err", err)
			continue
		}
		if h := cfg.Hook(hg.Hook); fires && h != nil {
			calls = append(calls, hooks.Call{Hook: h, Fields: hg.Fields})
		}
	}
	if len(calls) == 0 {
		return hooks.Verdict{}, nil
	}
	argsJSON := args
	if len(argsJSON) == 0 {
		argsJSON = json.RawMessage(`{}`)
	}
	body, _ := json.Marshal(map[string]any{"connector": k.ID, "tool": tool, "name": name, "arguments": argsJSON})
	return g.opts.Hooks.CallPreRequest(ctx, calls, hooks.PreRequest{
		Event: policy.EventToolCall,
		Metadata: hooks.Metadata{LoginName: c.User.Login, TailnetName: c.User.Tailnet, StableNodeID: c.User.NodeID,
			RequestID: id, SessionID: session, URL: MCPPath},
		RequestBody: body,
		ToolCalls:   []hooks.ToolCall{{ID: id, Name: name, Params: argsJSON}},
	})
}

// record keeps rec in the tool call log and the server log.
func (g *Gateway) record(rec store.ToolCall) {
	g.log.Info("tool call", "login", rec.Login, "connector", rec.Connector, "tool", rec.Tool,
		"outcome", rec.Outcome, "args_bytes", rec.ArgsBytes, "latency", rec.Latency)
	if g.opts.ToolCalls == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.opts.ToolCalls.InsertToolCall(ctx, rec); err != nil {
		g.log.Error("tool call not recorded", "id", rec.ID, "err", err)
	}
}

func (g *Gateway) readResource(ctx context.Context, c Caller, uri string) (*mcp.ReadResourceResult, error) {
	eng, _, k, item, ok := g.resolve(uri, uriSep)
	if !ok || !g.allowed(ctx, eng, c, k, engine.KindResources, item) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	cs, err := g.pool.session(ctx, c.User.Login, k)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("connector %s is unavailable", k.ID)}
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: item})
	if err != nil {
		if isRPCError(err) {
			return nil, err
		}
		g.pool.dropSession(c.User.Login, k.ID, cs)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("connector %s failed during the read", k.ID)}
	}
	out := *res
	out.Contents = make([]*mcp.ResourceContents, len(res.Contents))
	for i, rc := range res.Contents {
		n := *rc
		if n.URI != "" {
			n.URI = k.ID + uriSep + n.URI
		}
		out.Contents[i] = &n
	}
	return &out, nil
}

func (g *Gateway) getPrompt(ctx context.Context, c Caller, p *mcp.GetPromptParams) (*mcp.GetPromptResult, error) {
	eng, _, k, item, ok := g.resolve(p.Name, nameSep)
	if !ok || !g.allowed(ctx, eng, c, k, engine.KindPrompts, item) {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown prompt %q", p.Name)}
	}
	cs, err := g.pool.session(ctx, c.User.Login, k)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("connector %s is unavailable", k.ID)}
	}
	res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: item, Arguments: p.Arguments})
	if err != nil {
		if isRPCError(err) {
			return nil, err
		}
		g.pool.dropSession(c.User.Login, k.ID, cs)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("connector %s failed during the call", k.ID)}
	}
	return res, nil
}
