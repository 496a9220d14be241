package proxy

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"google.golang.org/genai"
)

// TestSDKClientsSendCredentials checks the premise of every "the client's
// credential never reaches the provider" assertion: pointed straight at
// the mock provider, without sluice, each SDK as the tests configure it
// does send its own credential, where the tests expect it.
func TestSDKClientsSendCredentials(t *testing.T) {
	tests := []struct {
		name string
		// call makes one request through gw; its error is of no interest.
		call   func(t *testing.T, ctx context.Context, gw *gateway) error
		header string
		want   string // the header's value, or a part of it with contains
		// contains matches want as a part of the value.
		contains bool
	}{
		{name: "openai", header: "Authorization", want: "Bearer " + clientKeyOpenAI,
			call: ignoreAnswer(chatCall("gpt-4.1", false))},
		{name: "anthropic", header: "X-Api-Key", want: clientKeyAnthropic,
			call: ignoreAnswer(messagesCall("claude-sonnet-4-5", false, false))},
		{name: "anthropic auth token", header: "Authorization", want: "Bearer " + clientKeyAnthropic,
			call: func(t *testing.T, ctx context.Context, gw *gateway) error {
				c := anthropic.NewClient(option.WithBaseURL(gw.URL+"/"), option.WithAuthToken(clientKeyAnthropic), option.WithMaxRetries(0))
				_, err := c.Messages.New(ctx, messageParams("claude-sonnet-4-5", false))
				return err
			}},
		{name: "anthropic on vertex", header: "Authorization", want: "Bearer " + clientTokenVertex,
			call: ignoreAnswer(vertexMessagesCall("us-east5", "client-project", "claude-sonnet-4-5@20250929", false))},
		{name: "gemini", header: "X-Goog-Api-Key", want: clientKeyGemini,
			call: ignoreAnswer(geminiCall("gemini-2.5-flash", false))},
		{name: "gemini on vertex", header: "Authorization", want: "Bearer " + clientTokenVertex,
			call: ignoreAnswer(vertexGeminiCall("client-project", "us-central1", "gemini-2.5-pro", false))},
		{name: "gemini on vertex express mode", header: "X-Goog-Api-Key", want: clientKeyGemini,
			call: func(t *testing.T, ctx context.Context, gw *gateway) error {
				c, err := genai.NewClient(ctx, &genai.ClientConfig{Backend: genai.BackendVertexAI, APIKey: clientKeyGemini,
					HTTPOptions: genai.HTTPOptions{BaseURL: gw.URL + "/"}})
				if err != nil {
					t.Fatal(err)
				}
				_, err = generate(t, ctx, c, "gemini-2.5-pro", false)
				return err
			}},
		{name: "bedrock signature", header: "Authorization", want: "Credential=" + clientAWSAccessKeyID + "/", contains: true,
			call: ignoreAnswer(func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converse(t, ctx, bedrockClient(t, gw, ""), claudeBedrock)
			})},
		{name: "bedrock session token", header: "X-Amz-Security-Token", want: clientAWSSession,
			call: ignoreAnswer(func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return converse(t, ctx, bedrockClient(t, gw, ""), claudeBedrock)
			})},
		{name: "bedrock API key", header: "Authorization", want: "Bearer " + clientBedrockAPIKey,
			call: func(t *testing.T, ctx context.Context, gw *gateway) error {
				// Bearer tokens go over HTTPS only.
				front := httptest.NewTLSServer(gw.Config.Handler)
				t.Cleanup(front.Close)
				_, err := converse(t, ctx, newBedrock(t, front.URL, front.Client().Transport, clientBedrockAPIKey), claudeBedrock)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newGateway(t, sdkConfig, sdkLogin).upstream
			// The mock has no reply configured: it answers 404, and the
			// SDK's error does not matter here.
			direct := &gateway{Server: up.Server, upstream: up}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = tt.call(t, ctx, direct)
			got := up.Last(t).Header.Get(tt.header)
			if tt.contains && !strings.Contains(got, tt.want) || !tt.contains && got != tt.want {
				t.Errorf("the SDK sent %s %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// ignoreAnswer adapts an SDK call to one whose answer is of no interest.
func ignoreAnswer(call func(*testing.T, context.Context, *gateway) (sdkAnswer, error)) func(*testing.T, context.Context, *gateway) error {
	return func(t *testing.T, ctx context.Context, gw *gateway) error {
		_, err := call(t, ctx, gw)
		return err
	}
}
