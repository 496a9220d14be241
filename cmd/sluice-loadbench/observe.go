package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluice-gateway/sluice/proxy"
)

// metricsHandler is the observed gateway's /metrics, for the scraper.
var metricsHandler http.Handler

// startObserved runs a second sluice with everything an operator turns
// on to watch it: per-user metrics, read by a scraper every second, and
// tracing sampled at sampleRatio, batched and exported over OTLP/HTTP to
// a receiver on loopback that reads and drops the spans.
func startObserved(ctx context.Context, upstreamURL string) (string, func(), error) {
	var exported atomic.Int64
	receiver, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exported.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	if err != nil {
		return "", nil, err
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(receiver.URL+"/v1/traces"))
	if err != nil {
		return "", nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sampleRatio))))
	srv, closeSluice, err := startSluice(ctx, upstreamURL, func(o *proxy.Options) {
		o.TracerProvider = tp
		o.MetricsPerUser = true
	})
	if err != nil {
		return "", nil, err
	}
	scrapeCtx, stopScraping := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-scrapeCtx.Done():
				return
			case <-tick.C:
				metricsHandler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
			}
		}
	}()
	return srv.URL, func() {
		stopScraping()
		tp.Shutdown(ctx)
		fmt.Fprintf(os.Stderr, "the OTLP receiver got %d KiB of spans\n", exported.Load()>>10)
		srv.Close()
		closeSluice()
		receiver.Close()
	}, nil
}
