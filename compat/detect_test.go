package compat

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	const (
		vertexPH = "/v1/projects/" + VertexProjectPlaceholder + "/locations/" + VertexRegionPlaceholder
		arn      = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-5-20251101-v1:0"
	)
	tests := []struct {
		name      string
		method    string
		path      string // escaped, may carry a query
		kind      RouteKind
		format    string
		model     string
		stream    bool
		op        string
		rpc       string
		project   string
		wantErr   error
		errFormat string // format carried along with the error
	}{
		{name: "openai chat", path: "/v1/chat/completions", kind: RouteAPI, format: OpenAIChat, op: OpGenerate},
		{name: "openai chat without v1", path: "/chat/completions", kind: RouteAPI, format: OpenAIChat, op: OpGenerate},
		{name: "trailing slash", path: "/v1/chat/completions/", kind: RouteAPI, format: OpenAIChat, op: OpGenerate},
		{name: "responses", path: "/v1/responses", kind: RouteAPI, format: OpenAIResponses, op: OpGenerate},
		{name: "responses compact", path: "/v1/responses/compact", kind: RouteAPI, format: OpenAIResponses, op: OpCompact},
		{name: "responses input tokens", path: "/v1/responses/input_tokens", kind: RouteAPI, format: OpenAIResponses, op: OpCountTokens},
		{name: "anthropic messages", path: "/v1/messages?beta=true", kind: RouteAPI, format: AnthropicMessages, op: OpGenerate},
		{name: "anthropic count tokens", path: "/v1/messages/count_tokens", kind: RouteAPI, format: AnthropicMessages, op: OpCountTokens},
		{name: "gemini generate", path: "/v1beta/models/gemini-2.5-flash:generateContent", kind: RouteAPI,
			format: GeminiGenerateContent, model: "gemini-2.5-flash", op: OpGenerate, rpc: "generateContent"},
		{name: "gemini stream", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", kind: RouteAPI,
			format: GeminiGenerateContent, model: "gemini-2.5-flash", stream: true, op: OpGenerate, rpc: "streamGenerateContent"},
		{name: "gemini v1 count tokens", path: "/v1/models/gemini-2.5-pro:countTokens", kind: RouteAPI,
			format: GeminiGenerateContent, model: "gemini-2.5-pro", op: OpCountTokens, rpc: "countTokens"},
		{name: "gemini unsupported rpc", path: "/v1beta/models/text-embedding-004:embedContent", wantErr: ErrNotFound},
		{name: "bedrock invoke raw colon", path: "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", kind: RouteAPI,
			format: BedrockModelInvoke, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", op: OpGenerate, rpc: "invoke"},
		{name: "bedrock invoke stream escaped colon", path: "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
			kind: RouteAPI, format: BedrockModelInvoke, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", stream: true, op: OpGenerate,
			rpc: "invoke-with-response-stream"},
		{name: "bedrock converse escaped ARN", path: "/bedrock/model/" + url.PathEscape(arn) + "/converse", kind: RouteAPI,
			format: BedrockConverse, model: arn, op: OpGenerate, rpc: "converse"},
		{name: "bedrock converse stream raw ARN", path: "/model/" + arn + "/converse-stream", kind: RouteAPI,
			format: BedrockConverse, model: arn, stream: true, op: OpGenerate, rpc: "converse-stream"},
		{name: "bedrock percent once only", path: "/model/a%253Ab/converse", kind: RouteAPI, format: BedrockConverse,
			model: "a%3Ab", op: OpGenerate, rpc: "converse"},
		{name: "bedrock unknown operation", path: "/model/amazon.nova-lite-v1:0/count-tokens", wantErr: ErrNotFound},
		{name: "vertex gemini placeholders", path: vertexPH + "/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
			kind: RouteAPI, format: GoogleGenerateContent, model: "gemini-2.5-pro", stream: true, op: OpGenerate,
			rpc: "streamGenerateContent", project: VertexProjectPlaceholder},
		{name: "vertex gemini express mode", path: "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent", kind: RouteAPI,
			format: GoogleGenerateContent, model: "gemini-2.5-flash", op: OpGenerate, rpc: "generateContent"},
		{name: "vertex claude stream", path: "/v1beta1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
			kind: RouteAPI, format: GoogleRawPredict, model: "claude-sonnet-4-5@20250929", stream: true, op: OpGenerate,
			rpc: "streamRawPredict", project: "acme-ml"},
		{name: "vertex claude escaped at sign", path: "/v1/projects/acme-ml/locations/global/publishers/anthropic/models/claude-haiku-4-5%4020251001:rawPredict",
			kind: RouteAPI, format: GoogleRawPredict, model: "claude-haiku-4-5@20251001", op: OpGenerate, rpc: "rawPredict", project: "acme-ml"},
		{name: "vertex claude count tokens", path: "/v1/projects/acme-ml/locations/global/publishers/anthropic/models/count-tokens:rawPredict",
			kind: RouteAPI, format: GoogleRawPredict, op: OpCountTokens, rpc: "rawPredict", project: "acme-ml"},
		{name: "vertex unknown publisher", path: "/v1/projects/p/locations/l/publishers/meta/models/llama:rawPredict", wantErr: ErrNotFound},
		{name: "models list", method: http.MethodGet, path: "/v1/models", kind: RouteModels},
		{name: "one model", method: http.MethodGet, path: "/v1/models/gpt-5", kind: RouteModels, model: "gpt-5"},
		{name: "models by POST", path: "/v1/models", wantErr: ErrMethodNotAllowed},
		{name: "chat by GET", method: http.MethodGet, path: "/v1/chat/completions", wantErr: ErrMethodNotAllowed, errFormat: OpenAIChat},
		{name: "doubled v1 chat", path: "/v1/v1/chat/completions", wantErr: ErrDoubledV1, errFormat: OpenAIChat},
		{name: "doubled v1 messages", path: "/v1/v1/messages", wantErr: ErrDoubledV1, errFormat: AnthropicMessages},
		{name: "doubled v1 unknown", path: "/v1/v1/nothing", wantErr: ErrDoubledV1},
		{name: "unknown path", path: "/v2/chat", wantErr: ErrNotFound},
		{name: "root", path: "/", wantErr: ErrNotFound},
		{name: "relative", path: "v1/messages", wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			u, err := url.Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Detect(method, u.EscapedPath(), u.Query())
			if tt.wantErr != nil {
				var re *RouteError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &re) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if r.Format != tt.errFormat {
					t.Errorf("format with the error %q, want %q", r.Format, tt.errFormat)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tt.kind || r.Format != tt.format || r.Model != tt.model || r.Stream != tt.stream ||
				r.Operation != tt.op || r.Method != tt.rpc || r.Project != tt.project {
				t.Errorf("route %+v", r)
			}
			if r.Path() != u.EscapedPath() {
				t.Errorf("path %q", r.Path())
			}
		})
	}
}

