package policy

import (
	"maps"
	"net/url"
	"strings"

	"github.com/tailscale/hujson"
)

// Trace export protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	TracingHTTP = "http/protobuf"
	TracingGRPC = "grpc"
)

// Tracing is the tracing section, sluice's own (Aperture has none): where
// and how much of its OpenTelemetry traces to export. Every setting the
// file leaves out falls back to the standard OTEL_* environment variable;
// a setting the file has wins over the variable, as options given in code
// win over the environment in the OpenTelemetry SDKs.
type Tracing struct {
	// Enabled turns export on or off; nil when the file does not say, and
	// OTEL_TRACES_EXPORTER decides.
	Enabled *bool
	// Endpoint is the OTLP receiver's URL ("http://collector:4318" for
	// http/protobuf, whose path /v1/traces is added when it has none;
	// "http://collector:4317" for grpc). Empty: OTEL_EXPORTER_OTLP_*.
	Endpoint string
	// Protocol is TracingHTTP or TracingGRPC; empty: the environment's,
	// else http/protobuf.
	Protocol string
	// SampleRatio is the share of new traces recorded, 0 to 1 (a trace
	// the caller started follows the caller's decision); nil: the
	// environment's OTEL_TRACES_SAMPLER, else every trace.
	SampleRatio *float64
	// CaptureContent adds the request and response bodies to sampled
	// spans. Off by default: bodies hold prompts and answers.
	CaptureContent bool
	// Headers are sent with every export (an authorization token for a
	// hosted collector); they override OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string
}

// Equal reports whether two tracing sections say the same.
func (t Tracing) Equal(o Tracing) bool {
	ptrEq := func(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	ratioEq := (t.SampleRatio == nil) == (o.SampleRatio == nil) && (t.SampleRatio == nil || *t.SampleRatio == *o.SampleRatio)
	return ptrEq(t.Enabled, o.Enabled) && t.Endpoint == o.Endpoint && t.Protocol == o.Protocol && ratioEq &&
		t.CaptureContent == o.CaptureContent && maps.Equal(t.Headers, o.Headers)
}

// tracing reads the tracing section.
func (d *decoder) tracing(c *Config, v *hujson.Value, path string) {
	t := &c.Tracing
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "enabled":
			if !isNull(fv) {
				on := d.boolean(fv, fp)
				t.Enabled = &on
			}
		case "endpoint":
			t.Endpoint = d.str(fv, fp)
			if msg := checkOTLPEndpoint(t.Endpoint); msg != "" {
				d.errorAt(fv, fp, CodeBadTracing, errorf("tracing.endpoint: %s", msg))
			}
		case "protocol":
			t.Protocol = d.str(fv, fp)
			if t.Protocol != "" && t.Protocol != TracingHTTP && t.Protocol != TracingGRPC {
				d.errorAt(fv, fp, CodeBadTracing, errorf("tracing.protocol: unknown protocol %q (want %q or %q)", t.Protocol, TracingHTTP, TracingGRPC))
			}
		case "sample_ratio":
			if isNull(fv) {
				return true
			}
			r := d.number(fv, fp)
			if r < 0 || r > 1 {
				d.errorAt(fv, fp, CodeBadTracing, errorf("tracing.sample_ratio: %g is out of range (want 0 to 1, e.g. 0.01 for 1%% of requests)", r))
			}
			t.SampleRatio = &r
		case "capture_content":
			t.CaptureContent = d.boolean(fv, fp)
		case "headers":
			t.Headers = make(map[string]string)
			d.object(fv, fp, func(name string, hv *hujson.Value, hp string) bool {
				if !validHeaderName(name) {
					d.errorAt(hv, hp, CodeBadTracing, errorf("tracing.headers: %q is not a valid HTTP header name", name))
				}
				t.Headers[name] = d.str(hv, hp)
				return true
			})
		default:
			return false
		}
		return true
	})
}

// checkOTLPEndpoint returns why s cannot be an OTLP endpoint URL, or "".
func checkOTLPEndpoint(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return errorf("%q: want an http:// or https:// URL such as \"http://127.0.0.1:4318\"", s)
	case u.Host == "" || strings.HasPrefix(u.Host, ":"):
		return errorf("%q has no host", s)
	case u.User != nil:
		// Not echoed: the URL holds a secret.
		return "the URL carries credentials; put them in tracing.headers"
	}
	return ""
}
