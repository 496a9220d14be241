package translate

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// The stream decoders read every event of every translated stream, and
// encoding/json's reflection was most of what a translated event cost. A
// chat chunk and an Anthropic event are read here instead, byte by byte,
// into the same structs encoding/json fills (chatChunk, anthStreamEvent),
// with what encoding/json would have put there. Whatever this reader does
// not handle exactly as encoding/json does (a key written with escapes or
// non-ASCII letters, a key given twice, a value of an unexpected type, a
// number that is not a small integer, malformed JSON) it hands back to
// encoding/json, which decides. FuzzFastDecoders holds the readers to
// that. One difference is left: encoding/json refuses a document nested
// more than 10000 deep, and these readers count the depth of a member
// they skip from that member, so they accept a few more levels there.
// The chat chunk and Anthropic event readers, the busiest, skim
// (stream_skim.go): they do not check the members they pass over, so an
// event that is not valid JSON only there is read where encoding/json
// would refuse it.

// errSlow sends a document to encoding/json.
var errSlow = errors.New("left to encoding/json")

// fastObject checks the object at i and calls member with the index in
// names of each member it matches (as encoding/json matches field names)
// and the offset of the member's value; member returns the offset past
// the value. Other members are checked and skipped.
func fastObject(data []byte, i int, names []string, member func(field, vs int) (int, error)) (int, error) {
	return readObject(data, i, names, member, checkValue)
}

// checkValue checks the value at vs and returns the offset past it.
func checkValue(data []byte, vs int) (int, error) { return jsonbytes.ValidValue(data, vs, nil) }

// readObject is fastObject and skimObject: skip is how a member not in
// names is passed over.
func readObject(data []byte, i int, names []string, member func(field, vs int) (int, error), skip func(data []byte, vs int) (int, error)) (int, error) {
	var seen uint64
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, _, vs int) (int, error) {
		f := nameIndex(k, names)
		switch {
		case f == errKey:
			return 0, errSlow
		case f < 0:
			return skip(data, vs)
		}
		if seen&(1<<f) != 0 {
			return 0, errSlow
		}
		seen |= 1 << f
		return member(f, vs)
	})
}

// errKey is nameIndex's answer for a key it leaves to encoding/json.
const errKey = -2

// nameIndex returns the index of the first of names the key matches as
// encoding/json matches a field name (as Key.FoldIndex does), -1 for none, or
// errKey for a key written with escapes or non-ASCII bytes, which
// encoding/json folds in ways this reader does not model. The exact
// spelling, nearly always the one sent, is tried first.
func nameIndex(k jsonbytes.Key, names []string) int {
	for _, c := range k {
		if c >= 0x80 || c == '\\' {
			return errKey
		}
	}
	return plainNameIndex(k, names)
}

// plainNameIndex is nameIndex for a key known to be plain ASCII.
func plainNameIndex(k jsonbytes.Key, names []string) int {
	for i, n := range names {
		if len(k) == len(n) && (string(k) == n || jsonbytes.ASCIIEqualFold(k, n)) {
			return i
		}
	}
	return -1
}

// fastTop reads the document data, which must be one object and nothing
// else.
func fastTop(data []byte, names []string, member func(field, vs int) (int, error)) error {
	return readTop(data, names, member, false)
}

// readTop reads the one object data holds with fastObject, or with
// skimObject when skim is set. (A flag rather than the reader as a
// function value: calling through one made every member callback, and
// the variables it shares, escape to the heap, three allocations per
// chunk read.)
func readTop(data []byte, names []string, member func(field, vs int) (int, error), skim bool) error {
	i := jsonbytes.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errSlow
	}
	var end int
	var err error
	if skim {
		end, err = skimObject(data, i, names, member)
	} else {
		end, err = fastObject(data, i, names, member)
	}
	if err != nil {
		return err
	}
	if jsonbytes.SkipSpace(data, end) != len(data) {
		return errSlow
	}
	return nil
}

// fastNullableObject reads an object member by member, as fastObject
// does; null reads as nothing, and any other value goes to encoding/json.
func fastNullableObject(data []byte, i int, names []string, member func(field, vs int) (int, error)) (int, error) {
	if null, end := fastNull(data, i); null {
		return end, nil
	}
	if i >= len(data) || data[i] != '{' {
		return 0, errSlow
	}
	return fastObject(data, i, names, member)
}

// fastNull reports whether the value at vs is null, and the offset past it.
func fastNull(data []byte, vs int) (bool, int) {
	if len(data)-vs >= 4 && string(data[vs:vs+4]) == "null" {
		return true, vs + 4
	}
	return false, 0
}

