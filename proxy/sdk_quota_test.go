package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"google.golang.org/genai"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
)

// TestSDKQuotaRefusal: the official SDKs of every API format surface a
// spent quota as their rate-limit error (HTTP 429) with the Retry-After
// sluice sets and the message naming the bucket.
func TestSDKQuotaRefusal(t *testing.T) {
	config := strings.Replace(quotaConfig, `"rate": "$1.00/week"`, `"rate": "$1.00/hour"`, 1)
	config = strings.Replace(config, `"models": ["gpt-5"]}`, `"models": ["gpt-5"], "compatibility": {"openai_chat": true, "openai_responses": true}}`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	// Spend the bucket: a $0.02 reservation then waits 72 s of refill.
	b := &quota.Bucket{Name: "daily:<user>", Capacity: quota.Dollar, Rate: quota.Rate{Amount: quota.Dollar, Per: time.Hour}}
	if _, err := st.Adjust(context.Background(), b, "daily:alice@example.com", -quota.Dollar, time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	oc := openaiClient(gw)
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5", MaxTokens: openai.Int(10),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Type != "rate_limit_error" || !strings.Contains(oe.Message, `quota "daily:alice@example.com"`) {
		t.Errorf("OpenAI SDK error %T %v; want *openai.Error 429 rate_limit_error naming the bucket", err, err)
	} else if ra := oe.Response.Header.Get("Retry-After"); ra != "72" && ra != "71" {
		t.Errorf("OpenAI SDK Retry-After %q, want 72 (71 after a slow second)", ra)
	}

	ac := anthropicClient(gw)
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 || !strings.Contains(ae.RawJSON(), "rate_limit_error") {
		t.Errorf("Anthropic SDK error %T %v; want *anthropic.Error 429 rate_limit_error", err, err)
	} else if ra := ae.Response.Header.Get("Retry-After"); ra != "72" && ra != "71" {
		t.Errorf("Anthropic SDK Retry-After %q, want 72 (71 after a slow second)", ra)
	}
	_, err = oc.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-5", MaxOutputTokens: openai.Int(10),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Type != "rate_limit_error" || !strings.Contains(oe.Message, `quota "daily:alice@example.com"`) {
		t.Errorf("OpenAI SDK (Responses) error %T %v; want *openai.Error 429 rate_limit_error naming the bucket", err, err)
	} else if ra := oe.Response.Header.Get("Retry-After"); ra != "72" && ra != "71" {
		t.Errorf("OpenAI SDK (Responses) Retry-After %q, want 72", ra)
	}

	// The Gen AI SDK keeps no response headers in its error; the raw
	// answer's Retry-After is checked in TestQuotaRefusal.
	_, err = geminiClient(t, ctx, gw).Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"),
		&genai.GenerateContentConfig{MaxOutputTokens: 10})
	if status, msg, ok := genaiTyped(t, err); !ok || status != 429 || !strings.HasPrefix(msg, "RESOURCE_EXHAUSTED") || !strings.Contains(msg, `quota "daily:alice@example.com"`) {
		t.Errorf("Gen AI SDK error %T %v; want genai.APIError 429 RESOURCE_EXHAUSTED naming the bucket", err, err)
	}

	in := converseInput("amazon.nova-lite-v1:0")
	in.ToolConfig = nil
	in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(10)}
	_, err = bedrockClient(t, gw, "/bedrock").Converse(ctx, in, func(o *bedrockruntime.Options) { o.RetryMaxAttempts = 1 })
	var throttled *types.ThrottlingException
	var respErr *awshttp.ResponseError
	if !errors.As(err, &throttled) || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 429 || !strings.Contains(throttled.ErrorMessage(), `quota "daily:alice@example.com"`) {
		t.Errorf("Bedrock SDK error %T %v; want a 429 *types.ThrottlingException naming the bucket", err, err)
	} else if ra := respErr.Response.Header.Get("Retry-After"); ra != "72" && ra != "71" {
		t.Errorf("Bedrock SDK Retry-After %q, want 72", ra)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("the provider received %d requests, want none", n)
	}
}

