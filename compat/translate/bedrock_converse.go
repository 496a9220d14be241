package translate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/usage"
)

// bedrockConverse translates Bedrock's Converse API. The model and
// whether the answer streams (converse-stream) are in the URL, not the
// body: see [RequestBodyFor].
type bedrockConverse struct{}

type convRequest struct {
	Messages        []convMessage   `json:"messages"`
	System          []convBlock     `json:"system,omitempty"`
	InferenceConfig *convInference  `json:"inferenceConfig,omitempty"`
	ToolConfig      *convToolConfig `json:"toolConfig,omitempty"`
	// AdditionalModelRequestFields carries what Converse has no field
	// for; the hub reads and writes Claude's thinking there.
	AdditionalModelRequestFields json.RawMessage `json:"additionalModelRequestFields,omitempty"`

	// Read only to refuse what the hub cannot carry.
	GuardrailConfig json.RawMessage `json:"guardrailConfig,omitempty"`
	PromptVariables json.RawMessage `json:"promptVariables,omitempty"`
}

type convInference struct {
	MaxTokens     *int64   `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type convMessage struct {
	Role    string      `json:"role"`
	Content []convBlock `json:"content"`
}

type convBlock struct {
	Text             *string        `json:"text,omitempty"`
	Image            *convImage     `json:"image,omitempty"`
	ToolUse          *convToolUse   `json:"toolUse,omitempty"`
	ToolResult       *convResult    `json:"toolResult,omitempty"`
	ReasoningContent *convReasoning `json:"reasoningContent,omitempty"`

	// Read only to refuse what the hub cannot carry.
	Document     json.RawMessage `json:"document,omitempty"`
	Video        json.RawMessage `json:"video,omitempty"`
	CachePoint   json.RawMessage `json:"cachePoint,omitempty"`
	GuardContent json.RawMessage `json:"guardContent,omitempty"`
	JSON         json.RawMessage `json:"json,omitempty"`
}

type convImage struct {
	Format string `json:"format"`
	Source struct {
		Bytes      string          `json:"bytes,omitempty"`
		S3Location json.RawMessage `json:"s3Location,omitempty"`
	} `json:"source"`
}

type convToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type convResult struct {
	ToolUseID string      `json:"toolUseId"`
	Content   []convBlock `json:"content"`
	Status    string      `json:"status,omitempty"`
}

type convReasoning struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature,omitempty"`
	} `json:"reasoningText,omitempty"`
	RedactedContent string `json:"redactedContent,omitempty"`
}

type convToolConfig struct {
	Tools      []convTool      `json:"tools"`
	ToolChoice json.RawMessage `json:"toolChoice,omitempty"`
}

type convTool struct {
	ToolSpec *struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		InputSchema struct {
			JSON json.RawMessage `json:"json"`
		} `json:"inputSchema"`
	} `json:"toolSpec,omitempty"`
	CachePoint json.RawMessage `json:"cachePoint,omitempty"`
}

// convImageFormats are the image formats Converse takes, by media type.
var convImageFormats = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}

