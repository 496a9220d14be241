package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/vertex"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// anthropicClient is the Anthropic SDK pointed at sluice with a key of
// its own (sent as x-api-key).
func anthropicClient(gw *gateway) anthropic.Client {
	return anthropic.NewClient(
		option.WithBaseURL(gw.URL+"/"),
		option.WithAPIKey(clientKeyAnthropic),
		option.WithMaxRetries(0),
	)
}

// anthropicVertexClient is the Anthropic SDK's Vertex AI client, with an
// OAuth token of its own instead of Application Default Credentials, and
// sluice as its base URL. project and region go into the Vertex path.
func anthropicVertexClient(ctx context.Context, gw *gateway, region, project string) anthropic.Client {
	creds := &google.Credentials{
		ProjectID:   project,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: clientTokenVertex, TokenType: "Bearer"}),
	}
	return anthropic.NewClient(
		vertex.WithCredentials(ctx, region, project, creds),
		option.WithBaseURL(gw.URL+"/"),
		option.WithMaxRetries(0),
	)
}

var anthropicAuth = sdkAuth{header: "X-Api-Key", value: providerKeyAnthropic, secrets: []string{clientKeyAnthropic}}

// vertexAuth is what every Vertex provider request carries: the
// provider's token, never the client's.
var vertexAuth = sdkAuth{header: "Authorization", value: "Bearer " + providerKeyVertex, secrets: []string{clientTokenVertex}}

func messageParams(model string, tools bool) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather like in San Francisco?"))},
	}
	if tools {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "get_weather",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherSchema["properties"], Required: []string{"location"}},
		}}}
	}
	return p
}

// messageAnswer reduces a message, whole or accumulated from a stream.
func messageAnswer(t *testing.T, m *anthropic.Message) sdkAnswer {
	t.Helper()
	a := sdkAnswer{
		Stop:  string(m.StopReason),
		Input: m.Usage.InputTokens, Output: m.Usage.OutputTokens,
		Cached: m.Usage.CacheReadInputTokens, CacheWrite: m.Usage.CacheCreationInputTokens,
	}
	var text strings.Builder
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			a.ToolCalls = append(a.ToolCalls, toolCall(t, b.Name, string(b.Input)))
		}
	}
	a.Text = text.String()
	return a
}

// messageCall sends a Messages request with client, streamed or not.
func messageCall(t *testing.T, ctx context.Context, client anthropic.Client, p anthropic.MessageNewParams, stream bool) (sdkAnswer, error) {
	t.Helper()
	if !stream {
		m, err := client.Messages.New(ctx, p)
		if err != nil {
			return sdkAnswer{}, err
		}
		return messageAnswer(t, m), nil
	}
	s := client.Messages.NewStreaming(ctx, p)
	defer s.Close()
	var m anthropic.Message
	events := 0
	for s.Next() {
		events++
		if err := m.Accumulate(s.Current()); err != nil {
			t.Fatalf("event %d: %v", events, err)
		}
	}
	if err := s.Err(); err != nil {
		return messageAnswer(t, &m), err // what arrived before the error
	}
	if events < 3 {
		t.Errorf("the SDK saw %d events; the answer did not stream", events)
	}
	return messageAnswer(t, &m), nil
}

func messagesCall(model string, tools, stream bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		return messageCall(t, ctx, anthropicClient(gw), messageParams(model, tools), stream)
	}
}

func vertexMessagesCall(region, project, model string, stream bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		return messageCall(t, ctx, anthropicVertexClient(ctx, gw, region, project), messageParams(model, true), stream)
	}
}

// countTokensReply is the Messages API's answer to count_tokens.
const countTokensReply = `{"input_tokens":2095}`

