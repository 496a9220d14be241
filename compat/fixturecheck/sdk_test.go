// Package fixturecheck_test reads the recorded upstream bodies with the
// official provider SDKs, so the fixtures the gateway is tested with are
// bodies those clients accept, and checks that compat routes the requests
// the SDKs send.
package fixturecheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"google.golang.org/genai"

	"github.com/sluice-gateway/sluice/compat"
)

// upstream serves one fixture per request and checks that compat detects
// the request the SDK sent as the expected format.
type upstream struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	file   string // fixture to serve, relative to testdata/upstream
	format string // format the request must be detected as
	stream bool
	model  string // model compat must find
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{t: t}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) expect(file, format, model string, stream bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.file, u.format, u.model, u.stream = file, format, model, stream
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	file, format, model, stream := u.file, u.format, u.model, u.stream
	u.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	route, err := compat.Detect(r.Method, r.URL.EscapedPath(), r.URL.Query())
	if err != nil || route.Format != format {
		u.t.Errorf("%s %s: detected %q, %v; want %s", r.Method, r.URL, route.Format, err, format)
	}
	req, err := compat.Inspect(route, body)
	if err != nil || req.Model != model || req.Stream != stream {
		u.t.Errorf("%s: inspected %+v, %v; want model %q stream %v", r.URL.Path, req, err, model, stream)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", file))
	if err != nil {
		u.t.Error(err)
		w.WriteHeader(500)
		return
	}
	switch filepath.Ext(file) {
	case ".sse":
		w.Header().Set("Content-Type", "text/event-stream")
	case ".eventstream":
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	default:
		w.Header().Set("Content-Type", "application/json")
	}
	_, _ = w.Write(data)
}

func record(t *testing.T, format, file string) compat.Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", file))
	if err != nil {
		t.Fatal(err)
	}
	r := compat.NewRecorder(format, !strings.HasSuffix(file, ".json"), compat.RecorderOptions{})
	_, _ = r.Write(data)
	return r.Result()
}

