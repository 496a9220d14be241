package proxy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// spanAttrs returns a span's attributes by key.
func spanAttrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestTracing: a plain, a streamed, a denied and a failed request each
// give one request span with GenAI and sluice attributes, a policy child
// span, and (when forwarded) an upstream child span whose trace context
// reached the provider in traceparent; no span carries a key or a prompt.
func TestTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	gw := newMetricsGateway(t, func(o *Options) { o.TracerProvider = tp })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	gw.upstream.Handle("/v1/responses", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_responses/text.sse")})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{Status: 500, ContentType: "application/json",
		Body: []byte(`{"type":"error","error":{"type":"api_error","message":"boom"}}`)})
	secret := map[string]string{"Authorization": "Bearer sk-client-secret"}
	prompt := `"messages":[{"role":"user","content":"my confidential prompt"}]`

	tests := []struct {
		name, login, path, body string
		status                  int
		upstream                bool
		wantAttrs               map[string]any
		wantError               string
	}{
		{"plain", "", "/v1/chat/completions", `{"model":"gpt-5",` + prompt + `}`, 200, true,
			map[string]any{"gen_ai.request.model": "gpt-5", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": int64(12),
				"gen_ai.usage.output_tokens": int64(3), "sluice.login": "alice@example.com", "http.response.status_code": int64(200)}, ""},
		{"streamed", "", "/v1/responses", `{"model":"gpt-5","stream":true,"input":"my confidential prompt"}`, 200, true,
			map[string]any{"gen_ai.request.model": "gpt-5", "sluice.stream": true, "http.response.status_code": int64(200)}, ""},
		{"denied", "bob@example.com", "/v1/messages", `{"model":"shared","max_tokens":10,` + prompt + `}`, 403, false,
			map[string]any{"sluice.login": "bob@example.com", "error.type": "permission_denied", "http.response.status_code": int64(403)}, "permission_denied"},
		{"failed", "", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,` + prompt + `}`, 500, true,
			map[string]any{"gen_ai.provider.name": "anthropic", "http.response.status_code": int64(500)}, "upstream_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			h := map[string]string{"Anthropic-Version": "2023-06-01"}
			for k, v := range secret {
				h[k] = v
			}
			if tc.login != "" {
				h[identity.HeaderUserLogin] = tc.login
			}
			resp, _ := post(t, gw.URL+tc.path, h, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			drain(t, gw)
			spans := exp.GetSpans()
			byName := make(map[string]tracetest.SpanStub)
			for _, s := range spans {
				byName[s.Name] = s
				for _, kv := range s.Attributes {
					if v := kv.Value.String(); strings.Contains(v, "sk-") || strings.Contains(v, "confidential") {
						t.Errorf("span %s attribute %s = %q", s.Name, kv.Key, v)
					}
				}
			}
			root, ok := byName["sluice.request"]
			if !ok {
				t.Fatalf("no request span among %d", len(spans))
			}
			attrs := spanAttrs(root)
			for k, want := range tc.wantAttrs {
				if got := attrs[attribute.Key(k)].AsInterface(); got != want {
					t.Errorf("%s = %v (%T), want %v", k, got, got, want)
				}
			}
			if attrs["sluice.request_id"].AsString() != resp.Header.Get(headerRequestID) ||
				attrs["sluice.decision_id"].AsString() != resp.Header.Get(headerDecisionID) {
				t.Errorf("request/decision IDs on the span %v, headers %v", attrs, resp.Header)
			}
			if (tc.wantError != "") != (root.Status.Code == codes.Error) {
				t.Errorf("span status %v, want error %q", root.Status, tc.wantError)
			}
			for _, name := range []string{"sluice.identify", "sluice.policy"} {
				child, ok := byName[name]
				if !ok || child.Parent.SpanID() != root.SpanContext.SpanID() {
					t.Errorf("%s span missing or not the request's child: %+v", name, child.Parent)
				}
			}
			if resp, ok := byName["sluice.response"]; ok != tc.upstream || (ok && (resp.Parent.SpanID() != root.SpanContext.SpanID() || resp.StartTime.Before(root.StartTime))) {
				t.Errorf("response span present %v, want %v: %+v", ok, tc.upstream, resp)
			}
			up, ok := byName["sluice.upstream"]
			if ok != tc.upstream {
				t.Fatalf("upstream span present %v, want %v", ok, tc.upstream)
			}
			if !ok {
				return
			}
			if up.Parent.SpanID() != root.SpanContext.SpanID() {
				t.Error("upstream span is not the request's child")
			}
			got := gw.upstream.Last(t).Header.Get("Traceparent")
			if !strings.Contains(got, up.SpanContext.TraceID().String()) || !strings.Contains(got, up.SpanContext.SpanID().String()) {
				t.Errorf("provider got traceparent %q, want the upstream span %s", got, up.SpanContext.SpanID())
			}
		})
	}
}

// TestTracingPreRequestHooks: pre_request hooks run under their own
// child span of the request.
func TestTracingPreRequestHooks(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	gw, _ := newHookGateway(t, "fail_open", func(o *Options) { o.TracerProvider = tp })
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	drain(t, gw)
	var root, hook tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case "sluice.request":
			root = s
		case "sluice.pre_request":
			hook = s
		}
	}
	if hook.Name == "" || hook.Parent.SpanID() != root.SpanContext.SpanID() {
		t.Errorf("pre_request span %+v, request span %s", hook, root.SpanContext.SpanID())
	}
}

// TestTracingOffByDefault: without a TracerProvider the provider gets no
// traceparent from sluice.
func TestTracingOffByDefault(t *testing.T) {
	gw := newMetricsGateway(t)
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`)
	if h := gw.upstream.Last(t).Header.Get("Traceparent"); h != "" {
		t.Errorf("traceparent %q with tracing off", h)
	}
}

