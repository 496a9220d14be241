package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// benchModes are the answers the gateway benchmarks proxy: one JSON body,
// and an SSE stream of 20 content chunks and a usage chunk.
func benchModes() []struct {
	name  string
	reply proxytest.Reply
	body  string
} {
	var sse strings.Builder
	for i := range 20 {
		fmt.Fprintf(&sse, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	sse.WriteString("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n")
	return []struct {
		name  string
		reply proxytest.Reply
		body  string
	}{
		{"plain", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)}, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`},
		{"stream", proxytest.Reply{ContentType: "text/event-stream", Body: []byte(sse.String())}, `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	}
}

// BenchmarkGateway measures requests through the whole gateway (identity,
// policy, routing, recording) against a mock upstream on loopback, from 16
// concurrent clients; BenchmarkBareProxy is the same load through a bare
// httputil.ReverseProxy. Compare them with benchstat.
func BenchmarkGateway(b *testing.B) {
	for _, mode := range benchModes() {
		b.Run(mode.name, func(b *testing.B) {
			gw := newGateway(&testing.T{}, pipelineConfig, "alice@example.com")
			defer gw.Close()
			gw.upstream.Handle("/v1/chat/completions", mode.reply)
			runLoad(b, gw.URL, mode.body)
		})
	}
}

// BenchmarkGatewayObserved is BenchmarkGateway with per-user metrics and
// tracing sampled at 1% (spans batched to an exporter that drops them):
// what an operator who watches the gateway pays per request.
func BenchmarkGatewayObserved(b *testing.B) {
	for _, mode := range benchModes() {
		b.Run(mode.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
				sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))))
			defer tp.Shutdown(context.Background())
			gw := newGateway(&testing.T{}, pipelineConfig, "alice@example.com", func(o *Options) {
				o.TracerProvider, o.MetricsPerUser = tp, true
			})
			defer gw.Close()
			gw.upstream.Handle("/v1/chat/completions", mode.reply)
			runLoad(b, gw.URL, mode.body)
		})
	}
}

func BenchmarkBareProxy(b *testing.B) {
	for _, mode := range benchModes() {
		b.Run(mode.name, func(b *testing.B) {
			up := proxytest.NewUpstream(b)
			up.Handle("/v1/chat/completions", mode.reply)
			target, _ := url.Parse(up.URL)
			hs := httptest.NewServer(&httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
				Transport: newTransport(time.Second), // as the gateway's
			})
			defer hs.Close()
			runLoad(b, hs.URL, mode.body)
		})
	}
}

func runLoad(b *testing.B, base, body string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Error(resp.Status)
				return
			}
		}
	})
}
