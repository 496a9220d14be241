package compat

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// TestTranslatedRoute: a translated route calls the provider on its own
// format's path, built from the request's model and stream flag, without
// the client's query, with the headers the format requires.
func TestTranslatedRoute(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		query      url.Values
		req        Request
		to         string
		wantURL    string
		wantErr    error
		wantHeader string
	}{
		{name: "Anthropic to chat", path: "/v1/messages", req: Request{Model: "gpt-4.1", Stream: true}, to: OpenAIChat,
			wantURL: "https://p.example/api/v1/chat/completions"},
		{name: "chat to Anthropic", path: "/v1/chat/completions", req: Request{Model: "claude-sonnet-4-5"}, to: AnthropicMessages,
			wantURL: "https://p.example/api/v1/messages", wantHeader: anthropicVersion},
		{name: "chat to Responses", path: "/v1/chat/completions", req: Request{Model: "gpt-5"}, to: OpenAIResponses,
			wantURL: "https://p.example/api/v1/responses"},
		{name: "chat to Gemini, streamed", path: "/v1/chat/completions", req: Request{Model: "gemini-2.5-flash", Stream: true}, to: GeminiGenerateContent,
			wantURL: "https://p.example/api/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{name: "Gemini to chat drops the client's query", path: "/v1beta/models/gpt-4.1:streamGenerateContent", query: url.Values{"alt": {"sse"}, "key": {"AIza-client"}},
			req: Request{Model: "gpt-4.1", Stream: true}, to: OpenAIChat, wantURL: "https://p.example/api/v1/chat/completions"},
		{name: "chat to Bedrock Converse", path: "/v1/chat/completions", req: Request{Model: "anthropic.claude-sonnet-4-5-20250929-v1:0"}, to: BedrockConverse,
			wantURL: "https://p.example/api/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"},
		{name: "Anthropic to Bedrock Converse, streamed", path: "/v1/messages", req: Request{Model: "m", Stream: true}, to: BedrockConverse,
			wantURL: "https://p.example/api/model/m/converse-stream"},
		{name: "count_tokens does not translate", path: "/v1/messages/count_tokens", req: Request{Model: "gpt-4.1"}, to: OpenAIChat, wantErr: ErrNoTranslation},
		{name: "not to Vertex", path: "/v1/chat/completions", req: Request{Model: "gemini-2.5-pro"}, to: GoogleGenerateContent, wantErr: ErrNoTranslation},
		{name: "not to Bedrock InvokeModel", path: "/v1/chat/completions", req: Request{Model: "m"}, to: BedrockModelInvoke, wantErr: ErrNoTranslation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Detect(http.MethodPost, tt.path, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := r.Translated(tt.to, tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Translated = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !tr.IsTranslated() || tr.Format != r.Format || tr.UpstreamFormat != tt.to {
				t.Errorf("route formats %s -> %s, translated %v", tr.Format, tr.UpstreamFormat, tr.IsTranslated())
			}
			u, err := UpstreamURL("https://p.example/api/", tr, tt.query, Vertex{})
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tt.wantURL {
				t.Errorf("URL %s, want %s", u, tt.wantURL)
			}
			h := http.Header{}
			SetTranslatedHeaders(tr, h)
			if got := h.Get("anthropic-version"); got != tt.wantHeader {
				t.Errorf("anthropic-version %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

// TestTranslatedSameFormat: translating to the client's own format is the
// untranslated route.
func TestTranslatedSameFormat(t *testing.T) {
	r, _ := Detect(http.MethodPost, "/v1/messages", nil)
	tr, err := r.Translated(AnthropicMessages, Request{Model: "m"})
	if err != nil || tr.IsTranslated() || tr.UpstreamFormat != AnthropicMessages {
		t.Fatalf("Translated(own) = %+v, %v", tr, err)
	}
	h := http.Header{}
	SetTranslatedHeaders(tr, h)
	if len(h) != 0 {
		t.Errorf("headers %v added to an untranslated request", h)
	}
}

// TestInspectUpstream: a translated body is read in the upstream format;
// where the path names the model, a body naming another is refused.
func TestInspectUpstream(t *testing.T) {
	r, _ := Detect(http.MethodPost, "/v1/chat/completions", nil)
	gem, _ := r.Translated(GeminiGenerateContent, Request{Model: "gemini-2.5-flash", Stream: true})
	req, err := InspectUpstream(gem, []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
	if err != nil || req.Model != "gemini-2.5-flash" || !req.Stream {
		t.Errorf("Gemini body: %+v, %v", req, err)
	}
	if _, err := InspectUpstream(gem, []byte(`{"model":"models/other","contents":[]}`)); !errors.Is(err, ErrModelMismatch) {
		t.Errorf("Gemini body naming another model: %v", err)
	}
	anth, _ := r.Translated(AnthropicMessages, Request{Model: "claude"})
	req, err = InspectUpstream(anth, []byte(`{"model":"claude","max_tokens":5,"stream":true,"messages":[]}`))
	if err != nil || req.Model != "claude" || !req.Stream {
		t.Errorf("Anthropic body: %+v, %v", req, err)
	}
	if _, err := InspectUpstream(anth, []byte(`{"max_tokens":5,"messages":[]}`)); !errors.Is(err, ErrNoModel) {
		t.Errorf("Anthropic body without a model: %v", err)
	}
}

// TestCompleteTranslated: a translated body names the model and stream
// flag the client's path gave, where its format keeps them in the body.
func TestCompleteTranslated(t *testing.T) {
	gem, _ := Detect(http.MethodPost, "/v1beta/models/gpt-4.1:streamGenerateContent", url.Values{"alt": {"sse"}})
	tests := []struct {
		name  string
		route Route
		to    string
		req   Request
		body  string
		want  string
	}{
		{name: "Gemini stream to chat", route: gem, to: OpenAIChat, req: Request{Model: "gpt-4.1", Stream: true},
			body: `{"messages":[]}`, want: `{"messages":[],"model":"gpt-4.1","stream":true}`},
		{name: "already complete", route: gem, to: AnthropicMessages, req: Request{Model: "claude", Stream: true},
			body: `{"model":"claude","stream":true,"max_tokens":5,"messages":[]}`, want: `{"model":"claude","stream":true,"max_tokens":5,"messages":[]}`},
		{name: "model in the path upstream too", route: gem, to: BedrockConverse, req: Request{Model: "m", Stream: true},
			body: `{"messages":[]}`, want: `{"messages":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.route.Translated(tt.to, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := CompleteTranslated(r, []byte(tt.body))
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzModelAndStream holds CompleteTranslated's quick look at a body's
// model and stream flag to what decoding the body reads.
func FuzzModelAndStream(f *testing.F) {
	for _, s := range []string{`{"model":"claude","stream":true,"max_tokens":5}`, `{"model":"a","stream":null}`,
		` {"model":"\u0061","model":"b","stream":false} `, `{"model":1,"stream":"yes"}`, `{"MODEL":"x"}`,
		`{"model":"x"} {}`, `{"model":"x","n":[1,{"a":"\ud83d"}]}`, `[]`, `{"stream":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		model, stream, ok := modelAndStream(body)
		if !ok {
			return
		}
		var obj map[string]json.RawMessage
		if err := decodeObject(body, &obj); err != nil {
			t.Fatalf("%s: read %q %v, but the body does not decode: %v", body, model, stream, err)
		}
		var wantModel string
		var wantStream bool
		_ = json.Unmarshal(obj["model"], &wantModel)
		_ = json.Unmarshal(obj["stream"], &wantStream)
		if model != wantModel || stream != wantStream {
			t.Fatalf("%s: read %q %v, want %q %v", body, model, stream, wantModel, wantStream)
		}
	})
}

// BenchmarkTranslatedRecheck measures what the gateway does with a
// translated request body before sending it: complete it (nothing to do
// for an Anthropic client's) and read it again in the upstream's format.
// The body is what package translate writes for the load benchmark's
// streamed Anthropic request to a chat provider.
func BenchmarkTranslatedRecheck(b *testing.B) {
	body := []byte(`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}],"max_tokens":1024,"stream":true}`)
	r, err := Detect(http.MethodPost, "/v1/messages", nil)
	if err != nil {
		b.Fatal(err)
	}
	if r, err = r.Translated(OpenAIChat, Request{Model: "gpt-5", Stream: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := CompleteTranslated(r, body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := InspectUpstream(r, out); err != nil {
			b.Fatal(err)
		}
	}
}
