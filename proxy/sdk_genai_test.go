package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/auth"
	"google.golang.org/genai"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// geminiClient is the Gen AI SDK on its Gemini API backend, pointed at
// sluice with an API key of its own (sent as x-goog-api-key).
func geminiClient(t *testing.T, ctx context.Context, gw *gateway) *genai.Client {
	t.Helper()
	return geminiVersionClient(t, ctx, gw, "")
}

// geminiVersionClient is geminiClient with an API version other than the
// SDK's default (v1beta).
func geminiVersionClient(t *testing.T, ctx context.Context, gw *gateway, version string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		Backend:     genai.BackendGeminiAPI,
		APIKey:      clientKeyGemini,
		HTTPOptions: genai.HTTPOptions{BaseURL: gw.URL + "/", APIVersion: version},
	})
	if err != nil {
		t.Fatalf("genai client: %v", err)
	}
	return c
}

// staticToken stands in for Google credentials: the OAuth token a client
// would have from Application Default Credentials.
type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

// vertexClient is the Gen AI SDK on its Vertex AI backend, with a token of
// its own instead of Application Default Credentials, and sluice as its
// base URL. project and location go into the path.
func vertexClient(t *testing.T, ctx context.Context, gw *gateway, project, location string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		Backend:     genai.BackendVertexAI,
		Project:     project,
		Location:    location,
		Credentials: auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(clientTokenVertex)}),
		HTTPOptions: genai.HTTPOptions{BaseURL: gw.URL + "/"},
	})
	if err != nil {
		t.Fatalf("genai Vertex client: %v", err)
	}
	return c
}

var geminiAuth = sdkAuth{header: "X-Goog-Api-Key", value: providerKeyGemini, secrets: []string{clientKeyGemini}}

// vertexGeminiAuth is vertexAuth with the express-mode client key too.
var vertexGeminiAuth = sdkAuth{header: vertexAuth.header, value: vertexAuth.value, secrets: []string{clientTokenVertex, clientKeyGemini}}

func generateConfig() *genai.GenerateContentConfig {
	return &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{
		{Name: "get_weather", ParametersJsonSchema: weatherSchema},
		{Name: "get_local_time", ParametersJsonSchema: map[string]any{"type": "object", "properties": map[string]any{"timezone": map[string]any{"type": "string"}}}},
	}}}}
}

// addGenerated adds one response, whole or a stream chunk, to a: text of
// the non-thought parts, function calls, and the last finish reason and
// usage seen. The output count is the candidates' tokens, as Gemini
// reports them (thinking tokens apart).
func addGenerated(t *testing.T, a *sdkAnswer, r *genai.GenerateContentResponse) {
	t.Helper()
	if len(r.Candidates) > 0 && r.Candidates[0].Content != nil {
		c := r.Candidates[0]
		for _, p := range c.Content.Parts {
			if p.Text != "" && !p.Thought {
				a.Text += p.Text
			}
			if p.FunctionCall != nil {
				args, _ := json.Marshal(p.FunctionCall.Args)
				a.ToolCalls = append(a.ToolCalls, toolCall(t, p.FunctionCall.Name, string(args)))
			}
		}
		if c.FinishReason != "" {
			a.Stop = string(c.FinishReason)
		}
	}
	if u := r.UsageMetadata; u != nil && u.PromptTokenCount > 0 {
		a.Input, a.Output, a.Cached = int64(u.PromptTokenCount), int64(u.CandidatesTokenCount), int64(u.CachedContentTokenCount)
	}
}

// generate calls generateContent or streamGenerateContent on client.
func generate(t *testing.T, ctx context.Context, c *genai.Client, model string, stream bool) (sdkAnswer, error) {
	t.Helper()
	contents := genai.Text("What's the weather in Paris, and what time is it there?")
	var a sdkAnswer
	if !stream {
		r, err := c.Models.GenerateContent(ctx, model, contents, generateConfig())
		if err != nil {
			return sdkAnswer{}, err
		}
		addGenerated(t, &a, r)
		return a, nil
	}
	chunks := 0
	for r, err := range c.Models.GenerateContentStream(ctx, model, contents, generateConfig()) {
		if err != nil {
			return sdkAnswer{}, err
		}
		chunks++
		addGenerated(t, &a, r)
	}
	if chunks < 2 {
		t.Errorf("the SDK saw %d chunks; the answer did not stream", chunks)
	}
	return a, nil
}

func geminiCall(model string, stream bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		return generate(t, ctx, geminiClient(t, ctx, gw), model, stream)
	}
}

func vertexGeminiCall(project, location, model string, stream bool) func(*testing.T, context.Context, *gateway) (sdkAnswer, error) {
	return func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
		return generate(t, ctx, vertexClient(t, ctx, gw, project, location), model, stream)
	}
}

