package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/openai/openai-go/v3"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestSDKClientGoesAway: a client that gives up on a stream cancels the
// provider call, and the record says the client left.
func TestSDKClientGoesAway(t *testing.T) {
	// The provider would take more than events×gap to finish; the record
	// must come well before that.
	const gap = 300 * time.Millisecond
	cases := []struct {
		name, path string
		reply      proxytest.Reply
		// start opens the stream and reads its first event.
		start func(t *testing.T, ctx context.Context, gw *gateway)
		rec   wantRecord
	}{
		{
			name:  "openai chat stream",
			path:  "/v1/chat/completions",
			reply: proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: gap},
			start: func(t *testing.T, ctx context.Context, gw *gateway) {
				c := openaiClient(gw)
				s := c.Chat.Completions.NewStreaming(ctx, chatParams("gpt-4.1", false))
				if !s.Next() {
					t.Fatalf("no first chunk: %v", s.Err())
				}
			},
			rec: wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: statusClientClosed, Stream: true},
		},
		{
			name:  "bedrock converse stream",
			path:  "/model/" + claudeBedrockID + "/converse-stream",
			reply: proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: proxytest.Fixture(t, "bedrock_converse/tool_use.eventstream"), Gap: gap},
			start: func(t *testing.T, ctx context.Context, gw *gateway) {
				in := converseInput(claudeBedrock)
				out, err := bedrockClient(t, gw, "/bedrock").ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(claudeBedrock), Messages: in.Messages})
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := <-out.GetStream().Events(); !ok {
					t.Fatalf("no first event: %v", out.GetStream().Err())
				}
			},
			rec: wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: statusClientClosed, Stream: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, sdkLogin)
			gw.upstream.Handle(tc.path, tc.reply)
			events := len(proxytest.Events(tc.reply.ContentType, tc.reply.Body))
			ctx, cancel := context.WithCancel(context.Background())
			tc.start(t, ctx, gw)
			left := time.Now()
			cancel()

			rec := waitRecord(t, gw)
			if took, full := time.Since(left), time.Duration(events-1)*gap; took > full/2 {
				t.Errorf("the record came %v after the client left; the provider call was not cancelled (its stream takes %v)", took, full)
			}
			checkRecord(t, rec, tc.rec)
			if rec.Error == "" {
				t.Error("the record of an abandoned stream has no error")
			}
		})
	}
}

// holdConfig routes to a provider at HOLD that keeps its responses open.
const holdConfig = `{
	"providers": {
		"openai": {"baseurl": "HOLD", "apikey": "sk-proj-provider-openai", "models": ["gpt-4.1"]},
		"anthropic": {"baseurl": "HOLD", "apikey": "sk-ant-provider-anthropic", "authorization": "x-api-key",
			"models": ["claude-haiku-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"bedrock": {"baseurl": "HOLD", "apikey": "ABSK-provider-bedrock", "models": ["anthropic.claude-sonnet-4-5-20250929-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_converse": true}},
	},
	"temp_grants": [{"src": ["alice@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// holdingProvider serves body event by event, then keeps the response
// open until the caller leaves (or two seconds pass), as a provider, or a
// proxy in front of it, may do before the body's last chunk goes out.
func holdingProvider(t *testing.T, contentType string, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		rc := http.NewResponseController(w)
		for _, ev := range proxytest.Events(contentType, body) {
			w.Write(ev)
			rc.Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSDKStreamEndRecorded: a client that stops reading once it has the
// whole answer (OpenAI's [DONE]; an error event or exception frame that
// ends the stream) before the provider's body formally ends got a complete
// answer: the record must not call it a client that left (499), and must
// keep the provider's error.
func TestSDKStreamEndRecorded(t *testing.T) {
	cases := []struct {
		name, contentType, fixture string
		call                       func(*testing.T, context.Context, *gateway) (sdkAnswer, error)
		wantErr                    bool
		rec                        wantRecord
		recError                   string // "" for none
	}{
		{
			name: "openai chat stream ends with [DONE]", contentType: "text/event-stream", fixture: "openai_chat/text.sse",
			call: chatStreamCall("gpt-4.1", false, openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}),
			rec: wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: http.StatusOK, Stream: true,
				Input: 2006, Output: 10, CacheRead: 1920},
		},
		{
			name: "openai chat stream without usage asked ends with [DONE]", contentType: "text/event-stream", fixture: "openai_chat/text.sse",
			call: chatStreamCall("gpt-4.1", false, openai.ChatCompletionStreamOptionsParam{}),
			rec: wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: http.StatusOK, Stream: true,
				Input: 2006, Output: 10, CacheRead: 1920},
		},
		{
			name: "anthropic stream ends with an error event", contentType: "text/event-stream", fixture: "anthropic_messages/overloaded.sse",
			call:    messagesCall("claude-haiku-4-5", false, true),
			wantErr: true,
			rec: wantRecord{Provider: "anthropic", Model: "claude-haiku-4-5", Format: policy.FormatAnthropicMessages, Status: http.StatusOK, Stream: true,
				Input: 21 + 1536, Output: 1, CacheWrite: 1536},
			recError: "Overloaded",
		},
		{
			name: "bedrock stream ends with an exception", contentType: "application/vnd.amazon.eventstream", fixture: "bedrock_converse/throttled.eventstream",
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock, "")
			},
			wantErr:  true,
			rec:      wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: http.StatusOK, Stream: true},
			recError: "Too many tokens",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := holdingProvider(t, tc.contentType, proxytest.Fixture(t, tc.fixture))
			gw := newGateway(t, strings.ReplaceAll(holdConfig, "HOLD", url), sdkLogin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := tc.call(t, ctx, gw); (err != nil) != tc.wantErr {
				t.Fatalf("SDK error %v, want error: %v", err, tc.wantErr)
			}
			rec := waitRecord(t, gw)
			checkRecord(t, rec, tc.rec)
			if tc.recError == "" && rec.Error != "" || !strings.Contains(rec.Error, tc.recError) {
				t.Errorf("record error %q, want %q", rec.Error, tc.recError)
			}
		})
	}
}
