package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/policy"
)

// TestMigrateDecidesTheSame: for every migration golden, the migrated
// configuration decides exactly as its original for a grid of callers and
// every provider/model pair (plus an unknown model): role, allow, and the
// (hook, event, field) triples hooks would receive.
func TestMigrateDecidesTheSame(t *testing.T) {
	callers := []User{
		{Login: "admin@company.com"}, {Login: "developer@company.com"}, {Login: "ops@company.com"},
		{Login: "contractor@example.org"}, {Login: "dev@build.company.com"}, {Login: "someone@example.net"},
		{Login: "example-user@example.com"}, {Login: "tag:ci", Tags: []string{"tag:ci"}},
		{Login: "tag:build-7", Tags: []string{"tag:build-7"}}, {Login: ""},
	}
	for _, name := range []string{"default", "admin-precedence", "allow-all", "deny-by-default", "empty-grants", "hook-grants", "no-role", "restrict-users", "sources"} {
		t.Run(name, func(t *testing.T) {
			var orig *policy.Config
			if name == "default" {
				orig = policy.Default()
			} else {
				orig = loadCase(t, name)
			}
			data, err := os.ReadFile(filepath.Join("..", "testdata", "migrate", name+".hujson"))
			if err != nil {
				t.Fatal(err)
			}
			migrated := parseConfig(t, string(data))
			if migrated.Grants == nil {
				t.Fatal("the migration has no grants section")
			}
			before, after := newEngine(t, orig), newEngine(t, migrated)
			n := 0
			for _, u := range callers {
				for _, p := range orig.Providers {
					for _, m := range append(slices.Clone(p.Models), "unknown-model") {
						in := Input{User: u, Request: Request{Provider: p.ID, Model: m, Format: policy.FormatOpenAIChat}}
						a, err := before.Decide(context.Background(), in)
						if err != nil {
							t.Fatal(err)
						}
						b, err := after.Decide(context.Background(), in)
						if err != nil {
							t.Fatal(err)
						}
						n++
						if a.Role != b.Role || a.Allow != b.Allow || a.Admin != b.Admin {
							t.Errorf("%q %s/%s: role %s allow %v before, role %s allow %v after", u.Login, p.ID, m, a.Role, a.Allow, b.Role, b.Allow)
						}
						if diff := cmp.Diff(hookTriples(a), hookTriples(b)); diff != "" {
							t.Errorf("%q %s/%s: hooks (-before +after):\n%s", u.Login, p.ID, m, diff)
						}
					}
				}
			}
			if n < 50 {
				t.Errorf("only %d decisions compared", n)
			}
		})
	}
}

func hookTriples(d Decision) []string {
	var out []string
	for _, h := range d.Hooks {
		for _, e := range h.Events {
			for _, f := range h.Fields {
				out = append(out, h.Hook+"/"+e+"/"+f)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
