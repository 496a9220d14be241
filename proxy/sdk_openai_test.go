package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// openaiClient is the OpenAI SDK pointed at sluice with a key of its own.
func openaiClient(gw *gateway) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(gw.URL+"/v1/"),
		option.WithAPIKey(clientKeyOpenAI),
		option.WithMaxRetries(0),
	)
}

var openaiAuth = sdkAuth{header: "Authorization", value: "Bearer " + providerKeyOpenAI, secrets: []string{clientKeyOpenAI}}

var weatherSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"location": map[string]any{"type": "string"},
		"unit":     map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
	},
	"required": []string{"location", "unit"},
}

func chatParams(model string, tools bool) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather in Paris, and what time is it there?")},
	}
	if tools {
		p.Tools = []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: weatherSchema}),
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_local_time", Parameters: shared.FunctionParameters{
				"type": "object", "properties": map[string]any{"timezone": map[string]any{"type": "string"}},
			}}),
		}
	}
	return p
}

// chatAnswer reduces a chat completion, whole or accumulated from a stream.
func chatAnswer(t *testing.T, c *openai.ChatCompletion) sdkAnswer {
	t.Helper()
	a := sdkAnswer{Input: c.Usage.PromptTokens, Output: c.Usage.CompletionTokens, Cached: c.Usage.PromptTokensDetails.CachedTokens}
	if len(c.Choices) != 1 {
		t.Fatalf("%d choices, want 1", len(c.Choices))
	}
	ch := c.Choices[0]
	a.Text, a.Stop = ch.Message.Content, ch.FinishReason
	for _, tc := range ch.Message.ToolCalls {
		a.ToolCalls = append(a.ToolCalls, toolCall(t, tc.Function.Name, tc.Function.Arguments))
	}
	return a
}

func chatCall(model string, tools bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		c := openaiClient(gw)
		res, err := c.Chat.Completions.New(ctx, chatParams(model, tools))
		if err != nil {
			return sdkAnswer{}, err
		}
		return chatAnswer(t, res), nil
	}
}

// chatStreamCall streams a chat completion with the client's own
// stream_options.
func chatStreamCall(model string, tools bool, opts openai.ChatCompletionStreamOptionsParam) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		c := openaiClient(gw)
		p := chatParams(model, tools)
		p.StreamOptions = opts
		stream := c.Chat.Completions.NewStreaming(ctx, p)
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			chunks++
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("chunk %d could not be accumulated", chunks)
			}
		}
		if err := stream.Err(); err != nil {
			return sdkAnswer{}, err
		}
		if chunks < 3 {
			t.Errorf("the SDK saw %d chunks; the answer did not stream", chunks)
		}
		return chatAnswer(t, &acc.ChatCompletion), nil
	}
}

// includesUsage asserts what sluice asked of the provider: a streamed chat
// always asks for usage, so the gateway can count the tokens.
func includesUsage(t *testing.T, got proxytest.Received) {
	t.Helper()
	if !bytes.Contains(got.Body, []byte(`"include_usage":true`)) {
		t.Errorf("upstream body %s does not ask for usage", got.Body)
	}
}

