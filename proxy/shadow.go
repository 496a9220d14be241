package proxy

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gateway/sluice/engine"
)

// shadowPolicy decides every request a second time under a candidate
// policy that is not enforced, so a policy change can be watched on real
// traffic before it is made live. Where the two answers differ, it counts
// the difference, logs both, writes both to the decision log and keeps
// the latest for the dashboard. The candidate comes from serve
// --shadow-config or the config API, and can be replaced or cleared at
// any time.
type shadowPolicy struct {
	cur   atomic.Pointer[shadowCandidate]
	diffs *prometheus.CounterVec
	log   *slog.Logger

	mu     sync.Mutex
	recent []shadowDifference // oldest first, at most maxShadowRecent
}

// maxShadowRecent bounds the differences kept for the dashboard.
const maxShadowRecent = 100

// shadowCandidate is one candidate policy running in shadow.
type shadowCandidate struct {
	eng *engine.Engine
	// text is the candidate's configuration as written; hash is its
	// configHash, the one GET /api/config/shadow reports.
	text []byte
	hash string
	// source is where it came from: "api", or the --shadow-config file.
	source string
	since  time.Time
	// counts of differences since it was set: live allow, shadow deny;
	// live deny, shadow allow; shadow evaluation failed.
	allowDeny, denyAllow, errs atomic.Int64
}

// shadowDifference is one request the candidate answered otherwise.
type shadowDifference struct {
	Time           time.Time `json:"time"`
	RequestID      string    `json:"request_id"`
	DecisionID     string    `json:"decision_id"`
	Login          string    `json:"login"`
	Provider       string    `json:"provider"`
	Model          string    `json:"model"`
	Live           string    `json:"live"`   // allow or deny
	Shadow         string    `json:"shadow"` // allow, deny or error
	LiveReasons    []string  `json:"live_reasons"`
	ShadowReasons  []string  `json:"shadow_reasons"`
	LiveRevision   string    `json:"live_revision"`
	ShadowRevision string    `json:"shadow_revision"`
}

func newShadowPolicy(m *metrics, log *slog.Logger) *shadowPolicy {
	sp := &shadowPolicy{log: log}
	sp.diffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_policy_shadow_differences_total",
		Help: "Decisions where the shadow policy (serve --shadow-config, or PUT /api/config/shadow) answered otherwise than the live one, by the live and the shadow answer (allow, deny; error for a shadow evaluation that failed).",
	}, []string{"live", "shadow"})
	m.reg.MustRegister(sp.diffs)
	m.collectors = append(m.collectors, sp.diffs)
	return sp
}

// set makes c the candidate (nil clears it) and forgets the differences
// of the one it replaces.
func (sp *shadowPolicy) set(c *shadowCandidate) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.cur.Store(c)
	sp.recent = nil
}

// differences returns the latest differences, newest first.
func (sp *shadowPolicy) differences() []shadowDifference {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	out := make([]shadowDifference, len(sp.recent))
	for i, d := range sp.recent {
		out[len(out)-1-i] = d
	}
	return out
}

func answer(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// compare decides in under the shadow candidate, if any, and reports a
// difference from live, the decision live (the engine that made it)
// enforced.
func (sp *shadowPolicy) compare(ctx context.Context, live *engine.Engine, requestID string, in engine.Input, d engine.Decision) {
	c := sp.cur.Load()
	if c == nil {
		return
	}
	shadow, err := c.eng.Decide(ctx, in)
	got := answer(shadow.Allow)
	switch {
	case err != nil:
		got = "error"
		c.errs.Add(1)
	case shadow.Allow == d.Allow:
		return
	case d.Allow:
		c.allowDeny.Add(1)
	default:
		c.denyAllow.Add(1)
	}
	sp.diffs.WithLabelValues(answer(d.Allow), got).Inc()
	live.LogShadowDifference(in, d, shadow, err)
	diff := shadowDifference{
		Time: time.Now().UTC(), RequestID: requestID, DecisionID: d.ID,
		Login: in.User.Login, Provider: in.Request.Provider, Model: in.Request.Model,
		Live: answer(d.Allow), Shadow: got, LiveReasons: nonNilStrings(d.Reasons), ShadowReasons: nonNilStrings(shadow.Reasons),
		LiveRevision: d.Revision, ShadowRevision: shadow.Revision,
	}
	sp.mu.Lock()
	if sp.cur.Load() == c { // not replaced meanwhile
		sp.recent = append(sp.recent, diff)
		if len(sp.recent) > maxShadowRecent {
			sp.recent = sp.recent[len(sp.recent)-maxShadowRecent:]
		}
	}
	sp.mu.Unlock()
	attrs := []any{
		"request_id", requestID, "login", in.User.Login, "provider", in.Request.Provider, "model", in.Request.Model,
		"live_decision_id", d.ID, "live_revision", d.Revision, "live_allow", d.Allow, "live_reasons", d.Reasons,
		"shadow_revision", shadow.Revision, "shadow_allow", shadow.Allow, "shadow_reasons", shadow.Reasons,
	}
	if err != nil {
		attrs = append(attrs, "shadow_err", err)
	}
	sp.log.Info("policy shadow difference", attrs...)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
