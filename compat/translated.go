package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// A translated route calls a provider in a format other than the client's:
// the client's path says nothing about the upstream's, so the upstream
// path is built from the request itself (its model and stream flag) in the
// upstream format's own shape. Package translate converts the bodies.

// translatedTarget is what a translated route calls: the model and
// whether to stream, as the client's request says.
type translatedTarget struct {
	model  string
	stream bool
}

// Translatable reports whether requests can be sent to a provider in
// format: the formats whose upstream path sluice can build for a request
// that did not arrive in them. Vertex (whose paths name a project) and
// Bedrock InvokeModel (whose body is the model family's own) are not.
func Translatable(format string) bool { return apiformat.Translatable(format) }

// Translated returns the route for calling a provider in the upstream
// format for a request read from the client's format (req is what Inspect
// read). Its own format gives the same route as To. Only model requests
// (OpGenerate) translate, and only to a Translatable format; anything else
// is ErrNoTranslation.
func (r Route) Translated(format string, req Request) (Route, error) {
	if format == r.Format {
		return r.To(format)
	}
	if r.Operation != OpGenerate || !Translatable(format) || !Translatable(r.Format) {
		return r, fmt.Errorf("%w: %s to %s", ErrNoTranslation, r.Format, format)
	}
	r.UpstreamFormat = format
	r.translated = &translatedTarget{model: req.Model, stream: req.Stream}
	return r, nil
}

// translatedPath is the escaped upstream path of a translated route.
func translatedPath(r Route) string {
	t := r.translated
	switch r.UpstreamFormat {
	case OpenAIChat:
		return "/v1/chat/completions"
	case OpenAIResponses:
		return "/v1/responses"
	case AnthropicMessages:
		return "/v1/messages"
	case GeminiGenerateContent:
		method := "generateContent"
		if t.stream {
			method = "streamGenerateContent"
		}
		return "/v1beta/models/" + url.PathEscape(strings.TrimPrefix(t.model, "models/")) + ":" + method
	case BedrockConverse:
		method := "converse"
		if t.stream {
			method = "converse-stream"
		}
		return bedrockUpstreamPath(Route{Model: t.model, Method: method})
	}
	return ""
}

// translatedQuery is the query of a translated route: none of the
// client's (its parameters belong to its format), and alt=sse for a
// streamed Gemini call, whose answer the translators read as events.
func translatedQuery(r Route) url.Values {
	q := url.Values{}
	if r.UpstreamFormat == GeminiGenerateContent && r.translated.stream {
		q.Set("alt", "sse")
	}
	return q
}

// InspectUpstream reads a request body in the route's upstream format, as
// the provider will read it: for a translated route, the body package
// translate wrote. The gateway holds it against what policy judged (same
// model, same stream flag) before sending it.
func InspectUpstream(r Route, body []byte) (Request, error) {
	if r.translated == nil {
		return Inspect(r, body)
	}
	s, err := lookup(r.UpstreamFormat)
	if err != nil {
		return Request{}, err
	}
	req, err := s.inspect(body)
	if err != nil {
		return Request{}, err
	}
	switch r.UpstreamFormat {
	case GeminiGenerateContent, BedrockConverse:
		// The path names the model and the stream; a body that names a
		// model must name the same one.
		if m := strings.TrimPrefix(req.Model, "models/"); m != "" && m != r.translated.model {
			return Request{}, fmt.Errorf("%w: the path names %q and the body names %q", ErrModelMismatch, r.translated.model, req.Model)
		}
		req.Model, req.Stream = r.translated.model, r.translated.stream
	}
	if req.Model == "" {
		return req, ErrNoModel
	}
	return req, nil
}

// IsTranslated reports whether the route calls its provider in a format
// other than the client's.
func (r Route) IsTranslated() bool { return r.translated != nil }

// anthropicVersion is the API version a translated request to Anthropic
// asks for when the client (of another format) named none.
const anthropicVersion = "2023-06-01"

// SetTranslatedHeaders adds the headers a translated request's upstream
// format requires and the client's format has no reason to send:
// anthropic-version for Anthropic messages. Routes that are not
// translated are left alone.
func SetTranslatedHeaders(r Route, h http.Header) {
	if r.translated == nil {
		return
	}
	if r.UpstreamFormat == AnthropicMessages && h.Get("anthropic-version") == "" {
		h.Set("anthropic-version", anthropicVersion)
	}
}

// CompleteTranslated returns a translated request body that names the
// route's model and stream flag where its upstream format keeps them in
// the body (OpenAI chat and Responses, Anthropic): a client whose path
// names them (Gemini, Bedrock) sends a body without them, and the body
// must say what policy judged. A body that already says both is returned
// as it is. Routes that are not translated are returned unchanged.
func CompleteTranslated(r Route, body []byte) ([]byte, error) {
	t := r.translated
	if t == nil || !bodyModelFormats[r.UpstreamFormat] {
		return body, nil
	}
	if model, stream, ok := modelAndStream(body); ok && model == t.model && stream == t.stream {
		return body, nil // what the translator wrote, nearly always
	}
	var obj map[string]json.RawMessage
	if err := decodeObject(body, &obj); err != nil {
		return nil, err
	}
	var model string
	var stream bool
	_ = json.Unmarshal(obj["model"], &model)
	_ = json.Unmarshal(obj["stream"], &stream)
	if model == t.model && stream == t.stream {
		return body, nil
	}
	obj["model"] = mustJSON(t.model)
	if t.stream {
		obj["stream"] = json.RawMessage("true")
	} else {
		delete(obj, "stream")
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// modelAndStream reads the model and stream members of a body that is one
// valid JSON object, as decoding it into a map and those members into a
// string and a bool reads them; ok is false when it cannot tell so
// cheaply (a model that is not a string, a stream that is not a boolean
// or null) or the body is not such an object.
func modelAndStream(body []byte) (model string, stream, ok bool) {
	var rawModel, rawStream []byte
	i := jsonbytes.SkipSpace(body, 0)
	end, err := jsonbytes.ValidMembers(body, i, func(k jsonbytes.Key, _, vs int) (int, error) {
		ve, err := jsonbytes.ValidValue(body, vs, nil)
		switch {
		case err != nil:
		case k.Is("model"):
			rawModel = body[vs:ve]
		case k.Is("stream"):
			rawStream = body[vs:ve]
		}
		return ve, err
	})
	if err != nil || jsonbytes.SkipSpace(body, end) != len(body) {
		return "", false, false
	}
	switch string(rawStream) {
	case "true":
		stream = true
	case "", "false", "null":
	default:
		return "", false, false
	}
	if len(rawModel) == 0 || rawModel[0] != '"' {
		return "", false, false
	}
	model, _, err = jsonbytes.StringAt(rawModel, 0)
	return model, stream, err == nil
}
