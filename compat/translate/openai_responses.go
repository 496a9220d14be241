package translate

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/usage"
)

// openAIResponses translates OpenAI's Responses API.
type openAIResponses struct{}

type respRequest struct {
	Model             string          `json:"model"`
	Instructions      string          `json:"instructions,omitempty"`
	Input             json.RawMessage `json:"input"`
	Tools             []respTool      `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens   *int64          `json:"max_output_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	User              string          `json:"user,omitempty"`
	Reasoning         *respReasoning  `json:"reasoning,omitempty"`
	Text              *respText       `json:"text,omitempty"`
	Store             *bool           `json:"store,omitempty"`
	Include           []string        `json:"include,omitempty"`

	// Read only to refuse what the hub cannot carry.
	PreviousResponseID string          `json:"previous_response_id,omitempty"`
	Conversation       json.RawMessage `json:"conversation,omitempty"`
	Background         *bool           `json:"background,omitempty"`
	TopLogprobs        *int64          `json:"top_logprobs,omitempty"`
}

type respReasoning struct {
	Effort  *string `json:"effort,omitempty"`
	Summary *string `json:"summary,omitempty"`
}

type respText struct {
	Format    *respFormat `json:"format,omitempty"`
	Verbosity string      `json:"verbosity,omitempty"`
}

