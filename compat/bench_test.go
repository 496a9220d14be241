package compat

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/internal/cputime"
)

func BenchmarkDetect(b *testing.B) {
	paths := []string{
		"/v1/chat/completions",
		"/v1/messages",
		"/v1beta/models/gemini-2.5-flash:streamGenerateContent",
		"/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
		"/v1/projects/_aperture_auto_vertex_project_id_/locations/_aperture_auto_vertex_region_/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
	}
	for _, p := range paths {
		name := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)[1]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Detect(http.MethodPost, p, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// chunkOf returns the n-th message of a fixture stream as it travels on
// the wire: one SSE event, or one event-stream frame.
func chunkOf(b *testing.B, key string, n int) []byte {
	b.Helper()
	f := fixtureNamed(b, key)
	if f.kind == "sse" {
		var events [][]byte
		p := sse.Parser{KeepRaw: true}
		_ = p.Feed(f.data, func(e sse.Event) { events = append(events, bytes.Clone(e.Raw)) })
		return events[n]
	}
	// Event-stream frames: walk the length prefixes.
	data := f.data
	for i := 0; ; i++ {
		size := int(data[0])<<24 | int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		if i == n {
			return data[:size]
		}
		data = data[size:]
	}
}

// BenchmarkRecordChunk measures the recorder's cost for one typical
// mid-stream chunk (a text or tool-argument delta) of each format.
func BenchmarkRecordChunk(b *testing.B) {
	cases := []struct {
		format, fixture string
		n               int
	}{
		{OpenAIChat, "openai_chat/text.sse", 3},
		{OpenAIChat, "openai_chat/tool_calls.sse", 3},
		{OpenAIResponses, "openai_responses/tool_call.sse", 4},
		{AnthropicMessages, "anthropic_messages/tool_use.sse", 11},
		{GeminiGenerateContent, "gemini_generate_content/function_call.sse", 1},
		{BedrockModelInvoke, "bedrock_model_invoke/claude_tool_use.eventstream", 4},
		{BedrockConverse, "bedrock_converse/tool_use.eventstream", 2},
	}
	for _, c := range cases {
		chunk := chunkOf(b, c.fixture, c.n)
		for _, keep := range []bool{false, true} {
			name := strings.TrimSuffix(c.fixture, filepath.Ext(c.fixture))
			if keep {
				name += "/keep"
			}
			b.Run(name, func(b *testing.B) {
				r := NewRecorder(c.format, true, RecorderOptions{KeepBody: keep, KeepRaw: keep, MaxBytes: 1 << 30})
				b.ReportAllocs()
				b.SetBytes(int64(len(chunk)))
				for b.Loop() {
					_, _ = r.Write(chunk)
				}
			})
		}
	}
}

// BenchmarkRecordStream records a whole fixture stream per iteration.
func BenchmarkRecordStream(b *testing.B) {
	for _, key := range []string{"openai_chat/tool_calls.sse", "anthropic_messages/tool_use.sse", "bedrock_converse/tool_use.eventstream"} {
		f := fixtureNamed(b, key)
		b.Run(f.format, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.data)))
			for b.Loop() {
				r := NewRecorder(f.format, true, RecorderOptions{})
				_, _ = r.Write(f.data)
				if !r.Result().Usage.Reported() {
					b.Fatal("no usage")
				}
			}
		})
	}
}

// BenchmarkChatStreamEvents is what the gateway does with a streamed chat
// answer whose usage it asked for, one event per write as providers send
// them: the recorder reads every event, and the usage filter passes it on
// to the client without what the request did not ask for. It reports
// the process's CPU time per event, steadier than wall time on a shared
// machine.
func BenchmarkChatStreamEvents(b *testing.B) {
	f := fixtureNamed(b, "openai_chat/text.sse")
	var events [][]byte
	p := sse.Parser{KeepRaw: true}
	_ = p.Feed(f.data, func(e sse.Event) { events = append(events, bytes.Clone(e.Raw)) })
	b.SetBytes(int64(len(f.data)))
	recordChatEvents(b, events)
}

