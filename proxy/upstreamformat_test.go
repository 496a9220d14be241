package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/rego"
)

// TestPolicySeesUpstreamFormat: policy is asked with the format the
// provider will be called in beside the caller's; without translation they
// are the same, so a policy forbidding translation changes nothing, and a
// policy on the upstream format applies.
func TestPolicySeesUpstreamFormat(t *testing.T) {
	tests := []struct {
		name       string
		module     string
		path, body string
		wantStatus int
		wantBody   string
	}{
		{name: "no translation policy lets a same-format request through",
			module: `deny contains "no translation" if input.request.upstream_format != input.request.format`,
			path:   "/v1/messages", body: `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}`,
			wantStatus: http.StatusOK},
		{name: "policy on the upstream format applies",
			module: `deny contains "no anthropic upstream" if input.request.upstream_format == "anthropic_messages"`,
			path:   "/v1/messages", body: `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}`,
			wantStatus: http.StatusForbidden, wantBody: "no anthropic upstream"},
		{name: "policy on another upstream format does not",
			module: `deny contains "no anthropic upstream" if input.request.upstream_format == "anthropic_messages"`,
			path:   "/v1/chat/completions", body: `{"model":"gpt-5","messages":[]}`,
			wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := rego.Module{Name: "formats.rego", Text: []byte("package sluice.authz\n\n" + tt.module + "\n")}
			gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) {
				o.EngineOptions = append(o.EngineOptions, engine.WithModules(mod))
			})
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %s lacks %q", body, tt.wantBody)
			}
		})
	}
}
