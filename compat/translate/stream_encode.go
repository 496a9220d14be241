package translate

import (
	"encoding/json"
	"strconv"

	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// sseEvent appends one SSE event (name may be "") with JSON data.
func (o *streamOut) sseEvent(name string, data []byte) {
	if name != "" {
		o.out = append(o.out, "event: "...)
		o.out = append(o.out, name...)
		o.out = append(o.out, '\n')
	}
	o.out = append(o.out, "data: "...)
	o.out = append(o.out, data...)
	o.out = append(o.out, "\n\n"...)
}

// anthEncoder writes Anthropic's events.
type anthEncoder struct {
	o      *streamOut
	blocks int
	kind   PartKind
}

func (e *anthEncoder) start(id, model string) {
	// The members in encoding/json's order for a map, as the hub has
	// always written them.
	o := append(e.o.out, "event: message_start\ndata: {\"message\":{\"content\":[],\"id\":"...)
	o = jsonbytes.AppendString(o, id)
	o = append(o, `,"model":`...)
	o = jsonbytes.AppendString(o, model)
	e.o.out = append(o, `,"role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":{"input_tokens":0,"output_tokens":0}},"type":"message_start"}`+"\n\n"...)
}

func (e *anthEncoder) open(kind PartKind, id, name string) {
	e.kind = kind
	e.o.out = appendAnthBlockStart(e.o.out, e.blocks, kind, id, name)
}

func (e *anthEncoder) delta(s string) {
	head := `{"type":"text_delta","text":`
	switch e.kind {
	case PartReasoning:
		head = `{"type":"thinking_delta","thinking":`
	case PartToolCall:
		head = `{"type":"input_json_delta","partial_json":`
	}
	e.o.out = appendAnthDelta(e.o.out, e.blocks, head, s)
}

func (e *anthEncoder) signature(sig string) {
	e.o.out = appendAnthDelta(e.o.out, e.blocks, `{"type":"signature_delta","signature":`, sig)
}

func (e *anthEncoder) close() {
	e.o.out = appendAnthBlockStop(e.o.out, e.blocks)
	e.blocks++
}

func (e *anthEncoder) finish(stop StopReason, u usage.Tokens) {
	// The members in encoding/json's order for a map, as the hub has
	// always written them; the output count is 0 when not reported, as
	// Anthropic's clients require one.
	o := append(e.o.out, "event: message_delta\ndata: {\"delta\":{\"stop_reason\":\""...)
	o = append(o, anthStopOf(stop)...)
	o = append(o, `","stop_sequence":null},"type":"message_delta","usage":`...)
	o = appendAnthUsage(o, u.UncachedInput(), usage.Of(u.Output.Value()), u.CacheWrite, u.CacheRead)
	e.o.out = append(o, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

func (e *anthEncoder) fail(msg string) {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": msg}})
	e.o.sseEvent("error", b)
}

func anthStopOf(s StopReason) string {
	switch s {
	case StopMaxTokens:
		return "max_tokens"
	case StopSequence:
		return "stop_sequence"
	case StopToolUse:
		return "tool_use"
	case StopRefusal:
		return "refusal"
	}
	return "end_turn"
}

// chatEncoder writes chat completion chunks. Reasoning has no chat field
// every client reads and is left out.
type chatEncoder struct {
	o          *streamOut
	usageChunk bool
	created    int64
	head       string
	kind       PartKind
	calls      int
}

func (e *chatEncoder) start(id, model string) {
	e.head = chatChunkHead(id, model, e.created)
	e.chunk(`{"role":"assistant","content":""}`, "null")
}

func (e *chatEncoder) chunk(delta, finish string) {
	e.o.sseEvent("", []byte(e.head+`[{"index":0,"delta":`+delta+`,"finish_reason":`+finish+`}]}`))
}

func (e *chatEncoder) open(kind PartKind, id, name string) {
	e.kind = kind
	if kind == PartToolCall {
		e.o.out = appendChatToolOpen(e.o.out, e.head, e.calls, id, name)
		e.calls++
	}
}

func (e *chatEncoder) delta(s string) {
	switch e.kind {
	case PartText:
		e.o.out = appendChatDelta(e.o.out, e.head, -1, streamText{s: s})
	case PartToolCall:
		e.o.out = appendChatDelta(e.o.out, e.head, e.calls-1, streamText{s: s})
	}
}

func (e *chatEncoder) signature(string) {}
func (e *chatEncoder) close()           { e.kind = 0 }

func (e *chatEncoder) finish(stop StopReason, u usage.Tokens) {
	finish := "stop"
	switch stop {
	case StopMaxTokens:
		finish = "length"
	case StopToolUse:
		finish = "tool_calls"
	case StopRefusal:
		finish = "content_filter"
	}
	e.chunk(`{}`, `"`+finish+`"`)
	if e.usageChunk {
		cu := chatUsage{PromptTokens: u.Input.Ptr(), CompletionTokens: u.Output.Ptr(), TotalTokens: u.Total().Ptr()}
		if u.CacheRead.Reported() {
			cu.PromptTokensDetails = &struct {
				CachedTokens *int64 `json:"cached_tokens,omitempty"`
			}{u.CacheRead.Ptr()}
		}
		if u.Reasoning.Reported() {
			cu.CompletionTokensDetails = &struct {
				ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
			}{u.Reasoning.Ptr()}
		}
		b, _ := json.Marshal(cu)
		e.o.sseEvent("", []byte(e.head+`[],"usage":`+string(b)+`}`))
	}
	e.o.sseEvent("", []byte("[DONE]"))
}

func (e *chatEncoder) fail(msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "server_error", "param": nil, "code": nil}})
	e.o.sseEvent("", b)
}

