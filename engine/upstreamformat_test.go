package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// noTranslation is the module a security team writes to keep callers on
// the format they speak.
const noTranslation = `package sluice.authz

deny contains "translation between API formats is not allowed" if {
	input.request.upstream_format != input.request.format
}
`

// TestUpstreamFormat: policy sees the format the provider is called in
// beside the caller's, the same one when the caller leaves it out, and
// decisions are memoized per pair.
func TestUpstreamFormat(t *testing.T) {
	e := newEngine(t, loadCase(t, "restrict-users"), WithModules(rego.Module{Name: "nt.rego", Text: []byte(noTranslation)}))
	withUp := func(up string) Input {
		i := in("developer@company.com", "openai", "gpt-5")
		i.Request.UpstreamFormat = up
		return i
	}
	tests := []struct {
		name      string
		in        Input
		wantAllow bool
	}{
		{"not set means the caller's format", withUp(""), true},
		{"same format", withUp(policy.FormatOpenAIChat), true},
		{"translated", withUp(policy.FormatAnthropicMessages), false},
		{"same again, after a cached denial of the pair", withUp(policy.FormatOpenAIChat), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow {
				t.Errorf("allow = %v, want %v (reasons %q)", d.Allow, tt.wantAllow, d.Reasons)
			}
			if !tt.wantAllow && !slices.Contains(d.Reasons, "translation between API formats is not allowed") {
				t.Errorf("reasons %q lack the module's", d.Reasons)
			}
		})
	}
}
