// Package mcpgw serves sluice's connectors: /v1/mcp, one MCP endpoint
// (Streamable HTTP, and the legacy SSE transport) that aggregates every
// configured MCP connector, and /v1/connectors/<id>/<path>, a reverse proxy
// to HTTP connectors that injects their credentials.
//
// On /v1/mcp sluice is an MCP server to its callers and an MCP client to
// each connector, both through the official Go MCP SDK
// (github.com/modelcontextprotocol/go-sdk). A connector's tools and prompts
// appear as "<id>_<name>", its resources and templates as "<id>-<uri>".
// Every item is shown and served only when policy grants it
// (data.sluice.authz.mcp on input.request.mcp, see [engine.ConnectorRequest]):
// a tool the caller may not use is missing from tools/list and a call to it
// fails as an unknown tool. Each tool call is recorded in the tool call log
// and may be inspected or blocked by tool_call hooks first.
//
// Connectors that cannot be reached are left out of lists (with a logged
// warning) and make calls fail with an error result; they never fail the
// whole endpoint.
package mcpgw

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/store"
)

// Paths the gateway serves.
const (
	// MCPPath is the aggregated MCP endpoint: Streamable HTTP, and legacy
	// SSE for a GET that asks for an event stream without a session.
	MCPPath = "/v1/mcp"
	// SSEPath serves the legacy SSE transport only.
	SSEPath = "/v1/mcp/sse"
	// ConnectorsPrefix starts the HTTP connector proxy's paths.
	ConnectorsPrefix = "/v1/connectors/"
)

// Caller is who is calling, as policy sees them.
type Caller struct {
	User engine.User
	// Caps are the caller's capabilities from the tailnet policy file.
	Caps []json.RawMessage
}

func (c Caller) input() engine.Input { return engine.Input{User: c.User, Caps: c.Caps} }

// Options configures a Gateway. Identify and State are required.
type Options struct {
	// Identify tells who is calling, or answers the client itself (403,
	// 503) and reports false.
	Identify func(w http.ResponseWriter, r *http.Request) (Caller, bool)
	// State returns the configuration and policy being served.
	State func() (*policy.Config, *engine.Engine)
	// Transport reaches connectors; TailnetTransport those with
	// "tailnet": true (which fail when it is nil).
	Transport        http.RoundTripper
	TailnetTransport http.RoundTripper
	// ToolCalls keeps a record of every tool call; nil keeps none.
	ToolCalls store.ToolCallLog
	// Hooks calls tool_call hooks; nil calls none.
	Hooks *hooks.Dispatcher
	// Logger receives operational logs; slog.Default() when nil.
	Logger *slog.Logger
	// ConnectTimeout bounds connecting to an MCP connector and listing
	// its items (default 10s); CallTimeout bounds one call (default 5m).
	ConnectTimeout time.Duration
	CallTimeout    time.Duration
	// SessionTimeout closes MCP sessions idle that long (default 30m).
	SessionTimeout time.Duration
}

// Gateway is the connectors' http.Handler.
type Gateway struct {
	opts       Options
	log        *slog.Logger
	streamable *mcp.StreamableHTTPHandler
	sse        *mcp.SSEHandler
	pool       *pool
	tokens     *tokenCache

	// owners maps an MCP session ID to the login that opened it, so that
	// nobody else can use the session.
	mu     sync.Mutex
	owners map[string]owner
}

type owner struct {
	login string
	seen  time.Time
}

// New returns a Gateway. Close it to drop its connector sessions.
func New(opts Options) *Gateway {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Minute
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 30 * time.Minute
	}
	g := &Gateway{opts: opts, log: opts.Logger, owners: make(map[string]owner)}
	g.tokens = newTokenCache()
	g.pool = newPool(g)
	// The SDK's DNS-rebinding guard stays on: a request that reaches a
	// loopback listener must name a loopback host. Tailnet listeners and
	// the Unix socket `tailscale serve` uses are not loopback.
	g.streamable = mcp.NewStreamableHTTPHandler(g.serverFor, &mcp.StreamableHTTPOptions{
		SessionTimeout: opts.SessionTimeout,
	})
	g.sse = mcp.NewSSEHandler(g.serverFor, nil)
	return g
}

// Close ends the gateway's sessions with connectors.
func (g *Gateway) Close() { g.pool.closeAll() }

// Owns reports whether path is served by the gateway.
func Owns(path string) bool {
	return path == MCPPath || strings.HasPrefix(path, MCPPath+"/") || strings.HasPrefix(path, ConnectorsPrefix)
}

type callerKey struct{}

