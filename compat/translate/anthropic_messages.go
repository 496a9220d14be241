package translate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/usage"
)

// anthropicMessages translates Anthropic messages.
type anthropicMessages struct{}

// defaultMaxTokens is the cap written when a request in a format where it
// is optional goes to Anthropic, which requires one: the largest answer
// every current Claude model can give.
const defaultMaxTokens = 8192

type anthRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int64          `json:"max_tokens,omitempty"`
	System        json.RawMessage `json:"system,omitempty"`
	Messages      []anthMessage   `json:"messages"`
	Tools         []anthTool      `json:"tools,omitempty"`
	ToolChoice    *anthToolChoice `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id,omitempty"`
	} `json:"metadata,omitempty"`

	Thinking *anthThinking `json:"thinking,omitempty"`

	// Read only to refuse what the hub cannot carry.
	TopK         *int64          `json:"top_k,omitempty"`
	OutputFormat json.RawMessage `json:"output_format,omitempty"`
}

type anthThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
}

type anthMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthBlock struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	// image
	Source *anthSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	// thinking and redacted_thinking
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`
}

type anthSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Type        string          `json:"type,omitempty"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

func (anthropicMessages) decodeRequest(body []byte) (*Request, error) {
	if r, err := fastAnthRequest(body); err == nil {
		return r, nil
	}
	return decodeAnthRequestJSON(body)
}

// decodeAnthRequestJSON is decodeRequest with encoding/json: the general
// path, which reads every request fastAnthRequest does not.
func decodeAnthRequestJSON(body []byte) (*Request, error) {
	var in anthRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if in.TopK != nil {
		return nil, unsupported(`"top_k"`)
	}
	if len(in.OutputFormat) > 0 && !isNull(in.OutputFormat) {
		return nil, unsupported(`"output_format"`)
	}
	r := &Request{Model: in.Model, MaxTokens: in.MaxTokens, Temperature: in.Temperature, TopP: in.TopP, Stop: in.StopSequences, Stream: in.Stream}
	if th := in.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			r.Reasoning = &ReasoningConfig{Enabled: true, Budget: th.BudgetTokens, Effort: effortFor(th.BudgetTokens), Summary: true}
		case "disabled":
			r.Reasoning = &ReasoningConfig{}
		default:
			return nil, unsupported(fmt.Sprintf("thinking of type %q", th.Type))
		}
	}
	if in.Metadata != nil {
		r.User = in.Metadata.UserID
	}
	system, err := anthParts(in.System)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	for _, p := range system {
		if p.Kind != PartText {
			return nil, unsupported("a system prompt that is not text")
		}
	}
	r.System = system
	for i, m := range in.Messages {
		parts, err := anthParts(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		switch m.Role {
		case "user":
			r.appendParts(RoleUser, parts)
		case "assistant":
			r.appendParts(RoleAssistant, parts)
		default:
			return nil, fmt.Errorf("messages[%d]: %w", i, unsupported(fmt.Sprintf("a message of role %q", m.Role)))
		}
	}
	for _, t := range in.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, unsupported(fmt.Sprintf("the server tool %q", t.Type))
		}
		r.Tools = append(r.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if tc := in.ToolChoice; tc != nil {
		c := &ToolChoice{NoParallel: tc.DisableParallelToolUse}
		switch tc.Type {
		case "auto":
			c.Mode = ToolAuto
		case "any":
			c.Mode = ToolRequired
		case "none":
			c.Mode = ToolNone
		case "tool":
			c.Mode, c.Name = ToolNamed, tc.Name
		default:
			return nil, unsupported(fmt.Sprintf("tool_choice %q", tc.Type))
		}
		r.ToolChoice = c
	}
	return r, nil
}

