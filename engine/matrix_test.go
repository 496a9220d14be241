package engine

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/rego"
)

// TestClasses: one class per src the grants name, in kind order, each
// with a caller the grants name by nothing more specific; a domain's
// representative is a login no src names.
func TestClasses(t *testing.T) {
	cfg := parseConfig(t, `{"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5"]}},
	"temp_grants": [
		{"src": ["someone@example.com", "*@example.com", "tag:ci", "group:eng", "*-bot@example.com", "*"], "grants": [{"role": "user"}]},
	],
	"grants": [{"src": ["tag:prod"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}}]}`)
	var got []string
	for _, c := range Classes(cfg) {
		got = append(got, c.Kind+" "+c.Class+" "+c.Caller.Login)
	}
	want := []string{
		"login someone@example.com someone@example.com",
		"domain *@example.com someone2@example.com",
		"pattern *-bot@example.com x-bot@example.com",
		"group group:eng someone@anyone-else.invalid",
		"tag tag:ci tag:ci",
		"tag tag:prod tag:prod",
		"other anyone else someone@anyone-else.invalid",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
}

// TestMatrixHonoursOwnModules: a deny rule of the user's own removes the
// pairs it refuses from the matrix, for every class.
func TestMatrixHonoursOwnModules(t *testing.T) {
	cfg := parseConfig(t, "{\n"+assertProviders+assertTempGrants+"}")
	allowed := func(opts ...Option) map[string][]string {
		m, err := newEngine(t, cfg, opts...).Matrix(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string][]string)
		for _, c := range m.Classes {
			for _, cell := range c.Allowed {
				out[c.Class] = append(out[c.Class], cell.Provider+"/"+cell.Model)
			}
		}
		return out
	}
	plain := map[string][]string{
		"alice@example.com": {"openai/gpt-5", "anthropic/claude-sonnet-4-5"},
		"*@example.com":     {"anthropic/claude-sonnet-4-5"},
		"root@example.com":  {"anthropic/claude-sonnet-4-5"},
		"group:eng":         {"anthropic/claude-sonnet-4-5"},
		"tag:ci":            {"openai/gpt-5-mini"},
	}
	if diff := cmp.Diff(plain, allowed()); diff != "" {
		t.Errorf("matrix (-want +got):\n%s", diff)
	}
	delete(plain, "tag:ci")
	if diff := cmp.Diff(plain, allowed(WithModules(rego.Module{Name: "block.rego", Text: []byte(blockMini)}))); diff != "" {
		t.Errorf("matrix with a deny module (-want +got):\n%s", diff)
	}
	// A module that grants more than the grants name: the matrix cannot
	// narrow its pairs to those the grants match, and decides them all.
	widen := rego.Module{Name: "widen.rego", Text: []byte("package sluice.authz\n\ngranted if input.request.model == \"gpt-5-mini\"\n")}
	wide := map[string][]string{
		"alice@example.com": {"openai/gpt-5", "openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"},
		"*@example.com":     {"openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"},
		"root@example.com":  {"openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"},
		"group:eng":         {"openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"},
		"tag:ci":            {"openai/gpt-5-mini"},
	}
	if diff := cmp.Diff(wide, allowed(WithModules(widen))); diff != "" {
		t.Errorf("matrix with a module granting more (-want +got):\n%s", diff)
	}
	// The same through the grants that granted and provider_grants share.
	widenMatching := rego.Module{Name: "widen.rego", Text: []byte("package sluice.authz\n\nmatching_provider_grants contains \"widen.rego\" if input.request.model == \"gpt-5-mini\"\n")}
	if diff := cmp.Diff(wide, allowed(WithModules(widenMatching))); diff != "" {
		t.Errorf("matrix with a module matching more grants (-want +got):\n%s", diff)
	}
}
