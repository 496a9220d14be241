package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
)

// TestDecideConnector decides tool, resource and proxy access from the
// grants section, the older temp_grants mcp grants and the tailnet policy
// file, as /v1/mcp and /v1/connectors/ ask.
func TestDecideConnector(t *testing.T) {
	cfg, err := policy.Parse("c.hujson", []byte(`{
"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
"connectors": {"servers": {"docs": {"protocol": "mcp", "url": "https://docs.example/mcp", "labels": ["public"]}}},
"grants": [
	{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}},
	{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [{"connectors": ["docs/tools/search", "github/proxy/**"]}]}},
	{"src": ["bob@example.com"], "app": {"tailscale.com/cap/aperture": [{"connectors": ["label:public"]}]}},
],
"temp_grants": [{"src": ["carol@example.com"], "grants": [{"mcp": [{"server": "docs", "tool": "get_*"}]}]}],
}`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		login string
		caps  []json.RawMessage
		req   ConnectorRequest
		want  bool
	}{
		{"granted tool", "alice@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "search"}, true},
		{"other tool", "alice@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "delete"}, false},
		{"proxy path", "alice@example.com", nil, ConnectorRequest{Server: "github", Kind: KindProxy, Tool: "repos/a/b"}, true},
		{"label grants all", "bob@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindResources, Tool: "file:///x", Labels: []string{"public"}}, true},
		{"label missing", "bob@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "search"}, false},
		{"temp_grants mcp", "carol@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "get_page"}, true},
		{"temp_grants mcp is tools only", "carol@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindPrompts, Tool: "get_page"}, false},
		{"tailnet policy file", "dave@example.com", []json.RawMessage{json.RawMessage(`{"connectors": ["docs/prompts/*"]}`)},
			ConnectorRequest{Server: "docs", Kind: KindPrompts, Tool: "summarize"}, true},
		{"nobody", "eve@example.com", nil, ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "search"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.DecideConnector(context.Background(), Input{User: User{Login: tt.login}, Caps: tt.caps}, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DecideConnector = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkDecideConnector(b *testing.B) {
	cfg, err := policy.Parse("c.hujson", []byte(`{
"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
"grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"connectors": ["docs/tools/get_*", "label:eng"]}]}}],
}`), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{User: User{Login: "alice@example.com"}}
	req := ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "get_page"}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.DecideConnector(context.Background(), in, req); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// TestReloadKeepsOtherCallersConnectorDecisions: a reload that changes
// one caller's connector grants answers that caller anew and keeps the
// other callers' memoized connector decisions.
func TestReloadKeepsOtherCallersConnectorDecisions(t *testing.T) {
	config := func(alice string) *policy.Config {
		return parseConfig(t, `{
"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
"connectors": {"servers": {"docs": {"protocol": "mcp", "url": "https://docs.example/mcp"}}},
"grants": [
	{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}},
	{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [{"connectors": ["`+alice+`"]}]}},
	{"src": ["bob@example.com"], "app": {"tailscale.com/cap/aperture": [{"connectors": ["docs/tools/*"]}]}},
]}`)
	}
	ctx := context.Background()
	e := newEngine(t, config("docs/tools/search"))
	search := ConnectorRequest{Server: "docs", Kind: KindTools, Tool: "search"}
	for _, login := range []string{"alice@example.com", "bob@example.com"} {
		if ok, err := e.DecideConnector(ctx, Input{User: User{Login: login}}, search); err != nil || !ok {
			t.Fatalf("%s before the reload: %v, %v", login, ok, err)
		}
	}
	if err := e.Update(ctx, config("docs/tools/read")); err != nil {
		t.Fatal(err)
	}
	if n := e.cur.Load().connectorCache.len(); n != 1 {
		t.Errorf("the reload kept %d connector decisions, want bob's one", n)
	}
	for login, want := range map[string]bool{"alice@example.com": false, "bob@example.com": true} {
		if ok, err := e.DecideConnector(ctx, Input{User: User{Login: login}}, search); err != nil || ok != want {
			t.Errorf("%s after the reload: %v, %v; want %v", login, ok, err, want)
		}
	}
}
