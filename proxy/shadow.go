package proxy

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gateway/sluice/engine"
)

// shadowPolicy decides every request a second time under a candidate
// policy that is not enforced, so a policy change can be watched on real
// traffic before it is made live. Where the two answers differ, it counts
// the difference and logs both.
type shadowPolicy struct {
	eng   *engine.Engine
	diffs *prometheus.CounterVec
	log   *slog.Logger
}

func newShadowPolicy(eng *engine.Engine, m *metrics, log *slog.Logger) *shadowPolicy {
	sp := &shadowPolicy{eng: eng, log: log}
	sp.diffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_policy_shadow_differences_total",
		Help: "Decisions where the shadow policy (serve --shadow-config) answered otherwise than the live one, by the live and the shadow answer (allow, deny; error for a shadow evaluation that failed).",
	}, []string{"live", "shadow"})
	m.reg.MustRegister(sp.diffs)
	m.collectors = append(m.collectors, sp.diffs)
	return sp
}

func answer(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// compare decides in under the shadow policy and reports a difference
// from live, the decision enforced. A nil *shadowPolicy does nothing.
func (sp *shadowPolicy) compare(ctx context.Context, requestID string, in engine.Input, live engine.Decision) {
	if sp == nil {
		return
	}
	shadow, err := sp.eng.Decide(ctx, in)
	got := answer(shadow.Allow)
	if err != nil {
		got = "error"
	} else if shadow.Allow == live.Allow {
		return
	}
	sp.diffs.WithLabelValues(answer(live.Allow), got).Inc()
	attrs := []any{
		"request_id", requestID, "login", in.User.Login, "provider", in.Request.Provider, "model", in.Request.Model,
		"live_decision_id", live.ID, "live_revision", live.Revision, "live_allow", live.Allow, "live_reasons", live.Reasons,
		"shadow_revision", shadow.Revision, "shadow_allow", shadow.Allow, "shadow_reasons", shadow.Reasons,
	}
	if err != nil {
		attrs = append(attrs, "shadow_err", err)
	}
	sp.log.Info("policy shadow difference", attrs...)
}
