package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	restrictConfig = "../../testdata/rego/restrict-users/config.hujson"
	restrictTests  = "../../testdata/rego/restrict-users"
)

func runPolicyCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runPolicy(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeRego(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyExport(t *testing.T) {
	out := t.TempDir()
	own := t.TempDir()
	writeRego(t, own, "block.rego", "package sluice.authz\n\ndeny contains \"no gpt-5 today\" if input.request.model == \"gpt-5\"\n")
	code, stdout, stderr := runPolicyCLI(t, "export", "--config", restrictConfig, "--policy", own, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"sluice/grants.rego", "sluice/authz.rego", "sluice/capabilities.rego", "sluice/sources.rego", "sluice/hooks.rego", "sluice/mcp.rego", "sluice/metrics.rego", "sluice/matrix.rego", "sluice/obligations.rego", "policy/block.rego"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("export lacks %s", f)
		}
	}
	for _, f := range []string{"sluice/authz_test.rego", "sluice/matrix_test.rego"} {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			t.Errorf("export holds the library's own test %s", f)
		}
	}
	if !strings.Contains(stdout, "exported 10 modules to "+out) {
		t.Errorf("stdout %q", stdout)
	}
	grants, _ := os.ReadFile(filepath.Join(out, "sluice/grants.rego"))
	if !strings.Contains(string(grants), `grant["temp_grants[0].grants[1]"]`) || !strings.Contains(string(grants), "config.hujson:") {
		t.Errorf("generated grants lack a rule or its source:\n%s", grants)
	}
}

