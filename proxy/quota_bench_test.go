package proxy

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// BenchmarkQuotaPerRequest measures what quotas add to one request in the
// gateway: estimating the reservation from the body, reserving it in the
// caller's bucket and settling it, on SQLite and (with
// SLUICE_TEST_POSTGRES) PostgreSQL.
func BenchmarkQuotaPerRequest(b *testing.B) {
	config := strings.Replace(quotaConfig, `"capacity": "$1.00", "rate": "$1.00/week"`, `"capacity": "$1000000.00", "rate": "$1000000.00/min"`, 1)
	for _, db := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "sluice.db") }},
		{"postgres", func(b *testing.B) string { return storetest.PostgresDSN(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			dsn := db.dsn(b)
			st := openStore(&testing.T{}, dsn)
			defer st.Close()
			gw := newGateway(&testing.T{}, config, "alice@example.com", func(o *Options) { o.Store = st })
			defer gw.Close()
			snap := gw.srv.state.Load()
			body := []byte(`{"model":"gpt-5","max_tokens":200,"messages":[{"role":"user","content":"What is the weather in Seattle today?"}]}`)
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			ex := &exchange{
				s: gw.srv, snap: snap, r: req, w: &responseRecorder{ResponseWriter: httptest.NewRecorder()},
				route: compat.Route{Format: compat.OpenAIChat}, who: identity.Identity{Login: "alice@example.com"},
				body: body, req: compat.Request{Model: "gpt-5"}, provider: snap.cfg.Provider("openai"),
				decision: engine.Decision{Quotas: []string{"daily:<user>"}},
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if !ex.reserveQuotas() {
					b.Fatalf("reservation refused: %s", ex.err)
				}
				ex.settleQuotas(quota.Dollar/100, true)
			}
		})
	}
}
