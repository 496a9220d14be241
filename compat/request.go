package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Request errors; all are the client's fault (400).
var (
	ErrInvalidBody = errors.New("request body is not valid JSON for this API")
	ErrNoModel     = errors.New("request names no model")
	// ErrAmbiguousBody: a member that routes the request (model, stream,
	// stream_options, modelId) appears twice, or is spelled so that some
	// decoders read it and others do not. Upstreams disagree on which
	// duplicate wins and on letter case, so policy could judge one model
	// while the provider serves another.
	ErrAmbiguousBody = errors.New("ambiguous request")
	// ErrModelMismatch: the path, the body or the query name different
	// models.
	ErrModelMismatch = errors.New("request names two different models")
)

// Request is what the gateway needs to know about a request body.
type Request struct {
	// Model is the model the path or the body names.
	Model string
	// Stream reports whether the client asked for a stream, by path or body.
	Stream bool
	// Tools lists the names of the tools the request declares (function
	// names; the type of built-in tools such as "web_search").
	Tools []string
}

// Inspect reads the model, the stream flag and the declared tools of a
// request. The path's model wins over the body's; a request that names no
// model is an error (ErrNoModel), as is a body that is not a JSON object
// (ErrInvalidBody). The proxy hands the body already buffered, bounded by
// its request size limit.
func Inspect(r Route, body []byte) (Request, error) {
	s, err := lookup(r.Format)
	if err != nil {
		return Request{}, err
	}
	req, err := s.inspect(body)
	if err != nil {
		return Request{}, err
	}
	if r.Model != "" {
		if req.Model != "" && !samePathModel(r, req.Model) {
			return Request{}, fmt.Errorf("%w: the path names %q and the body names %q; send the model in the path only",
				ErrModelMismatch, r.Model, req.Model)
		}
		req.Model = r.Model
	}
	for _, q := range r.queryModels {
		if q != req.Model {
			return Request{}, fmt.Errorf("%w: the query names %q and the request names %q; drop the query parameter",
				ErrModelMismatch, q, req.Model)
		}
	}
	req.Stream = req.Stream || r.Stream
	if req.Model == "" {
		return req, ErrNoModel
	}
	return req, nil
}

// UserMessage returns the text of the last user message of a request body
// that has text (a user turn that only returns tool results is skipped),
// with the text parts of that message joined by newlines. It returns ""
// when the request has none.
func UserMessage(format string, body []byte) (string, error) {
	s, err := lookup(format)
	if err != nil {
		return "", err
	}
	return s.userMessage(body)
}

// samePathModel reports whether a model the body names is the path's.
// Gemini names models as resources, so a Gemini body may write the path's
// model as "models/{model}".
func samePathModel(r Route, body string) bool {
	if r.Format == GeminiGenerateContent || r.Format == GoogleGenerateContent {
		body = strings.TrimPrefix(body, "models/")
	}
	return body == r.Model
}

// requestMembers reads the named top-level members of a request body
// without decoding the rest (the conversation is the bulk of a request and
// the gateway only needs a few members). Absent members are nil. It is the
// one place request bodies are scanned, so it also refuses what would let
// policy and the upstream read different requests (see strictScan), and
// returns the models the body names in "model" and in "modelId" (Bedrock's
// name for it), which must agree when both are given.
func requestMembers(body []byte, names ...string) (vals []json.RawMessage, model, modelID string, err error) {
	vals, routing, err := strictScan(body, names)
	if err != nil {
		return nil, "", "", err
	}
	if model, err = decodeString(routing[routeModel], "model"); err != nil {
		return nil, "", "", fmt.Errorf("%w: \"model\" must be a string", ErrInvalidBody)
	}
	if modelID, err = decodeString(routing[routeModelID], "modelId"); err != nil {
		return nil, "", "", fmt.Errorf("%w: \"modelId\" must be a string", ErrInvalidBody)
	}
	if model != "" && modelID != "" && model != modelID {
		return nil, "", "", fmt.Errorf("%w: \"model\" names %q and \"modelId\" names %q", ErrModelMismatch, model, modelID)
	}
	return vals, model, modelID, nil
}

// decodeMember decodes one member's value; absent and null members leave
// v untouched.
func decodeMember(raw json.RawMessage, name string, v any) error {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidBody, name, err)
	}
	return nil
}

// decodeString decodes a member that must be a string, as decodeMember
// does; a string without escapes is read without encoding/json (a model
// name always is), which saves the decoder's allocations.
func decodeString(raw json.RawMessage, name string) (string, error) {
	if raw == nil {
		return "", nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	err := decodeMember(raw, name, &s)
	return s, err
}

// plainString returns the value of a JSON string literal that holds no
// escape, control character or invalid UTF-8 (which json.Unmarshal would
// replace); ok is false for anything else, left to encoding/json.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range in {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// streamFlag decodes the stream member.
func streamFlag(stream json.RawMessage) (bool, error) {
	switch string(stream) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	var s bool
	if err := decodeMember(stream, "stream", &s); err != nil {
		return false, fmt.Errorf("%w: \"stream\" must be a boolean", ErrInvalidBody)
	}
	return s, nil
}

// namedTools lists tools given as [{"name": ..., "type": ...}]: the name,
// or the type of a built-in tool without one.
func namedTools(raw json.RawMessage) ([]string, error) {
	var tools []struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := decodeMember(raw, "tools", &tools); err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tools {
		if t.Name != "" {
			out = append(out, t.Name)
		} else if t.Type != "" {
			out = append(out, t.Type)
		}
	}
	return out, nil
}

// decodeObject unmarshals a request body that must be a JSON object.
func decodeObject(body []byte, v any) error {
	b := trimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w: want a JSON object", ErrInvalidBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBody, err)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// textOf returns the text of message content given either as a string or
// as an array of parts, keeping the parts whose type is one of types (a
// part without a type counts when types includes ""), joined by newlines.
func textOf(content json.RawMessage, types ...string) string {
	content = trimSpace(content)
	if len(content) == 0 {
		return ""
	}
	if content[0] == '"' {
		var s string
		_ = json.Unmarshal(content, &s)
		return s
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return ""
	}
	var texts []string
	for _, p := range parts {
		if p.Text == nil {
			continue
		}
		for _, t := range types {
			if p.Type == t {
				texts = append(texts, *p.Text)
				break
			}
		}
	}
	return strings.Join(texts, "\n")
}

// roleContent is a chat message as most formats write it.
type roleContent struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// lastUserText walks messages from the end and returns the text of the
// first user message that has some.
func lastUserText(msgs []roleContent, text func(json.RawMessage) string) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		if t := text(msgs[i].Content); t != "" {
			return t
		}
	}
	return ""
}
