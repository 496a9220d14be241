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

// fixtureDir holds one folder per direction, named FROM-TO: request-*.json
// are client requests in FROM translated to upstream requests in TO,
// response-*.json upstream answers in FROM translated to client answers in
// TO. NAME.golden.json beside each is the expected translation.
var fixtureDir = filepath.Join("..", "..", "testdata", "translate")

// fixedNow stamps answers whose format carries no time.
var fixedNow = Options{Now: func() time.Time { return time.Unix(1764950000, 0) }}

type fixture struct {
	from, to, name, path string
	request              bool
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		from, to, ok := strings.Cut(filepath.Base(filepath.Dir(p)), "-")
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if !ok || !Supported(from, to) {
			t.Fatalf("%s: folder names no supported translation", p)
		}
		out = append(out, fixture{from, to, name, p, strings.HasPrefix(name, "request-")})
	}
	if len(out) < 8 {
		t.Fatalf("found %d fixtures", len(out))
	}
	return out
}

// TestGolden translates every fixture and compares with its golden file.
func TestGolden(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.from+"-"+fx.to+"/"+fx.name, func(t *testing.T) {
			in, err := os.ReadFile(fx.path)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			if fx.request {
				out, err = RequestBody(fx.from, fx.to, in)
			} else {
				out, err = ResponseBody(fx.from, fx.to, in, fixedNow)
			}
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				t.Fatalf("translation is not JSON: %v\n%s", err, out)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(fx.path, ".json") + ".golden.json"
			if *update {
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
			if fx.request {
				out, err := RequestBody(fx.from, fx.to, in)
				if err != nil {
					t.Fatal(err)
				}
				src, err := compat.Inspect(compat.Route{Format: fx.from, UpstreamFormat: fx.from}, in)
				if err != nil {
					t.Fatal(err)
				}
				dst, err := compat.Inspect(compat.Route{Format: fx.to, UpstreamFormat: fx.to}, out)
				if err != nil {
					t.Fatalf("the translated request is refused in %s: %v\n%s", fx.to, err, out)
				}
				if src.Model != dst.Model || src.Stream != dst.Stream {
					t.Errorf("model %q stream %v became %q %v", src.Model, src.Stream, dst.Model, dst.Stream)
				}
				return
			}
			out, err := ResponseBody(fx.from, fx.to, in, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			src, dst := record(t, fx.from, in), record(t, fx.to, out)
			if fx.to == "openai_chat" {
				// Chat completions has no field for cache writes; they stay
				// counted in the input. The gateway's record reads the
				// upstream's answer, so its cost keeps them.
				src.Usage.CacheWrite = dst.Usage.CacheWrite
			}
			if diff := cmp.Diff(src.Usage, dst.Usage, cmp.AllowUnexported(src.Usage.Input)); diff != "" {
				t.Errorf("usage (-upstream +client):\n%s", diff)
			}
			if diff := cmp.Diff(src.ToolCalls, dst.ToolCalls); diff != "" {
				t.Errorf("tool calls (-upstream +client):\n%s", diff)
			}
			if src.Model != dst.Model {
				t.Errorf("model %q became %q", src.Model, dst.Model)
			}
		})
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
			`{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"text","schema":{}}}}`, `"response_format" other than text`},
		{"reasoning effort", "openai_chat", "anthropic_messages", `{"model":"m","messages":[],"reasoning_effort":"high"}`, `"reasoning_effort"`},
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
	if _, err := RequestBody("openai_chat", "gemini_generate_content", []byte(`{}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a pair without translators: %v", err)
	}
	if _, err := RequestBody("openai_chat", "openai_chat", []byte(`{}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a format to itself: %v", err)
	}
}
