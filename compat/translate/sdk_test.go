package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/sluice-gateway/sluice/compat"
	"google.golang.org/genai"
)

// call is a tool call as an SDK hands it to its caller.
type call struct {
	ID, Name string
	Args     map[string]any
}

// TestSDKsReadTranslatedAnswers: the official SDKs parse every translated
// answer into the tool calls, text and usage the upstream meant.
func TestSDKsReadTranslatedAnswers(t *testing.T) {
	tests := []struct {
		file               string
		wantCalls          []call
		wantText           string
		wantInput, wantOut int64
		wantStop           string
	}{
		{file: "openai_chat-anthropic_messages/response-tool-calls.json", wantCalls: []call{
			{"call_8sXgJ0z5mT1qLkPa3vRbWc2e", "get_weather", map[string]any{"location": "Paris, France", "unit": "celsius"}},
			{"call_Q2nLwY7tHc4pVd9zRk1sXe6m", "get_local_time", map[string]any{"timezone": "Europe/Paris"}},
		}, wantInput: 118, wantOut: 52, wantStop: "tool_use"},
		{file: "openai_chat-anthropic_messages/response-text-cached.json", wantText: "The Loire, the Seine and the Rhône.",
			wantInput: 2120 - 2048, wantOut: 12, wantStop: "max_tokens"},
		{file: "anthropic_messages-openai_chat/response-tool-use.json", wantCalls: []call{
			{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", map[string]any{"location": "San Francisco, CA", "unit": "fahrenheit"}},
		}, wantText: "Okay, let's check the weather for San Francisco, CA:", wantInput: 472 + 2048, wantOut: 89, wantStop: "tool_calls"},
		{file: "from/anthropic_messages/response-text.json", wantText: "Hello! I'm Claude. How can I help you today?",
			wantInput: 21 + 1536, wantOut: 15, wantStop: "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(fixtureDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Base(filepath.Dir(tt.file))
			if dir == "anthropic_messages" { // from/anthropic_messages: an input for every format
				dir = "anthropic_messages-openai_chat"
			}
			var out []byte
			var calls []call
			var text, stop string
			var input, output int64
			switch dir {
			case "openai_chat-anthropic_messages":
				out, err = ResponseBody("openai_chat", "anthropic_messages", in, fixedNow)
				if err != nil {
					t.Fatal(err)
				}
				var m anthropic.Message
				if err := json.Unmarshal(out, &m); err != nil {
					t.Fatal(err)
				}
				for _, b := range m.Content {
					switch b.Type {
					case "text":
						text += b.Text
					case "tool_use":
						var args map[string]any
						if err := json.Unmarshal(b.Input, &args); err != nil {
							t.Fatal(err)
						}
						calls = append(calls, call{b.ID, b.Name, args})
					}
				}
				stop, input, output = string(m.StopReason), m.Usage.InputTokens, m.Usage.OutputTokens
			default:
				out, err = ResponseBody("anthropic_messages", "openai_chat", in, fixedNow)
				if err != nil {
					t.Fatal(err)
				}
				var c openai.ChatCompletion
				if err := json.Unmarshal(out, &c); err != nil {
					t.Fatal(err)
				}
				msg := c.Choices[0].Message
				text = msg.Content
				for _, tc := range msg.ToolCalls {
					var args map[string]any
					if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
						t.Fatal(err)
					}
					calls = append(calls, call{tc.ID, tc.Function.Name, args})
				}
				stop, input, output = c.Choices[0].FinishReason, c.Usage.PromptTokens, c.Usage.CompletionTokens
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("tool calls (-want +got):\n%s", diff)
			}
			if text != tt.wantText || stop != tt.wantStop || input != tt.wantInput || output != tt.wantOut {
				t.Errorf("text %q stop %q usage %d/%d; want %q %q %d/%d", text, stop, input, output, tt.wantText, tt.wantStop, tt.wantInput, tt.wantOut)
			}
		})
	}
}

// TestSDKsReadEveryTranslatedAnswer: every answer fixture translated for
// an OpenAI Responses or a Gemini client decodes in that client's SDK
// into the tool calls and token counts the upstream meant.
func TestSDKsReadEveryTranslatedAnswer(t *testing.T) {
	for _, fx := range inputs(t, "response-*.json") {
		if fx.to != "openai_responses" && fx.to != "gemini_generate_content" {
			continue
		}
		t.Run(fx.from+"-"+fx.to+"/"+fx.name, func(t *testing.T) {
			in, err := os.ReadFile(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := ResponseBody(fx.from, fx.to, in, optionsFor(fx.from))
			if err != nil {
				t.Fatal(err)
			}
			src := record(t, fx.from, in)
			var calls []compat.ToolCall
			var input, output int64
			switch fx.to {
			case "openai_responses":
				var r responses.Response
				if err := json.Unmarshal(out, &r); err != nil {
					t.Fatal(err)
				}
				for _, it := range r.Output {
					if it.Type == "function_call" {
						calls = append(calls, compat.ToolCall{ID: it.CallID, Name: it.Name, Arguments: json.RawMessage(it.Arguments.OfString)})
					}
				}
				input, output = r.Usage.InputTokens, r.Usage.OutputTokens
			default:
				var r genai.GenerateContentResponse
				if err := json.Unmarshal(out, &r); err != nil {
					t.Fatal(err)
				}
				for _, fc := range r.FunctionCalls() {
					args, _ := json.Marshal(fc.Args)
					calls = append(calls, compat.ToolCall{ID: fc.ID, Name: fc.Name, Arguments: args})
				}
				input = int64(r.UsageMetadata.PromptTokenCount)
				output = int64(r.UsageMetadata.CandidatesTokenCount + r.UsageMetadata.ThoughtsTokenCount)
			}
			want := normalArgs(t, src.ToolCalls)
			for i := range want {
				if want[i].ID == "" && i < len(calls) {
					want[i].ID = calls[i].ID // Gemini's calls have no IDs; the translation names them
				}
			}
			if diff := cmp.Diff(want, normalArgs(t, calls)); diff != "" {
				t.Errorf("SDK tool calls (-upstream +SDK):\n%s", diff)
			}
			if in, _ := src.Usage.Input.Get(); in != input {
				t.Errorf("SDK input tokens %d, want %d", input, in)
			}
			if o, _ := src.Usage.Output.Get(); o != output {
				t.Errorf("SDK output tokens %d, want %d", output, o)
			}
		})
	}
}
