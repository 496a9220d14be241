package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/compat"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/translate")

// fixtureDir holds the inputs and goldens. from/FORMAT/ holds inputs in
// FORMAT that are translated into every other format: request-*.json are
// client requests, response-*.json upstream answers, stream-*.sse (and
// Bedrock's stream-*.events.json) upstream streams. A folder FROM-TO holds
// the goldens of those inputs for that direction (NAME.golden.json,
// NAME.golden.sse), and inputs of its own that concern that pair alone.
// A golden {"refused": MESSAGE} says the translation is refused.
var fixtureDir = filepath.Join("..", "..", "testdata", "translate")

// fixedNow stamps answers whose format carries no time.
var fixedNow = Options{Now: func() time.Time { return time.Unix(1764950000, 0) }}

// pathModels are the models of requests whose format names the model in
// the URL, as the gateway passes them to RequestBodyFor.
var pathModels = map[string]string{
	"gemini_generate_content": "gemini-2.5-flash",
	"bedrock_converse":        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
}

// optionsFor are the options a translation of an answer from a format is
// made with: Bedrock's answers name no model, so the request's is given.
func optionsFor(from string) Options {
	o := fixedNow
	o.Model = pathModels[from]
	if from != "bedrock_converse" {
		o.Model = ""
	}
	return o
}

type fixture struct {
	from, to, name, path string
	request              bool
}

// golden is where a fixture's translation is kept.
func (fx fixture) golden(ext string) string {
	return filepath.Join(fixtureDir, fx.from+"-"+fx.to, fx.name+".golden"+ext)
}

// inputs lists the inputs matching pattern (request-*.json ...) for every
// direction: each of from/FORMAT/ for every other format, and each of a
// FROM-TO folder for that pair.
func inputs(t *testing.T, pattern string) []fixture {
	t.Helper()
	var out []fixture
	formats, _ := filepath.Glob(filepath.Join(fixtureDir, "from", "*"))
	for _, dir := range formats {
		from := filepath.Base(dir)
		paths, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, to := range []string{"openai_chat", "openai_responses", "anthropic_messages", "gemini_generate_content", "bedrock_converse"} {
			if to == from {
				continue
			}
			if !Supported(from, to) {
				t.Fatalf("%s to %s is not supported", from, to)
			}
			for _, p := range paths {
				out = append(out, fixture{from, to, inputName(p), p, strings.HasPrefix(filepath.Base(p), "request-")})
			}
		}
	}
	pairs, _ := filepath.Glob(filepath.Join(fixtureDir, "*-*", pattern))
	for _, p := range pairs {
		if strings.Contains(filepath.Base(p), ".golden.") {
			continue
		}
		from, to, ok := strings.Cut(filepath.Base(filepath.Dir(p)), "-")
		if !ok || !Supported(from, to) {
			t.Fatalf("%s: folder names no supported translation", p)
		}
		out = append(out, fixture{from, to, inputName(p), p, strings.HasPrefix(filepath.Base(p), "request-")})
	}
	return out
}

func inputName(p string) string {
	b := filepath.Base(p)
	return b[:strings.Index(b, ".")]
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	out := append(inputs(t, "request-*.json"), inputs(t, "response-*.json")...)
	if len(out) < 80 {
		t.Fatalf("found %d fixtures", len(out))
	}
	return out
}

// translateFixture translates a body fixture; a refusal is returned as
// the JSON {"refused": MESSAGE}, any other error fails the test.
func translateFixture(t *testing.T, fx fixture, in []byte) []byte {
	t.Helper()
	var out []byte
	var err error
	if fx.request {
		out, err = RequestBodyFor(fx.from, fx.to, in, pathModels[fx.from], false)
	} else {
		out, err = ResponseBody(fx.from, fx.to, in, optionsFor(fx.from))
	}
	var ue *UnsupportedError
	if errors.As(err, &ue) {
		b, _ := json.Marshal(map[string]string{"refused": ue.Error()})
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func refused(b []byte) bool { return bytes.HasPrefix(b, []byte(`{"refused":`)) }

// TestGolden translates every fixture and compares with its golden file.
func TestGolden(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.from+"-"+fx.to+"/"+fx.name, func(t *testing.T) {
			in, err := os.ReadFile(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			out := translateFixture(t, fx, in)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				t.Fatalf("translation is not JSON: %v\n%s", err, out)
			}
			pretty.WriteByte('\n')
			golden := fx.golden(".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
				t.Errorf("translation differs from %s (-want +got; run go test -update and review):\n%s", golden, diff)
			}
		})
	}
}

