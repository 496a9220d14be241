package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// openAIChat translates OpenAI chat completions.
type openAIChat struct{}

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Tools               []chatTool      `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	User                string          `json:"user,omitempty"`

	ResponseFormat  json.RawMessage `json:"response_format,omitempty"`
	ReasoningEffort string          `json:"reasoning_effort,omitempty"`

	// Read only to refuse what the hub cannot carry.
	N                *int64          `json:"n,omitempty"`
	Logprobs         *bool           `json:"logprobs,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	LogitBias        json.RawMessage `json:"logit_bias,omitempty"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	ToolCalls  []chatToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Refusal    *string         `json:"refusal,omitempty"`
	// ReasoningContent is the reasoning some OpenAI-compatible servers
	// (DeepSeek, vLLM) answer beside the content; read, never written.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

type chatContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

func (openAIChat) decodeRequest(body []byte) (*Request, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	switch {
	case in.N != nil && *in.N > 1:
		return nil, unsupported(`"n" above 1`)
	case in.Logprobs != nil && *in.Logprobs:
		return nil, unsupported(`"logprobs"`)
	case len(in.Audio) > 0 && !isNull(in.Audio):
		return nil, unsupported(`"audio"`)
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0, in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return nil, unsupported("frequency and presence penalties")
	case len(in.LogitBias) > 0 && !isNull(in.LogitBias) && string(in.LogitBias) != "{}":
		return nil, unsupported(`"logit_bias"`)
	}
	r := &Request{Model: in.Model, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream, User: in.User}
	if in.ReasoningEffort != "" {
		r.Reasoning = effortReasoning(in.ReasoningEffort)
	}
	format, err := chatResponseFormat(in.ResponseFormat)
	if err != nil {
		return nil, err
	}
	r.Format = format
	r.MaxTokens = in.MaxCompletionTokens
	if r.MaxTokens == nil {
		r.MaxTokens = in.MaxTokens
	}
	stop, err := stringOrList(in.Stop)
	if err != nil {
		return nil, fmt.Errorf(`"stop": %w`, err)
	}
	r.Stop = stop
	for _, t := range in.Tools {
		if t.Type != "function" {
			return nil, unsupported(fmt.Sprintf("a tool of type %q", t.Type))
		}
		r.Tools = append(r.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if r.ToolChoice, err = chatToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if r.ToolChoice == nil {
			r.ToolChoice = &ToolChoice{Mode: ToolAuto}
		}
		r.ToolChoice.NoParallel = true
	}
	for i, m := range in.Messages {
		if err := r.addChatMessage(m); err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
	}
	return r, nil
}

// effortReasoning reads an OpenAI reasoning effort; "none" turns
// reasoning off.
func effortReasoning(effort string) *ReasoningConfig {
	if effort == "none" {
		return &ReasoningConfig{}
	}
	return &ReasoningConfig{Enabled: true, Effort: effort, Budget: budgetFor(effort)}
}

// openAIEffort writes a reasoning config as an OpenAI effort ("" for none
// to write: reasoning off is the default of the models that can).
func openAIEffort(rc *ReasoningConfig) string {
	if rc == nil || !rc.Enabled {
		return ""
	}
	if rc.Effort != "" {
		return rc.Effort
	}
	return effortFor(rc.Budget)
}

// chatResponseFormat reads a response_format: absent, null or text is
// plain text; json_object any JSON object; json_schema a schema.
func chatResponseFormat(raw json.RawMessage) (*ResponseFormat, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf(`"response_format": %w`, err)
	}
	switch f.Type {
	case "text":
		return nil, nil
	case "json_object":
		return &ResponseFormat{}, nil
	case "json_schema":
		if f.JSONSchema == nil || len(f.JSONSchema.Schema) == 0 || isNull(f.JSONSchema.Schema) {
			return nil, unsupported(`a json_schema "response_format" without a schema`)
		}
		return &ResponseFormat{Schema: f.JSONSchema.Schema, Name: f.JSONSchema.Name, Strict: f.JSONSchema.Strict}, nil
	}
	return nil, unsupported(fmt.Sprintf(`"response_format" of type %q`, f.Type))
}

// chatFormat writes a response format as chat's response_format.
func chatFormat(f *ResponseFormat) json.RawMessage {
	if f == nil {
		return nil
	}
	if f.Schema == nil {
		return json.RawMessage(`{"type":"json_object"}`)
	}
	b, _ := json.Marshal(map[string]any{"type": "json_schema", "json_schema": map[string]any{
		"name": schemaName(f), "schema": f.Schema, "strict": f.Strict}})
	return b
}

