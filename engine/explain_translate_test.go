package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// TestExplainRouteTranslates: an explanation asks policy with the upstream
// format the gateway would call the provider in, so a policy that forbids
// translation is explained as it decides, and a provider reachable only by
// translating is a candidate.
func TestExplainRouteTranslates(t *testing.T) {
	cfg := parseConfig(t, `{"providers": {
		"chatonly": {"baseurl": "https://chat.example", "apikey": "k", "models": ["m1"], "translate": true,
			"compatibility": {"openai_chat": true}},
		"plain": {"baseurl": "https://plain.example", "apikey": "k", "models": ["m2"],
			"compatibility": {"openai_chat": true}}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]}`)
	open := newEngine(t, cfg)
	strict := newEngine(t, cfg, WithModules(rego.Module{Name: "nt.rego", Text: []byte(noTranslation)}))
	anth := func(provider, model string) Input {
		return Input{
			User:    User{Login: "dev@example.com"},
			Request: Request{Provider: provider, Model: model, Format: policy.FormatAnthropicMessages, Path: "/v1/messages"},
		}
	}
	tests := []struct {
		name         string
		e            *Engine
		in           Input
		err          error
		allow        bool
		wantUpstream string
	}{
		{"routed, translated", open, anth("", "m1"), nil, true, policy.FormatOpenAIChat},
		{"routed, translation forbidden", strict, anth("", "m1"), nil, false, policy.FormatOpenAIChat},
		{"named provider, translation forbidden", strict, anth("chatonly", "m1"), nil, false, policy.FormatOpenAIChat},
		{"native format passes the strict policy", strict, Input{User: User{Login: "dev@example.com"},
			Request: Request{Model: "m1", Format: policy.FormatOpenAIChat, Path: "/v1/chat/completions"}}, nil, true, policy.FormatOpenAIChat},
		{"provider that does not translate is no candidate", open, anth("", "m2"), ErrNoProvider, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _, err := tt.e.ExplainRoute(context.Background(), tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if x.Decision.Allow != tt.allow {
				t.Errorf("allow %v, want %v (reasons %q)", x.Decision.Allow, tt.allow, x.Decision.Reasons)
			}
			if got := x.Input.Request.UpstreamFormat; got != tt.wantUpstream {
				t.Errorf("explained with upstream_format %q, want %q", got, tt.wantUpstream)
			}
		})
	}
}