// TestTranslationKeepsMeaning checks each translation with sluice's own
// reader of the target format: a translated request is one compat accepts,
// for the same model and stream flag; a translated answer records the same
// usage (so the same cost) and the same tool calls as the upstream's, but
// for counts the client's format has no field for.
func TestTranslationKeepsMeaning(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.from+"-"+fx.to+"/"+fx.name, func(t *testing.T) {
			in, err := os.ReadFile(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			out := translateFixture(t, fx, in)
			if refused(out) {
				t.Skipf("refused: %s", out)
			}
			if fx.request {
				src, err := compat.Inspect(compat.Route{Format: fx.from, UpstreamFormat: fx.from, Model: pathModels[fx.from]}, in)
				if err != nil {
					t.Fatal(err)
				}
				route := compat.Route{Format: fx.to, UpstreamFormat: fx.to}
				if pathModels[fx.to] != "" {
					// The gateway puts these in the upstream URL.
					route.Model, route.Stream = src.Model, src.Stream
				}
				dst, err := compat.Inspect(route, out)
				if err != nil {
					t.Fatalf("the translated request is refused in %s: %v\n%s", fx.to, err, out)
				}
				if src.Model != dst.Model || src.Stream != dst.Stream {
					t.Errorf("model %q stream %v became %q %v", src.Model, src.Stream, dst.Model, dst.Stream)
				}
				return
			}
			src, dst := record(t, fx.from, in), record(t, fx.to, out)
			alignUsage(fx.to, &src, dst)
			if diff := cmp.Diff(src.Usage, dst.Usage, cmp.AllowUnexported(src.Usage.Input)); diff != "" {
				t.Errorf("usage (-upstream +client):\n%s", diff)
			}
			if diff := cmp.Diff(src.ToolCalls, dst.ToolCalls); diff != "" {
				t.Errorf("tool calls (-upstream +client):\n%s", diff)
			}
			if src.Model != "" && fx.to != "bedrock_converse" && src.Model != dst.Model {
				t.Errorf("model %q became %q", src.Model, dst.Model)
			}
		})
	}
}

// alignUsage forgives the counts the client's format has no field for
// (and compat's recorders do not read): they stay counted in the input or
// output. The gateway's record reads the upstream's answer, so its cost
// keeps them.
func alignUsage(to string, src *compat.Result, dst compat.Result) {
	switch to {
	case "openai_chat", "openai_responses", "gemini_generate_content":
		src.Usage.CacheWrite = dst.Usage.CacheWrite // no field
	}
	if !src.Usage.CacheRead.Reported() && dst.Usage.CacheRead.Value() == 0 {
		src.Usage.CacheRead = dst.Usage.CacheRead // "none" said as 0
	}
	if !src.Usage.Reasoning.Reported() || !dst.Usage.Reasoning.Reported() {
		src.Usage.Reasoning = dst.Usage.Reasoning
	}
	// Gemini's calls may have no IDs; the translation names them.
	for i := range src.ToolCalls {
		if src.ToolCalls[i].ID == "" && i < len(dst.ToolCalls) {
			src.ToolCalls[i].ID = dst.ToolCalls[i].ID
		}
	}
}

func record(t *testing.T, format string, body []byte) compat.Result {
	t.Helper()
	r := compat.NewRecorder(format, false, compat.RecorderOptions{})
	if _, err := r.Write(body); err != nil {
		t.Fatal(err)
	}
	res := r.Result()
	if res.Err != nil {
		t.Fatalf("%s recorder: %v", format, res.Err)
	}
	return res
}

