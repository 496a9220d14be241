package compat

import (
	"testing"
)

// TestChatKeysAsDecoded: the recorder's shortcuts read a chat chunk's keys
// the way its full decode (encoding/json) does, so a provider that escapes
// a key or writes it in another case loses no usage, finish reason or tool
// call.
func TestChatKeysAsDecoded(t *testing.T) {
	tests := []struct {
		name     string
		chunk    string
		plain    bool
		wantCall bool
	}{
		{name: "content only", chunk: `{"choices":[{"index":0,"delta":{"content":"a \"usage\": 1"},"finish_reason":null}],"usage":null}`, plain: true},
		{name: "escaped usage", chunk: `{"choices":[],"\u0075sage":{"prompt_tokens":3,"completion_tokens":4}}`},
		{name: "usage in another case", chunk: `{"choices":[],"Usage":{"prompt_tokens":3,"completion_tokens":4}}`},
		{name: "escaped tool calls", chunk: `{"choices":[{"index":0,"delta":{"tool_c\u0061lls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{}"}}]}}]}`, wantCall: true},
		{name: "escaped finish reason", chunk: `{"choices":[{"index":0,"delta":{},"finish_re\u0061son":"stop"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plainChunk([]byte(tt.chunk)); got != tt.plain {
				t.Errorf("plainChunk = %v, want %v", got, tt.plain)
			}
			r := NewRecorder(OpenAIChat, true, RecorderOptions{})
			_, _ = r.Write([]byte("data: " + tt.chunk + "\n\ndata: [DONE]\n\n"))
			res := r.Result()
			if got := len(res.ToolCalls) == 1; got != tt.wantCall {
				t.Errorf("tool calls %v, want one: %v", res.ToolCalls, tt.wantCall)
			}
			if tt.name == "escaped usage" || tt.name == "usage in another case" {
				if got := usageOf(res.Usage); got != (tokens{3, 4, nr, nr}) {
					t.Errorf("usage %v, want 3 in, 4 out", got)
				}
			}
		})
	}
}
