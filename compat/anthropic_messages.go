package compat

import (
	"bytes"
	"cmp"
	"encoding/json"
	"github.com/sluice-gateway/sluice/usage"
	"sort"
	"strings"
)

// anthropicMessages is the Anthropic Messages API: POST /v1/messages and
// POST /v1/messages/count_tokens.
type anthropicMessages struct{}

func (anthropicMessages) detect(segs []string) (Route, bool) {
	switch {
	case segsAre(segs, "v1", "messages"):
		return Route{}, true
	case segsAre(segs, "v1", "messages", "count_tokens"):
		return Route{Operation: OpCountTokens, sub: "count_tokens"}, true
	}
	return Route{}, false
}

func (anthropicMessages) upstreamPath(r Route) string {
	if r.sub != "" {
		return "/v1/messages/" + r.sub
	}
	return "/v1/messages"
}

func (anthropicMessages) errorShape() shape      { return shapeAnthropic }
func (anthropicMessages) streamFraming() framing { return framingSSE }

func (anthropicMessages) inspect(body []byte) (Request, error) { return inspectAnthropic(body) }

func (anthropicMessages) userMessage(body []byte) (string, error) {
	return anthropicUserMessage(body)
}

func (anthropicMessages) newCollector(st *recState) collector { return newAnthropicCollector(st) }

// inspectAnthropic reads a Messages request body.
func inspectAnthropic(body []byte) (Request, error) { return inspectNamed(body, false) }

// inspectNamed reads model, stream and tools of a body whose tools carry
// their name at the top (Anthropic, OpenAI Responses). inPath says the
// path names the model (Vertex rawPredict): then a "modelId" member is
// reported too, for Inspect to hold against the path.
func inspectNamed(body []byte, inPath bool) (Request, error) {
	vals, model, modelID, err := requestMembers(body, "stream", "tools")
	if err != nil {
		return Request{}, err
	}
	stream, err := streamFlag(vals[0])
	if err != nil {
		return Request{}, err
	}
	tools, err := namedTools(vals[1])
	if err != nil {
		return Request{}, err
	}
	if inPath {
		model = cmp.Or(model, modelID)
	}
	return Request{Model: model, Stream: stream, Tools: tools}, nil
}

