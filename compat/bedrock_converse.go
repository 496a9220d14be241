package compat

import (
	"cmp"
	"encoding/json"
	"github.com/sluice-gateway/sluice/usage"
	"sort"
	"strings"
)

// bedrockConverse is Bedrock's Converse API:
// POST /bedrock/model/{id}/converse and /converse-stream (also without the
// /bedrock prefix). Streams are AWS event streams of typed events.
type bedrockConverse struct{}

func (bedrockConverse) detect(segs []string) (Route, bool) {
	r, op, ok := parseBedrockPath(segs)
	if !ok {
		return Route{}, false
	}
	switch op {
	case "converse":
	case "converse-stream":
		r.Stream = true
	default:
		return Route{}, false
	}
	return r, true
}

func (bedrockConverse) upstreamPath(r Route) string { return bedrockUpstreamPath(r) }
func (bedrockConverse) errorShape() shape           { return shapeBedrock }
func (bedrockConverse) streamFraming() framing      { return framingEventStream }

func (bedrockConverse) inspect(body []byte) (Request, error) {
	vals, model, modelID, err := requestMembers(body, "toolConfig")
	if err != nil {
		return Request{}, err
	}
	tools, err := toolSpecs(vals[0])
	return Request{Model: cmp.Or(model, modelID), Tools: tools}, err
}

// toolSpecs lists the tool names of a Bedrock toolConfig.
func toolSpecs(raw json.RawMessage) ([]string, error) {
	var cfg struct {
		Tools []struct {
			ToolSpec *struct {
				Name string `json:"name"`
			} `json:"toolSpec"`
		} `json:"tools"`
	}
	if err := decodeMember(raw, "toolConfig", &cfg); err != nil {
		return nil, err
	}
	var out []string
	for _, t := range cfg.Tools {
		if t.ToolSpec != nil {
			out = append(out, t.ToolSpec.Name)
		}
	}
	return out, nil
}

func (bedrockConverse) userMessage(body []byte) (string, error) {
	var v struct {
		Messages []roleContent `json:"messages"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	return lastUserText(v.Messages, func(c json.RawMessage) string { return textOf(c, "", "text") }), nil
}

func (bedrockConverse) newCollector(st *recState) collector { return newConverseCollector(st) }

// convUsage is Bedrock's TokenUsage (Converse), also used by Amazon Nova
// models on InvokeModel, which spell the cache counts differently.
type convUsage struct {
	InputTokens    *int64 `json:"inputTokens"`
	OutputTokens   *int64 `json:"outputTokens"`
	CacheRead      *int64 `json:"cacheReadInputTokens"`
	CacheWrite     *int64 `json:"cacheWriteInputTokens"`
	NovaCacheRead  *int64 `json:"cacheReadInputTokenCount"`
	NovaCacheWrite *int64 `json:"cacheWriteInputTokenCount"`
}

// usage converts; inputTokens excludes cached tokens, which Usage counts
// as part of the input.
func (u *convUsage) usage() usage.Tokens {
	cr, cw := usage.Optional(u.CacheRead), usage.Optional(u.CacheWrite)
	if !cr.Reported() {
		cr = usage.Optional(u.NovaCacheRead)
	}
	if !cw.Reported() {
		cw = usage.Optional(u.NovaCacheWrite)
	}
	in := usage.Optional(u.InputTokens)
	if in.Reported() {
		in = usage.Sum(in, cr, cw)
	}
	return usage.Tokens{Input: in, Output: usage.Optional(u.OutputTokens), CacheRead: cr, CacheWrite: cw}
}

type convBlock struct {
	kind      string // "text", "toolUse", "reasoning"
	text      strings.Builder
	signature strings.Builder
	tool      *toolAcc
}

// converseCollector reads Converse bodies and ConverseStream events (as
// {"eventType": payload} JSON).
type converseCollector struct {
	st      *recState
	usage   usage.Tokens
	stop    string
	role    string
	calls   []ToolCall // non-stream
	blocks  map[int]*convBlock
	usageJS json.RawMessage
	metrics json.RawMessage
	extra   json.RawMessage // additionalModelResponseFields
}

func newConverseCollector(st *recState) *converseCollector {
	return &converseCollector{st: st, blocks: map[int]*convBlock{}}
}

func (c *converseCollector) body(data []byte) error {
	var v struct {
		Output *struct {
			Message *struct {
				Content []struct {
					ToolUse *struct {
						ToolUseID string          `json:"toolUseId"`
						Name      string          `json:"name"`
						Input     json.RawMessage `json:"input"`
					} `json:"toolUse"`
				} `json:"content"`
			} `json:"message"`
		} `json:"output"`
		StopReason string     `json:"stopReason"`
		Usage      *convUsage `json:"usage"`
		Message    string     `json:"message"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v.Output == nil && v.Message != "" {
		c.st.setFailure(v.Message)
	}
	c.stop = v.StopReason
	if v.Usage != nil {
		c.usage = c.usage.Merge(v.Usage.usage())
	}
	if v.Output != nil && v.Output.Message != nil {
		for _, b := range v.Output.Message.Content {
			if t := b.ToolUse; t != nil {
				c.calls = append(c.calls, ToolCall{ID: t.ToolUseID, Name: t.Name, Arguments: rawArgs(t.Input)})
			}
		}
	}
	return nil
}

type convIndex struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
}