func TestSDKAnthropic(t *testing.T) {
	reply := func(fixture string) proxytest.Reply {
		ct := "application/json"
		if strings.HasSuffix(fixture, ".sse") {
			ct = "text/event-stream"
		}
		return proxytest.Reply{ContentType: ct, Body: proxytest.Fixture(t, fixture)}
	}
	weather := toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)
	const lookup = "Okay, let's check the weather for San Francisco, CA:"
	rec := func(model string, stream bool, in, out, cacheRead, cacheWrite int64, tools int) wantRecord {
		return wantRecord{Provider: "anthropic", Model: model, Format: policy.FormatAnthropicMessages, Status: http.StatusOK,
			Stream: stream, Input: in, Output: out, CacheRead: cacheRead, CacheWrite: cacheWrite, ToolCalls: tools}
	}
	runSDKCases(t, anthropicAuth, []sdkCase{
		{
			// Anthropic reports cache writes apart from input: the record
			// counts 21 + 1536 prompt tokens.
			name:         "message",
			upstreamPath: "/v1/messages",
			reply:        reply("anthropic_messages/text.json"),
			call:         messagesCall("claude-haiku-4-5", false, false),
			want:         sdkAnswer{Text: "Hello! I'm Claude. How can I help you today?", Stop: "end_turn", Input: 21, Output: 15, CacheWrite: 1536},
			rec:          rec("claude-haiku-4-5", false, 21+1536, 15, 0, 1536, 0),
		},
		{
			name:         "message with tool use",
			upstreamPath: "/v1/messages",
			reply:        reply("anthropic_messages/tool_use.json"),
			call:         messagesCall("claude-sonnet-4-5", true, false),
			want:         sdkAnswer{Text: lookup, Stop: "tool_use", ToolCalls: []sdkToolCall{weather}, Input: 472, Output: 89, Cached: 2048},
			rec:          rec("claude-sonnet-4-5", false, 472+2048, 89, 2048, 0, 1),
		},
		{
			name:         "message stream",
			upstreamPath: "/v1/messages",
			reply:        reply("anthropic_messages/text.sse"),
			call:         messagesCall("claude-haiku-4-5", false, true),
			want:         sdkAnswer{Text: "Hello! I'm Claude. How can I help you today?", Stop: "end_turn", Input: 21, Output: 15, CacheWrite: 1536},
			rec:          rec("claude-haiku-4-5", true, 21+1536, 15, 0, 1536, 0),
		},
		{
			name:         "message stream with thinking and tool use",
			upstreamPath: "/v1/messages",
			reply:        reply("anthropic_messages/tool_use.sse"),
			call:         messagesCall("claude-sonnet-4-5", true, true),
			want:         sdkAnswer{Text: lookup, Stop: "tool_use", ToolCalls: []sdkToolCall{weather}, Input: 472, Output: 89, Cached: 2048},
			rec:          rec("claude-sonnet-4-5", true, 472+2048, 89, 2048, 0, 1),
		},
		{
			// Clients may send their key as a bearer token instead.
			name:         "message with a client auth token",
			upstreamPath: "/v1/messages",
			reply:        reply("anthropic_messages/tool_use.json"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c := anthropic.NewClient(option.WithBaseURL(gw.URL+"/"), option.WithAuthToken(clientKeyAnthropic), option.WithMaxRetries(0))
				return messageCall(t, ctx, c, messageParams("claude-sonnet-4-5", true), false)
			},
			want: sdkAnswer{Text: lookup, Stop: "tool_use", ToolCalls: []sdkToolCall{weather}, Input: 472, Output: 89, Cached: 2048},
			rec:  rec("claude-sonnet-4-5", false, 472+2048, 89, 2048, 0, 1),
		},
		{
			// Counting tokens generates nothing: the record carries no
			// tokens, so the call costs nothing.
			name:         "count tokens",
			upstreamPath: "/v1/messages/count_tokens",
			reply:        proxytest.Reply{ContentType: "application/json", Body: []byte(countTokensReply)},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c := anthropicClient(gw)
				p := messageParams("claude-sonnet-4-5", false)
				res, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: p.Model, Messages: p.Messages})
				if err != nil {
					return sdkAnswer{}, err
				}
				return sdkAnswer{Input: res.InputTokens}, nil
			},
			want: sdkAnswer{Input: 2095},
			rec:  rec("claude-sonnet-4-5", false, 0, 0, 0, 0, 0),
		},
	})
}