// respEncoder writes Responses events: each block is an output item
// (message, reasoning, function_call) added, streamed and done; the
// stream ends with response.completed (or .incomplete) carrying the whole
// response, which clients read their final state from, so the encoder
// keeps the answer's parts.
type respEncoder struct {
	o       *streamOut
	created int64
	seq     int
	id      string
	model   string
	parts   []Part
	// cur is the open block's text (or arguments).
	cur  []byte
	kind PartKind
	item respItem
}

// event writes one event of type typ with fields, whose members are
// sorted as encoding/json sorts a map's, written by jsonbytes.AppendValue
// straight into the output (Marshal allocated a copy of every member).
func (e *respEncoder) event(typ string, fields map[string]any) {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	o := append(e.o.out, "event: "...)
	o = append(o, typ...)
	o = append(o, "\ndata: "...)
	o, _ = jsonbytes.AppendValue(o, fields) // the fields are plain values, strings and items: nothing Marshal refuses
	e.o.out = append(o, "\n\n"...)
}

func (e *respEncoder) response(status string, r *Response) map[string]any {
	out := map[string]any{"id": e.id, "object": "response", "created_at": e.created, "status": status,
		"error": nil, "incomplete_details": nil, "model": e.model, "output": []any{}, "usage": nil}
	if r != nil {
		b, _ := openAIResponses{}.encodeResponse(r)
		var full map[string]any
		_ = json.Unmarshal(b, &full)
		full["status"], full["created_at"], full["id"] = status, e.created, e.id
		if status == "completed" {
			full["incomplete_details"] = nil
		}
		return full
	}
	return out
}

func (e *respEncoder) start(id, model string) {
	e.id, e.model = respID(id), model
	e.event("response.created", map[string]any{"response": e.response("in_progress", nil)})
	e.event("response.in_progress", map[string]any{"response": e.response("in_progress", nil)})
}

func (e *respEncoder) itemID() string {
	prefix := map[PartKind]string{PartText: "msg_", PartReasoning: "rs_", PartToolCall: "fc_"}[e.kind]
	return prefix + e.id[len("resp_"):] + "_" + strconv.Itoa(len(e.parts))
}

