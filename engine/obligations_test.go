package engine

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// TestDecideObligations: the obligations of the team module of
// testdata/rego/obligations, merged with those the grants produce, in the
// decision the gateway carries out.
func TestDecideObligations(t *testing.T) {
	text, err := os.ReadFile("../testdata/rego/obligations/team_obligations_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, loadCase(t, "obligations"), WithModules(rego.Module{Name: "team.rego", Text: text}))
	grant := "grants[0].app.tailscale.com/cap/aperture[1]"
	audit := HookGrant{Hook: "audit", Fields: []string{"request_body", "response_body"}, Events: []string{"entire_request"},
		Providers: []string{}, Models: []string{}, Grant: grant}
	guard := HookGrant{Hook: "guard", Fields: []string{"user_message"}, Events: []string{"pre_request"},
		Providers: []string{}, Models: []string{}, Grant: "interns"}
	tests := []struct {
		name, login, provider, model string
		want                         Decision
	}{
		{"grants only", "dev@company.com", "openai", "gpt-5", Decision{
			Headers: []policy.Header{{Name: "X-Team", Value: "eng"}}, Quotas: []string{"team"}, Hooks: []HookGrant{audit}}},
		{"intern", "intern@company.com", "openai", "gpt-5", Decision{
			Headers: []policy.Header{{Name: "X-Team", Value: "eng"}}, Quotas: []string{"team"}, Hooks: []HookGrant{audit, guard},
			ForceModel: "gpt-5-mini", MaxTokens: 256, RequiredHooks: []string{"guard"}, RedactHookFields: []string{"request_body"}, FullCapture: true}},
		{"smallest cap wins", "temp@company.com", "anthropic", "claude-sonnet-4-5", Decision{
			Headers: []policy.Header{{Name: "X-Team", Value: "eng"}}, Quotas: []string{"team"}, Hooks: []HookGrant{audit, guard},
			MaxTokens: 64, RequiredHooks: []string{"guard"}, RedactHookFields: []string{"request_body"}, FullCapture: true}},
		{"contractor", "bob@contractor.example", "openai", "gpt-5", Decision{
			Headers: []policy.Header{{Name: "X-Team", Value: "eng"}}, Quotas: []string{"team"}, Hooks: []HookGrant{audit},
			ForceProvider: "azure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), in(tt.login, tt.provider, tt.model))
			if err != nil || !d.Allow {
				t.Fatalf("Decide: %v, allow %v, reasons %v", err, d.Allow, d.Reasons)
			}
			opts := []cmp.Option{cmpopts.IgnoreFields(Decision{}, "ID", "Role", "Allow", "Reasons", "Revision", "Grants", "Metrics"),
				cmpopts.IgnoreUnexported(HookGrant{}), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(tt.want, d, opts...); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequiredHookUndefinedDenies: a required hook the configuration
// does not define refuses the request with the reason.
func TestRequiredHookUndefinedDenies(t *testing.T) {
	mod := rego.Module{Name: "req.rego", Text: []byte("package sluice.authz\n\nobligations contains {\"action\": \"require_hook\", \"hook\": \"missing\"}\n")}
	e := newEngine(t, loadCase(t, "obligations"), WithModules(mod))
	d, err := e.Decide(context.Background(), in("dev@company.com", "openai", "gpt-5"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Code != CodeDenied || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], `requires hook "missing"`) {
		t.Errorf("decision allow=%v code=%q reasons=%q; want a denial naming the hook", d.Allow, d.Code, d.Reasons)
	}
}

// TestDecisionLogObligations: the decision log shows the merged
// obligations the gateway carried out.
func TestDecisionLogObligations(t *testing.T) {
	text, err := os.ReadFile("../testdata/rego/obligations/team_obligations_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	e := newEngine(t, loadCase(t, "obligations"), WithModules(rego.Module{Name: "team.rego", Text: text}), WithDecisionLog(&buf))
	if _, err := e.Decide(context.Background(), in("intern@company.com", "openai", "gpt-5")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"max_tokens":256`, `"force_model":"gpt-5-mini"`, `"required_hooks":["guard"]`, `"redact_hook_fields":["request_body"]`, `"full_capture":true`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("decision log lacks %s: %s", want, buf.String())
		}
	}
}
