package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

const assertProviders = `"providers": {
		"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]},
		"anthropic": {"baseurl": "https://api.anthropic.com", "apikey": "k", "models": ["claude-sonnet-4-5"]},
	},
`

const assertTempGrants = `"temp_grants": [
		{"src": ["alice@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "gpt-5"}]}]},
		{"src": ["*@example.com", "group:eng"], "grants": [{"role": "user"}, {"providers": [{"provider": "anthropic", "model": "*"}]}]},
		{"src": ["tag:ci"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "gpt-5-mini"}]}]},
		{"src": ["root@example.com"], "grants": [{"role": "admin"}]},
	],
`

const assertGrants = `"grants": [
		{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user", "models": ["openai/gpt-5"]}]}},
		{"src": ["*@example.com", "group:eng"], "app": {"tailscale.com/cap/aperture": [{"role": "user", "models": ["anthropic/**"]}]}},
		{"src": ["tag:ci"], "app": {"tailscale.com/cap/aperture": [{"role": "user", "models": "openai/gpt-5-mini"}]}},
		{"src": ["root@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}]}},
	],
`

// blockMini is a module of the user's own that refuses gpt-5-mini to
// everyone.
const blockMini = "package sluice.authz\n\ndeny contains \"gpt-5-mini is blocked\" if input.request.model == \"gpt-5-mini\"\n"

func TestAssertions(t *testing.T) {
	tests := []struct {
		name  string
		tests string
		mods  []rego.Module
		// want are the failures, each as substrings of one message in
		// order; none when the assertions hold.
		want [][]string
	}{
		{name: "hold", tests: `[
			{"src": "alice@example.com", "allow": ["openai/gpt-5", "anthropic/**"], "deny": ["openai/gpt-5-mini"], "role": "user"},
			{"src": "bob@example.com", "allow": ["anthropic/*"], "deny": ["openai/*"]},
			{"src": "tag:ci", "allow": ["openai/gpt-5-mini"], "deny": ["anthropic/**", "openai/gpt-5"]},
			{"src": "group:eng", "allow": ["anthropic/claude-sonnet-4-5"], "role": "user"},
			{"src": "stranger@other.org", "deny": ["**"], "role": "none"},
			{"src": "root@example.com", "role": "admin", "allow": ["anthropic/**"], "deny": ["openai/**"]},
		]`},
		{name: "allow fails", tests: `[{"src": "bob@example.com", "allow": ["openai/gpt-5"]}]`,
			want: [][]string{{"config.hujson:", "tests[0]: bob@example.com: expected openai/gpt-5 to be allowed, but the policy refuses it", `may not use model "gpt-5" of provider "openai"`}}},
		{name: "deny fails", tests: `[{"src": "tag:ci", "deny": ["openai/*"]}]`,
			want: [][]string{{"tests[0]: device tagged tag:ci: expected openai/gpt-5-mini to be refused (deny \"openai/*\"), but the policy allows it: allowed by "}}},
		{name: "role fails", tests: `[{"src": "alice@example.com", "role": "admin"}]`,
			want: [][]string{{`tests[0]: alice@example.com: expected role "admin", but the policy gives role "user" (user from `}}},
		{name: "no role", tests: `[{"src": "stranger@other.org", "role": "user", "allow": ["anthropic/**"]}]`,
			want: [][]string{
				{`expected role "user", but the policy gives role "none" (no role grant names the caller)`},
				{`expected anthropic/claude-sonnet-4-5 to be allowed (allow "anthropic/**")`, "has no access: no role grant"},
			}},
		{name: "own deny module", tests: `[{"src": "tag:ci", "allow": ["openai/gpt-5-mini"]}]`,
			mods: []rego.Module{{Name: "block.rego", Text: []byte(blockMini)}},
			want: [][]string{{"expected openai/gpt-5-mini to be allowed, but the policy refuses it: gpt-5-mini is blocked (deny rule at block.rego:"}}},
		{name: "own deny module holds", tests: `[{"src": "alice@example.com", "deny": ["openai/gpt-5-mini"], "allow": ["openai/gpt-5"]}]`,
			mods: []rego.Module{{Name: "block.rego", Text: []byte(blockMini)}}},
		{name: "several tags", tests: `[{"tags": ["tag:ci", "tag:other"], "allow": ["openai/gpt-5-mini"], "deny": ["openai/gpt-5"]}]`},
	}
	for _, section := range []struct{ name, text string }{{"temp_grants", assertTempGrants}, {"grants", assertGrants}} {
		for _, tt := range tests {
			t.Run(section.name+"/"+tt.name, func(t *testing.T) {
				cfg := parseConfig(t, "{\n"+assertProviders+section.text+`"tests": `+tt.tests+"}")
				_, err := New(context.Background(), cfg, WithModules(tt.mods...))
				if len(tt.want) == 0 {
					if err != nil {
						t.Fatalf("assertions should hold: %v", err)
					}
					return
				}
				var errs policy.Errors
				if !errors.As(err, &errs) {
					t.Fatalf("err = %v, want policy.Errors", err)
				}
				if len(errs) != len(tt.want) {
					t.Fatalf("%d failures, want %d:\n%v", len(errs), len(tt.want), errs)
				}
				for i, d := range errs {
					if d.Code != policy.CodeTestFailed || d.Pos.Line == 0 || !strings.HasPrefix(d.Path, "/tests/0/") {
						t.Errorf("failure %d: code %q, pos %v, path %q; want %q at a place in /tests/0", i, d.Code, d.Pos, d.Path, policy.CodeTestFailed)
					}
					for _, w := range tt.want[i] {
						if !strings.Contains(d.String(), w) {
							t.Errorf("failure %d = %q, want it to contain %q", i, d.String(), w)
						}
					}
				}
			})
		}
	}
}

// TestAssertionsSkipped: the matrix of a draft whose assertions fail can
// still be shown.
func TestAssertionsSkipped(t *testing.T) {
	cfg := parseConfig(t, "{\n"+assertProviders+assertTempGrants+`"tests": [{"src": "bob@example.com", "role": "admin"}]}`)
	if _, err := New(context.Background(), cfg); err == nil {
		t.Fatal("a failing assertion was accepted")
	}
	if _, err := New(context.Background(), cfg, WithoutTests()); err != nil {
		t.Fatalf("WithoutTests: %v", err)
	}
}