// TestSDKQuotaCutoff: a stream cut off for passing its reservation ends,
// for the official SDKs, with their stream error carrying the reason,
// after the text streamed so far.
func TestSDKQuotaCutoff(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st; o.QuotaCutoff = true })
	gw.upstream.Handle("/s/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: chatStream(100, true), Gap: time.Millisecond})
	gw.upstream.Handle("/v1/messages", proxytest.Reply{ContentType: "text/event-stream", Body: anthropicStream(100), Gap: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	oc := openaiClient(gw)
	ostream := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5-s", MaxTokens: openai.Int(10),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var text strings.Builder
	for ostream.Next() {
		for _, c := range ostream.Current().Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := ostream.Err(); err == nil || !strings.Contains(err.Error(), "quota cut-off") || text.Len() < 11*4 || text.Len() >= 100*4 {
		t.Errorf("OpenAI SDK stream: %d bytes of text, error %v; want the text so far, then an error naming the cut-off", text.Len(), err)
	}

	ac := anthropicClient(gw)
	as := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	text.Reset()
	for as.Next() {
		if d, ok := as.Current().AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			text.WriteString(d.Delta.Text)
		}
	}
	if err := as.Err(); err == nil || !strings.Contains(err.Error(), "quota cut-off") || text.Len() < 11*4 || text.Len() >= 100*4 {
		t.Errorf("Anthropic SDK stream: %d bytes of text, error %v; want the text so far, then an error naming the cut-off", text.Len(), err)
	}
}

// TestSDKQuotaCutoffBedrock: the AWS SDK reads a Bedrock stream cut off for
// passing its reservation as the text so far, then a ThrottlingException
// naming the cut-off; a model that keeps to max_tokens streams to its end.
func TestSDKQuotaCutoffBedrock(t *testing.T) {
	tests := []struct {
		name   string
		invoke bool
		n      int // text deltas of "abcd" the model streams
		cut    bool
	}{
		{name: "converse-stream past max_tokens", n: 100, cut: true},
		{name: "invoke-with-response-stream past max_tokens", invoke: true, n: 100, cut: true},
		{name: "converse-stream within max_tokens", n: 10},
		{name: "invoke-with-response-stream within max_tokens", invoke: true, n: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
			gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st; o.QuotaCutoff = true })
			gw.upstream.Handle("/model/amazon.nova-lite-v1%3A0/converse-stream",
				proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: bedrockConverseFrames(t, tt.n), Gap: time.Millisecond})
			gw.upstream.Handle("/model/"+claudeBedrockID+"/invoke-with-response-stream",
				proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: bedrockInvokeFrames(t, tt.n), Gap: time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := bedrockClient(t, gw, "/bedrock")
			var text strings.Builder
			var err error
			if tt.invoke {
				err = invokeStreamText(ctx, c, &text)
			} else {
				err = converseStreamText(ctx, c, &text)
			}
			if !tt.cut {
				if err != nil || text.Len() != tt.n*4 {
					t.Errorf("%d bytes of text, error %v; want the whole answer (%d bytes)", text.Len(), err, tt.n*4)
				}
				return
			}
			var throttled *types.ThrottlingException
			if !errors.As(err, &throttled) || !strings.Contains(throttled.ErrorMessage(), "quota cut-off") {
				t.Errorf("error %T %v; want a ThrottlingException naming the cut-off", err, err)
			}
			if text.Len() < 11*4 || text.Len() >= tt.n*4 {
				t.Errorf("%d bytes of text before the error; want the text so far (past the 10 tokens reserved, short of %d)", text.Len(), tt.n*4)
			}
		})
	}
}

// converseStreamText reads a ConverseStream answer's text into text and
// returns the stream's error.
func converseStreamText(ctx context.Context, c *bedrockruntime.Client, text *strings.Builder) error {
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:         aws.String("amazon.nova-lite-v1:0"),
		Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(10)},
	})
	if err != nil {
		return err
	}
	s := out.GetStream()
	defer s.Close()
	for ev := range s.Events() {
		if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			if t, ok := d.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
				text.WriteString(t.Value)
			}
		}
	}
	return s.Err()
}

// invokeStreamText reads the text of Claude's events in an
// InvokeModelWithResponseStream answer into text and returns the stream's
// error.
func invokeStreamText(ctx context.Context, c *bedrockruntime.Client, text *strings.Builder) error {
	out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(claudeBedrock),
		ContentType: aws.String("application/json"),
		Body:        []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`),
	})
	if err != nil {
		return err
	}
	s := out.GetStream()
	defer s.Close()
	for ev := range s.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			continue
		}
		var e anthropic.MessageStreamEventUnion
		if err := json.Unmarshal(chunk.Value.Bytes, &e); err != nil {
			return err
		}
		if d, ok := e.AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			text.WriteString(d.Delta.Text)
		}
	}
	return s.Err()
}