// fastString reads a string into *s; null leaves *s as it is.
func fastString(data []byte, vs int, s *string) (int, error) {
	if null, end := fastNull(data, vs); null {
		return end, nil
	}
	if vs >= len(data) || data[vs] != '"' {
		return 0, errSlow
	}
	end, plain, err := jsonbytes.ValidString(data, vs)
	if err != nil {
		return 0, err
	}
	if raw := data[vs+1 : end-1]; plain {
		if string(raw) != *s {
			*s = string(raw) // its raw bytes are its value: no second scan
		}
		return end, nil // else the value *s had, kept: no copy
	}
	*s, _, err = jsonbytes.StringAt(data, vs)
	return end, err
}

// fastName reads a string into *s as fastString does, taking the value
// from names when it is one of them (an event or block type), so that
// it is not copied.
func fastName(data []byte, vs int, s *string, names []string) (int, error) {
	if i, end, err := knownName(data, vs, names); err != nil || i >= 0 {
		if i >= 0 {
			*s = names[i]
		}
		return end, err
	}
	return fastString(data, vs, s)
}

// fastNamePtr reads a string into *p as fastStringPtr does; a value in
// names (a finish reason) points into names, which are never written
// through it, instead of costing a string and a pointer.
func fastNamePtr(data []byte, vs int, p **string, names []string) (int, error) {
	if i, end, err := knownName(data, vs, names); err != nil || i >= 0 {
		if i >= 0 {
			*p = &names[i]
		}
		return end, err
	}
	return fastStringPtr(data, vs, p)
}

// knownName reports which of names the string value at vs is, without
// escapes, and where it ends; i is -1 when it is none of them (or not a
// string), and err is set only for an invalid string.
func knownName(data []byte, vs int, names []string) (i, end int, err error) {
	if vs >= len(data) || data[vs] != '"' {
		return -1, 0, nil
	}
	end, plain, err := jsonbytes.ValidString(data, vs)
	if err != nil || !plain {
		return -1, 0, err
	}
	raw := data[vs+1 : end-1]
	for i := range names {
		if string(raw) == names[i] {
			return i, end, nil
		}
	}
	return -1, 0, nil
}

// fastStringPtr reads a string into *p; null sets *p to nil.
func fastStringPtr(data []byte, vs int, p **string) (int, error) {
	if null, end := fastNull(data, vs); null {
		*p = nil
		return end, nil
	}
	var s string
	end, err := fastString(data, vs, &s)
	if err != nil {
		return 0, err
	}
	*p = &s
	return end, nil
}

// fastInt reads a small integer into *n; null leaves *n as it is.
func fastInt(data []byte, vs int, n *int) (int, error) {
	if null, end := fastNull(data, vs); null {
		return end, nil
	}
	end, integer, err := jsonbytes.ValidNumber(data, vs)
	if err != nil || !integer || end-vs > 15 {
		return 0, errSlow
	}
	v, err := strconv.Atoi(string(data[vs:end]))
	if err != nil {
		return 0, errSlow
	}
	*n = v
	return end, nil
}

// fastRaw copies the value at vs into *raw, as a json.RawMessage field
// receives it.
func fastRaw(data []byte, vs int, raw *json.RawMessage) (int, error) {
	end, err := jsonbytes.ValidValue(data, vs, nil)
	if err != nil {
		return 0, err
	}
	*raw = append((*raw)[:0], data[vs:end]...)
	return end, nil
}

// fastVia decodes the value at vs into v with encoding/json: for members
// that come once a stream (usage, a message), where reflection costs
// little.
func fastVia(data []byte, vs int, v any) (int, error) {
	end, err := jsonbytes.ValidValue(data, vs, nil)
	if err != nil {
		return 0, err
	}
	if json.Unmarshal(data[vs:end], v) != nil {
		return 0, errSlow
	}
	return end, nil
}

// chatChunk is the part of a chat completion chunk the stream path reads.
type chatChunk struct {
	ID      string            `json:"id"`
	Model   string            `json:"model"`
	Choices []chatChunkChoice `json:"choices"`
	Usage   *chatUsage        `json:"usage"`
	Error   json.RawMessage   `json:"error"`
	// store is what the fast reader points Usage into.
	store chatUsageStore
	// memo is the last chunk the fast reader read, which the next is
	// compared with (stream_memo.go).
	memo chunkMemo
}

