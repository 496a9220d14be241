package compat

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sluice-gateway/sluice/compat/eventstream"
)

// ErrorKind classifies a gateway error independently of the API format;
// WriteError maps it to each format's error types.
type ErrorKind string

// Error kinds.
const (
	KindInvalidRequest   ErrorKind = "invalid_request"
	KindPermissionDenied ErrorKind = "permission_denied"
	KindNotFound         ErrorKind = "not_found"
	KindMethodNotAllowed ErrorKind = "method_not_allowed"
	KindTooLarge         ErrorKind = "too_large"
	KindRateLimited      ErrorKind = "rate_limited"
	KindGuardrailBlocked ErrorKind = "guardrail_blocked"
	KindUpstreamError    ErrorKind = "upstream_error"
	KindTimeout          ErrorKind = "timeout"
	KindUnavailable      ErrorKind = "unavailable"
	KindInternal         ErrorKind = "internal"
)

// kindInfo is one row of the mapping from kinds to each format's types.
type kindInfo struct {
	status int
	// OpenAI error type and code.
	openaiType, openaiCode string
	// Anthropic error type.
	anthropic string
	// Google RPC status name (Gemini and Vertex).
	google string
	// Bedrock error type for the x-amzn-ErrorType header, and the
	// exception type of an event-stream exception frame.
	bedrock, bedrockStream string
}

