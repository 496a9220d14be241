package translate

import (
	"encoding/json"

	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/usage"
)

// sseDecoder feeds SSE events to a format's event reader.
type sseDecoder struct {
	p sse.Parser
}

func (d *sseDecoder) run(h *hubStream, b []byte, event func(*hubStream, sse.Event)) error {
	return d.p.Feed(b, func(ev sse.Event) {
		if ev.HasData && h.live() {
			event(h, ev)
		}
	})
}

func (d *sseDecoder) stop(h *hubStream, event func(*hubStream, sse.Event)) error {
	return d.p.End(func(ev sse.Event) {
		if ev.HasData && h.live() {
			event(h, ev)
		}
	})
}

// chatDecoder reads chat completion chunks. Tool calls are told apart
// by their index; reasoning_content (DeepSeek, vLLM) is reasoning.
type chatDecoder struct {
	sseDecoder
	// c is the last chunk read, its slices reused for the next.
	c chatChunk
}

func (d *chatDecoder) feed(h *hubStream, b []byte) error { return d.run(h, b, d.event) }
func (d *chatDecoder) end(h *hubStream) error            { return d.stop(h, d.event) }

func (d *chatDecoder) event(h *hubStream, ev sse.Event) {
	if string(ev.Data) == "[DONE]" {
		h.end()
		return
	}
	c := &d.c
	if decodeChatChunk(ev.Data, c, !h.started) != nil {
		h.failf("the upstream sent a chunk that is not JSON")
		return
	}
	if len(c.Error) > 0 && !isNull(c.Error) {
		h.failf(chatErrorMessage(ev.Data))
		return
	}
	h.begin(c.ID, c.Model)
	if u := c.Usage; u != nil {
		t := usage.Tokens{Input: usage.Optional(u.PromptTokens), Output: usage.Optional(u.CompletionTokens)}
		if d := u.PromptTokensDetails; d != nil {
			t.CacheRead = usage.Optional(d.CachedTokens)
		}
		if d := u.CompletionTokensDetails; d != nil {
			t.Reasoning = usage.Optional(d.ReasoningTokens)
		}
		h.addUsage(t)
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := &ch.Delta
		if !d.ReasoningContent.empty() {
			h.reasoning(d.ReasoningContent.String())
		}
		for _, s := range [2]streamText{d.Content, d.Refusal} {
			if !s.empty() {
				h.text(s.String())
			}
		}
		for _, tc := range d.ToolCalls {
			if tc.ID != "" || tc.Function.Name != "" {
				h.tool(tc.Index, tc.ID, tc.Function.Name)
			}
			if !tc.Function.Arguments.empty() {
				h.args(tc.Index, tc.Function.Arguments.String())
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			h.setStop(chatStops[*ch.FinishReason])
		}
	}
}

// anthDecoder reads Anthropic's events, whose blocks are the hub's.
type anthDecoder struct {
	sseDecoder
	r anthEventReader
}

func (d *anthDecoder) feed(h *hubStream, b []byte) error { return d.run(h, b, d.event) }
func (d *anthDecoder) end(h *hubStream) error            { return d.stop(h, d.event) }

func (d *anthDecoder) event(h *hubStream, ev sse.Event) {
	if d.r.read(ev.Data) != nil {
		h.failf("the upstream sent an event that is not JSON")
		return
	}
	e := &d.r.e
	switch e.Type {
	case "message_start":
		if e.Message == nil {
			h.failf("the upstream sent message_start without a message")
			return
		}
		h.begin(e.Message.ID, e.Message.Model)
		h.addUsage(anthTokens(e.Message.Usage))
	case "content_block_start":
		if b := e.ContentBlock; b != nil && b.Type == "tool_use" {
			h.tool(e.Index, b.ID, b.Name)
		}
	case "content_block_delta":
		if e.Delta == nil {
			return
		}
		switch e.Delta.Type {
		case "text_delta":
			h.text(e.Delta.Text.String())
		case "thinking_delta":
			h.reasoning(e.Delta.Thinking.String())
		case "signature_delta":
			h.sign(e.Delta.Signature)
		case "input_json_delta":
			h.args(e.Index, e.Delta.PartialJSON.String())
		}
	case "content_block_stop":
		h.closeBlock()
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			h.setStop(anthStops[e.Delta.StopReason])
		}
		if e.Usage != nil {
			h.addUsage(anthTokens(*e.Usage))
		}
	case "message_stop":
		h.end()
	case "error":
		msg := "the upstream stream failed"
		if e.Error != nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		h.failf(msg)
	}
}