// chatChunkChoice is a chunk's choice. Its deltas are streamText: the
// fast reader leaves them as the upstream wrote them.
type chatChunkChoice struct {
	Delta struct {
		Content          streamText          `json:"content"`
		Refusal          streamText          `json:"refusal"`
		ReasoningContent streamText          `json:"reasoning_content"`
		ToolCalls        []chatChunkToolCall `json:"tool_calls"`
	} `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type chatChunkToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string     `json:"name"`
		Arguments streamText `json:"arguments"`
	} `json:"function"`
}

var (
	chatChunkFields    = []string{"id", "model", "choices", "usage", "error"}
	chatChoiceFields   = []string{"delta", "finish_reason"}
	chatDeltaFields    = []string{"content", "refusal", "reasoning_content", "tool_calls"}
	chatToolCallFields = []string{"index", "id", "function"}
	chatFunctionFields = []string{"name", "arguments"}
)

// decodeChatChunk reads a chunk into c, reusing its slices and strings.
// Without header, the chunk's id and model are passed over and c keeps
// the last ones read: a translator needs them from the first chunk only,
// and every chunk repeats them; a chunk that repeats the last one but
// for its texts is read by replaying that one (stream_memo.go).
func decodeChatChunk(data []byte, c *chatChunk, header bool) error {
	if !header && c.memo.replay(data, c) {
		return nil
	}
	if err := fastChatChunk(data, c, header); err == nil {
		c.memo.keep(data)
		return nil
	}
	memo := c.memo
	*c = chatChunk{memo: memo}
	c.memo.reset()
	return json.Unmarshal(data, c)
}

func fastChatChunk(data []byte, c *chatChunk, header bool) error {
	spare, id, model := c.Choices[:0], c.ID, c.Model
	// The first choice's tool calls of the last chunk lend their array to
	// the next first choice's.
	var calls []chatChunkToolCall
	if len(c.Choices) > 0 {
		calls = c.Choices[0].Delta.ToolCalls[:0]
	}
	*c = chatChunk{Error: c.Error[:0], memo: c.memo}
	m := &c.memo
	m.reset()
	if !header {
		c.ID, c.Model = id, model
	}
	err := skimTop(data, chatChunkFields, func(f, vs int) (int, error) {
		if !header && f < 2 {
			return jsonbytes.SkimValue(data, vs)
		}
		if null, end := fastNull(data, vs); null {
			switch f {
			case 2:
				c.Choices = nil
			case 4:
				c.Error = append(c.Error, "null"...)
			}
			return end, nil
		}
		switch f {
		case 0:
			c.ID = id // kept when the chunk repeats it, as chunks do
			return fastString(data, vs, &c.ID)
		case 1:
			c.Model = model
			return fastString(data, vs, &c.Model)
		case 2:
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			if spare == nil {
				spare = []chatChunkChoice{}
			}
			c.Choices = spare
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				c.Choices = append(c.Choices, chatChunkChoice{})
				m.choice = len(c.Choices) - 1
				end, err := fastChatChoice(data, es, &c.Choices[m.choice], calls, m)
				calls = nil
				return end, err
			})
		case 3:
			c.store.usage = chatUsage{}
			c.Usage = &c.store.usage
			return fastChatUsage(data, vs, c.Usage, &c.store)
		default:
			return fastRaw(data, vs, &c.Error)
		}
	})
	if len(c.Error) == 0 {
		c.Error = nil
	}
	return err
}

// fastChatChoice reads a choice; calls, when not nil, is an empty slice
// whose array its tool calls may use. m notes where its texts lie.
func fastChatChoice(data []byte, i int, ch *chatChunkChoice, calls []chatChunkToolCall, m *chunkMemo) (int, error) {
	return skimNullableObject(data, i, chatChoiceFields, func(f, vs int) (int, error) {
		if f == 1 {
			return fastNamePtr(data, vs, &ch.FinishReason, chatFinishReasons)
		}
		d := &ch.Delta
		return skimNullableObject(data, vs, chatDeltaFields, func(f, vs int) (int, error) {
			switch f {
			case 0:
				return m.text(data, vs, &d.Content, fieldContent)
			case 1:
				return m.text(data, vs, &d.Refusal, fieldRefusal)
			case 2:
				return m.text(data, vs, &d.ReasoningContent, fieldReasoning)
			}
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			d.ToolCalls = calls
			if d.ToolCalls == nil {
				d.ToolCalls = []chatChunkToolCall{}
			}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				d.ToolCalls = append(d.ToolCalls, chatChunkToolCall{})
				m.tool = len(d.ToolCalls) - 1
				return fastChatToolCall(data, es, &d.ToolCalls[m.tool], m)
			})
		})
	})
}

func fastChatToolCall(data []byte, i int, tc *chatChunkToolCall, m *chunkMemo) (int, error) {
	return skimNullableObject(data, i, chatToolCallFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastInt(data, vs, &tc.Index)
		case 1:
			return fastString(data, vs, &tc.ID)
		}
		fn := &tc.Function
		return skimNullableObject(data, vs, chatFunctionFields, func(f, vs int) (int, error) {
			if f == 0 {
				return fastString(data, vs, &fn.Name)
			}
			return m.text(data, vs, &fn.Arguments, fieldArguments)
		})
	})
}

// anthSSEEvent is the part of an Anthropic event the stream path
// reads.
type anthSSEEvent struct {
	Type         string             `json:"type"`
	Index        int                `json:"index"`
	Message      *anthStreamMessage `json:"message"`
	ContentBlock *anthBlock         `json:"content_block"`
	Delta        *anthStreamDelta   `json:"delta"`
	Usage        *anthUsage         `json:"usage"`
	Error        *anthStreamError   `json:"error"`
}

type anthStreamMessage struct {
	ID    string    `json:"id"`
	Model string    `json:"model"`
	Usage anthUsage `json:"usage"`
}

// anthStreamDelta is an event's delta; its text, thinking and partial
// JSON are streamText, which the fast reader leaves as written.
type anthStreamDelta struct {
	Type        string     `json:"type"`
	Text        streamText `json:"text"`
	Thinking    streamText `json:"thinking"`
	Signature   string     `json:"signature"`
	PartialJSON streamText `json:"partial_json"`
	StopReason  string     `json:"stop_reason"`
}

type anthStreamError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

var (
	anthEventFields = []string{"type", "index", "message", "content_block", "delta", "usage", "error"}
	anthDeltaFields = []string{"type", "text", "thinking", "signature", "partial_json", "stop_reason"}
)

// Anthropic's names, read without copying them.
var (
	anthEventTypes = []string{"content_block_delta", "content_block_start", "content_block_stop", "message_delta",
		"message_start", "message_stop", "ping", "error"}
	anthDeltaTypes = []string{"text_delta", "input_json_delta", "thinking_delta", "signature_delta"}
	anthBlockTypes = []string{"text", "tool_use", "thinking", "redacted_thinking"}
	anthStopNames  = []string{"end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn"}
)

// anthEventReader reads Anthropic events into e; delta is e.Delta's
// storage, reused from event to event.
type anthEventReader struct {
	e     anthSSEEvent
	delta anthStreamDelta
}

// read reads an event into r.e.
func (r *anthEventReader) read(data []byte) error {
	if err := fastAnthEvent(data, &r.e, &r.delta); err == nil {
		return nil
	}
	r.e = anthSSEEvent{}
	return json.Unmarshal(data, &r.e)
}

// fastAnthEvent reads an event into e, its delta (if any) into d.
func fastAnthEvent(data []byte, e *anthSSEEvent, d *anthStreamDelta) error {
	*e = anthSSEEvent{}
	return skimTop(data, anthEventFields, func(f, vs int) (int, error) {
		if null, end := fastNull(data, vs); null {
			return end, nil // every field is fresh: null leaves it zero or nil
		}
		switch f {
		case 0:
			return fastName(data, vs, &e.Type, anthEventTypes)
		case 1:
			return fastInt(data, vs, &e.Index)
		case 2:
			e.Message = new(anthStreamMessage)
			return fastVia(data, vs, e.Message)
		case 3:
			e.ContentBlock = new(anthBlock)
			return fastAnthBlock(data, vs, e.ContentBlock)
		case 4:
			if vs >= len(data) || data[vs] != '{' {
				return 0, errSlow
			}
			*d = anthStreamDelta{}
			e.Delta = d
			return skimObject(data, vs, anthDeltaFields, func(f, vs int) (int, error) {
				if null, end := fastNull(data, vs); null {
					return end, nil
				}
				switch f {
				case 0:
					return fastName(data, vs, &d.Type, anthDeltaTypes)
				case 1:
					return fastText(data, vs, &d.Text)
				case 2:
					return fastText(data, vs, &d.Thinking)
				case 3:
					return fastString(data, vs, &d.Signature)
				case 4:
					return fastText(data, vs, &d.PartialJSON)
				default:
					return fastName(data, vs, &d.StopReason, anthStopNames)
				}
			})
		case 5:
			e.Usage = new(anthUsage)
			return fastVia(data, vs, e.Usage)
		default:
			e.Error = new(anthStreamError)
			return fastVia(data, vs, e.Error)
		}
	})
}

var anthBlockFields = []string{"type", "text", "id", "name", "input", "thinking", "signature",
	"source", "tool_use_id", "content", "is_error", "data"}

// fastAnthBlock reads a content_block_start's block: text, thinking or
// tool_use; other blocks go to encoding/json.
func fastAnthBlock(data []byte, vs int, b *anthBlock) (int, error) {
	if vs >= len(data) || data[vs] != '{' {
		return 0, errSlow
	}
	return fastObject(data, vs, anthBlockFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastName(data, vs, &b.Type, anthBlockTypes)
		case 1:
			return fastString(data, vs, &b.Text)
		case 2:
			return fastString(data, vs, &b.ID)
		case 3:
			return fastString(data, vs, &b.Name)
		case 4:
			return fastRaw(data, vs, &b.Input)
		case 5:
			return fastStringPtr(data, vs, &b.Thinking)
		case 6:
			return fastStringPtr(data, vs, &b.Signature)
		}
		return 0, errSlow
	})
}

var (
	chatResponseFields = []string{"id", "object", "created", "model", "choices", "usage"}
	chatAnswerFields   = []string{"index", "message", "finish_reason"}
	chatMessageFields  = []string{"role", "content", "tool_calls", "tool_call_id", "refusal", "reasoning_content"}
	chatCallFields     = []string{"id", "type", "function"}
)

// decodeChatResponse reads a whole chat completion, as a translated
// answer that is not streamed has one.
func decodeChatResponse(data []byte, r *chatResponse) error {
	if fastChatResponse(data, r) == nil {
		return nil
	}
	// Decoded into a value of its own, so that r, most often on its
	// caller's stack, does not escape through encoding/json.
	v := new(chatResponse)
	err := json.Unmarshal(data, v)
	*r = *v
	return err
}

func fastChatResponse(data []byte, r *chatResponse) error {
	*r = chatResponse{}
	return fastTop(data, chatResponseFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastString(data, vs, &r.ID)
		case 1:
			return fastName(data, vs, &r.Object, chatObjects)
		case 2:
			var n int
			end, err := fastInt(data, vs, &n)
			r.Created = int64(n)
			return end, err
		case 3:
			return fastString(data, vs, &r.Model)
		case 4:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			r.Choices = []chatChoice{}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				r.Choices = append(r.Choices, chatChoice{})
				return fastChatAnswer(data, es, &r.Choices[len(r.Choices)-1])
			})
		default:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			// The usage and its numbers in one allocation.
			st := new(chatUsageStore)
			r.Usage = &st.usage
			return fastChatUsage(data, vs, r.Usage, st)
		}
	})
}

// Values read without copying them.
var (
	chatObjects       = []string{"chat.completion"}
	chatRoles         = []string{"assistant"}
	chatFinishReasons = []string{"stop", "length", "tool_calls", "function_call", "content_filter"}
)

// fastChatAnswer reads one choice of a whole chat completion.
func fastChatAnswer(data []byte, i int, ch *chatChoice) (int, error) {
	return fastNullableObject(data, i, chatAnswerFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastInt(data, vs, &ch.Index)
		case 2:
			return fastName(data, vs, &ch.FinishReason, chatFinishReasons)
		}
		m := &ch.Message
		return fastNullableObject(data, vs, chatMessageFields, func(f, vs int) (int, error) {
			switch f {
			case 0:
				return fastName(data, vs, &m.Role, chatRoles)
			case 1:
				// Not copied: the caller reads the content into strings
				// of its own before data goes.
				end, err := jsonbytes.ValidValue(data, vs, nil)
				if err != nil {
					return 0, err
				}
				m.Content = data[vs:end:end]
				return end, nil
			case 3:
				return fastString(data, vs, &m.ToolCallID)
			case 4:
				return fastStringPtr(data, vs, &m.Refusal)
			case 5:
				return fastString(data, vs, &m.ReasoningContent)
			}
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			m.ToolCalls = []chatToolCall{}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				m.ToolCalls = append(m.ToolCalls, chatToolCall{})
				return fastChatCall(data, es, &m.ToolCalls[len(m.ToolCalls)-1])
			})
		})
	})
}

// fastChatCall reads a tool call of a whole chat completion.
func fastChatCall(data []byte, i int, tc *chatToolCall) (int, error) {
	return fastNullableObject(data, i, chatCallFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastString(data, vs, &tc.ID)
		case 1:
			return fastString(data, vs, &tc.Type)
		}
		fn := &tc.Function
		return fastNullableObject(data, vs, chatFunctionFields, func(f, vs int) (int, error) {
			if f == 0 {
				return fastString(data, vs, &fn.Name)
			}
			return fastString(data, vs, &fn.Arguments)
		})
	})
}

// respStreamEvent is the part of a Responses event the stream path reads.
type respStreamEvent struct {
	Type        string              `json:"type"`
	OutputIndex int                 `json:"output_index"`
	Delta       string              `json:"delta"`
	Item        *respStreamItem     `json:"item"`
	Response    *respStreamResponse `json:"response"`
	Message     string              `json:"message"`
}

// respStreamItem is the part of an output item the stream path reads:
// what opens a tool call. The rest of an item (its content, its
// arguments) arrives in deltas.
type respStreamItem struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Name   string `json:"name"`
}

// respStreamResponse is the part of a response the stream path reads:
// not its output, which the deltas carried.
type respStreamResponse struct {
	ID                string          `json:"id"`
	Model             string          `json:"model"`
	Status            string          `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Usage *respUsage `json:"usage"`
}

