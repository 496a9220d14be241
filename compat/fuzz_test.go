package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// fuzzRecorder checks a format's recorder on arbitrary bodies: it never
// panics, keeps only raw messages that are JSON, and gives the same result
// however the body is split.
func fuzzRecorder(f *testing.F, format string) {
	for _, fx := range loadFixtures(f) {
		if fx.format == format {
			f.Add(fx.data, uint16(len(fx.data)/2), fx.stream())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, stream bool) {
		at := int(cut) % (len(data) + 1)
		fx := fixture{format: format, kind: "json"}
		if stream {
			fx.kind = "sse"
		}
		opts := RecorderOptions{KeepBody: true, KeepRaw: true, MaxBytes: 1 << 16}
		whole := normal(record(fx, opts, data))
		split := normal(record(fx, opts, data[:at], data[at:]))
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("split at %d:\n%+v\n%+v", at, split, whole)
		}
		for _, m := range whole.Raw {
			if !json.Valid(m) {
				t.Fatalf("raw message is not JSON: %q", m)
			}
		}
		for _, c := range whole.ToolCalls {
			if !json.Valid(c.Arguments) {
				t.Fatalf("tool call arguments are not JSON: %q", c.Arguments)
			}
		}
		// Under an allowance of cut bytes, the recorder never takes more,
		// and says when it had to cut.
		m := &meter{limit: int(cut)}
		metered := opts
		metered.Allowance = m
		res := record(fx, metered, data[:at], data[at:])
		if m.taken > m.limit {
			t.Fatalf("took %d bytes of an allowance of %d", m.taken, m.limit)
		}
		// A JSON body is kept in the buffer it was parsed in, which is
		// free up to freeParse; a stream's rebuilt body and raw messages
		// are copies and are always charged.
		kept := len(res.Body) + rawSize(res.Raw)
		if parsedWhole(data, stream) {
			kept -= min(len(res.Body), freeParse)
		}
		if kept > m.taken && !res.Truncated {
			t.Fatalf("kept %d bytes beyond the free parse buffer, took %d, not truncated", kept, m.taken)
		}
	})
}

func FuzzRecorderOpenAIChat(f *testing.F)            { fuzzRecorder(f, OpenAIChat) }
func FuzzRecorderOpenAIResponses(f *testing.F)       { fuzzRecorder(f, OpenAIResponses) }
func FuzzRecorderAnthropicMessages(f *testing.F)     { fuzzRecorder(f, AnthropicMessages) }
func FuzzRecorderGeminiGenerateContent(f *testing.F) { fuzzRecorder(f, GeminiGenerateContent) }
func FuzzRecorderGoogleGenerateContent(f *testing.F) { fuzzRecorder(f, GoogleGenerateContent) }
func FuzzRecorderGoogleRawPredict(f *testing.F)      { fuzzRecorder(f, GoogleRawPredict) }
func FuzzRecorderBedrockModelInvoke(f *testing.F)    { fuzzRecorder(f, BedrockModelInvoke) }
func FuzzRecorderBedrockConverse(f *testing.F)       { fuzzRecorder(f, BedrockConverse) }

func FuzzDetect(f *testing.F) {
	for _, p := range []string{
		"/v1/chat/completions", "/v1/v1/messages", "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
		"/bedrock/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke",
		"/v1/projects/_aperture_auto_vertex_project_id_/locations/_aperture_auto_vertex_region_/publishers/anthropic/models/claude-opus-4-5@20251101:streamRawPredict",
		"/model/a/b/c/converse-stream", "/v1/models/gpt-5",
	} {
		f.Add(http.MethodPost, p, "alt=sse&key=k")
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		q, _ := url.ParseQuery(query)
		r, err := Detect(method, path, q)
		if err != nil {
			return
		}
		if r.Kind == RouteModels {
			return
		}
		if r.Kind != RouteAPI || !Known(r.Format) || r.Operation == "" {
			t.Fatalf("route %+v", r)
		}
		u, err := UpstreamURL("https://upstream.example/prefix/", r, q, Vertex{Project: "p", Region: "r"})
		if err != nil {
			return
		}
		if _, err := url.Parse(u.String()); err != nil || u.Query().Has("key") {
			t.Fatalf("upstream URL %s: %v", u, err)
		}
	})
}

