package proxy

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// failureCase is a provider that fails: with an error status, or with an
// error inside a stream that has started. The SDK must surface it as its
// own typed error, as if it had called the provider directly, and the
// record must say what failed.
type failureCase struct {
	name         string
	auth         sdkAuth
	upstreamPath string
	reply        proxytest.Reply
	call         func(*testing.T, context.Context, *gateway) (sdkAnswer, error)
	typed        typedError
	wantStatus   int
	wantMessage  string
	// want is what the SDK handed over before the error.
	want sdkAnswer
	rec  wantRecord
	// recError is a part of the record's error.
	recError string
}

// TestSDKProviderFailures: provider errors reach each SDK intact.
func TestSDKProviderFailures(t *testing.T) {
	fixture := func(name, ct string, status int) proxytest.Reply {
		return proxytest.Reply{Status: status, ContentType: ct, Body: proxytest.Fixture(t, name)}
	}
	const js, sse, es = "application/json", "text/event-stream", "application/vnd.amazon.eventstream"
	bedrockValidation := fixture("bedrock_converse/error.json", js, http.StatusBadRequest)
	bedrockValidation.Header = http.Header{"X-Amzn-Errortype": {"ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"}}
	cases := []failureCase{
		{
			name: "openai rate limit", auth: openaiAuth,
			upstreamPath: "/v1/chat/completions",
			reply:        fixture("openai_chat/error.json", js, http.StatusTooManyRequests),
			call:         chatCall("gpt-4.1", false),
			typed:        openaiTyped,
			wantStatus:   http.StatusTooManyRequests, wantMessage: "Rate limit reached for gpt-4.1",
			rec:      wantRecord{Provider: "openai", Model: "gpt-4.1", Format: policy.FormatOpenAIChat, Status: http.StatusTooManyRequests},
			recError: "Rate limit reached",
		},
		{
			name: "anthropic invalid request", auth: anthropicAuth,
			upstreamPath: "/v1/messages",
			reply:        fixture("anthropic_messages/error.json", js, http.StatusBadRequest),
			call:         messagesCall("claude-sonnet-4-5", false, false),
			typed:        anthropicTyped,
			wantStatus:   http.StatusBadRequest, wantMessage: "invalid_request_error: messages.1.content.0.tool_result.tool_use_id",
			rec:      wantRecord{Provider: "anthropic", Model: "claude-sonnet-4-5", Format: policy.FormatAnthropicMessages, Status: http.StatusBadRequest},
			recError: "tool_use_id",
		},
		{
			// The error event comes after text: the client keeps the text
			// and gets the error; the record keeps the tokens so far.
			name: "anthropic overloaded mid-stream", auth: anthropicAuth,
			upstreamPath: "/v1/messages",
			reply:        fixture("anthropic_messages/overloaded.sse", sse, http.StatusOK),
			call:         messagesCall("claude-haiku-4-5", false, true),
			typed:        anthropicTyped,
			wantStatus:   http.StatusOK, wantMessage: "overloaded_error: Overloaded",
			want: sdkAnswer{Text: "Hello! I'm Claude.", Input: 21, Output: 1, CacheWrite: 1536},
			rec: wantRecord{Provider: "anthropic", Model: "claude-haiku-4-5", Format: policy.FormatAnthropicMessages, Status: http.StatusOK,
				Stream: true, Input: 21 + 1536, Output: 1, CacheWrite: 1536},
			recError: "Overloaded",
		},
		{
			name: "gemini invalid argument", auth: geminiAuth,
			upstreamPath: "/v1beta/models/gemini-2.5-flash:generateContent",
			reply:        fixture("gemini_generate_content/error.json", js, http.StatusBadRequest),
			call:         geminiCall("gemini-2.5-flash", false),
			typed:        genaiTyped,
			wantStatus:   http.StatusBadRequest, wantMessage: "INVALID_ARGUMENT: API key not valid",
			rec:      wantRecord{Provider: "gemini", Model: "gemini-2.5-flash", Format: policy.FormatGeminiGenerateContent, Status: http.StatusBadRequest},
			recError: "API key not valid",
		},
		{
			name: "vertex permission denied", auth: vertexAuth,
			upstreamPath: "/v1beta1/projects/sluice-project/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent",
			reply:        fixture("google_generate_content/error.json", js, http.StatusForbidden),
			call:         vertexGeminiCall("sluice-project", "us-east5", "gemini-2.5-pro", false),
			typed:        genaiTyped,
			wantStatus:   http.StatusForbidden, wantMessage: "PERMISSION_DENIED: Permission 'aiplatform.endpoints.predict' denied",
			rec:      wantRecord{Provider: "vertex", Model: "gemini-2.5-pro", Format: policy.FormatGoogleGenerateContent, Status: http.StatusForbidden},
			recError: "aiplatform.endpoints.predict",
		},
		{
			name: "bedrock validation exception", auth: bedrockAuth,
			upstreamPath: "/model/" + claudeBedrockID + "/converse",
			reply:        bedrockValidation,
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converse(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock)
			},
			typed:      bedrockTyped,
			wantStatus: http.StatusBadRequest, wantMessage: "*types.ValidationException: The provided model identifier is invalid.",
			rec:      wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: http.StatusBadRequest},
			recError: "model identifier is invalid",
		},
		{
			name: "bedrock throttled mid-stream", auth: bedrockAuth,
			upstreamPath: "/model/" + claudeBedrockID + "/converse-stream",
			reply:        fixture("bedrock_converse/throttled.eventstream", es, http.StatusOK),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converseStream(t, ctx, bedrockClient(t, gw, "/bedrock"), claudeBedrock, "")
			},
			typed:       bedrockTyped,
			wantMessage: "*types.ThrottlingException: Too many tokens, please wait before trying again.",
			want:        sdkAnswer{Text: "Sure"},
			rec:         wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockConverse, Status: http.StatusOK, Stream: true},
			recError:    "Too many tokens",
		},
		{
			name: "bedrock model stream error", auth: bedrockAuth,
			upstreamPath: "/model/" + claudeBedrockID + "/invoke-with-response-stream",
			reply:        fixture("bedrock_model_invoke/claude_stream_error.eventstream", es, http.StatusOK),
			call:         invokeClaudeCall(true),
			typed:        bedrockTyped,
			wantMessage:  "*types.ModelStreamErrorException: Model stream error: the model returned an invalid response.",
			want:         sdkAnswer{Text: "Hello! I'm Claude.", Input: 25, Output: 1},
			rec: wantRecord{Provider: "bedrock", Model: claudeBedrock, Format: policy.FormatBedrockModelInvoke, Status: http.StatusOK,
				Stream: true, Input: 25, Output: 1},
			recError: "Model stream error",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, sdkLogin)
			gw.upstream.Handle(tc.upstreamPath, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			got, err := tc.call(t, ctx, gw)
			if err == nil {
				t.Fatal("the SDK call succeeded; want the provider's error")
			}
			status, msg, ok := tc.typed(t, err)
			if !ok {
				t.Fatalf("error %T (%v) is not the SDK's API error type", err, err)
			}
			if status != tc.wantStatus || !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("error %d %q, want %d with %q", status, msg, tc.wantStatus, tc.wantMessage)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("before the error the SDK got\n  %+v\nwant\n  %+v", got, tc.want)
			}

			up := onlyRequest(t, gw)
			if up.Path != tc.upstreamPath {
				t.Errorf("upstream path %s, want %s", up.Path, tc.upstreamPath)
			}
			checkUpstreamAuth(t, up, tc.auth)
			rec := waitRecord(t, gw)
			checkRecord(t, rec, tc.rec)
			if !strings.Contains(rec.Error, tc.recError) || rec.Error == "" {
				t.Errorf("record error %q, want one with %q", rec.Error, tc.recError)
			}
		})
	}
}