var (
	respEventFields = []string{"type", "output_index", "delta", "item", "response", "message"}
	respEventTypes  = []string{"response.output_text.delta", "response.function_call_arguments.delta",
		"response.reasoning_summary_text.delta", "response.reasoning_text.delta", "response.refusal.delta",
		"response.output_item.added", "response.output_item.done", "response.content_part.added",
		"response.content_part.done", "response.output_text.done", "response.function_call_arguments.done",
		"response.created", "response.in_progress", "response.completed", "response.incomplete",
		"response.failed", "error"}
)

// decodeRespEvent reads a Responses event; its deltas, most of a stream,
// without reflection.
func decodeRespEvent(data []byte, e *respStreamEvent) error {
	if fastRespEvent(data, e) == nil {
		return nil
	}
	*e = respStreamEvent{}
	return json.Unmarshal(data, e)
}

func fastRespEvent(data []byte, e *respStreamEvent) error {
	*e = respStreamEvent{}
	return fastTop(data, respEventFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastName(data, vs, &e.Type, respEventTypes)
		case 1:
			return fastInt(data, vs, &e.OutputIndex)
		case 2:
			return fastString(data, vs, &e.Delta)
		case 3:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			e.Item = new(respStreamItem)
			return fastRespItem(data, vs, e.Item)
		case 4:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			e.Response = new(respStreamResponse)
			return fastRespResponse(data, vs, e.Response)
		default:
			return fastString(data, vs, &e.Message)
		}
	})
}

