package proxy

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// tracerName names sluice's instrumentation in its spans.
const tracerName = "github.com/sluice-gateway/sluice/proxy"

// newTracer is the tracer of Options.TracerProvider; a no-op one, which
// costs nothing per request, when tracing is off.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return noop.NewTracerProvider().Tracer(tracerName)
	}
	return tp.Tracer(tracerName)
}

// traced reports whether this request's span records: tracing is on and
// the sampler kept the request. An unsampled request gets no child spans
// and no attributes, which costs nothing a trace could show: every
// standard sampler (parent-based, ratio by trace ID, always on) decides a
// child as it decided its root.
func (ex *exchange) traced() bool {
	return ex.s.tracing && trace.SpanFromContext(ex.r.Context()).IsRecording()
}

// propagateTrace passes the request's trace context on to the provider in
// traceparent, sampled or not, so that a provider that traces follows
// sluice's sampling decision. A sampled request's tracingTransport then
// names its upstream span there instead.
func (ex *exchange) propagateTrace(out *http.Request) {
	if ex.s.tracing {
		propagation.TraceContext{}.Inject(out.Context(), propagation.HeaderCarrier(out.Header))
	}
}

// startSpan opens the request's span. Everything the request does later
// (the decision, the upstream call) is a child of it through r's context.
func (s *Server) startSpan(r *http.Request) *http.Request {
	if !s.tracing {
		return r
	}
	ctx, span := s.tracer.Start(r.Context(), "sluice.request", trace.WithSpanKind(trace.SpanKindServer))
	// Set after the sampler decided (by trace ID alone), so that the
	// requests it drops do not build them.
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
	}
	return r.WithContext(ctx)
}

// capturedContentMax bounds each body a span carries with capture_content.
const capturedContentMax = 16 << 10

// captureContent reports whether this request's span is to carry the
// request and response bodies: the admin turned tracing.capture_content
// on and the span is sampled (an unsampled one goes nowhere).
func (ex *exchange) captureContent() bool {
	return ex.snap.cfg.Tracing.CaptureContent && ex.traced()
}

// endSpan describes the finished request on its span, following the
// OpenTelemetry GenAI conventions (gen_ai.*) plus sluice's own, and ends
// it. Never a prompt, an answer, a key, or an error's text (an upstream's
// message may quote the prompt), unless the admin turned
// tracing.capture_content on: then the bodies (never a header, so never
// a key) are added.
func (ex *exchange) endSpan(rec *store.Record) {
	if !ex.s.tracing {
		return
	}
	span := trace.SpanFromContext(ex.r.Context())
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("sluice.request_id", rec.ID),
		attribute.String("sluice.login", rec.Login),
		attribute.String("sluice.format", rec.Format),
		attribute.Int("http.response.status_code", rec.Status),
	}
	if ex.decision.ID != "" {
		attrs = append(attrs, attribute.String("sluice.decision_id", ex.decision.ID), attribute.String("sluice.revision", ex.decision.Revision))
	}
	if rec.Model != "" {
		attrs = append(attrs, attribute.String("gen_ai.request.model", rec.Model))
	}
	if rec.Provider != "" {
		attrs = append(attrs, attribute.String("gen_ai.provider.name", rec.Provider))
	}
	if rec.Usage.Input.Reported() {
		attrs = append(attrs, attribute.Int64("gen_ai.usage.input_tokens", rec.Usage.Input.Value()))
	}
	if rec.Usage.Output.Reported() {
		attrs = append(attrs, attribute.Int64("gen_ai.usage.output_tokens", rec.Usage.Output.Value()))
	}
	if rec.Stream {
		attrs = append(attrs, attribute.Bool("sluice.stream", true))
	}
	if ex.captureContent() {
		attrs = append(attrs, attribute.String("sluice.request.body", truncated(ex.body)))
		if ex.recorder != nil && len(ex.result().Body) > 0 {
			attrs = append(attrs, attribute.String("sluice.response.body", truncated(ex.result().Body)))
		}
	}
	span.SetAttributes(attrs...)
	if ex.upstream != nil && !ex.w.firstByte.IsZero() {
		// The answer's way back, from its first byte to its end.
		_, resp := ex.s.tracer.Start(ex.r.Context(), "sluice.response", trace.WithTimestamp(ex.w.firstByte),
			trace.WithAttributes(attribute.Int64("sluice.response_bytes", rec.ResponseBytes)))
		resp.End()
	}
	if rec.Error != "" {
		kind := rec.ErrorKind
		if kind == "" {
			kind = "error"
		}
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}

