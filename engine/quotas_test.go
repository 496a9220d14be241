package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecideQuotas: the decision lists the buckets the request is charged
// in, from grants capabilities and temp_grants quotas grants alike, by
// their configured names; a policy file grant charging an undefined bucket
// refuses.
func TestDecideQuotas(t *testing.T) {
	e := newEngine(t, loadCase(t, "quotas"))
	tests := []struct {
		name      string
		in        Input
		wantAllow bool
		want      []string
	}{
		{"team member on anthropic", in("alice@company.com", "anthropic", "claude-sonnet-4-5"), true, []string{"daily:<user>", "org", "team-eng"}},
		{"team member on openai", in("alice@company.com", "openai", "gpt-5"), true, []string{"org"}},
		{"outsider", in("eve@else.org", "anthropic", "claude-sonnet-4-5"), true, []string{"org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow {
				t.Errorf("allow %v, want %v (%v)", d.Allow, tt.wantAllow, d.Reasons)
			}
			if diff := cmp.Diff(tt.want, d.Quotas); diff != "" {
				t.Errorf("quotas (-want +got):\n%s", diff)
			}
		})
	}
	undefined := in("alice@company.com", "openai", "gpt-5")
	undefined.Caps = []json.RawMessage{json.RawMessage(`{"quotas": [{"bucket": "nope"}]}`)}
	d, err := e.Decide(context.Background(), undefined)
	if err != nil || d.Allow || d.Code != CodeDenied {
		t.Errorf("undefined bucket from the policy file: allow %v code %q err %v; want denied", d.Allow, d.Code, err)
	}
}
