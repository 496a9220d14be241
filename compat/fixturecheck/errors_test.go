package fixturecheck_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/sluice-gateway/sluice/compat"
)

// errorServer answers every request with compat.WriteError in the format
// the request path is detected as.
func errorServer(t *testing.T, kind compat.ErrorKind, msg string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, _ := compat.Detect(r.Method, r.URL.EscapedPath(), r.URL.Query())
		compat.WriteError(w, route.Format, 0, kind, msg)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestErrorsReadBySDKs checks that each SDK turns the gateway's errors into
// its own typed error, with the status, type and message intact.
func TestErrorsReadBySDKs(t *testing.T) {
	ctx := context.Background()
	const msg = "model gpt-9 is not allowed for alice@example.com"

	t.Run("openai", func(t *testing.T) {
		srv := errorServer(t, compat.KindPermissionDenied, msg)
		c := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-9",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Message != msg || apiErr.Type != "permission_error" {
			t.Errorf("%v", err)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		srv := errorServer(t, compat.KindNotFound, msg)
		c := anthropic.NewClient(anthropicoption.WithBaseURL(srv.URL), anthropicoption.WithAPIKey("k"), anthropicoption.WithMaxRetries(0))
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-9", MaxTokens: 5,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" {
			t.Errorf("%v", err)
		}
	})
	t.Run("gemini", func(t *testing.T) {
		srv := errorServer(t, compat.KindTooLarge, msg)
		c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: "k", Backend: genai.BackendGeminiAPI,
			HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 413 || apiErr.Status != "INVALID_ARGUMENT" || apiErr.Message != msg {
			t.Errorf("%v", err)
		}
	})
	t.Run("bedrock", func(t *testing.T) {
		srv := errorServer(t, compat.KindPermissionDenied, msg)
		c := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "a", SecretAccessKey: "b"}, nil
			})})
		_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("amazon.nova-lite-v1:0"),
			Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hi"}}}}})
		var denied *brtypes.AccessDeniedException
		if !errors.As(err, &denied) || denied.ErrorMessage() != msg {
			t.Errorf("%v", err)
		}
	})
}