// truncated is b as a span attribute, cut at capturedContentMax.
func truncated(b []byte) string {
	if len(b) > capturedContentMax {
		return string(b[:capturedContentMax]) + "…(truncated)"
	}
	return string(b)
}

// identify tells who is calling, under a child span of the request.
func (ex *exchange) identify() (identity.Identity, error) {
	if !ex.traced() {
		return ex.s.opts.Identity.Identify(ex.r)
	}
	_, span := ex.s.tracer.Start(ex.r.Context(), "sluice.identify")
	defer span.End()
	who, err := ex.s.opts.Identity.Identify(ex.r)
	if err != nil {
		span.SetStatus(codes.Error, "caller not identified")
	}
	return who, err
}

// tracedPreRequest runs the pre_request hooks under a child span of the
// request, when there are hooks to call.
func (ex *exchange) tracedPreRequest() bool {
	if !ex.traced() || len(ex.hookCalls(policy.EventPreRequest)) == 0 {
		return ex.preRequest()
	}
	_, span := ex.s.tracer.Start(ex.r.Context(), "sluice.pre_request")
	defer span.End()
	ok := ex.preRequest()
	if !ok {
		span.SetStatus(codes.Error, "request not passed on")
	}
	return ok
}

// decide asks the policy engine under a child span of the request.
func (ex *exchange) decide(in engine.Input) (engine.Decision, error) {
	if !ex.traced() {
		return ex.snap.engine.Decide(ex.r.Context(), in)
	}
	return ex.decideTraced(in)
}

// decideTraced is decide under its span. Its frame (the span's, 1.7 KB)
// is its own, so an untraced decision does not put it on the handler's
// stack while the engine evaluates (see Server.serve).
//
//go:noinline
func (ex *exchange) decideTraced(in engine.Input) (engine.Decision, error) {
	ctx, span := ex.s.tracer.Start(ex.r.Context(), "sluice.policy", trace.WithAttributes(attribute.String("gen_ai.provider.name", in.Request.Provider)))
	defer span.End()
	d, err := ex.snap.engine.Decide(ctx, in)
	span.SetAttributes(attribute.String("sluice.decision_id", d.ID), attribute.Bool("sluice.allow", d.Allow), attribute.String("sluice.revision", d.Revision))
	if err != nil {
		span.SetStatus(codes.Error, "policy evaluation failed")
	}
	return d, err
}

// tracingTransport calls a provider under a client span and passes the
// trace on in the W3C traceparent header, so a provider (or a proxy in
// front of it) that traces joins the request's trace. The span ends when
// the response headers arrive. An unsampled request passes through
// untouched: propagateTrace already set its traceparent.
type tracingTransport struct {
	next   http.RoundTripper
	tracer trace.Tracer
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !trace.SpanFromContext(req.Context()).IsRecording() {
		return t.next.RoundTrip(req)
	}
	ctx, span := t.tracer.Start(req.Context(), "sluice.upstream", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("server.address", req.URL.Host)))
	defer span.End()
	// A RoundTripper must not change the request it was given.
	req = req.Clone(ctx)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, "upstream call failed")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// traced wraps rt in a tracingTransport; nil stays nil.
func traced(rt http.RoundTripper, tracer trace.Tracer) http.RoundTripper {
	if rt == nil {
		return nil
	}
	return &tracingTransport{next: rt, tracer: tracer}
}