var (
	chatUsageFields     = []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"}
	chatCachedFields    = []string{"cached_tokens"}
	chatReasoningFields = []string{"reasoning_tokens"}
)

// fastChatUsage reads a chat usage object, which every answer ends with.
// With a store (a stream's chunk), the usage's numbers and details are
// kept there instead of allocated; without, each is allocated as
// encoding/json allocates it.
func fastChatUsage(data []byte, vs int, u *chatUsage, st *chatUsageStore) (int, error) {
	if vs >= len(data) || data[vs] != '{' {
		return 0, errSlow
	}
	if st == nil {
		st = new(chatUsageStore)
	}
	return fastObject(data, vs, chatUsageFields, func(f, vs int) (int, error) {
		switch f {
		case 0, 1, 2:
			return fastInt64Into(data, vs, [3]**int64{&u.PromptTokens, &u.CompletionTokens, &u.TotalTokens}[f], &st.counts[f])
		case 3:
			if null, end := fastNull(data, vs); null {
				u.PromptTokensDetails = nil
				return end, nil
			}
			st.prompt = chatPromptDetails{}
			u.PromptTokensDetails = &st.prompt
			return fastNullableObject(data, vs, chatCachedFields, func(_, vs int) (int, error) {
				return fastInt64Into(data, vs, &st.prompt.CachedTokens, &st.counts[3])
			})
		}
		if null, end := fastNull(data, vs); null {
			u.CompletionTokensDetails = nil
			return end, nil
		}
		st.completion = chatCompletionDetails{}
		u.CompletionTokensDetails = &st.completion
		return fastNullableObject(data, vs, chatReasoningFields, func(_, vs int) (int, error) {
			return fastInt64Into(data, vs, &st.completion.ReasoningTokens, &st.counts[4])
		})
	})
}

