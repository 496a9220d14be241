package compat

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ToolCall is one tool call of a model response, in any format.
type ToolCall struct {
	// ID is the call's identifier ("call_...", "toolu_...", "tooluse_...");
	// Gemini often sends none.
	ID string `json:"id"`
	// Name is the tool's name.
	Name string `json:"name"`
	// Arguments is the call's input as a JSON value: the object the model
	// produced, or a JSON string holding the model's text when that text
	// is not valid JSON (a truncated stream, a free-form custom tool).
	Arguments json.RawMessage `json:"arguments"`
}

// argsJSON turns tool arguments streamed or sent as text into a JSON value.
func argsJSON(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(t)) {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(t)) == nil {
			return buf.Bytes()
		}
	}
	b, _ := json.Marshal(s)
	return b
}

// rawArgs normalises arguments that arrive as a JSON value (Anthropic
// input, Gemini args, Bedrock toolUse input).
func rawArgs(v json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null" {
		return json.RawMessage("{}")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return json.RawMessage("{}")
	}
	return buf.Bytes()
}

// toolAcc assembles one streamed tool call.
type toolAcc struct {
	id, name string
	args     strings.Builder
	final    json.RawMessage // set when the stream sends the whole input
}

func (t *toolAcc) call() ToolCall {
	args := t.final
	if args == nil {
		args = argsJSON(t.args.String())
	}
	return ToolCall{ID: t.id, Name: t.name, Arguments: args}
}