// anthParts reads content: a string or a list of blocks.
func anthParts(content json.RawMessage) ([]Part, error) {
	if parts, ok := stringContent(content); ok {
		return parts, nil
	}
	var blocks []anthBlock
	if err := json.Unmarshal(content, &blocks); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	var parts []Part
	for _, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, Part{Kind: PartText, Text: b.Text})
		case "image":
			if b.Source == nil {
				return nil, fmt.Errorf("an image block without a source")
			}
			switch b.Source.Type {
			case "base64":
				if b.Source.MediaType == "" || b.Source.Data == "" {
					return nil, fmt.Errorf("a base64 image needs media_type and data")
				}
				parts = append(parts, Part{Kind: PartImage, Image: &Image{MediaType: b.Source.MediaType, Data: b.Source.Data}})
			case "url":
				parts = append(parts, Part{Kind: PartImage, Image: &Image{URL: b.Source.URL}})
			default:
				return nil, unsupported(fmt.Sprintf("an image source of type %q", b.Source.Type))
			}
		case "tool_use":
			args := json.RawMessage("{}")
			if len(b.Input) > 0 && !isNull(b.Input) {
				var buf bytes.Buffer
				if json.Compact(&buf, b.Input) != nil || buf.Bytes()[0] != '{' {
					return nil, unsupported("tool input that is not a JSON object")
				}
				args = buf.Bytes()
			}
			parts = append(parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: b.ID, Name: b.Name, Arguments: args}})
		case "tool_result":
			inner, err := anthParts(b.Content)
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartToolResult, ToolResult: &ToolResult{CallID: b.ToolUseID, Parts: inner, IsError: b.IsError}})
		case "thinking":
			var text, sig string
			if b.Thinking != nil {
				text = *b.Thinking
			}
			if b.Signature != nil {
				sig = *b.Signature
			}
			parts = append(parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Text: text, Signature: sig, Origin: apiformat.AnthropicMessages}})
		case "redacted_thinking":
			parts = append(parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Redacted: b.Data, Origin: apiformat.AnthropicMessages}})
		default:
			return nil, unsupported(fmt.Sprintf("a content block of type %q", b.Type))
		}
	}
	return parts, nil
}