// TestSDKAnthropicVertex runs the Anthropic SDK's Vertex client (rawPredict
// and streamRawPredict) offline: a static OAuth token stands in for Google
// credentials.
func TestSDKAnthropicVertex(t *testing.T) {
	reply := func(fixture, ct string) proxytest.Reply {
		return proxytest.Reply{ContentType: ct, Body: proxytest.Fixture(t, fixture)}
	}
	weather := toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)
	const lookup = "Okay, let's check the weather for San Francisco, CA:"
	const model = "claude-sonnet-4-5@20250929"
	want := sdkAnswer{Text: lookup, Stop: "tool_use", ToolCalls: []sdkToolCall{weather}, Input: 1210, Output: 131}
	rec := wantRecord{Provider: "vertex", Model: model, Format: policy.FormatGoogleRawPredict, Status: http.StatusOK,
		Input: 1210, Output: 131, ToolCalls: 1}
	streamRec := rec
	streamRec.Stream = true
	runSDKCases(t, vertexAuth, []sdkCase{
		{
			// A client that names its project and region keeps them.
			name:         "rawPredict",
			upstreamPath: "/v1/projects/sluice-project/locations/us-east5/publishers/anthropic/models/" + model + ":rawPredict",
			reply:        reply("google_raw_predict/tool_use.json", "application/json"),
			call:         vertexMessagesCall("us-east5", "sluice-project", model, false),
			want:         want,
			rec:          rec,
			upstream:     vertexAnthropicBody,
		},
		{
			// Claude's token counting on Vertex names the model in the
			// body and the pseudo-model count-tokens in the path.
			name:         "count tokens",
			upstreamPath: "/v1/projects/sluice-project/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict",
			reply:        proxytest.Reply{ContentType: "application/json", Body: []byte(countTokensReply)},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c := anthropicVertexClient(ctx, gw, "us-east5", "sluice-project")
				p := messageParams(model, false)
				res, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: p.Model, Messages: p.Messages})
				if err != nil {
					return sdkAnswer{}, err
				}
				return sdkAnswer{Input: res.InputTokens}, nil
			},
			want: sdkAnswer{Input: 2095},
			rec:  wantRecord{Provider: "vertex", Model: model, Format: policy.FormatGoogleRawPredict, Status: http.StatusOK},
		},
		{
			// The placeholders become the provider's project and region.
			name:         "streamRawPredict with placeholders",
			upstreamPath: "/v1/projects/sluice-project/locations/us-east5/publishers/anthropic/models/" + model + ":streamRawPredict",
			reply:        reply("google_raw_predict/tool_use.sse", "text/event-stream"),
			call:         vertexMessagesCall(compat.VertexRegionPlaceholder, compat.VertexProjectPlaceholder, model, true),
			want:         want,
			rec:          streamRec,
			upstream:     vertexAnthropicBody,
		},
	})
}

// vertexAnthropicBody asserts that the provider got the Vertex body the
// SDK wrote: the model in the path only, and Vertex's anthropic_version.
func vertexAnthropicBody(t *testing.T, got proxytest.Received) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("upstream body: %v", err)
	}
	if _, ok := body["model"]; ok {
		t.Errorf("upstream body names the model: %s", got.Body)
	}
	if body["anthropic_version"] != vertex.DefaultVersion {
		t.Errorf("upstream anthropic_version %v, want %s", body["anthropic_version"], vertex.DefaultVersion)
	}
}

// anthropicTyped reads *anthropic.Error. Its message is the body's
// error.message, prefixed with the Anthropic error type when the body has
// one ("permission_error: ..."); Vertex errors have the Google shape.
func anthropicTyped(t *testing.T, err error) (int, string, bool) {
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		return 0, "", false
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if e := json.Unmarshal([]byte(apiErr.RawJSON()), &body); e != nil {
		t.Errorf("error body %q: %v", apiErr.RawJSON(), e)
	}
	msg := body.Error.Message
	if typ := apiErr.Type(); typ != "" {
		msg = string(typ) + ": " + msg
	}
	return apiErr.StatusCode, msg, true
}

func TestSDKAnthropicErrors(t *testing.T) {
	call := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := anthropicClient(gw)
			if !stream {
				_, err := c.Messages.New(ctx, messageParams(model, false))
				return err
			}
			s := c.Messages.NewStreaming(ctx, messageParams(model, false))
			defer s.Close()
			for s.Next() {
			}
			return s.Err()
		}
	}
	vertexCall := func(model string) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := anthropicVertexClient(ctx, gw, "us-east5", "client-project")
			_, err := c.Messages.New(ctx, messageParams(model, false))
			return err
		}
	}
	const opus = "claude-opus-4-1"
	runSDKErrors(t, anthropicTyped, []sdkErrCase{
		{name: "denied model", call: call(opus, false),
			wantStatus: http.StatusForbidden, wantMessage: "permission_error: " + deniedMessage(opus),
			rec: wantRecord{Model: opus, Format: policy.FormatAnthropicMessages, Status: http.StatusForbidden}},
		{name: "unknown model in a stream", call: call("claude-3-sonnet", true),
			wantStatus: http.StatusNotFound, wantMessage: "not_found_error: " + unknownMessage("claude-3-sonnet"),
			rec: wantRecord{Model: "claude-3-sonnet", Format: policy.FormatAnthropicMessages, Status: http.StatusNotFound, Stream: true}},
		{name: "vertex denied model", call: vertexCall(opus + "@20250805"),
			wantStatus: http.StatusForbidden, wantMessage: deniedMessage(opus + "@20250805"),
			rec: wantRecord{Model: opus + "@20250805", Format: policy.FormatGoogleRawPredict, Status: http.StatusForbidden}},
		{name: "vertex unknown model", call: vertexCall("claude-3-haiku@20240307"),
			wantStatus: http.StatusNotFound, wantMessage: unknownMessage("claude-3-haiku@20240307"),
			rec: wantRecord{Model: "claude-3-haiku@20240307", Format: policy.FormatGoogleRawPredict, Status: http.StatusNotFound}},
	})
}
