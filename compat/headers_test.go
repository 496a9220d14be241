package compat

import (
	"net/http"
	"testing"
)

func TestForwardedHeader(t *testing.T) {
	tests := []struct {
		format, name string
		want         bool
	}{
		{OpenAIChat, "content-type", true},
		{OpenAIChat, "OpenAI-Beta", true},
		{OpenAIChat, "x-stainless-os", true},
		{OpenAIChat, "X-Stainless-", false},
		{OpenAIChat, "Anthropic-Version", false},
		{OpenAIChat, "OpenAI-Organization", false},
		{OpenAIChat, "OpenAI-Project", false},
		{OpenAIChat, "Api_Key", false},
		{OpenAIChat, "Ocp-Apim-Subscription-Key", false},
		{AnthropicMessages, "anthropic-version", true},
		{AnthropicMessages, "anthropic-beta", true},
		{AnthropicMessages, "X-Api-Key", false},
		{AnthropicMessages, "Authorization", false},
		{GeminiGenerateContent, "x-goog-api-client", true},
		{GeminiGenerateContent, "x-goog-api-key", false},
		{GoogleGenerateContent, "X-Goog-User-Project", false},
		{GoogleRawPredict, "anthropic-beta", true},
		{GoogleRawPredict, "anthropic-version", false},
		{BedrockConverse, "X-Amzn-Bedrock-GuardrailIdentifier", true},
		{BedrockModelInvoke, "x-amzn-bedrock-performanceconfig-latency", true},
		{BedrockModelInvoke, "X-Amz-Security-Token", false},
		{BedrockModelInvoke, "X-Amz-Date", false},
		{BedrockModelInvoke, "session_id", true},
		{BedrockModelInvoke, "Cookie", false},
		{"unknown-format", "Traceparent", true},
		{"unknown-format", "OpenAI-Beta", false},
	}
	for _, tt := range tests {
		if got := ForwardedHeader(tt.format, tt.name); got != tt.want {
			t.Errorf("ForwardedHeader(%s, %s) = %v, want %v", tt.format, tt.name, got, tt.want)
		}
	}
}

// TestEveryFormatHasHeaderTable: a new format forwards nothing of its own
// until it lists its headers.
func TestEveryFormatHasHeaderTable(t *testing.T) {
	for _, f := range Formats() {
		if _, ok := forwardHeaders[f]; !ok {
			t.Errorf("%s has no header allow-list", f)
		}
	}
}

func TestFilterRequestHeaders(t *testing.T) {
	h := http.Header{"Anthropic-Version": {"2023-06-01"}, "X-Api-Key": {"k"}, "Content-Encoding": {"gzip"}, "X-Unknown": {"1"}}
	FilterRequestHeaders(AnthropicMessages, h)
	if len(h) != 1 || h.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("kept %v", h)
	}
}
