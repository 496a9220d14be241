package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// claudeInvokeBody is an Anthropic Messages body as Bedrock's InvokeModel
// takes it.
const claudeInvokeBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,
"messages":[{"role":"user","content":"What's the weather like in San Francisco?"}],
"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]}`

// invokeClaude calls InvokeModel or InvokeModelWithResponseStream with a
// Claude body, and reads the answer (whole, or accumulated from the
// stream's chunks) as the Anthropic SDK does.
func invokeClaude(t *testing.T, ctx context.Context, c *bedrockruntime.Client, stream bool) (sdkAnswer, error) {
	t.Helper()
	if !stream {
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
			ModelId: aws.String(claudeBedrock), Body: []byte(claudeInvokeBody),
			ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
		})
		if err != nil {
			return sdkAnswer{}, err
		}
		var m anthropic.Message
		if err := json.Unmarshal(out.Body, &m); err != nil {
			t.Fatalf("InvokeModel body: %v", err)
		}
		return messageAnswer(t, &m), nil
	}
	out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(claudeBedrock), Body: []byte(claudeInvokeBody), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return sdkAnswer{}, err
	}
	s := out.GetStream()
	defer s.Close()
	var m anthropic.Message
	chunks := 0
	for ev := range s.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("unexpected stream event %T", ev)
		}
		chunks++
		var e anthropic.MessageStreamEventUnion
		if err := json.Unmarshal(chunk.Value.Bytes, &e); err != nil {
			t.Fatalf("chunk %d: %v", chunks, err)
		}
		if err := m.Accumulate(e); err != nil {
			t.Fatalf("chunk %d: %v", chunks, err)
		}
	}
	if err := s.Err(); err != nil {
		return messageAnswer(t, &m), err // what arrived before the error
	}
	if chunks < 3 {
		t.Errorf("the SDK saw %d chunks; the answer did not stream", chunks)
	}
	return messageAnswer(t, &m), nil
}

func invokeClaudeCall(stream bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		return invokeClaude(t, ctx, bedrockClient(t, gw, "/bedrock"), stream)
	}
}

// invokeNova calls InvokeModel with Nova's messages-v1 body, at the base
// endpoint without the /bedrock prefix.
func invokeNova(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
	out, err := bedrockClient(t, gw, "").InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(novaBedrock),
		Body:        []byte(`{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"Hi"}]}]}`),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return sdkAnswer{}, err
	}
	var body struct {
		Output struct {
			Message struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"message"`
		} `json:"output"`
		StopReason string `json:"stopReason"`
		Usage      struct {
			InputTokens  int64 `json:"inputTokens"`
			OutputTokens int64 `json:"outputTokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out.Body, &body); err != nil {
		t.Fatalf("InvokeModel body: %v", err)
	}
	a := sdkAnswer{Stop: body.StopReason, Input: body.Usage.InputTokens, Output: body.Usage.OutputTokens}
	for _, c := range body.Output.Message.Content {
		a.Text += c.Text
	}
	return a, nil
}

// converseInput asks model about the weather, with one tool.
func converseInput(model string) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "What's the weather in Seattle?"}},
		}},
		ToolConfig: &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name:        aws.String("get_weather"),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(weatherSchema)},
		}}}},
	}
}

// addUsage copies the token usage the SDK parsed into a.
func addUsage(a *sdkAnswer, u *types.TokenUsage) {
	if u == nil {
		return
	}
	a.Input = int64(aws.ToInt32(u.InputTokens))
	a.Output = int64(aws.ToInt32(u.OutputTokens))
	a.Cached = int64(aws.ToInt32(u.CacheReadInputTokens))
	a.CacheWrite = int64(aws.ToInt32(u.CacheWriteInputTokens))
}

// converse calls Converse and reads the answer's content blocks.
func converse(t *testing.T, ctx context.Context, c *bedrockruntime.Client, model string) (sdkAnswer, error) {
	t.Helper()
	out, err := c.Converse(ctx, converseInput(model))
	if err != nil {
		return sdkAnswer{}, err
	}
	a := sdkAnswer{Stop: string(out.StopReason)}
	addUsage(&a, out.Usage)
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		t.Fatalf("output %T, want a message", out.Output)
	}
	for _, b := range msg.Value.Content {
		switch b := b.(type) {
		case *types.ContentBlockMemberText:
			a.Text += b.Value
		case *types.ContentBlockMemberToolUse:
			args, err := b.Value.Input.MarshalSmithyDocument()
			if err != nil {
				t.Fatalf("tool input: %v", err)
			}
			a.ToolCalls = append(a.ToolCalls, toolCall(t, aws.ToString(b.Value.Name), string(args)))
		}
	}
	return a, nil
}

