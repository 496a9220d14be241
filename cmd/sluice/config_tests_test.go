package main

import (
	"strings"
	"testing"
)

// TestConfigValidateAssertions: `config validate` checks the tests section
// with the compiled policy, the modules of --policy included, and prints
// each failed assertion at its place.
func TestConfigValidateAssertions(t *testing.T) {
	const config = `{
	"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]}},
	"temp_grants": [{"src": ["*@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "*"}]}]}],
	"tests": [{"src": "alice@example.com", "allow": ["openai/gpt-5-mini"], "role": "user"}],
}`
	blocking := t.TempDir()
	writeRego(t, blocking, "block.rego", "package sluice.authz\n\ndeny contains \"gpt-5-mini is retired\" if input.request.model == \"gpt-5-mini\"\n")
	tests := []struct {
		name       string
		config     string
		policy     string
		wantCode   int
		wantStderr string
	}{
		{name: "assertions hold", config: config, wantCode: 0},
		{name: "own module breaks them", config: config, policy: blocking, wantCode: 1,
			wantStderr: `config.hujson:4:51: tests[0]: alice@example.com: expected openai/gpt-5-mini to be allowed, but the policy refuses it: gpt-5-mini is retired (deny rule at `},
		{name: "grants break them", config: strings.Replace(config, `"role": "user"}, {"providers"`, `"role": "admin"}, {"providers"`, 1), wantCode: 1,
			wantStderr: `config.hujson:4:81: tests[0]: alice@example.com: expected role "user", but the policy gives role "admin" (admin from temp_grants[0].grants[0] at `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"config", "validate"}
			if tt.policy != "" {
				args = append(args, "--policy", tt.policy)
			}
			code, stdout, stderr := runCLI(t, append(args, writeFile(t, tt.config))...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr != "") != strings.Contains(stderr, "error: ") {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