func TestRouteErrorMessages(t *testing.T) {
	_, err := Detect(http.MethodPost, "/v1/v1/chat/completions", nil)
	var re *RouteError
	if !errors.As(err, &re) || re.Status() != http.StatusNotFound || re.Kind() != KindNotFound {
		t.Fatalf("doubled /v1: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "base URL") || !strings.Contains(msg, "misconfigured") {
		t.Errorf("doubled /v1 message does not point at the base URL: %q", msg)
	}
	_, err = Detect(http.MethodDelete, "/v1/messages", nil)
	if !errors.As(err, &re) || re.Status() != http.StatusMethodNotAllowed || re.Kind() != KindMethodNotAllowed ||
		!strings.Contains(err.Error(), "DELETE") {
		t.Errorf("method error: %v", err)
	}
	_, err = Detect(http.MethodPost, "/v1/embeddings", nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "/v1/embeddings") {
		t.Errorf("not found error: %v", err)
	}
}

func TestGeminiSSEFlag(t *testing.T) {
	r, err := Detect(http.MethodPost, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", url.Values{"alt": {"sse"}})
	if err != nil || !r.SSE {
		t.Errorf("alt=sse not noted: %+v %v", r, err)
	}
	r, _ = Detect(http.MethodPost, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", nil)
	if r.SSE || !r.Stream {
		t.Errorf("stream without alt=sse: %+v", r)
	}
}

func TestFormatsTable(t *testing.T) {
	want := []string{OpenAIChat, OpenAIResponses, AnthropicMessages, GeminiGenerateContent,
		BedrockModelInvoke, BedrockConverse, GoogleGenerateContent, GoogleRawPredict}
	got := Formats()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("formats %v", got)
	}
	for _, f := range want {
		if !Known(f) {
			t.Errorf("%s unknown", f)
		}
	}
	if Known("openai_completions") {
		t.Error("unknown format reported as known")
	}
	if _, err := Inspect(Route{Format: "nope"}, []byte(`{}`)); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Inspect of an unknown format: %v", err)
	}
}

func TestStreamingResponse(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"text/event-stream; charset=utf-8", true},
		{"Text/Event-Stream", true},
		{"application/vnd.amazon.eventstream", true},
		{"application/json", false},
		{"text/event-streamed", false},
		{"", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set("Content-Type", tt.ct)
		if got := StreamingResponse(h); got != tt.want {
			t.Errorf("%q: %v", tt.ct, got)
		}
	}
}

// TestUpstreamFormat: a detected route calls the provider in the client's
// own format, and a route to another format is refused until translation
// exists, by To and by UpstreamURL alike.
func TestUpstreamFormat(t *testing.T) {
	tests := []struct {
		path, format string
	}{
		{"/v1/chat/completions", OpenAIChat},
		{"/v1/messages", AnthropicMessages},
		{"/model/amazon.nova-lite-v1:0/converse", BedrockConverse},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			r, err := Detect(http.MethodPost, tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != tt.format || r.UpstreamFormat != tt.format {
				t.Fatalf("format %q, upstream %q; want both %q", r.Format, r.UpstreamFormat, tt.format)
			}
			same, err := r.To(tt.format)
			if err != nil || same.UpstreamFormat != tt.format {
				t.Errorf("To(own format) = %q, %v", same.UpstreamFormat, err)
			}
			other := OpenAIResponses
			if _, err := r.To(other); !errors.Is(err, ErrNoTranslation) {
				t.Errorf("To(%s) = %v, want ErrNoTranslation", other, err)
			}
			r.UpstreamFormat = other
			if _, err := UpstreamURL("https://p.example", r, nil, Vertex{}); !errors.Is(err, ErrNoTranslation) {
				t.Errorf("UpstreamURL to %s = %v, want ErrNoTranslation", other, err)
			}
		})
	}
}