// asksSSE asserts that a stream reached the provider as ?alt=sse, the
// only query parameter.
func asksSSE(t *testing.T, got proxytest.Received) {
	t.Helper()
	q, err := url.ParseQuery(got.Query)
	if err != nil || len(q) != 1 || q.Get("alt") != "sse" {
		t.Errorf("upstream query %q, want alt=sse", got.Query)
	}
}

func TestSDKGemini(t *testing.T) {
	reply := func(fixture string) proxytest.Reply {
		ct := "application/json"
		if strings.HasSuffix(fixture, ".sse") {
			ct = "text/event-stream"
		}
		return proxytest.Reply{ContentType: ct, Body: proxytest.Fixture(t, fixture)}
	}
	calls := []sdkToolCall{
		toolCall(t, "get_weather", `{"location":"Paris, France","unit":"celsius"}`),
		toolCall(t, "get_local_time", `{"timezone":"Europe/Paris"}`),
	}
	const checking = "I'll check the current weather in Paris and the local time for you."
	// Gemini's prompt count includes cached tokens; thinking tokens are
	// output: 61 + 120.
	rec := func(stream bool, in, out, cached int64, tools int) wantRecord {
		return wantRecord{Provider: "gemini", Model: "gemini-2.5-flash", Format: policy.FormatGeminiGenerateContent, Status: http.StatusOK,
			Stream: stream, Input: in, Output: out, CacheRead: cached, ToolCalls: tools}
	}
	runSDKCases(t, geminiAuth, []sdkCase{
		{
			name:         "generateContent",
			upstreamPath: "/v1beta/models/gemini-2.5-flash:generateContent",
			reply:        reply("gemini_generate_content/text.json"),
			call:         geminiCall("gemini-2.5-flash", false),
			want:         sdkAnswer{Text: "Paris is the capital and largest city of France.", Stop: "STOP", Input: 9, Output: 11},
			rec:          rec(false, 9, 11, 0, 0),
		},
		{
			name:         "generateContent with function calls",
			upstreamPath: "/v1beta/models/gemini-2.5-flash:generateContent",
			reply:        reply("gemini_generate_content/function_call.json"),
			call:         geminiCall("gemini-2.5-flash", false),
			want:         sdkAnswer{Text: checking, Stop: "STOP", ToolCalls: calls, Input: 1843, Output: 61, Cached: 1024},
			rec:          rec(false, 1843, 61+120, 1024, 2),
		},
		{
			// /v1/models/{model}:generateContent, not the models list.
			name:         "generateContent on API version v1",
			upstreamPath: "/v1/models/gemini-2.5-flash:generateContent",
			reply:        reply("gemini_generate_content/text.json"),
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				return generate(t, ctx, geminiVersionClient(t, ctx, gw, "v1"), "gemini-2.5-flash", false)
			},
			want: sdkAnswer{Text: "Paris is the capital and largest city of France.", Stop: "STOP", Input: 9, Output: 11},
			rec:  rec(false, 9, 11, 0, 0),
		},
		{
			// Counting tokens generates nothing: no tokens recorded.
			name:         "countTokens",
			upstreamPath: "/v1beta/models/gemini-2.5-flash:countTokens",
			reply:        proxytest.Reply{ContentType: "application/json", Body: []byte(`{"totalTokens":31,"promptTokensDetails":[{"modality":"TEXT","tokenCount":31}]}`)},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c := geminiClient(t, ctx, gw)
				res, err := c.Models.CountTokens(ctx, "gemini-2.5-flash", genai.Text("What is the capital of France?"), nil)
				if err != nil {
					return sdkAnswer{}, err
				}
				return sdkAnswer{Input: int64(res.TotalTokens)}, nil
			},
			want: sdkAnswer{Input: 31},
			rec:  rec(false, 0, 0, 0, 0),
		},
		{
			name:         "streamGenerateContent with function calls",
			upstreamPath: "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
			reply:        reply("gemini_generate_content/function_call.sse"),
			call:         geminiCall("gemini-2.5-flash", true),
			want:         sdkAnswer{Text: checking, Stop: "STOP", ToolCalls: calls, Input: 1843, Output: 61, Cached: 1024},
			rec:          rec(true, 1843, 61+120, 1024, 2),
			upstream:     asksSSE,
		},
	})
}

