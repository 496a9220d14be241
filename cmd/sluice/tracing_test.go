package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

func TestServeRefusesUnknownTraceExporter(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, `OTEL_TRACES_EXPORTER="zipkin"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// otlpSpan is what otlpReceiver keeps of a span.
type otlpSpan struct {
	name, traceID, spanID string
	attrs                 map[string]string
}

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each
// ExportTraceServiceRequest and keeps the spans, the service name and the
// last export's headers.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []otlpSpan
	service string
	header  http.Header
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		rcv.header = r.Header.Clone()
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					rcv.service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					span := otlpSpan{name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
						spanID: hex.EncodeToString(s.GetSpanId()), attrs: map[string]string{}}
					for _, a := range s.GetAttributes() {
						span.attrs[a.GetKey()] = a.GetValue().GetStringValue()
					}
					rcv.spans = append(rcv.spans, span)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(nil)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// span returns the first received span of that name.
func (rcv *otlpReceiver) span(name string) (otlpSpan, bool) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	i := slices.IndexFunc(rcv.spans, func(s otlpSpan) bool { return s.name == name })
	if i < 0 {
		return otlpSpan{}, false
	}
	return rcv.spans[i], true
}

// TestServeTracesOTLP: with OTEL_TRACES_EXPORTER=otlp, `sluice serve`
// sends its spans to the OTLP/HTTP endpoint of the standard variables; a
// receiver written here decodes them and finds the request's span, its
// service name and its attributes.
func TestServeTracesOTLP(t *testing.T) {
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	addr, stderr, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com", "--access-log=false")
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop() // flushes the batch
	root, ok := rcv.span("sluice.request")
	_, policy := rcv.span("sluice.policy")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.service != "sluice" || !ok || root.attrs["gen_ai.request.model"] != "gpt-5" || !policy {
		t.Errorf("receiver got service %q, spans %v; stderr %s", rcv.service, rcv.spans, stderr.String())
	}
}

// TestServeTracesFromConfig: the tracing section turns tracing on by
// itself, and its endpoint, headers and sample ratio win over the
// OTEL_* variables. The provider gets the W3C traceparent of the
// exported upstream span, and no span holds the prompt or a key.
func TestServeTracesFromConfig(t *testing.T) {
	rcv := newOTLPReceiver(t)
	provider := proxytest.NewUpstream(t)
	provider.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json",
		Body: []byte(`{"id":"c","object":"chat.completion","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)})
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+proxytest.RefusingAddr(t)) // the section's endpoint wins
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")                                // and so does its ratio
	t.Setenv("SLUICE_TEST_TRACE_TOKEN", "collector-token")
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "`+provider.URL+`", "apikey": "sk-provider-secret", "models": ["gpt-5"]}},
		"tracing": {"enabled": true, "endpoint": "`+rcv.URL+`", "sample_ratio": 1, "headers": {"Authorization": "Bearer ${SLUICE_TEST_TRACE_TOKEN}"}}}`)
	addr, stderr, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com", "--access-log=false")
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-5","messages":[{"role":"user","content":"my confidential prompt"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; stderr %s", resp.StatusCode, stderr.String())
	}
	stop()
	up, ok := rcv.span("sluice.upstream")
	if !ok {
		t.Fatalf("no upstream span among %v; stderr %s", rcv.spans, stderr.String())
	}
	if got, want := provider.Last(t).Header.Get("Traceparent"), "00-"+up.traceID+"-"+up.spanID+"-01"; got != want {
		t.Errorf("provider got traceparent %q, want %q", got, want)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if got := rcv.header.Get("Authorization"); got != "Bearer collector-token" {
		t.Errorf("export's Authorization %q, want the section's header", got)
	}
	for _, s := range rcv.spans {
		for k, v := range s.attrs {
			if strings.Contains(v, "confidential") || strings.Contains(v, "sk-provider") {
				t.Errorf("span %s attribute %s = %q", s.name, k, v)
			}
		}
	}
}

// TestTracingSectionOff: "enabled": false wins over OTEL_TRACES_EXPORTER.
func TestTracingSectionOff(t *testing.T) {
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	provider := proxytest.NewUpstream(t)
	provider.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(`{"choices":[]}`)})
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "`+provider.URL+`", "apikey": "sk-x", "models": ["gpt-5"]}},
		"tracing": {"enabled": false}}`)
	addr, _, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com", "--access-log=false")
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if h := provider.Last(t).Header.Get("Traceparent"); h != "" || len(rcv.spans) > 0 {
		t.Errorf("tracing off by the section: traceparent %q, %d spans exported", h, len(rcv.spans))
	}
}
