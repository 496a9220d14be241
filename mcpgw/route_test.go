package mcpgw

import (
	"net/http/httptest"
	"testing"
)

// TestRouting: which paths the gateway owns, and how the legacy SSE
// transport is told from Streamable HTTP on the one path.
func TestRouting(t *testing.T) {
	tests := []struct {
		method, target string
		header         map[string]string
		owns, sse      bool
	}{
		{"POST", "/v1/mcp", nil, true, false},
		{"GET", "/v1/mcp", map[string]string{"Accept": "text/event-stream"}, true, true},
		{"GET", "/v1/mcp", map[string]string{"Accept": "text/event-stream", "Mcp-Session-Id": "s1"}, true, false},
		{"POST", "/v1/mcp?sessionid=abc", nil, true, true},
		{"DELETE", "/v1/mcp", map[string]string{"Mcp-Session-Id": "s1"}, true, false},
		{"GET", "/v1/mcp/sse", nil, true, false},
		{"GET", "/v1/connectors/github/user", nil, true, false},
		{"POST", "/v1/mcpx", nil, false, false},
		{"POST", "/v1/chat/completions", nil, false, false},
		{"GET", "/v1/connectors", nil, false, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		if got := Owns(r.URL.Path); got != tt.owns {
			t.Errorf("Owns(%s) = %v, want %v", tt.target, got, tt.owns)
		}
		if got := r.URL.Path == MCPPath && isLegacySSE(r); got != tt.sse {
			t.Errorf("%s %s %v: legacy SSE = %v, want %v", tt.method, tt.target, tt.header, got, tt.sse)
		}
	}
}