func FuzzInspect(f *testing.F) {
	for _, fx := range []string{
		`{"model":"gpt-5","stream":true,"tools":[{"type":"function","function":{"name":"f"}}]}`,
		`{"contents":[{"parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"g"}]}]}`,
		`{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"h"}}]}}`,
	} {
		for i := range Formats() {
			f.Add(uint8(i), []byte(fx))
		}
	}
	f.Fuzz(func(t *testing.T, n uint8, body []byte) {
		format := Formats()[int(n)%len(Formats())]
		_, _ = Inspect(Route{Format: format, Model: "m"}, body)
		_, _ = UserMessage(format, body)
	})
}

func FuzzEnsureStreamUsage(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-5","stream":true}`))
	f.Add([]byte(`{"stream":true,"stream_options":{"include_usage":false}}`))
	f.Add([]byte(`{"stream":true,"stream_options":null,"x":[1,{"y":"}"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, added, err := EnsureStreamUsage(OpenAIChat, body)
		if err != nil || !added {
			if !bytes.Equal(out, body) {
				t.Fatal("body changed without being reported")
			}
			return
		}
		var v struct {
			Stream        bool `json:"stream"`
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if json.Valid(body) {
			if err := json.Unmarshal(out, &v); err != nil || !v.Stream || !v.StreamOptions.IncludeUsage {
				t.Fatalf("rewritten body %s: %+v %v", out, v, err)
			}
		}
	})
}

func FuzzUsageFilter(f *testing.F) {
	for _, name := range []string{"text", "tool_calls"} {
		for _, fx := range loadFixtures(f) {
			if fx.key() == "openai_chat/"+name+".sse" {
				f.Add(fx.data, uint16(len(fx.data)/3))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		run := func(chunks ...[]byte) []byte {
			var out bytes.Buffer
			fl := NewUsageFilter(&out)
			for _, c := range chunks {
				_, _ = fl.Write(c)
			}
			_ = fl.Close()
			return out.Bytes()
		}
		whole, split := run(in), run(in[:at], in[at:])
		if !bytes.Equal(whole, split) {
			t.Fatalf("split at %d changes the output", at)
		}
		if !bytes.Contains(in, []byte(`"usage"`)) && !bytes.Contains(in, []byte(`\u`)) && !bytes.Equal(whole, in) {
			t.Fatalf("a stream without usage was changed")
		}
	})
}

// FuzzCutNullUsage checks the usage filter's fast path against its general
// path: whenever the fast path takes a chunk, the result must be the JSON
// the general path makes of it.
func FuzzCutNullUsage(f *testing.F) {
	f.Add([]byte(`{"choices":[{"index":0}],"usage":null,"obfuscation":"Bq"}`))
	f.Add([]byte(`{"a":{"b":1,"usage":null}}`))
	f.Add([]byte(`{"a":1,"usage":null,"b":{"c":2}}`))
	f.Add([]byte(`{"a":"}","usage":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || bytes.ContainsAny(data, "\r\n") {
			return
		}
		raw := append(append([]byte("data: "), data...), "\n\n"...)
		out, ok := cutNullUsage(nil, raw, data)
		if !ok {
			return
		}
		general, keep := filterChunk(data)
		if !keep || general == nil {
			t.Fatalf("fast path cut %s, general path keeps it unchanged", data)
		}
		got := bytes.TrimSuffix(bytes.TrimPrefix(out, []byte("data: ")), []byte("\n\n"))
		if !jsonEqual(got, general) {
			t.Fatalf("fast path %s, general path %s", got, general)
		}
	})
}

// FuzzCutNullUsageBlock holds cutNullUsage, which finds the member in the
// block from the end of the block, to the search it replaced (the last
// occurrence in the block, followed only by the tail and line endings),
// on whatever blocks the SSE parser makes of any input.
func FuzzCutNullUsageBlock(f *testing.F) {
	f.Add([]byte("data: {\"a\":1,\"usage\":null}\n\n"))
	f.Add([]byte("event: x\r\ndata: {\"a\":1,\"usage\":null,\"o\":\"B\"} \r\n\r\n"))
	f.Add([]byte("data: {\"a\":1,\"usage\":null}\nid: ,\"usage\":null}\n\n"))
	f.Add([]byte("data: {\"a\":1}\ndata: {\"usage\":null}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := sse.Parser{KeepRaw: true}
		check := func(ev sse.Event) {
			if ev.Oversize || !ev.HasData {
				return
			}
			got, gotOK := cutNullUsage(nil, ev.Raw, ev.Data)
			want, wantOK := cutNullUsageSearch(ev.Raw, ev.Data)
			if gotOK != wantOK || !bytes.Equal(got, want) {
				t.Fatalf("block %q: cutNullUsage %q, %v; search %q, %v", ev.Raw, got, gotOK, want, wantOK)
			}
		}
		_ = p.Feed(in, check)
		_ = p.End(check)
	})
}

// cutNullUsageSearch is cutNullUsage as it was first written, with
// searches of the data and the block.
func cutNullUsageSearch(raw, data []byte) ([]byte, bool) {
	d := bytes.TrimRight(data, " \t")
	j := bytes.LastIndex(d, []byte(nullUsageMember))
	if len(d) == 0 || d[0] != '{' || j < 0 {
		return nil, false
	}
	tail := d[j+len(nullUsageMember):]
	if len(tail) == 0 || (tail[0] != ',' && tail[0] != '}') || tail[len(tail)-1] != '}' ||
		bytes.ContainsAny(tail[:len(tail)-1], "{}[]") {
		return nil, false
	}
	i := bytes.LastIndex(raw, []byte(nullUsageMember))
	if i < 0 || !bytes.Equal(bytes.TrimRight(raw[i+len(nullUsageMember):], " \t\r\n"), tail) {
		return nil, false
	}
	out := append([]byte(nil), raw[:i]...)
	return append(out, raw[i+len(nullUsageMember):]...), true
}

// FuzzPlainChunk checks the recorder's shortcut: a chunk it calls plain
// must hold none of the members the recorder reads besides content, under
// any spelling encoding/json takes for them (escaped, another case).
func FuzzPlainChunk(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"a: \"usage\": 1"},"finish_reason":null}],"usage":null}`))
	f.Add([]byte(`{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}`))
	f.Add([]byte(`{"usage" : {"prompt_tokens":1}, "error": null}`))
	f.Add([]byte(`{"\u0075sage":{"prompt_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"delta":{"Tool_Calls":[{"index":0}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		if !plainChunk(data) || json.Unmarshal(data, &v) != nil {
			return
		}
		set := func(m map[string]any, key string) bool {
			for k, x := range m {
				if strings.EqualFold(k, key) && x != nil && x != "" {
					return true
				}
			}
			return false
		}
		if set(v, "usage") || set(v, "error") {
			t.Fatalf("plain chunk %s has usage or an error", data)
		}
		var choices []any
		for k, x := range v {
			if strings.EqualFold(k, "choices") {
				c, _ := x.([]any)
				choices = append(choices, c...)
			}
		}
		for _, c := range choices {
			ch, _ := c.(map[string]any)
			if set(ch, "finish_reason") {
				t.Fatalf("plain chunk %s has a finish reason", data)
			}
			for k, x := range ch {
				if !strings.EqualFold(k, "delta") && !strings.EqualFold(k, "message") {
					continue
				}
				if m, ok := x.(map[string]any); ok {
					for mk := range m {
						if strings.EqualFold(mk, "tool_calls") {
							t.Fatalf("plain chunk %s has tool calls", data)
						}
					}
				}
			}
		}
	})
}

