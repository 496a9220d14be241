package compat

import (
	"net/http"
	"strings"
)

// What request headers reach a provider is an allow-list per format: the
// headers the official SDKs send that change how the provider answers
// (content negotiation, API version and beta features, tracing), and
// nothing else. A deny-list of credentials misses the next spelling
// (Api_Key, Ocp-Apim-Subscription-Key) and the headers that bill another
// account (OpenAI-Organization, OpenAI-Project, X-Goog-User-Project) or
// aim at another resource; an allow-list fails closed.

// headerTable lists the request headers one format forwards: exact names
// (canonical form) and name prefixes (canonical form, ending in '-').
type headerTable struct {
	names    []string
	prefixes []string
}

// commonHeaders are forwarded in every format: content negotiation, W3C
// and AWS tracing, and the session headers sluice reads to group requests
// into sessions (store.SessionHeaders), which providers may use as well.
var commonHeaders = []string{
	"Accept",
	"Content-Type",
	"User-Agent",
	"Traceparent",
	"Tracestate",
	"Baggage",
	"X-Amzn-Trace-Id",
	"X-Claude-Code-Session-Id",
	"Session-Id",
	"Session_id",
	"X-Session-Id",
	"X-Opencode-Session",
}

// stainless is the prefix of the OpenAI and Anthropic SDKs' telemetry
// headers (language, version, retry count, timeout).
const stainless = "X-Stainless-"

var (
	openAIHeaders = headerTable{
		names:    []string{"Openai-Beta", "Idempotency-Key"},
		prefixes: []string{stainless},
	}
	anthropicHeaders = headerTable{
		names:    []string{"Anthropic-Version", "Anthropic-Beta", "Idempotency-Key"},
		prefixes: []string{stainless},
	}
	// X-Goog-User-Project is left out on purpose: it bills another Google
	// Cloud project with the provider's credential.
	googleHeaders = headerTable{
		names: []string{"X-Goog-Api-Client", "X-Server-Timeout"},
	}
	// Claude on Vertex: Anthropic's beta header next to Google's client
	// header; the version travels in the body.
	vertexAnthropicHeaders = headerTable{
		names:    []string{"Anthropic-Beta", "X-Goog-Api-Client"},
		prefixes: []string{stainless},
	}
	// Bedrock's request options and the AWS SDKs' invocation headers. The
	// SigV4 headers (X-Amz-Date, X-Amz-Content-Sha256,
	// X-Amz-Security-Token) are the client's credential and stay out.
	bedrockHeaders = headerTable{
		names: []string{
			"X-Amzn-Bedrock-Accept",
			"X-Amzn-Bedrock-Trace",
			"X-Amzn-Bedrock-Guardrailidentifier",
			"X-Amzn-Bedrock-Guardrailversion",
			"X-Amzn-Bedrock-Performanceconfig-Latency",
			"X-Amzn-Bedrock-Service-Tier",
			"Amz-Sdk-Invocation-Id",
			"Amz-Sdk-Request",
		},
	}
)

// forwardHeaders is the allow-list of each format.
var forwardHeaders = map[string]headerTable{
	OpenAIChat:            openAIHeaders,
	OpenAIResponses:       openAIHeaders,
	AnthropicMessages:     anthropicHeaders,
	GeminiGenerateContent: googleHeaders,
	GoogleGenerateContent: googleHeaders,
	GoogleRawPredict:      vertexAnthropicHeaders,
	BedrockModelInvoke:    bedrockHeaders,
	BedrockConverse:       bedrockHeaders,
}

// ForwardedHeader reports whether a request header may reach an upstream
// of the format. Unknown formats forward only the common headers.
func ForwardedHeader(format, name string) bool {
	name = http.CanonicalHeaderKey(name)
	for _, n := range commonHeaders {
		if n == name {
			return true
		}
	}
	t := forwardHeaders[format]
	for _, n := range t.names {
		if n == name {
			return true
		}
	}
	for _, p := range t.prefixes {
		if len(name) > len(p) && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// FilterRequestHeaders deletes from h every header an upstream of the
// format may not receive (see ForwardedHeader): client credentials,
// cookies, billing and organisation headers, Content-Encoding (the proxy
// forwards bodies decoded) and any header the format does not list.
func FilterRequestHeaders(format string, h http.Header) {
	for name := range h {
		if !ForwardedHeader(format, name) {
			delete(h, name)
		}
	}
}
