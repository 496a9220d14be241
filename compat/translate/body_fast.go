package translate

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// Whole bodies take the same shortcut as stream events (stream_fast.go):
// a translated request is read into the hub and written out again, and
// encoding/json's reflection was most of what that cost. The commonest
// shapes are read byte by byte here (an Anthropic request of text turns)
// and written by appending (a chat request, an Anthropic answer), into
// and from the same hub structs, with the same bytes encoding/json would
// have written. Whatever the readers do not handle exactly as the general
// path does (a tool, an image, a key written with escapes or given twice,
// an unexpected type, malformed JSON) goes to the general path, which
// decides; a writer that meets a part it does not know hands the whole
// body back to json.Marshal. FuzzFastBodies holds both to that.

// anthRequestFields are the members of an Anthropic request the general
// reader knows, in anthRequest's order; the fast reader handles the first
// seven and leaves a request with any other to the general one.
var anthRequestFields = []string{"model", "max_tokens", "system", "messages", "temperature", "top_p", "stop_sequences",
	"stream", "metadata", "tools", "tool_choice", "thinking", "top_k", "output_format"}

var (
	anthMessageFields  = []string{"role", "content"}
	anthMetadataFields = []string{"user_id"}
	// anthTextBlockFields are anthBlock's members: a text block with one
	// but type and text goes to the general reader.
	anthTextBlockFields = []string{"type", "text", "source", "id", "name", "input", "tool_use_id", "content", "is_error",
		"thinking", "signature", "data"}
)

