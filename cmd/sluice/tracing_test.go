package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestServeRefusesUnknownTraceExporter(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, `OTEL_TRACES_EXPORTER="zipkin"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeTracesOTLP: with OTEL_TRACES_EXPORTER=otlp, `sluice serve`
// sends its spans to the OTLP/HTTP endpoint of the standard variables; a
// receiver written here decodes them and finds the request's span, its
// service name and its attributes.
func TestServeTracesOTLP(t *testing.T) {
	var mu sync.Mutex
	var spans []string
	var service string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					var model string
					for _, a := range s.GetAttributes() {
						if a.GetKey() == "gen_ai.request.model" {
							model = a.GetValue().GetStringValue()
						}
					}
					spans = append(spans, s.GetName()+" "+model)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(nil)
	}))
	defer receiver.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	addr, stderr, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com", "--access-log=false")
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop() // flushes the batch
	mu.Lock()
	defer mu.Unlock()
	if service != "sluice" || !slices.Contains(spans, "sluice.request gpt-5") || !slices.Contains(spans, "sluice.policy ") {
		t.Errorf("receiver got service %q, spans %q; stderr %s", service, spans, stderr.String())
	}
}