// schemaName is the schema's name, or one for formats that give none.
func schemaName(f *ResponseFormat) string {
	if f.Name != "" {
		return f.Name
	}
	return "response"
}

// addChatMessage appends one chat message: system and developer messages
// become the system prompt, tool messages tool results in a user turn.
func (r *Request) addChatMessage(m chatMessage) error {
	parts, err := chatParts(m.Content)
	if err != nil {
		return err
	}
	switch m.Role {
	case "system", "developer":
		for _, p := range parts {
			if p.Kind != PartText {
				return unsupported("a system message that is not text")
			}
		}
		r.System = append(r.System, parts...)
	case "user":
		r.appendParts(RoleUser, parts)
	case "assistant":
		if m.Refusal != nil && *m.Refusal != "" {
			parts = append(parts, Part{Kind: PartText, Text: *m.Refusal})
		}
		for _, tc := range m.ToolCalls {
			args, err := argumentsObject(tc.Function.Arguments)
			if err != nil {
				return err
			}
			parts = append(parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
		}
		r.appendParts(RoleAssistant, parts)
	case "tool":
		r.appendParts(RoleUser, []Part{{Kind: PartToolResult, ToolResult: &ToolResult{CallID: m.ToolCallID, Parts: parts}}})
	default:
		return unsupported(fmt.Sprintf("a message of role %q", m.Role))
	}
	return nil
}

// appendParts adds parts to the conversation, merged into the last
// message when it has the same role, so that consecutive tool results form
// one turn as formats with strict alternation want.
func (r *Request) appendParts(role Role, parts []Part) {
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, parts...)
		return
	}
	r.Messages = append(r.Messages, Message{Role: role, Parts: parts})
}

// stringContent reads content that is absent, null or a plain string, as
// both chat and Anthropic messages allow; ok is false for anything else
// (a list of parts or blocks, which each format reads its own way).
func stringContent(content json.RawMessage) (parts []Part, ok bool) {
	s, ok := contentString(content)
	if !ok || s == "" {
		return nil, ok
	}
	return []Part{{Kind: PartText, Text: s}}, true
}

// contentString is stringContent's text: "" for content that is absent,
// null or an empty string.
func contentString(content json.RawMessage) (s string, ok bool) {
	if len(content) == 0 || isNull(content) {
		return "", true
	}
	c := bytes.TrimSpace(content)
	if c[0] != '"' {
		// Not a string (a list of parts): no need to have encoding/json
		// scan it to say so.
		return "", false
	}
	s, end, err := jsonbytes.StringAt(c, 0)
	if err != nil || end != len(c) {
		return unmarshalString(content)
	}
	return s, true
}

// unmarshalString reads a JSON string as encoding/json does; a function
// of its own so that only this slow path puts its string on the heap.
func unmarshalString(data []byte) (string, bool) {
	var s string
	err := json.Unmarshal(data, &s)
	return s, err == nil
}

// chatParts reads a chat message's content: a string or a list of parts.
func chatParts(content json.RawMessage) ([]Part, error) {
	if parts, ok := stringContent(content); ok {
		return parts, nil
	}
	var list []chatContentPart
	if err := json.Unmarshal(content, &list); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	var parts []Part
	for _, p := range list {
		switch p.Type {
		case "text":
			parts = append(parts, Part{Kind: PartText, Text: p.Text})
		case "image_url":
			if p.ImageURL == nil {
				return nil, fmt.Errorf("an image_url part without image_url")
			}
			img, err := imageFromURL(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartImage, Image: img})
		default:
			return nil, unsupported(fmt.Sprintf("a content part of type %q", p.Type))
		}
	}
	return parts, nil
}

// imageFromURL reads an image URL, which may be a base64 data: URL.
func imageFromURL(u string) (*Image, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if u == "" {
			return nil, fmt.Errorf("an image_url part without a URL")
		}
		return &Image{URL: u}, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isBase64 || mediaType == "" || data == "" {
		return nil, unsupported("an image data: URL that is not base64 with a media type")
	}
	return &Image{MediaType: mediaType, Data: data}, nil
}

func chatToolChoice(raw json.RawMessage) (*ToolChoice, error) {
	return openAIToolChoice(raw, func(raw json.RawMessage) (string, string, error) {
		var o struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		err := json.Unmarshal(raw, &o)
		return o.Type, o.Function.Name, err
	})
}