// anthTokens reads Anthropic usage, whose input leaves cached tokens out.
func anthTokens(u anthUsage) usage.Tokens {
	t := usage.Tokens{Output: usage.Optional(u.OutputTokens)}
	cr, cw := usage.Optional(u.CacheReadInputTokens), usage.Optional(u.CacheCreationInputTokens)
	if u.InputTokens != nil {
		t.Input = usage.Sum(usage.Of(*u.InputTokens), cr, cw)
		t.CacheRead, t.CacheWrite = cr, cw
	}
	return t
}

// respDecoder reads Responses events. Output items are told apart by
// their output_index.
type respDecoder struct{ sseDecoder }

func (d *respDecoder) feed(h *hubStream, b []byte) error { return d.run(h, b, respEvent) }
func (d *respDecoder) end(h *hubStream) error            { return d.stop(h, respEvent) }

func respEvent(h *hubStream, ev sse.Event) {
	var e respStreamEvent
	if decodeRespEvent(ev.Data, &e) != nil {
		h.failf("the upstream sent an event that is not JSON")
		return
	}
	switch e.Type {
	case "response.created", "response.in_progress":
		if e.Response != nil {
			h.begin(e.Response.ID, e.Response.Model)
		}
	case "response.output_item.added":
		if e.Item != nil && e.Item.Type == "function_call" {
			h.tool(e.OutputIndex, e.Item.CallID, e.Item.Name)
		}
	case "response.output_text.delta", "response.refusal.delta":
		h.text(e.Delta)
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		h.reasoning(e.Delta)
	case "response.function_call_arguments.delta":
		h.args(e.OutputIndex, e.Delta)
	case "response.output_item.done":
		h.closeBlock()
	case "response.completed", "response.incomplete":
		if r := e.Response; r != nil {
			h.begin(r.ID, r.Model)
			h.addUsage(r.Usage.tokens())
			h.setStop(respStop(r.Status, r.IncompleteDetails, nil))
		}
		h.end()
	case "response.failed":
		msg := "the upstream response failed"
		if r := e.Response; r != nil && len(r.Error) > 0 {
			if m := errorText(r.Error); m != "" {
				msg = m
			}
		}
		h.failf(msg)
	case "error":
		msg := e.Message
		if msg == "" {
			msg = "the upstream stream failed"
		}
		h.failf(msg)
	}
}

func errorText(raw json.RawMessage) string {
	var v struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Message
}

// gemDecoder reads Gemini's SSE chunks (alt=sse). Gemini sends each
// function call whole, and marks no end: the stream ends when the
// upstream's body does.
type gemDecoder struct {
	sseDecoder
	calls map[string]int
}

func (d *gemDecoder) feed(h *hubStream, b []byte) error { return d.run(h, b, d.event) }
func (d *gemDecoder) end(h *hubStream) error            { return d.stop(h, d.event) }