func (e *respEncoder) open(kind PartKind, id, name string) {
	e.kind, e.cur = kind, e.cur[:0]
	idx := len(e.parts)
	switch kind {
	case PartText:
		e.item = respItem{ID: e.itemID(), Type: "message", Status: "in_progress", Role: "assistant", Content: json.RawMessage("[]")}
		e.event("response.output_item.added", map[string]any{"output_index": idx, "item": e.item})
		e.event("response.content_part.added", map[string]any{"item_id": e.item.ID, "output_index": idx, "content_index": 0,
			"part": map[string]any{"type": "output_text", "annotations": []any{}, "text": ""}})
	case PartReasoning:
		e.item = respItem{ID: e.itemID(), Type: "reasoning", Summary: []respContent{}}
		e.event("response.output_item.added", map[string]any{"output_index": idx, "item": e.item})
		e.event("response.reasoning_summary_part.added", map[string]any{"item_id": e.item.ID, "output_index": idx, "summary_index": 0,
			"part": map[string]any{"type": "summary_text", "text": ""}})
	default:
		empty := ""
		e.item = respItem{ID: e.itemID(), Type: "function_call", Status: "in_progress", Arguments: &empty, CallID: id, Name: name}
		e.event("response.output_item.added", map[string]any{"output_index": idx, "item": e.item})
	}
}

func (e *respEncoder) delta(s string) {
	e.cur = append(e.cur, s...)
	// The deltas, most of a stream, are appended with their members in
	// the order encoding/json writes a map's, as the other events are.
	typ := "response.function_call_arguments.delta"
	switch e.kind {
	case PartText:
		typ = "response.output_text.delta"
	case PartReasoning:
		typ = "response.reasoning_summary_text.delta"
	}
	o := append(e.o.out, "event: "...)
	o = append(o, typ...)
	o = append(o, "\ndata: {"...)
	if e.kind == PartText {
		o = append(o, `"content_index":0,`...)
	}
	o = append(o, `"delta":`...)
	o = jsonbytes.AppendString(o, s)
	o = append(o, `,"item_id":`...)
	o = jsonbytes.AppendString(o, e.item.ID)
	if e.kind == PartText {
		o = append(o, `,"logprobs":[]`...)
	}
	o = append(o, `,"output_index":`...)
	o = strconv.AppendInt(o, int64(len(e.parts)), 10)
	o = append(o, `,"sequence_number":`...)
	o = strconv.AppendInt(o, int64(e.seq), 10)
	e.seq++
	if e.kind == PartReasoning {
		o = append(o, `,"summary_index":0`...)
	}
	o = append(o, `,"type":"`...)
	o = append(o, typ...)
	e.o.out = append(o, "\"}\n\n"...)
}

func (e *respEncoder) signature(string) {}

func (e *respEncoder) close() {
	idx := len(e.parts)
	text := string(e.cur)
	var part Part
	switch e.kind {
	case PartText:
		e.event("response.output_text.done", map[string]any{"item_id": e.item.ID, "output_index": idx, "content_index": 0, "text": text, "logprobs": []any{}})
		c := map[string]any{"type": "output_text", "annotations": []any{}, "text": text}
		e.event("response.content_part.done", map[string]any{"item_id": e.item.ID, "output_index": idx, "content_index": 0, "part": c})
		e.item.Status = "completed"
		e.item.Content, _ = json.Marshal([]any{c})
		part = Part{Kind: PartText, Text: text}
	case PartReasoning:
		e.event("response.reasoning_summary_text.done", map[string]any{"item_id": e.item.ID, "output_index": idx, "summary_index": 0, "text": text})
		s := respContent{Type: "summary_text", Text: text}
		e.event("response.reasoning_summary_part.done", map[string]any{"item_id": e.item.ID, "output_index": idx, "summary_index": 0, "part": s})
		e.item.Summary = []respContent{s}
		part = Part{Kind: PartReasoning, Reasoning: &Reasoning{ID: e.item.ID, Text: text}}
	default:
		e.event("response.function_call_arguments.done", map[string]any{"item_id": e.item.ID, "output_index": idx, "arguments": text})
		e.item.Status, e.item.Arguments = "completed", &text
		args, err := argumentsObject(text)
		if err != nil {
			args = json.RawMessage("{}")
		}
		part = Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: e.item.CallID, Name: e.item.Name, Arguments: args}}
	}
	e.event("response.output_item.done", map[string]any{"output_index": idx, "item": e.item})
	e.parts = append(e.parts, part)
	e.kind = 0
}

