// Package compat knows every provider API format sluice speaks: which
// client paths belong to which format, where the model and the stream flag
// are, the upstream URL and authorization header, the error shapes, and a
// streaming recorder that extracts usage, tool calls and the reconstructed
// response from JSON, SSE or AWS event-stream bodies as they pass.
//
// Each format lives in its own file and implements the same small
// interface; everything else dispatches through one table, so the proxy
// never parses provider payloads itself. compat makes no policy decisions
// and imports no sluice package but leaves: format names are plain strings
// from the registry in package apiformat, equal to the configuration's
// compatibility flags.
package compat

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice-gateway/sluice/apiformat"
)

// Format names, from the registry in package apiformat.
const (
	OpenAIChat            = apiformat.OpenAIChat
	OpenAIResponses       = apiformat.OpenAIResponses
	AnthropicMessages     = apiformat.AnthropicMessages
	GeminiGenerateContent = apiformat.GeminiGenerateContent
	BedrockModelInvoke    = apiformat.BedrockModelInvoke
	BedrockConverse       = apiformat.BedrockConverse
	GoogleGenerateContent = apiformat.GoogleGenerateContent
	GoogleRawPredict      = apiformat.GoogleRawPredict
)

// ErrUnknownFormat reports a format name compat does not know.
var ErrUnknownFormat = errors.New("unknown API format")

// spec is what one API format implements. Formats that share a wire shape
// (Gemini and Vertex Gemini; Anthropic and Vertex Anthropic) share the
// pieces, but each format has its own spec.
type spec interface {
	// detect returns the route when the path segments name an endpoint of
	// this format.
	detect(segs []string) (Route, bool)
	// upstreamPath returns the escaped path to call on the provider.
	upstreamPath(r Route) string
	// inspect reads a request body.
	inspect(body []byte) (Request, error)
	// userMessage returns the text of the last user message in a body.
	userMessage(body []byte) (string, error)
	// errorShape names the error body shape the format's clients expect.
	errorShape() shape
	// newCollector returns the format's response collector.
	newCollector(st *recState) collector
	// streamFraming says how the format frames a streamed response.
	streamFraming() framing
}

// specs is the table every entry point dispatches through.
var specs = map[string]spec{
	OpenAIChat:            openAIChat{},
	OpenAIResponses:       openAIResponses{},
	AnthropicMessages:     anthropicMessages{},
	GeminiGenerateContent: gemini{},
	BedrockModelInvoke:    bedrockInvoke{},
	BedrockConverse:       bedrockConverse{},
	GoogleGenerateContent: vertexGemini{},
	GoogleRawPredict:      vertexAnthropic{},
}

// detectOrder fixes the order Detect tries formats in: the registry's.
// Paths of different formats never overlap, but a fixed order keeps
// detection deterministic.
var detectOrder = apiformat.Formats()

// Formats lists the format names compat knows, in documentation order.
func Formats() []string { return append([]string(nil), detectOrder...) }

// Known reports whether compat knows the format.
func Known(format string) bool {
	_, ok := specs[format]
	return ok
}

func lookup(format string) (spec, error) {
	s, ok := specs[format]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	return s, nil
}

// StreamingResponse reports whether response headers announce a stream
// (server-sent events or an AWS event stream) rather than one JSON body.
// Gemini's streamGenerateContent without alt=sse answers a JSON array,
// which the recorder recognises by itself.
func StreamingResponse(h http.Header) bool {
	ct := h.Get("Content-Type")
	return hasMediaType(ct, "text/event-stream") || hasMediaType(ct, "application/vnd.amazon.eventstream")
}

func hasMediaType(ct, want string) bool {
	if len(ct) < len(want) {
		return false
	}
	for i := 0; i < len(want); i++ {
		c := ct[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return len(ct) == len(want) || ct[len(want)] == ';' || ct[len(want)] == ' '
}
