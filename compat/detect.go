package compat

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// RouteKind tells API calls from the gateway's own endpoints.
type RouteKind int

// Route kinds.
const (
	// RouteAPI is a call to a provider API in one of the formats.
	RouteAPI RouteKind = iota + 1
	// RouteModels is GET /v1/models (or /v1/models/{id}): the gateway
	// answers it from the configuration.
	RouteModels
)

// Operations a route can name.
const (
	// OpGenerate asks for a model response (the default).
	OpGenerate = "generate"
	// OpCountTokens asks to count the tokens of a request.
	OpCountTokens = "count_tokens"
	// OpCompact asks the Responses API to compact a conversation.
	OpCompact = "compact"
)

// Route is what a client path says about a request.
type Route struct {
	Kind RouteKind
	// Format is the client's API format: the request arrives in it, and
	// the answer and errors go back in it. Set for RouteAPI, and also on
	// errors when the path tells the format, so the error can be written
	// in it.
	Format string
	// UpstreamFormat is the API format the provider is called in: the
	// upstream URL, the headers forwarded, the stream usage request, and
	// the recorder follow it. Detect sets it to Format; To changes it.
	UpstreamFormat string
	// Model is the model the path names (Gemini, Vertex and Bedrock),
	// unescaped once; "" when the body names it. For RouteModels it is the
	// model of /v1/models/{id}.
	Model string
	// Stream reports that the path asks for a stream
	// (streamGenerateContent, invoke-with-response-stream, converse-stream,
	// streamRawPredict). Formats that put the flag in the body leave it
	// false; Inspect combines both.
	Stream bool
	// Operation is OpGenerate, OpCountTokens or OpCompact.
	Operation string
	// Method is the RPC name in the path, for formats that have one
	// ("streamGenerateContent", "converse-stream", "rawPredict").
	Method string
	// Version is the API version segment of Gemini and Vertex paths
	// ("v1beta", "v1", "v1beta1").
	Version string
	// Project and Location are the Vertex path's values; they may be the
	// placeholders VertexProjectPlaceholder and VertexRegionPlaceholder.
	// Publisher is the Vertex publisher ("google", "anthropic").
	Project, Location, Publisher string
	// SSE reports that the client asked for server-sent events with
	// ?alt=sse (Gemini and Vertex streams).
	SSE bool

	// path is the client's escaped path; sub is the endpoint below the
	// format's fixed prefix (e.g. "count_tokens"); modelSeg is the path's
	// model segment as the client escaped it. queryModels are the values
	// of query parameters named model or modelId in any case, which the
	// query forwarded upstream carries; Inspect holds them against the
	// request's model.
	path        string
	sub         string
	modelSeg    string
	queryModels []string
	// translated is set by Translated: what the upstream path names.
	translated *translatedTarget
}

// ErrNoTranslation reports a route that cannot call a provider in another
// format than the client's.
var ErrNoTranslation = errors.New("no translation between these API formats")

// To returns the route for calling a provider in the upstream API format.
// Only the client's own format is possible; any other is ErrNoTranslation
// (Translated builds the route of a translated request).
func (r Route) To(format string) (Route, error) {
	if format != r.Format {
		return r, fmt.Errorf("%w: %s to %s", ErrNoTranslation, r.Format, format)
	}
	r.UpstreamFormat, r.translated = format, nil
	return r, nil
}

// Path returns the client's escaped path.
func (r Route) Path() string { return r.path }