func (bedrockConverse) decodeRequest(body []byte) (*Request, error) {
	var in convRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	switch {
	case len(in.GuardrailConfig) > 0 && !isNull(in.GuardrailConfig):
		return nil, unsupported(`"guardrailConfig"`)
	case len(in.PromptVariables) > 0 && !isNull(in.PromptVariables):
		return nil, unsupported(`"promptVariables"`)
	}
	r := &Request{}
	if ic := in.InferenceConfig; ic != nil {
		r.MaxTokens, r.Temperature, r.TopP, r.Stop = ic.MaxTokens, ic.Temperature, ic.TopP, ic.StopSequences
	}
	if extra := in.AdditionalModelRequestFields; len(extra) > 0 && !isNull(extra) {
		var f struct {
			Thinking *anthThinking `json:"thinking"`
		}
		var all map[string]json.RawMessage
		if json.Unmarshal(extra, &all) != nil || json.Unmarshal(extra, &f) != nil {
			return nil, fmt.Errorf(`"additionalModelRequestFields" is not an object`)
		}
		for k := range all {
			if k != "thinking" {
				return nil, unsupported(fmt.Sprintf("the additional model request field %q", k))
			}
		}
		if th := f.Thinking; th != nil {
			switch th.Type {
			case "enabled":
				r.Reasoning = &ReasoningConfig{Enabled: true, Budget: th.BudgetTokens, Effort: effortFor(th.BudgetTokens), Summary: true}
			case "disabled":
				r.Reasoning = &ReasoningConfig{}
			default:
				return nil, unsupported(fmt.Sprintf("thinking of type %q", th.Type))
			}
		}
	}
	system, err := convParts(in.System)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	for _, p := range system {
		if p.Kind != PartText {
			return nil, unsupported("a system prompt that is not text")
		}
	}
	r.System = system
	if tc := in.ToolConfig; tc != nil {
		for _, t := range tc.Tools {
			if t.ToolSpec == nil {
				continue // a cache point
			}
			r.Tools = append(r.Tools, Tool{Name: t.ToolSpec.Name, Description: t.ToolSpec.Description, Parameters: t.ToolSpec.InputSchema.JSON})
		}
		if len(tc.ToolChoice) > 0 && !isNull(tc.ToolChoice) {
			var c struct {
				Auto *struct{} `json:"auto"`
				Any  *struct{} `json:"any"`
				Tool *struct {
					Name string `json:"name"`
				} `json:"tool"`
			}
			if err := json.Unmarshal(tc.ToolChoice, &c); err != nil {
				return nil, fmt.Errorf("toolChoice: %w", err)
			}
			switch {
			case c.Auto != nil:
				r.ToolChoice = &ToolChoice{Mode: ToolAuto}
			case c.Any != nil:
				r.ToolChoice = &ToolChoice{Mode: ToolRequired}
			case c.Tool != nil:
				r.ToolChoice = &ToolChoice{Mode: ToolNamed, Name: c.Tool.Name}
			default:
				return nil, unsupported("this toolChoice")
			}
		}
	}
	for i, m := range in.Messages {
		parts, err := convParts(m.Content)
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
	return r, nil
}

func convParts(blocks []convBlock) ([]Part, error) {
	var parts []Part
	for _, b := range blocks {
		switch {
		case b.Text != nil:
			parts = append(parts, Part{Kind: PartText, Text: *b.Text})
		case b.Image != nil:
			if b.Image.Source.Bytes == "" {
				return nil, unsupported("an image from S3")
			}
			parts = append(parts, Part{Kind: PartImage, Image: &Image{MediaType: "image/" + b.Image.Format, Data: b.Image.Source.Bytes}})
		case b.ToolUse != nil:
			args, err := argsObject(b.ToolUse.Input)
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: b.ToolUse.ToolUseID, Name: b.ToolUse.Name, Arguments: args}})
		case b.ToolResult != nil:
			var inner []Part
			for _, c := range b.ToolResult.Content {
				if len(c.JSON) > 0 {
					var buf bytes.Buffer
					if err := json.Compact(&buf, c.JSON); err != nil {
						return nil, fmt.Errorf("a tool result's json: %w", err)
					}
					inner = append(inner, Part{Kind: PartText, Text: buf.String()})
					continue
				}
				ps, err := convParts([]convBlock{c})
				if err != nil {
					return nil, err
				}
				inner = append(inner, ps...)
			}
			parts = append(parts, Part{Kind: PartToolResult, ToolResult: &ToolResult{CallID: b.ToolResult.ToolUseID, Parts: inner, IsError: b.ToolResult.Status == "error"}})
		case b.ReasoningContent != nil:
			rc := b.ReasoningContent
			rs := &Reasoning{Redacted: rc.RedactedContent, Origin: apiformat.BedrockConverse}
			if rc.ReasoningText != nil {
				rs.Text, rs.Signature = rc.ReasoningText.Text, rc.ReasoningText.Signature
			}
			parts = append(parts, Part{Kind: PartReasoning, Reasoning: rs})
		case len(b.CachePoint) > 0:
			// A cache hint: it changes the price, not the answer.
		case len(b.Document) > 0:
			return nil, unsupported("a document block")
		case len(b.Video) > 0:
			return nil, unsupported("a video block")
		case len(b.GuardContent) > 0:
			return nil, unsupported("a guardContent block")
		default:
			return nil, unsupported("a content block of an unknown type")
		}
	}
	return parts, nil
}

