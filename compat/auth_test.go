package compat

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestStripClientCredentials(t *testing.T) {
	h := http.Header{}
	for _, name := range []string{"Authorization", "Proxy-Authorization", "x-api-key", "X-Goog-Api-Key", "api-key",
		"X-Amz-Security-Token", "X-Amz-Date", "X-Amz-Content-Sha256", "Cookie"} {
		h.Set(name, "client-secret")
	}
	keep := map[string]string{
		"Content-Type":      "application/json",
		"Anthropic-Version": "2023-06-01",
		"Anthropic-Beta":    "prompt-caching-2024-07-31",
		"User-Agent":        "claude-cli/2.0.1",
		"X-Stainless-Lang":  "go",
		"Accept":            "text/event-stream",
	}
	for k, v := range keep {
		h.Set(k, v)
	}
	q := url.Values{"key": {"AIza"}, "KEY": {"x"}, "access_token": {"ya29"}, "api_key": {"k"}, "api-key": {"k"},
		"X-Amz-Signature": {"sig"}, "x-amz-credential": {"cred"}, "alt": {"sse"}, "beta": {"true"}}

	StripClientCredentials(h, q)

	for name := range h {
		if _, ok := keep[name]; !ok {
			t.Errorf("header %s survived", name)
		}
	}
	for k, v := range keep {
		if h.Get(k) != v {
			t.Errorf("header %s lost", k)
		}
	}
	if len(q) != 2 || q.Get("alt") != "sse" || q.Get("beta") != "true" {
		t.Errorf("query after stripping: %v", q)
	}
	StripClientCredentials(http.Header{}, nil) // nil query is fine
}

func TestSetAuth(t *testing.T) {
	tests := []struct {
		authType, key string
		header, value string
		wantErr       error
	}{
		{authType: AuthBearer, key: "sk-proj-1", header: "Authorization", value: "Bearer sk-proj-1"},
		{authType: "", key: "bedrock-api-key-2", header: "Authorization", value: "Bearer bedrock-api-key-2"},
		{authType: AuthXAPIKey, key: "sk-ant-3", header: "X-Api-Key", value: "sk-ant-3"},
		{authType: AuthXGoogAPIKey, key: "AIza4", header: "X-Goog-Api-Key", value: "AIza4"},
		{authType: AuthBearer, key: "", header: "Authorization", value: ""},
		{authType: "basic", key: "k", wantErr: ErrAuthType},
	}
	for _, tt := range tests {
		t.Run(tt.authType+"/"+tt.key, func(t *testing.T) {
			h := http.Header{}
			err := SetAuth(h, tt.authType, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if got := h.Get(tt.header); got != tt.value {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.value)
			}
			if want := 0; tt.value == "" && len(h) != want {
				t.Errorf("an empty key set headers: %v", h)
			}
		})
	}
}
