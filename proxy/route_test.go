package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// routingConfig serves gpt-5 on "openai" and gemini-2.5-flash on
// "google"; "openrouter" is the default provider and sends an identity of
// its own. Bob may use gpt-5 only.
const routingConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM/openai", "apikey": "sk-openai", "models": ["gpt-5"]},
		"google": {"baseurl": "UPSTREAM/google", "apikey": "g-key", "authorization": "x-goog-api-key", "models": ["gemini-2.5-flash"],
			"compatibility": {"openai_chat": false, "gemini_generate_content": true}},
		"openrouter": {"baseurl": "UPSTREAM/or", "apikey": "sk-or", "models": ["openai/gpt-4o"],
			"headers": {"User-Agent": "MyApp/1.0", "HTTP-Referer": "https://app.example", "X-Title": "MyApp"}},
	},
	"model_aliases": [
		{"pattern": "^gpt-4(.*)$", "replacement": "openrouter:openai/gpt-4\\1"},
		{"pattern": "^cheap$", "replacement": "gpt-5?temperature=0.2&max_tokens=64"},
		{"pattern": "^flash$", "replacement": "gemini-2.5-flash?max_tokens=32"},
	],
	"routing": {"default_provider": "openrouter"},
	"temp_grants": [
		{"src": ["*"], "grants": [{"role": "user"}]},
		{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "openai", "model": "gpt-5"}]}]},
	],
}`

// TestRouting: aliases, forced models and inline parameters decide what
// the provider receives, policy judges that, and the record keeps both
// the requested and the routed model.
func TestRouting(t *testing.T) {
	tests := []struct {
		name       string
		login      string
		force      string
		path       string
		body       string
		wantStatus int
		// wantPath and wantBody are what the provider received (wantBody
		// as the JSON members that must be there).
		wantPath      string
		wantMembers   map[string]any
		wantProvider  string
		wantRequested string
		wantModel     string
		wantError     string
	}{
		{name: "alias with capture to an explicit provider", body: `{"model":"gpt-4o","messages":[]}`,
			wantStatus: 200, wantPath: "/or/v1/chat/completions", wantMembers: map[string]any{"model": "openai/gpt-4o"},
			wantProvider: "openrouter", wantRequested: "gpt-4o", wantModel: "openai/gpt-4o"},
		{name: "alias with inline parameters", body: `{"model":"cheap","messages":[],"max_tokens":4000}`,
			wantStatus: 200, wantPath: "/openai/v1/chat/completions", wantMembers: map[string]any{"model": "gpt-5", "temperature": 0.2, "max_tokens": 64.0},
			wantProvider: "openai", wantRequested: "cheap", wantModel: "gpt-5"},
		{name: "explicit provider and parameters in the request", body: `{"model":"openai:gpt-5?top_p=0.5","messages":[]}`,
			wantStatus: 200, wantPath: "/openai/v1/chat/completions", wantMembers: map[string]any{"model": "gpt-5", "top_p": 0.5},
			wantProvider: "openai", wantRequested: "openai:gpt-5?top_p=0.5", wantModel: "gpt-5"},
		{name: "path model rewritten for gemini", path: "/v1beta/models/flash:generateContent", body: `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			wantStatus: 200, wantPath: "/google/v1beta/models/gemini-2.5-flash:generateContent",
			wantMembers:  map[string]any{"generationConfig": map[string]any{"maxOutputTokens": 32.0}},
			wantProvider: "google", wantRequested: "flash", wantModel: "gemini-2.5-flash"},
		{name: "forced model", force: "gpt-5", body: `{"model":"claude-opus","messages":[]}`,
			wantStatus: 200, wantPath: "/openai/v1/chat/completions", wantMembers: map[string]any{"model": "gpt-5"},
			wantProvider: "openai", wantRequested: "claude-opus", wantModel: "gpt-5"},
		{name: "default provider takes an unlisted model", body: `{"model":"mistral/large","messages":[]}`,
			wantStatus: 200, wantPath: "/or/v1/chat/completions", wantMembers: map[string]any{"model": "mistral/large"},
			wantProvider: "openrouter", wantModel: "mistral/large"},
		{name: "policy judges the routed model", login: "bob@example.com", body: `{"model":"gpt-4o","messages":[]}`,
			wantStatus: 403, wantError: `not allowed to use model \"openai/gpt-4o\"`, wantRequested: "gpt-4o", wantModel: "openai/gpt-4o"},
		{name: "an alias to an allowed model is allowed", login: "bob@example.com", body: `{"model":"cheap","messages":[]}`,
			wantStatus: 200, wantPath: "/openai/v1/chat/completions", wantMembers: map[string]any{"model": "gpt-5"},
			wantProvider: "openai", wantRequested: "cheap", wantModel: "gpt-5"},
		{name: "unknown parameter", body: `{"model":"gpt-5?temperature=hot","messages":[]}`,
			wantStatus: 400, wantError: `temperature=\"hot\": want a number from 0 to 2`},
		{name: "explicit provider that does not serve the model", body: `{"model":"google:gpt-5","messages":[]}`,
			wantStatus: 404, wantError: `provider google does not serve model \"gpt-5\"`, wantRequested: "google:gpt-5", wantModel: "gpt-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			login := tt.login
			if login == "" {
				login = "alice@example.com"
			}
			gw := newGateway(t, routingConfig, login, func(o *Options) { o.ForceModel = tt.force })
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			path := tt.path
			if path == "" {
				path = "/v1/chat/completions"
			}
			resp, got := post(t, gw.URL+path, map[string]string{"User-Agent": "client/9", "Authorization": "Bearer client-secret"}, tt.body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(got, tt.wantError) {
				t.Fatalf("client got %d %s, want %d with %q", resp.StatusCode, got, tt.wantStatus, tt.wantError)
			}
			rec := waitRecords(t, gw, 1)[0]
			if rec.RequestedModel != tt.wantRequested || (tt.wantModel != "" && rec.Model != tt.wantModel) || rec.Provider != tt.wantProvider {
				t.Errorf("record requested %q model %q provider %q, want %q %q %q",
					rec.RequestedModel, rec.Model, rec.Provider, tt.wantRequested, tt.wantModel, tt.wantProvider)
			}
			if tt.wantPath == "" {
				if n := len(gw.upstream.Received()); n != 0 {
					t.Errorf("the upstream got %d requests; want none", n)
				}
				return
			}
			up := gw.upstream.Last(t)
			if up.Path != tt.wantPath {
				t.Errorf("upstream path = %s, want %s", up.Path, tt.wantPath)
			}
			var sent map[string]any
			if err := json.Unmarshal(up.Body, &sent); err != nil {
				t.Fatalf("upstream body %s: %v", up.Body, err)
			}
			for k, want := range tt.wantMembers {
				if diff := cmp.Diff(want, sent[k]); diff != "" {
					t.Errorf("upstream body member %s (-want +got):\n%s", k, diff)
				}
			}
			if got := up.Header.Get("Authorization"); strings.Contains(got, "client-secret") {
				t.Errorf("the client's credential reached the provider: %q", got)
			}
		})
	}
}

