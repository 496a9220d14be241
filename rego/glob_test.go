package rego

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"
)

// FuzzMatchGlobs holds the patterns the generated grants precompute to
// the library functions they stand for: glob.match(starGlob(p), null, v)
// must hold exactly when star_match(p, v) does, and
// glob.match(anyGlob(ps), null, v) exactly when any_match(ps, v) does, for
// lists of none to three patterns.
func FuzzMatchGlobs(f *testing.F) {
	for _, s := range [][4]string{
		{"*", "", "", "anything"},
		{"claude-*", "gpt-5", "", "claude-opus"},
		{"gpt-?", "gpt-[5]*", "{gpt,o}-*", "gpt-5"},
		{"a,b", "c*", "", "a,b"},
		{"", "x", "*-mini", ""},
		{`a\*`, `\`, "m?*", `a\x`},
		{"a**b", "}", "{", "a-b"},
		{"gpt-[5]*", "m?*", "*,*", "gpt-[5]-mini"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	ctx := context.Background()
	opts := []func(*oparego.Rego){
		oparego.Query(`lib := count([1 | data.sluice.authz.star_match(input.p, input.v)]) > 0; ` +
			`any := count([1 | data.sluice.authz.any_match(input.ps, input.v)]) > 0; ` +
			`glob := count([1 | glob.match(input.g, null, input.v)]) > 0`),
		oparego.SetRegoVersion(ast.RegoV1),
	}
	for _, m := range Library() {
		opts = append(opts, oparego.Module(m.Name, string(m.Text)))
	}
	pq, err := oparego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		f.Fatal(err)
	}
	eval := func(t *testing.T, in map[string]any) (lib, any, glob bool) {
		t.Helper()
		rs, err := pq.Eval(ctx, oparego.EvalInput(in))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%v: %v %v", in, rs, err)
		}
		b := rs[0].Bindings
		return b["lib"] == true, b["any"] == true, b["glob"] == true
	}
	f.Fuzz(func(t *testing.T, p1, p2, p3, v string) {
		// Patterns come from a loaded configuration, which holds no
		// invalid UTF-8 (the loader replaces it); values may hold any.
		p1, p2, p3 = strings.ToValidUTF8(p1, "\uFFFD"), strings.ToValidUTF8(p2, "\uFFFD"), strings.ToValidUTF8(p3, "\uFFFD")
		for _, p := range []string{p1, p2, p3} {
			want, _, got := eval(t, map[string]any{"p": p, "ps": []string{}, "v": v, "g": starGlob(p)})
			if got != want {
				t.Errorf("star_match(%q, %q) is %v, glob.match(%q, null, v) %v", p, v, want, starGlob(p), got)
			}
		}
		for _, ps := range [][]string{{}, {p1}, {p1, p2}, {p1, p2, p3}} {
			_, want, got := eval(t, map[string]any{"p": "", "ps": ps, "v": v, "g": anyGlob(ps)})
			if got != want {
				t.Errorf("any_match(%q, %q) is %v, glob.match(%q, null, v) %v", ps, v, want, anyGlob(ps), got)
			}
		}
	})
}