type respFormat struct {
	Type   string          `json:"type"`
	Name   string          `json:"name,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict *bool           `json:"strict,omitempty"`
}

type respTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// respItem is one input or output item: a message, a function call, its
// output, or reasoning.
type respItem struct {
	Type    string          `json:"type,omitempty"`
	ID      string          `json:"id,omitempty"`
	Status  string          `json:"status,omitempty"`
	Role    string          `json:"role,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
	// function_call
	CallID    string  `json:"call_id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"`
	// function_call_output
	Output json.RawMessage `json:"output,omitempty"`
	// reasoning
	Summary          []respContent `json:"summary,omitempty"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
}

type respContent struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
	// output_text
	Annotations []any `json:"annotations,omitempty"`
}

func (openAIResponses) decodeRequest(body []byte) (*Request, error) {
	var in respRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	switch {
	case in.PreviousResponseID != "":
		return nil, unsupported(`"previous_response_id" (conversation state kept by OpenAI)`)
	case len(in.Conversation) > 0 && !isNull(in.Conversation):
		return nil, unsupported(`"conversation"`)
	case in.Background != nil && *in.Background:
		return nil, unsupported(`"background"`)
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return nil, unsupported(`"top_logprobs"`)
	}
	r := &Request{Model: in.Model, MaxTokens: in.MaxOutputTokens, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream, User: in.User}
	if in.Instructions != "" {
		r.System = []Part{{Kind: PartText, Text: in.Instructions}}
	}
	if rs := in.Reasoning; rs != nil && rs.Effort != nil {
		r.Reasoning = effortReasoning(*rs.Effort)
		r.Reasoning.Summary = rs.Summary != nil && *rs.Summary != "" && *rs.Summary != "none"
	}
	if in.Text != nil && in.Text.Format != nil {
		switch f := in.Text.Format; f.Type {
		case "text":
		case "json_object":
			r.Format = &ResponseFormat{}
		case "json_schema":
			if len(f.Schema) == 0 || isNull(f.Schema) {
				return nil, unsupported(`a json_schema text format without a schema`)
			}
			r.Format = &ResponseFormat{Schema: f.Schema, Name: f.Name, Strict: f.Strict != nil && *f.Strict}
		default:
			return nil, unsupported(fmt.Sprintf("a text format of type %q", f.Type))
		}
	}
	for _, t := range in.Tools {
		if t.Type != "function" {
			return nil, unsupported(fmt.Sprintf("the built-in tool %q", t.Type))
		}
		r.Tools = append(r.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	tc, err := respToolChoice(in.ToolChoice)
	if err != nil {
		return nil, err
	}
	r.ToolChoice = tc
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls && len(in.Tools) > 0 {
		if r.ToolChoice == nil {
			r.ToolChoice = &ToolChoice{Mode: ToolAuto}
		}
		r.ToolChoice.NoParallel = true
	}
	if parts, ok := stringContent(in.Input); ok {
		if len(parts) > 0 {
			r.appendParts(RoleUser, parts)
		}
		return r, nil
	}
	var items []respItem
	if err := json.Unmarshal(in.Input, &items); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	for i, it := range items {
		if err := r.addRespItem(it); err != nil {
			return nil, fmt.Errorf("input[%d]: %w", i, err)
		}
	}
	return r, nil
}

func respToolChoice(raw json.RawMessage) (*ToolChoice, error) {
	return openAIToolChoice(raw, func(raw json.RawMessage) (string, string, error) {
		var o struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		err := json.Unmarshal(raw, &o)
		return o.Type, o.Name, err
	})
}

// addRespItem appends one input item to the conversation.
func (r *Request) addRespItem(it respItem) error {
	switch it.Type {
	case "", "message":
		parts, err := respParts(it.Content)
		if err != nil {
			return err
		}
		switch it.Role {
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
			r.appendParts(RoleAssistant, parts)
		default:
			return unsupported(fmt.Sprintf("a message of role %q", it.Role))
		}
	case "function_call":
		args := ""
		if it.Arguments != nil {
			args = *it.Arguments
		}
		obj, err := argumentsObject(args)
		if err != nil {
			return err
		}
		r.appendParts(RoleAssistant, []Part{{Kind: PartToolCall, ToolCall: &ToolCall{ID: it.CallID, Name: it.Name, Arguments: obj}}})
	case "function_call_output":
		parts, err := respParts(it.Output)
		if err != nil {
			return err
		}
		r.appendParts(RoleUser, []Part{{Kind: PartToolResult, ToolResult: &ToolResult{CallID: it.CallID, Parts: parts}}})
	case "reasoning":
		rs := &Reasoning{ID: it.ID, Text: summaryText(it.Summary), Origin: apiformat.OpenAIResponses}
		if it.EncryptedContent != nil {
			rs.Redacted = *it.EncryptedContent
		}
		r.appendParts(RoleAssistant, []Part{{Kind: PartReasoning, Reasoning: rs}})
	default:
		return unsupported(fmt.Sprintf("an input item of type %q", it.Type))
	}
	return nil
}

func summaryText(summary []respContent) string {
	var s string
	for i, c := range summary {
		if i > 0 {
			s += "\n\n"
		}
		s += c.Text
	}
	return s
}

// respParts reads a message's content (a string or a list of parts) or a
// function call's output (the same).
func respParts(content json.RawMessage) ([]Part, error) {
	if parts, ok := stringContent(content); ok {
		return parts, nil
	}
	var list []respContent
	if err := json.Unmarshal(content, &list); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	var parts []Part
	for _, c := range list {
		switch c.Type {
		case "input_text", "output_text":
			parts = append(parts, Part{Kind: PartText, Text: c.Text})
		case "refusal":
			parts = append(parts, Part{Kind: PartText, Text: c.Refusal})
		case "input_image":
			if c.ImageURL == "" {
				return nil, unsupported("an input_image by file_id")
			}
			img, err := imageFromURL(c.ImageURL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartImage, Image: img})
		default:
			return nil, unsupported(fmt.Sprintf("a content part of type %q", c.Type))
		}
	}
	return parts, nil
}

func (openAIResponses) encodeRequest(r *Request) ([]byte, error) {
	if len(r.Stop) > 0 {
		return nil, unsupported("stop sequences")
	}
	// Stateless, as the hub is: OpenAI keeps no copy of a translated
	// conversation (chat completions and the other formats keep none).
	noStore := false
	out := respRequest{Model: r.Model, Instructions: joinText(r.System), MaxOutputTokens: r.MaxTokens, Temperature: r.Temperature,
		TopP: r.TopP, Stream: r.Stream, User: r.User, Store: &noStore}
	if rc := r.Reasoning; rc != nil {
		effort := openAIEffort(rc)
		if !rc.Enabled {
			effort = "none"
		}
		out.Reasoning = &respReasoning{Effort: &effort}
		if rc.Summary && rc.Enabled {
			auto := "auto"
			out.Reasoning.Summary = &auto
		}
		// Unstored reasoning comes back encrypted, to be sent back in the
		// next turn.
		out.Include = []string{"reasoning.encrypted_content"}
	}
	if f := r.Format; f != nil {
		rf := &respFormat{Type: "json_object"}
		if f.Schema != nil {
			strict := f.Strict
			rf = &respFormat{Type: "json_schema", Name: schemaName(f), Schema: f.Schema, Strict: &strict}
		}
		out.Text = &respText{Format: rf}
	}
	for _, t := range r.Tools {
		out.Tools = append(out.Tools, respTool{Type: "function", Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	if tc := r.ToolChoice; tc != nil {
		if tc.Mode == ToolNamed {
			out.ToolChoice, _ = json.Marshal(map[string]string{"type": "function", "name": tc.Name})
		} else {
			out.ToolChoice, _ = json.Marshal(string(tc.Mode))
		}
		if tc.NoParallel && len(r.Tools) > 0 {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	items := []respItem{}
	for _, m := range r.Messages {
		its, err := respItems(m, false)
		if err != nil {
			return nil, err
		}
		items = append(items, its...)
	}
	out.Input, _ = json.Marshal(items)
	return json.Marshal(out)
}

// respItems writes one hub message as items: a message item for its text
// and images, and one item per tool call, result or reasoning, in order.
func respItems(m Message, answer bool) ([]respItem, error) {
	var out []respItem
	var content []respContent
	flush := func() {
		if len(content) > 0 {
			c, _ := json.Marshal(content)
			it := respItem{Type: "message", Role: string(m.Role), Content: c}
			if answer {
				it.Status = "completed"
			}
			out = append(out, it)
			content = nil
		}
	}
	textType := "input_text"
	if m.Role == RoleAssistant {
		textType = "output_text"
	}
	for _, p := range m.Parts {
		switch p.Kind {
		case PartText:
			c := respContent{Type: textType, Text: p.Text}
			if answer {
				c.Annotations = []any{}
			}
			content = append(content, c)
		case PartImage:
			if m.Role == RoleAssistant {
				return nil, unsupported("an image in an assistant message")
			}
			content = append(content, respContent{Type: "input_image", ImageURL: imageURL(p.Image), Detail: "auto"})
		case PartToolCall:
			flush()
			args := string(p.ToolCall.Arguments)
			it := respItem{Type: "function_call", CallID: p.ToolCall.ID, Name: p.ToolCall.Name, Arguments: &args}
			if answer {
				it.ID, it.Status = "fc_"+p.ToolCall.ID, "completed"
			}
			out = append(out, it)
		case PartToolResult:
			flush()
			for _, rp := range p.ToolResult.Parts {
				if rp.Kind != PartText {
					return nil, unsupported("a tool result that is not text")
				}
			}
			text := joinText(p.ToolResult.Parts)
			if p.ToolResult.IsError {
				text = "Error: " + text
			}
			o, _ := json.Marshal(text)
			out = append(out, respItem{Type: "function_call_output", CallID: p.ToolResult.CallID, Output: o})
		case PartReasoning:
			rs := p.Reasoning
			own := rs.Origin == apiformat.OpenAIResponses
			if !answer && !own {
				continue // OpenAI takes back only its own reasoning items
			}
			flush()
			it := respItem{Type: "reasoning", ID: rs.ID, Summary: []respContent{}}
			if rs.Text != "" {
				it.Summary = []respContent{{Type: "summary_text", Text: rs.Text}}
			}
			if own && rs.Redacted != "" {
				enc := rs.Redacted
				it.EncryptedContent = &enc
			}
			out = append(out, it)
		}
	}
	flush()
	return out, nil
}

// imageURL writes an image as a URL, inline images as data: URLs.
func imageURL(img *Image) string {
	if img.URL != "" {
		return img.URL
	}
	return "data:" + img.MediaType + ";base64," + img.Data
}

type respResponse struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	CreatedAt         int64           `json:"created_at"`
	Status            string          `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Model  string     `json:"model"`
	Output []respItem `json:"output"`
	Usage  *respUsage `json:"usage,omitempty"`
}

