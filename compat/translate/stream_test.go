package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/sse"
)

// translateStream feeds parts, one Write each, and closes.
func translateStream(t testing.TB, from, to string, parts ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	s, err := NewStream(from, to, &out)
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

func streamFixtures(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "openai_chat-anthropic_messages", "stream-*.sse"))
	var out []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".golden.sse") {
			out = append(out, p)
		}
	}
	if len(out) < 2 {
		t.Fatalf("found %d stream fixtures", len(out))
	}
	return out
}

// TestStreamGolden translates each recorded chat stream into Anthropic
// events, compares with the golden file, and replays it split at every
// byte: the output never depends on how the upstream's bytes arrive.
func TestStreamGolden(t *testing.T) {
	for _, path := range streamFixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			whole := translateStream(t, "openai_chat", "anthropic_messages", in)
			golden := strings.TrimSuffix(path, ".sse") + ".golden.sse"
			if *update {
				if err := os.WriteFile(golden, whole, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(whole)); diff != "" {
				t.Errorf("translation differs from %s (-want +got):\n%s", golden, diff)
			}
			for i := 1; i < len(in); i++ {
				if got := translateStream(t, "openai_chat", "anthropic_messages", in[:i], in[i:]); !bytes.Equal(got, whole) {
					t.Fatalf("split at %d changes the output:\n%s", i, got)
				}
			}
		})
	}
}

// TestStreamKeepsMeaning: the translated stream records the same usage and
// tool calls in compat's Anthropic recorder as the upstream's stream in its
// chat recorder, and the Anthropic SDK's accumulator builds from it the
// message the upstream meant.
func TestStreamKeepsMeaning(t *testing.T) {
	for _, path := range streamFixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out := translateStream(t, "openai_chat", "anthropic_messages", in)
			src, dst := recordStream(t, "openai_chat", in), recordStream(t, "anthropic_messages", out)
			if diff := cmp.Diff(src.Usage, dst.Usage, cmp.AllowUnexported(src.Usage.Input)); diff != "" {
				t.Errorf("usage (-upstream +client):\n%s", diff)
			}
			if diff := cmp.Diff(src.ToolCalls, dst.ToolCalls); diff != "" {
				t.Errorf("tool calls (-upstream +client):\n%s", diff)
			}
			if !dst.Complete {
				t.Error("the translated stream is not complete")
			}

			var msg anthropic.Message
			var p sse.Parser
			feed := func(ev sse.Event) {
				var e anthropic.MessageStreamEventUnion
				if err := json.Unmarshal(ev.Data, &e); err != nil {
					t.Fatal(err)
				}
				if err := msg.Accumulate(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Feed(out, feed); err != nil {
				t.Fatal(err)
			}
			var calls []compat.ToolCall
			for _, b := range msg.Content {
				if b.Type == "tool_use" {
					var buf bytes.Buffer
					if err := json.Compact(&buf, b.Input); err != nil {
						t.Fatalf("tool input %s: %v", b.Input, err)
					}
					calls = append(calls, compat.ToolCall{ID: b.ID, Name: b.Name, Arguments: buf.Bytes()})
				}
			}
			if diff := cmp.Diff(src.ToolCalls, calls); diff != "" {
				t.Errorf("SDK tool calls (-upstream +SDK):\n%s", diff)
			}
			in64, _ := src.Usage.UncachedInput().Get()
			out64, _ := src.Usage.Output.Get()
			if msg.Usage.InputTokens != in64 || msg.Usage.OutputTokens != out64 {
				t.Errorf("SDK usage %d/%d, want %d/%d", msg.Usage.InputTokens, msg.Usage.OutputTokens, in64, out64)
			}
		})
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
			s, _ := NewStream("openai_chat", "anthropic_messages", &out)
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

// BenchmarkStream measures translating the recorded 24-event chat stream
// with two parallel tool calls into Anthropic events, per event, beside
// what compat's recorder costs on the same stream.
func BenchmarkStream(b *testing.B) {
	in, err := os.ReadFile(filepath.Join(fixtureDir, "openai_chat-anthropic_messages", "stream-tool-calls.sse"))
	if err != nil {
		b.Fatal(err)
	}
	events := bytes.Count(in, []byte("data:"))
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, _ := NewStream("openai_chat", "anthropic_messages", discard{})
			s.Write(in)
			s.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
	})
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := compat.NewRecorder("openai_chat", true, compat.RecorderOptions{})
			r.Write(in)
			_ = r.Result()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
