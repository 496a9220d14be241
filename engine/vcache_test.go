package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	oparego "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// FuzzVirtualCache runs a sequence of operations, two bytes each, on the
// pooled cache and on OPA's own, and fails when they answer differently:
// an operation is Push, Pop, Put of a value, Put of undefined or Get, on
// one of a few references that share prefixes and hashes' parts.
func FuzzVirtualCache(f *testing.F) {
	f.Add([]byte{2, 0, 4, 0, 4, 1, 3, 1, 4, 1})
	f.Add([]byte{2, 5, 0, 0, 4, 5, 2, 5, 4, 5, 1, 0, 4, 5})
	f.Add([]byte{3, 2, 2, 2, 4, 2, 2, 3, 4, 3, 4, 6})
	refs := []ast.Ref{
		ast.MustParseRef("data.sluice.authz.role"),
		ast.MustParseRef("data.sluice.authz"),
		ast.MustParseRef(`data.sluice.authz.named["*"]`),
		ast.MustParseRef(`data.sluice.authz.named["a@b"]`),
		ast.MustParseRef("data.authz.sluice.role"),
		ast.MustParseRef(`data.sluice.authz.star_match["*"]["x"]`),
		ast.MustParseRef(`data.sluice.authz.star_match["x"]["*"]`),
		ast.MustParseRef("data.sluice.authz.role.x"),
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		ours := getVirtualCache()
		defer putVirtualCache(ours)
		theirs := topdown.NewVirtualCache()
		depth := 0
		for i := 0; i+1 < len(ops); i += 2 {
			ref := refs[int(ops[i+1])%len(refs)]
			switch ops[i] % 5 {
			case 0:
				ours.Push()
				theirs.Push()
				depth++
			case 1:
				if depth == 0 {
					continue // OPA never pops the base frame
				}
				ours.Pop()
				theirs.Pop()
				depth--
			case 2:
				v := ast.IntNumberTerm(i)
				ours.Put(ref, v)
				theirs.Put(ref, v)
			case 3:
				ours.Put(ref, nil)
				theirs.Put(ref, nil)
			case 4:
				gv, gu := ours.Get(ref)
				wv, wu := theirs.Get(ref)
				if gv != wv || gu != wu {
					t.Fatalf("op %d: Get(%v) = %v, %v; OPA's cache says %v, %v", i/2, ref, gv, gu, wv, wu)
				}
			}
		}
		if got, want := len(ours.Keys()), len(theirs.Keys()); got != want {
			t.Fatalf("%d keys, OPA's cache has %d", got, want)
		}
	})
}

// TestVirtualCacheDecisions evaluates the decision query of every Rego
// test case's configuration, and of one with modules that use `with`
// (which pushes and pops cache frames), for many callers and requests,
// with the pooled cache and with OPA's own: the bindings must be equal.
func TestVirtualCacheDecisions(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "rego", "*", "config.hujson"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	withModule := rego.Module{Name: "with.rego", Text: []byte(`package sluice.authz

deny contains "an intern may not use what a contractor may not" if {
	input.user.login == "intern@company.com"
	not granted with input.user.login as "contractor@company.com"
}

obligations contains {"action": "add_header", "header": "X-Role: contractor", "grant": "with.rego"} if {
	role == "user" with input.user.login as "developer@company.com"
}
`)}
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(path))
		cfg := loadConfigFile(t, path)
		for _, mods := range [][]rego.Module{nil, {withModule}} {
			label := name
			if mods != nil {
				label += "+with"
			}
			t.Run(label, func(t *testing.T) {
				e := newEngine(t, cfg, WithModules(mods...), WithoutTests())
				rev := e.cur.Load()
				for _, x := range sampleInputs(cfg) {
					x = x.canonical()
					eval := func(opts ...oparego.EvalOption) any {
						t.Helper()
						opts = append(opts, oparego.EvalParsedInput(x.value()), oparego.EvalMetrics(metrics.NoOp()))
						rs, err := rev.decide.Eval(context.Background(), opts...)
						if err != nil {
							return err.Error()
						}
						return rs
					}
					vc := getVirtualCache()
					got := eval(oparego.EvalVirtualCache(vc))
					putVirtualCache(vc)
					want := eval()
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("%+v: pooled cache differs from OPA's (-OPA +pooled):\n%s", x, diff)
					}
				}
			})
		}
	}
}

// sampleInputs makes requests from cfg's own names: a caller for each src
// pattern (an exact login, someone of a domain, a tagged device, a group
// member), one nobody names and one without a login, each asking every
// provider for a few of its models and one it does not list.
func sampleInputs(cfg *policy.Config) []Input {
	var srcs []string
	for _, set := range cfg.TempGrants {
		srcs = append(srcs, set.Src...)
	}
	for _, g := range cfg.Grants {
		srcs = append(srcs, g.Src...)
	}
	users := []User{{Login: "nobody@elsewhere.example"}, {Login: ""}, {Login: "intern@company.com"}, {Login: "developer@company.com"}}
	for _, s := range srcs {
		switch {
		case s == "*":
		case strings.HasPrefix(s, "tag:"):
			users = append(users, User{Login: "tagged-devices", Tags: []string{strings.ReplaceAll(s, "*", "x")}})
		case strings.HasPrefix(s, "group:"):
			users = append(users, User{Login: "member@company.com", Groups: []string{s}})
		default:
			users = append(users, User{Login: strings.ReplaceAll(s, "*", "someone")})
		}
	}
	type pair struct{ provider, model string }
	pairs := []pair{{"unknown", "unknown-model"}}
	for _, p := range cfg.Providers {
		pairs = append(pairs, pair{p.ID, "not-listed"})
		for i, m := range p.Models {
			if i == 3 {
				break
			}
			pairs = append(pairs, pair{p.ID, m})
		}
	}
	var out []Input
	for _, u := range users {
		u.NodeID, u.Tailnet = "n1", "company.com"
		for _, p := range pairs {
			out = append(out, Input{User: u, Request: Request{Provider: p.provider, Model: p.model, Format: policy.FormatOpenAIChat, Path: "/v1/chat/completions"}})
		}
	}
	return out
}
