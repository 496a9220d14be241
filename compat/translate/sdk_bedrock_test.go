package translate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/internal/awssdktest"
)

// TestBedrockSDKReadsTranslations: the AWS SDK's Bedrock client, served
// every answer and stream translated into Converse over loopback, parses
// them into the tool calls and token counts the upstream meant.
func TestBedrockSDKReadsTranslations(t *testing.T) {
	var body []byte
	var stream bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stream {
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "test"}, nil
		}),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: awssdktest.RequestBodyBuffer{Base: tr}},
	})
	ctx := context.Background()
	msgs := []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hi"}}}}
	model := aws.String(pathModels["bedrock_converse"])

	for _, fx := range append(inputs(t, "response-*.json"), inputs(t, "stream-*")...) {
		if fx.to != "bedrock_converse" {
			continue
		}
		t.Run(fx.from+"/"+fx.name, func(t *testing.T) {
			in := readStream(t, fx.path)
			stream = strings.HasPrefix(fx.name, "stream-")
			var src compat.Result
			var calls []compat.ToolCall
			var u *brtypes.TokenUsage
			if stream {
				body = translateStream(t, fx.from, fx.to, in)
				src = recordStream(t, fx.from, in)
				out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: model, Messages: msgs})
				if err != nil {
					t.Fatal(err)
				}
				var args strings.Builder
				for ev := range out.GetStream().Events() {
					switch v := ev.(type) {
					case *brtypes.ConverseStreamOutputMemberContentBlockStart:
						if s, ok := v.Value.Start.(*brtypes.ContentBlockStartMemberToolUse); ok {
							calls = append(calls, compat.ToolCall{ID: *s.Value.ToolUseId, Name: *s.Value.Name})
							args.Reset()
						}
					case *brtypes.ConverseStreamOutputMemberContentBlockDelta:
						if d, ok := v.Value.Delta.(*brtypes.ContentBlockDeltaMemberToolUse); ok {
							args.WriteString(*d.Value.Input)
							calls[len(calls)-1].Arguments = json.RawMessage(args.String())
						}
					case *brtypes.ConverseStreamOutputMemberMetadata:
						u = v.Value.Usage
					}
				}
				if err := out.GetStream().Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				var err error
				body, err = ResponseBody(fx.from, fx.to, in, optionsFor(fx.from))
				if err != nil {
					t.Fatal(err)
				}
				src = record(t, fx.from, in)
				out, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: model, Messages: msgs})
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range out.Output.(*brtypes.ConverseOutputMemberMessage).Value.Content {
					if tu, ok := b.(*brtypes.ContentBlockMemberToolUse); ok {
						var m map[string]any
						if err := tu.Value.Input.UnmarshalSmithyDocument(&m); err != nil {
							t.Fatal(err)
						}
						args, _ := json.Marshal(m)
						calls = append(calls, compat.ToolCall{ID: *tu.Value.ToolUseId, Name: *tu.Value.Name, Arguments: args})
					}
				}
				u = out.Usage
			}
			want := normalArgs(t, src.ToolCalls)
			for i := range want {
				if want[i].ID == "" && i < len(calls) {
					want[i].ID = calls[i].ID // Gemini's calls have no IDs
				}
			}
			if diff := cmp.Diff(want, normalArgs(t, calls)); diff != "" {
				t.Errorf("SDK tool calls (-upstream +SDK):\n%s", diff)
			}
			wantIn, _ := src.Usage.UncachedInput().Get()
			wantOut, _ := src.Usage.Output.Get()
			if u == nil || int64(*u.InputTokens) != wantIn || int64(*u.OutputTokens) != wantOut {
				t.Errorf("SDK usage %+v, want %d in %d out", u, wantIn, wantOut)
			}
		})
	}
}
