package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/compat/sse"
	"google.golang.org/genai"
)

// translateStream feeds parts, one Write each, and closes.
func translateStream(t testing.TB, from, to string, parts ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	s, err := NewStream(from, to, &out, Options{Now: fixedNow.Now, StreamUsage: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if _, err := s.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// streamFixture is a recorded upstream stream in from, for a client in to.
type streamFixture struct{ from, to, path string }

func streamFixtures(t *testing.T) []streamFixture {
	t.Helper()
	var out []streamFixture
	for _, fx := range inputs(t, "stream-*") {
		if streamSupported(fx.from, fx.to) {
			out = append(out, streamFixture{fx.from, fx.to, fx.path})
		}
	}
	if len(out) < 4 {
		t.Fatalf("found %d stream fixtures", len(out))
	}
	return out
}

// splitTarget is the client format a source stream is replayed into at
// every byte.
func splitTarget(from string) string {
	if from == "anthropic_messages" {
		return "openai_chat"
	}
	return "anthropic_messages"
}

func streamSupported(from, to string) bool {
	_, err := NewStream(from, to, discard{}, Options{})
	return err == nil
}

// TestStreamGolden translates each recorded stream, compares with the
// golden file, and replays it split at every byte: the output never
// depends on how the upstream's bytes arrive.
func TestStreamGolden(t *testing.T) {
	for _, fx := range streamFixtures(t) {
		t.Run(fx.from+"-"+fx.to+"/"+filepath.Base(fx.path), func(t *testing.T) {
			path := fx.path
			in := readStream(t, path)
			whole := translateStream(t, fx.from, fx.to, in)
			ext, shown := ".sse", whole
			if fx.to == "bedrock_converse" {
				ext, shown = ".events", showFrames(t, whole)
			}
			golden := fixture{from: fx.from, to: fx.to, name: inputName(path)}.golden(ext)
			if *update {
				if err := os.WriteFile(golden, shown, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(shown)); diff != "" {
				t.Errorf("translation differs from %s (-want +got):\n%s", golden, diff)
			}
			// Splits test the upstream format's reader: every byte for one
			// client format, every 61st for the others.
			step := 61
			if fx.to == splitTarget(fx.from) {
				step = 1
			}
			for i := 1; i < len(in); i += step {
				if got := translateStream(t, fx.from, fx.to, in[:i], in[i:]); !bytes.Equal(got, whole) {
					t.Fatalf("split at %d changes the output:\n%s", i, got)
				}
			}
		})
	}
}

// TestStreamKeepsMeaning: the translated stream records the same usage and
// tool calls in compat's recorder of the client's format as the upstream's
// stream in its own (but for counts the client's format has no field
// for), and the client's SDK accumulates from it the message the upstream
// meant.
func TestStreamKeepsMeaning(t *testing.T) {
	for _, fx := range streamFixtures(t) {
		t.Run(fx.from+"-"+fx.to+"/"+filepath.Base(fx.path), func(t *testing.T) {
			in := readStream(t, fx.path)
			out := translateStream(t, fx.from, fx.to, in)
			src, dst := recordStream(t, fx.from, in), recordStream(t, fx.to, out)
			alignUsage(fx.to, &src, dst)
			if diff := cmp.Diff(src.Usage, dst.Usage, cmp.AllowUnexported(src.Usage.Input)); diff != "" {
				t.Errorf("usage (-upstream +client):\n%s", diff)
			}
			if diff := cmp.Diff(src.ToolCalls, dst.ToolCalls); diff != "" {
				t.Errorf("tool calls (-upstream +client):\n%s", diff)
			}
			if !dst.Complete {
				t.Error("the translated stream is not complete")
			}
			if fx.to == "bedrock_converse" {
				return // the AWS SDK's stream reader needs a live connection
			}
			calls, input, output := sdkAccumulate(t, fx.to, out)
			want := src.ToolCalls
			if fx.to == "gemini_generate_content" {
				// The Gemini SDK holds arguments as a map: compare as JSON.
				want, calls = normalArgs(t, want), normalArgs(t, calls)
			}
			if diff := cmp.Diff(want, calls); diff != "" {
				t.Errorf("SDK tool calls (-upstream +SDK):\n%s", diff)
			}
			wantIn, _ := src.Usage.Input.Get()
			if fx.to == "anthropic_messages" || fx.to == "bedrock_converse" {
				wantIn, _ = src.Usage.UncachedInput().Get()
			}
			wantOut, _ := src.Usage.Output.Get()
			if input != wantIn || output != wantOut {
				t.Errorf("SDK usage %d/%d, want %d/%d", input, output, wantIn, wantOut)
			}
		})
	}
}

// sdkAccumulate runs a translated stream through the client SDK's own
// accumulator and returns the tool calls and usage it ends with.
func sdkAccumulate(t *testing.T, format string, stream []byte) (calls []compat.ToolCall, input, output int64) {
	t.Helper()
	var p sse.Parser
	compact := func(s string) json.RawMessage {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s)); err != nil {
			t.Fatalf("tool input %s: %v", s, err)
		}
		return buf.Bytes()
	}
	switch format {
	case "openai_responses":
		var final *responses.Response
		err := p.Feed(stream, func(ev sse.Event) {
			var e responses.ResponseStreamEventUnion
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				t.Fatal(err)
			}
			if e.Type == "response.completed" || e.Type == "response.incomplete" {
				r := e.AsResponseCompleted().Response
				final = &r
			}
		})
		if err != nil || final == nil {
			t.Fatalf("no final response (%v)", err)
		}
		for _, it := range final.Output {
			if it.Type == "function_call" {
				calls = append(calls, compat.ToolCall{ID: it.CallID, Name: it.Name, Arguments: compact(it.Arguments.OfString)})
			}
		}
		return calls, final.Usage.InputTokens, final.Usage.OutputTokens
	case "gemini_generate_content":
		err := p.Feed(stream, func(ev sse.Event) {
			var c genai.GenerateContentResponse
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				t.Fatal(err)
			}
			for _, fc := range c.FunctionCalls() {
				args, _ := json.Marshal(fc.Args)
				calls = append(calls, compat.ToolCall{ID: fc.ID, Name: fc.Name, Arguments: args})
			}
			if u := c.UsageMetadata; u != nil {
				input, output = int64(u.PromptTokenCount), int64(u.CandidatesTokenCount+u.ThoughtsTokenCount)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return calls, input, output
	case "anthropic_messages":
		var msg anthropic.Message
		err := p.Feed(stream, func(ev sse.Event) {
			var e anthropic.MessageStreamEventUnion
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				t.Fatal(err)
			}
			if err := msg.Accumulate(e); err != nil {
				t.Fatal(err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range msg.Content {
			if b.Type == "tool_use" {
				calls = append(calls, compat.ToolCall{ID: b.ID, Name: b.Name, Arguments: compact(string(b.Input))})
			}
		}
		return calls, msg.Usage.InputTokens, msg.Usage.OutputTokens
	default:
		var acc openai.ChatCompletionAccumulator
		err := p.Feed(stream, func(ev sse.Event) {
			if string(ev.Data) == "[DONE]" {
				return
			}
			var c openai.ChatCompletionChunk
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				t.Fatal(err)
			}
			acc.AddChunk(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range acc.Choices[0].Message.ToolCalls {
			calls = append(calls, compat.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: compact(tc.Function.Arguments)})
		}
		return calls, acc.Usage.PromptTokens, acc.Usage.CompletionTokens
	}
}

func recordStream(t *testing.T, format string, body []byte) compat.Result {
	t.Helper()
	r := compat.NewRecorder(format, true, compat.RecorderOptions{})
	if _, err := r.Write(body); err != nil {
		t.Fatal(err)
	}
	res := r.Result()
	if res.Err != nil {
		t.Fatalf("%s recorder: %v", format, res.Err)
	}
	return res
}

// TestStreamFailures: an upstream error chunk, or tool calls that come
// back to an earlier call, end the client's stream with an error event.
func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"error chunk", `data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n" +
			`data: {"error":{"message":"upstream overloaded"}}` + "\n\n", `"message":"upstream overloaded"`},
		{"interleaved tool calls", `data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}}]}` + "\n\n" +
			`data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}` + "\n\n" +
			`data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}` + "\n\n", errInterleaved.Error()},
		{"not JSON", "data: {oops\n\n", "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s, _ := NewStream("openai_chat", "anthropic_messages", &out, Options{})
			defer s.Close()
			_, werr := s.Write([]byte(tt.in))
			cerr := s.Close()
			if werr == nil && cerr == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(out.String(), "event: error\ndata: {") || !strings.Contains(out.String(), tt.want) {
				t.Errorf("output %s lacks an error event with %s", out.String(), tt.want)
			}
		})
	}
}

// TestStreamErrorToChat: an Anthropic stream that fails midway (the
// recorded overloaded error) ends the chat client's stream with an OpenAI
// error chunk after the text it got, and no [DONE].
func TestStreamErrorToChat(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", "anthropic_messages", "overloaded.sse"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= len(in); i++ {
		var out bytes.Buffer
		s, _ := NewStream("anthropic_messages", "openai_chat", &out, fixedNow)
		s.Write(in[:i])
		s.Write(in[i:])
		if err := s.Close(); !errors.Is(err, ErrStream) {
			t.Fatalf("split at %d: Close = %v, want ErrStream", i, err)
		}
		got := out.String()
		if !strings.Contains(got, `"content":"! I'm Claude."`) || !strings.HasSuffix(got, `data: {"error":{"code":null,"message":"Overloaded","param":null,"type":"server_error"}}`+"\n\n") {
			t.Fatalf("split at %d: stream %s", i, got)
		}
	}
}

// BenchmarkStream measures translating recorded streams, per upstream
// event, beside what compat's recorder costs on the same stream (the
// gateway records every stream; a translated one is also translated). The
// chat stream is the recorded 22-chunk answer with two parallel tool
// calls (24 events with its usage chunk and [DONE]); "hub" runs the
// chat-to-Anthropic translation through the hub's blocks rather than the
// pair's own translator, to show what the generic path costs.
func BenchmarkStream(b *testing.B) {
	cases := []struct {
		name, from, to, fixture string
		hub                     bool
	}{
		{"chat-anthropic", "openai_chat", "anthropic_messages", "openai_chat/stream-tool-calls.sse", false},
		{"chat-anthropic-text", "openai_chat", "anthropic_messages", "", false},
		{"chat-anthropic/hub", "openai_chat", "anthropic_messages", "openai_chat/stream-tool-calls.sse", true},
		{"chat-responses", "openai_chat", "openai_responses", "openai_chat/stream-tool-calls.sse", false},
		{"chat-gemini", "openai_chat", "gemini_generate_content", "openai_chat/stream-tool-calls.sse", false},
		{"chat-bedrock", "openai_chat", "bedrock_converse", "openai_chat/stream-tool-calls.sse", false},
		{"anthropic-chat", "anthropic_messages", "openai_chat", "anthropic_messages/stream-tool-use.sse", false},
		{"responses-anthropic", "openai_responses", "anthropic_messages", "openai_responses/stream-tool-call.sse", false},
		{"gemini-anthropic", "gemini_generate_content", "anthropic_messages", "gemini_generate_content/stream-function-call.sse", false},
		{"bedrock-anthropic", "bedrock_converse", "anthropic_messages", "bedrock_converse/stream-tool-use.events.json", false},
	}
	for _, c := range cases {
		var in []byte
		if c.fixture == "" {
			in = loadBenchStream()
		} else {
			in = readStream(b, filepath.Join(fixtureDir, "from", c.fixture))
		}
		events := countEvents(b, c.from, in)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				var s io.WriteCloser
				if c.hub {
					s, _ = newHubStream(c.from, c.to, discard{}, Options{})
				} else {
					s, _ = NewStream(c.from, c.to, discard{}, Options{})
				}
				s.Write(in)
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
		})
	}
	for _, c := range cases {
		if c.hub || c.fixture == "" || c.to != "anthropic_messages" && c.from != "anthropic_messages" {
			continue
		}
		in := readStream(b, filepath.Join(fixtureDir, "from", c.fixture))
		events := countEvents(b, c.from, in)
		b.Run("record/"+c.from, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				r := compat.NewRecorder(c.from, true, compat.RecorderOptions{})
				r.Write(in)
				_ = r.Result()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
		})
	}
}

// loadBenchStream is the chat stream of the external load benchmark's
// translated-stream mode: 20 short content chunks, the finish chunk and
// the usage chunk (every chunk with "usage":null, as a provider asked for
// usage sends them), then [DONE].
func loadBenchStream() []byte {
	const head = `data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1763000000,"model":"gpt-5","choices":`
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "%s[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}],\"usage\":null}\n\n", head, i)
	}
	b.WriteString(head + `[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(head + `[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return []byte(b.String())
}

// countEvents counts a stream's events: SSE events with data, or frames.
func countEvents(t testing.TB, format string, in []byte) int {
	t.Helper()
	n := 0
	if format == "bedrock_converse" {
		var d eventstream.Decoder
		if err := d.Feed(in, func(eventstream.Message) { n++ }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var p sse.Parser
	if err := p.Feed(in, func(ev sse.Event) {
		if ev.HasData {
			n++
		}
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// normalArgs rewrites tool call arguments as encoding/json writes a map.
func normalArgs(t *testing.T, calls []compat.ToolCall) []compat.ToolCall {
	t.Helper()
	out := make([]compat.ToolCall, len(calls))
	for i, c := range calls {
		var m map[string]any
		if err := json.Unmarshal(c.Arguments, &m); err != nil {
			t.Fatal(err)
		}
		c.Arguments, _ = json.Marshal(m)
		out[i] = c
	}
	return out
}

// readStream reads a stream fixture: SSE as it is, Bedrock's
// *.events.json encoded into event-stream frames as Bedrock sends them.
func readStream(t testing.TB, path string) []byte {
	t.Helper()
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".events.json") {
		return in
	}
	var frames []struct {
		Event, Exception string
		Payload          json.RawMessage
	}
	if err := json.Unmarshal(in, &frames); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range frames {
		var p bytes.Buffer
		if err := json.Compact(&p, f.Payload); err != nil {
			t.Fatal(err)
		}
		m := eventstream.Event(f.Event, p.Bytes())
		if f.Exception != "" {
			m = eventstream.Exception(f.Exception, p.Bytes())
		}
		if err := eventstream.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// showFrames writes event-stream frames one a line, "TYPE PAYLOAD", for
// goldens a person can review.
func showFrames(t testing.TB, b []byte) []byte {
	t.Helper()
	var d eventstream.Decoder
	var out bytes.Buffer
	err := d.Feed(b, func(m eventstream.Message) {
		typ := eventstream.Header(m, eventstream.HeaderEventType)
		if typ == "" {
			typ = eventstream.Header(m, eventstream.HeaderMessageType) + ":" + eventstream.Header(m, eventstream.HeaderExceptionType)
		}
		fmt.Fprintf(&out, "%s %s\n", typ, m.Payload)
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		t.Fatalf("translated event stream: %v", err)
	}
	return out.Bytes()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestStreamFailuresEveryFormat: an upstream stream of any format that
// fails midway (Bedrock's recorded throttling exception, a Responses
// response.failed, a Gemini error chunk) ends the client's stream, in
// every other format, with that format's error event carrying the
// upstream's message, after the text the client already got.
func TestStreamFailuresEveryFormat(t *testing.T) {
	throttled, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", "bedrock_converse", "throttled.eventstream"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from, msg, text string
		in              []byte
	}{
		{"bedrock_converse", "Too many tokens, please wait before trying again.", "Sure", throttled},
		{"openai_responses", "The server had an error while processing your request.", "Hel", []byte(
			`data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5","output":[]}}` + "\n\n" +
				`data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}` + "\n\n" +
				`data: {"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel"}` + "\n\n" +
				`data: {"type":"response.failed","sequence_number":3,"response":{"id":"resp_1","object":"response","status":"failed","model":"gpt-5","output":[],"error":{"code":"server_error","message":"The server had an error while processing your request."}}}` + "\n\n")},
		{"gemini_generate_content", "Resource has been exhausted (e.g. check quota).", "Hel", []byte(
			`data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r1"}` + "\n\n" +
				`data: {"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}` + "\n\n")},
	}
	for _, tt := range tests {
		for _, to := range allFormats {
			if to == tt.from {
				continue
			}
			t.Run(tt.from+"-"+to, func(t *testing.T) {
				var out bytes.Buffer
				s, err := NewStream(tt.from, to, &out, fixedNow)
				if err != nil {
					t.Fatal(err)
				}
				s.Write(tt.in)
				if err := s.Close(); !errors.Is(err, ErrStream) {
					t.Fatalf("Close = %v, want ErrStream", err)
				}
				got := out.String()
				if to == "bedrock_converse" {
					got = string(showFrames(t, out.Bytes()))
				}
				if !strings.Contains(got, tt.msg) || !strings.Contains(got, tt.text) {
					t.Fatalf("stream lacks the text %q or the message %q:\n%s", tt.text, tt.msg, got)
				}
				last := got[strings.LastIndex(strings.TrimSuffix(got, "\n\n"), "\n")+1:]
				if to != "bedrock_converse" && !strings.Contains(last, tt.msg) {
					t.Errorf("the error is not the last event: %s", last)
				}
			})
		}
	}
}

