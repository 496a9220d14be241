package rego

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/sluice-gateway/sluice/policy"
)

// FuzzGrants feeds configurations to the compiler: whatever loads must
// compile into a module that parses as Rego v1 and compiles with the
// library.
func FuzzGrants(f *testing.F) {
	for _, pattern := range []string{"../testdata/configs/*.hujson", "../testdata/rego/*/config.hujson"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"providers": {"p": {"baseurl": "https://p.example", "models": ["m"]}}, "temp_grants": [{"src": ["*@x", "tag:*", "a*b"], "grants": [{"mcp": [{"server": "s", "tool": "*"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := policy.Parse("config.hujson", data, func(string) (string, bool) { return "", false })
		if err != nil {
			return
		}
		mods, err := Modules(cfg)
		if err != nil {
			t.Fatalf("a configuration that loads does not compile: %v", err)
		}
		parsed := make(map[string]*ast.Module)
		for _, m := range mods {
			mod, err := ast.ParseModuleWithOpts(m.Name, string(m.Text), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatalf("%s does not parse: %v\n%s", m.Name, err, m.Text)
			}
			parsed[m.Name] = mod
		}
		c := ast.NewCompiler()
		if c.Compile(parsed); c.Failed() {
			t.Fatalf("policy does not compile: %v", c.Errors)
		}
	})
}
