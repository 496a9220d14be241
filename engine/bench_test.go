package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
)

// grantsConfig generates a configuration of n grants: n/2 grant sets, each
// naming one login with a role and a provider grant, plus one hook grant
// for a whole domain.
func grantsConfig(tb testing.TB, n int) *policy.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"providers": {"p0": {"baseurl": "https://p.example", "apikey": "k", "models": ["model-1"]}},
	"hooks": {"audit": {"url": "https://hooks.example/audit"}},
	"temp_grants": [{"src": ["*@example.com"], "grants": [{"hook": {"match": {"models": ["model-*"]}, "hook": "audit", "fields": ["tools"]}}]}`)
	for i := range n/2 - 1 {
		fmt.Fprintf(&b, `, {"src": ["user%d@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p%d", "model": "model-%d*"}]}]}`, i, i%10, i)
	}
	b.WriteString(`, {"src": ["tag:ci"], "grants": [{"role": "user"}]}]}`)
	return parseConfig(tb, b.String())
}

func BenchmarkDecide(b *testing.B) {
	configs := []struct {
		name string
		cfg  *policy.Config
		in   Input
	}{
		{"default", policy.Default(), in("someone@example.com", "openai", "gpt-5")},
		{"1000grants", grantsConfig(b, 1000), in("user250@example.com", "p0", "model-250-large", "tag:ci")},
	}
	for _, c := range configs {
		for _, cached := range []bool{true, false} {
			name := c.name + "/uncached"
			size := 0
			if cached {
				name, size = c.name+"/cached", DefaultCacheSize
			}
			b.Run(name, func(b *testing.B) {
				e := newEngine(b, c.cfg, WithCacheSize(size))
				ctx := context.Background()
				d, err := e.Decide(ctx, c.in)
				if err != nil || !d.Allow {
					b.Fatalf("benchmark input not allowed: %+v %v", d, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := e.Decide(ctx, c.in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkHookFires(b *testing.B) {
	e := newEngine(b, hookConfig(b, `{"providers": ["openai"], "models": ["gpt-*"]}`, `response.status >= 400 || request.body.stream == true`))
	d, err := e.Decide(context.Background(), in("user@example.com", "openai", "gpt-5"))
	if err != nil || len(d.Hooks) != 1 {
		b.Fatalf("%+v %v", d, err)
	}
	v := vars("openai", "gpt-5", policy.EventToolCallEntireRequest)
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := d.Hooks[0].Fires(v); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func TestGrantsConfigDecides(t *testing.T) {
	e := newEngine(t, grantsConfig(t, 1000))
	tests := []struct {
		name      string
		in        Input
		wantAllow bool
		wantHooks int
	}{
		{"own model", in("user250@example.com", "p0", "model-250-large"), true, 1},
		{"another user's model", in("user250@example.com", "p1", "model-251"), false, 1},
		{"tag gives a role only", in("tagged-devices", "p0", "model-250"), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow || len(d.Hooks) != tt.wantHooks {
				t.Errorf("allow %v with %d hooks, want %v with %d", d.Allow, len(d.Hooks), tt.wantAllow, tt.wantHooks)
			}
		})
	}
}

// BenchmarkDecideAppGrants compares 10 and 1,000 entries of the grants
// section: the index keeps a decision's cost flat.
func BenchmarkDecideAppGrants(b *testing.B) {
	for _, n := range []int{10, 1000} {
		cfg := appGrantsConfig(b, n)
		input := in("user5@example.com", "p5", "model-5-large")
		for _, cached := range []bool{false, true} {
			name, size := fmt.Sprintf("%dgrants/uncached", n), 0
			if cached {
				name, size = fmt.Sprintf("%dgrants/cached", n), DefaultCacheSize
			}
			b.Run(name, func(b *testing.B) {
				e := newEngine(b, cfg, WithCacheSize(size))
				ctx := context.Background()
				if d, err := e.Decide(ctx, input); err != nil || !d.Allow {
					b.Fatalf("benchmark input not allowed: %+v %v", d, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := e.Decide(ctx, input); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