// fastAnthRequest reads an Anthropic request of text turns into the hub
// as anthropicMessages.decodeRequest does; any error means "ask the
// general reader".
func fastAnthRequest(data []byte) (*Request, error) {
	st := new(anthRequestStore)
	r := &st.r
	err := fastTop(data, anthRequestFields, func(f, vs int) (int, error) {
		switch f {
		case 0:
			return fastString(data, vs, &r.Model)
		case 1:
			return fastInt64Into(data, vs, &r.MaxTokens, &st.maxTokens)
		case 2:
			end, parts, err := fastAnthText(data, vs, nil)
			r.System = parts
			return end, err
		case 3:
			return fastAnthMessages(data, vs, st)
		case 4:
			return fastFloatPtr(data, vs, &r.Temperature)
		case 5:
			return fastFloatPtr(data, vs, &r.TopP)
		case 6:
			return fastStrings(data, vs, &r.Stop)
		case 7:
			if null, end := fastNull(data, vs); null {
				return end, nil
			}
			switch {
			case bytes.HasPrefix(data[vs:], []byte("true")):
				r.Stream = true
				return vs + 4, nil
			case bytes.HasPrefix(data[vs:], []byte("false")):
				return vs + 5, nil
			}
			return 0, errSlow
		case 8:
			return fastNullableObject(data, vs, anthMetadataFields, func(_, vs int) (int, error) {
				return fastString(data, vs, &r.User)
			})
		}
		return 0, errSlow
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// anthRequestStore is a request read by fastAnthRequest together with
// what the commonest one points to (its max_tokens, its one turn of one
// text part): one allocation instead of four.
type anthRequestStore struct {
	r         Request
	maxTokens int64
	turn      [1]Message
	text      [1]Part
}

// fastAnthMessages reads the messages array, each turn's content a string
// or text blocks, merging turns as Request.appendParts does.
func fastAnthMessages(data []byte, vs int, st *anthRequestStore) (int, error) {
	r := &st.r
	if null, end := fastNull(data, vs); null {
		r.Messages = nil
		return end, nil
	}
	if vs >= len(data) || data[vs] != '[' {
		return 0, errSlow
	}
	// The store's slots have room for one; a longer conversation grows
	// out of them as append does.
	r.Messages = st.turn[:0:1]
	text := &st.text
	end, err := jsonbytes.ValidElements(data, vs, func(vs int) (int, error) {
		if vs >= len(data) || data[vs] != '{' {
			return 0, errSlow
		}
		var role Role
		var parts []Part
		end, err := fastObject(data, vs, anthMessageFields, func(f, vs int) (int, error) {
			if f == 0 {
				var s string
				end, err := fastName(data, vs, &s, []string{"user", "assistant"})
				switch s {
				case "user":
					role = RoleUser
				case "assistant":
					role = RoleAssistant
				default:
					return 0, errSlow
				}
				return end, err
			}
			end, p, err := fastAnthText(data, vs, text)
			if text != nil && len(p) > 0 && &p[0] == &text[0] {
				text = nil // used
			}
			parts = p
			return end, err
		})
		if err != nil {
			return 0, err
		}
		if role == "" {
			return 0, errSlow
		}
		r.appendParts(role, parts)
		return end, nil
	})
	if len(r.Messages) == 0 {
		r.Messages = nil // as encoding/json leaves an empty list
	}
	return end, err
}

// fastAnthText reads content that is absent, null, a string or a list of
// text blocks, as anthParts does. A string's part goes in slot when it is
// not nil.
func fastAnthText(data []byte, vs int, slot *[1]Part) (int, []Part, error) {
	if null, end := fastNull(data, vs); null {
		return end, nil, nil
	}
	if vs < len(data) && data[vs] == '"' {
		s, end, err := jsonbytes.StringAt(data, vs)
		if err != nil || s == "" {
			return end, nil, err
		}
		if slot != nil {
			slot[0] = Part{Kind: PartText, Text: s}
			return end, slot[:1:1], nil
		}
		return end, []Part{{Kind: PartText, Text: s}}, nil
	}
	if vs >= len(data) || data[vs] != '[' {
		return 0, nil, errSlow
	}
	var parts []Part
	end, err := jsonbytes.ValidElements(data, vs, func(vs int) (int, error) {
		if vs >= len(data) || data[vs] != '{' {
			return 0, errSlow
		}
		var typ, text string
		end, err := fastObject(data, vs, anthTextBlockFields, func(f, vs int) (int, error) {
			switch f {
			case 0:
				return fastName(data, vs, &typ, []string{"text"})
			case 1:
				return fastString(data, vs, &text)
			}
			return 0, errSlow
		})
		if err != nil {
			return 0, err
		}
		if typ != "text" {
			return 0, errSlow
		}
		parts = append(parts, Part{Kind: PartText, Text: text})
		return end, nil
	})
	return end, parts, err
}

// fastInt64Ptr reads an integer into *p as encoding/json fills an *int64;
// null sets *p to nil.
func fastInt64Ptr(data []byte, vs int, p **int64) (int, error) {
	if null, end := fastNull(data, vs); null {
		*p = nil
		return end, nil
	}
	end, integer, err := jsonbytes.ValidNumber(data, vs)
	if err != nil || !integer {
		return 0, errSlow
	}
	n, err := strconv.ParseInt(string(data[vs:end]), 10, 64)
	if err != nil {
		return 0, errSlow
	}
	*p = &n
	return end, nil
}

// fastFloatPtr reads a number into *p as encoding/json fills a *float64;
// null sets *p to nil.
func fastFloatPtr(data []byte, vs int, p **float64) (int, error) {
	if null, end := fastNull(data, vs); null {
		*p = nil
		return end, nil
	}
	end, _, err := jsonbytes.ValidNumber(data, vs)
	if err != nil {
		return 0, errSlow
	}
	f, err := strconv.ParseFloat(string(data[vs:end]), 64)
	if err != nil {
		return 0, errSlow
	}
	*p = &f
	return end, nil
}

// fastStrings reads a list of strings as encoding/json fills a []string:
// null is nil, [] an empty list.
func fastStrings(data []byte, vs int, l *[]string) (int, error) {
	if null, end := fastNull(data, vs); null {
		*l = nil
		return end, nil
	}
	if vs >= len(data) || data[vs] != '[' {
		return 0, errSlow
	}
	out := []string{}
	end, err := jsonbytes.ValidElements(data, vs, func(vs int) (int, error) {
		if vs >= len(data) || data[vs] != '"' {
			return 0, errSlow
		}
		s, end, err := jsonbytes.StringAt(data, vs)
		out = append(out, s)
		return end, err
	})
	*l = out
	return end, err
}

// appendRaw appends a json.RawMessage as json.Marshal writes one: valid,
// compacted, with HTML's characters escaped; ok is false when raw is not
// valid JSON.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, bool) {
	if len(raw) == 0 {
		return append(dst, "null"...), true
	}
	if end, err := jsonbytes.ValidValue(raw, 0, nil); err == nil && end == len(raw) && !bytes.ContainsAny(raw, " \t\r\n<>&\u2028\u2029") {
		return append(dst, raw...), true // nothing to compact or escape
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return dst, false
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, buf.Bytes())
	return append(dst, esc.Bytes()...), true
}

// appendChatRequest writes r as openAIChat.encodeRequest's json.Marshal
// does; ok is false for what it leaves to json.Marshal (a response
// format, a part of an unknown kind) and for requests chat cannot carry,
// whose error the general writer returns.
func appendChatRequest(dst []byte, r *Request) ([]byte, bool) {
	if r.Format != nil {
		return dst, false
	}
	dst = append(dst, `{"model":`...)
	dst = jsonbytes.AppendString(dst, r.Model)
	dst = append(dst, `,"messages":`...)
	n := 0
	open := func() {
		if n == 0 {
			dst = append(dst, '[')
		} else {
			dst = append(dst, ',')
		}
		n++
	}
	if len(r.System) > 0 {
		open()
		dst = append(dst, `{"role":"system","content":`...)
		dst = appendJoined(dst, r.System)
		dst = append(dst, '}')
	}
	for _, m := range r.Messages {
		rest, calls := 0, 0
		for _, p := range m.Parts {
			switch p.Kind {
			case PartToolResult:
				for _, rp := range p.ToolResult.Parts {
					if rp.Kind != PartText {
						return dst, false
					}
				}
				open()
				dst = append(dst, `{"role":"tool","content":`...)
				if p.ToolResult.IsError {
					// Chat completions has no error flag on tool results.
					dst = jsonbytes.AppendString(dst, "Error: "+joinText(p.ToolResult.Parts))
				} else {
					dst = appendJoined(dst, p.ToolResult.Parts)
				}
				if p.ToolResult.CallID != "" {
					dst = append(dst, `,"tool_call_id":`...)
					dst = jsonbytes.AppendString(dst, p.ToolResult.CallID)
				}
				dst = append(dst, '}')
			case PartToolCall:
				calls++
			case PartReasoning:
			case PartText, PartImage:
				rest++
			default:
				return dst, false
			}
		}
		if rest == 0 && calls == 0 {
			continue
		}
		open()
		dst = append(dst, `{"role":`...)
		dst = jsonbytes.AppendString(dst, string(m.Role))
		dst = append(dst, `,"content":`...)
		switch {
		case rest == 0:
			dst = append(dst, "null"...)
		case rest == 1 && onlyText(m.Parts):
			// One text part: a content string.
			dst = appendJoined(dst, m.Parts)
		default:
			dst = appendChatContentList(dst, m.Parts)
		}
		if calls > 0 {
			dst = append(dst, `,"tool_calls":[`...)
			k := 0
			for _, p := range m.Parts {
				if p.Kind != PartToolCall {
					continue
				}
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				dst = append(dst, `{"id":`...)
				dst = jsonbytes.AppendString(dst, p.ToolCall.ID)
				dst = append(dst, `,"type":"function","function":{"name":`...)
				dst = jsonbytes.AppendString(dst, p.ToolCall.Name)
				dst = append(dst, `,"arguments":`...)
				dst = jsonbytes.AppendString(dst, string(p.ToolCall.Arguments))
				dst = append(dst, "}}"...)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	if n == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, ']')
	}
	if len(r.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i, t := range r.Tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = jsonbytes.AppendString(dst, t.Name)
			if t.Description != "" {
				dst = append(dst, `,"description":`...)
				dst = jsonbytes.AppendString(dst, t.Description)
			}
			if len(t.Parameters) > 0 {
				var ok bool
				if dst, ok = appendRaw(append(dst, `,"parameters":`...), t.Parameters); !ok {
					return dst, false
				}
			}
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	if tc := r.ToolChoice; tc != nil {
		dst = append(dst, `,"tool_choice":`...)
		if tc.Mode == ToolNamed {
			dst = append(dst, `{"function":{"name":`...)
			dst = jsonbytes.AppendString(dst, tc.Name)
			dst = append(dst, `},"type":"function"}`...)
		} else {
			dst = jsonbytes.AppendString(dst, string(tc.Mode))
		}
		if tc.NoParallel && len(r.Tools) > 0 {
			dst = append(dst, `,"parallel_tool_calls":false`...)
		}
	}
	effort := openAIEffort(r.Reasoning)
	if r.MaxTokens != nil {
		if effort != "" {
			// Reasoning models take the newer name only.
			dst = append(dst, `,"max_completion_tokens":`...)
		} else {
			dst = append(dst, `,"max_tokens":`...)
		}
		dst = strconv.AppendInt(dst, *r.MaxTokens, 10)
	}
	if r.Temperature != nil {
		dst = jsonbytes.AppendFloat(append(dst, `,"temperature":`...), *r.Temperature)
	}
	if r.TopP != nil {
		dst = jsonbytes.AppendFloat(append(dst, `,"top_p":`...), *r.TopP)
	}
	if len(r.Stop) > 0 {
		dst = append(dst, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonbytes.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	if r.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	if r.User != "" {
		dst = append(dst, `,"user":`...)
		dst = jsonbytes.AppendString(dst, r.User)
	}
	if effort != "" {
		dst = append(dst, `,"reasoning_effort":`...)
		dst = jsonbytes.AppendString(dst, effort)
	}
	return append(dst, '}'), true
}

// onlyText reports whether the text and image parts among parts are one
// text part, which chat writes as a content string.
func onlyText(parts []Part) bool {
	for _, p := range parts {
		if p.Kind == PartImage {
			return false
		}
	}
	return true
}

// appendJoined appends the text of parts joined, as one JSON string.
func appendJoined(dst []byte, parts []Part) []byte {
	if len(parts) == 1 && parts[0].Kind == PartText {
		return jsonbytes.AppendString(dst, parts[0].Text)
	}
	return jsonbytes.AppendString(dst, joinText(parts))
}

// appendChatContentList appends the text and image parts of parts as
// chatContent writes a list (map keys in sorted order).
func appendChatContentList(dst []byte, parts []Part) []byte {
	dst = append(dst, '[')
	k := 0
	for _, p := range parts {
		if p.Kind != PartText && p.Kind != PartImage {
			continue
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		k++
		if p.Kind == PartText {
			dst = append(dst, `{"text":`...)
			dst = jsonbytes.AppendString(dst, p.Text)
			dst = append(dst, `,"type":"text"}`...)
			continue
		}
		u := p.Image.URL
		if u == "" {
			u = "data:" + p.Image.MediaType + ";base64," + p.Image.Data
		}
		dst = append(dst, `{"image_url":{"url":`...)
		dst = jsonbytes.AppendString(dst, u)
		dst = append(dst, `},"type":"image_url"}`...)
	}
	return append(dst, ']')
}

// appendAnthResponse writes r as anthropicMessages.encodeResponse's
// json.Marshal does; ok is false for parts it leaves to json.Marshal
// (tool results and images, which answers do not carry).
func appendAnthResponse(dst []byte, r *Response) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = jsonbytes.AppendString(dst, r.ID)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonbytes.AppendString(dst, r.Model)
	dst = append(dst, `,"content":[`...)
	k := 0
	block := func(typ string) {
		if k > 0 {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"type":"`...)
		dst = append(dst, typ...)
		dst = append(dst, '"')
	}
	for _, p := range r.Parts {
		switch p.Kind {
		case PartText:
			if p.Text != "" {
				block("text")
				dst = jsonbytes.AppendString(append(dst, `,"text":`...), p.Text)
				dst = append(dst, '}')
			}
		case PartToolCall:
			block("tool_use")
			if p.ToolCall.ID != "" {
				dst = jsonbytes.AppendString(append(dst, `,"id":`...), p.ToolCall.ID)
			}
			if p.ToolCall.Name != "" {
				dst = jsonbytes.AppendString(append(dst, `,"name":`...), p.ToolCall.Name)
			}
			if len(p.ToolCall.Arguments) > 0 {
				var ok bool
				if dst, ok = appendRaw(append(dst, `,"input":`...), p.ToolCall.Arguments); !ok {
					return dst, false
				}
			}
			dst = append(dst, '}')
		case PartReasoning:
			rs := p.Reasoning
			own := signedBy(rs.Origin, apiformat.AnthropicMessages)
			switch {
			case own && rs.Redacted != "":
				block("redacted_thinking")
				dst = jsonbytes.AppendString(append(dst, `,"data":`...), rs.Redacted)
				dst = append(dst, '}')
			case own || rs.Text != "":
				sig := ""
				if own {
					sig = rs.Signature
				}
				block("thinking")
				dst = jsonbytes.AppendString(append(dst, `,"thinking":`...), rs.Text)
				dst = jsonbytes.AppendString(append(dst, `,"signature":`...), sig)
				dst = append(dst, '}')
			}
		default:
			return dst, false
		}
	}
	dst = append(dst, `],"stop_reason":"`...)
	switch r.Stop {
	case StopMaxTokens:
		dst = append(dst, "max_tokens"...)
	case StopSequence:
		dst = append(dst, "stop_sequence"...)
	case StopToolUse:
		dst = append(dst, "tool_use"...)
	case StopRefusal:
		dst = append(dst, "refusal"...)
	default:
		dst = append(dst, "end_turn"...)
	}
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	u := r.Usage
	dst = appendAnthUsage(dst, u.UncachedInput(), u.Output, u.CacheWrite, u.CacheRead)
	return append(dst, '}'), true
}

// appendAnthUsage appends an Anthropic usage object as json.Marshal
// writes an anthUsage: the counts reported, in its order.
func appendAnthUsage(dst []byte, input, output, cacheWrite, cacheRead usage.Count) []byte {
	dst = append(dst, '{')
	n := 0
	for _, c := range [...]struct {
		name string
		c    usage.Count
	}{{"input_tokens", input}, {"output_tokens", output}, {"cache_creation_input_tokens", cacheWrite}, {"cache_read_input_tokens", cacheRead}} {
		if !c.c.Reported() {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, c.name...)
		dst = append(dst, `":`...)
		dst = strconv.AppendInt(dst, c.c.Value(), 10)
	}
	return append(dst, '}')
}