// TestSDKVertexGemini runs the Gen AI SDK's Vertex AI backend offline: a
// static token stands in for Google credentials.
func TestSDKVertexGemini(t *testing.T) {
	const model = "gemini-2.5-pro"
	const prefix = "/v1beta1/projects/"
	const models = "/publishers/google/models/" + model
	search := toolCall(t, "search_flights", `{"origin":"SFO","destination":"CDG","date":"2025-09-14"}`)
	want := sdkAnswer{Text: "Let me look that up.", Stop: "STOP", ToolCalls: []sdkToolCall{search}, Input: 2217, Output: 38, Cached: 2048}
	rec := wantRecord{Provider: "vertex", Model: model, Format: policy.FormatGoogleGenerateContent, Status: http.StatusOK,
		Input: 2217, Output: 38 + 212, CacheRead: 2048, ToolCalls: 1}
	streamRec := rec
	streamRec.Stream = true
	runSDKCases(t, vertexGeminiAuth, []sdkCase{
		{
			// A client may name the provider's own project and location.
			name:         "generateContent",
			upstreamPath: prefix + "sluice-project/locations/us-east5" + models + ":generateContent",
			reply:        proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "google_generate_content/tool_call.json")},
			call:         vertexGeminiCall("sluice-project", "us-east5", model, false),
			want:         want,
			rec:          rec,
		},
		{
			// Vertex express mode: an API key of the client's own and no
			// project in the path.
			name:         "generateContent in express mode",
			upstreamPath: "/v1beta1" + models + ":generateContent",
			reply:        proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "google_generate_content/tool_call.json")},
			call: func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error) {
				c, err := genai.NewClient(ctx, &genai.ClientConfig{
					Backend:     genai.BackendVertexAI,
					APIKey:      clientKeyGemini,
					HTTPOptions: genai.HTTPOptions{BaseURL: gw.URL + "/"},
				})
				if err != nil {
					t.Fatalf("genai Vertex client: %v", err)
				}
				return generate(t, ctx, c, model, false)
			},
			want: want,
			rec:  rec,
		},
		{
			// The placeholders become the provider's project and region.
			name:         "streamGenerateContent with placeholders",
			upstreamPath: prefix + "sluice-project/locations/us-east5" + models + ":streamGenerateContent",
			reply:        proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "google_generate_content/tool_call.sse")},
			call:         vertexGeminiCall(compat.VertexProjectPlaceholder, compat.VertexRegionPlaceholder, model, true),
			want:         want,
			rec:          streamRec,
			upstream:     asksSSE,
		},
	})
}

// genaiTyped reads genai.APIError, which the SDK returns as a value.
func genaiTyped(t *testing.T, err error) (int, string, bool) {
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) {
		return 0, "", false
	}
	return apiErr.Code, apiErr.Status + ": " + apiErr.Message, true
}

func TestSDKGenAIErrors(t *testing.T) {
	gemini := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			_, err := generate(t, ctx, geminiClient(t, ctx, gw), model, stream)
			return err
		}
	}
	vertex := func(model string, stream bool) func(*testing.T, context.Context, *gateway) error {
		return func(t *testing.T, ctx context.Context, gw *gateway) error {
			_, err := generate(t, ctx, vertexClient(t, ctx, gw, "client-project", "us-central1"), model, stream)
			return err
		}
	}
	rec := func(model, format string, status int, stream bool) wantRecord {
		return wantRecord{Model: model, Format: format, Status: status, Stream: stream}
	}
	gem, vx := policy.FormatGeminiGenerateContent, policy.FormatGoogleGenerateContent
	runSDKErrors(t, genaiTyped, []sdkErrCase{
		{name: "gemini denied model", call: gemini("gemini-2.5-flash-lite", false),
			wantStatus: http.StatusForbidden, wantMessage: "PERMISSION_DENIED: " + deniedMessage("gemini-2.5-flash-lite"),
			rec: rec("gemini-2.5-flash-lite", gem, http.StatusForbidden, false)},
		{name: "gemini stream with an unknown model", call: gemini("gemini-1.0-pro", true),
			wantStatus: http.StatusNotFound, wantMessage: "NOT_FOUND: " + unknownMessage("gemini-1.0-pro"),
			rec: rec("gemini-1.0-pro", gem, http.StatusNotFound, true)},
		{name: "vertex stream with a denied model", call: vertex("gemini-2.0-flash", true),
			wantStatus: http.StatusForbidden, wantMessage: "PERMISSION_DENIED: " + deniedMessage("gemini-2.0-flash"),
			rec: rec("gemini-2.0-flash", vx, http.StatusForbidden, true)},
		{name: "vertex unknown model", call: vertex("gemini-1.5-pro", false),
			wantStatus: http.StatusNotFound, wantMessage: "NOT_FOUND: " + unknownMessage("gemini-1.5-pro"),
			rec: rec("gemini-1.5-pro", vx, http.StatusNotFound, false)},
	})
}
