package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEnsureStreamUsage(t *testing.T) {
	tests := []struct {
		name   string
		format string
		body   string
		want   string // "" means unchanged
		added  bool
	}{
		{name: "adds the option", format: OpenAIChat,
			body:  `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want:  `{"stream_options":{"include_usage":true},"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			added: true},
		{name: "keeps formatting", format: OpenAIChat,
			body:  "{\n  \"stream\": true,\n  \"model\": \"gpt-5\"\n}",
			want:  "{\"stream_options\":{\"include_usage\":true},\n  \"stream\": true,\n  \"model\": \"gpt-5\"\n}",
			added: true},
		{name: "null options", format: OpenAIChat,
			body:  `{"model":"m","stream":true,"stream_options":null}`,
			want:  `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
			added: true},
		{name: "empty options", format: OpenAIChat,
			body:  `{"model":"m","stream":true,"stream_options":{ }}`,
			want:  `{"model":"m","stream":true,"stream_options":{"include_usage":true }}`,
			added: true},
		{name: "other options kept", format: OpenAIChat,
			body:  `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`,
			want:  `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}`,
			added: true},
		{name: "client said no", format: OpenAIChat,
			body:  `{"model":"m","stream_options":{"include_usage":false},"stream":true}`,
			want:  `{"model":"m","stream_options":{"include_usage":true},"stream":true}`,
			added: true},
		{name: "client asked already", format: OpenAIChat, body: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{name: "not streaming", format: OpenAIChat, body: `{"model":"m","stream":false}`},
		{name: "no stream member", format: OpenAIChat, body: `{"model":"m"}`},
		{name: "other format", format: AnthropicMessages, body: `{"model":"m","stream":true}`},
		{name: "string containing a stream member", format: OpenAIChat, body: `{"model":"m","messages":[{"content":"\"stream\":true"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, added, err := EnsureStreamUsage(tt.format, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.body
			}
			if added != tt.added || string(out) != want {
				t.Errorf("got %s (added %v)\nwant %s (added %v)", out, added, want, tt.added)
			}
			if !json.Valid(out) {
				t.Errorf("output is not JSON")
			}
		})
	}
	if _, _, err := EnsureStreamUsage(OpenAIChat, []byte(`{"stream":true,`)); !errors.Is(err, ErrInvalidBody) {
		t.Errorf("malformed body: %v", err)
	}
	if _, _, err := EnsureStreamUsage(OpenAIChat, []byte(`{"stream":true,"stream_options":[1]}`)); !errors.Is(err, ErrInvalidBody) {
		t.Errorf("stream_options not an object: %v", err)
	}
}

// countingWriter counts writes.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func filterAll(t *testing.T, chunks ...[]byte) (*countingWriter, int) {
	t.Helper()
	var w countingWriter
	f := NewUsageFilter(&w)
	for _, c := range chunks {
		n, err := f.Write(c)
		if err != nil || n != len(c) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return &w, len(chunks)
}

// TestUsageFilterRestoresClientStream checks the core promise: a stream
// answered to the rewritten request, filtered, is byte for byte the stream
// the upstream sends without stream_options, however it is split, while a
// recorder fed the unfiltered bytes counts the tokens.
func TestUsageFilterRestoresClientStream(t *testing.T) {
	for _, name := range []string{"text", "tool_calls"} {
		t.Run(name, func(t *testing.T) {
			with := fixtureNamed(t, "openai_chat/"+name+".sse").data
			without := fixtureNamed(t, "openai_chat/"+name+"_no_usage.sse").data
			for i := 0; i <= len(with); i += splitStride() {
				w, _ := filterAll(t, with[:i], with[i:])
				if !bytes.Equal(w.Bytes(), without) {
					t.Fatalf("split at %d: client stream differs:\n%s", i, w.Bytes())
				}
			}
			r := NewRecorder(OpenAIChat, true, RecorderOptions{})
			_, _ = r.Write(with)
			if !r.Result().Usage.Reported() {
				t.Error("the recorder lost the usage")
			}
		})
	}
}

func TestUsageFilterOneWritePerChunk(t *testing.T) {
	data := fixtureNamed(t, "openai_chat/text.sse").data
	events := strings.SplitAfter(string(data), "\n\n")
	var chunks [][]byte
	for _, e := range events {
		if e != "" {
			chunks = append(chunks, []byte(e))
		}
	}
	w, n := filterAll(t, chunks...)
	// Every upstream event but the dropped usage chunk causes one write.
	if w.writes != n-1 {
		t.Errorf("%d downstream writes for %d upstream events", w.writes, n)
	}
}

func TestUsageFilterCases(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "error body passes", in: `{"error":{"message":"bad","usage":null,"choices":[]}}`,
			want: `{"error":{"message":"bad","usage":null,"choices":[]}}`},
		{name: "CRLF and comments kept", in: ": keep-alive\r\n\r\ndata: {\"choices\":[{\"index\":0}],\"usage\":null}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\n",
			want: ": keep-alive\r\n\r\ndata: {\"choices\":[{\"index\":0}]}\r\n\r\n"},
		{name: "usage first", in: "data: {\"usage\":null,\"id\":\"x\",\"choices\":[]}\n\n",
			want: "data: {\"id\":\"x\",\"choices\":[]}\n\n"},
		{name: "usage alone", in: "data: {\"usage\":null}\n\n", want: "data: {}\n\n"},
		{name: "usage next to choices passes", in: "data: {\"choices\":[{\"index\":0,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3}}\n\n",
			want: "data: {\"choices\":[{\"index\":0,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3}}\n\n"},
		{name: "usage in a string is not a member", in: "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}]}\n\n",
			want: "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}]}\n\n"},
		{name: "event and id lines kept", in: "event: chunk\nid: 7\ndata: {\"a\":1,\"usage\":null}\n\n",
			want: "event: chunk\nid: 7\ndata: {\"a\":1}\n\n"},
		{name: "multi-line data joined", in: "data: {\"a\":1,\ndata: \"usage\":null}\n\n",
			want: "data: {\"a\":1}\n\n"},
		{name: "last event without blank line flushed at Close", in: "data: {\"a\":1,\"usage\":null}",
			want: "data: {\"a\":1}"},
		{name: "OpenAI chunk with usage null last", in: "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
			want: "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"},
		{name: "usage null last, trailing space and CRLF", in: "data: {\"a\":1,\"usage\":null} \r\n\r\n",
			want: "data: {\"a\":1} \r\n\r\n"},
		{name: "usage null last, id line after data", in: "data: {\"a\":1,\"usage\":null}\nid: 9\n\n",
			want: "data: {\"a\":1}\nid: 9\n\n"},
		{name: "usage null before obfuscation", in: "data: {\"choices\":[{\"index\":0}],\"usage\":null,\"obfuscation\":\"Bq\"}\n\n",
			want: "data: {\"choices\":[{\"index\":0}],\"obfuscation\":\"Bq\"}\n\n"},
		{name: "usage null before a nested member", in: "data: {\"a\":1,\"usage\":null,\"b\":{\"c\":2}}\n\n",
			want: "data: {\"a\":1,\"b\":{\"c\":2}}\n\n"},
		{name: "nested usage null kept", in: "data: {\"a\":{\"b\":1,\"usage\":null}}\n\n",
			want: "data: {\"a\":{\"b\":1,\"usage\":null}}\n\n"},
		{name: "nested usage null before a member kept", in: "data: {\"a\":{\"usage\":1,\"usage\":null,\"x\":2},\"y\":3}\n\n",
			want: "data: {\"a\":{\"usage\":1,\"usage\":null,\"x\":2},\"y\":3}\n\n"},
		{name: "escaped usage key null removed", in: "data: {\"a\":1,\"\\u0075sage\":null}\n\n",
			want: "data: {\"a\":1}\n\n"},
		{name: "escaped usage-only chunk dropped", in: "data: {\"ch\\u006fices\":[],\"\\u0075sage\":{\"prompt_tokens\":1}}\n\n",
			want: ""},
		{name: "done kept", in: "data: [DONE]\n\n", want: "data: [DONE]\n\n"},
		{name: "not JSON kept", in: "data: {\"usage\": oops\n\n", want: "data: {\"usage\": oops\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i <= len(tt.in); i++ {
				w, _ := filterAll(t, []byte(tt.in[:i]), []byte(tt.in[i:]))
				if w.String() != tt.want {
					t.Fatalf("split at %d: got %q, want %q", i, w.String(), tt.want)
				}
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestUsageFilterWriteError(t *testing.T) {
	f := NewUsageFilter(failingWriter{})
	if _, err := f.Write([]byte("data: {}\n\n")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("error %v", err)
	}
	if _, err := f.Write([]byte("data: {}\n\n")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("error not sticky: %v", err)
	}
	if err := f.Close(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("close: %v", err)
	}
}

func TestUsageFilterOversizeEventPasses(t *testing.T) {
	big := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 2<<20) + "\"}}],\"usage\":null}\n\n"
	w, _ := filterAll(t, []byte(big[:1000]), []byte(big[1000:]))
	if w.String() != big {
		t.Error("an oversize event was not passed through unchanged")
	}
}
