package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// requestDir holds request bodies per format, as the SDKs send them.
var requestDir = filepath.Join("..", "testdata", "requests")

// pathModel is the model the fuzz routes name in their path.
const pathModel = "path-model"

// fuzzRoutes are the paths FuzzPolicySeesUpstreamBody sends each format's
// bodies to: non-stream paths, so the stream flag is the body's.
var fuzzRoutes = map[string]string{
	OpenAIChat:            "/v1/chat/completions",
	OpenAIResponses:       "/v1/responses",
	AnthropicMessages:     "/v1/messages",
	GeminiGenerateContent: "/v1beta/models/" + pathModel + ":generateContent",
	GoogleGenerateContent: "/v1/projects/p/locations/global/publishers/google/models/" + pathModel + ":generateContent",
	GoogleRawPredict:      "/v1/projects/p/locations/global/publishers/anthropic/models/" + pathModel + ":rawPredict",
	BedrockModelInvoke:    "/bedrock/model/" + pathModel + "/invoke",
	BedrockConverse:       "/model/" + pathModel + "/converse",
}

// bodyStream lists the formats whose upstream reads the stream flag from
// the body.
var bodyStream = []string{OpenAIChat, OpenAIResponses, AnthropicMessages, GoogleRawPredict}

// FuzzPolicySeesUpstreamBody mutates the member keys of recorded request
// bodies (letter case, JSON escapes, Unicode folds, duplicates, trailing
// values) and checks that Inspect either refuses the body, or that the body
// sent upstream (after EnsureStreamUsage) names the model Inspect reported,
// carries its stream flag, and asks for usage on OpenAI chat streams, as a
// case-insensitive last-wins decoder (encoding/json) and a case-sensitive
// decoder that rejects duplicates both read it.
func FuzzPolicySeesUpstreamBody(f *testing.F) {
	formats := Formats()
	for i, format := range formats {
		paths, _ := filepath.Glob(filepath.Join(requestDir, format, "*.json"))
		if len(paths) == 0 {
			f.Fatalf("no request bodies for %s in %s", format, requestDir)
		}
		for _, p := range paths {
			body, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), body, []byte{})
			for op := range byte(mutations) {
				f.Add(uint8(i), body, []byte{op, 0, 0, op, 1, 2})
			}
		}
	}
	f.Fuzz(func(t *testing.T, n uint8, body, ops []byte) {
		format := formats[int(n)%len(formats)]
		body = mutateKeys(body, ops)
		r := route(t, fuzzRoutes[format])
		req, err := Inspect(r, body)
		if err != nil {
			return
		}
		up, _, err := EnsureStreamUsage(format, body)
		if err != nil {
			return // answered 400 before forwarding
		}
		if !json.Valid(up) {
			return // every upstream refuses it
		}
		var loose upstreamView
		if err := json.Unmarshal(up, &loose); err != nil {
			return // e.g. a member of the wrong type; the upstream refuses it too
		}
		checkView(t, "encoding/json", format, r, req, loose, up)
		if strict, ok := strictView(up); ok {
			checkView(t, "strict decoder", format, r, req, strict, up)
		}
	})
}

