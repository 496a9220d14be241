package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
)

// matrixConfig generates a configuration of 1,000 grants over 200 models:
// 10 providers of 20 models, 500 grant sets each naming one login with a
// role and a provider grant, plus domain, tag and group grants.
func matrixConfig(tb testing.TB) *policy.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"providers": {`)
	for p := range 10 {
		if p > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"p%d": {"baseurl": "https://p.example", "apikey": "k", "models": [`, p)
		for m := range 20 {
			if m > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"model-%d"`, p*20+m)
		}
		b.WriteString("]}")
	}
	b.WriteString(`}, "temp_grants": [{"src": ["*@example.com", "tag:ci", "group:eng"], "grants": [{"role": "user"}, {"providers": [{"provider": "p0", "model": "*"}]}]}`)
	for i := range 499 {
		fmt.Fprintf(&b, `, {"src": ["user%d@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p%d", "model": "model-%d*"}]}]}`, i, i%10, i%200)
	}
	b.WriteString(`]}`)
	return parseConfig(tb, b.String())
}

// BenchmarkMatrix computes the access matrix of 1,000 grants and 200
// models: 503 classes of callers, each decided against every model.
func BenchmarkMatrix(b *testing.B) {
	e := newEngine(b, matrixConfig(b), WithCacheSize(0))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := e.Matrix(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Models) != 200 || len(m.Classes) != 503 {
			b.Fatalf("matrix of %d models, %d classes", len(m.Models), len(m.Classes))
		}
	}
}