// chatUsageStore holds what a chat usage's pointers point to.
type chatUsageStore struct {
	usage      chatUsage
	counts     [5]int64
	prompt     chatPromptDetails
	completion chatCompletionDetails
}

type (
	chatPromptDetails = struct {
		CachedTokens *int64 `json:"cached_tokens,omitempty"`
	}
	chatCompletionDetails = struct {
		ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
	}
)

// fastInt64Into reads an integer into *n and points *p at it, as
// encoding/json fills an *int64; null sets *p to nil.
func fastInt64Into(data []byte, vs int, p **int64, n *int64) (int, error) {
	if null, end := fastNull(data, vs); null {
		*p = nil
		return end, nil
	}
	end, integer, err := jsonbytes.ValidNumber(data, vs)
	if err != nil || !integer {
		return 0, errSlow
	}
	v, err := strconv.ParseInt(string(data[vs:end]), 10, 64)
	if err != nil {
		return 0, errSlow
	}
	*n = v
	*p = n
	return end, nil
}

var (
	respItemFields     = []string{"type", "call_id", "name"}
	respItemTypes      = []string{"message", "function_call", "reasoning"}
	respResponseFields = []string{"id", "model", "status", "error", "incomplete_details", "usage"}
	respStatuses       = []string{"in_progress", "completed", "incomplete", "failed"}
	respIncomplete     = []string{"reason"}
	respUsageFields    = []string{"input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"}
)

