package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadParam reports an inline model parameter ("model?temperature=hot")
// that is unknown, malformed or out of range; the client's fault (400).
var ErrBadParam = errors.New("bad model parameter")

// Params are the sampling settings a model name may carry inline
// ("provider:model?temperature=0.7&max_tokens=200"); nil means not set.
type Params struct {
	Temperature *float64
	TopP        *float64
	TopK        *int64
	MaxTokens   *int64
}

// paramNames lists the parameters ParseParams accepts, for its errors.
const paramNames = "temperature, top_p, top_k, max_tokens"

// ParseParams reads the query part of a model name. Values are typed and
// bounded: a typo must not reach a provider as a string it may ignore.
func ParseParams(query string) (Params, error) {
	var p Params
	if query == "" {
		return p, nil
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return p, fmt.Errorf("%w: %q: %v", ErrBadParam, query, err)
	}
	for name, vs := range vals {
		if len(vs) != 1 {
			return p, fmt.Errorf("%w: %s is given %d times", ErrBadParam, name, len(vs))
		}
		v := vs[0]
		switch name {
		case "temperature":
			p.Temperature, err = floatParam(name, v, 0, 2)
		case "top_p":
			p.TopP, err = floatParam(name, v, 0, 1)
		case "top_k":
			p.TopK, err = intParam(name, v, 0)
		case "max_tokens", "max_completion_tokens", "max_output_tokens":
			if p.MaxTokens != nil {
				return p, fmt.Errorf("%w: the token cap is given twice", ErrBadParam)
			}
			p.MaxTokens, err = intParam(name, v, 1)
		default:
			return p, fmt.Errorf("%w: unknown parameter %q (known: %s)", ErrBadParam, name, paramNames)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func floatParam(name, v string, lo, hi float64) (*float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		return nil, fmt.Errorf("%w: %s=%q: want a number from %g to %g", ErrBadParam, name, v, lo, hi)
	}
	return &f, nil
}

func intParam(name, v string, lo int64) (*int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo {
		return nil, fmt.Errorf("%w: %s=%q: want a whole number of at least %d", ErrBadParam, name, v, lo)
	}
	return &n, nil
}

// paramFields says where a format keeps each parameter: a member path in
// the body ("generationConfig.topP"); "" when the format has none.
type paramFields struct {
	temperature, topP, topK string
	// maxTokens lists the cap's members, the preferred first: the one the
	// body already has is replaced, else the first is set.
	maxTokens []string
}

var (
	openAIChatParams      = paramFields{temperature: "temperature", topP: "top_p", maxTokens: []string{"max_tokens", "max_completion_tokens"}}
	openAIResponsesParams = paramFields{temperature: "temperature", topP: "top_p", maxTokens: []string{"max_output_tokens"}}
	anthropicParams       = paramFields{temperature: "temperature", topP: "top_p", topK: "top_k", maxTokens: []string{"max_tokens"}}
	geminiParams          = paramFields{temperature: "generationConfig.temperature", topP: "generationConfig.topP",
		topK: "generationConfig.topK", maxTokens: []string{"generationConfig.maxOutputTokens"}}
	converseParams = paramFields{temperature: "inferenceConfig.temperature", topP: "inferenceConfig.topP",
		maxTokens: []string{"inferenceConfig.maxTokens"}}
)

// formatParams maps each format to its parameter members. Bedrock invoke
// and Vertex raw predict carry Anthropic's body (the models sluice serves
// there), so they share its members.
var formatParams = map[string]paramFields{
	OpenAIChat:            openAIChatParams,
	OpenAIResponses:       openAIResponsesParams,
	AnthropicMessages:     anthropicParams,
	BedrockModelInvoke:    anthropicParams,
	GoogleRawPredict:      anthropicParams,
	GeminiGenerateContent: geminiParams,
	GoogleGenerateContent: geminiParams,
	BedrockConverse:       converseParams,
}

// bodyModelFormats name the model in the body rather than the path.
var bodyModelFormats = map[string]bool{OpenAIChat: true, OpenAIResponses: true, AnthropicMessages: true}

// WithModel returns the route asking for model instead: formats that name
// the model in the path get the new path segment.
func (r Route) WithModel(model string) Route {
	if r.Model != "" {
		r.Model = model
		r.modelSeg = url.PathEscape(model)
	}
	return r
}

// Rewrite returns the request body with the model set to model (for
// formats that name it in the body, or when the body names it anyway)
// and the parameters set in the format's members. The body is decoded
// and encoded again, so it changes only when something is set; the proxy
// inspects the result again, so what policy judged is what is sent.
func Rewrite(format string, body []byte, model string, p Params) ([]byte, error) {
	fields, ok := formatParams[format]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	var obj map[string]json.RawMessage
	if err := decodeObject(body, &obj); err != nil {
		return nil, err
	}
	if _, named := obj["model"]; model != "" && (bodyModelFormats[format] || named) {
		obj["model"] = mustJSON(model)
	}
	set := func(member string, v any, name string) error {
		if v == nil {
			return nil
		}
		if member == "" {
			return fmt.Errorf("%w: the %s format has no %s", ErrBadParam, format, name)
		}
		return setMember(obj, member, mustJSON(v))
	}
	if err := set(fields.temperature, deref(p.Temperature), "temperature"); err != nil {
		return nil, err
	}
	if err := set(fields.topP, deref(p.TopP), "top_p"); err != nil {
		return nil, err
	}
	if err := set(fields.topK, deref(p.TopK), "top_k"); err != nil {
		return nil, err
	}
	if p.MaxTokens != nil {
		member := fields.maxTokens[0]
		for _, m := range fields.maxTokens {
			if hasMember(obj, m) {
				member = m
				break
			}
		}
		if err := set(member, *p.MaxTokens, "max_tokens"); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// deref turns a nil pointer into a nil interface, a set one into its value.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and numbers always encode
	}
	return b
}

// setMember sets a dotted member path, creating the objects on the way.
func setMember(obj map[string]json.RawMessage, path string, v json.RawMessage) error {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		obj[head] = v
		return nil
	}
	inner := map[string]json.RawMessage{}
	if raw, ok := obj[head]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &inner); err != nil {
			return fmt.Errorf("%w: %s is not an object", ErrInvalidBody, head)
		}
	}
	if err := setMember(inner, rest, v); err != nil {
		return err
	}
	obj[head] = mustJSON(inner)
	return nil
}

// hasMember reports whether a dotted member path is present.
func hasMember(obj map[string]json.RawMessage, path string) bool {
	head, rest, nested := strings.Cut(path, ".")
	raw, ok := obj[head]
	if !ok || !nested {
		return ok
	}
	var inner map[string]json.RawMessage
	return json.Unmarshal(raw, &inner) == nil && hasMember(inner, rest)
}