// TestTracingCaptureContent: with tracing.capture_content on, a sampled
// request's span carries the request and response bodies (never the
// client's or the provider's key); a reload turns it off without a
// restart, while a reload that changes where traces go is refused.
func TestTracingCaptureContent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	withTracing := func(section string) string {
		return strings.Replace(metricsConfig, `"temp_grants": [`, `"tracing": `+section+`, "temp_grants": [`, 1)
	}
	gw := newGateway(t, withTracing(`{"capture_content": true}`), "alice@example.com", func(o *Options) { o.TracerProvider = tp })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	reload := func(section string) error {
		t.Helper()
		cfg, err := policy.Parse("test.hujson", []byte(strings.ReplaceAll(withTracing(section), "UPSTREAM", gw.upstream.URL)), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return gw.srv.Reload(t.Context(), cfg)
	}
	body := `{"model":"gpt-5","messages":[{"role":"user","content":"my confidential prompt"}]}`
	tests := []struct {
		name        string
		section     string
		wantContent bool
	}{
		{"on", `{"capture_content": true}`, true},
		{"off by reload", `{"capture_content": false}`, false},
		{"absent", `{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := reload(tc.section); err != nil {
				t.Fatal(err)
			}
			exp.Reset()
			if resp, got := post(t, gw.URL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-client-secret"}, body); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, got)
			}
			drain(t, gw)
			var attrs map[attribute.Key]attribute.Value
			for _, s := range exp.GetSpans() {
				for _, kv := range s.Attributes {
					if v := kv.Value.String(); strings.Contains(v, "sk-") {
						t.Errorf("span %s attribute %s holds a key: %q", s.Name, kv.Key, v)
					}
					if v := kv.Value.String(); !tc.wantContent && strings.Contains(v, "confidential") {
						t.Errorf("span %s attribute %s holds the prompt with capture off", s.Name, kv.Key)
					}
				}
				if s.Name == "sluice.request" {
					attrs = spanAttrs(s)
				}
			}
			req, resp := attrs["sluice.request.body"].AsString(), attrs["sluice.response.body"].AsString()
			if got := strings.Contains(req, "my confidential prompt") && strings.Contains(resp, `"content":"hello"`); got != tc.wantContent {
				t.Errorf("content on the span %v, want %v: request %q, response %q", got, tc.wantContent, req, resp)
			}
		})
	}

	var restart *RestartRequiredError
	if err := reload(`{"endpoint": "http://127.0.0.1:4318"}`); !errors.As(err, &restart) || !slices.Equal(restart.Fields, []string{"tracing"}) {
		t.Errorf("reload changing tracing.endpoint: %v, want a restart-required error naming tracing", err)
	}
}

// TestTracingUnsampled: a request the sampler drops exports no span, yet
// the provider still gets a traceparent, marked not sampled, so that it
// follows sluice's decision.
func TestTracingUnsampled(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	gw := newMetricsGateway(t, func(o *Options) { o.TracerProvider = tp })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	drain(t, gw)
	if spans := exp.GetSpans(); len(spans) > 0 {
		t.Errorf("%d spans exported for an unsampled request", len(spans))
	}
	if got := gw.upstream.Last(t).Header.Get("Traceparent"); !strings.HasPrefix(got, "00-") || !strings.HasSuffix(got, "-00") {
		t.Errorf("provider got traceparent %q, want one marked not sampled", got)
	}
}
