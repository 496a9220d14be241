package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
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