func anthropicUserMessage(body []byte) (string, error) {
	var v struct {
		Messages []roleContent `json:"messages"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	return lastUserText(v.Messages, func(c json.RawMessage) string { return textOf(c, "text") }), nil
}

// anthUsage is the Messages API usage object.
type anthUsage struct {
	InputTokens   *int64 `json:"input_tokens"`
	OutputTokens  *int64 `json:"output_tokens"`
	CacheCreation *int64 `json:"cache_creation_input_tokens"`
	CacheRead     *int64 `json:"cache_read_input_tokens"`
}

type anthBlock struct {
	typ        string
	start      map[string]json.RawMessage // rebuild only
	tool       *toolAcc
	startInput json.RawMessage
	text       strings.Builder
	thinking   strings.Builder
	signature  strings.Builder
	citations  []json.RawMessage
}

// anthropicCollector reads Messages bodies and SSE streams; the Bedrock
// and Vertex formats that carry Claude reuse it.
type anthropicCollector struct {
	st              *recState
	in, out, cr, cw usage.Count
	model, stop     string
	stopSeq         json.RawMessage
	calls           []ToolCall // non-stream
	blocks          map[int]*anthBlock
	message         map[string]json.RawMessage // message_start (rebuild)
	usageJS         map[string]json.RawMessage // merged usage (rebuild)
}

func newAnthropicCollector(st *recState) *anthropicCollector {
	return &anthropicCollector{st: st, blocks: map[int]*anthBlock{}}
}

func (c *anthropicCollector) addUsage(raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var u anthUsage
	if json.Unmarshal(raw, &u) != nil {
		return
	}
	for _, f := range []struct {
		dst *usage.Count
		src *int64
	}{{&c.in, u.InputTokens}, {&c.out, u.OutputTokens}, {&c.cw, u.CacheCreation}, {&c.cr, u.CacheRead}} {
		if f.src != nil {
			*f.dst = usage.Of(*f.src)
		}
	}
	if c.st.keep() {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			if c.usageJS == nil {
				c.usageJS = map[string]json.RawMessage{}
			}
			for k, v := range m {
				if string(v) != "null" || c.usageJS[k] == nil {
					c.usageJS[k] = v
				}
			}
		}
	}
}

func (c *anthropicCollector) usage() usage.Tokens {
	return usage.Tokens{Input: usage.Sum(c.in, c.cr, c.cw), Output: c.out, CacheRead: c.cr, CacheWrite: c.cw}
}

type anthMessage struct {
	Model        string          `json:"model"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence json.RawMessage `json:"stop_sequence"`
	Usage        json.RawMessage `json:"usage"`
	Content      []struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (c *anthropicCollector) body(data []byte) error {
	var m anthMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if m.Error != nil {
		c.st.setFailure(m.Error.Message)
	}
	c.apply(&m)
	for _, b := range m.Content {
		if b.Type == "tool_use" {
			c.calls = append(c.calls, ToolCall{ID: b.ID, Name: b.Name, Arguments: rawArgs(b.Input)})
		}
	}
	return nil
}

func (c *anthropicCollector) apply(m *anthMessage) {
	if m.Model != "" {
		c.model = m.Model
	}
	if m.StopReason != nil {
		c.stop = *m.StopReason
	}
	c.addUsage(m.Usage)
}

type anthEvent struct {
	Type         string          `json:"type"`
	Message      json.RawMessage `json:"message"`
	Index        *int            `json:"index"`
	ContentBlock json.RawMessage `json:"content_block"`
	Delta        *struct {
		Type         string          `json:"type"`
		Text         string          `json:"text"`
		PartialJSON  string          `json:"partial_json"`
		Thinking     string          `json:"thinking"`
		Signature    string          `json:"signature"`
		Citation     json.RawMessage `json:"citation"`
		StopReason   *string         `json:"stop_reason"`
		StopSequence json.RawMessage `json:"stop_sequence"`
	} `json:"delta"`
	Usage json.RawMessage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c *anthropicCollector) event(data []byte) error {
	switch leadingType(data) {
	case "ping":
		return nil
	case "content_block_delta":
		if !c.st.keep() && !bytes.Contains(data, []byte(`"input_json_delta"`)) {
			return nil // text, thinking or signature: only a rebuild needs it
		}
	}
	var ev anthEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return err
	}
	return c.handle(&ev)
}

func (c *anthropicCollector) handle(ev *anthEvent) error {
	keep := c.st.keep()
	switch ev.Type {
	case "message_start":
		var m anthMessage
		if err := json.Unmarshal(ev.Message, &m); err != nil {
			return err
		}
		c.apply(&m)
		if keep {
			c.message = nil
			_ = json.Unmarshal(ev.Message, &c.message)
		}
	case "content_block_start":
		if ev.Index == nil {
			return nil
		}
		var cb struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(ev.ContentBlock, &cb); err != nil {
			return err
		}
		b := &anthBlock{typ: cb.Type}
		if cb.Type == "tool_use" {
			b.tool = &toolAcc{id: cb.ID, name: cb.Name}
			b.startInput = append(json.RawMessage(nil), cb.Input...)
		}
		if keep {
			_ = json.Unmarshal(ev.ContentBlock, &b.start)
		}
		if c.blocks[*ev.Index] == nil && c.st.full(len(c.blocks)) {
			return nil
		}
		c.blocks[*ev.Index] = b
	case "content_block_delta":
		if ev.Index == nil || ev.Delta == nil {
			return nil
		}
		b := c.blocks[*ev.Index]
		if b == nil {
			if c.st.full(len(c.blocks)) {
				return nil
			}
			b = &anthBlock{}
			c.blocks[*ev.Index] = b
		}
		c.delta(b, ev)
	case "message_delta":
		if d := ev.Delta; d != nil {
			if d.StopReason != nil {
				c.stop = *d.StopReason
			}
			if len(d.StopSequence) > 0 {
				c.stopSeq = append(json.RawMessage(nil), d.StopSequence...)
			}
		}
		c.addUsage(ev.Usage)
	case "message_stop":
		c.st.complete = true
	case "error":
		if ev.Error != nil {
			c.st.setFailure(ev.Error.Message)
		}
		c.st.complete = true
	}
	return nil
}

func (c *anthropicCollector) delta(b *anthBlock, ev *anthEvent) {
	d := ev.Delta
	keep := c.st.keep()
	switch d.Type {
	case "input_json_delta":
		if b.tool != nil && c.st.grow(len(d.PartialJSON)) {
			b.tool.args.WriteString(d.PartialJSON)
		}
	case "text_delta":
		if keep && c.st.grow(len(d.Text)) {
			b.text.WriteString(d.Text)
		}
	case "thinking_delta":
		if keep && c.st.grow(len(d.Thinking)) {
			b.thinking.WriteString(d.Thinking)
		}
	case "signature_delta":
		if keep && c.st.grow(len(d.Signature)) {
			b.signature.WriteString(d.Signature)
		}
	case "citations_delta":
		if keep && len(d.Citation) > 0 && c.st.grow(len(d.Citation)) {
			b.citations = append(b.citations, append(json.RawMessage(nil), d.Citation...))
		}
	}
}

func (c *anthropicCollector) order() []int {
	idx := make([]int, 0, len(c.blocks))
	for i := range c.blocks {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (b *anthBlock) call() ToolCall {
	if b.tool.args.Len() == 0 && b.tool.final == nil && len(b.startInput) > 0 {
		return ToolCall{ID: b.tool.id, Name: b.tool.name, Arguments: rawArgs(b.startInput)}
	}
	return b.tool.call()
}

func (c *anthropicCollector) finish(res *Result, rebuild bool) {
	res.Usage = c.usage()
	res.Model = c.model
	res.StopReason = c.stop
	res.ToolCalls = append(res.ToolCalls, c.calls...)
	for _, i := range c.order() {
		if b := c.blocks[i]; b.tool != nil {
			res.ToolCalls = append(res.ToolCalls, b.call())
		}
	}
	if rebuild {
		res.Body = c.rebuild()
	}
}

// rebuild writes the Message a stream is equivalent to.
func (c *anthropicCollector) rebuild() json.RawMessage {
	msg := map[string]json.RawMessage{}
	for k, v := range c.message {
		msg[k] = v
	}
	if _, ok := msg["type"]; !ok {
		msg["type"] = json.RawMessage(`"message"`)
	}
	if _, ok := msg["role"]; !ok {
		msg["role"] = json.RawMessage(`"assistant"`)
	}
	content := []json.RawMessage{}
	for _, i := range c.order() {
		content = append(content, c.rebuildBlock(c.blocks[i]))
	}
	msg["content"], _ = json.Marshal(content)
	if c.stop != "" {
		msg["stop_reason"], _ = json.Marshal(c.stop)
	}
	if c.stopSeq != nil {
		msg["stop_sequence"] = c.stopSeq
	}
	if c.usageJS != nil {
		msg["usage"], _ = json.Marshal(c.usageJS)
	}
	b, _ := json.Marshal(msg)
	return b
}

func (c *anthropicCollector) rebuildBlock(b *anthBlock) json.RawMessage {
	m := map[string]json.RawMessage{}
	for k, v := range b.start {
		m[k] = v
	}
	set := func(k, s string) { m[k], _ = json.Marshal(s) }
	switch b.typ {
	case "text":
		set("text", b.text.String())
		if len(b.citations) > 0 {
			var prior []json.RawMessage
			_ = json.Unmarshal(m["citations"], &prior)
			m["citations"], _ = json.Marshal(append(prior, b.citations...))
		}
	case "thinking":
		set("thinking", b.thinking.String())
		set("signature", b.signature.String())
	case "tool_use":
		m["input"] = b.call().Arguments
	}
	out, _ := json.Marshal(m)
	return out
}