func TestPolicyExportRefuses(t *testing.T) {
	own := t.TempDir()
	writeRego(t, own, "broken.rego", "package sluice.authz\n\ndeny contains msg if {\n\tx == 1\n}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"broken module", []string{"--config", restrictConfig, "--policy", own}, 1, "broken.rego:3:15: rego_unsafe_var_error"},
		{"missing config", []string{"--config", filepath.Join(t.TempDir(), "none.hujson")}, 1, "no configuration file"},
		{"no --out", []string{"--config", restrictConfig, "--out", ""}, 2, "need --out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"export", "--out", t.TempDir()}, tt.args...)
			code, _, stderr := runPolicyCLI(t, args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
}

const passingTest = `package mine_test

import data.sluice.authz

test_developer if {
	authz.allow with input as {"user": {"login": "developer@company.com", "tags": []}, "request": {"provider": "openai", "model": "gpt-5"}}
}
`

const failingTest = `package mine_test

import data.sluice.authz

test_intern_allowed if {
	authz.allow with input as {"user": {"login": "intern@company.com", "tags": []}, "request": {"provider": "openai", "model": "gpt-5"}}
}
`

// noTranslation is the example of a module of one's own that forbids
// translation between API formats, with its opa tests.
const noTranslation = "../../testdata/policy/no-translation"

func TestPolicyTest(t *testing.T) {
	failing := t.TempDir()
	writeRego(t, failing, "fail_test.rego", failingTest)
	own := t.TempDir()
	writeRego(t, own, "block.rego", "package sluice.authz\n\ndeny contains \"no gpt-5 today\" if input.request.model == \"gpt-5\"\n")
	blocked := t.TempDir()
	writeRego(t, blocked, "block_test.rego", "package block_test\n\nimport data.sluice.authz\n\n"+
		"test_blocked if {\n\tauthz.deny == {\"no gpt-5 today\"} with input as {\"user\": {\"login\": \"admin@company.com\"}, \"request\": {\"provider\": \"openai\", \"model\": \"gpt-5\"}}\n}\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
	}{
		{"reference tests pass", []string{"--config", restrictConfig, restrictTests}, 0, []string{"PASS: 7/7"}},
		{"verbose lists tests", []string{"--config", restrictConfig, restrictTests, "-v"}, 0,
			[]string{"data.restrict_users_test.test_admin_uses_everything: PASS", "PASS: 7/7"}},
		{"failure exits 2", []string{"--config", restrictConfig, failing}, 2, []string{"data.mine_test.test_intern_allowed: FAIL", "FAIL: 1/1"}},
		{"run filter", []string{"--config", restrictConfig, "--run", "admin", restrictTests}, 0, []string{"PASS: 1/1"}},
		{"own modules", []string{"--config", restrictConfig, "--policy", own, blocked}, 0, []string{"PASS: 1/1"}},
		{"own module missing", []string{"--config", restrictConfig, blocked}, 2, []string{"FAIL: 1/1"}},
		{"default config", []string{"../../testdata/rego/default"}, 0, []string{"PASS: 4/4"}},
		{"a policy that forbids translation", []string{"--config", noTranslation + "/config.hujson", "--policy", noTranslation + "/policy",
			noTranslation + "/tests"}, 0, []string{"PASS: 3/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, append([]string{"test"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestPolicyTestCoverage(t *testing.T) {
	code, stdout, stderr := runPolicyCLI(t, "test", "--coverage", "--config", restrictConfig, restrictTests)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var report struct {
		Files    map[string]json.RawMessage `json:"files"`
		Coverage float64                    `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("coverage report is not JSON: %v\n%s", err, stdout)
	}
	if _, ok := report.Files["sluice/authz.rego"]; !ok || report.Coverage <= 0 {
		t.Errorf("coverage %v over files %v", report.Coverage, report.Files)
	}
}

// A test directory that also holds an export of the policy (as
// `opa test DIR tests/` users keep one) runs without duplicate rules.
func TestPolicyTestIgnoresExportedCopy(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runPolicyCLI(t, "export", "--config", restrictConfig, "--out", dir); code != 0 {
		t.Fatal(stderr)
	}
	writeRego(t, dir, "mine_test.rego", passingTest)
	code, stdout, stderr := runPolicyCLI(t, "test", "--config", restrictConfig, dir)
	if code != 0 || !strings.Contains(stdout, "PASS: 1/1") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestPolicyEval(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantCode     int
		wantAllow    bool
		wantProvider string
		wantReason   string
		wantErr      string
	}{
		{"routed and allowed", []string{"--user", "developer@company.com", "--model", "gpt-5"}, 0, true, "openai", "", ""},
		{"denied model", []string{"--user", "developer@company.com", "--model", "gpt-5-mini"}, 0, false, "openai",
			`may not use model "gpt-5-mini" of provider "openai"`, ""},
		{"named provider", []string{"--user", "admin@company.com", "--model", "claude-opus-4-5", "--provider", "anthropic"}, 0, true, "anthropic", "", ""},
		{"no role", []string{"--user", "intern@company.com", "--model", "gpt-5"}, 0, false, "openai", "has no access", ""},
		{"format filters providers", []string{"--user", "admin@company.com", "--model", "gpt-5", "--format", "anthropic_messages"}, 1, false, "", "", `no provider serves model "gpt-5" in format anthropic_messages`},
		{"unknown model", []string{"--user", "admin@company.com", "--model", "nope"}, 1, false, "", "", `no provider serves model "nope"`},
		{"no user", []string{"--model", "gpt-5"}, 2, false, "", "", "need --user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"eval", "--config", restrictConfig}, tt.args...)
			code, stdout, stderr := runPolicyCLI(t, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, stderr)
			}
			if tt.wantErr != "" {
				if !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("stderr %q lacks %q", stderr, tt.wantErr)
				}
				return
			}
			var out struct {
				Decision struct {
					Allow   bool     `json:"allow"`
					Reasons []string `json:"reasons"`
				} `json:"decision"`
				Input struct {
					Request struct {
						Provider string `json:"provider"`
					} `json:"request"`
				} `json:"input"`
				Grants  []map[string]any `json:"grants"`
				Denials []map[string]any `json:"denials"`
			}
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			if out.Decision.Allow != tt.wantAllow || out.Input.Request.Provider != tt.wantProvider {
				t.Errorf("allow %v provider %q, want %v %q\n%s", out.Decision.Allow, out.Input.Request.Provider, tt.wantAllow, tt.wantProvider, stdout)
			}
			if tt.wantReason != "" && (len(out.Denials) != 1 || !strings.Contains(out.Denials[0]["reason"].(string), tt.wantReason)) {
				t.Errorf("denials %v, want one with %q", out.Denials, tt.wantReason)
			}
			if tt.wantAllow && len(out.Grants) == 0 {
				t.Errorf("an allowed decision explains no grant:\n%s", stdout)
			}
		})
	}
}

func TestPolicyUsage(t *testing.T) {
	if code, _, stderr := runPolicyCLI(t); code != 2 || !strings.Contains(stderr, "sluice policy export") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runPolicyCLI(t, "frob"); code != 2 || !strings.Contains(stderr, `unknown command "frob"`) {
		t.Errorf("unknown: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runPolicyCLI(t, "test", "--config", restrictConfig); code != 1 || !strings.Contains(stderr, "specify at least one file") {
		t.Errorf("test without DIR: exit %d, stderr %q", code, stderr)
	}
}

// TestPolicyEvalRoutesAliases: eval judges the model and provider an
// alias routes to, as serve does, and shows what was asked for.
func TestPolicyEvalRoutesAliases(t *testing.T) {
	config := filepath.Join(t.TempDir(), "c.hujson")
	if err := os.WriteFile(config, []byte(`{
		"providers": {
			"openai": {"baseurl": "https://api.openai.com/", "apikey": "k", "models": ["gpt-5"]},
			"openrouter": {"baseurl": "https://openrouter.ai/api/", "apikey": "k", "models": ["gpt-5", "openai/gpt-4o"]},
		},
		"model_aliases": [{"pattern": "^gpt-4(.*)$", "replacement": "openrouter:openai/gpt-4$1"}],
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "openrouter", "model": "*"}]}]}],
	}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runPolicyCLI(t, "eval", "--config", config, "--user", "a@example.com", "--model", "gpt-4o")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out struct {
		Decision struct {
			Allow bool `json:"allow"`
		} `json:"decision"`
		Input struct {
			Request struct {
				Provider       string `json:"provider"`
				Model          string `json:"model"`
				RequestedModel string `json:"requested_model"`
			} `json:"request"`
		} `json:"input"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	r := out.Input.Request
	if !out.Decision.Allow || r.Provider != "openrouter" || r.Model != "openai/gpt-4o" || r.RequestedModel != "gpt-4o" {
		t.Errorf("allow %v for %s on %s (requested %q); want allowed openai/gpt-4o on openrouter, requested gpt-4o",
			out.Decision.Allow, r.Model, r.Provider, r.RequestedModel)
	}
}
