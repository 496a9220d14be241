package jsonbytes

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// The jobs the stream path gives the toolkit, each done with it and with
// go-json-experiment's jsontext (a tokenizer that validates as it reads,
// decoder reused across calls), to show which is faster for the job:
//
//   - top-level values: the usage and finish-reason chunks of a chat
//     stream, whose choices and usage the recorder reads;
//   - any key: every content chunk, which the recorder skips when no key
//     names tool calls, usage, an error or a finish reason;
//   - members: a request body whose stream_options is edited in place.

var (
	contentChunk = []byte(`{"id":"chatcmpl-C1a2b3c4d5e6f7","object":"chat.completion.chunk","created":1764950000,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_0123456789","choices":[{"index":0,"delta":{"content":" the weather in Paris"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Bq9x"}`)
	usageChunk   = []byte(`{"id":"chatcmpl-C1a2b3c4d5e6f7","object":"chat.completion.chunk","created":1764950000,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_0123456789","choices":[],"usage":{"prompt_tokens":118,"completion_tokens":52,"total_tokens":170,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x"}`)
	requestBody  = []byte(`{"model":"gpt-4.1","stream":true,"messages":[{"role":"system","content":"` + strings.Repeat("You are a helpful assistant. ", 120) +
		`"},{"role":"user","content":"What is the weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"temperature":0.2}`)
	anyKeyNames = []string{"tool_calls", "error", "finish_reason", "usage"}
)

func BenchmarkTopValues(b *testing.B) {
	b.Run("jsonbytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(usageChunk)))
		for b.Loop() {
			v, err := Values(usageChunk, "choices", "usage")
			if err != nil || v[1] == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsontext", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(usageChunk)))
		var r bytes.Reader
		dec := jsontext.NewDecoder(&r)
		for b.Loop() {
			r.Reset(usageChunk)
			dec.Reset(&r)
			var choices, usage jsontext.Value
			if _, err := dec.ReadToken(); err != nil {
				b.Fatal(err)
			}
			for dec.PeekKind() != '}' {
				k, err := dec.ReadToken()
				if err != nil {
					b.Fatal(err)
				}
				switch k.String() {
				case "choices":
					choices, err = dec.ReadValue()
				case "usage":
					usage, err = dec.ReadValue()
				default:
					err = dec.SkipValue()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if choices == nil || usage == nil {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkAnyKey(b *testing.B) {
	b.Run("jsonbytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(contentChunk)))
		for b.Loop() {
			found := 0
			EachKey(contentChunk, func(k Key, _ int) bool {
				if k.FoldIndex(anyKeyNames) >= 0 {
					found++
				}
				return true
			})
			if found != 2 { // finish_reason and usage, both null
				b.Fatalf("found %d", found)
			}
		}
	})
	b.Run("jsontext", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(contentChunk)))
		var r bytes.Reader
		dec := jsontext.NewDecoder(&r)
		for b.Loop() {
			r.Reset(contentChunk)
			dec.Reset(&r)
			found := 0
			for {
				// A string read where an object expects a name is a key.
				kind, n := dec.StackIndex(dec.StackDepth())
				isKey := kind == '{' && n%2 == 0 && dec.PeekKind() == '"'
				tok, err := dec.ReadToken()
				if err != nil {
					break
				}
				if isKey {
					for _, name := range anyKeyNames {
						if strings.EqualFold(tok.String(), name) {
							found++
						}
					}
				}
			}
			if found != 2 {
				b.Fatalf("found %d", found)
			}
		}
	})
}

func BenchmarkMembers(b *testing.B) {
	b.Run("jsonbytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(requestBody)))
		for b.Loop() {
			n := 0
			if _, err := Members(requestBody, func(Member) bool { n++; return true }); err != nil || n != 5 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("jsontext", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(requestBody)))
		var r bytes.Reader
		dec := jsontext.NewDecoder(&r)
		for b.Loop() {
			r.Reset(requestBody)
			dec.Reset(&r)
			if _, err := dec.ReadToken(); err != nil {
				b.Fatal(err)
			}
			n := 0
			for dec.PeekKind() != '}' {
				if _, err := dec.ReadToken(); err != nil {
					b.Fatal(err)
				}
				start := dec.InputOffset()
				if err := dec.SkipValue(); err != nil {
					b.Fatal(err)
				}
				_ = start
				n++
			}
			if n != 5 {
				b.Fatal(n)
			}
		}
	})
}