// FuzzLastNullUsage holds the usage filter's search for the usage member
// to bytes.LastIndex, and what the same search tells of any usage to
// mayHoldUsage.
func FuzzLastNullUsage(f *testing.F) {
	f.Add([]byte(`{"a":1,"usage":null,"b":"x"}`))
	f.Add([]byte(`{"usage":null,"usage":null}`))
	f.Add([]byte(`,"usage":null,"usage":nul`))
	f.Add(append(bytes.Repeat([]byte("x:"), 300), nullUsageMember...))
	f.Add([]byte(`{"usage":1}`))
	f.Add([]byte(`{"\u0075sage":1,"u":"\\u"}`))
	f.Add([]byte(`u"usage"`))
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := lastNullUsage(s), bytes.LastIndex(s, []byte(nullUsageMember)); got != want {
			t.Fatalf("lastNullUsage(%q) = %d, bytes.LastIndex %d", s, got, want)
		}
		if _, got := usageMarks(s); got != mayHoldUsage(s) {
			t.Fatalf("usageMarks(%q) may hold usage %v, mayHoldUsage %v", s, got, !got)
		}
	})
}

// FuzzKeysUnescaped holds plainChunk's and skimmable's scan of chunks
// without escapes to the general ones, which read every key EachKey finds
// as encoding/json does: they must agree on every input.
func FuzzKeysUnescaped(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"a: \"usage\": 1"},"finish_reason":null}],"usage":null}`))
	f.Add([]byte(`{"choices":[{"delta":{"Tool_Calls":[{"index":0}]}}]}`))
	f.Add([]byte(`{"usage" : {"prompt_tokens":1}, "error": null}`))
	f.Add([]byte(`{"uſage":{"prompt_tokens":1},"FINISH_REASON":"stop"}`))
	f.Add([]byte(`{"Error":{"message":"x"},"choices":[{"delta":{"tool_calls":[]}}]}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"é"},"finish_reason" :null}],"usage":null,"x":"usage":1}`))
	for _, fx := range loadFixtures(f) {
		if fx.kind == "sse" && fx.format == OpenAIChat {
			p := sse.Parser{}
			_ = p.Feed(fx.data, func(e sse.Event) { f.Add(bytes.Clone(e.Data)) })
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.IndexByte(data, '\\') >= 0 {
			return
		}
		if got, want := keysUnescaped(data, true), plainChunkKeys(data); got != want {
			t.Fatalf("plain: keysUnescaped(%q) = %v, general scan %v", data, got, want)
		}
		if got, want := keysStop(data, true), plainChunkStop(data); got != want {
			t.Fatalf("plain: keysStop(%q) = %d, general scan %d", data, got, want)
		}
		if got, want := keysUnescaped(data, false), skimmableKeys(data); got != want {
			t.Fatalf("skimmable: keysUnescaped(%q) = %v, general scan %v", data, got, want)
		}
	})
}

// parsedWhole reports whether the recorder takes data as one JSON body
// (kept in its parse buffer) rather than as stream messages, as it
// decides from the first byte that is not blank.
func parsedWhole(data []byte, stream bool) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && (trimmed[0] == '{' || !stream)
}

func rawSize(raw []json.RawMessage) int {
	n := 0
	for _, m := range raw {
		n += len(m)
	}
	return n
}

// FuzzPlainString holds the string fast path of request inspection to
// encoding/json: whatever it reads, json.Unmarshal reads the same.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"gpt-5"`, `""`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", `"tab	"`, `null`, `"x`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainString(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("plainString(%q) = %q, but encoding/json fails: %v", raw, got, err)
		}
		if got != want {
			t.Fatalf("plainString(%q) = %q, encoding/json reads %q", raw, got, want)
		}
	})
}

// FuzzShortKeyBefore holds shortKeyBefore to jsonbytes.KeyBefore at every
// colon of data without backslashes: the same key, or none where that
// key is longer than 15 bytes.
func FuzzShortKeyBefore(f *testing.F) {
	f.Add([]byte(`{"id":"chatcmpl-b","object":"chat.completion.chunk","choices":[{"finish_reason":null}],"usage":null}`))
	f.Add([]byte(`{"a_rather_long_key_name":1, "k" :2,"":3,"\"":4}`))
	f.Add([]byte(`"x":"0123456789abcdef":"0123456789abcde":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.IndexByte(data, '\\') >= 0 {
			return
		}
		for c, b := range data {
			if b != ':' {
				continue
			}
			want, wantOK := jsonbytes.KeyBefore(data, c)
			got, ok := shortKeyBefore(data, c)
			if wantOK && len(want) > 15 {
				wantOK, want = false, nil
			}
			if ok != wantOK || !bytes.Equal(got, want) {
				t.Fatalf("colon %d of %q: shortKeyBefore %q, %v; KeyBefore %q, %v", c, data, got, ok, want, wantOK)
			}
		}
	})
}

// FuzzSameButStrings holds the plain-chunk memo to keysUnescaped: a chunk
// sameButStrings matches with a plain one is plain.
func FuzzSameButStrings(f *testing.F) {
	const chunk = `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}],"usage":null,"obfuscation":%q}`
	f.Add([]byte(fmt.Sprintf(chunk, "Hello", "ab")), []byte(fmt.Sprintf(chunk, "world and more", "xyz1")))
	f.Add([]byte(`{"a":"x","usage":null}`), []byte(`{"a":"x","usage":"y"}`))
	f.Add([]byte(`{"a":"x"  ,"b":null}`), []byte(`{"a":"usage"  :"b":null}`))
	f.Add([]byte(`{"usage":null,"t":"a: b"}`), []byte(`{"usage":null,"t":"c"}`))
	f.Fuzz(func(t *testing.T, prev, c []byte) {
		if bytes.IndexByte(prev, '\\') >= 0 || bytes.IndexByte(c, '\\') >= 0 {
			return
		}
		if keysUnescaped(prev, true) && sameButStrings(prev, c) && !keysUnescaped(c, true) {
			t.Fatalf("%q matches plain %q but is not plain", c, prev)
		}
	})
}
