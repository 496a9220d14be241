package translate

import (
	"encoding/json"

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
)

// Part is one piece of a message; the field its Kind names is set.
type Part struct {
	Kind       PartKind
	Text       string
	Image      *Image
	ToolCall   *ToolCall
	ToolResult *ToolResult
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
	// Parts are text and tool call parts, in order.
	Parts []Part
	Stop  StopReason
	Usage usage.Tokens
}
