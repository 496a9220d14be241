package compat

import "testing"

func TestMaxOutputTokens(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int64
		ok   bool
	}{
		{"openai chat max_tokens", `{"model":"gpt-5","max_tokens":100}`, 100, true},
		{"openai chat both", `{"max_tokens":100,"max_completion_tokens":300}`, 300, true},
		{"responses", `{"max_output_tokens":2048}`, 2048, true},
		{"anthropic", `{"model":"claude","max_tokens":1024,"messages":[]}`, 1024, true},
		{"gemini", `{"generationConfig":{"maxOutputTokens":512}}`, 512, true},
		{"converse", `{"inferenceConfig":{"maxTokens":64}}`, 64, true},
		{"none", `{"model":"gpt-5"}`, 0, false},
		{"zero", `{"max_tokens":0}`, 0, false},
		{"negative", `{"max_tokens":-5}`, 0, false},
		{"not a number", `{"max_tokens":"100"}`, 0, false},
		{"not json", `max_tokens=100`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MaxOutputTokens([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("MaxOutputTokens(%s) = %d, %v; want %d, %v", tt.body, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzMaxOutputTokens(f *testing.F) {
	for _, s := range []string{`{"max_tokens":100}`, `{"generationConfig":{"maxOutputTokens":512}}`, `{"inferenceConfig":{"maxTokens":1e3}}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if n, ok := MaxOutputTokens(body); ok != (n > 0) {
			t.Fatalf("MaxOutputTokens = %d, %v", n, ok)
		}
	})
}