var kinds = map[ErrorKind]kindInfo{
	KindInvalidRequest:   {400, "invalid_request_error", "", "invalid_request_error", "INVALID_ARGUMENT", "ValidationException", "validationException"},
	KindPermissionDenied: {403, "permission_error", "permission_denied", "permission_error", "PERMISSION_DENIED", "AccessDeniedException", "validationException"},
	KindNotFound:         {404, "invalid_request_error", "not_found", "not_found_error", "NOT_FOUND", "ResourceNotFoundException", "validationException"},
	KindMethodNotAllowed: {405, "invalid_request_error", "method_not_allowed", "invalid_request_error", "UNIMPLEMENTED", "ValidationException", "validationException"},
	KindTooLarge:         {413, "invalid_request_error", "request_too_large", "request_too_large", "INVALID_ARGUMENT", "ValidationException", "validationException"},
	KindRateLimited:      {429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED", "ThrottlingException", "throttlingException"},
	KindGuardrailBlocked: {403, "invalid_request_error", "guardrail_blocked", "permission_error", "PERMISSION_DENIED", "AccessDeniedException", "validationException"},
	KindUpstreamError:    {502, "server_error", "upstream_error", "api_error", "INTERNAL", "InternalServerException", "modelStreamErrorException"},
	KindTimeout:          {504, "server_error", "timeout", "timeout_error", "DEADLINE_EXCEEDED", "ModelTimeoutException", "modelStreamErrorException"},
	KindUnavailable:      {503, "server_error", "service_unavailable", "overloaded_error", "UNAVAILABLE", "ServiceUnavailableException", "serviceUnavailableException"},
	KindInternal:         {500, "server_error", "internal_error", "api_error", "INTERNAL", "InternalServerException", "internalServerException"},
}

func kindOf(k ErrorKind) kindInfo {
	if info, ok := kinds[k]; ok {
		return info
	}
	return kinds[KindInternal]
}

// Status returns the HTTP status a kind is answered with by default.
func (k ErrorKind) Status() int { return kindOf(k).status }

// shape is an error body shape shared by formats.
type shape int

const (
	shapeOpenAI shape = iota
	shapeAnthropic
	shapeGoogle
	shapeBedrock
)

// WriteError answers a request with an error in the caller's format:
//
//	OpenAI     {"error":{"message","type","param","code"}}
//	Anthropic  {"type":"error","error":{"type","message"}}
//	Gemini     {"error":{"code","message","status"}}          (and Vertex)
//	Bedrock    {"message"} with an x-amzn-ErrorType header
//
// status 0 means the kind's default status. An unknown format gets the
// OpenAI shape, the one most clients understand.
func WriteError(w http.ResponseWriter, format string, status int, kind ErrorKind, message string) {
	info := kindOf(kind)
	if status == 0 {
		status = info.status
	}
	sh := shapeOpenAI
	if s, ok := specs[format]; ok {
		sh = s.errorShape()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if sh == shapeBedrock {
		h.Set("X-Amzn-ErrorType", info.bedrock)
	}
	body := errorBody(sh, info, status, message)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(sh shape, info kindInfo, status int, message string) []byte {
	var v any
	switch sh {
	case shapeAnthropic:
		v = struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}{Type: "error", Error: struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}{info.anthropic, message}}
	case shapeGoogle:
		v = map[string]any{"error": map[string]any{"code": status, "message": message, "status": info.google}}
	case shapeBedrock:
		v = map[string]string{"message": message}
	default:
		var code any
		if info.openaiCode != "" {
			code = info.openaiCode
		}
		v = map[string]any{"error": map[string]any{"message": message, "type": info.openaiType, "param": nil, "code": code}}
	}
	b, _ := json.Marshal(v)
	return append(b, '\n')
}

// WriteStreamError writes an error event into a stream that has already
// started (headers sent), in the form the format's clients parse: an SSE
// error event for OpenAI, Anthropic and Gemini streams, an exception frame
// for Bedrock event streams. The caller then ends the stream.
func WriteStreamError(w io.Writer, format string, kind ErrorKind, message string) error {
	info := kindOf(kind)
	s, err := lookup(format)
	if err != nil {
		return err
	}
	var out []byte
	switch {
	case s.streamFraming() == framingEventStream || s.streamFraming() == framingEventStreamChunks:
		payload, _ := json.Marshal(map[string]string{"message": message})
		var buf writeBuffer
		if err := eventstream.Encode(&buf, eventstream.Exception(info.bedrockStream, payload)); err != nil {
			return err
		}
		out = buf
	case format == OpenAIResponses:
		payload, _ := json.Marshal(map[string]any{"type": "error", "code": info.openaiCode, "message": message, "param": nil})
		out = fmt.Appendf(nil, "event: error\ndata: %s\n\n", payload)
	case s.errorShape() == shapeAnthropic || format == GoogleRawPredict:
		// Claude on Vertex streams Anthropic's events.
		out = fmt.Appendf(nil, "event: error\ndata: %s\n", errorBody(shapeAnthropic, info, info.status, message))
	default:
		out = fmt.Appendf(nil, "data: %s\n", errorBody(s.errorShape(), info, info.status, message))
	}
	_, err = w.Write(out)
	return err
}

// writeBuffer is a minimal growable byte buffer for encoders.
type writeBuffer []byte

func (b *writeBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// ReadError reads an upstream's error answer in any format, so that it can
// be answered again in another (a translated request's client speaks a
// format the provider does not): the status to answer with, its kind, and
// the provider's message. Statuses pass as they are, but Anthropic's 529
// (overloaded), which other formats' clients do not know, becomes 503.
func ReadError(status int, body []byte) (int, ErrorKind, string) {
	msg := errorMessage(body)
	if msg == "" {
		msg = fmt.Sprintf("the provider answered HTTP %d", status)
	}
	kind := KindInvalidRequest
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = KindPermissionDenied
	case status == http.StatusNotFound:
		kind = KindNotFound
	case status == http.StatusMethodNotAllowed:
		kind = KindMethodNotAllowed
	case status == http.StatusRequestEntityTooLarge:
		kind = KindTooLarge
	case status == http.StatusTooManyRequests:
		kind = KindRateLimited
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		kind = KindTimeout
	case status == statusOverloaded:
		status, kind = http.StatusServiceUnavailable, KindUnavailable
	case status == http.StatusServiceUnavailable:
		kind = KindUnavailable
	case status >= 500:
		kind = KindUpstreamError
	}
	return status, kind, msg
}

// statusOverloaded is Anthropic's status for an overloaded API.
const statusOverloaded = 529
