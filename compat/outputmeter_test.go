package compat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-gateway/sluice/compat/eventstream"
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
		{BedrockModelInvoke, "bedrock_model_invoke/claude_tool_use.eventstream"},
		{BedrockModelInvoke, "bedrock_model_invoke/nova_text.eventstream"},
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
	// InvokeModel streams carry the vendor's events base64-encoded in
	// chunk events: the meter sees their text only once decoded.
	anthropicText := []string{
		`{"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":5}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo \"x\""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`,
		`{"type":"message_stop"}`,
	}
	chunked := []struct {
		name         string
		body         []byte
		text, pieces int64
	}{
		{"anthropic events in chunks", invokeStream(t, anthropicText...), 3 + 8 + 9, 3},
		{"exceptions and other events are not text", append(invokeStream(t, anthropicText[1]),
			frame(t, eventstream.Exception("throttlingException", []byte(`{"message":"text"}`)))...), 3, 1},
		{"a plain JSON body", []byte(`{"content":[{"type":"text","text":"abcd"}],"usage":{"output_tokens":2}}`), 4, 1},
	}
	for _, tt := range chunked {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; cut <= len(tt.body); cut++ {
				m := NewOutputMeter(BedrockModelInvoke)
				m.Write(tt.body[:cut])
				m.Write(tt.body[cut:])
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

// invokeStream encodes events as an InvokeModelWithResponseStream answer:
// one chunk event each, the event base64-encoded in its bytes field.
func invokeStream(t testing.TB, events ...string) []byte {
	t.Helper()
	var out []byte
	for _, ev := range events {
		payload, err := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString([]byte(ev))})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame(t, eventstream.Event("chunk", payload))...)
	}
	return out
}

func frame(t testing.TB, m eventstream.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := eventstream.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkOutputMeter meters a stream of 100 text deltas, as
// server-sent events and as InvokeModel chunks.
func BenchmarkOutputMeter(b *testing.B) {
	delta := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abcd"}}`
	var sse []byte
	events := make([]string, 100)
	for i := range events {
		events[i] = delta
		sse = append(sse, "event: content_block_delta\ndata: "+delta+"\n\n"...)
	}
	streams := []struct {
		name, format string
		body         []byte
	}{
		{"sse", AnthropicMessages, sse},
		{"invoke chunks", BedrockModelInvoke, invokeStream(b, events...)},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.body)))
			for b.Loop() {
				m := NewOutputMeter(s.format)
				m.Write(s.body)
				if m.Pieces() != 100 {
					b.Fatalf("pieces %d", m.Pieces())
				}
			}
		})
	}
}