// TestUnsupported: what the target cannot say is refused by name, never
// dropped.
func TestUnsupported(t *testing.T) {
	tests := []struct {
		name, from, to, body, what string
	}{
		{"several choices", "openai_chat", "anthropic_messages", `{"model":"m","n":2,"messages":[]}`, `"n" above 1`},
		{"json schema answer", "openai_chat", "anthropic_messages",
			`{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"text","schema":{}}}}`, "a JSON response format"},
		{"json answer to bedrock", "openai_chat", "bedrock_converse",
			`{"model":"m","messages":[],"response_format":{"type":"json_object"}}`, "a JSON response format"},
		{"url image to bedrock", "anthropic_messages", "bedrock_converse",
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}]}`, "an image by URL (Converse takes inline images)"},
		{"url image to gemini", "openai_responses", "gemini_generate_content",
			`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x.example/a.png"}]}]}`, "an image by URL (Gemini takes inline images, or files with a known type)"},
		{"svg image to bedrock", "openai_chat", "bedrock_converse",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml;base64,PHN2Zy8+"}}]}]}`, `an image of type "image/svg+xml"`},
		{"stop to responses", "anthropic_messages", "openai_responses", `{"model":"m","max_tokens":1,"stop_sequences":["x"],"messages":[]}`, "stop sequences"},
		{"previous response", "openai_responses", "openai_chat", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, `"previous_response_id" (conversation state kept by OpenAI)`},
		{"built-in tool", "openai_responses", "anthropic_messages", `{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`, `the built-in tool "web_search"`},
		{"no parallel to gemini", "openai_chat", "gemini_generate_content",
			`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`, "turning parallel tool calls off"},
		{"tool choice none to bedrock", "openai_chat", "bedrock_converse",
			`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`, `tool choice "none"`},
		{"gemini search", "gemini_generate_content", "openai_chat", `{"contents":[],"tools":[{"googleSearch":{}}]}`, "Gemini's built-in tools"},
		{"gemini topK", "gemini_generate_content", "anthropic_messages", `{"contents":[],"generationConfig":{"topK":3}}`, `"topK"`},
		{"bedrock guardrail", "bedrock_converse", "openai_chat", `{"messages":[],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1"}}`, `"guardrailConfig"`},
		{"bedrock document", "bedrock_converse", "openai_chat",
			`{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"d","source":{"bytes":"JVBERi0="}}}]}]}`, "a document block"},
		{"temperature above Anthropic's scale", "openai_chat", "anthropic_messages", `{"model":"m","messages":[],"temperature":1.5}`, "a temperature above 1"},
		{"thinking budget above the cap", "openai_chat", "anthropic_messages", `{"model":"m","messages":[],"reasoning_effort":"high","max_completion_tokens":1000}`, "reasoning with a maximum answer length of 1024 tokens or less"},
		{"penalties", "openai_chat", "anthropic_messages", `{"model":"m","messages":[],"presence_penalty":0.5}`, "frequency and presence penalties"},
		{"audio input", "openai_chat", "anthropic_messages",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, `a content part of type "input_audio"`},
		{"arguments not an object", "openai_chat", "anthropic_messages",
			`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "tool call arguments that are not a JSON object"},
		{"top_k", "anthropic_messages", "openai_chat", `{"model":"m","max_tokens":1,"top_k":5,"messages":[]}`, `"top_k"`},
		{"server tool", "anthropic_messages", "openai_chat",
			`{"model":"m","max_tokens":1,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, `the server tool "web_search_20250305"`},
		{"document block", "anthropic_messages", "openai_chat",
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"x"}}]}]}`, `a content block of type "document"`},
		{"image tool result", "anthropic_messages", "openai_chat",
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}]}]}`, "a tool result that is not text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RequestBody(tt.from, tt.to, []byte(tt.body))
			var ue *UnsupportedError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err %v, want an *UnsupportedError", err)
			}
			if ue.What != tt.what || ue.From != tt.from || ue.To != tt.to {
				t.Errorf("error %+v, want %q from %s to %s", ue, tt.what, tt.from, tt.to)
			}
		})
	}
	if _, err := RequestBody("openai_chat", "bedrock_model_invoke", []byte(`{}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a pair without translators: %v", err)
	}
	if _, err := RequestBody("openai_chat", "openai_chat", []byte(`{}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a format to itself: %v", err)
	}
}

// TestRequestBodyFor: the model and stream flag of a Gemini or Bedrock
// request come from its URL; the translation names them where the target
// format keeps them in the body, and a body's own model gives way.
func TestRequestBodyFor(t *testing.T) {
	tests := []struct {
		from, to, body, model string
		stream                bool
		want                  string
	}{
		{"gemini_generate_content", "openai_chat", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "gemini-2.5-pro", true,
			`{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{"bedrock_converse", "anthropic_messages", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, "claude-sonnet-4-5", false,
			`{"model":"claude-sonnet-4-5","max_tokens":8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`},
		{"openai_chat", "openai_responses", `{"model":"alias","messages":[{"role":"user","content":"hi"}]}`, "gpt-5", false,
			`{"model":"gpt-5","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],"store":false}`},
		{"openai_chat", "gemini_generate_content", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "", false,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.from+"-"+tt.to, func(t *testing.T) {
			out, err := RequestBodyFor(tt.from, tt.to, []byte(tt.body), tt.model, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
		})
	}
}

// TestChatReasoningContent: the reasoning_content an OpenAI-compatible
// server (DeepSeek, vLLM) answers beside the content reaches clients whose
// format shows reasoning, before the text.
func TestChatReasoningContent(t *testing.T) {
	body := []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"deepseek-reasoner","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"42","reasoning_content":"6 times 7."},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29,"completion_tokens_details":{"reasoning_tokens":15}}}`)
	tests := []struct{ to, want string }{
		{"anthropic_messages", `"content":[{"type":"thinking","thinking":"6 times 7.","signature":""},{"type":"text","text":"42"}]`},
		{"openai_responses", `"summary":[{"type":"summary_text","text":"6 times 7."}]`},
		{"gemini_generate_content", `"parts":[{"text":"6 times 7.","thought":true},{"text":"42"}]`},
		{"bedrock_converse", `"content":[{"reasoningContent":{"reasoningText":{"text":"6 times 7."}}},{"text":"42"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			out, err := ResponseBody("openai_chat", tt.to, body, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("%s lacks %s", out, tt.want)
			}
		})
	}
}
