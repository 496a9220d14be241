package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/translate"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/rego"
)

// requestFixture reads a recorded client request from testdata/requests.
func requestFixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/requests/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTranslatedClaudeCode: Claude Code's request (system blocks with
// cache_control, thinking, tool history, tools, stream) reaches a model
// served by an OpenAI-chat-only provider; the provider gets an equivalent
// chat request and Claude Code's SDK parses the provider's streamed tool
// calls as the provider meant them.
func TestTranslatedClaudeCode(t *testing.T) {
	gw := newGateway(t, translateConfig, sdkLogin)
	raw := proxytest.Fixture(t, "openai_chat/tool_calls.sse")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: raw})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := anthropic.NewClient(anthropicoption.WithBaseURL(gw.URL+"/"), anthropicoption.WithAPIKey(clientKeyAnthropic),
		anthropicoption.WithMaxRetries(0), anthropicoption.WithHeader("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
		anthropicoption.WithHeader("User-Agent", "claude-cli/2.0.14 (external, cli)"))
	body := requestFixture(t, "anthropic_messages/claude_code_stream.json")
	s := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{}, anthropicoption.WithRequestBody("application/json", body))
	var m anthropic.Message
	for s.Next() {
		if err := m.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	got := messageAnswer(t, &m)
	want := sdkAnswer{Stop: "tool_use", Input: 118, Output: 52, ToolCalls: []sdkToolCall{
		toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`),
		toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Claude Code's SDK parsed (-meant +got):\n%s", diff)
	}
	for i, b := range m.Content {
		if b.Type == "tool_use" && !strings.HasPrefix(b.ID, "call_") {
			t.Errorf("tool_use %d has ID %q, want the provider's call ID", i, b.ID)
		}
	}

	recv := onlyRequest(t, gw)
	checkUpstreamAuth(t, recv, sdkAuth{header: "Authorization", value: "Bearer " + providerKeyOpenAI, secrets: []string{clientKeyAnthropic}})
	for _, h := range []string{"Anthropic-Version", "Anthropic-Beta"} {
		if v := recv.Header.Get(h); v != "" {
			t.Errorf("the chat provider got %s: %s", h, v)
		}
	}
	var up struct {
		Model               string `json:"model"`
		MaxTokens           int64  `json:"max_tokens"`
		MaxCompletionTokens int64  `json:"max_completion_tokens"`
		Stream              bool   `json:"stream"`
		StreamOptions       struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		User     string `json:"user"`
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct{ Name, Arguments string }
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(recv.Body, &up); err != nil {
		t.Fatalf("upstream body: %v\n%s", err, recv.Body)
	}
	if up.Model != "gpt-4.1" || max(up.MaxTokens, up.MaxCompletionTokens) != 32000 || !up.Stream || !up.StreamOptions.IncludeUsage {
		t.Errorf("upstream model %q max_tokens %d/%d stream %v usage %v", up.Model, up.MaxTokens, up.MaxCompletionTokens, up.Stream, up.StreamOptions.IncludeUsage)
	}
	var roles []string
	for _, msg := range up.Messages {
		roles = append(roles, msg.Role)
	}
	if diff := cmp.Diff([]string{"system", "user", "assistant", "tool"}, roles); diff != "" {
		t.Errorf("upstream roles (-want +got):\n%s", diff)
	}
	if len(up.Messages) == 4 {
		var sys string
		json.Unmarshal(up.Messages[0].Content, &sys)
		if !strings.HasPrefix(sys, "You are Claude Code") || !strings.Contains(sys, "interactive CLI tool") {
			t.Errorf("system prompt %q lost a block", sys)
		}
		calls := up.Messages[2].ToolCalls
		if len(calls) != 1 || calls[0].ID != "toolu_01A09q90qw90lq917835lq9" || calls[0].Function.Name != "Bash" ||
			canonicalJSON(t, calls[0].Function.Arguments) != canonicalJSON(t, `{"command":"date -u","description":"Print the time"}`) {
			t.Errorf("assistant tool calls %+v", calls)
		}
		if up.Messages[3].ToolCallID != "toolu_01A09q90qw90lq917835lq9" {
			t.Errorf("tool result answers %q", up.Messages[3].ToolCallID)
		}
	}
	var tools []string
	for _, tl := range up.Tools {
		tools = append(tools, tl.Type+":"+tl.Function.Name)
	}
	if diff := cmp.Diff([]string{"function:Bash", "function:get_weather", "function:get_local_time"}, tools); diff != "" {
		t.Errorf("upstream tools (-want +got):\n%s", diff)
	}
	for _, leak := range []string{"cache_control", "thinking", "budget_tokens", "signature"} {
		if strings.Contains(string(recv.Body), leak) {
			t.Errorf("the chat provider got Anthropic's %q: %s", leak, recv.Body)
		}
	}

	rec := waitRecord(t, gw)
	checkRecord(t, rec, wantRecord{Provider: "chatbox", Model: "gpt-4.1", Format: compat.AnthropicMessages, Status: 200, Stream: true,
		Input: 118, Output: 52, CacheRead: 0, ToolCalls: 2})
	checkCost(t, gw, rec)
}

// TestTranslatedCodex: Codex's Responses request (instructions, input
// items with a function call and its output, function tools, stream)
// reaches a model served by an OpenAI-chat-only provider, and the
// Responses SDK parses the provider's streamed tool calls.
func TestTranslatedCodex(t *testing.T) {
	if !translate.Supported(compat.OpenAIResponses, compat.OpenAIChat) {
		t.Skip("translator not built")
	}
	gw := newGateway(t, translateConfig, sdkLogin)
	raw := proxytest.Fixture(t, "openai_chat/tool_calls.sse")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: raw})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := openai.NewClient(option.WithBaseURL(gw.URL+"/v1/"), option.WithAPIKey(clientKeyOpenAI), option.WithMaxRetries(0),
		option.WithHeader("originator", "codex_cli_rs"), option.WithHeader("User-Agent", "codex_cli_rs/0.46.0"))
	body := requestFixture(t, "openai_responses/codex_stream.json")
	s := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{}, option.WithRequestBody("application/json", body))
	var final *responses.Response
	for s.Next() {
		if ev := s.Current(); ev.Type == "response.completed" {
			r := ev.Response
			final = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if final == nil {
		t.Fatal("no response.completed event")
	}
	got := responseAnswer(t, final)
	want := sdkAnswer{Stop: "completed", Input: 118, Output: 52, ToolCalls: []sdkToolCall{
		toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`),
		toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Codex's SDK parsed (-meant +got):\n%s", diff)
	}
	recv := onlyRequest(t, gw)
	if recv.Path != "/v1/chat/completions" {
		t.Errorf("upstream path %s", recv.Path)
	}
	req, err := compat.Inspect(mustDetect(t, recv.Path), recv.Body)
	if err != nil || req.Model != "gpt-4.1" || !req.Stream || len(req.Tools) != 3 {
		t.Errorf("upstream chat request %+v, %v:\n%s", req, err, recv.Body)
	}
	rec := waitRecord(t, gw)
	checkRecord(t, rec, wantRecord{Provider: "chatbox", Model: "gpt-4.1", Format: compat.OpenAIResponses, Status: 200, Stream: true,
		Input: 118, Output: 52, ToolCalls: 2})
	checkCost(t, gw, rec)
}