// upstreamView is what an upstream reads from a body.
type upstreamView struct {
	Model         *string `json:"model"`
	ModelID       *string `json:"modelId"`
	Stream        *bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func checkView(t *testing.T, decoder, format string, r Route, req Request, v upstreamView, body []byte) {
	t.Helper()
	for _, m := range []*string{v.Model, v.ModelID} {
		switch {
		case m == nil:
		case r.Model == "" && *m != req.Model && m == v.Model:
			t.Fatalf("%s: %s reads model %q, policy judged %q\n%s", format, decoder, *m, req.Model, body)
		case r.Model != "" && *m != "" && !samePathModel(r, *m):
			t.Fatalf("%s: %s reads body model %q, policy judged the path's %q\n%s", format, decoder, *m, req.Model, body)
		}
	}
	if r.Model == "" && v.Model == nil && req.Model != "" {
		t.Fatalf("%s: %s reads no model, policy judged %q\n%s", format, decoder, req.Model, body)
	}
	stream := v.Stream != nil && *v.Stream
	if slices.Contains(bodyStream, format) && stream != req.Stream {
		t.Fatalf("%s: %s reads stream %v, policy judged %v\n%s", format, decoder, stream, req.Stream, body)
	}
	if format == OpenAIChat && req.Stream && (v.StreamOptions == nil || !v.StreamOptions.IncludeUsage) {
		t.Fatalf("%s: %s reads a stream that does not ask for usage\n%s", format, decoder, body)
	}
}

// strictView decodes body the way a strict decoder does: keys match
// exactly and a duplicate key (at the top or in stream_options) is an
// error, reported as ok == false.
func strictView(body []byte) (upstreamView, bool) {
	top, ok := strictObject(body)
	if !ok {
		return upstreamView{}, false
	}
	var v upstreamView
	for name, dst := range map[string]any{"model": &v.Model, "modelId": &v.ModelID, "stream": &v.Stream} {
		if raw, ok := top[name]; ok && json.Unmarshal(raw, dst) != nil {
			return upstreamView{}, false
		}
	}
	if raw, ok := top["stream_options"]; ok && string(raw) != "null" {
		opts, ok := strictObject(raw)
		if !ok {
			return upstreamView{}, false
		}
		v.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{}
		if u, ok := opts["include_usage"]; ok && json.Unmarshal(u, &v.StreamOptions.IncludeUsage) != nil {
			return upstreamView{}, false
		}
	}
	return v, true
}

// strictObject reads the members of a JSON object with encoding/json's
// tokenizer, failing on duplicate keys.
func strictObject(data []byte) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if _, dup := out[key]; dup {
			return nil, false
		}
		out[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

// Key mutations, chosen by the first byte of each three-byte op.
const (
	mutFlipCase   = iota // flip the case of one letter of a key
	mutDuplicate         // repeat a member after itself
	mutRename            // repeat a member under a routing name
	mutEscape            // write one character of a key as \u00XX
	mutLongS             // write an 's' of a key as U+017F, which folds to 's'
	mutOtherValue        // add a routing member with a different value
	mutTrailing          // append a second JSON object
	mutNested            // apply the op to stream_options' members
	mutations
)

// maxOps bounds the mutations of one input: each copies the body, and a
// few are enough to combine every kind.
const maxOps = 16

// mutateKeys applies ops to body's top-level members (or, through
// mutNested, to those of stream_options); body is returned unchanged when
// it is not an object.
func mutateKeys(body, ops []byte) []byte {
	ops = ops[:min(len(ops), 3*maxOps)]
	for len(ops) >= 3 {
		body = mutateOnce(body, ops[0], int(ops[1]), int(ops[2]))
		ops = ops[3:]
	}
	return body
}

func mutateOnce(body []byte, op byte, target, arg int) []byte {
	members, open, err := jsonbytes.List(body)
	if err != nil {
		return body
	}
	op %= mutations
	if op == mutTrailing {
		return append(append(bytes.Clone(body), ' '), fmt.Sprintf(`{"model":"other-%d"}`, arg)...)
	}
	if op == mutOtherValue {
		name := routingNames[arg%len(routingNames)]
		values := []string{`"other-model"`, `true`, `false`, `{"include_usage":false}`, `"` + pathModel + `"`}
		return jsonbytes.Splice(body, open+1, open+1, `"`+name+`":`+values[target%len(values)]+",")
	}
	if len(members) == 0 {
		return body
	}
	m := members[target%len(members)]
	rawKey := body[m.KeyStart+1 : bytes.IndexByte(body[m.KeyStart+1:], '"')+m.KeyStart+1]
	if bytes.IndexByte(rawKey, '\\') >= 0 {
		return body // keep it simple: leave escaped keys alone
	}
	key := string(rawKey)
	val := string(body[m.ValStart:m.ValEnd])
	switch op {
	case mutNested:
		if !m.Key.Is("stream_options") || val == "" || val[0] != '{' {
			return body
		}
		inner := mutateOnce([]byte(val), byte(arg%int(mutTrailing)), arg/7, arg/3)
		return jsonbytes.Splice(body, m.ValStart, m.ValEnd, string(inner))
	case mutDuplicate:
		return jsonbytes.Splice(body, m.ValEnd, m.ValEnd, `,"`+key+`":`+val)
	case mutRename:
		return jsonbytes.Splice(body, m.ValEnd, m.ValEnd, `,"`+routingNames[arg%len(routingNames)]+`":`+val)
	}
	if key == "" {
		return body
	}
	i := arg % len(key)
	var k string
	switch op {
	case mutFlipCase:
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		k = key[:i] + string(c) + key[i+1:]
	case mutEscape:
		k = key[:i] + fmt.Sprintf(`\u%04x`, key[i]) + key[i+1:]
	case mutLongS:
		k = strings.Replace(key, "s", "ſ", 1)
	}
	return jsonbytes.Splice(body, m.KeyStart, m.ValStart, `"`+k+`":`)
}

// TestMutationsReachInspect: each mutation kind, applied to a chat body,
// produces a body that Inspect refuses; the fuzz target's oracle is only
// as good as these mutations.
func TestMutationsReachInspect(t *testing.T) {
	body := []byte(`{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`)
	r := route(t, fuzzRoutes[OpenAIChat])
	ops := map[string][]byte{
		"flip case":   {mutFlipCase, 0, 0},
		"duplicate":   {mutDuplicate, 1, 0},
		"rename":      {mutRename, 3, 0},
		"escape":      {mutEscape, 0, 2},
		"long s":      {mutLongS, 1, 0},
		"other value": {mutOtherValue, 0, 0},
		"trailing":    {mutTrailing, 0, 0},
		"nested":      {mutNested, 2, mutDuplicate},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			got := mutateKeys(body, op)
			if bytes.Equal(got, body) {
				t.Fatal("body unchanged")
			}
			if _, err := Inspect(r, got); err == nil {
				t.Errorf("Inspect accepted %s", got)
			}
		})
	}
}
