package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/sluice-gateway/sluice/policy"
)

// tracerProvider builds the trace exporter from the configuration's
// tracing section and the standard OTEL_* variables; a setting the
// section has wins over its variable. Tracing is on when the section says
// "enabled": true, or, when it does not say, when OTEL_TRACES_EXPORTER is
// otlp; off when unset or "none"; any other exporter name is refused
// rather than ignored. The exporter reads OTEL_EXPORTER_OTLP_* (endpoint,
// headers, TLS, timeout) for what the section leaves out, and the sampler
// OTEL_TRACES_SAMPLER(_ARG) unless the section has sample_ratio. The
// returned function flushes and stops.
func tracerProvider(ctx context.Context, cfg policy.Tracing) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	off := func(context.Context) error { return nil }
	if cfg.Enabled != nil && !*cfg.Enabled {
		return nil, off, nil
	}
	if cfg.Enabled == nil {
		switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
		case "", "none":
			return nil, off, nil
		case "otlp":
		default:
			return nil, nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: sluice exports traces with otlp only (or none)", exp)
		}
	}
	protocol := cfg.Protocol
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	}
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", policy.TracingHTTP:
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(otlpHTTPTracesURL(cfg.Endpoint)))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		exporter, err = otlptracehttp.New(ctx, opts...)
	case policy.TracingGRPC:
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		exporter, err = otlptracegrpc.New(ctx, opts...)
	default:
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the name.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("sluice")), resource.WithFromEnv())
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)}
	if cfg.SampleRatio != nil {
		// A trace the caller started keeps the caller's decision.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*cfg.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// otlpHTTPTracesURL adds OTLP/HTTP's /v1/traces to an endpoint without a
// path, as OTEL_EXPORTER_OTLP_ENDPOINT is read; a URL with a path is
// taken as the full traces URL, as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is.
func otlpHTTPTracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}