func mustDetect(t *testing.T, path string) compat.Route {
	t.Helper()
	r, err := compat.Detect("POST", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTranslationPolicy: policy sees both formats; a rule that forbids
// translation refuses translated requests before any provider is called
// and lets same-format requests through.
func TestTranslationPolicy(t *testing.T) {
	const module = `package sluice.authz

deny contains "translation between API formats is not allowed" if input.request.upstream_format != input.request.format
`
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantUpstream     string
	}{
		{name: "chat client, chat provider", path: "/v1/chat/completions",
			body: `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 200, wantUpstream: "/v1/chat/completions"},
		{name: "chat client, Anthropic provider", path: "/v1/chat/completions",
			body: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 403},
		{name: "Anthropic client, chat provider", path: "/v1/messages",
			body: `{"model":"gpt-4.1","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, translateConfig, sdkLogin, func(o *Options) {
				o.EngineOptions = append(o.EngineOptions, engine.WithModules(rego.Module{Name: "no_translation.rego", Text: []byte(module)}))
			})
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			got := gw.upstream.Received()
			if tt.wantUpstream == "" {
				if len(got) != 0 {
					t.Errorf("the provider was called: %v", got[0].Path)
				}
				if !strings.Contains(body, "translation between API formats is not allowed") {
					t.Errorf("body %s lacks the policy's reason", body)
				}
				return
			}
			if len(got) != 1 || got[0].Path != tt.wantUpstream {
				t.Errorf("upstream calls %v", got)
			}
		})
	}
}

