package compat

import "net/url"

// Vertex AI serves two formats under one path scheme:
//
//	/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent     google_generate_content
//	/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict       google_raw_predict
//
// with the stream variants streamGenerateContent and streamRawPredict,
// countTokens for Gemini, and Claude's token counting at the model
// "count-tokens". Express-mode paths without projects/{p}/locations/{l}
// are accepted too. Errors use the Google shape for both.

// vertexPath is a parsed Vertex path.
type vertexPath struct {
	version, project, location, publisher, modelSeg, model, method string
}

func parseVertexPath(segs []string) (vertexPath, bool) {
	var v vertexPath
	if len(segs) == 0 || (segs[0] != "v1" && segs[0] != "v1beta1") {
		return v, false
	}
	v.version = segs[0]
	rest := segs[1:]
	if len(rest) == 8 && rest[0] == "projects" && rest[2] == "locations" {
		p, ok1 := unescapeSegment(rest[1])
		l, ok2 := unescapeSegment(rest[3])
		if !ok1 || !ok2 {
			return v, false
		}
		v.project, v.location = p, l
		rest = rest[4:]
	}
	if len(rest) != 4 || rest[0] != "publishers" || rest[2] != "models" {
		return v, false
	}
	v.publisher = rest[1]
	seg, method, ok := splitMethod(rest[3])
	if !ok {
		return v, false
	}
	model, ok := unescapeSegment(seg)
	if !ok {
		return v, false
	}
	v.modelSeg, v.model, v.method = seg, model, method
	return v, true
}

func (v vertexPath) route() Route {
	return Route{Model: v.model, Method: v.method, Version: v.version, Project: v.project,
		Location: v.location, Publisher: v.publisher, modelSeg: v.modelSeg}
}

// vertexUpstreamPath rebuilds the path; the placeholders survive it and
// UpstreamURL replaces them.
func vertexUpstreamPath(r Route) string {
	p := "/" + r.Version
	if r.Project != "" || r.Location != "" {
		p += "/projects/" + url.PathEscape(r.Project) + "/locations/" + url.PathEscape(r.Location)
	}
	return p + "/publishers/" + r.Publisher + "/models/" + r.modelSeg + ":" + r.Method
}

// vertexGemini is google_generate_content: Gemini's wire format on Vertex.
type vertexGemini struct{ gemini }

func (vertexGemini) detect(segs []string) (Route, bool) {
	v, ok := parseVertexPath(segs)
	if !ok || v.publisher != "google" {
		return Route{}, false
	}
	m, known := geminiMethods[v.method]
	if !known {
		return Route{}, false
	}
	r := v.route()
	r.Stream, r.Operation = m.stream, m.op
	return r, true
}

func (vertexGemini) upstreamPath(r Route) string { return vertexUpstreamPath(r) }

// vertexAnthropic is google_raw_predict: Claude's Messages format on
// Vertex, with the model in the path.
type vertexAnthropic struct{}

func (vertexAnthropic) detect(segs []string) (Route, bool) {
	v, ok := parseVertexPath(segs)
	if !ok || v.publisher != "anthropic" {
		return Route{}, false
	}
	r := v.route()
	switch v.method {
	case "rawPredict":
	case "streamRawPredict":
		r.Stream = true
	default:
		return Route{}, false
	}
	if v.model == "count-tokens" {
		// Claude's token counting names the model in the body.
		r.Operation, r.Model = OpCountTokens, ""
	}
	return r, true
}

func (vertexAnthropic) upstreamPath(r Route) string             { return vertexUpstreamPath(r) }
func (vertexAnthropic) errorShape() shape                       { return shapeGoogle }
func (vertexAnthropic) streamFraming() framing                  { return framingSSE }
func (vertexAnthropic) inspect(body []byte) (Request, error)    { return inspectNamed(body, true) }
func (vertexAnthropic) userMessage(body []byte) (string, error) { return anthropicUserMessage(body) }
func (vertexAnthropic) newCollector(st *recState) collector     { return newAnthropicCollector(st) }
