package compat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadErrorAnswersInAnotherFormat: an upstream's error, read in its
// format, is answered in every client format with the status, kind and
// message a client of that format understands.
func TestReadErrorAnswersInAnotherFormat(t *testing.T) {
	tests := []struct {
		fixture     string
		status      int
		wantStatus  int
		wantKind    ErrorKind
		wantMessage string
	}{
		{"openai_chat/error.json", 429, 429, KindRateLimited, "Rate limit reached for gpt-4.1"},
		{"anthropic_messages/error.json", 400, 400, KindInvalidRequest, "unexpected `tool_use_id`"},
		{"gemini_generate_content/error.json", 400, 400, KindInvalidRequest, "API key not valid"},
		{"google_generate_content/error.json", 403, 403, KindPermissionDenied, "Permission 'aiplatform.endpoints.predict' denied"},
		{"bedrock_converse/error.json", 400, 400, KindInvalidRequest, "The provided model identifier is invalid."},
		{"anthropic_messages/error.json", 529, 503, KindUnavailable, "unexpected `tool_use_id`"},
		{"", 502, 502, KindUpstreamError, "the provider answered HTTP 502"},
		{"", 504, 504, KindTimeout, "the provider answered HTTP 504"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+http.StatusText(tt.status), func(t *testing.T) {
			body := []byte("<html>bad gateway</html>")
			if tt.fixture != "" {
				var err error
				if body, err = os.ReadFile(filepath.Join("..", "testdata", "upstream", tt.fixture)); err != nil {
					t.Fatal(err)
				}
			}
			status, kind, msg := ReadError(tt.status, body)
			if status != tt.wantStatus || kind != tt.wantKind || !strings.Contains(msg, tt.wantMessage) {
				t.Fatalf("ReadError = %d %s %q; want %d %s and %q", status, kind, msg, tt.wantStatus, tt.wantKind, tt.wantMessage)
			}
			for _, format := range Formats() {
				w := httptest.NewRecorder()
				WriteError(w, format, status, kind, msg)
				if w.Code != tt.wantStatus {
					t.Errorf("%s: status %d", format, w.Code)
				}
				if got := errorMessage(w.Body.Bytes()); got != msg {
					t.Errorf("%s: message %q, want %q", format, got, msg)
				}
				if !json.Valid(w.Body.Bytes()) {
					t.Errorf("%s: body %s is not JSON", format, w.Body.Bytes())
				}
				want := map[string]string{
					OpenAIChat:        `"type":"` + kindOf(kind).openaiType + `"`,
					AnthropicMessages: `{"type":"error","error":{"type":"` + kindOf(kind).anthropic + `"`,
				}[format]
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("%s: body %s lacks %s", format, w.Body.String(), want)
				}
			}
		})
	}
}

// TestReadErrorProviderShapes: Gemini's and Bedrock's error answers,
// rate limits above all, reach a client of every format with the status
// and the error type its SDK branches on (a 429 is retried by every SDK
// only when it is a 429 of its own shape).
func TestReadErrorProviderShapes(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantStatus  int
		wantKind    ErrorKind
		wantMessage string
	}{
		{"gemini rate limit", 429, `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED",` +
			`"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"21s"}]}}`,
			429, KindRateLimited, "You exceeded your current quota"},
		{"gemini stream error as an array", 429, `[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]`,
			429, KindRateLimited, "Resource has been exhausted"},
		{"gemini overloaded", 503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			503, KindUnavailable, "The model is overloaded"},
		{"bedrock throttling", 429, `{"message":"Too many requests, please wait before trying again."}`,
			429, KindRateLimited, "Too many requests"},
		{"bedrock service unavailable", 503, `{"message":"Bedrock is unable to process your request."}`,
			503, KindUnavailable, "unable to process"},
		{"bedrock model timeout", 408, `{"message":"Model has timed out in processing the request. Try your request again."}`,
			408, KindTimeout, "Model has timed out"},
	}
	wantShape := map[string]func(ErrorKind) string{
		OpenAIChat:            func(k ErrorKind) string { return `"type":"` + kindOf(k).openaiType + `"` },
		OpenAIResponses:       func(k ErrorKind) string { return `"type":"` + kindOf(k).openaiType + `"` },
		AnthropicMessages:     func(k ErrorKind) string { return `{"type":"error","error":{"type":"` + kindOf(k).anthropic + `"` },
		GeminiGenerateContent: func(k ErrorKind) string { return `"status":"` + kindOf(k).google + `"` },
		BedrockConverse:       func(ErrorKind) string { return `{"message":` },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, kind, msg := ReadError(tt.status, []byte(tt.body))
			if status != tt.wantStatus || kind != tt.wantKind || !strings.Contains(msg, tt.wantMessage) {
				t.Fatalf("ReadError = %d %s %q; want %d %s and %q", status, kind, msg, tt.wantStatus, tt.wantKind, tt.wantMessage)
			}
			for format, shape := range wantShape {
				w := httptest.NewRecorder()
				WriteError(w, format, status, kind, msg)
				if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), shape(kind)) || errorMessage(w.Body.Bytes()) != msg {
					t.Errorf("%s: %d %s; want %d with %s and the message", format, w.Code, w.Body.String(), tt.wantStatus, shape(kind))
				}
				if format == BedrockConverse && w.Header().Get("X-Amzn-ErrorType") != kindOf(kind).bedrock {
					t.Errorf("bedrock: X-Amzn-ErrorType %q, want %q", w.Header().Get("X-Amzn-ErrorType"), kindOf(kind).bedrock)
				}
			}
		})
	}
}