// fastRespItem reads the output item of an output_item event.
func fastRespItem(data []byte, vs int, it *respStreamItem) (int, error) {
	if vs >= len(data) || data[vs] != '{' {
		return 0, errSlow
	}
	return fastObject(data, vs, respItemFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastName(data, vs, &it.Type, respItemTypes)
		case 1:
			return fastString(data, vs, &it.CallID)
		}
		return fastString(data, vs, &it.Name)
	})
}

// fastRespResponse reads the response of a created, completed or failed
// event.
func fastRespResponse(data []byte, vs int, r *respStreamResponse) (int, error) {
	if vs >= len(data) || data[vs] != '{' {
		return 0, errSlow
	}
	return fastObject(data, vs, respResponseFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastString(data, vs, &r.ID)
		case 1:
			return fastString(data, vs, &r.Model)
		case 2:
			return fastName(data, vs, &r.Status, respStatuses)
		case 3:
			return fastRaw(data, vs, &r.Error)
		case 4:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			r.IncompleteDetails = &struct {
				Reason string `json:"reason"`
			}{}
			return fastNullableObject(data, vs, respIncomplete, func(_, vs int) (int, error) {
				return fastString(data, vs, &r.IncompleteDetails.Reason)
			})
		}
		if null, end := fastNull(data, vs); null {
			return end, nil
		}
		if vs >= len(data) || data[vs] != '{' {
			return 0, errSlow
		}
		u := new(respUsage)
		r.Usage = u
		return fastObject(data, vs, respUsageFields, func(f, vs int) (int, error) {
			switch f {
			case 0:
				return fastInt64Ptr(data, vs, &u.InputTokens)
			case 1:
				if null, end := fastNull(data, vs); null {
					return end, nil
				}
				u.InputTokensDetails = &struct {
					CachedTokens *int64 `json:"cached_tokens,omitempty"`
				}{}
				return fastNullableObject(data, vs, chatCachedFields, func(_, vs int) (int, error) {
					return fastInt64Ptr(data, vs, &u.InputTokensDetails.CachedTokens)
				})
			case 2:
				return fastInt64Ptr(data, vs, &u.OutputTokens)
			case 3:
				if null, end := fastNull(data, vs); null {
					return end, nil
				}
				u.OutputTokensDetails = &struct {
					ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
				}{}
				return fastNullableObject(data, vs, chatReasoningFields, func(_, vs int) (int, error) {
					return fastInt64Ptr(data, vs, &u.OutputTokensDetails.ReasoningTokens)
				})
			}
			return fastInt64Ptr(data, vs, &u.TotalTokens)
		})
	})
}

// gemChunk is a Gemini stream chunk, or the error a stream may end with
// instead.
type gemChunk struct {
	gemResponse
	Error json.RawMessage `json:"error"`
}

var (
	gemChunkFields     = []string{"candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId", "error"}
	gemCandidateFields = []string{"content", "finishReason", "index"}
	gemFinishReasons   = []string{"STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER", "MALFORMED_FUNCTION_CALL"}
	gemContentFields   = []string{"role", "parts"}
	gemRoles           = []string{"model", "user"}
	// gemPartFields are gemPart's members: a part with one of the last
	// five goes to encoding/json.
	gemPartFields = []string{"text", "thought", "thoughtSignature", "functionCall",
		"inlineData", "fileData", "functionResponse", "executableCode", "codeExecutionResult"}
	gemCallFields     = []string{"id", "name", "args"}
	gemFeedbackFields = []string{"blockReason"}
	gemUsageFields    = []string{"promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount",
		"thoughtsTokenCount", "toolUsePromptTokenCount"}
)

