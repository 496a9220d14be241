package engine

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	oparego "github.com/open-policy-agent/opa/v1/rego"
)

// TestDecisionJSONConvertsAsOPA: the conversion that spares allocations
// yields what OPA's own conversion does, for the values it spares and for
// the ones it passes on.
func TestDecisionJSONConvertsAsOPA(t *testing.T) {
	tests := []struct {
		name string
		term string
	}{
		{"true", `true`},
		{"false", `false`},
		{"role admin", `"admin"`},
		{"role user", `"user"`},
		{"role none", `"none"`},
		{"other string", `"someone"`},
		{"empty string", `""`},
		{"empty set", `set()`},
		{"set of reasons", `{"no access", "disabled"}`},
		{"set of obligations", `{{"action": "send_hook", "hook": "audit", "fields": ["tools"]}}`},
		{"empty object", `{}`},
		{"empty array", `[]`},
		{"number", `3`},
		{"null", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := ast.MustParseTerm(tt.term)
			want, err := ast.JSON(term.Value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decisionJSON(term)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decisionJSON(%s) = %#v, want %#v", tt.term, got, want)
			}
		})
	}
}

// TestDecisionArrayJSON: the decision query's array becomes the map of
// rule name to value that separate bindings made, and anything else is an
// error rather than a decision.
func TestDecisionArrayJSON(t *testing.T) {
	values := []string{`"user"`, `false`, `true`, `set()`, `false`, `true`, `{"temp_grants[1].grants[0]"}`, `false`, `set()`, `set()`,
		`{{"action": "send_hook", "hook": "audit", "fields": ["tools"]}}`}
	elems := make([]*ast.Term, len(values))
	want := make(map[string]any)
	for i, v := range values {
		elems[i] = ast.MustParseTerm(v)
		j, err := ast.JSON(elems[i].Value)
		if err != nil {
			t.Fatal(err)
		}
		want[decisionRules[i]] = j
	}
	got, err := decisionArrayJSON(ast.ArrayTerm(elems...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	for _, bad := range []*ast.Term{ast.ArrayTerm(elems[1:]...), ast.StringTerm("user"), ast.ObjectTerm()} {
		if got, err := decisionArrayJSON(bad, nil); err == nil {
			t.Errorf("decisionArrayJSON(%v) = %v, want an error", bad, got)
		}
	}
}

// TestDecisionQueryMatchesBindings decides the sample requests of every
// Rego test case's configuration with the decision query (one array) and
// with the explain query (one binding per rule): the decisions must be
// equal.
func TestDecisionQueryMatchesBindings(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "rego", "*", "config.hujson"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			cfg := loadConfigFile(t, path)
			rev := newEngine(t, cfg, WithoutTests()).cur.Load()
			for _, x := range sampleInputs(cfg) {
				x = x.canonical()
				got, err := rev.evalDecision(context.Background(), x, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				rs, err := rev.explain.Eval(context.Background(), oparego.EvalParsedInput(x.value()), oparego.EvalMetrics(metrics.NoOp()))
				if err != nil || len(rs) != 1 {
					t.Fatalf("%v %v", rs, err)
				}
				want, err := rev.decisionFromBindings(rs[0].Bindings)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(HookGrant{})); diff != "" {
					t.Fatalf("%+v: -bindings +array:\n%s", x, diff)
				}
				for i := range want.Hooks {
					if want.Hooks[i].prog != got.Hooks[i].prog {
						t.Fatalf("%+v: hook %d has another condition program", x, i)
					}
				}
			}
		})
	}
}
