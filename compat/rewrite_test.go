package compat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseParams(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		query   string
		want    Params
		wantErr bool
	}{
		{query: "", want: Params{}},
		{query: "temperature=0.7&top_p=0.9", want: Params{Temperature: f(0.7), TopP: f(0.9)}},
		{query: "max_tokens=200&top_k=40", want: Params{MaxTokens: n(200), TopK: n(40)}},
		{query: "max_output_tokens=5", want: Params{MaxTokens: n(5)}},
		{query: "temperature=hot", wantErr: true},
		{query: "temperature=NaN", wantErr: true},
		{query: "temperature=3", wantErr: true},
		{query: "top_p=1.5", wantErr: true},
		{query: "max_tokens=0", wantErr: true},
		{query: "max_tokens=1.5", wantErr: true},
		{query: "max_tokens=5&max_completion_tokens=6", wantErr: true},
		{query: "temperature=0.1&temperature=0.2", wantErr: true},
		{query: "seed=1", wantErr: true},
		{query: "temperature=%zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := ParseParams(tt.query)
			if tt.wantErr {
				if !errors.Is(err, ErrBadParam) {
					t.Fatalf("err = %v, want ErrBadParam", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRewrite sets the model and every parameter where each format keeps
// it, and nothing else changes.
func TestRewrite(t *testing.T) {
	temp, topP, topK, max := 0.5, 0.9, int64(40), int64(128)
	all := Params{Temperature: &temp, TopP: &topP, TopK: &topK, MaxTokens: &max}
	noTopK := Params{Temperature: &temp, TopP: &topP, MaxTokens: &max}
	tests := []struct {
		name    string
		format  string
		body    string
		model   string
		params  Params
		want    string
		wantErr error
	}{
		{name: "openai chat", format: OpenAIChat, body: `{"model":"gpt","messages":[],"stream":true}`, model: "openai/gpt-4o", params: noTopK,
			want: `{"model":"openai/gpt-4o","messages":[],"stream":true,"temperature":0.5,"top_p":0.9,"max_tokens":128}`},
		{name: "openai chat keeps max_completion_tokens", format: OpenAIChat, body: `{"model":"gpt","max_completion_tokens":9}`, params: Params{MaxTokens: &max},
			want: `{"model":"gpt","max_completion_tokens":128}`},
		{name: "openai chat has no top_k", format: OpenAIChat, body: `{"model":"gpt"}`, params: Params{TopK: &topK}, wantErr: ErrBadParam},
		{name: "responses", format: OpenAIResponses, body: `{"model":"gpt","input":"hi"}`, model: "gpt-5", params: noTopK,
			want: `{"model":"gpt-5","input":"hi","temperature":0.5,"top_p":0.9,"max_output_tokens":128}`},
		{name: "anthropic", format: AnthropicMessages, body: `{"model":"c","max_tokens":1024,"messages":[]}`, model: "claude-x", params: all,
			want: `{"model":"claude-x","max_tokens":128,"messages":[],"temperature":0.5,"top_p":0.9,"top_k":40}`},
		{name: "gemini", format: GeminiGenerateContent, body: `{"contents":[],"generationConfig":{"candidateCount":1}}`, model: "gemini-x", params: all,
			want: `{"contents":[],"generationConfig":{"candidateCount":1,"temperature":0.5,"topP":0.9,"topK":40,"maxOutputTokens":128}}`},
		{name: "vertex gemini without generationConfig", format: GoogleGenerateContent, body: `{"contents":[]}`, params: Params{MaxTokens: &max},
			want: `{"contents":[],"generationConfig":{"maxOutputTokens":128}}`},
		{name: "gemini body naming the model follows", format: GeminiGenerateContent, body: `{"model":"models/a","contents":[]}`, model: "b",
			want: `{"model":"b","contents":[]}`},
		{name: "converse", format: BedrockConverse, body: `{"messages":[],"inferenceConfig":{"stopSequences":["x"]}}`, model: "m", params: noTopK,
			want: `{"messages":[],"inferenceConfig":{"stopSequences":["x"],"temperature":0.5,"topP":0.9,"maxTokens":128}}`},
		{name: "converse has no top_k", format: BedrockConverse, body: `{"messages":[]}`, params: Params{TopK: &topK}, wantErr: ErrBadParam},
		{name: "bedrock invoke carries anthropic's body", format: BedrockModelInvoke, body: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10}`, params: Params{MaxTokens: &max},
			want: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":128}`},
		{name: "vertex raw predict", format: GoogleRawPredict, body: `{"anthropic_version":"vertex-2023-10-16","messages":[]}`, params: Params{Temperature: &temp},
			want: `{"anthropic_version":"vertex-2023-10-16","messages":[],"temperature":0.5}`},
		{name: "not an object", format: OpenAIChat, body: `[1]`, model: "x", wantErr: ErrInvalidBody},
		{name: "generationConfig not an object", format: GeminiGenerateContent, body: `{"generationConfig":3}`, params: Params{TopP: &topP}, wantErr: ErrInvalidBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite(tt.format, []byte(tt.body), tt.model, tt.params)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatalf("rewritten body %s: %v", got, err)
			}
			if err := json.Unmarshal([]byte(tt.want), &wantV); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRouteWithModel: a path-model route calls the new model upstream; a
// body-model route keeps its path.
func TestRouteWithModel(t *testing.T) {
	r, err := Detect("POST", "/v1beta/models/gemini-a:generateContent", nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := UpstreamURL("https://g.example", r.WithModel("gemini-b"), nil, Vertex{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/v1beta/models/gemini-b:generateContent" {
		t.Errorf("upstream path = %s, want the new model", u.Path)
	}
	c, _ := Detect("POST", "/v1/chat/completions", nil)
	if got := c.WithModel("x"); got.Model != "" {
		t.Errorf("chat route got a path model %q", got.Model)
	}
}

// BenchmarkRewrite measures the body rewrite of an aliased request with
// inline parameters, on a chat body of a few kilobytes.
func BenchmarkRewrite(b *testing.B) {
	msg := `{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 40) + `"},`
	body := []byte(`{"model":"cheap","stream":true,"messages":[` + strings.Repeat(msg, 10) + `{"role":"user","content":"hi"}]}`)
	temp, max := 0.2, int64(512)
	p := Params{Temperature: &temp, MaxTokens: &max}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rewrite(OpenAIChat, body, "gpt-5-mini", p); err != nil {
			b.Fatal(err)
		}
	}
}