func (e *respEncoder) finish(stop StopReason, u usage.Tokens) {
	r := &Response{ID: e.id, Model: e.model, Created: e.created, Parts: e.parts, Stop: stop, Usage: u}
	full := e.response("completed", r)
	typ := "response.completed"
	if full["status"] == "incomplete" || stop == StopMaxTokens || stop == StopRefusal {
		full["status"], typ = "incomplete", "response.incomplete"
		reason := "max_output_tokens"
		if stop == StopRefusal {
			reason = "content_filter"
		}
		full["incomplete_details"] = map[string]string{"reason": reason}
	}
	// Items keep the IDs the stream gave them.
	if out, ok := full["output"].([]any); ok {
		for i, it := range out {
			if m, ok := it.(map[string]any); ok && i < len(e.parts) {
				m["id"] = e.partItemID(i)
			}
		}
	}
	e.event(typ, map[string]any{"response": full})
}

func (e *respEncoder) partItemID(i int) string {
	prefix := map[PartKind]string{PartText: "msg_", PartReasoning: "rs_", PartToolCall: "fc_"}[e.parts[i].Kind]
	return prefix + e.id[len("resp_"):] + "_" + strconv.Itoa(i)
}

func (e *respEncoder) fail(msg string) {
	e.event("error", map[string]any{"code": "server_error", "message": msg, "param": nil})
}

// gemEncoder writes Gemini's SSE chunks (the alt=sse form). Function
// calls go whole, so their arguments are gathered until the block ends.
type gemEncoder struct {
	o     *streamOut
	id    string
	model string
	kind  PartKind
	call  string
	name  string
	args  []byte
	// sig is a thought signature waiting for the next part.
	sig string
	// array writes the chunks as one JSON array; n counts them.
	array bool
	n     int
}

func (e *gemEncoder) chunk(parts []gemPart, finish string, u *gemUsage) {
	c := gemResponse{Candidates: []gemCandidate{{Content: &gemContent{Role: "model", Parts: parts}, FinishReason: finish}},
		UsageMetadata: u, ModelVersion: e.model, ResponseID: e.id}
	b, _ := json.Marshal(c)
	e.write(b)
}

// write writes one chunk: an SSE event, or the array's next element.
func (e *gemEncoder) write(b []byte) {
	if !e.array {
		e.o.sseEvent("", b)
		return
	}
	if e.n == 0 {
		e.o.out = append(e.o.out, '[')
	} else {
		e.o.out = append(e.o.out, ",\r\n"...)
	}
	e.n++
	e.o.out = append(e.o.out, b...)
}

// endArray closes the array.
func (e *gemEncoder) endArray() {
	if e.array {
		if e.n == 0 {
			e.o.out = append(e.o.out, '[')
		}
		e.o.out = append(e.o.out, ']')
	}
}

func (e *gemEncoder) part(p gemPart) {
	p.ThoughtSignature, e.sig = e.sig, ""
	e.chunk([]gemPart{p}, "", nil)
}

func (e *gemEncoder) start(id, model string) { e.id, e.model = id, model }

func (e *gemEncoder) open(kind PartKind, id, name string) {
	e.kind, e.call, e.name, e.args = kind, id, name, e.args[:0]
}

