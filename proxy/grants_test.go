package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
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

// TestGrantsRecorded: the request log, read back through /api/requests
// from a real SQLite store, says which grant allowed each request — a
// grant of the config or a capability of the tailnet policy file — and
// names none for a refused one.
func TestGrantsRecorded(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	writer := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond})
	rc := newReceiver(t)
	tailnetCaps := []json.RawMessage{json.RawMessage(`{"models": "anthropic/**"}`)}
	gw := newGateway(t, strings.ReplaceAll(grantsGatewayConfig, "HOOK", rc.URL), "", func(o *Options) {
		o.Sink, o.Store = writer, st
		o.Identity = identity.ResolverFunc(func(r *http.Request) (identity.Identity, error) {
			who := identity.Identity{Login: r.Header.Get("X-Test-Login")}
			if who.Login == "carol@example.com" {
				who.Caps = tailnetCaps
			}
			return who, nil
		})
	})
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})

	tests := []struct {
		name, login, path, body string
		wantStatus              int
		wantGrants              []string
	}{
		{"config grant", "bob@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 200,
			[]string{"grants[0].app.tailscale.com/cap/aperture[1]"}},
		{"two config grants", "alice@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 200,
			[]string{"grants[0].app.tailscale.com/cap/aperture[1]", "grants[1].app.tailscale.com/cap/aperture[0]"}},
		{"tailnet policy file", "carol@example.com", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`, 200,
			[]string{"tailnet:caps[0]"}},
		{"no role", "eve@else.org", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 403, nil},
		{"role without the model", "bob@example.com", "/v1/chat/completions", `{"model":"gpt-5-mini","messages":[]}`, 404, nil},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		resp, body := post(t, gw.URL+tt.path, map[string]string{"X-Test-Login": tt.login}, tt.body)
		if resp.StatusCode != tt.wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.wantStatus, body)
		}
		ids[i] = resp.Header.Get(headerRequestID)
	}
	if err := gw.srv.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := writer.Close(ctx); err != nil {
		t.Fatal(err)
	}

	type row struct {
		ID     string   `json:"id"`
		Status int      `json:"status"`
		Grants []string `json:"grants"`
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list struct {
				Requests []json.RawMessage `json:"requests"`
			}
			getAs(t, gw.URL+"/api/requests", tt.login, &list)
			var found bool
			for _, raw := range list.Requests {
				var r row
				if err := json.Unmarshal(raw, &r); err != nil {
					t.Fatal(err)
				}
				if r.ID != ids[i] {
					continue
				}
				found = true
				if r.Status != tt.wantStatus || !slices.Equal(r.Grants, tt.wantGrants) {
					t.Errorf("/api/requests row: status %d grants %q, want %d %q", r.Status, r.Grants, tt.wantStatus, tt.wantGrants)
				}
				if tt.wantGrants == nil && strings.Contains(string(raw), `"grants"`) {
					t.Errorf("refused request shows grants: %s", raw)
				}
			}
			if !found {
				t.Fatalf("/api/requests as %s lacks request %s", tt.login, ids[i])
			}
			var detail struct {
				Request row `json:"request"`
			}
			getAs(t, gw.URL+"/api/requests/"+ids[i], tt.login, &detail)
			if !slices.Equal(detail.Request.Grants, tt.wantGrants) {
				t.Errorf("/api/requests/%s grants %q, want %q", ids[i], detail.Request.Grants, tt.wantGrants)
			}
		})
	}
}

// getAs GETs url as login and decodes its JSON answer into out.
func getAs(t *testing.T, url, login string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Test-Login", login)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as %s: %d %s", url, login, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// TestMetricsByCapability: /metrics answers a caller whose read_metrics
// capability comes from the config's grants or from the tailnet policy
// file, as it answers admins, and refuses one with only a user role.
func TestMetricsByCapability(t *testing.T) {
	cfg := `{
		"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5"]}},
		"grants": [
			{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "openai/*"}]}},
			{"src": ["tag:prometheus"], "app": {"tailscale.com/cap/aperture": [{"read_metrics": true}]}},
		],
	}`
	tests := []struct {
		name string
		who  identity.Identity
		want int
	}{
		{"config capability", identity.Identity{Login: "tag:prometheus", Tags: []string{"tag:prometheus"}}, http.StatusOK},
		{"tailnet capability", identity.Identity{Login: "scraper@example.com",
			Caps: []json.RawMessage{json.RawMessage(`{"read_metrics": true}`)}}, http.StatusOK},
		{"user role only", identity.Identity{Login: "alice@example.com"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, cfg, "", func(o *Options) {
				o.Identity = identity.ResolverFunc(func(*http.Request) (identity.Identity, error) { return tt.who, nil })
			})
			resp, err := http.Get(gw.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == http.StatusOK && !strings.Contains(string(body), "sluice_hook_queue_length") {
				t.Errorf("no metrics in the answer: %s", body)
			}
		})
	}
}