// TestTranslatedRefusals: what the provider's format cannot carry is a 400
// in the caller's format naming the field, and nothing is sent.
func TestTranslatedRefusals(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantType, wantIn string
	}{
		{name: "chat n=2 to Anthropic", path: "/v1/chat/completions",
			body:     `{"model":"claude-sonnet-4-5","n":2,"messages":[{"role":"user","content":"hi"}]}`,
			wantType: "invalid_request_error", wantIn: `"n" above 1 cannot be translated from openai_chat to anthropic_messages`},
		{name: "Anthropic top_k to chat", path: "/v1/messages",
			body:     `{"model":"gpt-4.1","max_tokens":5,"top_k":3,"messages":[{"role":"user","content":"hi"}]}`,
			wantType: "invalid_request_error", wantIn: `"top_k" cannot be translated from anthropic_messages to openai_chat`},
		{name: "Anthropic count_tokens to chat", path: "/v1/messages/count_tokens",
			body:     `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`,
			wantType: "invalid_request_error", wantIn: `not available in the anthropic_messages format`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, translateConfig, sdkLogin)
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, `"type":"`+tt.wantType+`"`) || !strings.Contains(strings.ReplaceAll(body, `\"`, `"`), tt.wantIn) {
				t.Errorf("body %s, want a %s naming %q", body, tt.wantType, tt.wantIn)
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("the provider got %d requests", n)
			}
		})
	}
}

// TestTranslatedAnswers: whole answers and the provider's errors come back
// in the client's format, with the status the client's SDK acts on.
func TestTranslatedAnswers(t *testing.T) {
	t.Run("chat client, Anthropic answer", func(t *testing.T) {
		gw := newGateway(t, translateConfig, sdkLogin)
		gw.upstream.Handle("/v1/messages", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "anthropic_messages/tool_use.json")})
		got, err := chatCall("claude-sonnet-4-5", true)(t, context.Background(), gw)
		if err != nil {
			t.Fatal(err)
		}
		want := sdkAnswer{Text: "Okay, let's check the weather for San Francisco, CA:", Stop: "tool_calls",
			ToolCalls: []sdkToolCall{toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)}}
		got.Input, got.Output, got.Cached = 0, 0, 0
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if v := onlyRequest(t, gw).Header.Get("Anthropic-Version"); v == "" {
			t.Error("the Anthropic provider got no anthropic-version")
		}
		rec := waitRecord(t, gw)
		if rec.Format != compat.OpenAIChat || rec.Usage.Output.Value() == 0 || !rec.CostKnown || rec.CostUSD <= 0 {
			t.Errorf("record %+v", rec)
		}
	})
	errs := []struct {
		name       string
		status     int
		fixture    string
		header     http.Header
		wantStatus int
		wantIn     string
	}{
		{name: "rate limit", status: 429, fixture: "anthropic_messages/error.json", header: http.Header{"Retry-After": {"2"}},
			wantStatus: 429, wantIn: "unexpected `tool_use_id`"},
		{name: "overloaded 529 is 503", status: 529, fixture: "anthropic_messages/error.json", wantStatus: 503, wantIn: "tool_use_id"},
		{name: "bad request", status: 400, fixture: "anthropic_messages/error.json", wantStatus: 400, wantIn: "tool_use_id"},
	}
	for _, tt := range errs {
		t.Run("chat client, Anthropic "+tt.name, func(t *testing.T) {
			gw := newGateway(t, translateConfig, sdkLogin)
			gw.upstream.Handle("/v1/messages", proxytest.Reply{Status: tt.status, Header: tt.header, ContentType: "application/json",
				Body: proxytest.Fixture(t, tt.fixture)})
			_, err := chatCall("claude-sonnet-4-5", false)(t, context.Background(), gw)
			status, msg, ok := openaiTyped(t, err)
			if !ok {
				t.Fatalf("error %T %v is not the OpenAI SDK's", err, err)
			}
			if status != tt.wantStatus || !strings.Contains(msg, tt.wantIn) {
				t.Errorf("status %d message %q, want %d with %q", status, msg, tt.wantStatus, tt.wantIn)
			}
			if rec := waitRecord(t, gw); rec.Status != tt.wantStatus || rec.Format != compat.OpenAIChat || rec.Provider != "claudebox" {
				t.Errorf("record status %d format %s provider %s", rec.Status, rec.Format, rec.Provider)
			}
		})
	}
	t.Run("Anthropic client, chat rate limit", func(t *testing.T) {
		gw := newGateway(t, translateConfig, sdkLogin)
		gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{Status: 429, Header: http.Header{"Retry-After": {"2"}},
			ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/error.json")})
		_, err := messagesCall("gpt-4.1", false, true)(t, context.Background(), gw)
		status, msg, ok := anthropicTyped(t, err)
		if !ok || status != 429 || !strings.Contains(msg, "Rate limit reached for gpt-4.1") {
			t.Errorf("error %v: status %d message %q", err, status, msg)
		}
	})
}

