package compat

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestUpstreamURL(t *testing.T) {
	const vertexPH = "/v1/projects/" + VertexProjectPlaceholder + "/locations/" + VertexRegionPlaceholder
	tests := []struct {
		name    string
		base    string
		path    string // client path with query
		vx      Vertex
		want    string
		wantErr error
	}{
		{name: "openai", base: "https://api.openai.com", path: "/v1/chat/completions",
			want: "https://api.openai.com/v1/chat/completions"},
		{name: "trailing slash", base: "https://api.openai.com/", path: "/chat/completions",
			want: "https://api.openai.com/v1/chat/completions"},
		{name: "prefix with trailing slash", base: "https://openrouter.ai/api/", path: "/v1/chat/completions",
			want: "https://openrouter.ai/api/v1/chat/completions"},
		{name: "prefix without trailing slash", base: "https://openrouter.ai/api", path: "/v1/chat/completions",
			want: "https://openrouter.ai/api/v1/chat/completions"},
		{name: "base already ends in v1", base: "http://127.0.0.1:11434/v1", path: "/v1/chat/completions",
			want: "http://127.0.0.1:11434/v1/chat/completions"},
		{name: "base ends in v1 with slash", base: "http://127.0.0.1:8000/v1/", path: "/v1/responses/compact",
			want: "http://127.0.0.1:8000/v1/responses/compact"},
		{name: "anthropic keeps client query", base: "https://api.anthropic.com", path: "/v1/messages/count_tokens?beta=true",
			want: "https://api.anthropic.com/v1/messages/count_tokens?beta=true"},
		{name: "gemini strips key", base: "https://generativelanguage.googleapis.com",
			path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaClientKey",
			want: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{name: "gemini base with version", base: "https://generativelanguage.googleapis.com/v1beta/",
			path: "/v1beta/models/gemini-2.5-flash:generateContent",
			want: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "bedrock model id escaped like the SDKs", base: "https://bedrock-runtime.us-east-1.amazonaws.com",
			path: "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream",
			want: "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"},
		{name: "bedrock ARN", base: "https://bedrock-runtime.us-west-2.amazonaws.com",
			path: "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse",
			want: "https://bedrock-runtime.us-west-2.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse"},
		{name: "vertex placeholders replaced", base: "https://aiplatform.googleapis.com",
			path: vertexPH + "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
			vx:   Vertex{Project: "acme-ml", Region: "us-east5"},
			want: "https://aiplatform.googleapis.com/v1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"},
		{name: "vertex region defaults to global", base: "https://aiplatform.googleapis.com/",
			path: vertexPH + "/publishers/google/models/gemini-2.5-pro:generateContent",
			vx:   Vertex{Project: "acme-ml"},
			want: "https://aiplatform.googleapis.com/v1/projects/acme-ml/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"},
		{name: "vertex region in the host", base: "https://" + VertexRegionPlaceholder + "-aiplatform.googleapis.com",
			path: vertexPH + "/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
			vx:   Vertex{Project: "acme-ml", Region: "europe-west4"},
			want: "https://europe-west4-aiplatform.googleapis.com/v1/projects/acme-ml/locations/europe-west4/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"},
		{name: "vertex path naming the provider's project and region", base: "https://aiplatform.googleapis.com",
			path: "/v1beta1/projects/acme-ml/locations/us-east5/publishers/google/models/gemini-2.5-flash:countTokens",
			vx:   Vertex{Project: "acme-ml", Region: "us-east5"},
			want: "https://aiplatform.googleapis.com/v1beta1/projects/acme-ml/locations/us-east5/publishers/google/models/gemini-2.5-flash:countTokens"},
		{name: "vertex path naming another project", base: "https://aiplatform.googleapis.com",
			path:    "/v1beta1/projects/other/locations/us-east5/publishers/google/models/gemini-2.5-flash:countTokens",
			vx:      Vertex{Project: "acme-ml", Region: "us-east5"},
			wantErr: ErrVertexPath},
		{name: "vertex path naming another region", base: "https://aiplatform.googleapis.com",
			path:    "/v1/projects/" + VertexProjectPlaceholder + "/locations/us-central1/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
			vx:      Vertex{Project: "acme-ml", Region: "us-east5"},
			wantErr: ErrVertexPath},
		{name: "vertex region from a regional base URL", base: "https://us-east5-aiplatform.googleapis.com",
			path: "/v1/projects/acme-ml/locations/" + VertexRegionPlaceholder + "/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
			vx:   Vertex{Project: "acme-ml"},
			want: "https://us-east5-aiplatform.googleapis.com/v1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5:rawPredict"},
		{name: "vertex global path against a regional base URL", base: "https://us-east5-aiplatform.googleapis.com",
			path:    "/v1/projects/acme-ml/locations/global/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
			vx:      Vertex{Project: "acme-ml"},
			wantErr: ErrVertexPath},
		{name: "vertex escaped project is still another project", base: "https://aiplatform.googleapis.com",
			path:    "/v1/projects/acme%2Dml%2F..%2Fother/locations/global/publishers/google/models/gemini-2.5-pro:generateContent",
			vx:      Vertex{Project: "acme-ml"},
			wantErr: ErrVertexPath},
		{name: "vertex literal project without a provider project", base: "https://aiplatform.googleapis.com",
			path:    "/v1/projects/other/locations/global/publishers/google/models/gemini-2.5-pro:generateContent",
			wantErr: ErrVertexProject},
		{name: "vertex express mode names no project", base: "https://aiplatform.googleapis.com",
			path: "/v1/publishers/google/models/gemini-2.5-pro:generateContent",
			want: "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-pro:generateContent"},
		{name: "vertex placeholder without project", base: "https://aiplatform.googleapis.com",
			path:    vertexPH + "/publishers/google/models/gemini-2.5-pro:generateContent",
			wantErr: ErrVertexProject},
		{name: "base query wins over the client's", base: "https://example.openai.azure.com/openai?api-version=2024-10-21",
			path: "/v1/chat/completions?api-version=1999-01-01&api-key=client",
			want: "https://example.openai.azure.com/openai/v1/chat/completions?api-version=2024-10-21"},
		{name: "presigned AWS parameters stripped", base: "https://bedrock-runtime.us-east-1.amazonaws.com",
			path: "/model/amazon.nova-lite-v1:0/converse?X-Amz-Signature=abc&X-Amz-Credential=def",
			want: "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-lite-v1%3A0/converse"},
		{name: "not a URL", base: "::::", path: "/v1/messages", wantErr: ErrBaseURL},
		{name: "not http", base: "ftp://files.example.com", path: "/v1/messages", wantErr: ErrBaseURL},
		{name: "no host", base: "https:///v1", path: "/v1/messages", wantErr: ErrBaseURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Detect(http.MethodPost, u.EscapedPath(), u.Query())
			if err != nil {
				t.Fatal(err)
			}
			got, err := UpstreamURL(tt.base, r, u.Query(), tt.vx)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			// A base URL parsed once answers the same for every request:
			// nothing of one request stays in it for the next.
			base := ParseBaseURL(tt.base)
			for i := range 2 {
				again, err := base.UpstreamURL(r, u.Query(), tt.vx)
				if err != nil || again.String() != tt.want {
					t.Errorf("parsed once, request %d: %v %v, want %s", i+1, again, err, tt.want)
				}
			}
			// The URL must survive a round trip through net/http unchanged.
			req, err := http.NewRequest(http.MethodPost, got.String(), nil)
			if err != nil || req.URL.String() != tt.want {
				t.Errorf("round trip: %v %v", req.URL, err)
			}
		})
	}
}

func TestUpstreamURLUnknownFormat(t *testing.T) {
	if _, err := UpstreamURL("https://api.openai.com", Route{Format: "nope"}, nil, Vertex{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("error %v", err)
	}
}

func TestIsVersion(t *testing.T) {
	for seg, want := range map[string]bool{"v1": true, "v1beta": true, "v1beta1": true, "v2alpha": true, "v10": true,
		"v": false, "api": false, "vx1": false, "v1gamma": false, "models": false} {
		if isVersion(seg) != want {
			t.Errorf("isVersion(%q) = %v", seg, !want)
		}
	}
}
