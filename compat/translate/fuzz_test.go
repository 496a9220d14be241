package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat/sse"
)

// fuzzTranslation checks one direction on arbitrary bodies: no panic, and
// whatever translates is valid JSON that the target's own translator reads
// back.
func fuzzTranslation(f *testing.F, from, to string, request bool) {
	prefix := "response-"
	if request {
		prefix = "request-"
	}
	seeds, _ := filepath.Glob(filepath.Join(fixtureDir, from+"-"+to, prefix+"*.json"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil && filepath.Ext(p[:len(p)-len(".json")]) != ".golden" {
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var out []byte
		var err error
		if request {
			out, err = RequestBody(from, to, body)
		} else {
			out, err = ResponseBody(from, to, body, fixedNow)
		}
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("translated %s into invalid JSON %s", body, out)
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
	})
}

func FuzzRequestOpenAIChatToAnthropic(f *testing.F) {
	fuzzTranslation(f, "openai_chat", "anthropic_messages", true)
}

func FuzzRequestAnthropicToOpenAIChat(f *testing.F) {
	fuzzTranslation(f, "anthropic_messages", "openai_chat", true)
}

func FuzzResponseOpenAIChatToAnthropic(f *testing.F) {
	fuzzTranslation(f, "openai_chat", "anthropic_messages", false)
}

func FuzzResponseAnthropicToOpenAIChat(f *testing.F) {
	fuzzTranslation(f, "anthropic_messages", "openai_chat", false)
}

// fuzzStream: on any upstream bytes, however split, a stream translator
// does not panic, gives the same output for every split, and writes only
// complete events whose data is JSON (or chat's [DONE]).
func fuzzStream(f *testing.F, from, to string) {
	seeds, _ := filepath.Glob(filepath.Join(fixtureDir, from+"-"+to, "stream-*.sse"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".golden.sse") {
			f.Add(b, uint16(len(b)/2))
		}
	}
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3}]}}]}\n\n"), uint16(5))
	f.Add([]byte("data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\"}}\n\n"), uint16(9))
	f.Fuzz(func(t *testing.T, body []byte, at uint16) {
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
			t.Fatalf("split at %d changes the output:\n%s\n---\n%s", i, whole, split)
		}
		var p sse.Parser
		if err := p.Feed(whole, func(ev sse.Event) {
			if !json.Valid(ev.Data) && string(ev.Data) != "[DONE]" {
				t.Fatalf("event %s carries invalid JSON %s", ev.Name, ev.Data)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if len(whole) > 0 && !bytes.HasSuffix(whole, []byte("\n\n")) {
			t.Fatalf("output ends mid-event: %q", whole)
		}
	})
}

func FuzzStreamOpenAIChatToAnthropic(f *testing.F) {
	fuzzStream(f, "openai_chat", "anthropic_messages")
}

func FuzzStreamAnthropicToOpenAIChat(f *testing.F) {
	fuzzStream(f, "anthropic_messages", "openai_chat")
}