// keepsStreamOptions asserts that asking for usage kept the client's
// other stream option.
func keepsStreamOptions(t *testing.T, got proxytest.Received) {
	t.Helper()
	includesUsage(t, got)
	var body struct {
		StreamOptions map[string]any `json:"stream_options"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil || body.StreamOptions["include_obfuscation"] != false {
		t.Errorf("upstream stream_options %v (%v), want the client's include_obfuscation false kept", body.StreamOptions, err)
	}
}

func responsesParams(model string, tools bool) responses.ResponseNewParams {
	p := responses.ResponseNewParams{
		Model: shared.ResponsesModel(model),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France? And the weather there?")},
	}
	if tools {
		p.Tools = []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather", weatherSchema, true)}
	}
	return p
}

// responseAnswer reduces a Responses API response; its status stands for
// the stop reason.
func responseAnswer(t *testing.T, r *responses.Response) sdkAnswer {
	t.Helper()
	a := sdkAnswer{
		Text: r.OutputText(), Stop: string(r.Status),
		Input: r.Usage.InputTokens, Output: r.Usage.OutputTokens, Cached: r.Usage.InputTokensDetails.CachedTokens,
	}
	for _, item := range r.Output {
		if item.Type == "function_call" {
			fc := item.AsFunctionCall()
			a.ToolCalls = append(a.ToolCalls, toolCall(t, fc.Name, fc.Arguments))
		}
	}
	return a
}

func responsesCall(model string, tools bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		c := openaiClient(gw)
		res, err := c.Responses.New(ctx, responsesParams(model, tools))
		if err != nil {
			return sdkAnswer{}, err
		}
		return responseAnswer(t, res), nil
	}
}

// responsesStreamCall builds the answer from the stream's deltas, and takes
// status and usage from the final response.completed event.
func responsesStreamCall(model string, tools bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		c := openaiClient(gw)
		stream := c.Responses.NewStreaming(ctx, responsesParams(model, tools))
		defer stream.Close()
		var a sdkAnswer
		var text, args bytes.Buffer
		var name string
		completed := false
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.output_item.added":
				if ev.Item.Type == "function_call" {
					name = ev.Item.Name
				}
			case "response.function_call_arguments.delta":
				args.WriteString(ev.Delta)
			case "response.completed":
				completed = true
				r := ev.Response
				a.Stop = string(r.Status)
				a.Input, a.Output, a.Cached = r.Usage.InputTokens, r.Usage.OutputTokens, r.Usage.InputTokensDetails.CachedTokens
			}
		}
		if err := stream.Err(); err != nil {
			return sdkAnswer{}, err
		}
		if !completed {
			t.Error("the stream had no response.completed event")
		}
		a.Text = text.String()
		if name != "" {
			a.ToolCalls = []sdkToolCall{toolCall(t, name, args.String())}
		}
		return a, nil
	}
}

func TestSDKOpenAI(t *testing.T) {
	jsonReply := func(fixture string) proxytest.Reply {
		return proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, fixture)}
	}
	sseReply := func(fixture string) proxytest.Reply {
		return proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, fixture)}
	}
	weather := toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`)
	localTime := toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`)
	const hello = "Hello! How can I help you today?"
	chat := func(stream bool, in, out, cached int64, tools int) wantRecord {
		return wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: http.StatusOK,
			Stream: stream, Input: in, Output: out, CacheRead: cached, ToolCalls: tools}
	}
	resp := func(stream bool, in, out, cached int64, tools int) wantRecord {
		return wantRecord{Provider: "openai", Model: "gpt-5-mini", Format: policy.FormatOpenAIResponses, Status: http.StatusOK,
			Stream: stream, Input: in, Output: out, CacheRead: cached, ToolCalls: tools}
	}
	runSDKCases(t, openaiAuth, []sdkCase{
		{
			name:         "chat completion",
			upstreamPath: "/v1/chat/completions",
			reply:        jsonReply("openai_chat/text.json"),
			call:         chatCall("gpt-4.1", false),
			want:         sdkAnswer{Text: hello, Stop: "stop", Input: 2006, Output: 10, Cached: 1920},
			rec:          chat(false, 2006, 10, 1920, 0),
		},
		{
			// A base URL without /v1 reaches /chat/completions; the
			// provider still gets its real path.
			name:         "chat completion without v1 in the base URL",
			upstreamPath: "/v1/chat/completions",
			reply:        jsonReply("openai_chat/text.json"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c := openai.NewClient(option.WithBaseURL(gw.URL+"/"), option.WithAPIKey(clientKeyOpenAI), option.WithMaxRetries(0))
				res, err := c.Chat.Completions.New(ctx, chatParams("gpt-4.1", false))
				if err != nil {
					return sdkAnswer{}, err
				}
				return chatAnswer(t, res), nil
			},
			want: sdkAnswer{Text: hello, Stop: "stop", Input: 2006, Output: 10, Cached: 1920},
			rec:  chat(false, 2006, 10, 1920, 0),
		},
		{
			name:         "chat completion with tool calls",
			upstreamPath: "/v1/chat/completions",
			reply:        jsonReply("openai_chat/tool_calls.json"),
			call:         chatCall("gpt-4.1", true),
			want:         sdkAnswer{Stop: "tool_calls", ToolCalls: []sdkToolCall{weather, localTime}, Input: 118, Output: 52},
			rec:          chat(false, 118, 52, 0, 2),
		},
		{
			name:         "chat stream with usage asked",
			upstreamPath: "/v1/chat/completions",
			reply:        sseReply("openai_chat/text.sse"),
			call:         chatStreamCall("gpt-4.1", false, openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}),
			want:         sdkAnswer{Text: hello, Stop: "stop", Input: 2006, Output: 10, Cached: 1920},
			rec:          chat(true, 2006, 10, 1920, 0),
			upstream:     includesUsage,
		},
		{
			// The client gets no usage, as from the provider directly, but
			// sluice asked for it and counted it.
			name:         "chat stream with tool calls and no usage asked",
			upstreamPath: "/v1/chat/completions",
			reply:        sseReply("openai_chat/tool_calls.sse"),
			call:         chatStreamCall("gpt-4.1", true, openai.ChatCompletionStreamOptionsParam{}),
			want:         sdkAnswer{Stop: "tool_calls", ToolCalls: []sdkToolCall{weather, localTime}},
			rec:          chat(true, 118, 52, 0, 2),
			upstream:     includesUsage,
		},
		{
			// The client's stream_options lack include_usage: sluice adds
			// it beside the client's option and hides the usage chunk.
			name:         "chat stream with other stream options",
			upstreamPath: "/v1/chat/completions",
			reply:        sseReply("openai_chat/text.sse"),
			call:         chatStreamCall("gpt-4.1", false, openai.ChatCompletionStreamOptionsParam{IncludeObfuscation: openai.Bool(false)}),
			want:         sdkAnswer{Text: hello, Stop: "stop"},
			rec:          chat(true, 2006, 10, 1920, 0),
			upstream:     keepsStreamOptions,
		},
		{
			name:         "responses",
			upstreamPath: "/v1/responses",
			reply:        jsonReply("openai_responses/text.json"),
			call:         responsesCall("gpt-5-mini", false),
			want:         sdkAnswer{Text: "The capital of France is Paris.", Stop: "completed", Input: 1538, Output: 22, Cached: 1408},
			rec:          resp(false, 1538, 22, 1408, 0),
		},
		{
			name:         "responses with a function call",
			upstreamPath: "/v1/responses",
			reply:        jsonReply("openai_responses/tool_call.json"),
			call:         responsesCall("gpt-5-mini", true),
			want:         sdkAnswer{Stop: "completed", ToolCalls: []sdkToolCall{weather}, Input: 312, Output: 89},
			rec:          resp(false, 312, 89, 0, 1),
		},
		{
			name:         "responses stream",
			upstreamPath: "/v1/responses",
			reply:        sseReply("openai_responses/text.sse"),
			call:         responsesStreamCall("gpt-5-mini", false),
			want:         sdkAnswer{Text: "The capital of France is Paris.", Stop: "completed", Input: 1538, Output: 22, Cached: 1408},
			rec:          resp(true, 1538, 22, 1408, 0),
		},
		{
			name:         "responses stream with a function call",
			upstreamPath: "/v1/responses",
			reply:        sseReply("openai_responses/tool_call.sse"),
			call:         responsesStreamCall("gpt-5-mini", true),
			want:         sdkAnswer{Stop: "completed", ToolCalls: []sdkToolCall{weather}, Input: 312, Output: 89},
			rec:          resp(true, 312, 89, 0, 1),
		},
	})
}

// openaiTyped reads *openai.Error.
func openaiTyped(t *testing.T, err error) (int, string, bool) {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		return 0, "", false
	}
	return apiErr.StatusCode, apiErr.Message, true
}

func TestSDKOpenAIErrors(t *testing.T) {
	chatErr := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := openaiClient(gw)
			if !stream {
				_, err := c.Chat.Completions.New(ctx, chatParams(model, false))
				return err
			}
			s := c.Chat.Completions.NewStreaming(ctx, chatParams(model, false))
			defer s.Close()
			for s.Next() {
			}
			return s.Err()
		}
	}
	responsesErr := func(model string) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := openaiClient(gw)
			_, err := c.Responses.New(ctx, responsesParams(model, false))
			return err
		}
	}
	runSDKErrors(t, openaiTyped, []sdkErrCase{
		{name: "chat with a denied model", call: chatErr("o3", false),
			wantStatus: http.StatusForbidden, wantMessage: deniedMessage("o3"),
			rec: wantRecord{Model: "o3", Format: policy.FormatOpenAIChat, Status: http.StatusForbidden}},
		{name: "chat stream with an unknown model", call: chatErr("gpt-9", true),
			wantStatus: http.StatusNotFound, wantMessage: unknownMessage("gpt-9"),
			rec: wantRecord{Model: "gpt-9", Format: policy.FormatOpenAIChat, Status: http.StatusNotFound, Stream: true}},
		{name: "responses with a denied model", call: responsesErr("o3"),
			wantStatus: http.StatusForbidden, wantMessage: deniedMessage("o3"),
			rec: wantRecord{Model: "o3", Format: policy.FormatOpenAIResponses, Status: http.StatusForbidden}},
		{name: "responses with an unknown model", call: responsesErr("gpt-9"),
			wantStatus: http.StatusNotFound, wantMessage: unknownMessage("gpt-9"),
			rec: wantRecord{Model: "gpt-9", Format: policy.FormatOpenAIResponses, Status: http.StatusNotFound}},
	})
}

// TestSDKOpenAIDoubledV1: a base URL that ends in /v1/v1 (the /v1 typed
// twice) gets a 404 whose message tells the user what to fix, and, like
// every request that reached the gateway, a record.
func TestSDKOpenAIDoubledV1(t *testing.T) {
	gw := newGateway(t, sdkConfig, sdkLogin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := openai.NewClient(option.WithBaseURL(gw.URL+"/v1/v1/"), option.WithAPIKey(clientKeyOpenAI), option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(ctx, chatParams("gpt-4.1", false))
	status, msg, ok := openaiTyped(t, err)
	if !ok || status != http.StatusNotFound || !strings.Contains(msg, "repeats /v1") {
		t.Fatalf("error %T %d %q, want *openai.Error 404 saying the path repeats /v1", err, status, msg)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("the provider received %d requests", n)
	}
	deadline := time.Now().Add(time.Second)
	for len(gw.sink.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	recs := gw.sink.all()
	if len(recs) != 1 {
		t.Fatalf("%d records of the misrouted request, want 1: nothing is lost, the admin must see it", len(recs))
	}
	if recs[0].Status != http.StatusNotFound || recs[0].Format != policy.FormatOpenAIChat || recs[0].Error == "" {
		t.Errorf("record status %d format %q error %q, want 404, %s and the reason", recs[0].Status, recs[0].Format, recs[0].Error, policy.FormatOpenAIChat)
	}
}
