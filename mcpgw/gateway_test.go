package mcpgw_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// testConfig wires two MCP connectors (docs over Streamable HTTP with a
// bearer token, tracker over the legacy SSE transport with an API key), two
// HTTP connectors (github with a bearer token, crm with OAuth2 client
// credentials) and a tool_call hook that guards tracker's close_issue.
// alice may use all of docs, tracker through its label, and github's API;
// bob only docs' search (new style) and tracker's get_* (mcp_tools).
const testConfig = `{
"providers": {"p": {"baseurl": "http://127.0.0.1:9", "apikey": "k", "models": ["m"]}},
"connectors": {"servers": {
	"docs":    {"protocol": "mcp", "url": "DOCSURL/mcp", "auth": {"type": "bearer_token", "token": "${DOCSTOKEN_ENV}"}},
	"tracker": {"protocol": "mcp", "url": "TRACKERURL/sse", "labels": ["eng"], "auth": {"type": "api_key", "key": "tracker-key"}},
	"github":  {"protocol": "http", "url": "GITHUBURL/api", "auth": {"type": "bearer_token", "token": "gh-secret"}},
	"crm":     {"protocol": "http", "url": "CRMURL", "auth": {"type": "oauth2_client_credentials", "client_id": "sluice", "client_secret": "cc-secret", "token_url": "TOKENSURL/token"}},
	"remote":  {"protocol": "mcp", "url": "http://127.0.0.1:9/mcp", "tailnet": true},
	"intranet": {"protocol": "http", "url": "GITHUBURL/internal", "tailnet": true, "auth": {"type": "basic", "username": "svc", "password": "intranet-pw"}},
}},
"hooks": {"guard": {"url": "HOOKURL/guard", "fail_policy": "fail_closed"}},
"grants": [
	{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}},
	{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
		{"connectors": ["docs/**", "label:eng", "github/proxy/**", "crm/proxy/*", "remote/**", "intranet/**"]},
	]}},
	{"src": ["bob@example.com"], "app": {"tailscale.com/cap/aperture": [
		{"connectors": ["docs/tools/search"], "mcp_tools": "tracker/get_*"},
	]}},
],
"temp_grants": [{"src": ["alice@example.com"], "grants": [
	{"hook": {"hook": "guard", "match": {"events": ["tool_call"]}, "fields": ["tools", "request_body"],
	          "condition": "request.connector == 'tracker' && request.tool == 'close_issue'"}},
]}],
}`

type queryIn struct {
	Query string `json:"query"`
}

type issueIn struct {
	ID int `json:"id"`
}

// docsServer is an MCP server over Streamable HTTP that wants a bearer
// token.
func docsServer(t testing.TB) *httptest.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "docs"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "search", Description: "search the docs"}, func(_ context.Context, _ *mcp.CallToolRequest, in queryIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "found: " + in.Query}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "delete", Description: "delete a page"}, func(_ context.Context, _ *mcp.CallToolRequest, in queryIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted " + in.Query}}}, nil, nil
	})
	s.AddResource(&mcp.Resource{URI: "file:///guide.md", Name: "guide", MIMEType: "text/markdown"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/markdown", Text: "# Guide"}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "summarize"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize the docs."}}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer docs-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// trackerServer is an MCP server over the legacy SSE transport that wants
// an API key.
func trackerServer(t testing.TB) *httptest.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "tracker"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_issue"}, func(_ context.Context, _ *mcp.CallToolRequest, in issueIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "issue open"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "close_issue"}, func(_ context.Context, _ *mcp.CallToolRequest, in issueIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("closed %d", in.ID)}}}, nil, nil
	})
	h := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "tracker-key" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hookReceiver answers tool_call hooks and keeps what it got: it rewrites
// a call for issue 8 to issue 9 and blocks every other.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []map[string]any
}