// converseStream calls ConverseStream; when proto is set, the response
// must have come over that protocol ("HTTP/2.0").
func converseStream(t *testing.T, ctx context.Context, c *bedrockruntime.Client, model, proto string) (sdkAnswer, error) {
	t.Helper()
	in := converseInput(model)
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages, ToolConfig: in.ToolConfig})
	if err != nil {
		return sdkAnswer{}, err
	}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); proto != "" && (!ok || raw.Proto != proto) {
		t.Errorf("response protocol %v, want %s", raw, proto)
	}
	s := out.GetStream()
	defer s.Close()
	var a sdkAnswer
	var name string
	var args strings.Builder
	events := 0
	for ev := range s.Events() {
		events++
		switch ev := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				name = aws.ToString(tu.Value.Name)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := ev.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				a.Text += d.Value
			case *types.ContentBlockDeltaMemberToolUse:
				args.WriteString(aws.ToString(d.Value.Input))
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			a.Stop = string(ev.Value.StopReason)
		case *types.ConverseStreamOutputMemberMetadata:
			addUsage(&a, ev.Value.Usage)
		}
	}
	if err := s.Err(); err != nil {
		return a, err // what arrived before the error
	}
	if events < 3 {
		t.Errorf("the SDK saw %d events; the answer did not stream", events)
	}
	if name != "" {
		a.ToolCalls = []sdkToolCall{toolCall(t, name, args.String())}
	}
	return a, nil
}

func TestSDKBedrock(t *testing.T) {
	weatherSF := toolCall(t, "get_weather", `{"location":"San Francisco, CA","unit":"fahrenheit"}`)
	weatherSeattle := toolCall(t, "get_weather", `{"city":"Seattle","unit":"celsius"}`)
	const lookup = "Okay, let's check the weather for San Francisco, CA:"
	const seattle = "I'll look up the weather in Seattle for you."
	eventStream := func(fixture string) proxytest.Reply {
		return proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: proxytest.Fixture(t, fixture)}
	}
	// Bedrock reports cache reads apart from input; the record sums them.
	invokeRec := func(stream bool) wantRecord {
		return wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockModelInvoke, Status: http.StatusOK,
			Stream: stream, Input: 638 + 1024, Output: 97, CacheRead: 1024, ToolCalls: 1}
	}
	converseRec := func(stream bool) wantRecord {
		return wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: http.StatusOK,
			Stream: stream, Input: 412 + 2048, Output: 63, CacheRead: 2048, ToolCalls: 1}
	}
	claudeAnswer := sdkAnswer{Text: lookup, Stop: "tool_use", ToolCalls: []sdkToolCall{weatherSF}, Input: 638, Output: 97, Cached: 1024}
	converseAnswer := sdkAnswer{Text: seattle, Stop: "tool_use", ToolCalls: []sdkToolCall{weatherSeattle}, Input: 412, Output: 63, Cached: 2048}
	signed := signedHeadersStripped
	runSDKCases(t, bedrockAuth, []sdkCase{
		{
			name:         "InvokeModel Claude",
			upstreamPath: "/model/" + claudeBedrockID + "/invoke",
			reply: proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "bedrock_model_invoke/claude_tool_use.json"),
				Header: http.Header{
					"X-Amzn-Bedrock-Input-Token-Count":            {"638"},
					"X-Amzn-Bedrock-Output-Token-Count":           {"97"},
					"X-Amzn-Bedrock-Cache-Read-Input-Token-Count": {"1024"},
				}},
			call:     invokeClaudeCall(false),
			want:     claudeAnswer,
			rec:      invokeRec(false),
			upstream: signed,
		},
		{
			name:         "InvokeModelWithResponseStream Claude",
			upstreamPath: "/model/" + claudeBedrockID + "/invoke-with-response-stream",
			reply:        eventStream("bedrock_model_invoke/claude_tool_use.eventstream"),
			call:         invokeClaudeCall(true),
			want:         claudeAnswer,
			rec:          invokeRec(true),
			upstream:     signed,
		},
		{
			// The SDK's endpoint without sluice's /bedrock prefix.
			name:         "InvokeModel Nova without the bedrock prefix",
			upstreamPath: "/model/" + novaBedrockID + "/invoke",
			reply: proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "bedrock_model_invoke/nova_text.json"),
				Header: http.Header{"X-Amzn-Bedrock-Input-Token-Count": {"7"}, "X-Amzn-Bedrock-Output-Token-Count": {"12"}}},
			call: invokeNova,
			want: sdkAnswer{Text: "Hello! How can I help you today?", Stop: "end_turn", Input: 7, Output: 12},
			rec: wantRecord{Provider: "bedrock", Model: novaBedrock, Format: policy.FormatBedrockModelInvoke, Status: http.StatusOK,
				Input: 7, Output: 12},
			upstream: signed,
		},
		{
			name:         "Converse",
			upstreamPath: "/model/" + claudeBedrockID + "/converse",
			reply:        proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "bedrock_converse/tool_use.json")},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converse(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock)
			},
			want:     converseAnswer,
			rec:      converseRec(false),
			upstream: signed,
		},
		{
			name:         "Converse with an inference profile ARN",
			upstreamPath: "/model/" + profileARNID + "/converse",
			reply:        proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "bedrock_converse/tool_use.json")},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converse(t, ctx, bedrockClient(t, gw, "/bedrock"), profileARN)
			},
			want: converseAnswer,
			rec: wantRecord{Provider: "bedrock", Model: profileARN, Format: policy.FormatBedrockConverse, Status: http.StatusOK,
				Input: 412 + 2048, Output: 63, CacheRead: 2048, ToolCalls: 1},
			upstream: signed,
		},
		{
			name:         "ConverseStream",
			upstreamPath: "/model/" + claudeBedrockID + "/converse-stream",
			reply:        eventStream("bedrock_converse/tool_use.eventstream"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock, "")
			},
			want:     converseAnswer,
			rec:      converseRec(true),
			upstream: signed,
		},
		{
			name:         "ConverseStream over cleartext HTTP/2",
			upstreamPath: "/model/" + claudeBedrockID + "/converse-stream",
			reply:        eventStream("bedrock_converse/tool_use.eventstream"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockH2CClient(t, gw), claudeBedrock, "HTTP/2.0")
			},
			want:     converseAnswer,
			rec:      converseRec(true),
			upstream: signed,
		},
		{
			// A Bedrock API key of the client's own is replaced too.
			name:         "ConverseStream with a client API key",
			upstreamPath: "/model/" + claudeBedrockID + "/converse-stream",
			reply:        eventStream("bedrock_converse/tool_use.eventstream"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockAPIKeyClient(t, gw), claudeBedrock, "")
			},
			want: converseAnswer,
			rec:  converseRec(true),
		},
	})
}

