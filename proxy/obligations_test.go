package proxy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/rego"
)

// obligationsConfig is testdata/rego/obligations/config.hujson with the
// mock upstream and hook receiver in place of the real hosts; the team
// module that `opa test` checks there is the one enforced here.
const obligationsConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM/openai", "apikey": "sk-test", "models": ["gpt-5", "gpt-5-mini"]},
		"azure": {"baseurl": "UPSTREAM/azure", "apikey": "sk-test", "models": ["gpt-5", "gpt-5-mini"]},
		"anthropic": {"baseurl": "UPSTREAM/anthropic", "apikey": "sk-ant-test", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"hooks": {"guard": {"url": "HOOK/guard"}, "audit": {"url": "HOOK/audit"}},
	"grants": [
		{"src": ["*"], "app": {"tailscale.com/cap/aperture": [
			{"role": "user"},
			{"models": "**", "add_headers": ["X-Team: eng"],
			 "send_hooks": [{"name": "audit", "events": ["entire_request"], "send": ["request_body", "response_body"]}]},
		]}},
	],
}`

func newObligationsGateway(t *testing.T, login string) (*gateway, *receiver) {
	t.Helper()
	text, err := os.ReadFile("../testdata/rego/obligations/team_obligations_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	mod := rego.Module{Name: "team.rego", Text: text}
	rc := newReceiver(t)
	gw := newGateway(t, strings.ReplaceAll(obligationsConfig, "HOOK", rc.URL), login, func(o *Options) {
		o.EngineOptions = append(o.EngineOptions, engine.WithModules(mod))
	})
	for _, p := range []string{"/openai", "/azure"} {
		gw.upstream.Handle(p+"/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	}
	gw.upstream.Handle("/anthropic/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
	return gw, rc
}

// TestObligationsEnforced: what the team's module obliges reaches the
// upstream and the hooks: the capped max_tokens in the caller's format,
// the forced model and provider, the grant's header, the required hook,
// the redacted hook field, the full capture.
func TestObligationsEnforced(t *testing.T) {
	const ask = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, login, path, body string
		wantPath                string // upstream path
		wantModel               string
		wantCap                 string // the cap member and value in the upstream body
		wantGuard               bool   // the required hook was called
		wantAuditBody           bool   // audit's payload has request_body
		wantCapture             bool
	}{
		{"no obligations of the team", "dev@company.com", "/v1/chat/completions", `{"model":"gpt-5","max_tokens":1000,` + ask + `}`,
			"/openai/v1/chat/completions", "gpt-5", `"max_tokens":1000`, false, true, false},
		{"intern: capped, forced to the small model, guarded, redacted, captured", "intern@company.com", "/v1/chat/completions",
			`{"model":"gpt-5","max_completion_tokens":1000,` + ask + `}`,
			"/openai/v1/chat/completions", "gpt-5-mini", `"max_completion_tokens":256`, true, false, true},
		{"intern without a cap of their own gets one", "intern@company.com", "/v1/chat/completions", `{"model":"gpt-5-mini",` + ask + `}`,
			"/openai/v1/chat/completions", "gpt-5-mini", `"max_tokens":256`, true, false, true},
		{"a request under the cap keeps its own", "intern@company.com", "/v1/chat/completions", `{"model":"gpt-5-mini","max_tokens":10,` + ask + `}`,
			"/openai/v1/chat/completions", "gpt-5-mini", `"max_tokens":10`, true, false, true},
		{"smallest cap wins, anthropic format", "temp@company.com", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,` + ask + `}`,
			"/anthropic/v1/messages", "claude-sonnet-4-5", `"max_tokens":64`, true, false, true},
		{"contractor: forced to azure", "bob@contractor.example", "/v1/chat/completions", `{"model":"gpt-5",` + ask + `}`,
			"/azure/v1/chat/completions", "gpt-5", "", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, rc := newObligationsGateway(t, tt.login)
			resp, body := post(t, gw.URL+tt.path, map[string]string{"anthropic-version": "2023-06-01"}, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			up := gw.upstream.Last(t)
			if up.Path != tt.wantPath {
				t.Errorf("upstream path %s, want %s", up.Path, tt.wantPath)
			}
			var sent struct {
				Model string `json:"model"`
			}
			json.Unmarshal(up.Body, &sent)
			if sent.Model != tt.wantModel {
				t.Errorf("upstream model %q, want %q", sent.Model, tt.wantModel)
			}
			if tt.wantCap != "" && !strings.Contains(string(up.Body), tt.wantCap) {
				t.Errorf("upstream body %s lacks %s", up.Body, tt.wantCap)
			}
			if got := up.Header.Get("X-Team"); got != "eng" {
				t.Errorf("upstream X-Team = %q, want the grant's eng", got)
			}
			drain(t, gw)
			if got := len(rc.events("pre_request")); (got == 1) != tt.wantGuard {
				t.Errorf("guard called %d times, want it called: %v", got, tt.wantGuard)
			}
			audits := rc.events("entire_request")
			if len(audits) != 1 {
				t.Fatalf("audit called %d times, want 1", len(audits))
			}
			_, hasBody := audits[0].Payload["request_body"]
			if hasBody != tt.wantAuditBody {
				t.Errorf("audit payload has request_body: %v, want %v (keys %v)", hasBody, tt.wantAuditBody, mapKeys(audits[0].Payload))
			}
			recs := gw.sink.all()
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			if captured := len(recs[0].RawRequest) > 0 && len(recs[0].RawResponse) > 0; captured != tt.wantCapture {
				t.Errorf("record captured bodies: %v, want %v", captured, tt.wantCapture)
			}
			if tt.wantCapture && string(recs[0].RawRequest) != string(up.Body) {
				t.Errorf("captured request %s, but the upstream got %s", recs[0].RawRequest, up.Body)
			}
		})
	}
}

// TestRequiredHookFailsClosed: a hook the policy requires refuses the
// request when it cannot be reached, though its own fail_policy is open;
// the upstream is never called.
func TestRequiredHookFailsClosed(t *testing.T) {
	gw, rc := newObligationsGateway(t, "intern@company.com")
	rc.answer = func(path string, _ map[string]any) (int, string) {
		if path == "/guard" {
			return 500, `{}`
		}
		return 200, `{}`
	}
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 503 || !strings.Contains(body, "guard") {
		t.Fatalf("status %d body %s, want 503 naming the guard hook", resp.StatusCode, body)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

// TestConflictingObligationsRefuse: two forced models refuse the request
// with the reason, in the caller's format.
func TestConflictingObligationsRefuse(t *testing.T) {
	mod := rego.Module{Name: "conflict.rego", Text: []byte(`package sluice.authz

obligations contains {"action": "force_model", "model": "gpt-5-mini", "grant": "a"}

obligations contains {"action": "force_model", "model": "gpt-5", "grant": "b"}
`)}
	gw := newGateway(t, strings.ReplaceAll(obligationsConfig, "HOOK", "http://127.0.0.1:1"), "dev@company.com", func(o *Options) {
		o.EngineOptions = append(o.EngineOptions, engine.WithModules(mod))
	})
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`)
	if resp.StatusCode != 403 || !strings.Contains(body, "policy forces different models (gpt-5, gpt-5-mini)") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

func mapKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