func newHookReceiver(t testing.TB) *hookReceiver {
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		json.NewDecoder(r.Body).Decode(&p)
		rc.mu.Lock()
		rc.got = append(rc.got, p)
		rc.mu.Unlock()
		var body struct {
			Arguments issueIn `json:"arguments"`
		}
		raw, _ := json.Marshal(p["request_body"])
		json.Unmarshal(raw, &body)
		if body.Arguments.ID == 8 {
			io.WriteString(w, `{"action": "modify", "request_body": {"arguments": {"id": 9}}}`)
			return
		}
		io.WriteString(w, `{"action": "block", "message": "closing issues needs a person"}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// testbed is sluice with its connectors.
type testbed struct {
	url     string
	store   store.Store
	tracker *httptest.Server
	hook    *hookReceiver
	github  chan http.Header
	tokens  *atomic.Int32
	logs    lockedBuffer
	// tailnetDials counts requests sent through the tailnet transport.
	tailnetDials *atomic.Int32
}

// lockedBuffer collects the gateway's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkNoSecrets fails when a connector credential reached the log.
func (tb *testbed) checkNoSecrets(t *testing.T) {
	t.Helper()
	logs := tb.logs.String()
	for _, secret := range []string{"docs-token", "tracker-key", "gh-secret", "cc-secret", "crm-token", "intranet-pw"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the credential %q", secret)
		}
	}
}

func newTestbed(t testing.TB) *testbed {
	t.Helper()
	tb := &testbed{github: make(chan http.Header, 4), tokens: new(atomic.Int32), tailnetDials: new(atomic.Int32)}
	docs := docsServer(t)
	tb.tracker = trackerServer(t)
	tb.hook = newHookReceiver(t)
	github := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Seen-Path", r.URL.RequestURI())
		tb.github <- h
		io.WriteString(w, `{"login": "octocat"}`)
	}))
	t.Cleanup(github.Close)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, _ := r.BasicAuth()
		if id != "sluice" || secret != "cc-secret" || r.Form.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error": "invalid_client"}`, http.StatusUnauthorized)
			return
		}
		tb.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token": "crm-token", "token_type": "Bearer", "expires_in": 3600}`)
	}))
	t.Cleanup(tokens.Close)
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(crm.Close)

	text := strings.NewReplacer("DOCSURL", docs.URL, "TRACKERURL", tb.tracker.URL, "GITHUBURL", github.URL, "CRMURL", crm.URL,
		"TOKENSURL", tokens.URL, "HOOKURL", tb.hook.URL).Replace(testConfig)
	cfg, err := policy.Parse("test.hujson", []byte(text), func(name string) (string, bool) {
		if name == "DOCSTOKEN_ENV" {
			return "docs-token", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tb.store = st
	writer := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond})
	srv, err := proxy.New(ctx, cfg, proxy.Options{
		Sink: writer, Store: st,
		Logger: slog.New(slog.NewTextHandler(&tb.logs, nil)),
		// Callers are told apart the way tailnet identities are: here
		// by a header the test's clients set.
		Identity: identity.ResolverFunc(func(r *http.Request) (identity.Identity, error) {
			login := r.Header.Get("X-Test-Login")
			if login == "" {
				return identity.Identity{}, identity.ErrUnknownCaller
			}
			return identity.Identity{Login: login}, nil
		}),
		ConnectTimeout: 2 * time.Second,
		// The tailnet node's transport, as `sluice serve --tailnet` gives
		// it: here loopback, counted.
		TailnetTransport: roundTripper(func(r *http.Request) (*http.Response, error) {
			tb.tailnetDials.Add(1)
			return http.DefaultTransport.RoundTrip(r)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Shutdown(context.Background())
	})
	tb.url = hs.URL
	return tb
}

// as is an HTTP client that calls sluice as login and sends a credential
// of its own, which must never reach a connector.
func as(login string) *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Test-Login", login)
		r.Header.Set("Authorization", "Bearer "+login+"-own-token")
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// connect opens an MCP session with sluice through the SDK's client.
func (tb *testbed) connect(t testing.TB, login string, sse bool) *mcp.ClientSession {
	t.Helper()
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: tb.url + "/v1/mcp", HTTPClient: as(login)}
	if sse {
		tr = &mcp.SSEClientTransport{Endpoint: tb.url + "/v1/mcp/sse", HTTPClient: as(login)}
	}
	// The SSE transport's stream lives as long as Connect's context.
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("%s connects: %v", login, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestMCPThroughSluice(t *testing.T) {
	tb := newTestbed(t)
	ctx := context.Background()
	defer tb.checkNoSecrets(t)

	t.Run("lists differ by caller and transport", func(t *testing.T) {
		tests := []struct {
			login string
			sse   bool
			want  []string
		}{
			{"alice@example.com", false, []string{"docs_delete", "docs_search", "tracker_close_issue", "tracker_get_issue"}},
			{"bob@example.com", false, []string{"docs_search", "tracker_get_issue"}},
			{"bob@example.com", true, []string{"docs_search", "tracker_get_issue"}},
			{"eve@example.com", false, nil},
		}
		for _, tt := range tests {
			cs := tb.connect(t, tt.login, tt.sse)
			if diff := cmp.Diff(tt.want, toolNames(t, cs)); diff != "" {
				t.Errorf("%s (sse %v) tools (-want +got):\n%s", tt.login, tt.sse, diff)
			}
		}
	})

	alice := tb.connect(t, "alice@example.com", false)
	bob := tb.connect(t, "bob@example.com", true)

	t.Run("calls", func(t *testing.T) {
		tests := []struct {
			name     string
			cs       *mcp.ClientSession
			tool     string
			args     any
			wantText string
			wantErr  bool // an MCP error, as for an unknown tool
			isError  bool // a tool result marked as an error
		}{
			{"alice searches docs", alice, "docs_search", map[string]any{"query": "quotas"}, "found: quotas", false, false},
			{"bob searches docs over SSE", bob, "docs_search", map[string]any{"query": "hooks"}, "found: hooks", false, false},
			{"bob reads an issue over SSE", bob, "tracker_get_issue", map[string]any{"id": 7}, "issue open", false, false},
			{"bob may not delete", bob, "docs_delete", map[string]any{"query": "x"}, "", true, false},
			{"bob may not close", bob, "tracker_close_issue", map[string]any{"id": 7}, "", true, false},
			{"no such connector", alice, "wiki_search", map[string]any{}, "", true, false},
			{"no separator", alice, "search", map[string]any{}, "", true, false},
			{"the hook blocks alice closing", alice, "tracker_close_issue", map[string]any{"id": 7}, "closing issues needs a person", false, true},
			{"the hook rewrites alice's arguments", alice, "tracker_close_issue", map[string]any{"id": 8}, "closed 9", false, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := tt.cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
				if tt.wantErr {
					var re *jsonrpc.Error
					if !errors.As(err, &re) || re.Code != jsonrpc.CodeInvalidParams || !strings.Contains(re.Message, "unknown tool") {
						t.Fatalf("err = %v (%T), want the MCP error for an unknown tool", err, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.IsError != tt.isError || !strings.Contains(text(res), tt.wantText) {
					t.Errorf("result = %q (isError %v), want %q (isError %v)", text(res), res.IsError, tt.wantText, tt.isError)
				}
			})
		}
		tb.hook.mu.Lock()
		defer tb.hook.mu.Unlock()
		if len(tb.hook.got) != 2 {
			t.Fatalf("hook got %d calls, want 2 (only tracker's close_issue is selected)", len(tb.hook.got))
		}
		p := tb.hook.got[0]
		calls, _ := p["tool_calls"].([]any)
		if p["event"] != "tool_call" || len(calls) != 1 || calls[0].(map[string]any)["name"] != "tracker_close_issue" {
			t.Errorf("hook payload = %v; want a tool_call event for tracker_close_issue", p)
		}
	})

	t.Run("resources and prompts", func(t *testing.T) {
		res, err := alice.ListResources(ctx, nil)
		if err != nil || len(res.Resources) != 1 || res.Resources[0].URI != "docs-file:///guide.md" {
			t.Fatalf("alice's resources = %v, %v; want docs-file:///guide.md", res, err)
		}
		read, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs-file:///guide.md"})
		if err != nil || len(read.Contents) != 1 || read.Contents[0].Text != "# Guide" || read.Contents[0].URI != "docs-file:///guide.md" {
			t.Fatalf("read = %v, %v", read, err)
		}
		res, err = bob.ListResources(ctx, nil)
		if err != nil || len(res.Resources) != 0 {
			t.Errorf("bob's resources = %v, %v; want none", res, err)
		}
		if _, err := bob.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs-file:///guide.md"}); err == nil {
			t.Error("bob read a resource he has no grant for")
		}
		prompts, err := alice.ListPrompts(ctx, nil)
		if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "docs_summarize" {
			t.Fatalf("alice's prompts = %v, %v", prompts, err)
		}
		got, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "docs_summarize"})
		if err != nil || len(got.Messages) != 1 {
			t.Errorf("prompt = %v, %v", got, err)
		}
	})

	t.Run("a session is its opener's", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tb.url+"/v1/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", alice.ID())
		if alice.ID() == "" {
			t.Skip("the client negotiated a sessionless protocol")
		}
		res, err := as("bob@example.com").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("bob using alice's session: %d, want 403", res.StatusCode)
		}
	})

	t.Run("a loopback request naming another host is refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tb.url+"/v1/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Host = "ai.attacker.example"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		res, err := as("alice@example.com").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403 (DNS rebinding guard)", res.StatusCode)
		}
	})

	t.Run("records", func(t *testing.T) {
		calls, err := tb.store.(store.ToolCallLog).ToolCalls(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ Login, Connector, Tool, Outcome string }
		var got []row
		for _, c := range calls {
			got = append(got, row{c.Login, c.Connector, c.Tool, c.Outcome})
			if c.Outcome == store.ToolOK && (c.ArgsBytes == 0 || c.Latency <= 0) {
				t.Errorf("record %+v lacks its arguments size or latency", c)
			}
		}
		for _, want := range []row{
			{"alice@example.com", "docs", "search", store.ToolOK},
			{"bob@example.com", "tracker", "get_issue", store.ToolOK},
			{"bob@example.com", "docs", "delete", store.ToolDenied},
			{"alice@example.com", "tracker", "close_issue", store.ToolBlocked},
		} {
			if !slices.Contains(got, want) {
				t.Errorf("records lack %+v; have %+v", want, got)
			}
		}
		// The dashboard's logs show alice her own tool calls, not bob's.
		res, err := as("alice@example.com").Get(tb.url + "/ui/logs")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(page), `id="tool-calls"`) || !strings.Contains(string(page), "close_issue") || strings.Contains(string(page), "get_issue") {
			t.Errorf("alice's logs page (%d) does not list her tool calls alone", res.StatusCode)
		}
	})

	t.Run("a connector that dies mid-session", func(t *testing.T) {
		tb.tracker.CloseClientConnections()
		tb.tracker.Close()
		res, err := bob.CallTool(ctx, &mcp.CallToolParams{Name: "tracker_get_issue", Arguments: map[string]any{"id": 1}})
		if err != nil {
			t.Fatalf("call = %v; want an error result, not a failed session", err)
		}
		if !res.IsError || !strings.Contains(text(res), "connector tracker") {
			t.Errorf("result = %q (isError %v); want an error result naming the connector", text(res), res.IsError)
		}
		// The other connector still serves, and lists leave tracker out.
		if diff := cmp.Diff([]string{"docs_search"}, toolNames(t, bob)); diff != "" {
			t.Errorf("bob's tools after tracker died (-want +got):\n%s", diff)
		}
		res, err = bob.CallTool(ctx, &mcp.CallToolParams{Name: "docs_search", Arguments: map[string]any{"query": "still"}})
		if err != nil || text(res) != "found: still" {
			t.Errorf("docs after tracker died: %v, %v", res, err)
		}
	})
}