// TestProviderHeaders: a provider's headers replace the client's identity
// upstream; other providers see the client's, and credentials are the
// provider's own.
func TestProviderHeaders(t *testing.T) {
	gw := newGateway(t, routingConfig, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	for _, model := range []string{"openai/gpt-4o", "gpt-5"} {
		resp, body := post(t, gw.URL+"/v1/chat/completions", map[string]string{"User-Agent": "client/9"}, `{"model":"`+model+`","messages":[]}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", model, resp.StatusCode, body)
		}
	}
	got := gw.upstream.Received()
	or, openai := got[0].Header, got[1].Header
	want := map[string]string{"User-Agent": "MyApp/1.0", "Http-Referer": "https://app.example", "X-Title": "MyApp", "Authorization": "Bearer sk-or"}
	for k, v := range want {
		if or.Get(k) != v || len(or.Values(k)) != 1 {
			t.Errorf("openrouter got %s: %q, want %q", k, or.Values(k), v)
		}
	}
	if ua := openai.Get("User-Agent"); ua != "client/9" || openai.Get("X-Title") != "" {
		t.Errorf("openai got User-Agent %q X-Title %q; want the client's and none", ua, openai.Get("X-Title"))
	}
}

// TestGrantForceModel: a force_model capability sends its sources'
// requests to its model, policy judging that model; others keep theirs;
// two capabilities forcing different models refuse the request.
func TestGrantForceModel(t *testing.T) {
	const config = `{
	"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-openai", "models": ["gpt-5", "gpt-5-mini"]}},
	"grants": [
		{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user", "models": "openai/*"}]}},
		{"src": ["intern@example.com", "twice@example.com"], "app": {"tailscale.com/cap/aperture": [{"force_model": "gpt-5-mini"}]}},
		{"src": ["twice@example.com"], "app": {"tailscale.com/cap/aperture": [{"force_model": "gpt-5"}]}},
	],
}`
	tests := []struct {
		login      string
		wantStatus int
		wantModel  string
		wantError  string
	}{
		{login: "intern@example.com", wantStatus: 200, wantModel: "gpt-5-mini"},
		{login: "staff@example.com", wantStatus: 200, wantModel: "gpt-5"},
		{login: "twice@example.com", wantStatus: 403, wantError: "policy forces different models (gpt-5, gpt-5-mini)"},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			gw := newGateway(t, config, tt.login)
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			resp, got := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(got, tt.wantError) {
				t.Fatalf("client got %d %s, want %d with %q", resp.StatusCode, got, tt.wantStatus, tt.wantError)
			}
			if tt.wantModel == "" {
				return
			}
			var sent struct{ Model string }
			if err := json.Unmarshal(gw.upstream.Last(t).Body, &sent); err != nil || sent.Model != tt.wantModel {
				t.Errorf("the provider was asked for %q (%v), want %q", sent.Model, err, tt.wantModel)
			}
		})
	}
}
