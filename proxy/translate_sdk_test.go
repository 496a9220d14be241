package proxy

// End-to-end tests of translation: each official SDK, unmodified, streams
// a tool call through sluice from a provider that speaks another API
// format only ("translate": true). The mock provider answers with a
// recorded stream in its own format; the SDK's parsed objects must say
// what that stream meant (text, tool calls, stop, tokens), and the record
// must carry the provider's usage and its cost. Pairs whose translator is
// not built are skipped with the reason "translator not built".

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/translate"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// translateConfig has one provider per format, each speaking only that
// format and translating for every other; each serves one model.
const translateConfig = `{
	"providers": {
		"chatbox": {"baseurl": "UPSTREAM", "apikey": "sk-proj-provider-openai", "translate": true,
			"models": ["gpt-4.1"], "compatibility": {"openai_chat": true}},
		"responsesbox": {"baseurl": "UPSTREAM", "apikey": "sk-proj-provider-openai", "translate": true,
			"models": ["gpt-5-mini"], "compatibility": {"openai_chat": false, "openai_responses": true}},
		"claudebox": {"baseurl": "UPSTREAM", "apikey": "sk-ant-provider-anthropic", "authorization": "x-api-key", "translate": true,
			"models": ["claude-sonnet-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"geminibox": {"baseurl": "UPSTREAM", "apikey": "AIza-provider-gemini", "authorization": "x-goog-api-key", "translate": true,
			"models": ["gemini-2.5-flash"], "compatibility": {"openai_chat": false, "gemini_generate_content": true}},
		"bedrockbox": {"baseurl": "UPSTREAM", "apikey": "ABSK-provider-bedrock", "translate": true,
			"models": ["anthropic.claude-sonnet-4-5-20250929-v1:0"], "compatibility": {"openai_chat": false, "bedrock_converse": true}},
	},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// txUpstream is one provider of translateConfig and the recorded stream
// it answers with.
type txUpstream struct {
	format, provider, model string
	// path is the escaped path the provider must be called on.
	path        string
	fixture     string
	contentType string
	auth        sdkAuth
	// text and calls are what the recorded stream says.
	text  string
	calls []sdkToolCall
}

func txUpstreams(t *testing.T) []txUpstream {
	paris := toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`)
	parisTime := toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`)
	return []txUpstream{
		{format: compat.OpenAIChat, provider: "chatbox", model: "gpt-4.1", path: "/v1/chat/completions",
			fixture: "openai_chat/tool_calls.sse", contentType: "text/event-stream", auth: openaiAuth,
			calls: []sdkToolCall{paris, parisTime}},
		{format: compat.OpenAIResponses, provider: "responsesbox", model: "gpt-5-mini", path: "/v1/responses",
			fixture: "openai_responses/tool_call.sse", contentType: "text/event-stream", auth: openaiAuth,
			calls: []sdkToolCall{paris}},
		{format: compat.AnthropicMessages, provider: "claudebox", model: "claude-sonnet-4-5", path: "/v1/messages",
			fixture: "anthropic_messages/tool_use.sse", contentType: "text/event-stream",
			auth: sdkAuth{header: "X-Api-Key", value: providerKeyAnthropic}, text: "Okay, let's check the weather for San Francisco, CA:",
			calls: []sdkToolCall{toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)}},
		{format: compat.GeminiGenerateContent, provider: "geminibox", model: "gemini-2.5-flash",
			path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", fixture: "gemini_generate_content/function_call.sse",
			contentType: "text/event-stream", auth: sdkAuth{header: "X-Goog-Api-Key", value: providerKeyGemini},
			text: "I'll check the current weather in Paris and the local time for you.", calls: []sdkToolCall{paris, parisTime}},
		{format: compat.BedrockConverse, provider: "bedrockbox", model: claudeBedrock,
			path: "/model/" + claudeBedrockID + "/converse-stream", fixture: "bedrock_converse/tool_use.eventstream",
			contentType: "application/vnd.amazon.eventstream", auth: bedrockAuth, text: "I'll look up the weather in Seattle for you.",
			calls: []sdkToolCall{toolCall(t, "get_weather", `{"city":"Seattle","unit":"celsius"}`)}},
	}
}

// txClient is an SDK speaking one format, streaming with tools.
type txClient struct {
	format string
	// stop is the stop reason the client's format gives a tool call.
	stop string
	call func(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error)
	// inputWithCache says the format's input count includes cached
	// tokens (OpenAI, Gemini); Anthropic and Bedrock count them apart.
	inputWithCache bool
}

func txClients() []txClient {
	return []txClient{
		{format: compat.OpenAIChat, stop: "tool_calls", inputWithCache: true,
			call: func(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error) {
				return chatStreamCall(model, true, openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)})(t, ctx, gw)
			}},
		{format: compat.OpenAIResponses, stop: "completed", inputWithCache: true, call: txResponsesStream},
		{format: compat.AnthropicMessages, stop: "tool_use",
			call: func(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error) {
				return messagesCall(model, true, true)(t, ctx, gw)
			}},
		{format: compat.GeminiGenerateContent, stop: "STOP", inputWithCache: true,
			call: func(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error) {
				return geminiCall(model, true)(t, ctx, gw)
			}},
		{format: compat.BedrockConverse, stop: "tool_use", call: txConverseStream},
	}
}

// TestTranslatedStreamToolCalls drives every pair of client and provider
// formats: the SDK's parsed answer equals what the provider's stream
// meant, the provider was called in its own format with its own key, and
// the record has the provider's usage and the cost of it.
func TestTranslatedStreamToolCalls(t *testing.T) {
	for _, up := range txUpstreams(t) {
		for _, cl := range txClients() {
			t.Run(cl.format+"-to-"+up.format, func(t *testing.T) {
				if cl.format != up.format && !translate.Supported(cl.format, up.format) {
					t.Skip("translator not built")
				}
				gw := newGateway(t, translateConfig, sdkLogin)
				raw := proxytest.Fixture(t, up.fixture)
				gw.upstream.Handle(up.path, proxytest.Reply{ContentType: up.contentType, Body: raw})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()

				got, err := cl.call(t, ctx, gw, up.model)
				if err != nil {
					t.Fatalf("SDK call failed: %v", err)
				}
				meant := recordedMeaning(t, up.format, raw)
				want := sdkAnswer{Text: up.text, Stop: cl.stop, ToolCalls: up.calls, Output: meant.Output.Value()}
				got.Input, got.Cached, got.CacheWrite = 0, 0, 0
				if cl.format == compat.GeminiGenerateContent {
					// Gemini counts thinking apart from the candidates, and
					// not every format reports thinking apart: the record
					// (below) holds the count.
					want.Output, got.Output = 0, 0
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("the SDK parsed (-meant +got):\n%s", diff)
				}

				recv := onlyRequest(t, gw)
				if recv.Path != up.path {
					t.Errorf("upstream path %s, want %s", recv.Path, up.path)
				}
				checkUpstreamAuth(t, recv, up.auth)
				checkUpstreamBody(t, up, recv)

				rec := waitRecord(t, gw)
				checkRecord(t, rec, wantRecord{Provider: up.provider, Model: up.model, Format: cl.format, Status: 200, Stream: true,
					Input: meant.Input.Value(), Output: meant.Output.Value(), CacheRead: meant.CacheRead.Value(),
					CacheWrite: meant.CacheWrite.Value(), ToolCalls: len(up.calls)})
				if rec.Error != "" {
					t.Errorf("record error %q", rec.Error)
				}
				checkCost(t, gw, rec)
			})
		}
	}
}

// recordedMeaning is the usage a recorded upstream body reports, read by
// compat's recorder of its own format.
func recordedMeaning(t *testing.T, format string, raw []byte) usage.Tokens {
	t.Helper()
	r := compat.NewRecorder(format, true, compat.RecorderOptions{})
	r.Write(raw)
	res := r.Result()
	if res.Err != nil || !res.Usage.Reported() {
		t.Fatalf("fixture: %v, usage %+v", res.Err, res.Usage)
	}
	return res.Usage
}

// checkUpstreamBody asserts that the provider got a body of its own
// format, naming the model and asking for a stream.
func checkUpstreamBody(t *testing.T, up txUpstream, recv proxytest.Received) {
	t.Helper()
	q, _ := url.ParseQuery(recv.Query)
	route, err := compat.Detect("POST", recv.Path, q)
	if err != nil || route.Format != up.format {
		t.Fatalf("upstream path %s: format %q, %v", recv.Path, route.Format, err)
	}
	req, err := compat.Inspect(route, recv.Body)
	if err != nil {
		t.Fatalf("upstream body is not a %s request: %v\n%s", up.format, err, recv.Body)
	}
	if req.Model != up.model || !req.Stream {
		t.Errorf("upstream request names %q stream %v, want %q streamed", req.Model, req.Stream, up.model)
	}
	if len(req.Tools) == 0 {
		t.Errorf("upstream request lost the tools: %s", recv.Body)
	}
	if up.format == compat.GeminiGenerateContent && q.Get("alt") != "sse" {
		t.Errorf("upstream query %q, want alt=sse", recv.Query)
	}
}

// checkCost asserts that the record is priced from the provider's usage.
func checkCost(t *testing.T, gw *gateway, rec store.Record) {
	t.Helper()
	want := store.Record{Provider: rec.Provider, Model: rec.Model, Usage: rec.Usage}
	want.SetCost(gw.srv.state.Load().cfg)
	if !rec.CostKnown || rec.CostUSD != want.CostUSD || rec.CostUSD <= 0 {
		t.Errorf("record cost %v (known %v), want %v from the provider's usage", rec.CostUSD, rec.CostKnown, want.CostUSD)
	}
}

// txResponsesStream streams a Responses call with one tool and rebuilds
// its function calls (any number) from the stream's events.
func txResponsesStream(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error) {
	c := openaiClient(gw)
	p := responsesParams(model, true)
	p.Tools = append(p.Tools, responses.ToolParamOfFunction("get_local_time", map[string]any{
		"type": "object", "properties": map[string]any{"timezone": map[string]any{"type": "string"}}}, false))
	stream := c.Responses.NewStreaming(ctx, p)
	defer stream.Close()
	var a sdkAnswer
	var text strings.Builder
	names := map[int64]string{}
	args := map[int64]*strings.Builder{}
	completed := false
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.output_item.added":
			if ev.Item.Type == "function_call" {
				names[ev.OutputIndex] = ev.Item.Name
				args[ev.OutputIndex] = &strings.Builder{}
			}
		case "response.function_call_arguments.delta":
			if b := args[ev.OutputIndex]; b != nil {
				b.WriteString(ev.Delta)
			}
		case "response.completed":
			completed = true
			a.Stop = string(ev.Response.Status)
			a.Input, a.Output = ev.Response.Usage.InputTokens, ev.Response.Usage.OutputTokens
		}
	}
	if err := stream.Err(); err != nil {
		return a, err
	}
	if !completed {
		t.Error("the stream had no response.completed event")
	}
	a.Text = text.String()
	idx := make([]int64, 0, len(names))
	for i := range names {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	for _, i := range idx {
		a.ToolCalls = append(a.ToolCalls, toolCall(t, names[i], args[i].String()))
	}
	return a, nil
}

// txConverseStream calls ConverseStream and rebuilds every tool call by
// its content block.
func txConverseStream(t *testing.T, ctx context.Context, gw *gateway, model string) (sdkAnswer, error) {
	c := bedrockClient(t, gw, "/bedrock")
	in := converseInput(model)
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages, ToolConfig: in.ToolConfig})
	if err != nil {
		return sdkAnswer{}, err
	}
	s := out.GetStream()
	defer s.Close()
	var a sdkAnswer
	names := map[int32]string{}
	args := map[int32]*strings.Builder{}
	var order []int32
	for ev := range s.Events() {
		switch ev := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				i := aws.ToInt32(ev.Value.ContentBlockIndex)
				names[i], args[i] = aws.ToString(tu.Value.Name), &strings.Builder{}
				order = append(order, i)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := ev.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				a.Text += d.Value
			case *types.ContentBlockDeltaMemberToolUse:
				if b := args[aws.ToInt32(ev.Value.ContentBlockIndex)]; b != nil {
					b.WriteString(aws.ToString(d.Value.Input))
				}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			a.Stop = string(ev.Value.StopReason)
		case *types.ConverseStreamOutputMemberMetadata:
			addUsage(&a, ev.Value.Usage)
		}
	}
	if err := s.Err(); err != nil {
		return a, err
	}
	for _, i := range order {
		a.ToolCalls = append(a.ToolCalls, toolCall(t, names[i], args[i].String()))
	}
	return a, nil
}

// canonicalBody re-encodes a JSON body for comparison.
func canonicalBody(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out, _ := json.Marshal(v)
	return string(bytes.TrimSpace(out))
}
