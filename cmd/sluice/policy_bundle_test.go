package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	oparego "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

const blockModule = "package sluice.authz\n\ndeny contains \"no gpt-5 today\" if input.request.model == \"gpt-5\"\n"

// writeBundle runs `sluice policy bundle` on the restrict-users example
// with a deny module and returns the bundle's path.
func writeBundle(t *testing.T) (path, own string) {
	t.Helper()
	own = t.TempDir()
	writeRego(t, own, "block.rego", blockModule)
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	code, stdout, stderr := runPolicyCLI(t, "bundle", "--config", restrictConfig, "--policy", own, "--out", out)
	if code != 0 || !strings.Contains(stdout, "wrote bundle") {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	return out, own
}

func TestPolicyBundleIsAnOPABundle(t *testing.T) {
	path, own := writeBundle(t)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b, err := bundle.NewReader(fh).Read()
	if err != nil {
		t.Fatalf("OPA's bundle reader: %v", err)
	}
	// The manifest's revision is the one the gateway reports for this
	// policy.
	cfg, err := policy.Load(restrictConfig)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), cfg, engine.WithModulesDir(own))
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Revision != eng.Revision() || b.Manifest.Revision == "" {
		t.Errorf("manifest revision %q, want the engine's %q", b.Manifest.Revision, eng.Revision())
	}
	if b.Manifest.Roots == nil || !slices.Equal(*b.Manifest.Roots, []string{"sluice"}) {
		t.Errorf("manifest roots %v, want [sluice]", b.Manifest.Roots)
	}

	// Evaluated as OPA would serve it: the grants and the user's deny rule
	// both hold.
	var opts []func(*oparego.Rego)
	for _, m := range b.Modules {
		opts = append(opts, oparego.ParsedModule(m.Parsed))
	}
	tests := []struct {
		login, provider, model string
		want                   bool
	}{
		{"developer@company.com", "anthropic", "claude-sonnet-4-5", true},
		{"developer@company.com", "openai", "gpt-5", false}, // the bundled deny rule
		{"developer@company.com", "openai", "gpt-4.1", false},
		{"admin@company.com", "openai", "gpt-4.1", true},
	}
	for _, tt := range tests {
		input := map[string]any{
			"user":    map[string]any{"login": tt.login, "node_id": "n1", "tailnet": "company.com", "tags": []any{}},
			"request": map[string]any{"provider": tt.provider, "model": tt.model, "format": "openai_chat", "path": "/v1/chat/completions"},
		}
		r := oparego.New(append(opts, oparego.Query("data.sluice.authz.allow"), oparego.Input(input))...)
		rs, err := r.Eval(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].Expressions[0].Value != tt.want {
			t.Errorf("%s %s/%s: allow = %v, want %v", tt.login, tt.provider, tt.model, rs, tt.want)
		}
	}

	// And `opa test`-style: a test module run against the bundle's modules.
	mods := map[string]*ast.Module{}
	for _, m := range b.Modules {
		mods[m.Path] = m.Parsed
	}
	test := ast.MustParseModuleWithOpts(`package sluice.authz_test
import data.sluice.authz
test_developer_sonnet if authz.allow with input as {"user": {"login": "developer@company.com", "node_id": "", "tailnet": "", "tags": []}, "request": {"provider": "anthropic", "model": "claude-sonnet-4-5", "format": "anthropic_messages", "path": "/v1/messages"}}
test_developer_no_gpt5 if not authz.allow with input as {"user": {"login": "developer@company.com", "node_id": "", "tailnet": "", "tags": []}, "request": {"provider": "openai", "model": "gpt-5", "format": "openai_chat", "path": "/v1/chat/completions"}}
`, ast.ParserOptions{RegoVersion: ast.RegoV1})
	mods["bundle_test.rego"] = test
	ch, err := tester.NewRunner().SetModules(mods).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for res := range ch {
		n++
		if !res.Pass() {
			t.Errorf("%s failed: %v", res.Name, res.Error)
		}
	}
	if n != 2 {
		t.Errorf("%d tests ran, want 2", n)
	}
}

func TestLoadPolicyBundle(t *testing.T) {
	path, _ := writeBundle(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bundles/sluice.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(raw)
	}))
	defer srv.Close()
	var withData bytes.Buffer
	if err := bundle.NewWriter(&withData).Write(bundle.Bundle{Data: map[string]any{"users": []any{"a"}}, Manifest: bundle.Manifest{Revision: "r1"}}); err != nil {
		t.Fatal(err)
	}
	dataPath := filepath.Join(t.TempDir(), "data.tar.gz")
	os.WriteFile(dataPath, withData.Bytes(), 0o644)

	tests := []struct {
		name, src string
		wantErr   string
	}{
		{"file", path, ""},
		{"url", srv.URL + "/bundles/sluice.tar.gz", ""},
		{"url not found", srv.URL + "/bundles/other.tar.gz", "404"},
		{"missing file", filepath.Join(t.TempDir(), "none.tar.gz"), "no such file"},
		{"data documents", dataPath, "data documents (users)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods, rev, err := loadPolicyBundle(context.Background(), tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Only the user's module: the generated ones come from the
			// running configuration.
			if diff := cmp.Diff([]rego.Module{{Name: tt.src + ":policy/block.rego", Text: []byte(blockModule)}}, mods); diff != "" {
				t.Errorf("modules (-want +got):\n%s", diff)
			}
			if rev == "" {
				t.Error("no revision")
			}
			cfg, _ := policy.Load(restrictConfig)
			eng, err := engine.New(context.Background(), cfg, engine.WithModules(mods...))
			if err != nil {
				t.Fatal(err)
			}
			d, err := eng.Decide(context.Background(), engine.Input{User: engine.User{Login: "developer@company.com"}, Request: engine.Request{Provider: "openai", Model: "gpt-5", Format: "openai_chat"}})
			if err != nil || d.Allow || !slices.Contains(d.Reasons, "no gpt-5 today") {
				t.Errorf("decision %+v, %v; want the bundle's deny rule", d, err)
			}
		})
	}
}