// TestStreamGeminiJSONArray: for a Gemini client that asked without
// ?alt=sse, the translated stream is the one JSON array Gemini sends
// then, each element a chunk the SSE form would carry, also when the
// upstream fails midway.
func TestStreamGeminiJSONArray(t *testing.T) {
	in := readStream(t, filepath.Join(fixtureDir, "from", "openai_chat", "stream-tool-calls.sse"))
	var sseOut, arrayOut bytes.Buffer
	for _, run := range []struct {
		w     *bytes.Buffer
		array bool
	}{{&sseOut, false}, {&arrayOut, true}} {
		s, _ := NewStream("openai_chat", "gemini_generate_content", run.w, Options{Now: fixedNow.Now, GeminiJSONArray: run.array})
		s.Write(in)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(arrayOut.Bytes(), &elems); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, arrayOut.Bytes())
	}
	var events []json.RawMessage
	var p sse.Parser
	_ = p.Feed(sseOut.Bytes(), func(ev sse.Event) { events = append(events, append(json.RawMessage(nil), ev.Data...)) })
	if diff := cmp.Diff(events, elems); diff != "" {
		t.Errorf("array elements differ from the SSE events (-sse +array):\n%s", diff)
	}

	var failed bytes.Buffer
	s, _ := NewStream("openai_chat", "gemini_generate_content", &failed, Options{GeminiJSONArray: true})
	s.Write([]byte(`data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n" + `data: {"error":{"message":"overloaded"}}` + "\n\n"))
	s.Close()
	if err := json.Unmarshal(failed.Bytes(), &elems); err != nil || len(elems) != 2 || !strings.Contains(string(elems[1]), "overloaded") {
		t.Errorf("failed stream %s (%v)", failed.Bytes(), err)
	}
}