// TestTranslatedFailover: failing over between providers of different
// formats translates the client's request for each on its own, and the
// answer comes back in the client's format from whichever served it.
func TestTranslatedFailover(t *testing.T) {
	const config = `{
	"providers": {
		"first": {"baseurl": "UPSTREAM/first", "apikey": "sk-ant-provider-anthropic", "authorization": "x-api-key", "translate": true,
			"models": ["m1"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"second": {"baseurl": "UPSTREAM/second", "apikey": "sk-proj-provider-openai", "translate": true,
			"models": ["m1"], "compatibility": {"openai_chat": true}},
	},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`
	t.Run("chat client: translated first, native second", func(t *testing.T) {
		gw := newGateway(t, config, sdkLogin)
		gw.upstream.Handle("/first/v1/messages", proxytest.Reply{Status: 529, ContentType: "application/json", Body: []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)})
		gw.upstream.Handle("/second/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/tool_calls.sse")})
		client := `{"model":"m1","stream":true,"messages":[{"role":"user","content":"weather?"}]}`
		resp, body := post(t, gw.URL+"/v1/chat/completions", nil, client)
		if resp.StatusCode != 200 || !strings.Contains(body, "get_local_time") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		got := gw.upstream.Received()
		if len(got) != 2 {
			t.Fatalf("%d upstream calls", len(got))
		}
		if _, err := compat.Inspect(mustDetect(t, "/v1/messages"), got[0].Body); err != nil || !strings.Contains(string(got[0].Body), `"max_tokens"`) {
			t.Errorf("first provider got %s (%v), want an Anthropic request", got[0].Body, err)
		}
		if canonicalBody(t, got[1].Body) != canonicalBody(t, []byte(`{"model":"m1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather?"}]}`)) {
			t.Errorf("second provider got %s, want the client's own body", got[1].Body)
		}
		rec := waitRecord(t, gw)
		if rec.Provider != "second" || len(rec.Attempts) != 2 || rec.Usage.Output.Value() != 52 {
			t.Errorf("record provider %s attempts %+v usage %+v", rec.Provider, rec.Attempts, rec.Usage)
		}
	})
	t.Run("Anthropic client: native first, translated second", func(t *testing.T) {
		gw := newGateway(t, config, sdkLogin)
		gw.upstream.Handle("/first/v1/messages", proxytest.Reply{Status: 500, ContentType: "application/json", Body: []byte(`{"type":"error","error":{"type":"api_error","message":"boom"}}`)})
		gw.upstream.Handle("/second/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/tool_calls.sse")})
		got, err := messagesCall("m1", true, true)(t, context.Background(), gw)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ToolCalls) != 2 || got.Stop != "tool_use" || got.Output != 52 {
			t.Errorf("the SDK got %+v", got)
		}
		recv := gw.upstream.Received()
		if len(recv) != 2 || recv[1].Path != "/second/v1/chat/completions" {
			t.Fatalf("upstream calls %v", recv)
		}
		var chat struct {
			MaxTokens int64 `json:"max_tokens"`
		}
		if _, err := compat.Inspect(mustDetect(t, "/v1/chat/completions"), recv[1].Body); err != nil || json.Unmarshal(recv[1].Body, &chat) != nil || chat.MaxTokens != 1024 {
			t.Errorf("second provider got %s (%v), want a chat request with the client's max_tokens", recv[1].Body, err)
		}
	})
}

