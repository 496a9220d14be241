package compat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOutputMeter reads the recorded streams of each format, split at
// every byte, and checks the text and pieces the meter counts.
func TestOutputMeter(t *testing.T) {
	tests := []struct{ format, fixture string }{
		{OpenAIChat, "openai_chat/text.sse"},
		{OpenAIChat, "openai_chat/tool_calls.sse"},
		{AnthropicMessages, "anthropic_messages/text.sse"},
		{AnthropicMessages, "anthropic_messages/tool_use.sse"},
		{OpenAIResponses, "openai_responses/text.sse"},
		{GeminiGenerateContent, "gemini_generate_content/function_call.sse"},
		{BedrockConverse, "bedrock_converse/throttled.eventstream"},
		{BedrockConverse, "bedrock_converse/tool_use.eventstream"},
	}
	inline := []struct {
		name, format, body string
		text, pieces       int64
	}{
		{"openai chat deltas", OpenAIChat,
			"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n" +
				"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n" +
				"data: {\"choices\":[{\"delta\":{\"content\":\"lo \\\"x\\\"\"}}]}\n\n" +
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\ndata: [DONE]\n\n", 3 + 8, 2},
		{"anthropic text and tool input", AnthropicMessages,
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"abcd\"}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n", 4 + 9, 2},
		{"responses counts deltas only", OpenAIResponses,
			"data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi there\"}\n\n" +
				"data: {\"type\":\"response.output_text.done\",\"text\":\"Hi there\"}\n\n", 8, 1},
		{"binary framing with a stray quote", BedrockConverse,
			"\x00\x00\x00\x8a\x22\x00\x10:event-type\x07\x00\x11contentBlockDelta{\"delta\":{\"text\":\"abcd\"},\"p\":\"xy\"}\x9c\x22\x01\x02" +
				"\x00\x00\x00\x8a\x22\x00{\"delta\":{\"text\":\"efgh\"}}\x22\x03", 8, 2},
		{"names and other strings are not text", OpenAIChat,
			"data: {\"model\":\"content\",\"id\":\"text\",\"content\":null,\"x\":{\"text\":5}}\n\n", 0, 0},
	}
	for _, tt := range inline {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; cut <= len(tt.body); cut++ {
				m := NewOutputMeter(tt.format)
				m.Write([]byte(tt.body[:cut]))
				m.Write([]byte(tt.body[cut:]))
				if m.TextBytes() != tt.text || m.Pieces() != tt.pieces {
					t.Fatalf("split at %d: text %d pieces %d, want %d and %d", cut, m.TextBytes(), m.Pieces(), tt.text, tt.pieces)
				}
			}
		})
	}
	// The recorded streams carry some text in some pieces.
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "testdata", "upstream", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			m := NewOutputMeter(tt.format)
			m.Write(body)
			if m.Pieces() == 0 || m.TextBytes() < m.Pieces() || m.Tokens() < m.Pieces() {
				t.Errorf("text %d pieces %d tokens %d; want some text in at least one piece", m.TextBytes(), m.Pieces(), m.Tokens())
			}
		})
	}
}
