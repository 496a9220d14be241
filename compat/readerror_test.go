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