func (d *gemDecoder) event(h *hubStream, ev sse.Event) {
	var c gemChunk
	if decodeGemChunk(ev.Data, &c) != nil {
		h.failf("the upstream sent a chunk that is not JSON")
		return
	}
	if len(c.Error) > 0 && !isNull(c.Error) {
		msg := errorText(c.Error)
		if msg == "" {
			msg = "the upstream stream failed"
		}
		h.failf(msg)
		return
	}
	h.begin(c.ResponseID, c.ModelVersion)
	if c.UsageMetadata != nil {
		h.addUsage(c.UsageMetadata.tokens())
	}
	if c.PromptFeedback != nil && c.PromptFeedback.BlockReason != "" {
		h.setStop(StopRefusal)
	}
	for _, cand := range c.Candidates {
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					if d.calls == nil {
						d.calls = map[string]int{}
					}
					id := p.FunctionCall.ID
					if id == "" {
						id = gemCallID(p.FunctionCall.Name, d.calls[p.FunctionCall.Name])
						d.calls[p.FunctionCall.Name]++
					}
					args, err := argsObject(p.FunctionCall.Args)
					if err != nil {
						h.failf("the upstream sent function call arguments that are not an object")
						return
					}
					h.tool(h.calls, id, p.FunctionCall.Name)
					h.args(h.calls-1, string(args))
					h.closeBlock()
				case p.Text != nil && p.Thought:
					h.reasoning(*p.Text)
				case p.Text != nil:
					h.text(*p.Text)
				}
			}
		}
		if cand.FinishReason != "" {
			h.setStop(gemStop(cand.FinishReason, nil))
		}
	}
}

// convDecoder reads Bedrock's converse-stream event frames.
type convDecoder struct {
	d     eventstream.Decoder
	model string
}

func (d *convDecoder) feed(h *hubStream, b []byte) error {
	return d.d.Feed(b, func(m eventstream.Message) {
		if h.live() {
			d.frame(h, m)
		}
	})
}

func (d *convDecoder) end(h *hubStream) error { return d.d.End() }

func (d *convDecoder) frame(h *hubStream, m eventstream.Message) {
	if eventstream.Header(m, eventstream.HeaderMessageType) != eventstream.MessageTypeEvent {
		msg := errorText(m.Payload)
		if msg == "" {
			msg = eventstream.Header(m, eventstream.HeaderErrorMessage)
		}
		if msg == "" {
			msg = "the upstream stream failed"
		}
		h.failf(msg)
		return
	}
	var e struct {
		ContentBlockIndex int `json:"contentBlockIndex"`
		Start             *struct {
			ToolUse *struct {
				ToolUseID string `json:"toolUseId"`
				Name      string `json:"name"`
			} `json:"toolUse"`
		} `json:"start"`
		Delta *struct {
			Text             *string `json:"text"`
			ReasoningContent *struct {
				Text      string `json:"text"`
				Signature string `json:"signature"`
			} `json:"reasoningContent"`
			ToolUse *struct {
				Input string `json:"input"`
			} `json:"toolUse"`
		} `json:"delta"`
		StopReason string     `json:"stopReason"`
		Usage      *convUsage `json:"usage"`
	}
	if json.Unmarshal(m.Payload, &e) != nil {
		h.failf("the upstream sent an event that is not JSON")
		return
	}
	switch eventstream.Header(m, eventstream.HeaderEventType) {
	case "messageStart":
		h.begin("", d.model)
	case "contentBlockStart":
		if e.Start != nil && e.Start.ToolUse != nil {
			h.tool(e.ContentBlockIndex, e.Start.ToolUse.ToolUseID, e.Start.ToolUse.Name)
		}
	case "contentBlockDelta":
		switch dl := e.Delta; {
		case dl == nil:
		case dl.Text != nil:
			h.text(*dl.Text)
		case dl.ReasoningContent != nil:
			h.reasoning(dl.ReasoningContent.Text)
			h.sign(dl.ReasoningContent.Signature)
		case dl.ToolUse != nil:
			h.args(e.ContentBlockIndex, dl.ToolUse.Input)
		}
	case "contentBlockStop":
		h.closeBlock()
	case "messageStop":
		h.setStop(convStops[e.StopReason])
	case "metadata":
		h.addUsage(e.Usage.tokens())
		h.end()
	}
}