// decodeGemChunk reads a Gemini stream chunk; its text parts, most of a
// stream, without reflection.
func decodeGemChunk(data []byte, c *gemChunk) error {
	if fastGemChunk(data, c) == nil {
		return nil
	}
	*c = gemChunk{}
	return json.Unmarshal(data, c)
}

func fastGemChunk(data []byte, c *gemChunk) error {
	*c = gemChunk{}
	return fastTop(data, gemChunkFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			c.Candidates = []gemCandidate{}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				if es >= len(data) || data[es] != '{' {
					return 0, errSlow
				}
				c.Candidates = append(c.Candidates, gemCandidate{})
				return fastGemCandidate(data, es, &c.Candidates[len(c.Candidates)-1])
			})
		case 1:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			c.PromptFeedback = &struct {
				BlockReason string `json:"blockReason,omitempty"`
			}{}
			return fastNullableObject(data, vs, gemFeedbackFields, func(_, vs int) (int, error) {
				return fastString(data, vs, &c.PromptFeedback.BlockReason)
			})
		case 2:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '{' {
				return 0, errSlow
			}
			u := new(gemUsage)
			c.UsageMetadata = u
			counts := [...]**int64{&u.PromptTokenCount, &u.CandidatesTokenCount, &u.TotalTokenCount,
				&u.CachedContentTokenCount, &u.ThoughtsTokenCount, &u.ToolUsePromptTokenCount}
			return fastObject(data, vs, gemUsageFields, func(f, vs int) (int, error) {
				return fastInt64Ptr(data, vs, counts[f])
			})
		case 3:
			return fastString(data, vs, &c.ModelVersion)
		case 4:
			return fastString(data, vs, &c.ResponseID)
		}
		return fastRaw(data, vs, &c.Error)
	})
}

func fastGemCandidate(data []byte, i int, cand *gemCandidate) (int, error) {
	return fastObject(data, i, gemCandidateFields, func(f, vs int) (int, error) {
		switch f {
		case 1:
			return fastName(data, vs, &cand.FinishReason, gemFinishReasons)
		case 2:
			return fastInt(data, vs, &cand.Index)
		}
		if null, end := fastNull(data, vs); null {
			return end, nil
		}
		if vs >= len(data) || data[vs] != '{' {
			return 0, errSlow
		}
		content := new(gemContent)
		cand.Content = content
		return fastObject(data, vs, gemContentFields, func(f, vs int) (int, error) {
			if f == 0 {
				return fastName(data, vs, &content.Role, gemRoles)
			}
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errSlow
			}
			content.Parts = []gemPart{}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				if es >= len(data) || data[es] != '{' {
					return 0, errSlow
				}
				content.Parts = append(content.Parts, gemPart{})
				return fastGemPart(data, es, &content.Parts[len(content.Parts)-1])
			})
		})
	})
}

func fastGemPart(data []byte, i int, p *gemPart) (int, error) {
	return fastObject(data, i, gemPartFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastStringPtr(data, vs, &p.Text)
		case 1:
			return fastBool(data, vs, &p.Thought)
		case 2:
			return fastString(data, vs, &p.ThoughtSignature)
		case 3:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			if vs >= len(data) || data[vs] != '{' {
				return 0, errSlow
			}
			call := new(gemCall)
			p.FunctionCall = call
			return fastObject(data, vs, gemCallFields, func(f, vs int) (int, error) {
				switch f {
				case 0:
					return fastString(data, vs, &call.ID)
				case 1:
					return fastString(data, vs, &call.Name)
				}
				return fastRaw(data, vs, &call.Args)
			})
		}
		return 0, errSlow
	})
}

// fastBool reads a boolean into *b; null leaves *b as it is.
func fastBool(data []byte, vs int, b *bool) (int, error) {
	if null, end := fastNull(data, vs); null {
		return end, nil
	}
	switch {
	case len(data)-vs >= 4 && string(data[vs:vs+4]) == "true":
		*b = true
		return vs + 4, nil
	case len(data)-vs >= 5 && string(data[vs:vs+5]) == "false":
		*b = false
		return vs + 5, nil
	}
	return 0, errSlow
}