func (anthropicMessages) encodeRequest(r *Request) ([]byte, error) {
	out := anthRequest{Model: r.Model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, StopSequences: r.Stop, Stream: r.Stream}
	if out.MaxTokens == nil {
		n := int64(defaultMaxTokens)
		out.MaxTokens = &n
	}
	if r.Format != nil {
		return nil, unsupported("a JSON response format")
	}
	if r.Temperature != nil && *r.Temperature > 1 {
		// OpenAI's and Gemini's scale goes to 2, Anthropic's to 1: the
		// same number means something else, and no clamp is faithful.
		return nil, unsupported("a temperature above 1")
	}
	if rc := r.Reasoning; rc != nil {
		if !rc.Enabled {
			out.Thinking = &anthThinking{Type: "disabled"}
		} else {
			budget := rc.Budget
			if budget == 0 {
				budget = budgetFor(rc.Effort)
			}
			// Anthropic wants a budget of at least 1024 tokens, below max_tokens.
			budget = min(max(budget, 1024), *out.MaxTokens-1)
			if budget < 1024 {
				return nil, unsupported("reasoning with a maximum answer length of 1024 tokens or less")
			}
			out.Thinking = &anthThinking{Type: "enabled", BudgetTokens: budget}
		}
	}
	if r.User != "" {
		out.Metadata = &struct {
			UserID string `json:"user_id,omitempty"`
		}{r.User}
	}
	if len(r.System) > 0 {
		out.System, _ = json.Marshal(joinText(r.System))
	}
	out.Messages = []anthMessage{}
	for _, m := range r.Messages {
		blocks := anthBlocks(m.Parts, false)
		if len(blocks) == 0 {
			continue // Anthropic refuses empty turns; an empty one says nothing
		}
		c, _ := json.Marshal(blocks)
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == string(m.Role) {
			// Strict alternation: a turn the hub kept apart joins the last.
			var prev []anthBlock
			_ = json.Unmarshal(out.Messages[n-1].Content, &prev)
			c, _ = json.Marshal(append(prev, blocks...))
			out.Messages[n-1].Content = c
			continue
		}
		out.Messages = append(out.Messages, anthMessage{Role: string(m.Role), Content: c})
	}
	for _, t := range r.Tools {
		schema := t.Parameters
		if len(schema) == 0 || isNull(schema) {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, anthTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if tc := r.ToolChoice; tc != nil {
		c := &anthToolChoice{DisableParallelToolUse: tc.NoParallel}
		switch tc.Mode {
		case ToolAuto:
			c.Type = "auto"
		case ToolRequired:
			c.Type = "any"
		case ToolNone:
			c.Type, c.DisableParallelToolUse = "none", false
		case ToolNamed:
			c.Type, c.Name = "tool", tc.Name
		}
		if len(r.Tools) > 0 || tc.Mode == ToolNone {
			out.ToolChoice = c
		}
	}
	return json.Marshal(out)
}

// anthBlocks writes parts as content blocks; tool results come first in
// their turn, as Anthropic requires. An answer shows all reasoning; a
// request sends back only the thinking Anthropic signed.
func anthBlocks(parts []Part, answer bool) []anthBlock {
	var results, rest []anthBlock
	for _, p := range parts {
		switch p.Kind {
		case PartText:
			if p.Text != "" {
				rest = append(rest, anthBlock{Type: "text", Text: p.Text})
			}
		case PartImage:
			rest = append(rest, anthImage(p.Image))
		case PartToolCall:
			rest = append(rest, anthBlock{Type: "tool_use", ID: p.ToolCall.ID, Name: p.ToolCall.Name, Input: p.ToolCall.Arguments})
		case PartReasoning:
			// Anthropic takes back only the thinking it signed.
			rs := p.Reasoning
			own := signedBy(rs.Origin, apiformat.AnthropicMessages)
			switch {
			case own && rs.Redacted != "":
				rest = append(rest, anthBlock{Type: "redacted_thinking", Data: rs.Redacted})
			case own:
				rest = append(rest, anthBlock{Type: "thinking", Thinking: &rs.Text, Signature: &rs.Signature})
			case answer && rs.Text != "":
				sig := ""
				rest = append(rest, anthBlock{Type: "thinking", Thinking: &rs.Text, Signature: &sig})
			}
		case PartToolResult:
			inner := anthBlocks(p.ToolResult.Parts, answer)
			var c json.RawMessage
			if len(inner) == 1 && inner[0].Type == "text" {
				c, _ = json.Marshal(inner[0].Text)
			} else {
				if inner == nil {
					inner = []anthBlock{}
				}
				c, _ = json.Marshal(inner)
			}
			results = append(results, anthBlock{Type: "tool_result", ToolUseID: p.ToolResult.CallID, Content: c, IsError: p.ToolResult.IsError})
		}
	}
	return append(results, rest...)
}

func anthImage(img *Image) anthBlock {
	if img.URL != "" {
		return anthBlock{Type: "image", Source: &anthSource{Type: "url", URL: img.URL}}
	}
	return anthBlock{Type: "image", Source: &anthSource{Type: "base64", MediaType: img.MediaType, Data: img.Data}}
}

type anthResponse struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []anthBlock `json:"content"`
	StopReason   string      `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        anthUsage   `json:"usage"`
}

type anthUsage struct {
	InputTokens              *int64 `json:"input_tokens,omitempty"`
	OutputTokens             *int64 `json:"output_tokens,omitempty"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
}

var anthStops = map[string]StopReason{
	"end_turn": StopEnd, "max_tokens": StopMaxTokens, "stop_sequence": StopSequence, "tool_use": StopToolUse,
	"refusal": StopRefusal, "pause_turn": StopEnd,
}

func (anthropicMessages) decodeResponse(body []byte) (*Response, error) {
	var in anthResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	if in.Type != "message" {
		return nil, fmt.Errorf("%w: an answer of type %q", ErrUnsupported, in.Type)
	}
	r := &Response{ID: in.ID, Model: in.Model, Stop: anthStops[in.StopReason]}
	if r.Stop == "" {
		r.Stop = StopEnd
	}
	raw, _ := json.Marshal(in.Content)
	parts, err := anthParts(raw)
	if err != nil {
		return nil, err
	}
	r.Parts = parts
	u := in.Usage
	cacheRead, cacheWrite := usage.Optional(u.CacheReadInputTokens), usage.Optional(u.CacheCreationInputTokens)
	if u.InputTokens != nil {
		// Anthropic counts cached tokens apart; the hub, as package usage,
		// counts them in the input.
		r.Usage.Input = usage.Sum(usage.Of(*u.InputTokens), cacheRead, cacheWrite)
	}
	r.Usage.Output = usage.Optional(u.OutputTokens)
	r.Usage.CacheRead, r.Usage.CacheWrite = cacheRead, cacheWrite
	return r, nil
}

func (anthropicMessages) encodeResponse(r *Response) ([]byte, error) {
	if out, ok := appendAnthResponse(make([]byte, 0, 512), r); ok {
		return out, nil
	}
	return encodeAnthResponseJSON(r)
}

// encodeAnthResponseJSON is encodeResponse with json.Marshal: the general
// path, for answers appendAnthResponse leaves to it.
func encodeAnthResponseJSON(r *Response) ([]byte, error) {
	out := anthResponse{ID: r.ID, Type: "message", Role: "assistant", Model: r.Model, Content: anthBlocks(r.Parts, true)}
	if out.Content == nil {
		out.Content = []anthBlock{}
	}
	switch r.Stop {
	case StopMaxTokens:
		out.StopReason = "max_tokens"
	case StopSequence:
		out.StopReason = "stop_sequence"
	case StopToolUse:
		out.StopReason = "tool_use"
	case StopRefusal:
		out.StopReason = "refusal"
	default:
		out.StopReason = "end_turn"
	}
	u := r.Usage
	out.Usage = anthUsage{
		InputTokens:              u.UncachedInput().Ptr(),
		OutputTokens:             u.Output.Ptr(),
		CacheReadInputTokens:     u.CacheRead.Ptr(),
		CacheCreationInputTokens: u.CacheWrite.Ptr(),
	}
	return json.Marshal(out)
}