func TestOpenAIChat(t *testing.T) {
	up := newUpstream(t)
	client := openai.NewClient(option.WithBaseURL(up.srv.URL+"/v1/"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gpt-4.1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}

	up.expect("openai_chat/text.json", compat.OpenAIChat, "gpt-4.1", false)
	res, err := client.Chat.Completions.New(ctx, params)
	if err != nil || res.Choices[0].Message.Content != "Hello! How can I help you today?" || res.Usage.PromptTokensDetails.CachedTokens != 1920 {
		t.Fatalf("non-stream: %+v %v", res, err)
	}

	up.expect("openai_chat/tool_calls.sse", compat.OpenAIChat, "gpt-4.1", true)
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	rec := record(t, compat.OpenAIChat, "openai_chat/tool_calls.sse")
	if len(calls) != 2 || len(rec.ToolCalls) != 2 || acc.Usage.TotalTokens != 170 {
		t.Fatalf("stream: %d calls, usage %+v", len(calls), acc.Usage)
	}
	for i, c := range calls {
		if c.ID != rec.ToolCalls[i].ID || c.Function.Name != rec.ToolCalls[i].Name || !jsonEqual(c.Function.Arguments, string(rec.ToolCalls[i].Arguments)) {
			t.Errorf("SDK call %+v, recorder %+v", c, rec.ToolCalls[i])
		}
	}
}

func TestOpenAIResponses(t *testing.T) {
	up := newUpstream(t)
	client := openai.NewClient(option.WithBaseURL(up.srv.URL+"/v1/"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
	ctx := context.Background()
	params := responses.ResponseNewParams{Model: "gpt-5-mini", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}

	up.expect("openai_responses/text.json", compat.OpenAIResponses, "gpt-5-mini", false)
	res, err := client.Responses.New(ctx, params)
	if err != nil || res.OutputText() != "The capital of France is Paris." || res.Usage.InputTokensDetails.CachedTokens != 1408 {
		t.Fatalf("non-stream: %v", err)
	}

	up.expect("openai_responses/tool_call.sse", compat.OpenAIResponses, "gpt-5-mini", true)
	stream := client.Responses.NewStreaming(ctx, params)
	var final responses.Response
	var args strings.Builder
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.function_call_arguments.delta":
			args.WriteString(ev.Delta)
		case "response.completed":
			final = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if final.Usage.OutputTokensDetails.ReasoningTokens != 64 || !jsonEqual(args.String(), `{"location":"Paris, France","unit":"celsius"}`) {
		t.Errorf("stream: usage %+v, arguments %s", final.Usage, args.String())
	}
}

func TestAnthropicMessages(t *testing.T) {
	up := newUpstream(t)
	client := anthropic.NewClient(anthropicoption.WithBaseURL(up.srv.URL), anthropicoption.WithAPIKey("client-key"), anthropicoption.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}}

	// The Messages stream of Claude on Vertex (rawPredict) is the same
	// wire format as Anthropic's; the SDK reads both.
	for _, file := range []string{"anthropic_messages/tool_use", "google_raw_predict/tool_use"} {
		up.expect(file+".json", compat.AnthropicMessages, "claude-sonnet-4-5", false)
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		up.expect(file+".sse", compat.AnthropicMessages, "claude-sonnet-4-5", true)
		stream := client.Messages.NewStreaming(ctx, params)
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.StopReason != msg.StopReason || acc.Usage.OutputTokens != msg.Usage.OutputTokens || len(acc.Content) != len(msg.Content) {
			t.Errorf("%s: stream %+v vs body %+v", file, acc.Usage, msg.Usage)
		}
		last := acc.Content[len(acc.Content)-1]
		if last.Type != "tool_use" || !jsonEqual(string(last.Input), `{"location":"San Francisco, CA","unit":"fahrenheit"}`) {
			t.Errorf("%s: tool use %+v", file, last)
		}
	}
}

func TestGemini(t *testing.T) {
	up := newUpstream(t)
	ctx := context.Background()
	gemini, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: "client-key", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: up.srv.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	vertex, err := genai.NewClient(ctx, &genai.ClientConfig{Project: compat.VertexProjectPlaceholder, Location: compat.VertexRegionPlaceholder,
		Backend: genai.BackendVertexAI, HTTPClient: &http.Client{}, HTTPOptions: genai.HTTPOptions{BaseURL: up.srv.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		client  *genai.Client
		format  string
		model   string
		fixture string
		calls   int
	}{
		{gemini, compat.GeminiGenerateContent, "gemini-2.5-flash", "gemini_generate_content/function_call", 2},
		{vertex, compat.GoogleGenerateContent, "gemini-2.5-pro", "google_generate_content/tool_call", 1},
	}
	for _, c := range cases {
		up.expect(c.fixture+".json", c.format, c.model, false)
		res, err := c.client.Models.GenerateContent(ctx, c.model, genai.Text("hi"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.FunctionCalls()) != c.calls {
			t.Errorf("%s: %d calls", c.fixture, len(res.FunctionCalls()))
		}
		up.expect(c.fixture+".sse", c.format, c.model, true)
		var text strings.Builder
		var calls int
		var usage *genai.GenerateContentResponseUsageMetadata
		for chunk, err := range c.client.Models.GenerateContentStream(ctx, c.model, genai.Text("hi"), nil) {
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(chunk.Text())
			calls += len(chunk.FunctionCalls())
			usage = chunk.UsageMetadata
		}
		if text.String() != res.Text() || calls != c.calls || usage.CachedContentTokenCount != res.UsageMetadata.CachedContentTokenCount {
			t.Errorf("%s: stream text %q vs %q, %d calls", c.fixture, text.String(), res.Text(), calls)
		}
	}
}

func TestBedrock(t *testing.T) {
	up := newUpstream(t)
	ctx := context.Background()
	client := bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(up.srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDCLIENT", SecretAccessKey: "client-secret"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	const claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"weather?"}]}`)

	up.expect("bedrock_model_invoke/claude_tool_use.json", compat.BedrockModelInvoke, claude, false)
	inv, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(claude), Body: body})
	if err != nil || !json.Valid(inv.Body) {
		t.Fatalf("invoke: %v", err)
	}

	for _, fixture := range []string{"claude_tool_use", "nova_text", "llama"} {
		up.expect("bedrock_model_invoke/"+fixture+".eventstream", compat.BedrockModelInvoke, claude, true)
		var chunks [][]byte
		for attempt := 1; ; attempt++ {
			out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(claude), Body: body})
			if err != nil {
				t.Fatal(err)
			}
			chunks = chunks[:0]
			for ev := range out.GetStream().Events() {
				if c, ok := ev.(*brtypes.ResponseStreamMemberChunk); ok {
					chunks = append(chunks, c.Value.Bytes)
				}
			}
			err = out.GetStream().Err()
			if err != nil && attempt == 1 && closedConn(err) {
				t.Logf("%s: %v; once more", fixture, err)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		rec := record(t, compat.BedrockModelInvoke, "bedrock_model_invoke/"+fixture+".eventstream")
		if len(chunks) < 3 || !json.Valid(chunks[0]) || !rec.Usage.Reported() {
			t.Errorf("%s: %d chunks", fixture, len(chunks))
		}
	}

	const nova = "amazon.nova-pro-v1:0"
	var in bedrockruntime.ConverseStreamInput
	in.ModelId = aws.String(nova)
	in.Messages = []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "weather?"}}}}

	up.expect("bedrock_converse/tool_use.json", compat.BedrockConverse, nova, false)
	cres, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: in.ModelId, Messages: in.Messages})
	if err != nil || *cres.Usage.CacheReadInputTokens != 2048 || cres.StopReason != brtypes.StopReasonToolUse {
		t.Fatalf("converse: %v", err)
	}

	up.expect("bedrock_converse/tool_use.eventstream", compat.BedrockConverse, nova, true)
	sres, err := client.ConverseStream(ctx, &in)
	if err != nil {
		t.Fatal(err)
	}
	var input strings.Builder
	var usage *brtypes.TokenUsage
	for ev := range sres.GetStream().Events() {
		switch v := ev.(type) {
		case *brtypes.ConverseStreamOutputMemberContentBlockDelta:
			if d, ok := v.Value.Delta.(*brtypes.ContentBlockDeltaMemberToolUse); ok {
				input.WriteString(*d.Value.Input)
			}
		case *brtypes.ConverseStreamOutputMemberMetadata:
			usage = v.Value.Usage
		}
	}
	if err := sres.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	if usage == nil || *usage.TotalTokens != 2523 || !jsonEqual(input.String(), `{"city":"Seattle","unit":"celsius"}`) {
		t.Errorf("converse stream: %+v %q", usage, input.String())
	}

	up.expect("bedrock_converse/throttled.eventstream", compat.BedrockConverse, nova, true)
	sres, err = client.ConverseStream(ctx, &in)
	if err != nil {
		t.Fatal(err)
	}
	for range sres.GetStream().Events() {
	}
	if err := sres.GetStream().Err(); err == nil || !strings.Contains(err.Error(), "Too many tokens") {
		t.Errorf("throttled stream error %v", err)
	}
}

// closedConn reports the SDK's event-stream reader meeting its own
// connection closed under it, which happens about once in 300 runs under
// the race detector, with keep-alive or without, and says nothing about
// the fixture being read.
func closedConn(err error) bool {
	return strings.Contains(err.Error(), "use of closed network connection")
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