func BenchmarkUsageFilterChunk(b *testing.B) {
	chunk := chunkOf(b, "openai_chat/text.sse", 3)
	f := NewUsageFilter(discard{})
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		_, _ = f.Write(chunk)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkInspect(b *testing.B) {
	body := []byte(`{"model":"gpt-5","stream":true,"messages":[{"role":"system","content":"` + strings.Repeat("You are helpful. ", 200) +
		`"},{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`)
	r := Route{Format: OpenAIChat}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Inspect(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnsureStreamUsage(b *testing.B) {
	body := []byte(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 4000) + `"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, added, _ := EnsureStreamUsage(OpenAIChat, body); !added {
			b.Fatal("not added")
		}
	}
}

// BenchmarkRecordBody records a whole non-streamed Chat Completions answer
// per iteration, the body most requests get: the fixture's and one with
// a long answer, where reading the message text twice shows.
func BenchmarkRecordBody(b *testing.B) {
	long := []byte(`{"id":"chatcmpl-b","object":"chat.completion","created":1763000000,"model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat(`Hello! How can I help you today? \"quoted\" `, 100) + `","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":900,"total_tokens":909,"prompt_tokens_details":{"cached_tokens":0}},"service_tier":"default","system_fingerprint":null}`)
	for _, c := range []struct {
		name string
		data []byte
	}{{"fixture", fixtureNamed(b, "openai_chat/text.json").data}, {"long", long}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				r := NewRecorder(OpenAIChat, false, RecorderOptions{})
				_, _ = r.Write(c.data)
				if res := r.Result(); !res.Usage.Reported() || res.StopReason == "" {
					b.Fatal("no usage or finish reason")
				}
			}
		})
	}
}

// BenchmarkChatStreamProvider is BenchmarkChatStreamEvents for the stream
// the load benchmark's mock provider sends when the gateway asks for
// usage: 20 content chunks, the finish chunk and the usage chunk, each
// chunk but the last with "usage":null, then [DONE].
func BenchmarkChatStreamProvider(b *testing.B) {
	const chunk = `data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1763000000,"model":"gpt-5","choices":[{"index":0,"delta":{%s},"finish_reason":%s}],"usage":null}` + "\n\n"
	var events [][]byte
	for i := range 20 {
		events = append(events, fmt.Appendf(nil, chunk, fmt.Sprintf(`"content":"tok%d "`, i), "null"))
	}
	events = append(events, fmt.Appendf(nil, chunk, "", `"stop"`),
		[]byte(`data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1763000000,"model":"gpt-5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	recordChatEvents(b, events)
}

// BenchmarkChatStreamPlain is BenchmarkChatStreamProvider for the stream
// the gateway benchmarks' mock provider sends: 20 content chunks without
// a usage member, then the usage chunk and [DONE].
func BenchmarkChatStreamPlain(b *testing.B) {
	const chunk = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}` + "\n\n"
	var events [][]byte
	for i := range 20 {
		events = append(events, fmt.Appendf(nil, chunk, i))
	}
	events = append(events,
		[]byte(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	recordChatEvents(b, events)
}

// recordChatEvents runs a chat stream's events through a recorder and the
// usage filter, as the gateway does, and reports the CPU time per event.
func recordChatEvents(b *testing.B, events [][]byte) {
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		r := NewRecorder(OpenAIChat, true, RecorderOptions{})
		fl := NewUsageFilter(discard{})
		for _, ev := range events {
			_, _ = r.Write(ev)
			_, _ = fl.Write(ev)
		}
		_ = fl.Close()
		if !r.Result().Usage.Reported() {
			b.Fatal("no usage")
		}
	}
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N*len(events)), "cpu-ns/event")
}
