package translate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// NewStream returns a writer that translates a streamed answer in the
// upstream format from into the client's format to as its bytes arrive,
// writing each translated event to w as soon as its source is complete.
// Close ends the stream (writing the closing events an upstream that
// stopped without its end marker left out). Every pair of the formats
// [Supported] translates streams: SSE for OpenAI chat, Responses,
// Anthropic and Gemini (its alt=sse form), AWS event-stream frames for
// Bedrock's converse-stream. Between OpenAI chat and Anthropic messages a
// translator of the pair's own, measured in BenchmarkStream, does the
// work; the other pairs go through the hub's blocks.
func NewStream(from, to string, w io.Writer, opts Options) (io.WriteCloser, error) {
	switch {
	case from == apiformat.OpenAIChat && to == apiformat.AnthropicMessages:
		return &chatToAnthropic{streamOut: streamOut{w: w}}, nil
	case from == apiformat.AnthropicMessages && to == apiformat.OpenAIChat:
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		return &anthropicToChat{streamOut: streamOut{w: w}, usageChunk: opts.StreamUsage, created: now().Unix()}, nil
	}
	if h, ok := newHubStream(from, to, w, opts); ok {
		return h, nil
	}
	return nil, fmt.Errorf("%w: streams from %s to %s", ErrUnsupported, from, to)
}

// chatToAnthropic turns chat completion chunks into Anthropic's events:
// message_start, then per content block (text, each tool call)
// content_block_start, deltas and content_block_stop, then message_delta
// with the stop reason and usage, and message_stop. Chat streams report
// usage after the finish reason, so the closing events wait for [DONE].
type chatToAnthropic struct {
	streamOut
	p      sse.Parser
	closed bool

	started bool
	id      string
	model   string
	// block is the index of the open content block, -1 when none;
	// blocks counts the blocks started; tool is the chat index of the
	// open tool call block, -1 when the open block is text.
	block, blocks, tool int
	stop                StopReason
	usage               usage.Tokens
	// chunk is the last chunk read, its slices reused for the next.
	chunk chatChunk
}

// errInterleaved reports tool call deltas that come back to an earlier
// call: Anthropic's blocks cannot interleave.
var errInterleaved = errors.New("the upstream interleaved tool call arguments")

func (s *chatToAnthropic) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.reset(len(b))
	if err := s.p.Feed(b, s.event); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	return len(b), s.err
}

func (s *chatToAnthropic) Close() error {
	// Whether or not the stream ended before, its buffer goes back.
	defer s.release()
	if s.closed {
		return s.err
	}
	s.closed = true
	s.out = s.out[:0]
	_ = s.p.End(s.event)
	if s.err == nil && s.started {
		s.finish()
	}
	if err := s.flush(); err != nil {
		return err
	}
	return s.err
}

// streamOut is the writing end of a stream translator: the events
// translated but not yet written, and the first error, which ends the
// translation.
type streamOut struct {
	w   io.Writer
	out []byte
	err error
	// held is the pooled slice out came from, given back by release.
	held *[]byte
}

// reset empties the pending events and makes room for n bytes of them
// at once: a read of many upstream chunks translates into about as many
// bytes (Anthropic's events and chat's chunks are of a size), and growing
// the buffer event by event cost more than the translating.
func (s *streamOut) reset(n int) {
	if s.out == nil {
		if b, ok := outBuffers.Get().(*[]byte); ok {
			s.out, s.held = (*b)[:0], b
		}
	}
	s.out = slices.Grow(s.out[:0], n+streamHeadroom)
}

// outBuffers recycles the translators' event buffers from one stream to
// the next: a translated stream otherwise allocated one the size of an
// upstream read, as much as the rest of the translation together.
var outBuffers sync.Pool // of *[]byte

// maxPooledOut is the largest event buffer kept for another stream.
const maxPooledOut = 64 << 10

// release gives the event buffer back for another stream once the last
// events are written (Close).
func (s *streamOut) release() {
	if s.out == nil {
		return
	}
	if cap(s.out) <= maxPooledOut {
		b := s.held
		if b == nil {
			b = new([]byte)
		}
		*b = s.out[:0]
		outBuffers.Put(b)
	}
	s.out, s.held = nil, nil
}

// streamHeadroom is what reset adds to the input's length: room for the
// stream's opening event, which has no counterpart of its size upstream.
const streamHeadroom = 512

// flush writes the pending events; a write error is kept as the stream's.
func (s *streamOut) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	_, err := s.w.Write(s.out)
	if err != nil && s.err == nil {
		s.err = err
	}
	return err
}