// Route errors, reported wrapped in a *RouteError.
var (
	// ErrNotFound: no endpoint at that path.
	ErrNotFound = errors.New("no such endpoint")
	// ErrDoubledV1: the path starts with /v1/v1/, a misconfigured base URL.
	ErrDoubledV1 = errors.New("path repeats /v1")
	// ErrMethodNotAllowed: the endpoint exists but not for this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// RouteError is Detect's error. Its message is meant for the client.
type RouteError struct {
	Err    error // ErrNotFound, ErrDoubledV1 or ErrMethodNotAllowed
	Method string
	Path   string // as the client sent it (escaped)
}

// Error returns a message meant for the client.
func (e *RouteError) Error() string {
	switch e.Err {
	case ErrDoubledV1:
		return fmt.Sprintf("no endpoint at %s: the path repeats /v1, so the client's base URL is probably misconfigured: "+
			"it already ends in /v1 and the client adds /v1 again; set the base URL with /v1 or without it, not both", e.Path)
	case ErrMethodNotAllowed:
		return fmt.Sprintf("method %s is not allowed on %s", e.Method, e.Path)
	default:
		return fmt.Sprintf("no API endpoint at %s %s", e.Method, e.Path)
	}
}

// Unwrap returns the sentinel error.
func (e *RouteError) Unwrap() error { return e.Err }

// Status is the HTTP status to answer the error with.
func (e *RouteError) Status() int {
	if e.Err == ErrMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return http.StatusNotFound
}

// Kind is the error kind to answer the error with.
func (e *RouteError) Kind() ErrorKind {
	if e.Err == ErrMethodNotAllowed {
		return KindMethodNotAllowed
	}
	return KindNotFound
}

// Detect maps a request's method and escaped path (r.URL.EscapedPath()) to
// a route. On error the returned Route still carries the format when the
// path tells it, so that the error can be answered in the caller's format.
func Detect(method, escapedPath string, query url.Values) (Route, error) {
	p := escapedPath
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "/v1/v1" || strings.HasPrefix(p, "/v1/v1/") {
		r, _ := Detect(method, p[len("/v1"):], query)
		r.Kind = 0
		r.path = escapedPath
		return r, &RouteError{Err: ErrDoubledV1, Method: method, Path: escapedPath}
	}
	if !strings.HasPrefix(p, "/") {
		return Route{}, &RouteError{Err: ErrNotFound, Method: method, Path: escapedPath}
	}
	segs := strings.Split(p[1:], "/")
	if r, ok := detectModels(segs); ok {
		r.path = escapedPath
		if method != http.MethodGet && method != http.MethodHead {
			return r, &RouteError{Err: ErrMethodNotAllowed, Method: method, Path: escapedPath}
		}
		return r, nil
	}
	for _, name := range detectOrder {
		r, ok := specs[name].detect(segs)
		if !ok {
			continue
		}
		r.Kind = RouteAPI
		r.Format, r.UpstreamFormat = name, name
		r.path = escapedPath
		if r.Operation == "" {
			r.Operation = OpGenerate
		}
		r.SSE = query.Get("alt") == "sse"
		for k, vs := range query {
			if strings.EqualFold(k, "model") || strings.EqualFold(k, "modelId") {
				r.queryModels = append(r.queryModels, vs...)
			}
		}
		if method != http.MethodPost {
			return r, &RouteError{Err: ErrMethodNotAllowed, Method: method, Path: escapedPath}
		}
		return r, nil
	}
	return Route{}, &RouteError{Err: ErrNotFound, Method: method, Path: escapedPath}
}

// detectModels matches /v1/models and /v1/models/{id}.
func detectModels(segs []string) (Route, bool) {
	if len(segs) < 2 || len(segs) > 3 || segs[0] != "v1" || segs[1] != "models" {
		return Route{}, false
	}
	r := Route{Kind: RouteModels}
	if len(segs) == 3 {
		m, err := url.PathUnescape(segs[2])
		if err != nil || m == "" || strings.Contains(segs[2], ":") {
			return Route{}, false // a Gemini v1 RPC, not a model lookup
		}
		r.Model = m
	}
	return r, true
}

// splitMethod splits a "{model}:{method}" path segment at its last colon.
func splitMethod(seg string) (model, method string, ok bool) {
	i := strings.LastIndexByte(seg, ':')
	if i <= 0 || i == len(seg)-1 {
		return "", "", false
	}
	return seg[:i], seg[i+1:], true
}

// unescapeSegment unescapes a path segment once.
func unescapeSegment(seg string) (string, bool) {
	s, err := url.PathUnescape(seg)
	return s, err == nil && s != ""
}

// segsAre reports whether segs equal want.
func segsAre(segs []string, want ...string) bool {
	if len(segs) != len(want) {
		return false
	}
	for i := range want {
		if segs[i] != want[i] {
			return false
		}
	}
	return true
}
