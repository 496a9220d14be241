package compat

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// meter is an Allowance of limit bytes that counts what it granted.
type meter struct{ limit, taken int }

func (m *meter) Take(n int) bool {
	if m.taken+n > m.limit {
		return false
	}
	m.taken += n
	return true
}

// TestRecorderAllowance replays every fixture, keeping everything, under
// an allowance that suffices and one of half that: the first changes
// nothing, the second is never exceeded and marks the result truncated.
func TestRecorderAllowance(t *testing.T) {
	opts := RecorderOptions{KeepBody: true, KeepRaw: true}
	for _, f := range loadFixtures(t) {
		t.Run(f.key(), func(t *testing.T) {
			free := record(f, opts, f.data)
			enough := &meter{limit: 1 << 30}
			o := opts
			o.Allowance = enough
			got := record(f, o, f.data)
			if enough.taken == 0 {
				t.Fatalf("nothing charged to the allowance")
			}
			if got.Truncated || free.Truncated {
				t.Errorf("truncated with room to spare")
			}
			if !reflect.DeepEqual(normal(free), normal(got)) {
				t.Errorf("an ample allowance changed the result:\nfree    %+v\nmetered %+v", normal(free), normal(got))
			}

			half := &meter{limit: enough.taken / 2}
			o.Allowance = half
			cut := record(f, o, f.data)
			if half.taken > half.limit {
				t.Errorf("took %d bytes of an allowance of %d", half.taken, half.limit)
			}
			if !cut.Truncated || !errors.Is(cut.Err, ErrRecordTooLarge) {
				t.Errorf("half the allowance: truncated %v, err %v; want truncated, ErrRecordTooLarge", cut.Truncated, cut.Err)
			}
		})
	}
}

// TestRecorderEndlessStreamUnderAllowance streams 20 MB of one answer and
// checks the allowance bounds what the recorder keeps of it, while the
// usage at the end is still read.
func TestRecorderEndlessStreamUnderAllowance(t *testing.T) {
	chunk := []byte(`data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"` +
		strings.Repeat("x", 1000) + `"}}]}` + "\n\n")
	m := &meter{limit: 1 << 20}
	r := NewRecorder(OpenAIChat, true, RecorderOptions{KeepBody: true, KeepRaw: true, Allowance: m})
	for range 20 << 10 {
		r.Write(chunk)
	}
	r.Write([]byte(`data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}` + "\n\ndata: [DONE]\n\n"))
	res := r.Result()
	if m.taken > m.limit || !res.Truncated {
		t.Errorf("took %d of %d, truncated %v", m.taken, m.limit, res.Truncated)
	}
	if got := usageOf(res.Usage); got != (tokens{5, 7, nr, nr}) || !res.Complete {
		t.Errorf("usage %v, complete %v; want the usage of the stream's end", got, res.Complete)
	}
	if len(res.Body) > m.limit {
		t.Errorf("kept a %d-byte body under a %d-byte allowance", len(res.Body), m.limit)
	}
}

// TestRecorderMalformed checks that answers that are not what they
// declare report ErrMalformedResponse, and that no recorded fixture does.
func TestRecorderMalformed(t *testing.T) {
	converse := fixtureNamed(t, "bedrock_converse/tool_use.eventstream").data
	badCRC := append([]byte(nil), converse...)
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name   string
		format string
		stream bool
		body   string
	}{
		{"HTML page for a JSON request", OpenAIChat, false, "<html><body>Bad gateway</body></html>"},
		{"cut JSON body", AnthropicMessages, false, `{"id":"msg_1","type":"message","content":[{"type":"te`},
		{"HTML page for a stream", OpenAIChat, true, "<html><body>upstream is down</body></html>"},
		{"SSE data that is not JSON", AnthropicMessages, true, "event: message_start\ndata: hello there\n\n"},
		{"event stream with a bad CRC", BedrockConverse, true, string(badCRC)},
		{"event stream cut in a frame", BedrockConverse, true, string(converse[:len(converse)-5])},
		{"JSON array stream cut", GeminiGenerateContent, true, `[{"candidates":[]},`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(tt.format, tt.stream, RecorderOptions{})
			r.Write([]byte(tt.body))
			if res := r.Result(); !errors.Is(res.Err, ErrMalformedResponse) {
				t.Errorf("err %v, want ErrMalformedResponse", res.Err)
			}
		})
	}
	for _, f := range loadFixtures(t) {
		if res := record(f, RecorderOptions{}, f.data); errors.Is(res.Err, ErrMalformedResponse) {
			t.Errorf("%s: recorded fixture reported as %v", f.key(), res.Err)
		}
	}
}

// TestRecorderBoundsEntries: an answer that keeps opening new tool calls
// or content blocks is tracked up to maxEntries of them, then cut.
func TestRecorderBoundsEntries(t *testing.T) {
	const n = 3 * maxEntries
	var chat, anth strings.Builder
	for i := range n {
		fmt.Fprintf(&chat, `data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"id":"call_%d","function":{"name":"f","arguments":"{}"}}]}}]}`+"\n\n", i, i)
		fmt.Fprintf(&anth, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":%d,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t%d\",\"name\":\"f\",\"input\":{}}}\n\n", i, i)
	}
	for _, tt := range []struct{ format, body string }{{OpenAIChat, chat.String()}, {AnthropicMessages, anth.String()}} {
		t.Run(tt.format, func(t *testing.T) {
			r := NewRecorder(tt.format, true, RecorderOptions{KeepBody: true})
			r.Write([]byte(tt.body))
			res := r.Result()
			if len(res.ToolCalls) != maxEntries || !res.Truncated || !errors.Is(res.Err, ErrRecordTooLarge) {
				t.Errorf("%d tool calls, truncated %v, err %v; want %d, truncated", len(res.ToolCalls), res.Truncated, res.Err, maxEntries)
			}
		})
	}
}