func (e *gemEncoder) delta(s string) {
	switch e.kind {
	case PartText:
		e.part(gemPart{Text: &s})
	case PartReasoning:
		e.part(gemPart{Text: &s, Thought: true})
	default:
		e.args = append(e.args, s...)
	}
}

// signature drops the source's signature: Gemini clients send thought
// signatures back to Gemini only, which cannot read another provider's.
func (e *gemEncoder) signature(string) {}

func (e *gemEncoder) close() {
	if e.kind == PartToolCall {
		args, err := argumentsObject(string(e.args))
		if err != nil {
			args = json.RawMessage("{}")
		}
		e.part(gemPart{FunctionCall: &gemCall{ID: e.call, Name: e.name, Args: args}})
	}
	e.kind = 0
}

func (e *gemEncoder) finish(stop StopReason, u usage.Tokens) {
	empty := ""
	parts := []gemPart{{Text: &empty, ThoughtSignature: e.sig}}
	e.chunk(parts, gemFinish(stop), gemUsageOf(u))
	e.endArray()
}

func (e *gemEncoder) fail(msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": 500, "message": msg, "status": "INTERNAL"}})
	e.write(b)
	e.endArray()
}

// convEncoder writes Bedrock's converse-stream event frames.
type convEncoder struct {
	o      *streamOut
	blocks int
	kind   PartKind
	// payload is the frame being written's JSON, reused.
	payload []byte
}

// frame writes one event frame of type typ; payload's members are
// written sorted, as encoding/json writes a map's.
func (e *convEncoder) frame(typ string, payload map[string]any) {
	e.payload, _ = jsonbytes.AppendValue(e.payload[:0], payload) // plain values only: nothing Marshal refuses
	e.o.out = eventstream.AppendEvent(e.o.out, typ, e.payload)
}

func (e *convEncoder) start(string, string) {
	e.frame("messageStart", map[string]any{"role": "assistant"})
}

func (e *convEncoder) open(kind PartKind, id, name string) {
	e.kind = kind
	if kind == PartToolCall {
		e.frame("contentBlockStart", map[string]any{"contentBlockIndex": e.blocks,
			"start": map[string]any{"toolUse": map[string]any{"toolUseId": id, "name": name}}})
	}
}

// delta writes the stream's most frequent frame by hand, its members in
// the order the other frames' maps are written in.
func (e *convEncoder) delta(s string) {
	p := append(e.payload[:0], `{"contentBlockIndex":`...)
	p = strconv.AppendInt(p, int64(e.blocks), 10)
	switch e.kind {
	case PartText:
		p = append(p, `,"delta":{"text":`...)
	case PartReasoning:
		p = append(p, `,"delta":{"reasoningContent":{"text":`...)
	default:
		p = append(p, `,"delta":{"toolUse":{"input":`...)
	}
	p = jsonbytes.AppendString(p, s)
	if e.kind != PartText {
		p = append(p, '}')
	}
	e.payload = append(p, "}}"...)
	e.o.out = eventstream.AppendEvent(e.o.out, "contentBlockDelta", e.payload)
}

func (e *convEncoder) signature(sig string) {
	e.frame("contentBlockDelta", map[string]any{"contentBlockIndex": e.blocks,
		"delta": map[string]any{"reasoningContent": map[string]any{"signature": sig}}})
}

func (e *convEncoder) close() {
	e.frame("contentBlockStop", map[string]any{"contentBlockIndex": e.blocks})
	e.blocks++
}

func (e *convEncoder) finish(stop StopReason, u usage.Tokens) {
	e.frame("messageStop", map[string]any{"stopReason": convStopOf(stop)})
	e.frame("metadata", map[string]any{"usage": convUsageOf(u), "metrics": map[string]any{"latencyMs": 0}})
}

// writeBuf appends to a byte slice.
type writeBuf []byte

func (b *writeBuf) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

func (e *convEncoder) fail(msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	buf := (*writeBuf)(&e.o.out)
	_ = eventstream.Encode(buf, eventstream.Exception("modelStreamErrorException", b))
}
