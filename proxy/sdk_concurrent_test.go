package proxy

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestSDKConcurrentStreams: streams of every framing, from several SDKs at
// once through one gateway, each reach the right client whole and each
// leave their own record.
func TestSDKConcurrentStreams(t *testing.T) {
	const rounds = 3
	gap := 2 * time.Millisecond
	stream := func(ct, fixture string) proxytest.Reply {
		return proxytest.Reply{ContentType: ct, Body: proxytest.Fixture(t, fixture), Gap: gap}
	}
	const sse, es = "text/event-stream", "application/vnd.amazon.eventstream"
	weatherParis := toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`)
	weatherSF := toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)
	scenarios := []struct {
		name, path string
		reply      proxytest.Reply
		call       func(*testing.T, context.Context, *gateway) (sdkAnswer, error)
		want       sdkAnswer
		rec        wantRecord
	}{
		{name: "openai", path: "/v1/chat/completions", reply: stream(sse, "openai_chat/tool_calls.sse"),
			call: chatStreamCall("gpt-4.1", true, openai.ChatCompletionStreamOptionsParam{}),
			want: sdkAnswer{Stop: "tool_calls", ToolCalls: []sdkToolCall{weatherParis, toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`)}},
			rec:  wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: http.StatusOK, Stream: true, Input: 118, Output: 52, ToolCalls: 2}},
		{name: "responses", path: "/v1/responses", reply: stream(sse, "openai_responses/tool_call.sse"),
			call: responsesStreamCall("gpt-5-mini", true),
			want: sdkAnswer{Stop: "completed", ToolCalls: []sdkToolCall{weatherParis}, Input: 312, Output: 89},
			rec:  wantRecord{Provider: "openai", Model: "gpt-5-mini", Format: policy.FormatOpenAIResponses, Status: http.StatusOK, Stream: true, Input: 312, Output: 89, ToolCalls: 1}},
		{name: "anthropic", path: "/v1/messages", reply: stream(sse, "anthropic_messages/tool_use.sse"),
			call: messagesCall("claude-sonnet-4-5", true, true),
			want: sdkAnswer{Text: "Okay, let's check the weather for San Francisco, CA:", Stop: "tool_use", ToolCalls: []sdkToolCall{weatherSF}, Input: 472, Output: 89, Cached: 2048},
			rec:  wantRecord{Provider: "anthropic", Model: "claude-sonnet-4-5", Format: policy.FormatAnthropicMessages, Status: http.StatusOK, Stream: true, Input: 472 + 2048, Output: 89, CacheRead: 2048, ToolCalls: 1}},
		{name: "gemini", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", reply: stream(sse, "gemini_generate_content/function_call.sse"),
			call: geminiCall("gemini-2.5-flash", true),
			want: sdkAnswer{Text: "I'll check the current weather in Paris and the local time for you.", Stop: "STOP",
				ToolCalls: []sdkToolCall{weatherParis, toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`)}, Input: 1843, Output: 61, Cached: 1024},
			rec: wantRecord{Provider: "gemini", Model: "gemini-2.5-flash", Format: policy.FormatGeminiGenerateContent, Status: http.StatusOK, Stream: true, Input: 1843, Output: 181, CacheRead: 1024, ToolCalls: 2}},
		{name: "converse", path: "/model/" + claudeBedrockID + "/converse-stream", reply: stream(es, "bedrock_converse/tool_use.eventstream"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock, "")
			},
			want: sdkAnswer{Text: "I'll look up the weather in Seattle for you.", Stop: "tool_use",
				ToolCalls: []sdkToolCall{toolCall(t, "get_weather", `{"city":"Seattle","unit":"celsius"}`)}, Input: 412, Output: 63, Cached: 2048},
			rec: wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: http.StatusOK, Stream: true, Input: 412 + 2048, Output: 63, CacheRead: 2048, ToolCalls: 1}},
		{name: "invoke", path: "/model/" + claudeBedrockID + "/invoke-with-response-stream", reply: stream(es, "bedrock_model_invoke/claude_tool_use.eventstream"),
			call: invokeClaudeCall(true),
			want: sdkAnswer{Text: "Okay, let's check the weather for San Francisco, CA:", Stop: "tool_use", ToolCalls: []sdkToolCall{weatherSF}, Input: 638, Output: 97, Cached: 1024},
			rec:  wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockModelInvoke, Status: http.StatusOK, Stream: true, Input: 638 + 1024, Output: 97, CacheRead: 1024, ToolCalls: 1}},
	}

	gw := newGateway(t, sdkConfig, sdkLogin)
	wantRecs := map[string]wantRecord{}
	for _, sc := range scenarios {
		gw.upstream.Handle(sc.path, sc.reply)
		wantRecs[sc.rec.Format] = sc.rec
	}
	t.Run("clients", func(t *testing.T) {
		for i := range rounds {
			for _, sc := range scenarios {
				t.Run(fmt.Sprintf("%s-%d", sc.name, i), func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					got, err := sc.call(t, ctx, gw)
					if err != nil {
						t.Fatalf("SDK call failed: %v", err)
					}
					if !reflect.DeepEqual(got, sc.want) {
						t.Errorf("the SDK got\n  %+v\nwant\n  %+v", got, sc.want)
					}
				})
			}
		}
	})

	n := rounds * len(scenarios)
	if got := len(gw.upstream.Received()); got != n {
		t.Errorf("the providers received %d requests, want %d", got, n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(gw.sink.all()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	recs := gw.sink.all()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for _, rec := range recs {
		// Which status a complete stream is recorded with is
		// TestSDKStreamEndRecorded's subject; here each record must carry
		// its own request's model, tokens and tool calls.
		want := wantRecs[rec.Format]
		want.Status = rec.Status
		checkRecord(t, rec, want)
	}
}
