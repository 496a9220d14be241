package compat

import (
	"cmp"
	"encoding/json"
	"github.com/sluice-gateway/sluice/usage"
	"sort"
	"strings"
)

// gemini is the Gemini API: POST /{version}/models/{model}:generateContent,
// :streamGenerateContent (?alt=sse) and :countTokens.
type gemini struct{}

// geminiMethods maps the RPCs sluice serves to their operation and stream
// flag.
var geminiMethods = map[string]struct {
	op     string
	stream bool
}{
	"generateContent":       {OpGenerate, false},
	"streamGenerateContent": {OpGenerate, true},
	"countTokens":           {OpCountTokens, false},
}

func (gemini) detect(segs []string) (Route, bool) {
	if len(segs) != 3 || segs[1] != "models" || !isGeminiVersion(segs[0]) {
		return Route{}, false
	}
	seg, method, ok := splitMethod(segs[2])
	if !ok {
		return Route{}, false
	}
	m, known := geminiMethods[method]
	model, ok := unescapeSegment(seg)
	if !known || !ok {
		return Route{}, false
	}
	return Route{Model: model, Stream: m.stream, Operation: m.op, Method: method, Version: segs[0], modelSeg: seg}, true
}

func isGeminiVersion(v string) bool { return v == "v1beta" || v == "v1" || v == "v1alpha" }

func (gemini) upstreamPath(r Route) string {
	return "/" + r.Version + "/models/" + r.modelSeg + ":" + r.Method
}

func (gemini) errorShape() shape                       { return shapeGoogle }
func (gemini) streamFraming() framing                  { return framingSSE }
func (gemini) inspect(body []byte) (Request, error)    { return inspectGemini(body) }
func (gemini) userMessage(body []byte) (string, error) { return geminiUserMessage(body) }
func (gemini) newCollector(st *recState) collector     { return newGeminiCollector(st) }

// inspectGemini reads a generateContent body; the model and the stream
// flag are in the path, so only the tools are of interest, and a model the
// body names, which Inspect holds against the path's.
func inspectGemini(body []byte) (Request, error) {
	vals, model, modelID, err := requestMembers(body, "tools")
	if err != nil {
		return Request{}, err
	}
	var tools []map[string]json.RawMessage
	if err := decodeMember(vals[0], "tools", &tools); err != nil {
		return Request{}, err
	}
	req := Request{Model: cmp.Or(model, modelID)}
	for _, t := range tools {
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k != "functionDeclarations" && k != "function_declarations" {
				req.Tools = append(req.Tools, k)
				continue
			}
			var decls []struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(t[k], &decls)
			for _, d := range decls {
				req.Tools = append(req.Tools, d.Name)
			}
		}
	}
	return req, nil
}