// openAIToolChoice reads tool_choice as both OpenAI formats write it: a
// mode ("auto", "none", "required") or an object naming one function,
// which named reads (chat nests the name, Responses does not).
func openAIToolChoice(raw json.RawMessage, named func(json.RawMessage) (typ, name string, err error)) (*ToolChoice, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &ToolChoice{Mode: ToolAuto}, nil
		case "none":
			return &ToolChoice{Mode: ToolNone}, nil
		case "required":
			return &ToolChoice{Mode: ToolRequired}, nil
		}
		return nil, unsupported(fmt.Sprintf("tool_choice %q", s))
	}
	typ, name, err := named(raw)
	if err != nil || typ != "function" || name == "" {
		return nil, unsupported("this tool_choice")
	}
	return &ToolChoice{Mode: ToolNamed, Name: name}, nil
}

func (openAIChat) encodeRequest(r *Request) ([]byte, error) {
	if out, ok := appendChatRequest(make([]byte, 0, 512), r); ok {
		return out, nil
	}
	return encodeChatRequestJSON(r)
}

// encodeChatRequestJSON is encodeRequest with json.Marshal: the general
// path, for requests appendChatRequest leaves to it.
func encodeChatRequestJSON(r *Request) ([]byte, error) {
	out := chatRequest{Model: r.Model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, Stream: r.Stream, User: r.User,
		ReasoningEffort: openAIEffort(r.Reasoning), ResponseFormat: chatFormat(r.Format)}
	if out.ReasoningEffort != "" {
		// Reasoning models take the newer name only.
		out.MaxTokens, out.MaxCompletionTokens = nil, r.MaxTokens
	}
	if len(r.Stop) > 0 {
		out.Stop, _ = json.Marshal(r.Stop)
	}
	if len(r.System) > 0 {
		// One string: not every OpenAI-compatible server takes a list of
		// parts in a system message.
		sys, _ := json.Marshal(joinText(r.System))
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: sys})
	}
	for _, m := range r.Messages {
		msgs, err := chatMessages(m)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, t := range r.Tools {
		var ct chatTool
		ct.Type = "function"
		ct.Function.Name, ct.Function.Description, ct.Function.Parameters = t.Name, t.Description, t.Parameters
		out.Tools = append(out.Tools, ct)
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Mode {
		case ToolNamed:
			out.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		default:
			out.ToolChoice, _ = json.Marshal(string(tc.Mode))
		}
		if tc.NoParallel && len(r.Tools) > 0 {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	return json.Marshal(out)
}

// chatMessages writes one hub message as chat messages: tool results
// become tool messages, before the user's other content of that turn.
func chatMessages(m Message) ([]chatMessage, error) {
	var out []chatMessage
	var rest []Part
	var calls []chatToolCall
	for _, p := range m.Parts {
		switch p.Kind {
		case PartToolResult:
			for _, rp := range p.ToolResult.Parts {
				if rp.Kind != PartText {
					return nil, unsupported("a tool result that is not text")
				}
			}
			text := joinText(p.ToolResult.Parts)
			if p.ToolResult.IsError {
				// Chat completions has no error flag on tool results.
				text = "Error: " + text
			}
			c, _ := json.Marshal(text)
			out = append(out, chatMessage{Role: "tool", ToolCallID: p.ToolResult.CallID, Content: c})
		case PartToolCall:
			var tc chatToolCall
			tc.ID, tc.Type = p.ToolCall.ID, "function"
			tc.Function.Name, tc.Function.Arguments = p.ToolCall.Name, string(p.ToolCall.Arguments)
			calls = append(calls, tc)
		case PartReasoning:
			// Chat completions takes no reasoning of earlier turns back.
		default:
			rest = append(rest, p)
		}
	}
	if len(rest) > 0 || len(calls) > 0 {
		msg := chatMessage{Role: string(m.Role), ToolCalls: calls}
		if len(rest) > 0 {
			msg.Content = chatContent(rest)
		} else {
			msg.Content = json.RawMessage("null")
		}
		out = append(out, msg)
	}
	return out, nil
}

// chatContent writes parts as a content string when they are one text,
// else as a list of parts.
func chatContent(parts []Part) json.RawMessage {
	if len(parts) == 1 && parts[0].Kind == PartText {
		b, _ := json.Marshal(parts[0].Text)
		return b
	}
	list := make([]map[string]any, 0, len(parts))
	for _, p := range parts {
		switch p.Kind {
		case PartText:
			list = append(list, map[string]any{"type": "text", "text": p.Text})
		case PartImage:
			u := p.Image.URL
			if u == "" {
				u = "data:" + p.Image.MediaType + ";base64," + p.Image.Data
			}
			list = append(list, map[string]any{"type": "image_url", "image_url": map[string]string{"url": u}})
		}
	}
	b, _ := json.Marshal(list)
	return b
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

type chatUsage struct {
	PromptTokens        *int64 `json:"prompt_tokens,omitempty"`
	CompletionTokens    *int64 `json:"completion_tokens,omitempty"`
	TotalTokens         *int64 `json:"total_tokens,omitempty"`
	PromptTokensDetails *struct {
		CachedTokens *int64 `json:"cached_tokens,omitempty"`
	} `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *struct {
		ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
	} `json:"completion_tokens_details,omitempty"`
}

var chatStops = map[string]StopReason{
	"stop": StopEnd, "length": StopMaxTokens, "tool_calls": StopToolUse, "function_call": StopToolUse, "content_filter": StopRefusal,
}

func (openAIChat) decodeResponse(body []byte) (*Response, error) {
	var in chatResponse
	if err := decodeChatResponse(body, &in); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	if len(in.Choices) != 1 {
		return nil, fmt.Errorf("%w: an answer with %d choices", ErrUnsupported, len(in.Choices))
	}
	ch := in.Choices[0]
	// The answer and its text part, the commonest content, in one
	// allocation.
	st := new(struct {
		r    Response
		text [1]Part
	})
	r := &st.r
	*r = Response{ID: in.ID, Model: in.Model, Created: in.Created, Stop: chatStops[ch.FinishReason]}
	if r.Stop == "" {
		r.Stop = StopEnd
	}
	var parts []Part
	if s, ok := contentString(ch.Message.Content); ok {
		if s != "" {
			st.text[0] = Part{Kind: PartText, Text: s}
			parts = st.text[:1:1]
		}
	} else {
		var err error
		if parts, err = chatParts(ch.Message.Content); err != nil {
			return nil, err
		}
	}
	if rc := ch.Message.ReasoningContent; rc != "" {
		r.Parts = append(r.Parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Text: rc, Origin: apiformat.OpenAIChat}})
	}
	if r.Parts == nil {
		r.Parts = parts // no copy when there is no reasoning before
	} else {
		r.Parts = append(r.Parts, parts...)
	}
	if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
		r.Parts = append(r.Parts, Part{Kind: PartText, Text: *ch.Message.Refusal})
		r.Stop = StopRefusal
	}
	for _, tc := range ch.Message.ToolCalls {
		args, err := argumentsObject(tc.Function.Arguments)
		if err != nil {
			return nil, err
		}
		r.Parts = append(r.Parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
	}
	if u := in.Usage; u != nil {
		r.Usage.Input = usage.Optional(u.PromptTokens)
		r.Usage.Output = usage.Optional(u.CompletionTokens)
		if u.PromptTokensDetails != nil {
			r.Usage.CacheRead = usage.Optional(u.PromptTokensDetails.CachedTokens)
		}
		if u.CompletionTokensDetails != nil {
			r.Usage.Reasoning = usage.Optional(u.CompletionTokensDetails.ReasoningTokens)
		}
	}
	return r, nil
}

func (openAIChat) encodeResponse(r *Response) ([]byte, error) {
	msg := chatMessage{Role: "assistant"}
	var text []Part
	for _, p := range r.Parts {
		switch p.Kind {
		case PartText:
			text = append(text, p)
		case PartToolCall:
			var tc chatToolCall
			tc.ID, tc.Type = p.ToolCall.ID, "function"
			tc.Function.Name, tc.Function.Arguments = p.ToolCall.Name, string(p.ToolCall.Arguments)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if len(text) > 0 {
		msg.Content, _ = json.Marshal(joinText(text))
	} else {
		msg.Content = json.RawMessage("null")
	}
	finish := "stop"
	switch r.Stop {
	case StopMaxTokens:
		finish = "length"
	case StopToolUse:
		finish = "tool_calls"
	case StopRefusal:
		finish = "content_filter"
	}
	out := chatResponse{ID: r.ID, Object: "chat.completion", Created: r.Created, Model: r.Model,
		Choices: []chatChoice{{Index: 0, Message: msg, FinishReason: finish}}}
	if u := r.Usage; u.Reported() {
		cu := &chatUsage{PromptTokens: u.Input.Ptr(), CompletionTokens: u.Output.Ptr(), TotalTokens: u.Total().Ptr()}
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
		out.Usage = cu
	}
	return json.Marshal(out)
}

// argumentsObject reads tool call arguments sent as text: they must be a
// JSON object (empty text is no arguments).
func argumentsObject(s string) (json.RawMessage, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(t)) != nil || buf.Bytes()[0] != '{' {
		return nil, unsupported("tool call arguments that are not a JSON object")
	}
	return buf.Bytes(), nil
}

// stringOrList reads a member that is a string or a list of strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	return l, nil
}

func joinText(parts []Part) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Kind == PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
