package translate

import (
	"encoding/json"

	"github.com/sluice-gateway/sluice/apiformat"

	"github.com/sluice-gateway/sluice/usage"
)

// Request is a model request in no format in particular.
type Request struct {
	Model string
	// System is the system prompt, as text parts.
	System []Part
	// Messages is the conversation, oldest first.
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil when the request leaves it to the provider.
	ToolChoice *ToolChoice
	// MaxTokens caps the answer's length; nil when the request sets none.
	MaxTokens   *int64
	Temperature *float64
	TopP        *float64
	Stop        []string
	Stream      bool
	// User identifies the end user to the provider, when the client says.
	User string
	// Reasoning asks for reasoning (thinking) before the answer; nil
	// leaves it to the provider.
	Reasoning *ReasoningConfig
	// Format constrains the answer to JSON; nil is plain text.
	Format *ResponseFormat
}

// ReasoningConfig is how much a model may reason before answering. Formats
// say it either as an effort or as a token budget; each translator reads
// the one its format has and fills in the other, so that both are always
// set when Enabled.
type ReasoningConfig struct {
	// Enabled is false for a request that turns reasoning off.
	Enabled bool
	// Effort is "minimal", "low", "medium" or "high".
	Effort string
	// Budget is the token budget for reasoning.
	Budget int64
	// Summary asks for the reasoning's text (a summary, or thoughts) in
	// the answer.
	Summary bool
}

// Reasoning budgets an effort stands for, and back: a budget up to an
// effort's stands for that effort.
var effortBudgets = []struct {
	effort string
	budget int64
}{{"minimal", 1024}, {"low", 2048}, {"medium", 8192}, {"high", 24576}}

// budgetFor returns the token budget of an effort; unknown efforts are
// medium.
func budgetFor(effort string) int64 {
	for _, e := range effortBudgets {
		if e.effort == effort {
			return e.budget
		}
	}
	return 8192
}

// effortFor returns the effort a token budget stands for.
func effortFor(budget int64) string {
	for _, e := range effortBudgets {
		if budget <= e.budget {
			return e.effort
		}
	}
	return "high"
}

// ResponseFormat asks for an answer that is JSON.
type ResponseFormat struct {
	// Schema is the JSON schema the answer follows; nil for any JSON object.
	Schema json.RawMessage
	// Name names the schema (OpenAI formats require one).
	Name   string
	Strict bool
}

// Role is who said a message.
type Role string

// Roles of a message. Tool results travel in user messages, as parts.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of the conversation.
type Message struct {
	Role  Role
	Parts []Part
}

// PartKind tells what a part holds.
type PartKind int

// Part kinds.
const (
	PartText PartKind = iota + 1
	PartImage
	PartToolCall
	PartToolResult
	// PartReasoning is the model's reasoning (thinking) before its answer.
	PartReasoning
)

// Part is one piece of a message; the field its Kind names is set.
type Part struct {
	Kind       PartKind
	Text       string
	Image      *Image
	ToolCall   *ToolCall
	ToolResult *ToolResult
	Reasoning  *Reasoning
}

// Reasoning is a model's reasoning: its text (or summary), and what its
// provider needs to take it back in a later turn.
type Reasoning struct {
	Text string
	// Signature proves the text to the provider that wrote it (Anthropic
	// and Bedrock's Claude signatures, Gemini's thought signatures).
	Signature string
	// Redacted is reasoning the provider sent encrypted (Anthropic's
	// redacted_thinking data, Responses' encrypted_content).
	Redacted string
	// ID is the reasoning item's ID (Responses).
	ID string
	// Origin is the format that wrote Signature and Redacted: they mean
	// nothing to another provider, which is sent the text alone (or, where
	// it cannot take unsigned reasoning, nothing).
	Origin string
}

// Image is an image given by URL or inline as base64 data.
type Image struct {
	// URL is set for an image by reference (not a data: URL).
	URL string
	// MediaType and Data are set for inline images.
	MediaType string
	Data      string
}

// ToolCall is the model's call of a tool.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object.
	Arguments json.RawMessage
	// Signature is Gemini's thought signature of the call, sent back with
	// it in the next turn.
	Signature string
}

// ToolResult is what a tool call returned.
type ToolResult struct {
	CallID string
	// Parts are text and image parts.
	Parts   []Part
	IsError bool
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the arguments.
	Parameters json.RawMessage
}

// ToolChoiceMode says whether and which tools the model must call.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolAuto     ToolChoiceMode = "auto"
	ToolNone     ToolChoiceMode = "none"
	ToolRequired ToolChoiceMode = "required"
	// ToolNamed forces the tool ToolChoice.Name.
	ToolNamed ToolChoiceMode = "named"
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
	// NoParallel asks for at most one tool call.
	NoParallel bool
}

// StopReason is why the model stopped.
type StopReason string

// Stop reasons.
const (
	StopEnd       StopReason = "end"
	StopMaxTokens StopReason = "max_tokens"
	StopSequence  StopReason = "stop_sequence"
	StopToolUse   StopReason = "tool_use"
	StopRefusal   StopReason = "refusal"
)

// Response is a model's whole answer in no format in particular.
type Response struct {
	ID    string
	Model string
	// Created is the answer's time in Unix seconds; 0 when the source
	// format has none.
	Created int64
	// Parts are reasoning, text and tool call parts, in order.
	Parts []Part
	Stop  StopReason
	Usage usage.Tokens
}

// signedBy reports whether reasoning written in origin can go back, signed,
// to a provider of format: its own, and Claude's signatures, which
// Anthropic's API and Claude on Bedrock both verify.
func signedBy(origin, format string) bool {
	claude := func(f string) bool { return f == apiformat.AnthropicMessages || f == apiformat.BedrockConverse }
	return origin == format || claude(origin) && claude(format)
}
