package compat

import "testing"

func TestSameButStrings(t *testing.T) {
	const a = `{"id":"c","choices":[{"index":0,"delta":{"content":"tok1 "},"finish_reason":null}],"usage":null,"obfuscation":"ab"}`
	tests := []struct {
		name, prev, c string
		want          bool
	}{
		{"same", a, a, true},
		{"other content", a, `{"id":"c","choices":[{"index":0,"delta":{"content":"another token"},"finish_reason":null}],"usage":null,"obfuscation":"ab"}`, true},
		{"content and obfuscation", a, `{"id":"c","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}],"usage":null,"obfuscation":"xyz12"}`, true},
		{"finish reason", a, `{"id":"c","choices":[{"index":0,"delta":{"content":"tok1 "},"finish_reason":"stop"}],"usage":null,"obfuscation":"ab"}`, false},
		{"colon in content", a, `{"id":"c","choices":[{"index":0,"delta":{"content":"a: b"},"finish_reason":null}],"usage":null,"obfuscation":"ab"}`, false},
		{"text is a key", `{"a":"x"  ,"b":null}`, `{"a":"usage"  :"b":null}`, false},
		{"number", `{"created":1,"a":"x"}`, `{"created":2,"a":"x"}`, false},
		{"shorter", a, a[:len(a)-1], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameButStrings([]byte(tt.prev), []byte(tt.c)); got != tt.want {
				t.Errorf("sameButStrings = %v, want %v", got, tt.want)
			}
		})
	}
}
