package engine

import (
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
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
			got, err := decisionJSON(term, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decisionJSON(%s) = %#v, want %#v", tt.term, got, want)
			}
		})
	}
}
