package translate

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// anthropicToChat turns Anthropic's events into chat completion chunks:
// a first chunk with the assistant role, one per text or tool call delta
// (a tool_use block becomes the next tool call index), one with the
// finish reason, the usage chunk when asked for, and [DONE]. Thinking
// deltas have no chat field and are left out.
type anthropicToChat struct {
	streamOut
	p          sse.Parser
	closed     bool
	usageChunk bool
	created    int64

	started bool
	// head is the chunk's JSON up to "choices", the same in every chunk.
	head string
	// tools maps an open tool_use block's index to its chat tool call
	// index; calls counts the calls.
	tools map[int]int
	calls int
	stop  StopReason
	usage usage.Tokens
	r     anthEventReader
}

func (s *anthropicToChat) Write(b []byte) (int, error) {
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

func (s *anthropicToChat) Close() error {
	// Whether or not the stream ended before, its buffer goes back.
	defer s.release()
	if s.closed {
		return s.err
	}
	s.out = s.out[:0]
	_ = s.p.End(s.event)
	if s.err == nil && s.started {
		// The upstream ended without message_stop: close the chat stream
		// the way it would have.
		s.finish()
	}
	s.closed = true
	if err := s.flush(); err != nil {
		return err
	}
	return s.err
}

func (s *anthropicToChat) event(ev sse.Event) {
	if s.err != nil || s.closed || !ev.HasData {
		return
	}
	if err := s.r.read(ev.Data); err != nil {
		s.fail("the upstream sent an event that is not JSON")
		return
	}
	e := &s.r.e
	switch e.Type {
	case "message_start":
		if e.Message == nil {
			s.fail("the upstream sent message_start without a message")
			return
		}
		s.start(e.Message.ID, e.Message.Model)
		s.addUsage(e.Message.Usage)
	case "content_block_start":
		if !s.started || e.ContentBlock == nil {
			return
		}
		if e.ContentBlock.Type == "tool_use" {
			if s.tools == nil {
				s.tools = map[int]int{}
			}
			s.tools[e.Index] = s.calls
			s.out = appendChatToolOpen(s.out, s.head, s.calls, e.ContentBlock.ID, e.ContentBlock.Name)
			s.calls++
		}
	case "content_block_delta":
		if !s.started || e.Delta == nil {
			return
		}
		switch e.Delta.Type {
		case "text_delta":
			s.out = appendChatDelta(s.out, s.head, -1, e.Delta.Text)
		case "input_json_delta":
			call, ok := s.tools[e.Index]
			if !ok || e.Delta.PartialJSON.empty() {
				return
			}
			s.out = appendChatDelta(s.out, s.head, call, e.Delta.PartialJSON)
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			s.stop = anthStops[e.Delta.StopReason]
		}
		if e.Usage != nil {
			s.addUsage(*e.Usage)
		}
	case "message_stop":
		if s.started {
			s.finish()
		}
	case "error":
		msg := "the upstream stream failed"
		if e.Error != nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		s.fail(msg)
	}
}

func (s *anthropicToChat) addUsage(u anthUsage) {
	t := usage.Tokens{Output: usage.Optional(u.OutputTokens)}
	cacheRead, cacheWrite := usage.Optional(u.CacheReadInputTokens), usage.Optional(u.CacheCreationInputTokens)
	if u.InputTokens != nil {
		t.Input = usage.Sum(usage.Of(*u.InputTokens), cacheRead, cacheWrite)
		t.CacheRead, t.CacheWrite = cacheRead, cacheWrite
	}
	s.usage = s.usage.Merge(t)
}

func (s *anthropicToChat) start(id, model string) {
	s.started = true
	s.head = chatChunkHead(id, model, s.created)
	s.chunk(`{"role":"assistant","content":""}`, "null")
}

// chatChunkHead is a chunk's JSON up to its choices, the same in every
// chunk of a stream.
func chatChunkHead(id, model string, created int64) string {
	b := make([]byte, 0, 96+len(id)+len(model))
	b = append(b, `{"id":`...)
	b = jsonbytes.AppendString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = jsonbytes.AppendString(b, model)
	return string(append(b, `,"choices":`...))
}

// appendChatToolOpen appends the chunk that starts tool call index.
func appendChatToolOpen(out []byte, head string, index int, id, name string) []byte {
	out = append(out, "data: "...)
	out = append(out, head...)
	out = append(out, `[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"","name":`...)
	out = jsonbytes.AppendString(out, name)
	out = append(out, `},"id":`...)
	out = jsonbytes.AppendString(out, id)
	out = append(out, `,"index":`...)
	out = strconv.AppendInt(out, int64(index), 10)
	return append(out, `,"type":"function"}]},"finish_reason":null}]}`+"\n\n"...)
}

// appendChatDelta appends the chunk of a text delta (call -1) or of tool
// call arguments.
func appendChatDelta(out []byte, head string, call int, s streamText) []byte {
	out = append(out, "data: "...)
	out = append(out, head...)
	if call < 0 {
		out = append(out, `[{"index":0,"delta":{"content":`...)
		out = appendText(out, s)
		return append(out, `},"finish_reason":null}]}`+"\n\n"...)
	}
	out = append(out, `[{"index":0,"delta":{"tool_calls":[{"index":`...)
	out = strconv.AppendInt(out, int64(call), 10)
	out = append(out, `,"function":{"arguments":`...)
	out = appendText(out, s)
	return append(out, `}}]},"finish_reason":null}]}`+"\n\n"...)
}

// chunk writes a chunk whose one choice has delta and finish reason
// (JSON).
func (s *anthropicToChat) chunk(delta, finish string) {
	s.data(s.head + `[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}`)
}

func (s *anthropicToChat) data(d string) {
	s.out = append(s.out, "data: "...)
	s.out = append(s.out, d...)
	s.out = append(s.out, "\n\n"...)
}

func (s *anthropicToChat) finish() {
	finish := "stop"
	switch s.stop {
	case StopMaxTokens:
		finish = "length"
	case StopToolUse:
		finish = "tool_calls"
	case StopRefusal:
		finish = "content_filter"
	}
	s.chunk(`{}`, `"`+finish+`"`)
	if s.usageChunk {
		u := s.usage
		cu := chatUsage{PromptTokens: u.Input.Ptr(), CompletionTokens: u.Output.Ptr(), TotalTokens: u.Total().Ptr()}
		if u.CacheRead.Reported() {
			cu.PromptTokensDetails = &struct {
				CachedTokens *int64 `json:"cached_tokens,omitempty"`
			}{u.CacheRead.Ptr()}
		}
		b, _ := json.Marshal(cu)
		s.data(s.head + `[],"usage":` + string(b) + `}`)
	}
	s.data("[DONE]")
	s.started = false
	s.closed = true
}

// fail ends the stream with an error chunk, as OpenAI ends a stream that
// fails midway.
func (s *anthropicToChat) fail(msg string) {
	e, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "server_error", "param": nil, "code": nil}})
	s.data(string(e))
	s.started = false
	s.closed = true
	s.err = fmt.Errorf("%w: %s", ErrStream, msg)
}
