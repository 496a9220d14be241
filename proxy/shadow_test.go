package proxy

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// shadowCandidateConfig turns metricsConfig around: alice keeps only gpt-5,
// bob gets every model.
var shadowCandidateConfig = strings.NewReplacer(
	`{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]}`,
	`{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "openai", "model": "gpt-5"}]}]}`,
	`{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "anthropic", "model": "claude-*"}]}]}`,
	`{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]}`,
).Replace(metricsConfig)

// TestShadowPolicy: the live policy is enforced; where the shadow policy
// answers otherwise, the difference is counted and logged with both
// answers.
func TestShadowPolicy(t *testing.T) {
	if shadowCandidateConfig == metricsConfig {
		t.Fatal("the candidate is the live policy")
	}
	cfg, err := policy.Parse("shadow.hujson", []byte(strings.ReplaceAll(shadowCandidateConfig, "UPSTREAM", "http://127.0.0.1:1")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := engine.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	gw := newMetricsGateway(t, func(o *Options) {
		o.Shadow = shadow
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})

	tests := []struct {
		login, path, body string
		wantStatus        int // the live policy's answer
	}{
		{"alice@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 200},                    // both allow
		{"alice@example.com", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`, 200}, // shadow denies
		{"bob@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 403},                      // shadow allows
		{"bob@example.com", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`, 200},   // both allow
		{"carol@example.com", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, 403},                    // both deny
	}
	for _, tt := range tests {
		resp, body := post(t, gw.URL+tt.path, map[string]string{identity.HeaderUserLogin: tt.login}, tt.body)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s %s: status %d, want the live policy's %d: %s", tt.login, tt.body, resp.StatusCode, tt.wantStatus, body)
		}
	}
	fams := scrape(t, gw.URL+"/metrics", "ops@example.com")
	for _, c := range []struct {
		live, shadow string
		want         float64
	}{{"allow", "deny", 1}, {"deny", "allow", 1}} {
		if got, _ := value(fams, "sluice_policy_shadow_differences_total", "live="+c.live, "shadow="+c.shadow); got != c.want {
			t.Errorf("differences live=%s shadow=%s: %v, want %v", c.live, c.shadow, got, c.want)
		}
	}
	lines := strings.Count(logs.String(), "policy shadow difference")
	if lines != 2 || !strings.Contains(logs.String(), "login=bob@example.com provider=openai model=gpt-5") ||
		!strings.Contains(logs.String(), "live_allow=false") || !strings.Contains(logs.String(), "shadow_allow=true") {
		t.Errorf("%d difference lines, want 2 with both answers:\n%s", lines, logs.String())
	}
	if got := len(gw.upstream.Received()); got != 3 {
		t.Errorf("upstream received %d requests, want the 3 the live policy allows", got)
	}
}

// A gateway without a shadow policy has no shadow metric.
func TestNoShadowNoMetric(t *testing.T) {
	gw := newMetricsGateway(t)
	if _, ok := scrape(t, gw.URL+"/metrics", "ops@example.com")["sluice_policy_shadow_differences_total"]; ok {
		t.Error("shadow metric without a shadow policy")
	}
}
