package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/compat/sse"
)

// allFormats are the formats with translators, in documentation order.
var allFormats = []string{"openai_chat", "openai_responses", "anthropic_messages", "gemini_generate_content", "bedrock_converse"}

// fuzzSeeds adds the inputs in format from matching pattern: its own under
// from/, and those of every pair folder it starts.
func fuzzSeeds(from, pattern string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "from", from, pattern))
	pairs, _ := filepath.Glob(filepath.Join(fixtureDir, from+"-*", pattern))
	var out [][]byte
	for _, p := range append(paths, pairs...) {
		if strings.Contains(filepath.Base(p), ".golden.") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// fuzzBodies checks one format's translator on arbitrary bodies, into
// every other format: no panic, and whatever translates is valid JSON
// that the target's own translator reads back.
func fuzzBodies(f *testing.F, from string, request bool) {
	pattern := "response-*.json"
	if request {
		pattern = "request-*.json"
	}
	for _, b := range fuzzSeeds(from, pattern) {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, to := range allFormats {
			if to == from {
				continue
			}
			var out []byte
			var err error
			if request {
				out, err = RequestBodyFor(from, to, body, pathModels[from], false)
			} else {
				out, err = ResponseBody(from, to, body, optionsFor(from))
			}
			if err != nil {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("%s: translated %s into invalid JSON %s", to, body, out)
			}
			back := translators[to]
			if request {
				_, err = back.decodeRequest(out)
			} else {
				_, err = back.decodeResponse(out)
			}
			if err != nil {
				t.Fatalf("%s cannot read its own translation %s of %s: %v", to, out, body, err)
			}
		}
	})
}

func FuzzRequestOpenAIChat(f *testing.F)        { fuzzBodies(f, "openai_chat", true) }
func FuzzRequestOpenAIResponses(f *testing.F)   { fuzzBodies(f, "openai_responses", true) }
func FuzzRequestAnthropicMessages(f *testing.F) { fuzzBodies(f, "anthropic_messages", true) }
func FuzzRequestGemini(f *testing.F)            { fuzzBodies(f, "gemini_generate_content", true) }
func FuzzRequestBedrockConverse(f *testing.F)   { fuzzBodies(f, "bedrock_converse", true) }

func FuzzResponseOpenAIChat(f *testing.F)        { fuzzBodies(f, "openai_chat", false) }
func FuzzResponseOpenAIResponses(f *testing.F)   { fuzzBodies(f, "openai_responses", false) }
func FuzzResponseAnthropicMessages(f *testing.F) { fuzzBodies(f, "anthropic_messages", false) }
func FuzzResponseGemini(f *testing.F)            { fuzzBodies(f, "gemini_generate_content", false) }
func FuzzResponseBedrockConverse(f *testing.F)   { fuzzBodies(f, "bedrock_converse", false) }

// fuzzStream: on any upstream bytes, however split, a stream translator
// into every other format does not panic, gives the same output for every
// split, and writes only complete events whose data is JSON (or chat's
// [DONE]); into Bedrock, only whole frames with JSON payloads.
func fuzzStream(f *testing.F, from string, seeds ...[]byte) {
	for _, b := range fuzzSeeds(from, "stream-*.sse") {
		f.Add(b, uint16(len(b)/2))
	}
	for _, p := range fuzzSeedPaths(from, "stream-*.events.json") {
		f.Add(readStream(f, p), uint16(100))
	}
	for _, s := range seeds {
		f.Add(s, uint16(5))
	}
	f.Fuzz(func(t *testing.T, body []byte, at uint16) {
		for _, to := range allFormats {
			if to == from {
				continue
			}
			run := func(parts ...[]byte) []byte {
				var out bytes.Buffer
				s, err := NewStream(from, to, &out, Options{Now: fixedNow.Now, StreamUsage: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range parts {
					s.Write(p)
				}
				s.Close()
				return out.Bytes()
			}
			i := int(at) % (len(body) + 1)
			whole, split := run(body), run(body[:i], body[i:])
			if !bytes.Equal(whole, split) {
				t.Fatalf("%s: split at %d changes the output:\n%q\n---\n%q", to, i, whole, split)
			}
			checkStreamOutput(t, to, whole)
		}
	})
}

func fuzzSeedPaths(from, pattern string) []string {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "from", from, pattern))
	return paths
}

// checkStreamOutput fails unless a translated stream is well formed in
// its format.
func checkStreamOutput(t *testing.T, to string, out []byte) {
	t.Helper()
	if to == "bedrock_converse" {
		var d eventstream.Decoder
		err := d.Feed(out, func(m eventstream.Message) {
			if !json.Valid(m.Payload) {
				t.Fatalf("frame %s carries invalid JSON %s", eventstream.Header(m, eventstream.HeaderEventType), m.Payload)
			}
		})
		if err == nil {
			err = d.End()
		}
		if err != nil {
			t.Fatalf("translated event stream: %v", err)
		}
		return
	}
	var p sse.Parser
	if err := p.Feed(out, func(ev sse.Event) {
		if !json.Valid(ev.Data) && string(ev.Data) != "[DONE]" {
			t.Fatalf("%s: event %s carries invalid JSON %s", to, ev.Name, ev.Data)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("%s: output ends mid-event: %q", to, out)
	}
}

func FuzzStreamOpenAIChat(f *testing.F) {
	fuzzStream(f, "openai_chat", []byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3}]}}]}\n\n"))
}

func FuzzStreamOpenAIResponses(f *testing.F) {
	fuzzStream(f, "openai_responses", []byte("data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":4,\"delta\":\"{\"}\n\n"))
}

func FuzzStreamAnthropicMessages(f *testing.F) {
	fuzzStream(f, "anthropic_messages", []byte("data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\"}}\n\n"))
}

func FuzzStreamGemini(f *testing.F) {
	fuzzStream(f, "gemini_generate_content", []byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":[1]}}]}}]}\n\n"))
}

func FuzzStreamBedrockConverse(f *testing.F) {
	fuzzStream(f, "bedrock_converse")
}