func (bedrockConverse) encodeRequest(r *Request) ([]byte, error) {
	if r.Format != nil {
		return nil, unsupported("a JSON response format")
	}
	out := convRequest{Messages: []convMessage{}}
	if r.MaxTokens != nil || r.Temperature != nil || r.TopP != nil || len(r.Stop) > 0 {
		out.InferenceConfig = &convInference{MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, StopSequences: r.Stop}
	}
	if rc := r.Reasoning; rc != nil {
		th := anthThinking{Type: "disabled"}
		if rc.Enabled {
			th = anthThinking{Type: "enabled", BudgetTokens: max(rc.Budget, 1024)}
			if rc.Budget == 0 {
				th.BudgetTokens = max(budgetFor(rc.Effort), 1024)
			}
		}
		out.AdditionalModelRequestFields, _ = json.Marshal(map[string]any{"thinking": th})
	}
	if len(r.System) > 0 {
		text := joinText(r.System)
		out.System = []convBlock{{Text: &text}}
	}
	if len(r.Tools) > 0 {
		tc := &convToolConfig{}
		for _, t := range r.Tools {
			var ct convTool
			ct.ToolSpec = &struct {
				Name        string `json:"name"`
				Description string `json:"description,omitempty"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			}{Name: t.Name, Description: t.Description}
			ct.ToolSpec.InputSchema.JSON = t.Parameters
			if len(t.Parameters) == 0 || isNull(t.Parameters) {
				ct.ToolSpec.InputSchema.JSON = json.RawMessage(`{"type":"object"}`)
			}
			tc.Tools = append(tc.Tools, ct)
		}
		out.ToolConfig = tc
	}
	if c := r.ToolChoice; c != nil {
		switch {
		case c.Mode == ToolNone:
			return nil, unsupported(`tool choice "none"`)
		case c.NoParallel && len(r.Tools) > 0:
			return nil, unsupported("turning parallel tool calls off")
		case out.ToolConfig == nil:
		case c.Mode == ToolAuto:
			out.ToolConfig.ToolChoice = json.RawMessage(`{"auto":{}}`)
		case c.Mode == ToolRequired:
			out.ToolConfig.ToolChoice = json.RawMessage(`{"any":{}}`)
		case c.Mode == ToolNamed:
			out.ToolConfig.ToolChoice, _ = json.Marshal(map[string]any{"tool": map[string]string{"name": c.Name}})
		}
	}
	for _, m := range r.Messages {
		blocks, err := convBlocks(m.Parts, false)
		if err != nil {
			return nil, err
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == string(m.Role) {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, convMessage{Role: string(m.Role), Content: blocks})
	}
	return json.Marshal(out)
}

// convBlocks writes parts as Converse content blocks.
func convBlocks(parts []Part, answer bool) ([]convBlock, error) {
	var out []convBlock
	for _, p := range parts {
		switch p.Kind {
		case PartText:
			if p.Text == "" {
				continue // Converse refuses blank text blocks
			}
			t := p.Text
			out = append(out, convBlock{Text: &t})
		case PartImage:
			if p.Image.URL != "" {
				return nil, unsupported("an image by URL (Converse takes inline images)")
			}
			f, ok := convImageFormats[p.Image.MediaType]
			if !ok {
				return nil, unsupported(fmt.Sprintf("an image of type %q", p.Image.MediaType))
			}
			img := &convImage{Format: f}
			img.Source.Bytes = p.Image.Data
			out = append(out, convBlock{Image: img})
		case PartToolCall:
			out = append(out, convBlock{ToolUse: &convToolUse{ToolUseID: p.ToolCall.ID, Name: p.ToolCall.Name, Input: p.ToolCall.Arguments}})
		case PartToolResult:
			inner, err := convBlocks(p.ToolResult.Parts, answer)
			if err != nil {
				return nil, err
			}
			if inner == nil {
				inner = []convBlock{}
			}
			res := &convResult{ToolUseID: p.ToolResult.CallID, Content: inner}
			if p.ToolResult.IsError {
				res.Status = "error"
			}
			out = append(out, convBlock{ToolResult: res})
		case PartReasoning:
			rs := p.Reasoning
			own := signedBy(rs.Origin, apiformat.BedrockConverse)
			switch {
			case own && rs.Redacted != "":
				out = append(out, convBlock{ReasoningContent: &convReasoning{RedactedContent: rs.Redacted}})
			case own || answer && rs.Text != "":
				rc := &convReasoning{ReasoningText: &struct {
					Text      string `json:"text"`
					Signature string `json:"signature,omitempty"`
				}{Text: rs.Text}}
				if own {
					rc.ReasoningText.Signature = rs.Signature
				}
				out = append(out, convBlock{ReasoningContent: rc})
			}
		}
	}
	return out, nil
}

type convResponse struct {
	Output struct {
		Message *convMessage `json:"message,omitempty"`
	} `json:"output"`
	StopReason string     `json:"stopReason"`
	Usage      *convUsage `json:"usage,omitempty"`
	Metrics    *struct {
		LatencyMs int64 `json:"latencyMs"`
	} `json:"metrics,omitempty"`
}

type convUsage struct {
	InputTokens           *int64 `json:"inputTokens,omitempty"`
	OutputTokens          *int64 `json:"outputTokens,omitempty"`
	TotalTokens           *int64 `json:"totalTokens,omitempty"`
	CacheReadInputTokens  *int64 `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int64 `json:"cacheWriteInputTokens,omitempty"`
}

// tokens reads Converse usage: inputTokens leaves cached tokens out, as
// Anthropic's does.
func (u *convUsage) tokens() usage.Tokens {
	if u == nil {
		return usage.Tokens{}
	}
	cr, cw := usage.Optional(u.CacheReadInputTokens), usage.Optional(u.CacheWriteInputTokens)
	t := usage.Tokens{Output: usage.Optional(u.OutputTokens), CacheRead: cr, CacheWrite: cw}
	if u.InputTokens != nil {
		t.Input = usage.Sum(usage.Of(*u.InputTokens), cr, cw)
	}
	return t
}

func convUsageOf(t usage.Tokens) *convUsage {
	in, out := t.UncachedInput().Value(), t.Output.Value()
	total := in + out + t.CacheRead.Value() + t.CacheWrite.Value()
	return &convUsage{InputTokens: &in, OutputTokens: &out, TotalTokens: &total,
		CacheReadInputTokens: t.CacheRead.Ptr(), CacheWriteInputTokens: t.CacheWrite.Ptr()}
}

var convStops = map[string]StopReason{
	"end_turn": StopEnd, "tool_use": StopToolUse, "max_tokens": StopMaxTokens, "stop_sequence": StopSequence,
	"guardrail_intervened": StopRefusal, "content_filtered": StopRefusal, "model_context_window_exceeded": StopMaxTokens,
}

func convStopOf(s StopReason) string {
	switch s {
	case StopToolUse:
		return "tool_use"
	case StopMaxTokens:
		return "max_tokens"
	case StopSequence:
		return "stop_sequence"
	case StopRefusal:
		return "content_filtered"
	}
	return "end_turn"
}

func (bedrockConverse) decodeResponse(body []byte) (*Response, error) {
	var in convResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	if in.Output.Message == nil {
		return nil, fmt.Errorf("%w: an answer without a message", ErrUnsupported)
	}
	parts, err := convParts(in.Output.Message.Content)
	if err != nil {
		return nil, err
	}
	r := &Response{Parts: parts, Usage: in.Usage.tokens(), Stop: convStops[in.StopReason]}
	if r.Stop == "" {
		r.Stop = StopEnd
	}
	return r, nil
}

func (bedrockConverse) encodeResponse(r *Response) ([]byte, error) {
	blocks, err := convBlocks(r.Parts, true)
	if err != nil {
		return nil, err
	}
	if blocks == nil {
		blocks = []convBlock{}
	}
	var out convResponse
	out.Output.Message = &convMessage{Role: "assistant", Content: blocks}
	out.StopReason = convStopOf(r.Stop)
	out.Usage = convUsageOf(r.Usage)
	out.Metrics = &struct {
		LatencyMs int64 `json:"latencyMs"`
	}{0}
	return json.Marshal(out)
}
