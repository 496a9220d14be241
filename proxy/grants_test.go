package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

const grantsGatewayConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5", "gpt-5-mini"]},
		"anthropic": {"baseurl": "UPSTREAM/anth/", "apikey": "sk-ant-provider", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"hooks": {"audit": {"url": "HOOK/audit"}},
	"grants": [
		{"src": ["*@example.com"], "app": {
			"tailscale.com/cap/aperture": [
				{"role": "user"},
				{"models": "openai/gpt-5", "add_headers": ["X-Project: blue", "X-Client-Set: grant"],
				 "send_hooks": [{"name": "audit", "events": ["entire_request"], "send": ["user_message"]}]},
			],
			"example.com/cap/tier": [{"tier": "gold"}],
		}},
		{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
			{"models": ["openai/gpt-5"], "send_hooks": [{"name": "audit", "events": ["entire_request"], "send": ["request_body", "grants"]}]},
		]}},
	],
}`

func newGrantsGateway(t *testing.T, login string) (*gateway, *receiver) {
	t.Helper()
	rc := newReceiver(t)
	gw := newGateway(t, strings.ReplaceAll(grantsGatewayConfig, "HOOK", rc.URL), login)
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
	return gw, rc
}

// TestGrantsStatuses: no role is 403, a role without the model is 404, in
// the caller's format; neither reaches the upstream.
func TestGrantsStatuses(t *testing.T) {
	tests := []struct {
		name, login, path, body string
		wantStatus              int
		wantBody                string
	}{
		{"no role is 403", "eve@else.org", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 403, `not allowed to use model \"gpt-5\"`},
		{"role without model is 404 (openai)", "bob@example.com", "/v1/chat/completions", `{"model":"gpt-5-mini","messages":[]}`, 404, `"error":{`},
		{"role without model is 404 (anthropic)", "bob@example.com", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`, 404, `not_found_error`},
		{"granted model", "bob@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 200, `"content":"hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, _ := newGrantsGateway(t, tt.login)
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d body %s, want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if n := len(gw.upstream.Received()); (tt.wantStatus == 200) != (n == 1) {
				t.Errorf("upstream received %d requests", n)
			}
		})
	}
}

// TestGrantsAddHeaders: add_headers reach the upstream, replacing a
// client's value, and never carry credentials.
func TestGrantsAddHeaders(t *testing.T) {
	gw, _ := newGrantsGateway(t, "bob@example.com")
	resp, body := post(t, gw.URL+"/v1/chat/completions", map[string]string{"X-Client-Set": "client", "Authorization": "Bearer client-key"}, `{"model":"gpt-5","messages":[]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	h := gw.upstream.Last(t).Header
	if h.Get("X-Project") != "blue" || h.Values("X-Client-Set")[0] != "grant" || len(h.Values("X-Client-Set")) != 1 {
		t.Errorf("upstream headers X-Project=%q X-Client-Set=%q", h.Get("X-Project"), h.Values("X-Client-Set"))
	}
	if h.Get("Authorization") != "Bearer sk-provider-openai" {
		t.Errorf("authorization = %q", h.Get("Authorization"))
	}
}

// TestGrantsHookOnce: a hook wired by two grants is called once per
// event, with the union of their fields, and custom capabilities in
// metadata.grants.
func TestGrantsHookOnce(t *testing.T) {
	gw, rc := newGrantsGateway(t, "alice@example.com")
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	drain(t, gw)
	got := rc.events("entire_request")
	if len(got) != 1 {
		t.Fatalf("audit called %d times, want once", len(got))
	}
	p := got[0].Payload
	if p["user_message"] != "hi" || p["request_body"] == nil {
		t.Errorf("payload lacks the union of fields: %v", p)
	}
	meta, _ := p["metadata"].(map[string]any)
	grants, _ := json.Marshal(meta["grants"])
	if string(grants) != `{"example.com/cap/tier":[{"tier":"gold"}]}` {
		t.Errorf("metadata.grants = %s", grants)
	}
}

// TestGrantsFromTailnetCaps: capabilities from the tailnet policy file
// (identity Caps, from WhoIs) grant a model the config does not.
func TestGrantsFromTailnetCaps(t *testing.T) {
	rc := newReceiver(t)
	cfg := strings.ReplaceAll(grantsGatewayConfig, "HOOK", rc.URL)
	caps := []json.RawMessage{json.RawMessage(`{"models": "anthropic/**"}`)}
	gw := newGateway(t, cfg, "carol@example.com", func(o *Options) {
		o.Identity = identity.ResolverFunc(func(*http.Request) (identity.Identity, error) {
			return identity.Identity{Login: "carol@example.com", Caps: caps}, nil
		})
	})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
	resp, body := post(t, gw.URL+"/v1/messages", nil, `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}