type respUsage struct {
	InputTokens        *int64 `json:"input_tokens,omitempty"`
	InputTokensDetails *struct {
		CachedTokens *int64 `json:"cached_tokens,omitempty"`
	} `json:"input_tokens_details,omitempty"`
	OutputTokens        *int64 `json:"output_tokens,omitempty"`
	OutputTokensDetails *struct {
		ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
	} `json:"output_tokens_details,omitempty"`
	TotalTokens *int64 `json:"total_tokens,omitempty"`
}

func (u *respUsage) tokens() usage.Tokens {
	if u == nil {
		return usage.Tokens{}
	}
	t := usage.Tokens{Input: usage.Optional(u.InputTokens), Output: usage.Optional(u.OutputTokens)}
	if d := u.InputTokensDetails; d != nil {
		t.CacheRead = usage.Optional(d.CachedTokens)
	}
	if d := u.OutputTokensDetails; d != nil {
		t.Reasoning = usage.Optional(d.ReasoningTokens)
	}
	return t
}

func respUsageOf(t usage.Tokens) *respUsage {
	if !t.Reported() {
		return nil
	}
	zero := int64(0)
	u := &respUsage{InputTokens: t.Input.Ptr(), OutputTokens: t.Output.Ptr(), TotalTokens: t.Total().Ptr()}
	if u.InputTokens == nil {
		u.InputTokens = &zero
	}
	if u.OutputTokens == nil {
		u.OutputTokens = &zero
	}
	cached, reasoning := t.CacheRead.Value(), t.Reasoning.Value()
	u.InputTokensDetails = &struct {
		CachedTokens *int64 `json:"cached_tokens,omitempty"`
	}{&cached}
	u.OutputTokensDetails = &struct {
		ReasoningTokens *int64 `json:"reasoning_tokens,omitempty"`
	}{&reasoning}
	return u
}