// ServeHTTP serves /v1/mcp and /v1/connectors/.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := g.opts.Identify(w, r)
	if !ok {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
	switch {
	case strings.HasPrefix(r.URL.Path, ConnectorsPrefix):
		g.serveConnector(w, r, c)
	case r.URL.Path == SSEPath || (r.URL.Path == MCPPath && isLegacySSE(r)):
		g.serveSSE(w, r, c)
	case r.URL.Path == MCPPath:
		g.serveStreamable(w, r, c)
	default:
		http.NotFound(w, r)
	}
}

// isLegacySSE tells the old SSE transport from Streamable HTTP on the one
// path: its stream is a GET with no session header, its messages carry
// the session in the query.
func isLegacySSE(r *http.Request) bool {
	if r.URL.Query().Get("sessionid") != "" {
		return true
	}
	return r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// serverFor is the SDK's getServer: a server whose handlers act for the
// caller of r. A session keeps the server of the request that opened it.
func (g *Gateway) serverFor(r *http.Request) *mcp.Server {
	c, _ := r.Context().Value(callerKey{}).(Caller)
	s := mcp.NewServer(&mcp.Implementation{Name: "sluice", Title: "sluice connectors"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{
			Tools:     &mcp.ToolCapabilities{},
			Resources: &mcp.ResourceCapabilities{},
			Prompts:   &mcp.PromptCapabilities{},
		},
	})
	s.AddReceivingMiddleware(g.middleware(c))
	return s
}

func (g *Gateway) serveStreamable(w http.ResponseWriter, r *http.Request, c Caller) {
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		if !g.checkOwner(w, id, c) {
			return
		}
		if r.Method == http.MethodDelete {
			defer g.forget(id)
		}
		g.streamable.ServeHTTP(w, r)
		return
	}
	g.streamable.ServeHTTP(&ownerRecorder{ResponseWriter: w, g: g, login: c.User.Login}, r)
}

func (g *Gateway) serveSSE(w http.ResponseWriter, r *http.Request, c Caller) {
	if id := r.URL.Query().Get("sessionid"); id != "" {
		if !g.checkOwner(w, id, c) {
			return
		}
		g.sse.ServeHTTP(w, r)
		return
	}
	sw := &sseOwnerRecorder{ResponseWriter: w, g: g, login: c.User.Login}
	g.sse.ServeHTTP(sw, r)
	if sw.id != "" {
		g.forget(sw.id)
	}
}

// checkOwner refuses a session opened by someone else. A session the
// gateway does not know is left to the SDK, which answers 404.
func (g *Gateway) checkOwner(w http.ResponseWriter, id string, c Caller) bool {
	g.mu.Lock()
	o, ok := g.owners[id]
	if ok && o.login == c.User.Login {
		o.seen = time.Now()
		g.owners[id] = o
	}
	g.mu.Unlock()
	if ok && o.login != c.User.Login {
		http.Error(w, "this MCP session belongs to another caller", http.StatusForbidden)
		return false
	}
	return true
}

// own notes that login opened session id, and forgets sessions unused
// for twice the idle timeout (the SDK has closed them by then).
func (g *Gateway) own(id, login string) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for sid, o := range g.owners {
		if now.Sub(o.seen) > 2*g.opts.SessionTimeout {
			delete(g.owners, sid)
		}
	}
	g.owners[id] = owner{login: login, seen: now}
}

func (g *Gateway) forget(id string) {
	g.mu.Lock()
	delete(g.owners, id)
	g.mu.Unlock()
}

// ownerRecorder notes the session a Streamable HTTP initialize opens.
type ownerRecorder struct {
	http.ResponseWriter
	g     *Gateway
	login string
	done  bool
}

func (o *ownerRecorder) WriteHeader(code int) {
	if !o.done {
		o.done = true
		if id := o.Header().Get("Mcp-Session-Id"); id != "" {
			o.g.own(id, o.login)
		}
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *ownerRecorder) Write(b []byte) (int, error) {
	if !o.done {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(b)
}

func (o *ownerRecorder) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (o *ownerRecorder) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// sseOwnerRecorder notes the session of a legacy SSE stream from its
// first event, which names the endpoint ("...?sessionid=ID").
type sseOwnerRecorder struct {
	http.ResponseWriter
	g     *Gateway
	login string
	id    string
	seen  bool
}

func (o *sseOwnerRecorder) Write(b []byte) (int, error) {
	if !o.seen {
		if _, rest, ok := strings.Cut(string(b), "sessionid="); ok {
			o.seen = true
			if i := strings.IndexAny(rest, "&\r\n"); i >= 0 {
				rest = rest[:i]
			}
			o.id = rest
			o.g.own(o.id, o.login)
		}
	}
	return o.ResponseWriter.Write(b)
}

func (o *sseOwnerRecorder) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (o *sseOwnerRecorder) Unwrap() http.ResponseWriter { return o.ResponseWriter }
