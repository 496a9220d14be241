package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// metricsConfig is pipelineConfig with an admin, who may read /metrics.
var metricsConfig = strings.Replace(pipelineConfig, `"temp_grants": [`,
	`"temp_grants": [
		{"src": ["ops@example.com"], "grants": [{"role": "admin"}]},`, 1)

// newMetricsGateway serves metricsConfig; callers name themselves in the
// Tailscale-User-Login header, alice when they do not.
func newMetricsGateway(t *testing.T, mutate ...func(*Options)) *gateway {
	t.Helper()
	return newGateway(t, metricsConfig, "", append([]func(*Options){func(o *Options) {
		o.Identity = identity.TrustedHeaders(identity.HeaderTrust{Fallback: identity.Local("alice@example.com")})
	}}, mutate...)...)
}

// scrape reads /metrics as login and parses it with Prometheus's own
// text parser, so a malformed exposition fails the test.
func scrape(t *testing.T, url, login string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(identity.HeaderUserLogin, login)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as %s: %d", url, login, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value returns the value of the series of name with exactly labels
// (name=value pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		want := slices.Clone(labels)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsExposition drives a plain, a streamed, a denied, a failed
// and a misaddressed request through the gateway and checks what an
// operator's dashboard reads from /metrics: the requests by provider,
// model, format, status class and outcome; tokens and cost; latency
// histograms; policy decisions and the decision cache; the config
// revision; Go and process metrics; and no login without the per-user
// switch.
func TestMetricsExposition(t *testing.T) {
	gw := newMetricsGateway(t)
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{Status: 500, ContentType: "application/json",
		Body: []byte(`{"type":"error","error":{"type":"api_error","message":"boom"}}`)})
	chat := gw.URL + "/v1/chat/completions"
	plain := `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`
	for range 2 {
		if resp, body := post(t, chat, nil, plain); resp.StatusCode != 200 {
			t.Fatalf("plain: %d %s", resp.StatusCode, body)
		}
	}
	anth := map[string]string{"Anthropic-Version": "2023-06-01"}
	if resp, _ := post(t, gw.URL+"/v1/messages", map[string]string{identity.HeaderUserLogin: "bob@example.com"},
		`{"model":"shared","max_tokens":10,"messages":[]}`); resp.StatusCode != 403 {
		t.Fatalf("denied: %d", resp.StatusCode)
	}
	if resp, _ := post(t, gw.URL+"/v1/messages", anth, `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}`); resp.StatusCode != 500 {
		t.Fatalf("failed upstream: %d", resp.StatusCode)
	}
	if resp, _ := post(t, chat, nil, `{"model":"invented-model-1","messages":[]}`); resp.StatusCode != 404 {
		t.Fatalf("unknown model: %d", resp.StatusCode)
	}
	drain(t, gw)
	fams := scrape(t, gw.URL+"/metrics", "ops@example.com")

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_requests_total", []string{"provider=openai", "model=gpt-5", "format=openai_chat", "code=2xx", "outcome=ok"}, 2},
		{"sluice_requests_total", []string{"provider=none", "model=shared", "format=anthropic_messages", "code=4xx", "outcome=denied"}, 1},
		{"sluice_requests_total", []string{"provider=anthropic", "model=claude-sonnet-4-5", "format=anthropic_messages", "code=5xx", "outcome=upstream_error"}, 1},
		{"sluice_requests_total", []string{"provider=none", "model=other", "format=openai_chat", "code=4xx", "outcome=error"}, 1},
		{"sluice_tokens_total", []string{"provider=openai", "model=gpt-5", "kind=input"}, 24},
		{"sluice_tokens_total", []string{"provider=openai", "model=gpt-5", "kind=output"}, 6},
		{"sluice_request_duration_seconds", []string{"provider=openai"}, 2},
		{"sluice_time_to_first_byte_seconds", []string{"provider=openai"}, 2},
		{"sluice_policy_decisions_total", []string{"result=allow"}, 3},
		// bob's, and the scrape's own: asked about no model, the admin
		// is not allowed one, but read_metrics lets them read.
		{"sluice_policy_decisions_total", []string{"result=deny"}, 2},
		// Present from the start, and never counted here.
		{"sluice_policy_decisions_total", []string{"result=error"}, 0},
		{"sluice_policy_cache_lookups_total", []string{"result=hit"}, 1},
		// The first decision of each of the four entries below.
		{"sluice_policy_cache_lookups_total", []string{"result=miss"}, 4},
		{"sluice_open_streams", nil, 0},
		{"sluice_hook_queue_length", nil, 0},
		{"sluice_config_revision", []string{"revision=" + gw.srv.state.Load().engine.Revision()}, 1},
		// gpt-5 for the default caller, bob's denial, the failed claude
		// request, and the scrape's own.
		{"sluice_policy_cache_entries", nil, 4},
	} {
		got, ok := value(fams, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if cost, ok := value(fams, "sluice_cost_usd_total", "provider=openai", "model=gpt-5"); !ok || cost <= 0 {
		t.Errorf("sluice_cost_usd_total for gpt-5 = %v (present %v), want a price", cost, ok)
	}
	if _, ok := value(fams, "sluice_stream_duration_seconds", "provider=openai"); ok {
		t.Error("a plain answer counted as a stream")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "sluice_user_") {
			t.Errorf("per-user series %s without MetricsPerUser", name)
		}
	}
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "@") || strings.Contains(l.GetValue(), "sk-") || strings.Contains(l.GetValue(), "invented") {
					t.Errorf("%s carries %s=%q", fam.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsStream: a streamed answer counts in the stream histogram and
// holds sluice_open_streams while it runs; per-user series appear when
// MetricsPerUser is on.
func TestMetricsStream(t *testing.T) {
	gw := newMetricsGateway(t, func(o *Options) { o.MetricsPerUser = true })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse")})
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil,
		`{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	drain(t, gw)
	fams := scrape(t, gw.URL+"/metrics", "ops@example.com")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_requests_total", []string{"provider=openai", "model=gpt-5", "format=openai_chat", "code=2xx", "outcome=ok"}, 1},
		{"sluice_stream_duration_seconds", []string{"provider=openai"}, 1},
		{"sluice_open_streams", nil, 0},
		{"sluice_user_requests_total", []string{"login=alice@example.com", "outcome=ok"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n, _ := value(fams, "sluice_tokens_total", "provider=openai", "model=gpt-5", "kind=output"); n <= 0 {
		t.Errorf("stream output tokens %v", n)
	}
}

// TestMetricsOpenStreams: sluice_open_streams counts a stream while its
// answer is still coming.
func TestMetricsOpenStreams(t *testing.T) {
	gw := newMetricsGateway(t)
	// Events a while apart: the stream is open between them.
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	resp.Body.Read(buf) // the first event arrived: the stream is open
	open, _ := value(scrape(t, gw.URL+"/metrics", "ops@example.com"), "sluice_open_streams")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	drain(t, gw)
	after, _ := value(scrape(t, gw.URL+"/metrics", "ops@example.com"), "sluice_open_streams")
	if open != 1 || after != 0 {
		t.Errorf("sluice_open_streams %v while streaming, %v after; want 1, 0", open, after)
	}
}

// TestMetricsReloads: sluice_config_reloads_total counts reloads by
// result, and the revision label follows the applied configuration.
func TestMetricsReloads(t *testing.T) {
	gw := newMetricsGateway(t)
	cfg := gw.srv.Config()
	if err := gw.srv.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, gw.URL+"/metrics", "ops@example.com")
	for _, c := range []struct {
		result string
		want   float64
	}{{"unchanged", 1}, {"applied", 0}, {"refused", 0}, {"failed", 0}} {
		if got, ok := value(fams, "sluice_config_reloads_total", "result="+c.result); !ok || got != c.want {
			t.Errorf("reloads %s = %v (present %v), want %v", c.result, got, ok, c.want)
		}
	}
}