// bedrockTyped reads the SDK's modeled exceptions. The message names the
// concrete type ("*types.AccessDeniedException: ..."), so a case asserts
// which exception the SDK produced. The status comes from the HTTP
// response error the SDK wraps it in; it is 0 for an exception that
// arrived inside an event stream, after a 200.
func bedrockTyped(t *testing.T, err error) (int, string, bool) {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return 0, "", false
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	return status, fmt.Sprintf("%T: %s", apiErr, apiErr.ErrorMessage()), true
}

func TestSDKBedrockErrors(t *testing.T) {
	const llama = "meta.llama3-70b-instruct-v1:0"
	const unknown = "amazon.titan-text-express-v1"
	invoke := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := bedrockClient(t, gw, "/bedrock")
			body := []byte(`{"prompt":"Hi","max_gen_len":64}`)
			if !stream {
				_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: body})
				return err
			}
			_, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model), Body: body})
			return err
		}
	}
	conv := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			c := bedrockClient(t, gw, "")
			if !stream {
				_, err := c.Converse(ctx, converseInput(model))
				return err
			}
			in := converseInput(model)
			_, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages})
			return err
		}
	}
	rec := func(model, format string, status int, stream bool) wantRecord {
		return wantRecord{Model: model, Format: format, Status: status, Stream: stream}
	}
	const deniedType, notFoundType = "*types.AccessDeniedException: ", "*types.ResourceNotFoundException: "
	inv, cv := policy.FormatBedrockModelInvoke, policy.FormatBedrockConverse
	runSDKErrors(t, bedrockTyped, []sdkErrCase{
		{name: "InvokeModel with a denied model", call: invoke(llama, false),
			wantStatus: http.StatusForbidden, wantMessage: deniedType + deniedMessage(llama),
			rec: rec(llama, inv, http.StatusForbidden, false)},
		{name: "InvokeModelWithResponseStream with an unknown model", call: invoke(unknown, true),
			wantStatus: http.StatusNotFound, wantMessage: notFoundType + unknownMessage(unknown),
			rec: rec(unknown, inv, http.StatusNotFound, true)},
		{name: "ConverseStream with a denied model", call: conv(llama, true),
			wantStatus: http.StatusForbidden, wantMessage: deniedType + deniedMessage(llama),
			rec: rec(llama, cv, http.StatusForbidden, true)},
		{name: "Converse with an unknown model", call: conv(unknown, false),
			wantStatus: http.StatusNotFound, wantMessage: notFoundType + unknownMessage(unknown),
			rec: rec(unknown, cv, http.StatusNotFound, false)},
	})
}