func (openAIResponses) decodeResponse(body []byte) (*Response, error) {
	var in respResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	if in.Object != "response" {
		return nil, fmt.Errorf("%w: an answer of object %q", ErrUnsupported, in.Object)
	}
	r := &Response{ID: in.ID, Model: in.Model, Created: in.CreatedAt, Usage: in.Usage.tokens()}
	for _, it := range in.Output {
		switch it.Type {
		case "message":
			parts, err := respParts(it.Content)
			if err != nil {
				return nil, err
			}
			for _, p := range parts {
				if p.Kind != PartText {
					return nil, fmt.Errorf("%w: an answer with an image", ErrUnsupported)
				}
			}
			r.Parts = append(r.Parts, parts...)
		case "function_call":
			args := ""
			if it.Arguments != nil {
				args = *it.Arguments
			}
			obj, err := argumentsObject(args)
			if err != nil {
				return nil, err
			}
			r.Parts = append(r.Parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: it.CallID, Name: it.Name, Arguments: obj}})
		case "reasoning":
			rs := &Reasoning{ID: it.ID, Text: summaryText(it.Summary), Origin: apiformat.OpenAIResponses}
			if it.EncryptedContent != nil {
				rs.Redacted = *it.EncryptedContent
			}
			r.Parts = append(r.Parts, Part{Kind: PartReasoning, Reasoning: rs})
		default:
			return nil, fmt.Errorf("%w: an output item of type %q", ErrUnsupported, it.Type)
		}
	}
	r.Stop = respStop(in.Status, in.IncompleteDetails, r.Parts)
	return r, nil
}

// respStop reads why a response ended: Responses says it with a status,
// and tool use only by the calls it holds.
func respStop(status string, inc *struct {
	Reason string `json:"reason"`
}, parts []Part) StopReason {
	if status == "incomplete" && inc != nil {
		if inc.Reason == "content_filter" {
			return StopRefusal
		}
		return StopMaxTokens
	}
	for _, p := range parts {
		if p.Kind == PartToolCall {
			return StopToolUse
		}
	}
	return StopEnd
}

func (openAIResponses) encodeResponse(r *Response) ([]byte, error) {
	out := respResponse{ID: respID(r.ID), Object: "response", CreatedAt: r.Created, Status: "completed", Error: json.RawMessage("null"), Model: r.Model}
	switch r.Stop {
	case StopMaxTokens:
		out.Status = "incomplete"
		out.IncompleteDetails = &struct {
			Reason string `json:"reason"`
		}{"max_output_tokens"}
	case StopRefusal:
		out.Status = "incomplete"
		out.IncompleteDetails = &struct {
			Reason string `json:"reason"`
		}{"content_filter"}
	}
	items, err := respItems(Message{Role: RoleAssistant, Parts: r.Parts}, true)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if items[i].Type == "message" {
			items[i].ID = "msg_" + r.ID
		}
		if items[i].Type == "reasoning" && items[i].ID == "" {
			items[i].ID = "rs_" + r.ID
		}
	}
	out.Output = items
	if out.Output == nil {
		out.Output = []respItem{}
	}
	out.Usage = respUsageOf(r.Usage)
	return json.Marshal(out)
}

// respID is a response ID as Responses' clients expect it.
func respID(id string) string {
	if len(id) > 5 && id[:5] == "resp_" {
		return id
	}
	return "resp_" + id
}
