package translate

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBody measures translating whole request and response bodies,
// what a translated request costs the gateway besides its stream: the
// loadbench's small request and the Claude Code one, both ways between
// chat completions and Anthropic messages, and the loadbench's answer.
func BenchmarkBody(b *testing.B) {
	small := map[string][]byte{
		"anthropic_messages": []byte(`{"model":"claude-bench","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]}`),
		"openai_chat":        []byte(`{"model":"gpt-5","messages":[{"role":"user","content":"hello"}]}`),
		"chat_answer": []byte(`{"id":"chatcmpl-b","object":"chat.completion","created":1763000000,"model":"gpt-5",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}`),
	}
	read := func(path string) []byte {
		body, err := os.ReadFile(filepath.Join(fixtureDir, path))
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	cases := []struct {
		name, from, to string
		request        bool
		body           []byte
	}{
		{"request/anthropic-chat/small", "anthropic_messages", "openai_chat", true, small["anthropic_messages"]},
		{"request/anthropic-chat/claude-code", "anthropic_messages", "openai_chat", true, read("anthropic_messages-openai_chat/request-claude-code.json")},
		{"request/chat-anthropic/small", "openai_chat", "anthropic_messages", true, small["openai_chat"]},
		{"request/chat-anthropic/agent", "openai_chat", "anthropic_messages", true, read("from/openai_chat/request-agent.json")},
		{"response/chat-anthropic/small", "openai_chat", "anthropic_messages", false, small["chat_answer"]},
		{"response/chat-anthropic/calls", "openai_chat", "anthropic_messages", false, read("from/openai_chat/response-parallel-calls.json")},
		{"response/anthropic-chat/tool-use", "anthropic_messages", "openai_chat", false, read("anthropic_messages-openai_chat/response-tool-use.json")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				var err error
				if c.request {
					_, err = RequestBody(c.from, c.to, c.body)
				} else {
					_, err = ResponseBody(c.from, c.to, c.body, Options{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
