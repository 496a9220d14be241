package translate

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluice-gateway/sluice/compat/sse"
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
}

// anthEvent is the part of an Anthropic event the translation reads.
type anthEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		ID    string    `json:"id"`
		Model string    `json:"model"`
		Usage anthUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *anthBlock `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *anthropicToChat) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.out = s.out[:0]
	if err := s.p.Feed(b, s.event); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	return len(b), s.err
}

func (s *anthropicToChat) Close() error {
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
	var e anthEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		s.fail("the upstream sent an event that is not JSON")
		return
	}
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
			call, _ := json.Marshal([]map[string]any{{"index": s.calls, "id": e.ContentBlock.ID, "type": "function",
				"function": map[string]string{"name": e.ContentBlock.Name, "arguments": ""}}})
			s.calls++
			s.chunk(`{"tool_calls":`+string(call)+`}`, "null")
		}
	case "content_block_delta":
		if !s.started || e.Delta == nil {
			return
		}
		switch e.Delta.Type {
		case "text_delta":
			q, _ := json.Marshal(e.Delta.Text)
			s.chunk(`{"content":`+string(q)+`}`, "null")
		case "input_json_delta":
			call, ok := s.tools[e.Index]
			if !ok || e.Delta.PartialJSON == "" {
				return
			}
			q, _ := json.Marshal(e.Delta.PartialJSON)
			s.chunk(`{"tool_calls":[{"index":`+strconv.Itoa(call)+`,"function":{"arguments":`+string(q)+`}}]}`, "null")
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
	qid, _ := json.Marshal(id)
	qmodel, _ := json.Marshal(model)
	s.head = `{"id":` + string(qid) + `,"object":"chat.completion.chunk","created":` + strconv.FormatInt(s.created, 10) + `,"model":` + string(qmodel) + `,"choices":`
	s.chunk(`{"role":"assistant","content":""}`, "null")
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