type convEvent struct {
	MessageStart *struct {
		Role string `json:"role"`
	} `json:"messageStart"`
	ContentBlockStart *struct {
		convIndex
		Start struct {
			ToolUse *struct {
				ToolUseID string `json:"toolUseId"`
				Name      string `json:"name"`
			} `json:"toolUse"`
		} `json:"start"`
	} `json:"contentBlockStart"`
	ContentBlockDelta *struct {
		convIndex
		Delta struct {
			Text    *string `json:"text"`
			ToolUse *struct {
				Input string `json:"input"`
			} `json:"toolUse"`
			ReasoningContent *struct {
				Text      *string `json:"text"`
				Signature *string `json:"signature"`
			} `json:"reasoningContent"`
		} `json:"delta"`
	} `json:"contentBlockDelta"`
	MessageStop *struct {
		StopReason                    string          `json:"stopReason"`
		AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields"`
	} `json:"messageStop"`
	Metadata *struct {
		Usage   json.RawMessage `json:"usage"`
		Metrics json.RawMessage `json:"metrics"`
	} `json:"metadata"`
}

func (c *converseCollector) block(i int, kind string) *convBlock {
	b := c.blocks[i]
	if b == nil {
		b = &convBlock{kind: kind}
		if c.st.full(len(c.blocks)) {
			return b // worked on, not kept
		}
		c.blocks[i] = b
	}
	if b.kind == "" {
		b.kind = kind
	}
	return b
}

func (c *converseCollector) event(data []byte) error {
	var ev convEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return err
	}
	keep := c.st.keep()
	switch {
	case ev.MessageStart != nil:
		c.role = ev.MessageStart.Role
	case ev.ContentBlockStart != nil:
		if t := ev.ContentBlockStart.Start.ToolUse; t != nil {
			b := c.block(ev.ContentBlockStart.ContentBlockIndex, "toolUse")
			b.tool = &toolAcc{id: t.ToolUseID, name: t.Name}
		}
	case ev.ContentBlockDelta != nil:
		d := ev.ContentBlockDelta.Delta
		i := ev.ContentBlockDelta.ContentBlockIndex
		switch {
		case d.ToolUse != nil:
			b := c.block(i, "toolUse")
			if b.tool == nil {
				b.tool = &toolAcc{}
			}
			if c.st.grow(len(d.ToolUse.Input)) {
				b.tool.args.WriteString(d.ToolUse.Input)
			}
		case d.Text != nil:
			b := c.block(i, "text")
			if keep && c.st.grow(len(*d.Text)) {
				b.text.WriteString(*d.Text)
			}
		case d.ReasoningContent != nil:
			b := c.block(i, "reasoning")
			if r := d.ReasoningContent; keep {
				if r.Text != nil && c.st.grow(len(*r.Text)) {
					b.text.WriteString(*r.Text)
				}
				if r.Signature != nil && c.st.grow(len(*r.Signature)) {
					b.signature.WriteString(*r.Signature)
				}
			}
		}
	case ev.MessageStop != nil:
		c.stop = ev.MessageStop.StopReason
		if keep && len(ev.MessageStop.AdditionalModelResponseFields) > 0 {
			c.extra = append(json.RawMessage(nil), ev.MessageStop.AdditionalModelResponseFields...)
		}
	case ev.Metadata != nil:
		c.st.complete = true // metadata is the stream's last event
		if u := ev.Metadata.Usage; len(u) > 0 {
			var cu convUsage
			if err := json.Unmarshal(u, &cu); err != nil {
				return err
			}
			c.usage = c.usage.Merge(cu.usage())
			if keep {
				c.usageJS = append(json.RawMessage(nil), u...)
			}
		}
		if keep && len(ev.Metadata.Metrics) > 0 {
			c.metrics = append(json.RawMessage(nil), ev.Metadata.Metrics...)
		}
	}
	return nil
}

func (c *converseCollector) order() []int {
	idx := make([]int, 0, len(c.blocks))
	for i := range c.blocks {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (c *converseCollector) finish(res *Result, rebuild bool) {
	res.Usage = c.usage
	res.StopReason = c.stop
	res.ToolCalls = append(res.ToolCalls, c.calls...)
	for _, i := range c.order() {
		if b := c.blocks[i]; b.tool != nil {
			res.ToolCalls = append(res.ToolCalls, b.tool.call())
		}
	}
	if rebuild {
		res.Body = c.rebuild()
	}
}

// rebuild writes the Converse response a stream is equivalent to.
func (c *converseCollector) rebuild() json.RawMessage {
	content := []any{}
	for _, i := range c.order() {
		b := c.blocks[i]
		switch {
		case b.tool != nil:
			content = append(content, map[string]any{"toolUse": map[string]any{
				"toolUseId": b.tool.id, "name": b.tool.name, "input": b.tool.call().Arguments}})
		case b.kind == "reasoning":
			rt := map[string]string{"text": b.text.String()}
			if b.signature.Len() > 0 {
				rt["signature"] = b.signature.String()
			}
			content = append(content, map[string]any{"reasoningContent": map[string]any{"reasoningText": rt}})
		default:
			content = append(content, map[string]string{"text": b.text.String()})
		}
	}
	role := c.role
	if role == "" {
		role = "assistant"
	}
	out := map[string]any{
		"output": map[string]any{"message": map[string]any{"role": role, "content": content}},
	}
	if c.stop != "" {
		out["stopReason"] = c.stop
	}
	if c.usageJS != nil {
		out["usage"] = c.usageJS
	}
	if c.metrics != nil {
		out["metrics"] = c.metrics
	}
	if c.extra != nil {
		out["additionalModelResponseFields"] = c.extra
	}
	b, _ := json.Marshal(out)
	return b
}