// TestTranslatedHooks: hooks of a translated request get the client's
// request body and a response body in the client's format, rebuilt from
// the provider's stream.
func TestTranslatedHooks(t *testing.T) {
	rc := newReceiver(t)
	cfg := strings.Replace(translateConfig, `"temp_grants": [`, `"hooks": {"audit": {"url": "`+rc.URL+`/audit", "apikey": "hook-secret"}},
	"temp_grants": [
		{"src": ["*"], "grants": [{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["request_body", "response_body"]}}]},`, 1)
	gw := newGateway(t, cfg, sdkLogin)
	gw.upstream.Handle("/v1/messages", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "anthropic_messages/tool_use.sse")})
	client := `{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"weather?"}]}`
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, client)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	drain(t, gw)
	audit := rc.events("entire_request")
	if len(audit) != 1 {
		t.Fatalf("%d deliveries", len(audit))
	}
	p := audit[0].Payload
	if got, _ := json.Marshal(p["request_body"]); canonicalBody(t, got) != canonicalBody(t, []byte(client)) {
		t.Errorf("request_body %s, want the client's", got)
	}
	rb, _ := json.Marshal(p["response_body"])
	var chat openai.ChatCompletion
	if err := json.Unmarshal(rb, &chat); err != nil || chat.Object != "chat.completion" || len(chat.Choices) != 1 {
		t.Fatalf("response_body %s is not a chat completion (%v)", rb, err)
	}
	msg := chat.Choices[0].Message
	if msg.Content != "Okay, let's check the weather for San Francisco, CA:" || len(msg.ToolCalls) != 1 ||
		msg.ToolCalls[0].Function.Name != "get_weather" || chat.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("response_body %s", rb)
	}
}

// TestTranslatedStreamCut: a provider stream that breaks midway is not
// ended for the client as if complete: the client's stream fails, and the
// record says the answer was cut.
func TestTranslatedStreamCut(t *testing.T) {
	gw := newGateway(t, translateConfig, sdkLogin)
	gw.upstream.Handle("/v1/messages", proxytest.Reply{ContentType: "text/event-stream", CutAfter: 12,
		Body: proxytest.Fixture(t, "anthropic_messages/tool_use.sse")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := chatStreamCall("claude-sonnet-4-5", true, openai.ChatCompletionStreamOptionsParam{})(t, ctx, gw)
	if err == nil {
		t.Fatal("the SDK read a cut stream as complete")
	}
	rec := waitRecord(t, gw)
	if rec.Error == "" || rec.Format != compat.OpenAIChat || rec.Provider != "claudebox" {
		t.Errorf("record error %q format %s provider %s", rec.Error, rec.Format, rec.Provider)
	}
}

// TestTranslatedQuotaReservesUpstreamCap: quotas reserve for the cap the
// provider receives. A chat request without max_tokens would reserve the
// default 4096 tokens ($0.41 here), which fits; translated for Anthropic
// it carries max_tokens 8192 ($0.82), which does not.
func TestTranslatedQuotaReservesUpstreamCap(t *testing.T) {
	config := strings.Replace(translateConfig, `"temp_grants": [`, `"pricing": {"claude-sonnet-4-5": {"input": 0, "output": 100}, "gpt-4.1": {"input": 0, "output": 100}},
	"quotas": {"daily:<user>": {"capacity": "$0.50", "rate": "$0.50/day", "on_exceed": "reject"}},
	"temp_grants": [
		{"src": ["*"], "grants": [{"quotas": [{"bucket": "daily:<user>"}]}]},`, 1)
	st := openStore(t, t.TempDir()+"/sluice.db")
	gw := newGateway(t, config, sdkLogin, func(o *Options) { o.Store = st })
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})

	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "needs up to $0.8192") {
		t.Errorf("translated: status %d %s, want 429 reserving 8192 tokens", resp.StatusCode, body)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Fatalf("the provider got %d requests", n)
	}
	resp, body = post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("untranslated: status %d %s, want 200", resp.StatusCode, body)
	}
}

// A Gemini client that streams without ?alt=sse reads one JSON array, as
// Gemini itself answers it; a translated stream must keep that shape.
func TestTranslatedGeminiJSONArrayStream(t *testing.T) {
	gw := newGateway(t, translateConfig, sdkLogin)
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/text.sse")})
	body := `{"contents":[{"role":"user","parts":[{"text":"Say hello"}]}]}`
	for _, tt := range []struct {
		query, wantType string
	}{
		{"", "application/json"},
		{"?alt=sse", "text/event-stream"},
	} {
		resp, err := http.Post(gw.URL+"/v1beta/models/gpt-4.1:streamGenerateContent"+tt.query, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantType) {
			t.Fatalf("alt %q: status %d type %q: %s", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), got)
		}
		if tt.query != "" {
			continue
		}
		var chunks []struct {
			Candidates []struct {
				Content struct {
					Parts []struct{ Text string } `json:"parts"`
				} `json:"content"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal(got, &chunks); err != nil {
			t.Fatalf("the stream is not one JSON array: %v\n%s", err, got)
		}
		var text strings.Builder
		for _, c := range chunks {
			for _, cand := range c.Candidates {
				for _, p := range cand.Content.Parts {
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() == 0 {
			t.Errorf("no text in %s", got)
		}
	}
}
