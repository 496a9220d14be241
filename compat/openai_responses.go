package compat

import (
	"bytes"
	"encoding/json"
	"github.com/sluice-gateway/sluice/usage"
	"sort"
)

// openAIResponses is the OpenAI Responses API: POST /v1/responses, plus
// /v1/responses/compact and /v1/responses/input_tokens.
type openAIResponses struct{}

func (openAIResponses) detect(segs []string) (Route, bool) {
	switch {
	case segsAre(segs, "v1", "responses"):
		return Route{}, true
	case segsAre(segs, "v1", "responses", "compact"):
		return Route{Operation: OpCompact, sub: "compact"}, true
	case segsAre(segs, "v1", "responses", "input_tokens"):
		return Route{Operation: OpCountTokens, sub: "input_tokens"}, true
	}
	return Route{}, false
}

func (openAIResponses) upstreamPath(r Route) string {
	if r.sub != "" {
		return "/v1/responses/" + r.sub
	}
	return "/v1/responses"
}

func (openAIResponses) errorShape() shape      { return shapeOpenAI }
func (openAIResponses) streamFraming() framing { return framingSSE }

func (openAIResponses) inspect(body []byte) (Request, error) { return inspectNamed(body, false) }

func (openAIResponses) userMessage(body []byte) (string, error) {
	var v struct {
		Input json.RawMessage `json:"input"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	in := trimSpace(v.Input)
	if len(in) == 0 {
		return "", nil
	}
	if in[0] == '"' {
		return textOf(in), nil
	}
	var items []struct {
		Type string `json:"type"`
		roleContent
	}
	if json.Unmarshal(in, &items) != nil {
		return "", nil
	}
	msgs := make([]roleContent, 0, len(items))
	for _, it := range items {
		if it.Type == "" || it.Type == "message" {
			msgs = append(msgs, it.roleContent)
		}
	}
	return lastUserText(msgs, func(c json.RawMessage) string { return textOf(c, "input_text", "text") }), nil
}

func (openAIResponses) newCollector(st *recState) collector {
	return &respCollector{st: st, items: map[int]*respItem{}}
}

// respObject is the part of a Responses API response object sluice reads.
type respObject struct {
	Model             string `json:"model"`
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Usage *struct {
		InputTokens        *int64 `json:"input_tokens"`
		OutputTokens       *int64 `json:"output_tokens"`
		InputTokensDetails *struct {
			CachedTokens *int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
	} `json:"usage"`
	Output []respItemObject `json:"output"`
}

// respItemObject is an output item; only tool calls matter here.
type respItemObject struct {
	Type      string  `json:"type"`
	CallID    string  `json:"call_id"`
	Name      string  `json:"name"`
	Arguments *string `json:"arguments"`
	Input     *string `json:"input"`
}

// call returns the item as a tool call, or false for other items.
func (it respItemObject) call() (ToolCall, bool) {
	switch it.Type {
	case "function_call":
		args := ""
		if it.Arguments != nil {
			args = *it.Arguments
		}
		return ToolCall{ID: it.CallID, Name: it.Name, Arguments: argsJSON(args)}, true
	case "custom_tool_call":
		in := ""
		if it.Input != nil {
			in = *it.Input
		}
		b, _ := json.Marshal(in)
		return ToolCall{ID: it.CallID, Name: it.Name, Arguments: b}, true
	}
	return ToolCall{}, false
}

type respItem struct {
	tool   *toolAcc
	custom bool
	done   json.RawMessage // output_item.done, kept to rebuild
}

// respCollector reads Responses API bodies and event streams.
type respCollector struct {
	st       *recState
	usage    usage.Tokens
	model    string
	stop     string
	terminal bool
	calls    []ToolCall // from a complete response object
	snapshot json.RawMessage
	items    map[int]*respItem
}

// object applies a response object; terminal says it is the final one.
func (c *respCollector) object(raw json.RawMessage, terminal bool) error {
	var o respObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	if o.Model != "" {
		c.model = o.Model
	}
	if o.Status != "" {
		c.stop = o.Status
	}
	if o.IncompleteDetails != nil && o.IncompleteDetails.Reason != "" {
		c.stop = o.IncompleteDetails.Reason
	}
	if o.Error != nil && o.Error.Message != "" {
		c.st.setFailure(o.Error.Message)
	}
	if u := o.Usage; u != nil {
		us := usage.Tokens{Input: usage.Optional(u.InputTokens), Output: usage.Optional(u.OutputTokens)}
		if u.InputTokensDetails != nil {
			us.CacheRead = usage.Optional(u.InputTokensDetails.CachedTokens)
		}
		c.usage = c.usage.Merge(us)
	}
	if terminal {
		c.terminal = true
		c.calls = c.calls[:0]
		for _, it := range o.Output {
			if call, ok := it.call(); ok {
				c.calls = append(c.calls, call)
			}
		}
	}
	if c.st.keep() {
		c.snapshot = append(json.RawMessage(nil), raw...)
	}
	return nil
}

func (c *respCollector) body(data []byte) error {
	return c.object(data, true)
}

type respEvent struct {
	Type        string          `json:"type"`
	Response    json.RawMessage `json:"response"`
	OutputIndex *int            `json:"output_index"`
	Item        json.RawMessage `json:"item"`
	Delta       json.RawMessage `json:"delta"`
	Arguments   *string         `json:"arguments"`
	Input       *string         `json:"input"`
	Message     string          `json:"message"`
}

func (c *respCollector) item(ev *respEvent) *respItem {
	if ev.OutputIndex == nil {
		return nil
	}
	it := c.items[*ev.OutputIndex]
	if it == nil {
		if c.st.full(len(c.items)) {
			return nil
		}
		it = &respItem{}
		c.items[*ev.OutputIndex] = it
	}
	return it
}

// contentEvents stream text the terminal response and output_item.done
// repeat whole: nothing to record from them.
var contentEvents = map[string]bool{
	"response.output_text.delta": true, "response.output_text.done": true,
	"response.content_part.added": true, "response.content_part.done": true,
	"response.output_text.annotation.added": true,
	"response.refusal.delta":                true, "response.refusal.done": true,
	"response.reasoning_text.delta": true, "response.reasoning_text.done": true,
	"response.reasoning_summary_text.delta": true, "response.reasoning_summary_text.done": true,
	"response.reasoning_summary_part.added": true, "response.reasoning_summary_part.done": true,
}

// leadingType returns the value of a "type" member written first, as the
// Responses API and Anthropic write their events, or "".
func leadingType(data []byte) string {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return ""
	}
	rest := data[len(prefix):]
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return ""
	}
	return string(rest[:i])
}

func (c *respCollector) event(data []byte) error {
	if contentEvents[leadingType(data)] {
		return nil
	}
	var ev respEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return err
	}
	switch ev.Type {
	case "response.created", "response.in_progress", "response.queued":
		return c.object(ev.Response, false)
	case "response.completed", "response.failed", "response.incomplete":
		c.st.complete = true
		return c.object(ev.Response, true)
	case "error":
		c.st.setFailure(ev.Message)
		c.st.complete = true
	case "response.output_item.added", "response.output_item.done":
		it := c.item(&ev)
		if it == nil {
			return nil
		}
		var obj respItemObject
		if err := json.Unmarshal(ev.Item, &obj); err != nil {
			return err
		}
		if obj.Type == "function_call" || obj.Type == "custom_tool_call" {
			if it.tool == nil {
				it.tool = &toolAcc{}
			}
			it.custom = obj.Type == "custom_tool_call"
			it.tool.id, it.tool.name = obj.CallID, obj.Name
			if ev.Type == "response.output_item.done" {
				call, _ := obj.call()
				it.tool.final = call.Arguments
			}
		}
		if ev.Type == "response.output_item.done" && c.st.keep() && c.st.grow(len(ev.Item)) {
			it.done = append(json.RawMessage(nil), ev.Item...)
		}
	case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
		it := c.item(&ev)
		var d string
		if it == nil || json.Unmarshal(ev.Delta, &d) != nil {
			return nil
		}
		if it.tool == nil {
			it.tool = &toolAcc{}
		}
		it.custom = ev.Type == "response.custom_tool_call_input.delta"
		if c.st.grow(len(d)) {
			it.tool.args.WriteString(d)
		}
	case "response.function_call_arguments.done":
		if it := c.item(&ev); it != nil && it.tool != nil && ev.Arguments != nil {
			it.tool.final = argsJSON(*ev.Arguments)
		}
	case "response.custom_tool_call_input.done":
		if it := c.item(&ev); it != nil && it.tool != nil && ev.Input != nil {
			b, _ := json.Marshal(*ev.Input)
			it.tool.final = b
		}
	}
	return nil
}

func (c *respCollector) order() []int {
	idx := make([]int, 0, len(c.items))
	for i := range c.items {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (c *respCollector) finish(res *Result, rebuild bool) {
	res.Usage = c.usage
	res.Model = c.model
	res.StopReason = c.stop
	if c.terminal {
		res.ToolCalls = append(res.ToolCalls, c.calls...)
	} else {
		for _, i := range c.order() {
			it := c.items[i]
			if it.tool == nil {
				continue
			}
			call := it.tool.call()
			if it.custom && it.tool.final == nil {
				b, _ := json.Marshal(it.tool.args.String())
				call.Arguments = b
			}
			res.ToolCalls = append(res.ToolCalls, call)
		}
	}
	if rebuild {
		res.Body = c.rebuild()
	}
}

// rebuild returns the final response object of the stream; when the stream
// ended before it, the last snapshot with the items that did complete.
func (c *respCollector) rebuild() json.RawMessage {
	if c.terminal || c.snapshot == nil {
		return c.snapshot
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(c.snapshot, &obj) != nil {
		return c.snapshot
	}
	out := []json.RawMessage{}
	for _, i := range c.order() {
		if d := c.items[i].done; d != nil {
			out = append(out, d)
		}
	}
	obj["output"], _ = json.Marshal(out)
	b, _ := json.Marshal(obj)
	return b
}