func TestHTTPConnector(t *testing.T) {
	tb := newTestbed(t)
	defer tb.checkNoSecrets(t)
	get := func(login, path string) (int, string) {
		t.Helper()
		res, err := as(login).Get(tb.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	t.Run("credential injected, the client's own never sent", func(t *testing.T) {
		status, body := get("alice@example.com", "/v1/connectors/github/repos/sluice/issues?state=open")
		if status != 200 || !strings.Contains(body, "octocat") {
			t.Fatalf("status %d body %q", status, body)
		}
		h := <-tb.github
		if got := h.Get("Authorization"); got != "Bearer gh-secret" {
			t.Errorf("connector saw Authorization %q, want the connector's credential", got)
		}
		if got := h.Get("X-Seen-Path"); got != "/api/repos/sluice/issues?state=open" {
			t.Errorf("connector saw %q", got)
		}
		if strings.Contains(body, "gh-secret") {
			t.Error("the connector's credential reached the client")
		}
	})

	tests := []struct {
		name, login, path string
		want              int
	}{
		{"no grant for the path", "bob@example.com", "/v1/connectors/github/user", http.StatusForbidden},
		{"one segment only", "alice@example.com", "/v1/connectors/crm/a/b", http.StatusForbidden},
		{"no such connector", "alice@example.com", "/v1/connectors/wiki/x", http.StatusNotFound},
		{"an MCP connector is not proxied", "alice@example.com", "/v1/connectors/docs/mcp", http.StatusNotFound},
		{"no identity", "", "/v1/connectors/github/user", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := get(tt.login, tt.path); status != tt.want {
				t.Errorf("status %d (%s), want %d", status, body, tt.want)
			}
		})
	}

	t.Run("a tailnet connector is dialled through the tailnet", func(t *testing.T) {
		before := tb.tailnetDials.Load()
		status, _ := get("alice@example.com", "/v1/connectors/intranet/wiki")
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		h := <-tb.github
		if user, pw, ok := (&http.Request{Header: h}).BasicAuth(); !ok || user != "svc" || pw != "intranet-pw" {
			t.Errorf("connector saw basic auth %q %q %v", user, pw, ok)
		}
		if h.Get("X-Seen-Path") != "/internal/wiki" {
			t.Errorf("connector saw %q", h.Get("X-Seen-Path"))
		}
		if tb.tailnetDials.Load() != before+1 {
			t.Error("the request did not go through the tailnet transport")
		}
	})

	t.Run("oauth2 client credentials fetched once and reused", func(t *testing.T) {
		for range 3 {
			status, body := get("alice@example.com", "/v1/connectors/crm/accounts")
			if status != 200 || body != "Bearer crm-token" {
				t.Fatalf("status %d, connector saw %q", status, body)
			}
		}
		if n := tb.tokens.Load(); n != 1 {
			t.Errorf("token endpoint asked %d times, want 1", n)
		}
	})
}

// BenchmarkToolCall is one tool call through sluice over Streamable HTTP:
// identity, policy, the connector call and the tool call record.
func BenchmarkToolCall(b *testing.B) {
	tb := newTestbed(b)
	cs := tb.connect(b, "alice@example.com", false)
	params := &mcp.CallToolParams{Name: "docs_search", Arguments: map[string]any{"query": "q"}}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := cs.CallTool(context.Background(), params); err != nil || res.IsError {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkListTools is tools/list through sluice with two connectors.
func BenchmarkListTools(b *testing.B) {
	tb := newTestbed(b)
	cs := tb.connect(b, "alice@example.com", false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
}
