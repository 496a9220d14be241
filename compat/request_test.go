package compat

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func route(t *testing.T, path string) Route {
	t.Helper()
	u, _ := url.Parse(path)
	r, err := Detect(http.MethodPost, u.EscapedPath(), u.Query())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInspect(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		model   string
		stream  bool
		tools   string // comma-separated
		wantErr error
	}{
		{name: "chat", path: "/v1/chat/completions", model: "gpt-5", stream: true, tools: "get_weather,apply_patch",
			body: `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}],
				"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}},{"type":"custom","custom":{"name":"apply_patch"}}]}`},
		{name: "chat not streaming", path: "/chat/completions", body: `{"model":"qwen/qwen3-235b-a22b-2507","messages":[]}`,
			model: "qwen/qwen3-235b-a22b-2507"},
		{name: "chat stream null", path: "/v1/chat/completions", body: `{"model":"gpt-5","stream":null}`, model: "gpt-5"},
		{name: "responses", path: "/v1/responses", model: "gpt-5.1-codex", stream: true, tools: "shell,web_search",
			body: `{"model":"gpt-5.1-codex","stream":true,"input":"hi","tools":[{"type":"function","name":"shell"},{"type":"web_search"}]}`},
		{name: "anthropic", path: "/v1/messages", model: "claude-opus-4-5", stream: true, tools: "get_weather,web_search",
			body: `{"model":"claude-opus-4-5","max_tokens":1024,"stream":true,"messages":[],
				"tools":[{"name":"get_weather","input_schema":{}},{"type":"web_search_20250305","name":"web_search"}]}`},
		{name: "anthropic count tokens", path: "/v1/messages/count_tokens", model: "claude-haiku-4-5",
			body: `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`},
		{name: "gemini model and stream from path", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			model: "gemini-2.5-flash", stream: true, tools: "get_weather,googleSearch",
			body: `{"contents":[],"tools":[{"functionDeclarations":[{"name":"get_weather"}]},{"googleSearch":{}}]}`},
		{name: "vertex claude model from path", path: "/v1/projects/p/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
			body:  `{"anthropic_version":"vertex-2023-10-16","stream":true,"messages":[],"max_tokens":5}`,
			model: "claude-sonnet-4-5@20250929", stream: true},
		{name: "vertex claude count tokens model from body", path: "/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict",
			body: `{"model":"claude-sonnet-4-5@20250929","messages":[]}`, model: "claude-sonnet-4-5@20250929"},
		{name: "bedrock claude body has no model", path: "/bedrock/model/us.anthropic.claude-haiku-4-5-20251001-v1:0/invoke",
			body:  `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[],"tools":[{"name":"lookup","input_schema":{}}]}`,
			model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", tools: "lookup"},
		{name: "bedrock nova tools", path: "/model/us.amazon.nova-pro-v1:0/invoke-with-response-stream",
			body:  `{"messages":[],"toolConfig":{"tools":[{"toolSpec":{"name":"calc","inputSchema":{}}}]}}`,
			model: "us.amazon.nova-pro-v1:0", stream: true, tools: "calc"},
		{name: "converse", path: "/bedrock/model/amazon.nova-lite-v1:0/converse-stream",
			body:  `{"messages":[],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{}}}}]}}`,
			model: "amazon.nova-lite-v1:0", stream: true, tools: "get_weather"},
		{name: "no model", path: "/v1/chat/completions", body: `{"messages":[]}`, wantErr: ErrNoModel},
		{name: "model not a string", path: "/v1/messages", body: `{"model":7}`, wantErr: ErrInvalidBody},
		{name: "stream not a bool", path: "/v1/responses", body: `{"model":"gpt-5","stream":"yes"}`, wantErr: ErrInvalidBody},
		{name: "not JSON", path: "/v1/chat/completions", body: `model=gpt-5`, wantErr: ErrInvalidBody},
		{name: "JSON array", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: `[]`, wantErr: ErrInvalidBody},
		{name: "truncated JSON", path: "/v1/messages", body: `{"model":"claude`, wantErr: ErrInvalidBody},
		{name: "empty body", path: "/model/m/converse", body: ``, wantErr: ErrInvalidBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Inspect(route(t, tt.path), []byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if req.Model != tt.model || req.Stream != tt.stream || strings.Join(req.Tools, ",") != tt.tools {
				t.Errorf("got %+v", req)
			}
		})
	}
}

func TestUserMessage(t *testing.T) {
	tests := []struct {
		name, format, body, want string
	}{
		{name: "chat string", format: OpenAIChat, want: "what is 2+2?",
			body: `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"},{"role":"assistant","content":"hi"},{"role":"user","content":"what is 2+2?"}]}`},
		{name: "chat parts", format: OpenAIChat, want: "describe\nthis image",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"describe"},{"type":"image_url","image_url":{"url":"data:"}},{"type":"text","text":"this image"}]}]}`},
		{name: "chat tool turn skipped", format: OpenAIChat, want: "weather in Paris?",
			body: `{"messages":[{"role":"user","content":"weather in Paris?"},{"role":"assistant","tool_calls":[]},{"role":"tool","tool_call_id":"c","content":"18C"}]}`},
		{name: "responses string input", format: OpenAIResponses, body: `{"input":"write a haiku"}`, want: "write a haiku"},
		{name: "responses items", format: OpenAIResponses, want: "fix the bug",
			body: `{"input":[{"role":"developer","content":"rules"},{"type":"message","role":"user","content":[{"type":"input_text","text":"fix the bug"}]},{"type":"function_call_output","call_id":"c","output":"ok"}]}`},
		{name: "anthropic tool result skipped", format: AnthropicMessages, want: "weather in SF?",
			body: `{"messages":[{"role":"user","content":"weather in SF?"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"w","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"60F"}]}]}`},
		{name: "anthropic blocks", format: AnthropicMessages, want: "part one\npart two",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"text","text":"part two","cache_control":{"type":"ephemeral"}}]}]}`},
		{name: "gemini", format: GeminiGenerateContent, want: "and in Rome?",
			body: `{"contents":[{"role":"user","parts":[{"text":"weather in Paris"}]},{"role":"model","parts":[{"text":"sunny"}]},{"parts":[{"text":"and in Rome?"}]}]}`},
		{name: "gemini function response skipped", format: GoogleGenerateContent, want: "book it",
			body: `{"contents":[{"role":"user","parts":[{"text":"book it"}]},{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`},
		{name: "vertex claude", format: GoogleRawPredict, body: `{"messages":[{"role":"user","content":"hey"}]}`, want: "hey"},
		{name: "bedrock claude", format: BedrockModelInvoke, body: `{"messages":[{"role":"user","content":[{"type":"text","text":"hola"}]}]}`, want: "hola"},
		{name: "bedrock nova", format: BedrockModelInvoke, body: `{"messages":[{"role":"user","content":[{"text":"bonjour"}]}]}`, want: "bonjour"},
		{name: "bedrock llama prompt", format: BedrockModelInvoke, body: `{"prompt":"<|begin_of_text|>hi","max_gen_len":5}`, want: "<|begin_of_text|>hi"},
		{name: "converse", format: BedrockConverse, want: "ciao",
			body: `{"messages":[{"role":"user","content":[{"text":"ciao"},{"image":{"format":"png","source":{"bytes":""}}}]},{"role":"assistant","content":[{"text":"?"}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"result"}]}}]}]}`},
		{name: "no user message", format: OpenAIChat, body: `{"messages":[{"role":"system","content":"x"}]}`, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UserMessage(tt.format, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := UserMessage(OpenAIChat, []byte(`nope`)); !errors.Is(err, ErrInvalidBody) {
		t.Errorf("invalid body: %v", err)
	}
	if _, err := UserMessage("nope", []byte(`{}`)); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

// TestInspectRefusesAmbiguousBodies: a body that decoders upstream could
// read differently from Inspect is refused, whatever the format.
func TestInspectRefusesAmbiguousBodies(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantErr          error
		wantMsg          string
	}{
		{name: "duplicate model", path: "/v1/chat/completions", body: `{"model":"cheap","messages":[],"model":"expensive"}`,
			wantErr: ErrAmbiguousBody, wantMsg: `two "model" members`},
		{name: "duplicate stream", path: "/v1/messages", body: `{"model":"m","stream":false,"stream":true}`,
			wantErr: ErrAmbiguousBody, wantMsg: `two "stream" members`},
		{name: "duplicate stream_options", path: "/v1/chat/completions", body: `{"model":"m","stream_options":null,"stream_options":{}}`,
			wantErr: ErrAmbiguousBody, wantMsg: `two "stream_options" members`},
		{name: "duplicate modelId", path: "/model/m/converse", body: `{"modelId":"m","modelId":"m"}`,
			wantErr: ErrAmbiguousBody, wantMsg: `two "modelId" members`},
		{name: "capitalised model", path: "/v1/responses", body: `{"model":"cheap","Model":"expensive"}`,
			wantErr: ErrAmbiguousBody, wantMsg: `written "Model"`},
		{name: "capitalised model alone", path: "/v1/chat/completions", body: `{"MODEL":"expensive","messages":[]}`,
			wantErr: ErrAmbiguousBody, wantMsg: `written "MODEL"`},
		{name: "mixed case stream_options", path: "/v1/chat/completions", body: `{"model":"m","Stream_Options":{"include_usage":false}}`,
			wantErr: ErrAmbiguousBody, wantMsg: `"stream_options"`},
		{name: "escaped model", path: "/v1/messages", body: `{"mod\u0065l":"m"}`,
			wantErr: ErrAmbiguousBody, wantMsg: `written "mod\u0065l"`},
		{name: "escaped capital model", path: "/v1/messages", body: `{"model":"a","\u004dodel":"b"}`, wantErr: ErrAmbiguousBody},
		{name: "long s folds to stream", path: "/v1/chat/completions", body: `{"model":"m","ſtream":true}`, wantErr: ErrAmbiguousBody},
		{name: "escaped long s", path: "/v1/chat/completions", body: `{"model":"m","\u017ftream":true}`, wantErr: ErrAmbiguousBody},
		{name: "case in gemini body", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: `{"contents":[],"Model":"gemini-2.5-pro"}`,
			wantErr: ErrAmbiguousBody},
		{name: "duplicate include_usage", path: "/v1/chat/completions",
			body:    `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`,
			wantErr: ErrAmbiguousBody, wantMsg: `two "include_usage" members`},
		{name: "capital include_usage", path: "/v1/chat/completions",
			body: `{"model":"m","stream":true,"stream_options":{"Include_Usage":false}}`, wantErr: ErrAmbiguousBody},
		{name: "second object", path: "/v1/chat/completions", body: `{"model":"cheap"}{"model":"expensive"}`,
			wantErr: ErrInvalidBody, wantMsg: "data follows the JSON object at byte 17"},
		{name: "trailing garbage", path: "/v1/messages", body: `{"model":"m"} x`, wantErr: ErrInvalidBody},
		{name: "trailing garbage after empty object", path: "/model/m/invoke", body: `{}]`, wantErr: ErrInvalidBody},
		{name: "model and modelId differ", path: "/v1/chat/completions", body: `{"model":"a","modelId":"b"}`, wantErr: ErrModelMismatch},
		{name: "gemini body names another model", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body: `{"model":"gemini-2.5-pro","contents":[]}`, wantErr: ErrModelMismatch,
			wantMsg: `the path names "gemini-2.5-flash" and the body names "gemini-2.5-pro"`},
		{name: "gemini body resource of another model", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body: `{"model":"models/gemini-2.5-pro","contents":[]}`, wantErr: ErrModelMismatch},
		{name: "vertex claude body names another model", path: "/v1/projects/p/locations/global/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
			body: `{"model":"claude-opus-4-5","messages":[]}`, wantErr: ErrModelMismatch},
		{name: "bedrock body modelId names another model", path: "/bedrock/model/amazon.nova-lite-v1:0/invoke",
			body: `{"modelId":"amazon.nova-premier-v1:0","messages":[]}`, wantErr: ErrModelMismatch},
		{name: "converse body model names another model", path: "/model/amazon.nova-lite-v1:0/converse",
			body: `{"model":"amazon.nova-premier-v1:0","messages":[]}`, wantErr: ErrModelMismatch},
		{name: "modelId alone names no chat model", path: "/v1/chat/completions", body: `{"modelId":"gpt-5"}`, wantErr: ErrNoModel},
		{name: "vertex claude body modelId names another model", path: "/v1/projects/p/locations/global/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
			body: `{"modelId":"claude-opus-4-5","messages":[]}`, wantErr: ErrModelMismatch},
		{name: "query names another model", path: "/v1/chat/completions?model=expensive", body: `{"model":"cheap"}`, wantErr: ErrModelMismatch},
		{name: "query modelId in other case", path: "/v1beta/models/gemini-2.5-flash:generateContent?MODELID=gemini-2.5-pro",
			body: `{"contents":[]}`, wantErr: ErrModelMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(route(t, tt.path), []byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// TestInspectAcceptsUnambiguousBodies: what SDKs send passes, including a
// body that repeats the path's model in the same spelling.
func TestInspectAcceptsUnambiguousBodies(t *testing.T) {
	tests := []struct{ name, path, body, model string }{
		{name: "other members may repeat", path: "/v1/chat/completions", model: "m",
			body: `{"model":"m","metadata":{},"metadata":{},"Messages":[]}`},
		{name: "nested model keys are not routing", path: "/v1/messages", model: "m",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","model":"a","Model":"b"}]}]}`},
		{name: "trailing whitespace", path: "/v1/messages", body: "{\"model\":\"m\"}\r\n\t ", model: "m"},
		{name: "gemini body repeats the path model", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body: `{"model":"gemini-2.5-flash","contents":[]}`, model: "gemini-2.5-flash"},
		{name: "gemini body names the path model as a resource", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body: `{"model":"models/gemini-2.5-flash","contents":[]}`, model: "gemini-2.5-flash"},
		{name: "bedrock body repeats the path model", path: "/model/us.amazon.nova-pro-v1:0/converse",
			body: `{"modelId":"us.amazon.nova-pro-v1:0","messages":[]}`, model: "us.amazon.nova-pro-v1:0"},
		{name: "query repeats the model", path: "/v1/chat/completions?model=m", body: `{"model":"m"}`, model: "m"},
		{name: "stream_options with other members", path: "/v1/chat/completions", model: "m",
			body: `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Inspect(route(t, tt.path), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.Model != tt.model {
				t.Errorf("model %q, want %q", req.Model, tt.model)
			}
		})
	}
}