func geminiUserMessage(body []byte) (string, error) {
	var v struct {
		Contents []struct {
			Role  string `json:"role"`
			Parts []struct {
				Text *string `json:"text"`
			} `json:"parts"`
		} `json:"contents"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	for i := len(v.Contents) - 1; i >= 0; i-- {
		c := v.Contents[i]
		if c.Role != "" && c.Role != "user" {
			continue
		}
		var texts []string
		for _, p := range c.Parts {
			if p.Text != nil {
				texts = append(texts, *p.Text)
			}
		}
		if t := strings.Join(texts, "\n"); t != "" {
			return t, nil
		}
	}
	return "", nil
}

type gemUsage struct {
	Prompt     *int64 `json:"promptTokenCount"`
	Candidates *int64 `json:"candidatesTokenCount"`
	Cached     *int64 `json:"cachedContentTokenCount"`
	Thoughts   *int64 `json:"thoughtsTokenCount"`
	ToolPrompt *int64 `json:"toolUsePromptTokenCount"`
}

// usage converts usageMetadata. Zero counts are omitted from Gemini's
// JSON, so once the prompt is counted, absent counts are zeros; Vertex
// sends usageMetadata without counts on intermediate stream chunks, which
// report nothing. Thinking tokens are output, tool-use prompt tokens
// input; cache writes are not reported.
func (u *gemUsage) usage() usage.Tokens {
	n := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	var out usage.Tokens
	if u.Prompt != nil {
		out.Input = usage.Of(n(u.Prompt) + n(u.ToolPrompt))
		out.CacheRead = usage.Of(n(u.Cached))
	}
	if u.Prompt != nil || u.Candidates != nil || u.Thoughts != nil {
		out.Output = usage.Of(n(u.Candidates) + n(u.Thoughts))
	}
	return out
}

type gemPart struct {
	Text         *string `json:"text"`
	Thought      bool    `json:"thought"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
}

type gemResponse struct {
	Candidates []struct {
		Index   int `json:"index"`
		Content *struct {
			Role  string            `json:"role"`
			Parts []json.RawMessage `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata  *gemUsage `json:"usageMetadata"`
	ModelVersion   string    `json:"modelVersion"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// gemCandidate accumulates one candidate of a stream.
type gemCandidate struct {
	fields map[string]json.RawMessage // rebuild: the candidate's other fields
	role   string
	parts  []*gemMerged
	calls  []ToolCall
	finish string
}

// gemMerged is a part of the rebuilt content: consecutive text parts of
// the same kind are concatenated, other parts kept as sent.
type gemMerged struct {
	text    *strings.Builder
	thought bool
	raw     json.RawMessage
}

// geminiCollector reads Gemini and Vertex Gemini bodies and streams.
type geminiCollector struct {
	st      *recState
	usage   usage.Tokens
	model   string
	blocked string
	cands   map[int]*gemCandidate
	top     map[string]json.RawMessage // rebuild: last values of top-level fields
}

func newGeminiCollector(st *recState) *geminiCollector {
	return &geminiCollector{st: st, cands: map[int]*gemCandidate{}}
}

func (c *geminiCollector) body(data []byte) error { return c.chunk(data, false) }

func (c *geminiCollector) event(data []byte) error { return c.chunk(data, c.st.keep()) }

func (c *geminiCollector) chunk(data []byte, rebuild bool) error {
	var v gemResponse
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v.Error != nil {
		c.st.setFailure(v.Error.Message)
	}
	if v.ModelVersion != "" {
		c.model = v.ModelVersion
	}
	if v.PromptFeedback != nil && v.PromptFeedback.BlockReason != "" {
		c.blocked = v.PromptFeedback.BlockReason
	}
	if u := v.UsageMetadata; u != nil {
		c.usage = c.usage.Merge(u.usage())
	}
	var rawCands []map[string]json.RawMessage
	if rebuild {
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) == nil {
			if c.top == nil {
				c.top = map[string]json.RawMessage{}
			}
			for k, val := range top {
				c.top[k] = val
			}
			_ = json.Unmarshal(top["candidates"], &rawCands)
		}
	}
	for n, cand := range v.Candidates {
		gc := c.cands[cand.Index]
		if gc == nil {
			gc = &gemCandidate{}
			if !c.st.full(len(c.cands)) {
				c.cands[cand.Index] = gc
			}
		}
		if cand.FinishReason != "" {
			gc.finish = cand.FinishReason
			c.st.complete = true
		}
		if rebuild && n < len(rawCands) {
			if gc.fields == nil {
				gc.fields = map[string]json.RawMessage{}
			}
			for k, val := range rawCands[n] {
				gc.fields[k] = val
			}
		}
		if cand.Content == nil {
			continue
		}
		if cand.Content.Role != "" {
			gc.role = cand.Content.Role
		}
		for _, raw := range cand.Content.Parts {
			c.part(gc, raw, rebuild)
		}
	}
	return nil
}

func (c *geminiCollector) part(gc *gemCandidate, raw json.RawMessage, rebuild bool) {
	var p gemPart
	if json.Unmarshal(raw, &p) != nil {
		return
	}
	if fc := p.FunctionCall; fc != nil && c.st.grow(len(fc.Args)) {
		gc.calls = append(gc.calls, ToolCall{ID: fc.ID, Name: fc.Name, Arguments: rawArgs(fc.Args)})
	}
	if !rebuild || !c.st.grow(len(raw)) {
		return
	}
	if p.Text != nil && textOnly(raw) {
		if n := len(gc.parts); n > 0 && gc.parts[n-1].text != nil && gc.parts[n-1].thought == p.Thought {
			gc.parts[n-1].text.WriteString(*p.Text)
			return
		}
		b := &strings.Builder{}
		b.WriteString(*p.Text)
		gc.parts = append(gc.parts, &gemMerged{text: b, thought: p.Thought})
		return
	}
	gc.parts = append(gc.parts, &gemMerged{raw: append(json.RawMessage(nil), raw...)})
}

// textOnly reports whether a part has no members but text and thought.
func textOnly(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for k := range m {
		if k != "text" && k != "thought" {
			return false
		}
	}
	return true
}

func (c *geminiCollector) order() []int {
	idx := make([]int, 0, len(c.cands))
	for i := range c.cands {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (c *geminiCollector) finish(res *Result, rebuild bool) {
	res.Usage = c.usage
	res.Model = c.model
	for _, i := range c.order() {
		gc := c.cands[i]
		if res.StopReason == "" {
			res.StopReason = gc.finish
		}
		res.ToolCalls = append(res.ToolCalls, gc.calls...)
	}
	if res.StopReason == "" {
		res.StopReason = c.blocked
	}
	if rebuild {
		res.Body = c.rebuild()
	}
}

// rebuild writes the GenerateContentResponse a stream is equivalent to.
func (c *geminiCollector) rebuild() json.RawMessage {
	top := map[string]json.RawMessage{}
	for k, v := range c.top {
		top[k] = v
	}
	var cands []json.RawMessage
	for _, i := range c.order() {
		gc := c.cands[i]
		m := map[string]json.RawMessage{}
		for k, v := range gc.fields {
			m[k] = v
		}
		parts := make([]json.RawMessage, 0, len(gc.parts))
		for _, p := range gc.parts {
			if p.text == nil {
				parts = append(parts, p.raw)
				continue
			}
			tp := struct {
				Text    string `json:"text"`
				Thought bool   `json:"thought,omitempty"`
			}{p.text.String(), p.thought}
			b, _ := json.Marshal(tp)
			parts = append(parts, b)
		}
		content := struct {
			Parts []json.RawMessage `json:"parts"`
			Role  string            `json:"role,omitempty"`
		}{parts, gc.role}
		m["content"], _ = json.Marshal(content)
		b, _ := json.Marshal(m)
		cands = append(cands, b)
	}
	if cands != nil {
		top["candidates"], _ = json.Marshal(cands)
	}
	b, _ := json.Marshal(top)
	return b
}
