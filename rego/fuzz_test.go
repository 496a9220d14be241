package rego

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/sluice-gateway/sluice/policy"
)

// FuzzGrants feeds arbitrary names and patterns to the compiler, in a
// configuration with a role, a provider grant and a hook grant: whatever
// loads must compile into a module that parses as Rego v1 and holds each
// string exactly as written, so that no name can change the policy's
// meaning by escaping its quotes.
//
// It fuzzes strings rather than whole files: the loader has FuzzParse, and
// the shape of the module (what compiling it with the library checks) does
// not depend on the strings, which TestCases and TestSharedConfigsCompile
// cover. Compiling the library for every input and minimizing whole files
// kept this target at a few dozen executions a minute.
func FuzzGrants(f *testing.F) {
	f.Add("*", "openai", "gpt-5", "oso", "", false)
	f.Add("alice@example.com", "anthropic", "claude-*", "guard", `request.model == "m"`, true)
	f.Add("*@example.com", "*", "*", "h", "", false)
	f.Add("tag:ci", "a\"b", "m\\n", "x\n}", "\"} else := true", false)
	f.Add("a*b", "p", "# comment", "h", "`raw`", true)
	f.Fuzz(func(t *testing.T, src, provider, model, hook, condition string, disabled bool) {
		q := func(s string) string {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		config := `{"providers": {` + q(provider) + `: {"baseurl": "https://p.example", "apikey": "k", "models": [` + q(model) + `], "disabled": ` + strconv.FormatBool(disabled) + `}},
			"hooks": {` + q(hook) + `: {"url": "https://h.example"}},
			"temp_grants": [{"src": [` + q(src) + `], "grants": [
				{"role": "user"},
				{"providers": [{"provider": ` + q(provider) + `, "model": ` + q(model) + `}]},
				{"hook": {"hook": ` + q(hook) + `, "match": {"providers": [` + q(provider) + `], "models": [` + q(model) + `]}, "condition": ` + q(condition) + `}}]}]}`
		cfg, err := policy.Parse("config.hujson", []byte(config), func(string) (string, bool) { return "", false })
		if err != nil {
			return // an empty name, a macro, invalid UTF-8...
		}
		mod, err := Grants(cfg)
		if err != nil {
			t.Fatalf("a configuration that loads does not compile: %v", err)
		}
		parsed, err := ast.ParseModuleWithOpts(mod.Name, string(mod.Text), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", mod.Name, err, mod.Text)
		}
		strs := make(map[string]bool)
		ast.WalkTerms(parsed, func(x *ast.Term) bool {
			if s, ok := x.Value.(ast.String); ok {
				strs[string(s)] = true
			}
			return false
		})
		// The strings as loaded ("$${" unescaped, invalid UTF-8 replaced).
		hg := cfg.TempGrants[0].Grants[2].Hook
		want := []string{cfg.TempGrants[0].Src[0], cfg.Providers[0].ID, cfg.Providers[0].Models[0], hg.Hook}
		if hg.Condition != "" {
			want = append(want, hg.Condition)
		}
		for _, s := range want {
			if !strs[s] {
				t.Fatalf("string %q is not in the module as written:\n%s", s, mod.Text)
			}
		}
		if got := len(parsed.Rules); got < 3 {
			t.Fatalf("module has %d rules, want a grant rule per grant:\n%s", got, mod.Text)
		}
	})
}