func (s *chatToAnthropic) event(ev sse.Event) {
	if s.err != nil || !ev.HasData || s.closed && !s.started {
		return
	}
	if string(ev.Data) == "[DONE]" {
		if s.started {
			s.finish()
		}
		return
	}
	c := &s.chunk
	if decodeChatChunk(ev.Data, c, !s.started) != nil {
		s.fail("the upstream sent a chunk that is not JSON")
		return
	}
	if len(c.Error) > 0 && !isNull(c.Error) {
		s.fail(chatErrorMessage(ev.Data))
		return
	}
	if !s.started {
		s.start(c.ID, c.Model)
	}
	if cu := c.Usage; cu != nil {
		u := usage.Tokens{Input: usage.Optional(cu.PromptTokens), Output: usage.Optional(cu.CompletionTokens)}
		if d := cu.PromptTokensDetails; d != nil {
			u.CacheRead = usage.Optional(d.CachedTokens)
		}
		s.usage = s.usage.Merge(u)
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := &ch.Delta
		for _, text := range [2]streamText{d.Content, d.Refusal} {
			if !text.empty() {
				if s.block < 0 || s.tool >= 0 {
					s.open(-1, "", "")
				}
				s.delta(`{"type":"text_delta","text":`, text)
			}
		}
		for _, tc := range d.ToolCalls {
			switch {
			case tc.ID != "" || tc.Function.Name != "":
				s.open(tc.Index, tc.ID, tc.Function.Name)
			case s.block < 0 || s.tool != tc.Index:
				s.fail(errInterleaved.Error())
				return
			}
			if !tc.Function.Arguments.empty() {
				s.delta(`{"type":"input_json_delta","partial_json":`, tc.Function.Arguments)
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.stop = chatStops[*ch.FinishReason]
		}
	}
}

func (s *chatToAnthropic) start(id, model string) {
	s.started, s.id, s.model, s.block, s.tool = true, id, model, -1, -1
	s.out = appendAnthStart(s.out, id, model)
}

// appendAnthStart appends Anthropic's message_start event.
func appendAnthStart(out []byte, id, model string) []byte {
	out = append(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	out = jsonbytes.AppendString(out, id)
	out = append(out, `,"type":"message","role":"assistant","model":`...)
	out = jsonbytes.AppendString(out, model)
	return append(out, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
}

// appendAnthBlockStart appends a content_block_start event of a text
// block (name "") or a tool_use block.
func appendAnthBlockStart(out []byte, index int, kind PartKind, id, name string) []byte {
	out = append(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	out = strconv.AppendInt(out, int64(index), 10)
	switch kind {
	case PartText:
		out = append(out, `,"content_block":{"type":"text","text":""}}`...)
	case PartReasoning:
		out = append(out, `,"content_block":{"type":"thinking","thinking":"","signature":""}}`...)
	default:
		out = append(out, `,"content_block":{"id":`...)
		out = jsonbytes.AppendString(out, id)
		out = append(out, `,"input":{},"name":`...)
		out = jsonbytes.AppendString(out, name)
		out = append(out, `,"type":"tool_use"}}`...)
	}
	return append(out, "\n\n"...)
}

// appendAnthDelta appends a content_block_delta event: head is the
// delta's JSON up to its string value.
func appendAnthDelta(out []byte, index int, head, text string) []byte {
	out = appendAnthDeltaHead(out, index, head)
	out = jsonbytes.AppendString(out, text)
	return append(out, "}}\n\n"...)
}

// appendAnthDeltaHead appends a content_block_delta event up to its
// string value.
func appendAnthDeltaHead(out []byte, index int, head string) []byte {
	out = append(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	out = strconv.AppendInt(out, int64(index), 10)
	out = append(out, `,"delta":`...)
	return append(out, head...)
}

// appendAnthBlockStop appends a content_block_stop event.
func appendAnthBlockStop(out []byte, index int) []byte {
	out = append(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	out = strconv.AppendInt(out, int64(index), 10)
	return append(out, "}\n\n"...)
}

// open closes the open block and starts the next: a tool call (chat tool
// call index tool, its id and name) or, with tool -1, text.
func (s *chatToAnthropic) open(tool int, id, name string) {
	s.closeBlock()
	s.block, s.tool = s.blocks, tool
	s.blocks++
	kind := PartToolCall
	if tool < 0 {
		kind = PartText
	}
	s.out = appendAnthBlockStart(s.out, s.block, kind, id, name)
}

func (s *chatToAnthropic) closeBlock() {
	if s.block < 0 {
		return
	}
	s.out = appendAnthBlockStop(s.out, s.block)
	s.block, s.tool = -1, -1
}

// delta writes a delta of the open block: head is its JSON up to the
// string value.
func (s *chatToAnthropic) delta(head string, text streamText) {
	s.out = appendAnthDeltaHead(s.out, s.block, head)
	s.out = appendText(s.out, text)
	s.out = append(s.out, "}}\n\n"...)
}

func (s *chatToAnthropic) finish() {
	s.closeBlock()
	reason := "end_turn"
	switch s.stop {
	case StopMaxTokens:
		reason = "max_tokens"
	case StopToolUse:
		reason = "tool_use"
	case StopRefusal:
		reason = "refusal"
	}
	// The output count is 0 when not reported: Anthropic's clients
	// require it. Chat reports no cache writes.
	o := append(s.out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	o = append(o, reason...)
	o = append(o, `","stop_sequence":null},"usage":`...)
	o = appendAnthUsage(o, s.usage.UncachedInput(), usage.Of(s.usage.Output.Value()), usage.Count{}, s.usage.CacheRead)
	s.out = append(o, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	s.started = false
	s.closed = true
}

// fail ends the stream with an Anthropic error event, as Anthropic ends a
// stream that fails midway.
func (s *chatToAnthropic) fail(msg string) {
	e, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": msg}})
	s.emit("error", e)
	s.started = false
	s.closed = true
	s.err = fmt.Errorf("%w: %s", ErrStream, msg)
}

// ErrStream reports an upstream stream that could not be translated to
// its end; the client was sent an error event.
var ErrStream = errors.New("stream translation failed")

func (s *chatToAnthropic) emit(name string, data []byte) {
	s.out = append(s.out, "event: "...)
	s.out = append(s.out, name...)
	s.out = append(s.out, "\ndata: "...)
	s.out = append(s.out, data...)
	s.out = append(s.out, "\n\n"...)
}

// chatErrorMessage reads the message of a chat error chunk.
func chatErrorMessage(data []byte) string {
	var v struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &v) != nil || v.Error.Message == "" {
		return "the upstream stream failed"
	}
	return v.Error.Message
}
